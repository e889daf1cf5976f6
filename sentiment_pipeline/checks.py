"""Asset checks that run inside each asset's own step, over the days that step just wrote.

A check reads back only the columns it needs of the run's own partitions (never the
history), so it costs about what the day costs, and it judges what actually landed in
storage rather than what the code meant to write. A run of many days gets one result per
check; the days that fail are listed, with the numbers, in the result's metadata.
"""

from datetime import timedelta

import dagster as dg
import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.schemas import TICKET_CANONICAL, TICKET_LINEAGE

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
SCORE_RANGES = {"compound": (-1.0, 1.0), "pos": (0.0, 1.0), "neu": (0.0, 1.0), "neg": (0.0, 1.0)}
ADDS_UP = {  # aggregate -> (its column that counts, the asset whose rows it counts)
    "daily_sentiment_summary": ("tickets", "ticket"),
    "daily_agent_summary": ("tickets", "ticket"),
    "daily_entity_mentions": ("mentions", "entity"),
}

INGEST_SPECS = [
    dg.AssetCheckSpec("unique_ticket_ids", asset="ticket", blocking=True,
                      description="No ticket_id appears twice (or is null) within a day."),
    dg.AssetCheckSpec("rows_conserved", asset="ticket", blocking=True,
                      description="Every input row of a day is in exactly one of ticket and ticket_rejects."),
    dg.AssetCheckSpec("canonical_schema", asset="ticket", blocking=True,
                      description="The canonical and lineage columns keep their types; new custom columns are listed."),
    dg.AssetCheckSpec("reject_share", asset="ticket_rejects",
                      description="Warns when a day's share of rejected rows is above the run's threshold."),
]
SENTIMENT_SPECS = [
    dg.AssetCheckSpec("one_row_per_ticket", asset="sentiment", blocking=True,
                      description="Exactly one row per ticket of the day: none missing, none extra, none twice."),
    dg.AssetCheckSpec("scores_in_range", asset="sentiment",
                      description="compound in [-1, 1]; pos, neu, neg in [0, 1]; no nulls."),
]


def adds_up_spec(table: str) -> dg.AssetCheckSpec:
    column, source = ADDS_UP[table]
    return dg.AssetCheckSpec("adds_up", asset=table, description=f"Each day's sum of {column} equals that day's {source} rows.")


def ticket_results(root: str, keys: list[str], input_rows: dict[str, int], row_rejects: dict[str, int],
                   reject_share_warn_at: float) -> list[dg.AssetCheckResult]:
    ids = _per_day(root, "ticket", keys, rows=pl.len(), distinct=pl.col("ticket_id").n_unique(),
                   nulls=pl.col("ticket_id").null_count())
    tickets = dict(zip(ids.get_column("day"), ids.get_column("rows")))
    duplicated = {r["day"]: f"{r['rows'] - r['distinct']} repeated, {r['nulls']} null ids"
                  for r in ids.iter_rows(named=True) if r["rows"] != r["distinct"] or r["nulls"]}
    unbalanced = {key: f"{input_rows[key]} input rows != {tickets.get(key, 0)} tickets + {row_rejects[key]} rejects"
                  for key in keys if input_rows[key] != tickets.get(key, 0) + row_rejects[key]}
    shares = {key: row_rejects[key] / input_rows[key] if input_rows[key] else 0.0 for key in keys}
    high = {key: f"{share:.1%} rejected" for key, share in shares.items() if share > reject_share_warn_at}
    drift, new_columns = _schema_drift(root, keys)
    return [
        _result("ticket", "unique_ticket_ids", keys, duplicated),
        _result("ticket", "rows_conserved", keys, unbalanced, input_rows=sum(input_rows.values()),
                tickets=sum(tickets.values()), row_rejects=sum(row_rejects.values())),
        _result("ticket", "canonical_schema", keys, drift,
                new_custom_columns=dg.MetadataValue.md("\n".join(f"- {d}: {c}" for d, c in new_columns.items()) or "none")),
        _result("ticket_rejects", "reject_share", keys, high, WARN, threshold=reject_share_warn_at,
                max_reject_share=round(max(shares.values(), default=0.0), 6)),
    ]


