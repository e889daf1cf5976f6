"""What the stages' asset checks share: per-day counts read back from storage, and one
result per check that lists the failing days.

A check reads back only the columns it needs of the run's own partitions (never the
history), so it costs about what the day costs, and it judges what actually landed in
storage rather than what the code meant to write. A run of many days gets one result per
check; the days that fail are listed, with the numbers, in the result's metadata.
"""

import dagster as dg
import polars as pl

from sentiment_pipeline import storage

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def per_day(root: str, asset: str, keys: list[str], **aggregations: pl.Expr) -> pl.DataFrame:
    """One row per day of the run: the aggregations over that day's partition of ``asset``."""
    scan = storage.scan_partitions(root, asset, keys)
    return with_day(scan.group_by("partition_date").agg(**aggregations).collect())


def joined_counts(*per_day_counts: pl.LazyFrame) -> pl.DataFrame:
    """Per-day counts from several scans, side by side (a day missing from one counts 0)."""
    joined = per_day_counts[0]
    for frame in per_day_counts[1:]:
        joined = joined.join(frame, on="partition_date", how="full", coalesce=True)
    return with_day(joined.collect()).fill_null(0)


def with_day(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(day=pl.col("partition_date").cast(pl.String)).drop("partition_date")


def check_result(asset: str, name: str, keys: list[str], failures: dict[str, str], severity=ERROR, **metadata) -> dg.AssetCheckResult:
    """One check's result over the run's days; ``failures`` maps each failing day to why."""
    listed = "\n".join(f"- {day}: {why}" for day, why in sorted(failures.items())[:100])
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=not failures,
        severity=severity,
        metadata={"days_checked": len(keys), "days_failing": len(failures), "failures": dg.MetadataValue.md(listed or "none"), **metadata},
    )
