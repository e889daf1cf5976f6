"""Spikes of negative sentiment: which products, channels and entities had a day whose share
of negative tickets is too high to be their usual share (pure polars and SciPy, no Dagster).

A group is a product (``ticket.product``), a channel (``ticket.channel``) or an entity of a
recurring type (product, error_code, version; e-mails, phones, URLs, order ids and amounts
are one per ticket, so they have no baseline). For a day D, a group's baseline is its summed
tickets N and negative tickets K over the 28 days before D.

The test. Under "nothing changed", today's negative count k of n tickets is a draw from the
group's own rate, known only as well as the baseline tells it: with a uniform prior updated
by the baseline, the rate is Beta(K + 1, N - K + 1) and k ~ BetaBinomial(n, K + 1, N - K + 1).
The p-value is P(X >= k). Against a fixed rule ("share more than x points above its mean"):
- volume: 6 of 10 negative and 600 of 1,000 are the same share but not the same evidence;
  the binomial part of the test knows the difference, a share rule does not;
- baseline uncertainty: 2 of 30 last month is a vague rate, 200 of 3,000 a sharp one; the
  beta part widens the prediction for a thin baseline, so a new or quiet group does not
  fire on its first busy day;
- many groups: every day tests dozens of groups, so some p-values are small by chance. A
  group is flagged only when p <= alpha / m, m the groups tested that day (Bonferroni): the
  chance that a normal day flags anything stays at most alpha.
Groups with too little data are not tested at all (and do not count in m): fewer than
``MIN_TICKETS`` tickets or ``MIN_NEGATIVE`` negatives today (a spike nobody would act on),
or fewer than ``MIN_BASELINE_TICKETS`` in the baseline (no usual share to compare with).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.schemas import SENTIMENT_ALERTS

BASELINE_DAYS = 28
MIN_TICKETS = 10
MIN_NEGATIVE = 5
MIN_BASELINE_TICKETS = 28
DEFAULT_ALPHA = 0.01
ENTITY_TYPES = ("product", "error_code", "version")  # recurring values; the other types are unique per ticket
SOURCES = ("daily_sentiment_summary", "daily_entity_mentions")
GROUP = ["dimension", "entity_type", "value"]
# One row per day x group: the input of ``find_spikes``.
COUNTS: dict[str, pl.DataType] = {
    column: SENTIMENT_ALERTS[column] for column in ("date", *GROUP, "tickets", "negative")
}  # (a flag's own first columns)


@dataclass(frozen=True)
class DayVerdict:
    """A day's flags (``SENTIMENT_ALERTS`` rows) and how many groups were tested (m)."""

    flags: pl.DataFrame
    tested: int


def window_keys(partition_keys: list[str]) -> list[str]:
    """Every day a run of ``partition_keys`` reads: each day and the baseline days before it."""
    days = {storage.partition_day(key) - timedelta(days=back) for key in partition_keys for back in range(BASELINE_DAYS + 1)}
    return [day.isoformat() for day in sorted(days)]


def baseline_keys(partition_key: str) -> list[str]:
    """The baseline days of ``partition_key``: the 28 days before it."""
    day = storage.partition_day(partition_key)
    return [(day - timedelta(days=back)).isoformat() for back in range(BASELINE_DAYS, 0, -1)]


def read_counts(root: str, keys: list[str]) -> tuple[pl.DataFrame, dict[str, set[str]]]:
    """The group counts of ``keys`` from the aggregates' partitions that exist, and the days
    each aggregate had (a day never materialized is no data, not zero tickets)."""
    present = {asset: storage.materialized_keys(root, asset) & set(keys) for asset in SOURCES}
    summary = _read(root, "daily_sentiment_summary", present["daily_sentiment_summary"], ["channel", "product"])
    recurring = pl.col("type").is_in(ENTITY_TYPES)  # filtered in the scan: one-per-ticket values are most of the rows
    mentions = _read(root, "daily_entity_mentions", present["daily_entity_mentions"], ["type", "normalized"], recurring)
    return group_counts(summary, mentions), present


def _read(root: str, asset: str, keys: set[str], labels: list[str], keep: pl.Expr | None = None) -> pl.DataFrame:
    columns = ["date", *labels, "tickets", "negative"]
    if not keys:
        return pl.DataFrame(schema={column: COUNTS.get(column, pl.String()) for column in columns})
    scan = storage.scan_partitions(root, asset, sorted(keys))
    if "negative" not in scan.collect_schema():  # every day read was written before the column existed
        scan = scan.with_columns(negative=pl.lit(None, pl.Int64()))
    scan = scan.with_columns(date=pl.col("partition_date")).select(columns)
    return (scan if keep is None else scan.filter(keep)).collect()


