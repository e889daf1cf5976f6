"""``/``: the dashboard, a static page that reads the ``/v1`` routes with the key the user pastes.

Its files ship in the package (``api/dashboard/``) and plotly.js comes from the installed
``plotly`` package, so the page works offline; the page itself holds no data, so it needs no key.
"""

from importlib import resources

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, Response

from sentiment_pipeline.api.reads import NotFound

ASSETS = {  # what /dashboard/{name} serves: name -> (package, file, media type)
    "dashboard.js": ("sentiment_pipeline", "api/dashboard/dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": ("sentiment_pipeline", "api/dashboard/dashboard.css", "text/css; charset=utf-8"),
    "plotly.min.js": ("plotly", "package_data/plotly.min.js", "text/javascript; charset=utf-8"),
}

router = APIRouter(tags=["dashboard"])


@router.get("/", response_class=HTMLResponse, summary="The dashboard (asks for an API key; keeps it in the browser tab only)")
def dashboard() -> HTMLResponse:
    page = resources.files("sentiment_pipeline").joinpath("api/dashboard/index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/{name}", summary="The dashboard's script, style and plotly.js", include_in_schema=False)
def dashboard_asset(name: str = Path(max_length=50)) -> Response:
    if name not in ASSETS:
        raise NotFound(f"no dashboard file {name!r}")
    package, path, media_type = ASSETS[name]
    body = resources.files(package).joinpath(path).read_bytes()
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})
