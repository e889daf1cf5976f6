"""The aggregates' check, run inside each aggregate's step over the days it wrote."""

import dagster as dg
import polars as pl

from sentiment_pipeline.defs.checking import check_result, per_day

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
