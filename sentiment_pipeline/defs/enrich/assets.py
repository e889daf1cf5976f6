"""The enrich steps: ``ticket`` -> ``comment`` -> ``sentiment``, and ``ticket`` -> ``entity``
(core: ``sentiment_pipeline.conversations``, ``.sentiment``, ``.entities``)."""

from collections import Counter

import dagster as dg
import polars as pl

from sentiment_pipeline.conversations import CONVERSATION_COLUMNS, messages, score_messages, ticket_sentiment
from sentiment_pipeline.defs.checking import report
from sentiment_pipeline.defs.enrich.checks import COMMENT_SPECS, SENTIMENT_SPECS, comment_results, sentiment_results
from sentiment_pipeline.defs.io_manager import LazyPartitions, Partition
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.metadata import table_schema
from sentiment_pipeline.defs.partitions import daily_parquet_asset
from sentiment_pipeline.entities import ENTITY_TYPES, extract_entities, product_catalog
from sentiment_pipeline.schemas import ROLES, SENTIMENT_LABELS, TICKET_CANONICAL, TRAJECTORIES
from sentiment_pipeline.sentiment import Model
from sentiment_pipeline.storage import partition_day

TEXT_COLUMNS = ("ticket_id", "subject", "body")  # all that is read of the wide ticket table for entities


def day_columns(ticket: pl.LazyFrame, partition_key: str, columns: tuple[str, ...]) -> pl.LazyFrame:
    """The day's rows of ``ticket``, only ``columns`` (a day written before a canonical column
    existed reads it as null)."""
    present = ticket.collect_schema()
    return ticket.filter(pl.col("partition_date") == partition_day(partition_key)).select(
        pl.col(c) if c in present else pl.lit(None, dtype=TICKET_CANONICAL[c]).alias(c) for c in columns
    )


@dg.asset(
    description=(
        "One row per message of a ticket's conversation: seq 0 is the opening message (subject + body), then each "
        "comment in time order; author, role (customer, agent, other), text, and the message's sentiment "
        "(compound, pos, neu, neg, label) from the same support-domain model as `sentiment`."
    ),
    metadata={"dagster/column_schema": table_schema("comment")},
    check_specs=COMMENT_SPECS,
    group_name="enrich",
    kinds={"polars", "parquet"},
    **daily_parquet_asset(),
)
def comment(context: dg.AssetExecutionContext, ticket: pl.LazyFrame, lake: Lake):
    """Splits each day's tickets into messages and scores every message on every core."""
    model = Model()

    def compute(key: str) -> Partition:
        scored_messages = score_messages(messages(day_columns(ticket, key, CONVERSATION_COLUMNS)), model)
        return Partition(scored_messages, figures=message_figures(scored_messages))

    yield dg.Output(LazyPartitions(context.partition_keys, compute))
    yield from report(context, comment_results(lake.roots().storage_root, context.partition_keys))


@dg.asset(
    description=(
        "One row per ticket: VADER compound/pos/neu/neg of subject + body with the support-domain layer, "
        "label (positive >= 0.05, negative <= -0.05, else neutral); trajectory of the customer's labels from "
        "their first message to their last (improving, declining, stable, single) with both labels; model name and version."
    ),
    metadata={"dagster/column_schema": table_schema("sentiment")},
    check_specs=SENTIMENT_SPECS,
    group_name="enrich",
    kinds={"polars", "parquet"},
    **daily_parquet_asset(),
)
def sentiment(context: dg.AssetExecutionContext, comment: pl.LazyFrame, lake: Lake):
    """Each ticket's opening scores and customer trajectory, from its scored messages."""
    model = Model()

    def compute(key: str) -> Partition:
        day = comment.filter(pl.col("partition_date") == partition_day(key)).drop("partition_date").collect()
        scores = ticket_sentiment(day, model)
        return Partition(scores, figures=ticket_figures(scores))

    def summary() -> dict[str, str]:
        return {"model": f"{model.name} ({model.version})"}

    yield dg.Output(LazyPartitions(context.partition_keys, compute, summary))
    yield from report(context, sentiment_results(lake.roots().storage_root, context.partition_keys))


@dg.asset(
    description=(
        "One row per entity mention in a ticket's subject or body: type (product, order_id, email, phone, url, "
        "money, error_code, version), text as written, normalized value, field and character offsets."
    ),
    metadata={"dagster/column_schema": table_schema("entity")},
    group_name="enrich",
    kinds={"polars", "parquet"},
    **daily_parquet_asset(),
)
def entity(context: dg.AssetExecutionContext, ticket: pl.LazyFrame) -> LazyPartitions:
    """Extracts each day's mentions."""
    catalog = product_catalog()

    def compute(key: str) -> Partition:
        mentions = extract_entities(day_columns(ticket, key, TEXT_COLUMNS), catalog)
        return Partition(mentions, figures=mention_figures(mentions))

    return LazyPartitions(context.partition_keys, compute)


def message_figures(scored_messages: pl.DataFrame) -> dict[str, float | int]:
    """A day's messages, per role, and the share of each role's messages that are negative."""
    figures: dict[str, float | int] = {"messages": scored_messages.height}
    for role in ROLES:
        labels = scored_messages.filter(pl.col("role") == role).get_column("label")
        figures[f"messages_{role}"] = labels.len()
        if labels.len():
            figures[f"share_negative_{role}"] = round((labels == "negative").mean(), 4)
    return figures


def ticket_figures(scores: pl.DataFrame) -> dict[str, float | int]:
    """A day's tickets, their label shares and average sentiment (none on a day without
    tickets: no point rather than a zero), and tickets per customer trajectory."""
    figures: dict[str, float | int] = {"tickets": scores.height}
    if scores.height:
        figures |= {f"share_{name}": round((scores.get_column("label") == name).mean(), 4) for name in SENTIMENT_LABELS}
        figures["avg_compound"] = round(scores.get_column("compound").mean(), 4)
    return figures | {name: int((scores.get_column("trajectory") == name).sum()) for name in TRAJECTORIES}


def mention_figures(mentions: pl.DataFrame) -> dict[str, int]:
    """A day's entity mentions, and per type (every type, so a quiet type plots as 0, not a gap)."""
    per_type = Counter(mentions.get_column("type").to_list())
    return {"mentions": mentions.height, **{f"mentions_{kind}": per_type[kind] for kind in ENTITY_TYPES}}
