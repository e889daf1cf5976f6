"""The read API (FastAPI). ``create_app()`` builds it; ``sentiment-pipeline serve`` runs it.

Every ``/v1`` route needs ``Authorization: Bearer <key>``. Without the ``pii`` scope,
e-mail addresses and phone numbers are masked in every response. Query strings over
4 KiB (414) and request bodies over 16 KiB (413, counted as they stream in) are refused.
Identical reads are answered from a 5-minute TTL cache whose keys include each read
asset's change token, so a new materialization is visible on the next request. Errors are
JSON with a message a person can act on; no stack trace ever leaves the server.
"""


import io
import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import date
from http import HTTPStatus
from typing import Annotated, Any, Literal

import polars as pl
from cachetools import TTLCache
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentiment_pipeline import __version__, storage
from sentiment_pipeline.api.keys import ApiKey, KeyStore
from sentiment_pipeline.api.nlq import Interpretation, NotUnderstood, interpret
from sentiment_pipeline.api.reads import MAX_LIMIT, TABLES, BadRequest, DateRange, NotFound, Reader

log = logging.getLogger(__name__)

CACHE_SECONDS = 300
MAX_BODY = 16 * 1024  # a question is at most 500 characters
MAX_QUERY = 4 * 1024
MAX_OFFSET = 10**9  # DuckDB takes a 64-bit offset; deeper paging than this means: narrow the range
EMAIL = r"([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
PHONE = "|".join([  # at least every number the entity extractor calls a phone; no look-around (polars' regex)
    r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}",  # international: +1 415-555-0199, +44 20 7946 0958
    r"\(\d{2,5}\)\s?\d{2,4}[\s.-]\d{3,4}",  # area code in brackets: (415) 555-0123, (020) 7946 0958
    r"\b\d{2,5}[\s.-]\d{3,4}[\s.-]\d{3,4}\b",  # three groups: 415.555.0147, 020 7946 0958, 0612 345 678
    r"\b\d{2}(?:[\s.-]\d{2}){4}\b",  # five pairs: 06 12 34 56 78
    r"\b0\d{3,4}[\s.-]\d{6,7}\b",  # trunk prefix and subscriber: 07700 900123
])
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
Format = Literal["json", "csv", "parquet"]


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500, examples=["negative tickets about Acme Router X2 last week by channel"])


class Error(BaseModel):
    error: str = Field(examples=["bad_request"])
    message: str = Field(examples=["start 2025-01-03 is after end 2025-01-01"])
    examples: list[str] | None = Field(None, description="questions the NLQ route understands (not_understood only)")


class Rows(BaseModel):
    count: int
    rows: list[dict[str, Any]]


class Answer(Rows):
    question: str
    interpreted: Interpretation


class Table(BaseModel):
    name: str
    columns: dict[str, str]
    filters: list[str]
    rows: int
    first_date: date | None
    last_date: date | None
    last_update: str | None


class Tables(BaseModel):
    tables: list[Table]


class Ticket(BaseModel):
    partition: date
    ticket: dict[str, Any]
    sentiment: dict[str, Any] | None
    entities: list[dict[str, Any]]
    custom_fields: dict[str, Any] | None = Field(None, description="only with custom_fields=true")


class Report(BaseModel):
    date: date
    headline: dict[str, Any] | None
    top_negative_products: list[dict[str, Any]]
    top_entities: list[dict[str, Any]]
    busiest_agents: list[dict[str, Any]]


class Storage(BaseModel):
    root: str
    reachable: bool
    detail: str | None


class Health(BaseModel):
    status: str
    version: str
    storage: Storage


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in {
        400: "a parameter cannot be answered (the message says what to change)",
        401: "missing, unknown or revoked API key",
        404: "no such table or ticket, or no data yet",
        413: f"request body over {MAX_BODY} bytes",
        414: f"query string over {MAX_QUERY} bytes",
        422: "a parameter or the body does not match this document",
        503: "storage did not answer",
    }.items()
}


def answers(model: type[BaseModel], *formats: Format) -> dict[int | str, dict[str, Any]]:
    """OpenAPI 200 response: ``model`` as JSON, and the other formats the route renders."""
    return {200: {"model": model, "content": {MEDIA_TYPES[f]: {} for f in formats}}}


