"""``/v1/tables``: every asset as a table, and its rows."""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from sentiment_pipeline.api.deps import Caller, End, Fmt, Start, State, caller
from sentiment_pipeline.api.errors import ERRORS
from sentiment_pipeline.api.models import Rows, Tables, answers
from sentiment_pipeline.api.reads import MAX_LIMIT, TABLES, DateRange, NotFound
from sentiment_pipeline.api.render import download

MAX_OFFSET = 10**9  # DuckDB takes a 64-bit offset; deeper paging than this means: narrow the range
OPTIONS = {"start", "end", "limit", "offset", "format", "columns", "order_by", "desc"}  # any other parameter filters a column

router = APIRouter(prefix="/v1", tags=["tables"], dependencies=[Depends(caller)], responses=ERRORS)  # no /v1 route can skip the key check


@router.get(
    "/tables",
    responses=answers(Tables),
    summary="Every table (each asset): columns, types and descriptions, text filters, rows, first and last day, missing days, last update",
)
def tables(state: State, key: Caller) -> Response:
    return state.cached(("tables",), TABLES, key, "json", lambda: json.dumps({"tables": state.reader.tables()}).encode())


@router.get(
    "/tables/{name}",
    responses=answers(Rows, "csv", "parquet"),
    summary="Rows of one table in a range of UTC days: projected, filtered (any other parameter: a text column equal to it, "
    "ignoring case), sorted and paged, with the total and the days never materialized",
)
def table(
    request: Request,
    state: State,
    key: Caller,
    name: Annotated[str, Path(description=f"one of {', '.join(TABLES)}", json_schema_extra={"enum": list(TABLES)})],
    start: Start = None,
    end: End = None,
    columns: Annotated[
        str | None,
        Query(max_length=2000, description="comma-separated columns to return (default: all; ticket's custom fields only by name)"),
    ] = None,
    order_by: Annotated[str | None, Query(max_length=200, description="a column to sort by (then the table's own order)")] = None,
    desc: Annotated[bool, Query(description="sort order_by descending")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    fmt: Fmt = "json",
) -> Response:
    if name not in TABLES:
        raise NotFound(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
    filters = {k: v for k, v in request.query_params.items() if k not in OPTIONS}
    # None, not [], when no name is left: the list would go into the cache key, which must hash
    shown = list(dict.fromkeys(column.strip() for column in (columns or "").split(",") if column.strip())) or None
    days = DateRange.parse(start, end)
    parts = ("table", name, days, tuple(sorted(filters.items())), shown and tuple(shown), order_by, desc, limit, offset)

    def build() -> tuple[bytes, dict[str, str]]:
        missing = state.reader.missing_days((name,), days)
        page = state.reader.table(name, days, shown, filters, order_by, desc, limit, offset)
        extra = {"start": days.start.isoformat(), "end": days.end.isoformat(), "total": page.total, "missing_days": missing}
        return download(page.frame, key, fmt, f"{name}_{days.start}_{days.end}", extra)

    return state.cached(parts, (name,), key, fmt, build)
