"""``/v1/analytics/sentiment``, ``/v1/reports/daily`` and ``/v1/nlq``: the aggregate questions."""

import json
from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from sentiment_pipeline.api.deps import Caller, End, Fmt, Start, State, caller
from sentiment_pipeline.api.errors import ERRORS
from sentiment_pipeline.api.masking import mask_frame, mask_value
from sentiment_pipeline.api.models import Answer, Question, Report, Rows, answers
from sentiment_pipeline.api.nlq import MAX_ROWS, answer, interpret
from sentiment_pipeline.api.reads import GROUPINGS, MAX_LIMIT, METRICS, DateRange
from sentiment_pipeline.api.render import download, render
from sentiment_pipeline.schemas import TRAJECTORIES

router = APIRouter(
    prefix="/v1", tags=["analytics"], dependencies=[Depends(caller)], responses=ERRORS
)  # no /v1 route can skip the key check


@router.get(
    "/analytics/sentiment",
    responses=answers(Rows, "csv", "parquet"),
    summary="Tickets, label counts, share negative, avg compound, avg csat, solved and median hours to resolve per UTC day, "
    "week, month, channel, product, agent or customer trajectory; sorted, top N",
)
def analytics(
    state: State,
    key: Caller,
    start: Start = None,
    end: End = None,
    group_by: Annotated[
        list[Literal[tuple(GROUPINGS)]],
        Query(
            description="day (column `date`), week (`week`: its Monday), month (`month`: its first day), channel, product, "
            "agent (`agent_id`), trajectory, weekday (1 = Monday) or hour (0-23) of created_at in UTC; repeat it to group by "
            "several (group_by=day&group_by=channel)"
        ),
    ] = ["day"],  # noqa: B006 (FastAPI copies a query default)
    product: Annotated[str | None, Query(max_length=200)] = None,
    channel: Annotated[str | None, Query(max_length=50)] = None,
    agent: Annotated[str | None, Query(max_length=200, description="only this agent_id's tickets")] = None,
    trajectory: Annotated[
        Literal[TRAJECTORIES] | None,
        Query(description="only tickets whose customer's mood moved so (first message against last)"),
    ] = None,
    order_by: Annotated[
        Literal[METRICS] | None, Query(description="a metric to sort the groups by (default: the group, ascending)")
    ] = None,
    desc: Annotated[bool, Query(description="sort order_by descending (with limit: the top N)")] = False,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="at most this many groups")] = None,
    fmt: Fmt = "json",
) -> Response:
    days = DateRange.parse(start, end)
    group_by = tuple(group_by)
    parts = ("analytics", days, group_by, product, channel, agent, trajectory, order_by, desc, limit)

    def build() -> tuple[bytes, dict[str, str]]:
        missing = state.reader.missing_days(("ticket", "sentiment"), days)
        frame = state.reader.sentiment(days, group_by, product, channel, trajectory, agent, order_by=order_by, desc=desc, limit=limit)
        extra = {"start": days.start.isoformat(), "end": days.end.isoformat(), "missing_days": missing}
        return download(frame, key, fmt, f"sentiment_by_{'_'.join(group_by)}_{days.start}_{days.end}", extra)

    return state.cached(parts, ("ticket", "sentiment"), key, fmt, build)


@router.get(
    "/reports/daily", responses=answers(Report), summary="One day's headline numbers, top negative products, top entities, busiest agents"
)
def daily(
    state: State, key: Caller, day: Annotated[str, Query(alias="date", description="YYYY-MM-DD", json_schema_extra={"format": "date"})]
) -> Response:
    when = DateRange.parse(day, day).start
    assets = ("daily_sentiment_summary", "daily_entity_mentions", "daily_agent_summary")

    def build() -> bytes:
        state.reader.missing_days(assets, DateRange(when, when))  # a day never materialized is a 404, not a quiet day
        report = jsonable_encoder(state.reader.daily_report(when))
        return json.dumps(report if "pii" in key.scopes else mask_value(report)).encode()

    return state.cached(("daily", when), assets, key, "json", build)


@router.post(
    "/nlq",
    responses=answers(Answer),
    summary="A plain-English question, answered with the one query it was read as, or refused (422) naming what could not be placed",
)
def nlq(state: State, key: Caller, body: Question) -> Response:
    query = interpret(body.question, today=state.clock().astimezone(UTC).date())
    days = DateRange.parse(query.start, query.end)

    def build() -> bytes:
        sql, params, frame = state.reader.question(query, days)
        shown = frame if "pii" in key.scopes else mask_frame(frame)
        rows = json.loads(shown.write_json()) if shown.height else []
        said = answer(query, rows) if frame.width else f"No data has been materialized from {query.start} to {query.end}."
        extra = {
            "interpreted": query.as_dict(),
            "sql": sql,
            "parameters": jsonable_encoder(params),
            "columns": shown.columns,
            "answer": said,
        }
        return render(shown.head(MAX_ROWS), "json", extra)  # one more row was fetched, to say when there are more

    # Cached by the reading, not the wording: the echo is always this caller's own question.
    found = json.loads(state.cached_body(("nlq", query), query.assets(), key, "json", build))
    return JSONResponse({"question": body.question, **found})