def error_body(status: int, message: str) -> dict:
    return {"error": HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"), "message": message}


def refusal(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


class Limits:
    """ASGI middleware: an over-long query string (414) or body (413) is refused before any parsing;
    a body is counted as it streams in, so one sent without a length is never read whole either."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if len(scope["query_string"]) > MAX_QUERY:
            return await refusal(414, f"query string over {MAX_QUERY} bytes: ask for less")(scope, receive, send)
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return await refusal(413, f"request body over {MAX_BODY} bytes")(scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise StarletteHTTPException(413, f"request body over {MAX_BODY} bytes")
            return message

        return await self.app(scope, counted, send)


def mask_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """E-mail addresses keep their first letter and domain; phone numbers are hidden."""
    return frame.with_columns(
        pl.col(pl.String).str.replace_all(EMAIL, "${1}***@${2}").str.replace_all(PHONE, "[phone]")
    )


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(PHONE, "[phone]", re.sub(EMAIL, r"\1***@\2", value))
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value


def render(frame: pl.DataFrame, fmt: Format, extra: dict | None = None) -> bytes:
    if fmt == "csv":
        return frame.with_columns(pl.col(pl.List(pl.String)).list.join(";")).write_csv().encode()
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        return buffer.getvalue()
    rows = json.loads(frame.write_json()) if frame.height else []
    return json.dumps({**(extra or {}), "count": frame.height, "rows": rows}).encode()


def create_app(root: str | None = None, keys: KeyStore | None = None, cache_size: int = 4096) -> FastAPI:
    """The app over ``root`` (default: SENTIMENT_STORAGE_ROOT); ``cache_size=0`` turns caching off."""
    reader = Reader(storage.normalise_root(root) if root else storage.storage_root())
    store = keys or KeyStore()
    cache: TTLCache = TTLCache(maxsize=max(cache_size, 1), ttl=CACHE_SECONDS)
    lock = threading.Lock()
    app = FastAPI(
        title="sentiment_pipeline read API",
        version=__version__,
        description=__doc__,
        openapi_tags=[{"name": "health"}, {"name": "tables"}, {"name": "analytics"}, {"name": "tickets"}],
    )
    app.add_middleware(Limits)

    def caller(
        authorization: Annotated[str | None, Header(description="`Bearer <API key>` (make one with `sentiment-pipeline api-key create`)")] = None,
    ) -> ApiKey:
        scheme, _, key = (authorization or "").partition(" ")
        found = store.verify(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
        if found is None:
            raise HTTPException(401, "missing, unknown or revoked API key: send `Authorization: Bearer <key>`")
        return found

    def cached(parts: tuple, assets: tuple[str, ...], key: ApiKey, fmt: Format, build: Callable[[], bytes]) -> Response:
        """The rendered body for these parameters and these versions of the assets read."""
        identity = (parts, fmt, "pii" in key.scopes, reader.version(assets))
        with lock:
            body = cache.get(identity)
        if body is None:
            body = build()
            if cache_size:
                with lock:
                    cache[identity] = body
        return Response(body, media_type=MEDIA_TYPES[fmt])

    def frame_response(frame: pl.DataFrame, key: ApiKey, fmt: Format, extra: dict | None = None) -> bytes:
        return render(frame if "pii" in key.scopes else mask_frame(frame), fmt, extra)

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, error: BadRequest) -> JSONResponse:
        return JSONResponse({"error": "bad_request", "message": str(error)}, status_code=400)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"error": "not_found", "message": str(error)}, status_code=404)

    @app.exception_handler(NotUnderstood)
    async def not_understood(_: Request, error: NotUnderstood) -> JSONResponse:
        return JSONResponse({"error": "not_understood", "message": str(error), "examples": error.examples}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": "invalid_request", "message": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 401:
            return JSONResponse({"error": "unauthorized", "message": error.detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if error.status_code == 404:
            return JSONResponse({"error": "not_found", "message": "no such route; the routes are listed at /docs"}, status_code=404)
        return JSONResponse(error_body(error.status_code, str(error.detail)), status_code=error.status_code)

    @app.exception_handler(OSError)
    async def storage_down(_: Request, error: OSError) -> JSONResponse:
        log.exception("storage error")
        return JSONResponse({"error": "storage_unavailable", "message": "storage did not answer; try again shortly"}, status_code=503)

    @app.exception_handler(Exception)
    async def internal(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"error": "internal", "message": "internal error; the server log has the details"}, status_code=500)

    @app.get("/health", tags=["health"], summary="Liveness and whether storage answers (no key needed)")
    def health() -> Health:
        reachable, detail = storage.probe(reader.root)
        return Health(status="ok", version=__version__, storage=Storage(root=reader.root, reachable=reachable, detail=detail))

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(caller)], responses=ERRORS)  # no /v1 route can skip the key check
    Caller = Annotated[ApiKey, Depends(caller)]
    Start = Annotated[str | None, Query(description="first day, YYYY-MM-DD (default: 30 days before end)", json_schema_extra={"format": "date"})]
    End = Annotated[str | None, Query(description="last day, YYYY-MM-DD (default: today)", json_schema_extra={"format": "date"})]
    Fmt = Annotated[Format, Query(alias="format", description="json, csv or parquet")]

    @v1.get("/tables", tags=["tables"], responses=answers(Tables), summary="The aggregate tables: columns, filters, rows, date range, last update")
    def tables(key: Caller) -> Response:
        return cached(("tables",), TABLES, key, "json", lambda: json.dumps({"tables": reader.tables()}, default=str).encode())

    @v1.get("/tables/{name}", tags=["tables"], responses=answers(Rows, "csv", "parquet"), summary="Rows of one aggregate table; other query parameters filter equal values")
    def table(
        request: Request,
        key: Caller,
        name: Annotated[str, Path(description=f"one of {', '.join(TABLES)}", json_schema_extra={"enum": list(TABLES)})],
        start: Start = None,
        end: End = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        fmt: Fmt = "json",
    ) -> Response:
        if name not in TABLES:
            raise NotFound(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        filters = {k: v for k, v in request.query_params.items() if k not in {"start", "end", "limit", "offset", "format"}}
        days = DateRange.parse(start, end)
        parts = ("table", name, days, tuple(sorted(filters.items())), limit, offset)
        return cached(parts, (name,), key, fmt, lambda: frame_response(reader.table(name, days, filters, limit, offset), key, fmt))

    @v1.get("/analytics/sentiment", tags=["analytics"], responses=answers(Rows, "csv", "parquet"), summary="Tickets, avg compound, label counts and share negative per day, channel or product")
    def analytics(
        key: Caller,
        start: Start = None,
        end: End = None,
        group_by: Annotated[Literal["day", "channel", "product"], Query()] = "day",
        product: Annotated[str | None, Query(max_length=200)] = None,
        channel: Annotated[str | None, Query(max_length=50)] = None,
        fmt: Fmt = "json",
    ) -> Response:
        days = DateRange.parse(start, end)
        parts = ("analytics", days, group_by, product, channel)
        return cached(parts, ("daily_sentiment_summary",), key, fmt,
                      lambda: frame_response(reader.sentiment(days, group_by, product, channel), key, fmt))

    @v1.get("/tickets/{ticket_id}", tags=["tickets"], responses=answers(Ticket), summary="The latest version of one ticket, with its sentiment and entities")
    def ticket(key: Caller, ticket_id: Annotated[str, Path(max_length=200)], custom_fields: bool = False) -> Response:
        def build() -> bytes:
            found = jsonable_encoder(reader.ticket(ticket_id, custom_fields))
            return json.dumps(found if "pii" in key.scopes else mask_value(found)).encode()

        return cached(("ticket", ticket_id, custom_fields), ("ticket", "sentiment", "entity"), key, "json", build)

    @v1.get("/search", tags=["tickets"], responses=answers(Rows, "csv", "parquet"), summary="Tickets whose subject or body contains q (case-insensitive)")
    def search(
        key: Caller,
        q: Annotated[str, Query(min_length=1, max_length=200)],
        start: Start = None,
        end: End = None,
        label: Annotated[Literal["positive", "neutral", "negative"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        fmt: Fmt = "json",
    ) -> Response:
        days = DateRange.parse(start, end)
        return cached(("search", q, days, label, limit), ("ticket", "sentiment"), key, fmt,
                      lambda: frame_response(reader.search(q, days, label, limit), key, fmt))

    @v1.get("/reports/daily", tags=["analytics"], responses=answers(Report), summary="One day's headline numbers, top negative products, top entities, busiest agents")
    def daily(key: Caller, day: Annotated[str, Query(alias="date", description="YYYY-MM-DD", json_schema_extra={"format": "date"})]) -> Response:
        when = DateRange.parse(day, day).start

        def build() -> bytes:
            report = jsonable_encoder(reader.daily_report(when))
            return json.dumps(report if "pii" in key.scopes else mask_value(report)).encode()

        return cached(("daily", when), ("daily_sentiment_summary", "daily_entity_mentions", "daily_agent_summary"), key, "json", build)

    @v1.post("/nlq", tags=["analytics"], responses=answers(Answer), summary="A plain-English question, answered with the structured query it was read as")
    def nlq(key: Caller, body: Question) -> Response:
        query = interpret(body.question, today=date.today())
        days = DateRange.parse(query.start, query.end)

        def build() -> bytes:
            frame = reader.sentiment(days, query.group_by, query.product, query.channel, query.label)
            return frame_response(frame, key, "json", {"question": body.question, "interpreted": query.as_dict()})

        return cached(("nlq", query), ("daily_sentiment_summary",), key, "json", build)

    app.include_router(v1)
    return app
