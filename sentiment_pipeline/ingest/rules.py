"""The row rules: input headers to canonical columns, timestamps, judging each row, and the day's
first occurrence of each ticket id."""

from __future__ import annotations

import polars as pl

from sentiment_pipeline.ingest.blocks import PROBLEM, RAW, ROW, Block, Source
from sentiment_pipeline.ingest.sources import Plan, csv_plan, timestamp_parser
from sentiment_pipeline.ingest.sources.profile import present
from sentiment_pipeline.schemas import DERIVED, TICKET_ALIASES, TICKET_CANONICAL, TICKET_LINEAGE

JUDGED_COLUMNS = ("ticket_id", "created_at", "resolved_at", "csat")  # the ones a row can fail on
HEADER_TO_CANONICAL = {
    alias: canonical for canonical in TICKET_CANONICAL if canonical not in DERIVED for alias in TICKET_ALIASES.get(canonical, (canonical,))
}


# --- canonical columns, validation, duplicates --------------------------------------------


def canonical_names(columns: list[str]) -> dict[str, str]:
    """Map input headers to canonical names (exact name beats alias, first alias wins)."""
    mapping: dict[str, str] = {}
    for exact_first in (True, False):
        for column in columns:
            key = column.strip().lower()
            canonical = HEADER_TO_CANONICAL.get(key)
            if canonical and canonical not in mapping.values() and column not in mapping and (key == canonical) == exact_first:
                mapping[column] = canonical
    return mapping


def custom_columns(source: Source, plan: Plan) -> list[str]:
    """The file's columns that are neither canonical values nor the reader's own: custom fields."""
    return [c for c in source.columns if c not in plan.used and c not in (ROW, RAW, PROBLEM)]


def plan_for(source: Source, day_first: bool = False, sample: pl.Series | None = None) -> Plan:
    """The file's canonical values as expressions over its columns: through its profile, or
    by header name (and alias) for a file in the canonical layout. ``day_first`` and ``sample``
    (the file's first timestamps) settle how its timestamps are read."""
    profile = source.profile
    if profile is not None and profile.kind == "csv":
        return csv_plan(profile, source.headers, source.columns, day_first, sample, source.lists)
    parse, expected = timestamp_parser(profile, day_first, sample)
    if profile is not None:  # JSON: the reader already named the columns canonically
        mapping = {c: c for c in source.columns if c in TICKET_CANONICAL}
        mapped = source.mapped or []
    else:
        mapping = {canonical: column for column, canonical in canonical_names(source.columns).items()}
        mapped = [(column, canonical) for canonical, column in mapping.items() if column != canonical]
    values = {canonical: pl.col(column) for canonical, column in mapping.items()}
    if "tags" in values:
        listed = source.headers is None or mapping["tags"] in source.lists  # JSON, or a Parquet list of texts
        values["tags"] = _tags(values["tags"], pl.List(pl.String) if listed else pl.String)
    if "comments" in values:
        values["comments"] = values["comments"].list.eval(pl.element().struct.with_fields(created_at=parse(pl.field("created_at_text"))))
    missing = [c for c in ("ticket_id", "created_at") if c not in values]
    return Plan(profile.name if profile else None, values, set(mapping.values()), mapped, parse, expected, missing)


def _custom_names(sources: list[Source]) -> dict[str, str]:
    """Lower-case custom name -> its column in ``ticket``, for every file of the day.

    Custom names are unified case-insensitively across files (DuckDB treats "Region" and
    "region" as one column): the first spelling seen wins; one spelled like a canonical or
    lineage column gets a ``_custom`` suffix."""
    reserved = {name.lower() for name in [*TICKET_CANONICAL, *TICKET_LINEAGE]}
    names: dict[str, str] = {}
    for source in sources:
        for name in custom_columns(source, plan_for(source)):
            key = name.lower()
            names.setdefault(key, f"{name}_custom" if key in reserved else name)
    return names


