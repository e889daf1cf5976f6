"""The API's routes, one ``APIRouter`` per OpenAPI tag; every /v1 router checks the key itself."""