def group_counts(summary: pl.DataFrame, mentions: pl.DataFrame) -> pl.DataFrame:
    """Day x group tickets and negatives (``COUNTS``) from ``daily_sentiment_summary`` rows
    (date, channel, product, tickets, negative) and ``daily_entity_mentions`` rows (date,
    type, normalized, tickets, negative).

    Tickets without a product or channel are no group: a spike there names nothing to look
    at. An entity row without ``negative`` (a day written before the column existed) is left
    out rather than read as zero negatives, which would lower the baseline and flag spikes
    that are not there.
    """
    by_field = [
        summary.filter(pl.col(field).is_not_null())
        .group_by("date", pl.col(field).alias("value"))
        .agg(pl.col("tickets").sum(), pl.col("negative").sum())
        .with_columns(dimension=pl.lit(field), entity_type=pl.lit(None, pl.String()))
        for field in ("product", "channel")
    ]
    entities = mentions.filter(
        pl.col("type").is_in(ENTITY_TYPES) & pl.col("normalized").is_not_null() & pl.col("negative").is_not_null()
    ).select("date", "tickets", "negative", dimension=pl.lit("entity"), entity_type="type", value="normalized")
    frames = [frame.select(list(COUNTS)).cast(COUNTS) for frame in (*by_field, entities)]
    return pl.concat(frames).sort("date", *GROUP, nulls_last=True)


def find_spikes(counts: pl.DataFrame, day: date, alpha: float = DEFAULT_ALPHA) -> DayVerdict:
    """The groups of ``counts`` (``COUNTS`` rows) whose negatives on ``day`` are a spike
    against their 28 days before it, at family-wise error ``alpha`` over the groups tested."""
    start = day - timedelta(days=BASELINE_DAYS)
    baseline = (
        counts.filter(pl.col("date").is_between(start, day - timedelta(days=1)))
        .group_by(GROUP)
        .agg(baseline_tickets=pl.col("tickets").sum(), baseline_negative=pl.col("negative").sum())
    )
    groups = (
        counts.filter(pl.col("date") == day)
        .join(baseline, on=GROUP, how="left", nulls_equal=True)
        .with_columns(pl.col("baseline_tickets", "baseline_negative").fill_null(0))
        .filter(
            (pl.col("tickets") >= MIN_TICKETS) & (pl.col("negative") >= MIN_NEGATIVE) & (pl.col("baseline_tickets") >= MIN_BASELINE_TICKETS)
        )
    )
    tested = groups.height
    if not tested:
        return DayVerdict(pl.DataFrame(schema=SENTIMENT_ALERTS), 0)
    k, n = groups.get_column("negative").to_numpy(), groups.get_column("tickets").to_numpy()
    big_k, big_n = groups.get_column("baseline_negative").to_numpy(), groups.get_column("baseline_tickets").to_numpy()
    share, baseline_share = pl.col("negative") / pl.col("tickets"), pl.col("baseline_negative") / pl.col("baseline_tickets")
    flags = (
        groups.with_columns(
            share_negative=share,
            baseline_share=baseline_share,
            lift=pl.when(pl.col("baseline_negative") > 0).then(share / baseline_share),
            p_value=pl.Series(upper_tail(k, n, big_k + 1, big_n - big_k + 1)),
            threshold=pl.lit(alpha / tested),
            tested=pl.lit(tested),
        )
        .filter((pl.col("p_value") <= pl.col("threshold")) & (pl.col("share_negative") > pl.col("baseline_share")))
        .sort("p_value", *GROUP, nulls_last=True)
    )
    return DayVerdict(flags.select(list(SENTIMENT_ALERTS)).cast(SENTIMENT_ALERTS), tested)


def upper_tail(k: np.ndarray, n: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(X >= k) for X ~ BetaBinomial(n, a, b), elementwise, summed term by term over k..n.

    Not ``betabinom.sf(k - 1, n, a, b)``: SciPy computes that as 1 - cdf, which keeps about
    16 - |log10 p| significant digits, so a strong spike's p-value (1e-12 and below) comes
    out with few or no correct digits, or as 0. Every term here is positive, so the sum keeps
    the precision of ``betabinom.pmf`` at any size.
    """
    from scipy.stats import betabinom  # here, not at import: scipy.stats adds ~1 s to every process loading the definitions

    k, n = k.astype(np.int64), n.astype(np.int64)
    lengths = n - k + 1
    group = np.repeat(np.arange(k.size), lengths)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    x = k[group] + np.arange(group.size) - offsets
    terms = betabinom.pmf(x, n[group], a[group], b[group])
    return np.bincount(group, weights=terms, minlength=k.size)


def new_flags(flags: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """The flags whose day and group ``previous`` (the partition as stored before) did not
    have: what to tell people about, so a re-run of a day does not tell them twice."""
    return flags.join(previous.select("date", *GROUP), on=["date", *GROUP], how="anti", nulls_equal=True)


def describe(flag: dict) -> str:
    """A flag in one line for people: the group ("product X" is the ticket's product field,
    "entity product X" a mention in its text), today's share against the baseline's, p."""
    kind = f"entity {flag['entity_type']}" if flag["dimension"] == "entity" else flag["dimension"]
    group = f"{kind} {flag['value']}"
    return (
        f"{group}: {flag['share_negative']:.0%} negative ({flag['negative']}/{flag['tickets']}) "
        f"vs {flag['baseline_share']:.0%} over the {BASELINE_DAYS} days before ({flag['baseline_negative']}/{flag['baseline_tickets']}), "
        f"p={flag['p_value']:.2g}"
    )
