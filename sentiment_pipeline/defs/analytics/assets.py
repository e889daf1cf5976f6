"""The analytics steps: the three DuckDB-computed analyst tables (core: ``sentiment_pipeline.aggregates``)
and the spikes of negative sentiment found in two of them (core: ``sentiment_pipeline.spikes``)."""

from collections import Counter

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource
from pydantic import Field

from sentiment_pipeline import aggregates, spikes, storage
from sentiment_pipeline.defs.alerts import notify_spikes
from sentiment_pipeline.defs.analytics.checks import NO_SPIKES, adds_up_result, adds_up_spec, no_spikes_result
from sentiment_pipeline.defs.checking import report
from sentiment_pipeline.defs.io_manager import LazyPartitions, Partition
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.metadata import markdown_preview, table_schema
from sentiment_pipeline.defs.partitions import daily_parquet_asset
from sentiment_pipeline.schemas import AGGREGATES, SENTIMENT_ALERTS

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


PREVIEW_ROWS = 10


def analytics_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=table,
        description=DESCRIPTIONS[table],
        deps=list(aggregates.INPUTS[table]),
        metadata={"dagster/column_schema": table_schema(table)},
        check_specs=[adds_up_spec(table)],
        group_name="analytics",
        kinds={"duckdb", "parquet"},
        **daily_parquet_asset(),
    )
    def compute_table(context: dg.AssetExecutionContext, duckdb: DuckDBResource, lake: Lake):
        root = lake.roots().storage_root
        previews: list[pl.DataFrame] = []  # each day's first rows: all the run's preview needs

        def compute(key: str) -> Partition:
            with duckdb.get_connection() as connection:
                frame = aggregates.aggregate(connection, table, root, key)
                figures = aggregates.headline(connection, table, root, key)
            previews.append(frame.head(PREVIEW_ROWS))
            return Partition(frame, figures=figures)

        def summary() -> dict:
            return {"preview": markdown_preview(pl.concat(previews), rows=PREVIEW_ROWS)}

        yield dg.Output(LazyPartitions(context.partition_keys, compute, summary))
        yield from report(context, [adds_up_result(root, table, context.partition_keys)])

    return compute_table


analytics = [analytics_asset(table) for table in AGGREGATES]


ALERTS_DESCRIPTION = (
    "Day x flagged group: a product (ticket.product), a channel (ticket.channel) or an entity (entity_type product, "
    "error_code or version, by normalized value) whose negative tickets that day are a spike against its own 28 days before. "
    "Columns: dimension (product, channel, entity), entity_type (entities only), value, tickets and negative (that day), "
    "share_negative, baseline_tickets and baseline_negative (the 28 days before; days never materialized count as none), "
    "baseline_share, lift (share_negative / baseline_share, null if the baseline had no negative), p_value (P(at least this "
    "many negatives) under a beta-binomial with a uniform prior updated by the baseline), threshold (alpha / tested) and "
    "tested (groups with >= 10 tickets and >= 5 negatives that day and >= 28 baseline tickets). A group is flagged when "
    "p_value <= threshold and share_negative > baseline_share; a day with no spike is an empty partition. New flags are "
    "posted to the SENTIMENT_ALERT_WEBHOOK_URL webhook once."
)
# Each day reads the 28 days before it and itself; days before the first partition are no data.
BASELINE_WINDOW = dg.TimeWindowPartitionMapping(
    start_offset=-spikes.BASELINE_DAYS, end_offset=0, allow_nonexistent_upstream_partitions=True
)


class SpikeConfig(dg.Config):
    alpha: float = Field(
        default=spikes.DEFAULT_ALPHA,
        gt=0.0,
        lt=1.0,
        description="the chance that a day without any real spike flags something (split over the groups tested: Bonferroni)",
    )


@dg.asset(
    description=ALERTS_DESCRIPTION,
    deps=[dg.AssetDep(source, partition_mapping=BASELINE_WINDOW) for source in spikes.SOURCES],
    metadata={"dagster/column_schema": table_schema("sentiment_alerts")},
    check_specs=[NO_SPIKES],
    group_name="analytics",
    kinds={"polars", "parquet"},
    **daily_parquet_asset(),
)
def sentiment_alerts(context: dg.AssetExecutionContext, config: SpikeConfig, lake: Lake):
    """Reads the two aggregates once for the run's days and their baselines; each day's flags
    are compared with the day's stored flags before they replace them, and only flags that
    are new are posted, after every day is written (a retried or repeated run posts nothing
    twice; a post lost to a crash between the write and the post is not repeated)."""
    root = lake.roots().storage_root
    counts, present = spikes.read_counts(root, spikes.window_keys(context.partition_keys))
    days: list[dict] = []
    new: list[dict] = []

    def compute(key: str) -> Partition:
        verdict = spikes.find_spikes(counts, storage.partition_day(key), config.alpha)
        new_today = spikes.new_flags(verdict.flags, stored_flags(root, key))
        new.extend(new_today.iter_rows(named=True))
        baseline = spikes.baseline_keys(key)
        present_days = {f"{source} days": len(present[source].intersection(baseline)) for source in spikes.SOURCES}
        days.append({"day": key, "tested": verdict.tested, "flags": verdict.flags.height, **present_days})
        figures = {
            "flags": verdict.flags.height,
            "new_flags": new_today.height,
            "groups_tested": verdict.tested,
            # of the 28 baseline days, the fewest either aggregate has
            "baseline_days_present": min(present_days.values()),
        }
        return Partition(verdict.flags, figures=figures)

    def summary() -> dict:
        return {"days": markdown_preview(pl.DataFrame(days), rows=100)}

    yield dg.Output(LazyPartitions(context.partition_keys, compute, summary))
    notification = notify_spikes(context.log, context.run_id, new)
    new_by_day = Counter(flag["date"].isoformat() for flag in new)
    yield from report(context, [no_spikes_result(root, context.partition_keys, new_by_day, notification)])


def stored_flags(root: str, partition_key: str) -> pl.DataFrame:
    """The day's flags as stored now (none if the day was never written)."""
    try:
        return storage.scan_partitions(root, "sentiment_alerts", [partition_key]).collect()
    except storage.MissingPartitionError:
        return pl.DataFrame(schema=SENTIMENT_ALERTS)
