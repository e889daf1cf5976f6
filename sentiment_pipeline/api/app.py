"""The read API (FastAPI). ``create_app()`` builds it; ``sentiment-pipeline serve`` runs it.

Every ``/v1`` route needs ``Authorization: Bearer <key>``. Without the ``pii`` scope,
e-mail addresses and phone numbers are masked in every response. Identical reads are
answered from a 5-minute TTL cache whose keys include each read asset's change token, so
a new materialization is visible on the next request. Errors are JSON with a message a
person can act on; no stack trace ever leaves the server.
"""


import io
import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

import polars as pl
from cachetools import TTLCache
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sentiment_pipeline import __version__, storage
from sentiment_pipeline.api.keys import ApiKey, KeyStore
from sentiment_pipeline.api.nlq import NotUnderstood, interpret
from sentiment_pipeline.api.reads import MAX_LIMIT, TABLES, BadRequest, DateRange, NotFound, Reader

log = logging.getLogger(__name__)

CACHE_SECONDS = 300
EMAIL = r"([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
PHONE = r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}|\(\d{3}\)\s?\d{3}[\s.-]\d{4}|\b\d{3}[\s.-]\d{3}[\s.-]\d{4}\b"
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
Format = Literal["json", "csv", "parquet"]


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500, examples=["negative tickets about Acme Router X2 last week by channel"])


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
        return JSONResponse({"error": "error", "message": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(OSError)
    async def storage_down(_: Request, error: OSError) -> JSONResponse:
        log.exception("storage error")
        return JSONResponse({"error": "storage_unavailable", "message": "storage did not answer; try again shortly"}, status_code=503)

    @app.exception_handler(Exception)
    async def internal(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"error": "internal", "message": "internal error; the server log has the details"}, status_code=500)

    @app.get("/health", tags=["health"], summary="Liveness and whether storage answers (no key needed)")
    def health() -> dict:
        reachable, detail = storage.probe(reader.root)
        return {"status": "ok", "version": __version__, "storage": {"root": reader.root, "reachable": reachable, "detail": detail}}

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(caller)])  # no /v1 route can skip the key check
    Caller = Annotated[ApiKey, Depends(caller)]
    Start = Annotated[str | None, Query(description="first day, YYYY-MM-DD (default: 30 days before end)")]
    End = Annotated[str | None, Query(description="last day, YYYY-MM-DD (default: today)")]
    Fmt = Annotated[Format, Query(alias="format", description="json, csv or parquet")]

    @v1.get("/tables", tags=["tables"], summary="The aggregate tables: columns, filters, rows, date range, last update")
    def tables(key: Caller) -> Response:
        return cached(("tables",), TABLES, key, "json", lambda: json.dumps({"tables": reader.tables()}, default=str).encode())

    @v1.get("/tables/{name}", tags=["tables"], summary="Rows of one aggregate table; other query parameters filter equal values")
    def table(
        request: Request,
        key: Caller,
        name: Annotated[str, Path(description=f"one of {', '.join(TABLES)}")],
        start: Start = None,
        end: End = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
        offset: Annotated[int, Query(ge=0)] = 0,
        fmt: Fmt = "json",
    ) -> Response:
        if name not in TABLES:
            raise NotFound(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        filters = {k: v for k, v in request.query_params.items() if k not in {"start", "end", "limit", "offset", "format"}}
        days = DateRange.parse(start, end)
        parts = ("table", name, days, tuple(sorted(filters.items())), limit, offset)
        return cached(parts, (name,), key, fmt, lambda: frame_response(reader.table(name, days, filters, limit, offset), key, fmt))

    @v1.get("/analytics/sentiment", tags=["analytics"], summary="Tickets, avg compound, label counts and share negative per day, channel or product")
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

    @v1.get("/tickets/{ticket_id}", tags=["tickets"], summary="The latest version of one ticket, with its sentiment and entities")
    def ticket(key: Caller, ticket_id: Annotated[str, Path(max_length=200)], custom_fields: bool = False) -> Response:
        def build() -> bytes:
            found = jsonable_encoder(reader.ticket(ticket_id, custom_fields))
            return json.dumps(found if "pii" in key.scopes else mask_value(found)).encode()

        return cached(("ticket", ticket_id, custom_fields), ("ticket", "sentiment", "entity"), key, "json", build)

    @v1.get("/search", tags=["tickets"], summary="Tickets whose subject or body contains q (case-insensitive)")
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

    @v1.get("/reports/daily", tags=["analytics"], summary="One day's headline numbers, top negative products, top entities, busiest agents")
    def daily(key: Caller, day: Annotated[str, Query(alias="date", description="YYYY-MM-DD")]) -> Response:
        when = DateRange.parse(day, day).start

        def build() -> bytes:
            report = jsonable_encoder(reader.daily_report(when))
            return json.dumps(report if "pii" in key.scopes else mask_value(report)).encode()

        return cached(("daily", when), ("daily_sentiment_summary", "daily_entity_mentions", "daily_agent_summary"), key, "json", build)

    @v1.post("/nlq", tags=["analytics"], summary="A plain-English question, answered with the structured query it was read as")
    def nlq(key: Caller, body: Question) -> Response:
        query = interpret(body.question, today=date.today())
        days = DateRange.parse(query.start, query.end)

        def build() -> bytes:
            frame = reader.sentiment(days, query.group_by, query.product, query.channel, query.label)
            return frame_response(frame, key, "json", {"question": body.question, "interpreted": query.as_dict()})

        return cached(("nlq", query), ("daily_sentiment_summary",), key, "json", build)

    app.include_router(v1)
    return app