def _csat_ok(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars().str.contains(r"^[1-5]$")


def _tags(text: pl.Expr | None, dtype: pl.DataType | None) -> pl.Expr:
    """';'-separated text (or a list: JSON, Parquet) -> a list of trimmed, non-empty tags."""
    if text is None:
        return pl.lit(None, dtype=pl.List(pl.String))
    if dtype != pl.List(pl.String):
        text = text.cast(pl.String).str.split(";")
    return text.list.eval(pl.element().str.strip_chars()).list.eval(pl.element().filter(pl.element() != ""))


def judge(rows: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """ROW, ``__id`` (the trimmed ticket id), ``__created``/``__resolved`` (parsed), ``__csat``
    (text), ``__comments`` (parsed, when the file has comments) and ``__reason`` (null for a
    good row; the first failing rule wins)."""
    ticket_id, created, resolved, csat = (pl.col(f"__{c}_text") for c in JUDGED_COLUMNS)
    expected = plan.expected_time
    reason = (
        pl.when(~present(ticket_id))
        .then(pl.lit("missing ticket_id"))
        .when(~present(created))
        .then(pl.lit("missing created_at"))
        .when(pl.col("__created").is_null())
        .then(pl.format(f"created_at '{{}}' is not {expected}", created))
        .when(present(resolved) & pl.col("__resolved").is_null())
        .then(pl.format(f"resolved_at '{{}}' is not {expected}", resolved))
        .when(present(csat) & ~_csat_ok(csat))
        .then(pl.format("csat '{}' is not an integer from 1 to 5", csat))
    )
    if "comments" in plan.values:  # a comment whose date cannot be read: the row says which
        unread = pl.element().struct.field("created_at").is_null() & present(pl.element().struct.field("created_at_text"))
        first_unread = pl.col("__comments").list.eval(pl.element().filter(unread)).list.first().struct.field("created_at_text")
        reason = reason.when(first_unread.is_not_null()).then(pl.format(f"a comment's date '{{}}' is not {expected}", first_unread))
    if plan.missing:  # the file has no such column at all: every row says how to map it
        reason = pl.lit(_unmapped(plan, [c for c in rows.columns if c not in (ROW, RAW, PROBLEM)]))
    trimmed = ticket_id.str.strip_chars()
    text = [plan.values.get(c, pl.lit(None, dtype=pl.String)).alias(f"__{c}_text") for c in JUDGED_COLUMNS]
    comments = [plan.values["comments"].alias("__comments")] if "comments" in plan.values else []
    # Only the columns the values are made of: polars' cost per operation grows with the width.
    used = dict.fromkeys(name for expr in (*text, *comments) for name in expr.meta.root_names())
    narrow = pl.DataFrame([rows.get_column(ROW), *(rows.get_column(name) for name in used if name != ROW)])
    return (
        narrow.lazy()
        .select(ROW, *text, *comments)
        .with_columns(__created=plan.timestamps.zoned(created), __resolved=plan.timestamps.zoned(resolved), __csat=csat)
        .with_columns(
            __created=plan.timestamps.local(created, pl.col("__created")),
            __resolved=plan.timestamps.local(resolved, pl.col("__resolved")),
        )
        .select(
            ROW,
            "__created",
            "__resolved",
            "__csat",
            *(["__comments"] if comments else []),
            __reason=reason,
            __id=pl.when(trimmed != "").then(trimmed),
        )
        .collect()
    )


def _unmapped(plan: Plan, headers: list[str]) -> str:
    missing = " and ".join(plan.missing)
    shown = ", ".join(f"'{h}'" for h in headers[:12]) + (f" and {len(headers) - 12} more" if len(headers) > 12 else "")
    if plan.profile is not None:
        return f"the {plan.profile} export has no column for {missing} (headers: {shown}): map it in the sources file's [source.columns]"
    return (
        f"no source profile matches this file and it has no {missing} column (headers: {shown}): add a [[source]] entry "
        f"to the sources file (SENTIMENT_SOURCES) whose match names some of these headers and whose [source.columns] maps "
        f'{missing}, e.g. ticket_id = "<its id header>"'
    )


class FirstSeen:
    """The day's first occurrence of each ticket id among good rows: (file, row).

    Membership is a Python set (C-level set operations on each block's ids): probing a
    polars frame of every id seen so far rebuilt its hash table for every block. Where an
    id first occurred is looked up only for a repeat, in the blocks' own (ROW, ``__id``)
    frames: copying each block's into one frame of the day cost more than the set."""

    def __init__(self):
        self.ids: set[str] = set()
        self.firsts: dict[str, list[pl.DataFrame]] = {}  # file -> per block: ROW + __id of the ids it saw first

    def duplicates(self, good: pl.DataFrame, uri: str) -> pl.DataFrame:
        """ROW, ``__id``, ``__reason`` of the good rows (ROW, ``__id``) whose id came earlier
        in the day; the others become first occurrences."""
        unique = good.get_column("__id").n_unique() == good.height  # the usual block: no need to drop repeats
        firsts = good if unique else good.unique("__id", keep="first", maintain_order=True)
        block_ids = firsts.get_column("__id").to_list()
        repeated = self.ids.intersection(block_ids)
        self.ids.update(block_ids)
        earlier = pl.col("__id").is_in(pl.Series(list(repeated), dtype=pl.String).implode())
        if repeated:
            firsts = firsts.filter(~earlier)
        if not repeated and firsts.height == good.height:  # no id seen twice: the usual block
            self.firsts.setdefault(uri, []).append(firsts)
            return pl.DataFrame(schema={ROW: pl.UInt32, "__id": pl.String, "__reason": pl.String})
        where = [(file, pl.concat(frames).filter(earlier)) for file, frames in self.firsts.items()] + [(uri, firsts)]
        known = pl.concat([frame.select("__id", first_file=pl.lit(file), first_row=pl.col(ROW)) for file, frame in where])
        self.firsts.setdefault(uri, []).append(firsts)
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
