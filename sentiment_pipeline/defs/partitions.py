"""What every daily asset declares: its partitions, backfill policy, retries, pool, owners, freshness."""

from datetime import timedelta

import dagster as dg

from sentiment_pipeline.settings import load_settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=load_settings().partitions_start, timezone="UTC")

# Yesterday's partition is expected between 00:00 and 06:00 UTC every day: the schedule
# runs it at 00:30, the rest is room for late exports and retries (the UI flags it otherwise).
FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6), timezone="UTC")
OWNERS = ["team:data-platform"]
# Storage calls retry on their own (see storage.py); a step that still fails is retried
# whole, later. Writes are atomic per day, so a failed attempt leaves no partial partition.
STEP_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
# Steps that move partitions in and out of storage share one pool (limit in dagster.yaml),
# so parallel runs on a small machine queue instead of thrashing.
STORAGE_POOL = "storage"


def backfill_policy() -> dg.BackfillPolicy:
    """By default a backfill of any range is one run (each day still its own object, computed
    and written one at a time, so memory stays that of one day): no process start-up per day,
    and the CLI's ``--partition-range`` accepts only single-run policies. A deployment with
    many workers sets ``SENTIMENT_BACKFILL_DAYS_PER_RUN`` to fan a backfill out as runs of
    that many days, which its run launcher spreads over the workers."""
    days = load_settings().backfill_days_per_run
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=days) if days else dg.BackfillPolicy.single_run()


def daily_step() -> dict:
    """What every step of the pipeline shares: daily partitions, the backfill policy, step
    retries and the storage pool (one place, so no asset drifts from the others)."""
    return {"partitions_def": daily_partitions, "backfill_policy": backfill_policy(), "retry_policy": STEP_RETRY, "pool": STORAGE_POOL}


def daily_parquet_asset() -> dict:
    """A step writing one daily Parquet asset: ``daily_step`` plus the Parquet IO manager, owners and freshness."""
    return {**daily_step(), "io_manager_key": "parquet_io_manager", "owners": OWNERS, "freshness_policy": FRESHNESS}