def sentiment_results(root: str, keys: list[str]) -> list[dg.AssetCheckResult]:
    scores = storage.scan_partitions(root, "sentiment", keys)
    tickets = storage.scan_partitions(root, "ticket", keys).select("partition_date", "ticket_id")
    on = ["partition_date", "ticket_id"]
    outside = pl.any_horizontal(~pl.col(c).is_between(low, high).fill_null(False) for c, (low, high) in SCORE_RANGES.items())
    counts = _counts(
        scores.group_by("partition_date").agg(rows=pl.len(), distinct=pl.col("ticket_id").n_unique(), out_of_range=outside.sum()),
        tickets.join(scores, on=on, how="anti").group_by("partition_date").agg(missing=pl.len()),
        scores.join(tickets, on=on, how="anti").group_by("partition_date").agg(extra=pl.len()),
    )
    mismatched = {r["day"]: f"{r['missing']} tickets unscored, {r['extra']} scores without a ticket, "
                            f"{r['rows'] - r['distinct']} scored twice"
                  for r in counts.iter_rows(named=True) if r["missing"] or r["extra"] or r["rows"] != r["distinct"]}
    out_of_range = {r["day"]: f"{r['out_of_range']} rows out of range" for r in counts.iter_rows(named=True) if r["out_of_range"]}
    return [_result("sentiment", "one_row_per_ticket", keys, mismatched), _result("sentiment", "scores_in_range", keys, out_of_range)]


def adds_up_result(root: str, table: str, keys: list[str]) -> dg.AssetCheckResult:
    column, source = ADDS_UP[table]
    totals = _per_day(root, table, keys, total=pl.col(column).sum())
    rows = _per_day(root, source, keys, rows=pl.len())
    joined = pl.DataFrame({"day": keys}).join(totals, on="day", how="left").join(rows, on="day", how="left").fill_null(0)
    wrong = {r["day"]: f"sum of {column} {r['total']} != {r['rows']} {source} rows"
             for r in joined.iter_rows(named=True) if r["total"] != r["rows"]}
    return _result(table, "adds_up", keys, wrong)


def _per_day(root: str, asset: str, keys: list[str], **aggregations: pl.Expr) -> pl.DataFrame:
    """One row per day of the run: the aggregations over that day's partition of ``asset``."""
    scan = storage.scan_partitions(root, asset, keys)
    return _days(scan.group_by("partition_date").agg(**aggregations).collect())


def _counts(*per_day: pl.LazyFrame) -> pl.DataFrame:
    joined = per_day[0]
    for frame in per_day[1:]:
        joined = joined.join(frame, on="partition_date", how="full", coalesce=True)
    return _days(joined.collect()).fill_null(0)


def _days(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(day=pl.col("partition_date").cast(pl.String)).drop("partition_date")


def _schema_drift(root: str, keys: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Days whose canonical/lineage columns changed type or went missing, and each day's
    custom columns that the day before did not have (growth is normal, so only reported)."""
    expected = {**TICKET_CANONICAL, **TICKET_LINEAGE}
    drift, new_columns = {}, {}
    schemas = {key: storage.scan_partitions(root, "ticket", [key]).collect_schema() for key in keys}
    for key in keys:
        schema = schemas[key]
        changed = [f"{c}: {schema.get(c, 'missing')} (expected {t})" for c, t in expected.items() if schema.get(c) != t]
        if changed:
            drift[key] = "; ".join(changed)
        previous = (storage.partition_day(key) - timedelta(days=1)).isoformat()
        if previous not in schemas and storage.exists(storage.partition_uri(root, "ticket", previous)):
            schemas[previous] = storage.scan_partitions(root, "ticket", [previous]).collect_schema()
        if previous in schemas:
            added = sorted(set(schema) - set(schemas[previous]))
            if added:
                new_columns[key] = ", ".join(added[:50]) + (f" and {len(added) - 50} more" if len(added) > 50 else "")
    return drift, new_columns


def _result(asset: str, name: str, keys: list[str], failures: dict[str, str], severity=ERROR, **metadata) -> dg.AssetCheckResult:
    listed = "\n".join(f"- {day}: {why}" for day, why in sorted(failures.items())[:100])
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=not failures,
        severity=severity,
        metadata={"days_checked": len(keys), "days_failing": len(failures), "failures": dg.MetadataValue.md(listed or "none"), **metadata},
    )
