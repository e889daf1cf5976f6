"""The analytics checks, run inside each step over the days it wrote: the aggregates add
up; ``sentiment_alerts`` warns about spikes."""

import dagster as dg
import polars as pl

from sentiment_pipeline import spikes, storage
from sentiment_pipeline.defs.checking import WARN, check_result, per_day

ADDS_UP = {  # aggregate -> (its column that counts, the asset whose rows it counts)
    "daily_sentiment_summary": ("tickets", "ticket"),
    "daily_agent_summary": ("tickets", "ticket"),
    "daily_entity_mentions": ("mentions", "entity"),
}


def adds_up_spec(table: str) -> dg.AssetCheckSpec:
    column, source = ADDS_UP[table]
    return dg.AssetCheckSpec("adds_up", asset=table, description=f"Each day's sum of {column} equals that day's {source} rows.")


def adds_up_result(root: str, table: str, keys: list[str]) -> dg.AssetCheckResult:
    column, source = ADDS_UP[table]
    totals = per_day(root, table, keys, total=pl.col(column).sum())
    rows = per_day(root, source, keys, rows=pl.len())
    joined = pl.DataFrame({"day": keys}).join(totals, on="day", how="left").join(rows, on="day", how="left").fill_null(0)
    wrong = {
        r["day"]: f"sum of {column} {r['total']} != {r['rows']} {source} rows"
        for r in joined.iter_rows(named=True)
        if r["total"] != r["rows"]
    }
    return check_result(table, "adds_up", keys, wrong)


NO_SPIKES = dg.AssetCheckSpec(
    "no_spikes",
    asset="sentiment_alerts",
    description="Warns when a day of the run flags a spike of negative tickets in a product, channel or entity (each one listed).",
)


def no_spikes_result(root: str, keys: list[str], **metadata) -> dg.AssetCheckResult:
    """WARN, not ERROR: a spike is news about the tickets, not a fault of the data, and must not block anything."""
    flags = storage.scan_partitions(root, "sentiment_alerts", keys).collect()
    by_day = flags.group_by("date").agg(pl.struct(pl.all()).alias("flags"))
    spikes_by_day = {day.isoformat(): "; ".join(spikes.describe(flag) for flag in day_flags) for day, day_flags in by_day.iter_rows()}
    return check_result("sentiment_alerts", "no_spikes", keys, spikes_by_day, WARN, flags=flags.height, **metadata)
