"""``/v1/tickets/{ticket_id}`` and ``/v1/search``: single tickets and full-text search."""

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from sentiment_pipeline.api.deps import Caller, End, Fmt, Start, State, caller
from sentiment_pipeline.api.errors import ERRORS
from sentiment_pipeline.api.masking import mask_ticket
from sentiment_pipeline.api.models import Rows, SearchRows, Ticket, answers
from sentiment_pipeline.api.reads import MAX_LIMIT, DateRange, TicketSelection
from sentiment_pipeline.api.render import download, frame_response, iso_utc
from sentiment_pipeline.api.routers.tables import MAX_OFFSET

router = APIRouter(prefix="/v1", tags=["tickets"], dependencies=[Depends(caller)], responses=ERRORS)  # no /v1 route can skip the key check


@router.get(
    "/tickets/{ticket_id}",
    responses=answers(Ticket),
    summary="The latest version of one ticket, with its sentiment, entities and conversation (each message scored)",
)
def ticket(state: State, key: Caller, ticket_id: Annotated[str, Path(max_length=200)], custom_fields: bool = False) -> Response:
    def build() -> bytes:
        found = jsonable_encoder(state.reader.ticket(ticket_id, custom_fields), custom_encoder={datetime: iso_utc})
        return json.dumps(found if "pii" in key.scopes else mask_ticket(found)).encode()

    return state.cached(("ticket", ticket_id, custom_fields), ("ticket", "sentiment", "entity"), key, "json", build)


@router.get(
    "/tickets",
    responses=answers(Rows, "csv", "parquet"),
    summary="The tickets of a selection (product, channel, agent, label, an entity they mention), most negative first, "
    "with their scores: what lies behind a number or a flagged spike",
)
def tickets(
    state: State,
    key: Caller,
    start: Start = None,
    end: End = None,
    product: Annotated[str | None, Query(max_length=200)] = None,
    channel: Annotated[str | None, Query(max_length=50)] = None,
    agent: Annotated[str | None, Query(max_length=200, description="agent_id")] = None,
    label: Annotated[Literal["positive", "neutral", "negative"] | None, Query()] = None,
    entity_type: Annotated[
        str | None, Query(max_length=50, description="tickets mentioning an entity of this type (e.g. order_id), or with entity: that one")
    ] = None,
    entity: Annotated[str | None, Query(max_length=200, description="with entity_type: its normalized value (e.g. E2210)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    fmt: Fmt = "json",
) -> Response:
    days = DateRange.parse(start, end)
    selection = TicketSelection(product, channel, agent, label, entity_type, entity)
    assets = ("ticket", "sentiment", "entity")

    def build() -> tuple[bytes, dict[str, str]]:
        missing = state.reader.missing_days(("ticket", "sentiment"), days)
        page = state.reader.tickets(days, selection, limit, offset)
        extra = {"start": days.start.isoformat(), "end": days.end.isoformat(), "total": page.total, "missing_days": missing}
        return download(page.frame, key, fmt, f"tickets_{days.start}_{days.end}", extra)

    return state.cached(("tickets", days, selection, limit, offset), assets, key, fmt, build)


@router.get(
    "/search",
    responses=answers(SearchRows, "csv", "parquet"),
    summary="Tickets whose subject or body holds the words of q, each in any of its forms (refunds: refund, refunded, ...)",
)
def search(
    state: State,
    key: Caller,
    q: Annotated[str, Query(min_length=1, max_length=200, description="words, found in a row, each in any form of it")],
    start: Start = None,
    end: End = None,
    label: Annotated[Literal["positive", "neutral", "negative"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="matches to skip, newest first")] = 0,
    fmt: Fmt = "json",
) -> Response:
    days = DateRange.parse(start, end)

    def build() -> bytes:
        found = state.reader.search(q, days, label, limit, offset)
        return frame_response(found.frame, key, fmt, {"total": found.total, "offset": offset})

    return state.cached(("search", q, days, label, limit, offset), ("ticket", "sentiment"), key, fmt, build)
