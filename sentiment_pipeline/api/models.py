"""The response models of the OpenAPI document (routes send pre-rendered bodies; these describe them)."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from sentiment_pipeline.api.render import MEDIA_TYPES, Format


class Question(BaseModel):
    question: str = Field(min_length=1, max_length=500, examples=["negative tickets about Acme Router X2 last week by channel"])


class Rows(BaseModel):
    start: date | None = Field(None, description="first UTC day read (table and analytics reads)")
    end: date | None = Field(None, description="last UTC day read")
    total: int | None = Field(None, description="rows matching before limit and offset (table reads; CSV/Parquet: X-Total-Count)")
    missing_days: list[date] | None = Field(
        None, description="days of the range never materialized: unknown, not empty (CSV/Parquet: X-Missing-Days)"
    )
    count: int
    rows: list[dict[str, Any]]


class SearchRows(Rows):
    total: int = Field(description="matches in all, before limit and offset")
    offset: int


class Answer(Rows):
    question: str = Field(description="the caller's own question, as sent")
    interpreted: dict[str, Any] = Field(description="what it was read as: measure, days (UTC), grouping, filters, ranking")
    sql: str = Field(description="the one DuckDB statement run; asset names stand for the range's Parquet files")
    parameters: dict[str, Any] = Field(description="every value the statement binds")
    columns: list[str]
    answer: str = Field(description="one sentence saying what the rows answer")


class Table(BaseModel):
    name: str
    columns: dict[str, str] = Field(description="name -> type; `date` is the UTC partition day")
    descriptions: dict[str, str] = Field(description="name -> what the column means")
    custom_fields: bool = Field(description="ticket: every other export column too, as text, by name (columns=, filters, order_by)")
    filters: list[str] = Field(description="text columns a `<column>=<value>` parameter filters (ignoring case)")
    rows: int
    first_date: date | None
    last_date: date | None
    missing_days: list[date] = Field(description="days between first_date and last_date never materialized")
    last_update: datetime | None = Field(description="when the table last changed, ISO-8601 UTC")


class Tables(BaseModel):
    tables: list[Table]


class Ticket(BaseModel):
    partition: date
    ticket: dict[str, Any]
    sentiment: dict[str, Any] | None
    entities: list[dict[str, Any]]
    conversation: list[dict[str, Any]] = Field(
        description="every message in order (seq 0: the opening one) with its author, role (customer, agent, other) and sentiment"
    )
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


def answers(model: type[BaseModel], *formats: Format) -> dict[int | str, dict[str, Any]]:
    """OpenAPI 200 response: ``model`` as JSON, and the other formats the route renders."""
    return {200: {"model": model, "content": {MEDIA_TYPES[f]: {} for f in formats}}}
