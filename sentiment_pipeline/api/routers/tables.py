"""``/v1/tables``: the aggregate tables and their rows."""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from sentiment_pipeline.api.deps import Caller, End, Fmt, Start, State, caller
from sentiment_pipeline.api.errors import ERRORS
from sentiment_pipeline.api.models import Rows, Tables, answers
from sentiment_pipeline.api.reads import MAX_LIMIT, TABLES, DateRange, NotFound
from sentiment_pipeline.api.render import frame_response

MAX_OFFSET = 10**9  # DuckDB takes a 64-bit offset; deeper paging than this means: narrow the range

router = APIRouter(prefix="/v1", tags=["tables"], dependencies=[Depends(caller)], responses=ERRORS)  # no /v1 route can skip the key check


@router.get("/tables", responses=answers(Tables), summary="The aggregate tables: columns, filters, rows, date range, last update")
def tables(state: State, key: Caller) -> Response:
    return state.cached(("tables",), TABLES, key, "json", lambda: json.dumps({"tables": state.reader.tables()}, default=str).encode())


@router.get(
    "/tables/{name}",
    responses=answers(Rows, "csv", "parquet"),
    summary="Rows of one aggregate table; other query parameters filter equal values",
)
def table(
    request: Request,
    state: State,
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
    return state.cached(parts, (name,), key, fmt, lambda: frame_response(state.reader.table(name, days, filters, limit, offset), key, fmt))
