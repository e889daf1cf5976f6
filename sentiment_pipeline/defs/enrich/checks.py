"""Checks of the comment and sentiment steps, run inside each over the days it wrote."""

import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.defs.checking import DayVerdicts, day_check, joined_counts

SCORE_RANGES = {"compound": (-1.0, 1.0), "pos": (0.0, 1.0), "neu": (0.0, 1.0), "neg": (0.0, 1.0)}
ON = ["partition_date", "ticket_id"]

COMMENT_SPECS = [
    day_check(
        "one_opening_message",
        "comment",
        "Every ticket of the day has exactly one seq-0 message, and no message belongs to no ticket.",
        blocking=True,
    ),
    day_check("messages_add_up", "comment", "Each ticket has 1 + its comments messages, numbered 0..n without gaps.", blocking=True),
]
SENTIMENT_SPECS = [
    day_check(
        "one_row_per_ticket", "sentiment", "Exactly one row per ticket of the day: none missing, none extra, none twice.", blocking=True
    ),
    day_check("scores_in_range", "sentiment", "compound in [-1, 1]; pos, neu, neg in [0, 1]; no nulls."),
    day_check("trajectory_known", "sentiment", "trajectory is null exactly where a ticket has no customer message."),
]


def comment_results(root: str, keys: list[str]) -> list[DayVerdicts]:
    messages = storage.scan_partitions(root, "comment", keys)
    tickets = storage.scan_partitions(root, "ticket", keys).select(*ON, expected=pl.col("comments").list.len() + 1)
    per_ticket = messages.group_by(ON).agg(openings=(pl.col("seq") == 0).sum(), messages=pl.len(), top=pl.col("seq").max())
    counts = joined_counts(
        tickets.join(per_ticket, on=ON, how="left")
        .group_by("partition_date")
        .agg(
            no_opening=(pl.col("openings").fill_null(0) != 1).sum(),
            miscounted=(pl.col("messages").fill_null(0) != pl.col("expected")).sum(),
            gaps=(pl.col("top") != pl.col("messages") - 1).sum(),
        ),
        per_ticket.join(tickets, on=ON, how="anti").group_by("partition_date").agg(orphans=pl.len()),
    )
    openings = {
        r["day"]: f"{r['no_opening']} tickets without exactly one opening message, {r['orphans']} messages of no ticket"
        for r in counts.iter_rows(named=True)
        if r["no_opening"] or r["orphans"]
    }
    add_up = {
        r["day"]: f"{r['miscounted']} tickets whose messages are not 1 + comments, {r['gaps']} with gaps in seq"
        for r in counts.iter_rows(named=True)
        if r["miscounted"] or r["gaps"]
    }
    return [DayVerdicts("comment", "one_opening_message", keys, openings), DayVerdicts("comment", "messages_add_up", keys, add_up)]


def sentiment_results(root: str, keys: list[str]) -> list[DayVerdicts]:
    scores = storage.scan_partitions(root, "sentiment", keys)
    tickets = storage.scan_partitions(root, "ticket", keys).select(ON)
    customers = storage.scan_partitions(root, "comment", keys).filter(pl.col("role") == "customer").select(ON).unique()
    outside = pl.any_horizontal(~pl.col(c).is_between(low, high).fill_null(False) for c, (low, high) in SCORE_RANGES.items())
    trajectory = pl.col("trajectory").is_null()
    counts = joined_counts(
        scores.group_by("partition_date").agg(rows=pl.len(), distinct=pl.col("ticket_id").n_unique(), out_of_range=outside.sum()),
        tickets.join(scores, on=ON, how="anti").group_by("partition_date").agg(missing=pl.len()),
        scores.join(tickets, on=ON, how="anti").group_by("partition_date").agg(extra=pl.len()),
        scores.filter(trajectory).join(customers, on=ON, how="semi").group_by("partition_date").agg(unknown=pl.len()),
        scores.filter(~trajectory).join(customers, on=ON, how="anti").group_by("partition_date").agg(invented=pl.len()),
    )
    mismatched = {
        r["day"]: f"{r['missing']} tickets unscored, {r['extra']} scores without a ticket, {r['rows'] - r['distinct']} scored twice"
        for r in counts.iter_rows(named=True)
        if r["missing"] or r["extra"] or r["rows"] != r["distinct"]
    }
    out_of_range = {r["day"]: f"{r['out_of_range']} rows out of range" for r in counts.iter_rows(named=True) if r["out_of_range"]}
    unexplained = {
        r["day"]: f"{r['unknown']} tickets with a customer message but no trajectory, {r['invented']} with a trajectory but none"
        for r in counts.iter_rows(named=True)
        if r["unknown"] or r["invented"]
    }
    return [
        DayVerdicts("sentiment", "one_row_per_ticket", keys, mismatched),
        DayVerdicts("sentiment", "scores_in_range", keys, out_of_range),
        DayVerdicts("sentiment", "trajectory_known", keys, unexplained),
    ]
