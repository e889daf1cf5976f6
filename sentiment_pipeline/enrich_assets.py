"""Dagster shell around ``sentiment`` and ``entities``: ``ticket`` -> ``sentiment``, ``entity``."""

from collections import Counter

import dagster as dg
import polars as pl

from sentiment_pipeline.entities import ENTITY_SCHEMA, extract_entities, product_catalog
from sentiment_pipeline import checks
from sentiment_pipeline.io_manager import LazyPartitions, ParquetIOManager
from sentiment_pipeline.sentiment import SENTIMENT_SCHEMA, Model, score_tickets
from sentiment_pipeline.shell import EACH_ASSET, SHELL, table_schema
from sentiment_pipeline.storage import partition_day

TEXT_COLUMNS = ("ticket_id", "subject", "body")  # all that is read of the wide ticket table

ENRICH = {
    **SHELL,
    "io_manager_key": "parquet_io_manager",
    "group_name": "enrich",
    "kinds": {"polars", "parquet"},
    **EACH_ASSET,
}


def day_texts(ticket: pl.LazyFrame, partition_key: str) -> pl.LazyFrame:
    return ticket.filter(pl.col("partition_date") == partition_day(partition_key)).select(TEXT_COLUMNS)


@dg.asset(
    description=(
        "One row per ticket: VADER compound/pos/neu/neg of subject + body with the support-domain layer, "
        "label (positive >= 0.05, negative <= -0.05, else neutral), model name and version."
    ),
    metadata={"dagster/column_schema": table_schema(SENTIMENT_SCHEMA)},
    check_specs=checks.SENTIMENT_SPECS,
    **ENRICH,
)
def sentiment(context: dg.AssetExecutionContext, ticket: pl.LazyFrame, parquet_io_manager: dg.ResourceParam[ParquetIOManager]):
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
        shares = {f"share_{name}": round(labels[name] / tickets, 4) if tickets else 0.0 for name in ("negative", "neutral", "positive")}
        mean = round(compound_sum / tickets, 4) if tickets else 0.0
        return {"tickets": tickets, **shares, "mean_compound": mean, "model": f"{model.name} ({model.version})"}

    yield dg.Output(LazyPartitions(context.partition_keys, compute, summary))
    yield from checks.sentiment_results(parquet_io_manager.resolved_root(), context.partition_keys)


@dg.asset(
    description=(
        "One row per entity mention in a ticket's subject or body: type (product, order_id, email, phone, url, "
        "money, error_code, version), text as written, normalized value, field and character offsets."
    ),
    metadata={"dagster/column_schema": table_schema(ENTITY_SCHEMA)},
    **ENRICH,
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
