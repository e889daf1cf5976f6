"""The analytics steps: the three DuckDB-computed analyst tables (core: ``sentiment_pipeline.aggregates``)."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from sentiment_pipeline import aggregates
from sentiment_pipeline.defs.analytics.checks import adds_up_result, adds_up_spec
from sentiment_pipeline.defs.io_manager import LazyPartitions
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.metadata import markdown_preview, table_schema
from sentiment_pipeline.defs.partitions import FRESHNESS, OWNERS, STEP_RETRY, STORAGE_POOL, backfill_policy, daily_partitions
from sentiment_pipeline.schemas import AGGREGATES

DESCRIPTIONS = {
    "daily_sentiment_summary": (
        "Day x channel x product: tickets, avg_compound, label counts, share_negative (negative / tickets), "
        "avg_csat (over tickets that have a csat), tickets by customer trajectory (improving, declining, stable, single). "
        "A null channel or product is a group of its own."
    ),
    "daily_entity_mentions": (
        "Day x entity type x normalized value: mentions (every mention), tickets (distinct tickets), "
        "negative (those tickets labelled negative), avg_compound over those distinct tickets."
    ),
    "daily_agent_summary": (
        "Day x agent: tickets, solved (resolved_at set or status solved/resolved/closed), "
        "median_hours_to_resolve (tickets with resolved_at >= created_at only), avg_compound, avg_csat, "
        "improving and declining tickets, opened_negative (customer's first message negative) and turnaround_share "
        "(of those, the share whose customer ended not negative). "
        "Tickets with no agent are a group of their own."
    ),
}


def headline(table: str, frame: pl.DataFrame) -> dict[str, float | int]:
    """The day's numbers worth a plot in the UI."""
    if table == "daily_entity_mentions":
        return {"mentions": int(frame.get_column("mentions").sum()), "distinct_entities": frame.height}
    tickets = int(frame.get_column("tickets").sum())
    numbers: dict[str, float | int] = {"tickets": tickets}
    if table == "daily_sentiment_summary" and tickets:
        numbers["share_negative"] = round(frame.get_column("negative").sum() / tickets, 4)
        numbers["avg_compound"] = round((frame.get_column("avg_compound") * frame.get_column("tickets")).sum() / tickets, 4)
    if table == "daily_agent_summary":
        numbers["solved"] = int(frame.get_column("solved").sum())
    return numbers


def analytics_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=table,
        description=DESCRIPTIONS[table],
        deps=list(aggregates.INPUTS[table]),
        metadata={"dagster/column_schema": table_schema(AGGREGATES[table])},
        check_specs=[adds_up_spec(table)],
        group_name="analytics",
        kinds={"duckdb", "parquet"},
        io_manager_key="parquet_io_manager",
        partitions_def=daily_partitions,
        backfill_policy=backfill_policy(),
        retry_policy=STEP_RETRY,
        pool=STORAGE_POOL,
        owners=OWNERS,
        freshness_policy=FRESHNESS,
    )
    def compute_table(context: dg.AssetExecutionContext, duckdb: DuckDBResource, lake: Lake):
        root = lake.roots().storage_root
        days: list[pl.DataFrame] = []

        def compute(key: str) -> pl.DataFrame:
            with duckdb.get_connection() as connection:
                frame = aggregates.aggregate(connection, table, root, key)
            days.append(frame)
            return frame

        def summary() -> dict:
            combined = pl.concat(days)
            return {**headline(table, combined), "preview": markdown_preview(combined)}

        yield dg.Output(LazyPartitions(context.partition_keys, compute, summary))
        yield adds_up_result(root, table, context.partition_keys)

    return compute_table


analytics = [analytics_asset(table) for table in AGGREGATES]
