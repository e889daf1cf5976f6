"""``/v1/tickets/{ticket_id}`` and ``/v1/search``: single tickets and full-text search."""

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from sentiment_pipeline.api.deps import Caller, End, Fmt, Start, State, caller
from sentiment_pipeline.api.errors import ERRORS
from sentiment_pipeline.api.masking import mask_ticket
from sentiment_pipeline.api.models import Rows, Ticket, answers
from sentiment_pipeline.api.reads import DateRange
from sentiment_pipeline.api.render import frame_response

router = APIRouter(prefix="/v1", tags=["tickets"], dependencies=[Depends(caller)], responses=ERRORS)  # no /v1 route can skip the key check


@router.get(
    "/tickets/{ticket_id}",
    responses=answers(Ticket),
    summary="The latest version of one ticket, with its sentiment, entities and conversation (each message scored)",
)
def ticket(state: State, key: Caller, ticket_id: Annotated[str, Path(max_length=200)], custom_fields: bool = False) -> Response:
    def build() -> bytes:
        found = jsonable_encoder(state.reader.ticket(ticket_id, custom_fields))
        return json.dumps(found if "pii" in key.scopes else mask_ticket(found)).encode()

    return state.cached(("ticket", ticket_id, custom_fields), ("ticket", "sentiment", "entity"), key, "json", build)


@router.get("/search", responses=answers(Rows, "csv", "parquet"), summary="Tickets whose subject or body contains q (case-insensitive)")
def search(
    state: State,
    key: Caller,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    start: Start = None,
    end: End = None,
    label: Annotated[Literal["positive", "neutral", "negative"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    fmt: Fmt = "json",
) -> Response:
    days = DateRange.parse(start, end)
    return state.cached(
        ("search", q, days, label, limit),
        ("ticket", "sentiment"),
        key,
        fmt,
        lambda: frame_response(state.reader.search(q, days, label, limit), key, fmt),
    )
