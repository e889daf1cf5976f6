"""The analytics checks, run inside each step over the days it wrote: the aggregates add
up; ``sentiment_alerts`` warns about spikes."""

from collections import Counter

import dagster as dg
import polars as pl

from sentiment_pipeline import spikes, storage
from sentiment_pipeline.defs.checking import WARN, DayVerdicts, day_check, per_day

ADDS_UP = {  # aggregate -> (its column that counts, the asset whose rows it counts)
    "daily_sentiment_summary": ("tickets", "ticket"),
    "daily_agent_summary": ("tickets", "ticket"),
    "daily_entity_mentions": ("mentions", "entity"),
}


def adds_up_spec(table: str) -> dg.AssetCheckSpec:
    column, source = ADDS_UP[table]
    return day_check("adds_up", table, f"Each day's sum of {column} equals that day's {source} rows.")


def adds_up_result(root: str, table: str, keys: list[str]) -> DayVerdicts:
    column, source = ADDS_UP[table]
    totals = per_day(root, table, keys, total=pl.col(column).sum())
    rows = per_day(root, source, keys, rows=pl.len())
    joined = pl.DataFrame({"day": keys}).join(totals, on="day", how="left").join(rows, on="day", how="left").fill_null(0)
    wrong = {
        r["day"]: f"sum of {column} {r['total']} != {r['rows']} {source} rows"
        for r in joined.iter_rows(named=True)
        if r["total"] != r["rows"]
    }
    return DayVerdicts(table, "adds_up", keys, wrong)


NO_SPIKES = day_check(
    "no_spikes",
    "sentiment_alerts",
    "Warns when a day flags a spike of negative tickets in a product, channel or entity (each one listed).",
)


def no_spikes_result(root: str, keys: list[str], new_flags: Counter[str], notification: str) -> DayVerdicts:
    """WARN, not ERROR: a spike is news about the tickets, not a fault of the data, and must
    not block anything. ``new_flags``: per day, the flags posted by this run."""
    flags = storage.scan_partitions(root, "sentiment_alerts", keys).collect()
    by_day = flags.group_by("date").agg(pl.struct(pl.all()).alias("flags"))
    described = {day.isoformat(): [spikes.describe(flag) for flag in day_flags] for day, day_flags in by_day.iter_rows()}
    facts = {key: {"flags": len(described.get(key, [])), "new_flags": new_flags[key], "notification": notification} for key in keys}
    spiking = {day: "; ".join(lines) for day, lines in described.items()}
    return DayVerdicts("sentiment_alerts", "no_spikes", keys, spiking, WARN, facts)
