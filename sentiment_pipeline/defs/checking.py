"""What the stages' asset checks share: per-day counts read back from storage, and each
check's verdict on each day, reported as that day's partition of the check.

A check reads back only the columns it needs of the run's own partitions (never the
history), so it costs about what the day costs, and it judges what actually landed in
storage rather than what the code meant to write. Checks are partitioned like their assets
(``partitions_def`` on a check spec, a preview of Dagster 1.13): a run of many days reports
one result per check and day, so the UI shows a failing day under its own partition, with
the day and why it failed as the result's description.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import dagster as dg
import polars as pl

# Not exported by dagster, but the type of AssetCheckEvaluation's public target_materialization_data.
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData

from sentiment_pipeline import storage
from sentiment_pipeline.defs.partitions import daily_partitions

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def day_check(name: str, asset: str, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    """A check with one result per daily partition of its asset."""
    return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking, partitions_def=daily_partitions)


@dataclass(frozen=True)
class DayVerdicts:
    """One check over the days of a run: why each failing day failed (the days in neither
    ``failures`` nor ``unchecked`` passed), and each day's numbers worth showing beside its
    result. ``unchecked``: days the check could not be made for, and why; they fail as
    warnings whatever the check's severity (not known wrong, not known right)."""

    asset: str
    name: str
    keys: list[str]
    failures: dict[str, str]
    severity: dg.AssetCheckSeverity = ERROR
    facts: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    unchecked: Mapping[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures and not self.unchecked


def report(context: dg.AssetExecutionContext, checks: Iterable[DayVerdicts]) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
    """Each check's output, then its result for every day of the run.

    Built here rather than as ``AssetCheckResult``s, which in 1.13 carry no partition (a run
    of several days would get one result for all of them). Each result points at its day's
    materialization by this run, which is what makes the UI count it as that partition's
    current result."""
    selected = {spec.key: (output, spec) for output, spec in context.assets_def.check_specs_by_output_name.items()}
    materialized: dict[str, dict[str, AssetCheckEvaluationTargetMaterializationData]] = {}
    for check in checks:
        asset_key = dg.AssetKey(check.asset)
        output, spec = selected[dg.AssetCheckKey(asset_key, check.name)]
        if check.asset not in materialized:
            materialized[check.asset] = _materialized_by_run(context, asset_key)
        yield dg.Output(None, output_name=output)
        for key in check.keys:
            why = check.failures.get(key) or check.unchecked.get(key)
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=check.name,
                passed=why is None,
                severity=WARN if key in check.unchecked and key not in check.failures else check.severity,
                description=f"{key}: {why or 'passed'}",  # the run's log names the day too
                blocking=spec.blocking,
                partition=key,
                metadata=check.facts.get(key, {}),
                target_materialization_data=materialized[check.asset].get(key),
            )


def _materialized_by_run(context: dg.AssetExecutionContext, asset_key: dg.AssetKey) -> dict:
    """Each day's materialization of ``asset_key`` by this run (one query for all the days)."""
    keys = context.partition_keys
    records = context.instance.fetch_materializations(dg.AssetRecordsFilter(asset_key, asset_partitions=keys), limit=len(keys)).records
    return {
        record.partition_key: AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
        )
        for record in records
        if record.run_id == context.run_id
    }


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
