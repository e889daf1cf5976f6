"""What every asset of the Dagster shell shares: the daily partitions and column-schema metadata."""

import os
from datetime import timedelta

import dagster as dg
import polars as pl

from sentiment_pipeline.schemas import DESCRIPTIONS

DEFAULT_START = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("SENTIMENT_PARTITIONS_START") or DEFAULT_START, timezone="UTC"
)
# Yesterday's partition is expected between 00:00 and 06:00 UTC every day: the schedule
# runs it at 00:30, the rest is room for late exports and retries (the UI flags it otherwise).
FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6), timezone="UTC")
# What each asset declares for itself (an @asset, or each output of a @multi_asset); SHELL
# below is what each step shares.
EACH_ASSET = {"owners": ["team:data-platform"], "freshness_policy": FRESHNESS}


def backfill_policy() -> dg.BackfillPolicy:
    """By default a backfill of any range is one run (each day still its own object, computed
    and written one at a time, so memory stays that of one day): no process start-up per day,
    and the CLI's ``--partition-range`` accepts only single-run policies. A deployment with
    many workers sets ``SENTIMENT_BACKFILL_DAYS_PER_RUN`` to fan a backfill out as runs of
    that many days, which its run launcher spreads over the workers."""
    days = os.environ.get("SENTIMENT_BACKFILL_DAYS_PER_RUN")
    if not days:
        return dg.BackfillPolicy.single_run()
    if not days.isdigit() or int(days) < 1:
        raise ValueError(f"SENTIMENT_BACKFILL_DAYS_PER_RUN must be a whole number of days >= 1, not {days!r}")
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=int(days))


SHELL = {
    "partitions_def": daily_partitions,
    "backfill_policy": backfill_policy(),
    # Storage calls retry on their own (see storage.py); a step that still fails is retried
    # whole, later. Writes are atomic per day, so a failed attempt leaves no partial partition.
    "retry_policy": dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
    # Steps that move partitions in and out of storage share one pool (limit in dagster.yaml),
    # so parallel runs on a small machine queue instead of thrashing.
    "pool": "storage",
}


def table_schema(schema: dict[str, pl.DataType]) -> dg.TableSchema:
    """The asset's columns for the UI, from the one schema definition that also drives the writer."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype), description=DESCRIPTIONS.get(name, "")) for name, dtype in schema.items()]
    )


def markdown_preview(frame: pl.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """The first rows of a frame as a markdown table for the asset's page in the UI."""
    shown = frame.head(rows)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join("" if v is None else str(round(v, 3) if isinstance(v, float) else v) for v in row) + " |" for row in shown.iter_rows()]
    return dg.MetadataValue.md("\n".join(lines))
