"""Dagster shell around ``aggregates``: the three DuckDB-computed analyst tables."""

import dagster as dg
import polars as pl
from pydantic import Field

from sentiment_pipeline import aggregates, checks, storage
from sentiment_pipeline.io_manager import LazyPartitions, ParquetIOManager
from sentiment_pipeline.shell import EACH_ASSET, SHELL, markdown_preview, table_schema


class DuckDB(dg.ConfigurableResource):
    """In-memory DuckDB connections (no database file, so concurrent runs never contend for
    a lock) that never download an extension; tuned for a small machine by default."""

    threads: int | None = Field(default=None, description="worker threads; default: all cores")
    memory_limit: str | None = Field(default="2GB", description="e.g. 2GB; spills to temp_directory beyond it")
    temp_directory: str | None = Field(default=None, description="where DuckDB spills; default: its own")

    def connect(self):
        return storage.duckdb_connection(self.threads, self.memory_limit, self.temp_directory)


DESCRIPTIONS = {
    "daily_sentiment_summary": (
        "Day x channel x product: tickets, avg_compound, label counts, share_negative (negative / tickets), "
        "avg_csat (over tickets that have a csat). A null channel or product is a group of its own."
    ),
    "daily_entity_mentions": (
        "Day x entity type x normalized value: mentions (every mention), tickets (distinct tickets), "
        "avg_compound over those distinct tickets."
    ),
    "daily_agent_summary": (
        "Day x agent: tickets, solved (resolved_at set or status solved/resolved/closed), "
        "median_hours_to_resolve (tickets with resolved_at >= created_at only), avg_compound, avg_csat. "
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
        io_manager_key="parquet_io_manager",
        group_name="analytics",
        kinds={"duckdb", "parquet"},
        **EACH_ASSET,
        metadata={"dagster/column_schema": table_schema(aggregates.SCHEMAS[table])},
        check_specs=[checks.adds_up_spec(table)],
        **SHELL,
    )
    def compute_table(context: dg.AssetExecutionContext, duckdb: DuckDB, parquet_io_manager: dg.ResourceParam[ParquetIOManager]):
        root = parquet_io_manager.resolved_root()
        days: list[pl.DataFrame] = []

        def compute(key: str) -> pl.DataFrame:
            with duckdb.connect() as connection:
                frame = aggregates.aggregate(connection, table, root, key)
            days.append(frame)
            return frame

        def summary() -> dict:
            combined = pl.concat(days)
            return {**headline(table, combined), "preview": markdown_preview(combined)}

        yield dg.Output(LazyPartitions(context.partition_keys, compute, summary))
        yield checks.adds_up_result(root, table, context.partition_keys)

    return compute_table


analytics = [analytics_asset(table) for table in aggregates.SCHEMAS]
