"""Checks of the sentiment step, run inside it over the days it wrote."""

import dagster as dg
import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.defs.checking import check_result, joined_counts

SCORE_RANGES = {"compound": (-1.0, 1.0), "pos": (0.0, 1.0), "neu": (0.0, 1.0), "neg": (0.0, 1.0)}

SENTIMENT_SPECS = [
    dg.AssetCheckSpec(
        "one_row_per_ticket",
        asset="sentiment",
        blocking=True,
        description="Exactly one row per ticket of the day: none missing, none extra, none twice.",
    ),
    dg.AssetCheckSpec("scores_in_range", asset="sentiment", description="compound in [-1, 1]; pos, neu, neg in [0, 1]; no nulls."),
]


def sentiment_results(root: str, keys: list[str]) -> list[dg.AssetCheckResult]:
    scores = storage.scan_partitions(root, "sentiment", keys)
    tickets = storage.scan_partitions(root, "ticket", keys).select("partition_date", "ticket_id")
    on = ["partition_date", "ticket_id"]
    outside = pl.any_horizontal(~pl.col(c).is_between(low, high).fill_null(False) for c, (low, high) in SCORE_RANGES.items())
    counts = joined_counts(
        scores.group_by("partition_date").agg(rows=pl.len(), distinct=pl.col("ticket_id").n_unique(), out_of_range=outside.sum()),
        tickets.join(scores, on=on, how="anti").group_by("partition_date").agg(missing=pl.len()),
        scores.join(tickets, on=on, how="anti").group_by("partition_date").agg(extra=pl.len()),
    )
    mismatched = {
        r["day"]: f"{r['missing']} tickets unscored, {r['extra']} scores without a ticket, {r['rows'] - r['distinct']} scored twice"
        for r in counts.iter_rows(named=True)
        if r["missing"] or r["extra"] or r["rows"] != r["distinct"]
    }
    out_of_range = {r["day"]: f"{r['out_of_range']} rows out of range" for r in counts.iter_rows(named=True) if r["out_of_range"]}
    return [
        check_result("sentiment", "one_row_per_ticket", keys, mismatched),
        check_result("sentiment", "scores_in_range", keys, out_of_range),
    ]
