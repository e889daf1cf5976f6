"""The enrich steps: ``ticket`` -> ``comment`` -> ``sentiment``, and ``ticket`` -> ``entity``
(core: ``sentiment_pipeline.conversations``, ``.sentiment``, ``.entities``)."""

from collections import Counter

import dagster as dg
import polars as pl

from sentiment_pipeline.conversations import CONVERSATION_COLUMNS, messages, score_messages, ticket_sentiment
from sentiment_pipeline.defs.checking import report
from sentiment_pipeline.defs.enrich.checks import COMMENT_SPECS, SENTIMENT_SPECS, comment_results, sentiment_results
from sentiment_pipeline.defs.io_manager import LazyPartitions
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.metadata import table_schema
from sentiment_pipeline.defs.partitions import FRESHNESS, OWNERS, STEP_RETRY, STORAGE_POOL, backfill_policy, daily_partitions
from sentiment_pipeline.entities import extract_entities, product_catalog
from sentiment_pipeline.schemas import SENTIMENT_LABELS, TICKET_CANONICAL, TRAJECTORIES
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
    io_manager_key="parquet_io_manager",
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    retry_policy=STEP_RETRY,
    pool=STORAGE_POOL,
    owners=OWNERS,
    freshness_policy=FRESHNESS,
)
def comment(context: dg.AssetExecutionContext, ticket: pl.LazyFrame, lake: Lake):
    """Splits each day's tickets into messages and scores every message on every core;
    metadata: messages, per role, and label shares."""
    model = Model()
    counts: Counter[tuple[str, str]] = Counter()

    def compute(key: str) -> pl.DataFrame:
        scored_messages = score_messages(messages(day_columns(ticket, key, CONVERSATION_COLUMNS)), model)
        counts.update(zip(scored_messages.get_column("role"), scored_messages.get_column("label"), strict=True))
        return scored_messages

    def summary() -> dict[str, float | int]:
        total = sum(counts.values())
        roles = {role: sum(n for (r, _), n in counts.items() if r == role) for role in ("customer", "agent", "other")}
        negative = {f"share_negative_{role}": round(counts[(role, "negative")] / n, 4) for role, n in roles.items() if n}
        return {"messages": total, **{f"messages_{role}": n for role, n in roles.items()}, **negative}

    yield dg.Output(LazyPartitions(context.partition_keys, compute, summary))
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
    io_manager_key="parquet_io_manager",
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    retry_policy=STEP_RETRY,
    pool=STORAGE_POOL,
    owners=OWNERS,
    freshness_policy=FRESHNESS,
)
def sentiment(context: dg.AssetExecutionContext, comment: pl.LazyFrame, lake: Lake):
    """Each ticket's opening scores and customer trajectory, from its scored messages;
    metadata: label shares, mean compound, trajectory counts."""
    model = Model()
    labels: Counter[str] = Counter()
    trajectories: Counter[str] = Counter()
    compound_sum = 0.0

    def compute(key: str) -> pl.DataFrame:
        nonlocal compound_sum
        day = comment.filter(pl.col("partition_date") == partition_day(key)).drop("partition_date").collect()
        scores = ticket_sentiment(day, model)
        labels.update(scores.get_column("label").to_list())
        trajectories.update(scores.get_column("trajectory").drop_nulls().to_list())
        compound_sum += scores.get_column("compound").sum()
        return scores

    def summary() -> dict[str, float | int | str]:
        tickets = sum(labels.values())
        shares = {f"share_{name}": round(labels[name] / tickets, 4) if tickets else 0.0 for name in SENTIMENT_LABELS}
        mean = round(compound_sum / tickets, 4) if tickets else 0.0
        moves = {name: trajectories[name] for name in TRAJECTORIES}
        return {"tickets": tickets, **shares, "mean_compound": mean, **moves, "model": f"{model.name} ({model.version})"}

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
    io_manager_key="parquet_io_manager",
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    retry_policy=STEP_RETRY,
    pool=STORAGE_POOL,
    owners=OWNERS,
    freshness_policy=FRESHNESS,
)
def entity(context: dg.AssetExecutionContext, ticket: pl.LazyFrame) -> LazyPartitions:
    """Extracts each day's mentions; metadata: mentions per type."""
    catalog = product_catalog()
    per_type: Counter[str] = Counter()

    def compute(key: str) -> pl.DataFrame:
        mentions = extract_entities(day_columns(ticket, key, TEXT_COLUMNS), catalog)
        per_type.update(mentions.get_column("type").to_list())
        return mentions

    def summary() -> dict[str, int]:
        return {"mentions": sum(per_type.values()), **{f"mentions_{kind}": per_type[kind] for kind in sorted(per_type)}}

    return LazyPartitions(context.partition_keys, compute, summary)
