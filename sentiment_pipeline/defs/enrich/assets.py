"""The enrich steps: ``ticket`` -> ``sentiment`` and ``entity`` (core: ``sentiment_pipeline.sentiment``, ``.entities``)."""

from collections import Counter

import dagster as dg
import polars as pl

from sentiment_pipeline.defs.enrich.checks import SENTIMENT_SPECS, sentiment_results
from sentiment_pipeline.defs.io_manager import LazyPartitions
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.metadata import table_schema
from sentiment_pipeline.defs.partitions import FRESHNESS, OWNERS, STEP_RETRY, STORAGE_POOL, backfill_policy, daily_partitions
from sentiment_pipeline.entities import extract_entities, product_catalog
from sentiment_pipeline.schemas import ENTITY, SENTIMENT, SENTIMENT_LABELS
from sentiment_pipeline.sentiment import Model, score_tickets
from sentiment_pipeline.storage import partition_day

TEXT_COLUMNS = ("ticket_id", "subject", "body")  # all that is read of the wide ticket table


def day_texts(ticket: pl.LazyFrame, partition_key: str) -> pl.LazyFrame:
    return ticket.filter(pl.col("partition_date") == partition_day(partition_key)).select(TEXT_COLUMNS)


@dg.asset(
    description=(
        "One row per ticket: VADER compound/pos/neu/neg of subject + body with the support-domain layer, "
        "label (positive >= 0.05, negative <= -0.05, else neutral), model name and version."
    ),
    metadata={"dagster/column_schema": table_schema(SENTIMENT)},
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
def sentiment(context: dg.AssetExecutionContext, ticket: pl.LazyFrame, lake: Lake):
    """Scores each day of the run on every core; metadata: label shares and mean compound."""
    model = Model()
    labels: Counter[str] = Counter()
    compound_sum = 0.0

    def compute(key: str) -> pl.DataFrame:
        nonlocal compound_sum
        scores = score_tickets(day_texts(ticket, key), model)
        labels.update(scores.get_column("label").to_list())
        compound_sum += scores.get_column("compound").sum()
        return scores

    def summary() -> dict[str, float | int | str]:
        tickets = sum(labels.values())
        shares = {f"share_{name}": round(labels[name] / tickets, 4) if tickets else 0.0 for name in SENTIMENT_LABELS}
        mean = round(compound_sum / tickets, 4) if tickets else 0.0
        return {"tickets": tickets, **shares, "mean_compound": mean, "model": f"{model.name} ({model.version})"}

    yield dg.Output(LazyPartitions(context.partition_keys, compute, summary))
    yield from sentiment_results(lake.roots().storage_root, context.partition_keys)


@dg.asset(
    description=(
        "One row per entity mention in a ticket's subject or body: type (product, order_id, email, phone, url, "
        "money, error_code, version), text as written, normalized value, field and character offsets."
    ),
    metadata={"dagster/column_schema": table_schema(ENTITY)},
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
        mentions = extract_entities(day_texts(ticket, key), catalog)
        per_type.update(mentions.get_column("type").to_list())
        return mentions

    def summary() -> dict[str, int]:
        return {"mentions": sum(per_type.values()), **{f"mentions_{kind}": per_type[kind] for kind in sorted(per_type)}}

    return LazyPartitions(context.partition_keys, compute, summary)
