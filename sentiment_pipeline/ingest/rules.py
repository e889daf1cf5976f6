"""The row rules: input headers to canonical columns, timestamps, judging each row, and the day's
first occurrence of each ticket id."""

from __future__ import annotations

import polars as pl

from sentiment_pipeline.ingest.blocks import PROBLEM, RAW, ROW, Block, Source
from sentiment_pipeline.schemas import (
    TICKET_ALIASES,
    TICKET_CANONICAL,
    TICKET_LINEAGE,
    UTC_TIMESTAMP,
)

JUDGED_COLUMNS = ("ticket_id", "created_at", "resolved_at", "csat")  # the ones a row can fail on
HEADER_TO_CANONICAL = {alias: canonical for canonical in TICKET_CANONICAL for alias in TICKET_ALIASES.get(canonical, (canonical,))}


# --- canonical columns, validation, duplicates --------------------------------------------


def canonical_names(columns: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map input headers to canonical names (exact name beats alias, first alias wins)."""
    mapping: dict[str, str] = {}
    for exact_first in (True, False):
        for column in columns:
            key = column.strip().lower()
            canonical = HEADER_TO_CANONICAL.get(key)
            if canonical and canonical not in mapping.values() and column not in mapping and (key == canonical) == exact_first:
                mapping[column] = canonical
    custom = [c for c in columns if c not in mapping and c not in (ROW, RAW, PROBLEM)]
    return mapping, custom


def _custom_names(sources: list[Source]) -> dict[str, str]:
    """Lower-case custom name -> its column in ``ticket``, for every file of the day.

    Custom names are unified case-insensitively across files (DuckDB treats "Region" and
    "region" as one column): the first spelling seen wins; one spelled like a canonical or
    lineage column gets a ``_custom`` suffix."""
    reserved = {name.lower() for name in [*TICKET_CANONICAL, *TICKET_LINEAGE]}
    names: dict[str, str] = {}
    for source in sources:
        for name in canonical_names(source.columns)[1]:
            key = name.lower()
            names.setdefault(key, f"{name}_custom" if key in reserved else name)
    return names


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-8601 text -> UTC timestamp; no zone means UTC, a date alone means midnight UTC."""
    cleaned = (
        text.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"\s*(?:Z|z|UTC)$", "+00:00")
        .str.replace(r"(T[\d:.]+[+-]\d{2})$", "${1}00")  # a "+02" offset means "+0200"
    )
    zoned = [
        cleaned.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z")
    ]
    naive = [
        cleaned.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")
    ]
    date_only = cleaned.str.to_date("%Y-%m-%d", strict=False).cast(UTC_TIMESTAMP)
    return pl.coalesce(*zoned, *naive, date_only)


def _present(value: pl.Expr) -> pl.Expr:
    return value.is_not_null() & (value.str.strip_chars() != "")


def _csat_ok(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars().str.contains(r"^[1-5]$")


def _tags(text: pl.Expr | None, dtype: pl.DataType | None) -> pl.Expr:
    """';'-separated text (or a JSON list) -> a list of trimmed, non-empty tags."""
    if text is None:
        return pl.lit(None, dtype=pl.List(pl.String))
    if dtype != pl.List(pl.String):
        text = text.cast(pl.String).str.split(";").list.eval(pl.element().str.strip_chars())
    return text.list.eval(pl.element().filter(pl.element() != ""))


def judge(rows: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    """ROW, ``__id`` (the trimmed ticket id), ``__created``/``__resolved`` (parsed), ``__csat``
    (text) and ``__reason`` (null for a good row; the first failing rule wins)."""
    source_of = {target: source for source, target in mapping.items()}
    ticket_id, created, resolved, csat = (pl.col(f"__{c}_text") for c in JUDGED_COLUMNS)
    reason = (
        pl.when(~_present(ticket_id))
        .then(pl.lit("missing ticket_id"))
        .when(~_present(created))
        .then(pl.lit("missing created_at"))
        .when(pl.col("__created").is_null())
        .then(pl.format("created_at '{}' is not an ISO-8601 date or timestamp", created))
        .when(_present(resolved) & pl.col("__resolved").is_null())
        .then(pl.format("resolved_at '{}' is not an ISO-8601 date or timestamp", resolved))
        .when(_present(csat) & ~_csat_ok(csat))
        .then(pl.format("csat '{}' is not an integer from 1 to 5", csat))
    )
    trimmed = ticket_id.str.strip_chars()
    text = [(pl.col(source_of[c]) if c in source_of else pl.lit(None, dtype=pl.String)).alias(f"__{c}_text") for c in JUDGED_COLUMNS]
    return (
        rows.lazy()
        .select(ROW, *text)
        .with_columns(__created=parse_timestamp(created), __resolved=parse_timestamp(resolved), __csat=csat)
        .select(ROW, "__created", "__resolved", "__csat", __reason=reason, __id=pl.when(trimmed != "").then(trimmed))
        .collect()
    )


class FirstSeen:
    """The day's first occurrence of each ticket id among good rows: (file, row)."""

    def __init__(self):
        self.seen = pl.DataFrame(schema={"__id": pl.String, "first_file": pl.String, "first_row": pl.UInt32})

    def duplicates(self, good: pl.DataFrame, uri: str) -> pl.DataFrame:
        """ROW, ``__id``, ``__reason`` of the good rows (ROW, ``__id``) whose id came earlier
        in the day; the others become first occurrences."""
        firsts = good.unique("__id", keep="first", maintain_order=True)
        earlier = self.seen.join(firsts.select("__id"), on="__id", how="semi")  # (probes the day's ids once)
        new = firsts.join(earlier, on="__id", how="anti").select("__id", first_file=pl.lit(uri), first_row=pl.col(ROW))
        self.seen.vstack(new, in_place=True)
        if self.seen.n_chunks() > 64:
            self.seen = self.seen.rechunk()
        known = pl.concat([earlier, new])
        later = (pl.col("first_file") != uri) | (pl.col("first_row") != pl.col(ROW))
        reason = pl.format(
            "duplicate ticket_id '{}': the first occurrence ({} row {}) is kept",
            pl.col("__id"),
            pl.col("first_file"),
            pl.col("first_row"),
        )
        return good.join(known, on="__id", how="left").filter(later).select(ROW, "__id", __reason=reason)


def _row_rejects(block: Block, rejected: pl.DataFrame, uri: str) -> pl.DataFrame:
    """A block's rejected rows with file, number, reason and raw text, in row order."""
    raw = block.raw_text(rejected.get_column(ROW).to_list())
    judged = rejected.select(ROW, ticket_id="__id", reason="__reason").join(raw, on=ROW, how="left")
    broken = block.broken.select(ROW, ticket_id=pl.lit(None, dtype=pl.String), reason="reason", raw="raw")
    return (
        pl.concat([judged, broken])
        .sort(ROW)
        .select(pl.lit(uri).alias("source_file"), pl.col(ROW).cast(pl.Int64).alias("source_row"), "ticket_id", "reason", "raw")
    )
