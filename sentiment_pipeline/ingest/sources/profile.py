"""A source profile: how one helpdesk tool's export maps onto the canonical ticket columns.

A profile is data (built-in ones in ``builtin.py``, a user's in the sources file): which
headers or JSON keys recognise the tool, where each canonical value comes from, how the tool
writes timestamps and in which timezone. ``plan`` turns a profile and a CSV file's header
into polars expressions over the file's columns, so a block is mapped column-wise with no
per-row Python; a JSON profile maps each record (JSON is parsed record by record anyway).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from sentiment_pipeline.schemas import UTC_TIMESTAMP

# Canonical columns a profile may map, and the extra one only profiles fill.
MAPPABLE = (
    "ticket_id",
    "created_at",
    "subject",
    "body",
    "channel",
    "product",
    "customer_id",
    "agent_id",
    "status",
    "priority",
    "resolved_at",
    "csat",
    "tags",
    "comments",
)
# ISO-8601 as exports write it: "T" or a blank between date and time, seconds optional;
# %#z takes Z, +02, +0200 and +02:00.
ISO_ZONED = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z", "%Y-%m-%d %H:%M%#z")
ISO_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M")
NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")
AMBIGUOUS = re.compile(r"%[md][/.-]%[md]")  # a format with the day and month side by side as numbers


@dataclass(frozen=True)
class ColumnSpec:
    """Where one canonical value comes from: a CSV header or a JSON path (dotted).

    ``separator`` splits a tags text into tags. ``every_copy``: the export repeats the header
    (Jira's ``Labels``, ``Comment``, ``Component/s``) and every copy counts (tags and comments
    from all of them, a single value from the first non-blank one); otherwise only the first
    copy is read (a Freshdesk contact's own ``Tags`` column is not the ticket's). ``also``:
    other names the same column goes by (Jira writes ``Component/s`` or ``Components``)."""

    source: str
    separator: str | None = None
    every_copy: bool = False
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceProfile:
    name: str
    kind: Literal["csv", "json"]
    match: tuple[str, ...]  # CSV headers (case-insensitive) or JSON record paths that must all be present
    columns: Mapping[str, ColumnSpec]
    timezone: str = "UTC"  # naive timestamps are local time here
    timestamp_format: str | None = None  # set by the user: this format only, no guessing
    formats: tuple[str, ...] = ()  # the tool's own formats besides ISO-8601; numeric dates written month first
    day_first: bool = False  # numeric dates with no evidence either way are read this way (and noted)
    channel: str | None = None  # a constant, for tools whose exports name no channel
    # CSV: (name header, id header) pairs; a comment author written as one of the row's ids
    # is shown as that person's name (Jira Cloud writes account ids in comment cells)
    people: tuple[tuple[str, str], ...] = ()
    records: tuple[str, ...] = ("",)  # JSON: keys that may hold the records ("" = the document is the list)
    rich_text: bool = False  # JSON: text fields may be Atlassian Document Format
    custom_fields: str | None = None  # JSON: a list of {id, value} kept as one column per id (Zendesk)
    origin: str = "built in"


@dataclass
class Plan:
    """One file's canonical values as expressions over its columns, and what it consumed."""

    profile: str | None  # None: the file is in the canonical layout
    values: dict[str, pl.Expr]  # canonical column -> expression (text; tags a list; comments a list of structs)
    used: set[str]  # input columns that became canonical values (not kept as custom fields)
    mapped: list[tuple[str, str]]  # (input column, canonical column), for the run's metadata
    timestamps: TimestampParser  # text -> UTC timestamp
    expected_time: str  # what a timestamp should look like, for reject reasons
    missing: list[str] = field(default_factory=list)  # required canonical columns the file does not have


@dataclass(frozen=True)
class TimestampForms:
    """The written forms a file's timestamps are tried in; each is one pass over the values."""

    zoned: tuple[str, ...] = ISO_ZONED  # carry their own offset
    local: tuple[str, ...] = ISO_NAIVE  # local time in the file's timezone
    date_only: bool = True  # a date alone: midnight there
    utc_word: bool = True  # "... UTC" written for Z

    def narrowed(self, sample: pl.Series) -> TimestampForms:
        """Only the forms ``sample`` (the file's first timestamps) is written in: an export
        writes one or two. Unchanged when none of them fits (reject reasons then list all)."""
        values = sample.drop_nulls().str.strip_chars()
        frame = pl.DataFrame({"text": values.filter(values != "")})
        if frame.is_empty():
            return self
        none = TimestampForms(zoned=(), local=(), date_only=False, utc_word=self.utc_word)
        alone = [
            *(dataclasses.replace(none, zoned=(f,)) for f in self.zoned),
            *(dataclasses.replace(none, local=(f,)) for f in self.local),
            *([dataclasses.replace(none, date_only=True)] if self.date_only else []),
        ]
        # Every form in one query: the cleaned text is shared and the forms run side by side.
        tried = [parse_timestamps(pl.col("text"), forms).is_not_null().any().alias(str(i)) for i, forms in enumerate(alone)]
        *fits, utc = frame.lazy().select(*tried, utc=pl.col("text").str.contains("UTC", literal=True).any()).collect().row(0)
        fit = dict(zip(alone, fits, strict=True))
        narrowed = TimestampForms(
            zoned=tuple(f for f in self.zoned if fit[dataclasses.replace(none, zoned=(f,))]),
            local=tuple(f for f in self.local if fit[dataclasses.replace(none, local=(f,))]),
            date_only=self.date_only and fit[dataclasses.replace(none, date_only=True)],
            utc_word=self.utc_word and utc,
        )
        return narrowed if narrowed.zoned or narrowed.local or narrowed.date_only else self

    def shown(self) -> str:
        tool = [f"'{f}'" for f in self.local if f not in ISO_NAIVE]
        return " or ".join([*tool, *(["ISO-8601"] if self.zoned or set(self.local) & set(ISO_NAIVE) or self.date_only else [])])


def parse_timestamps(text: pl.Expr, forms: TimestampForms = TimestampForms(), timezone: str = "UTC") -> pl.Expr:
    """Text -> UTC timestamp. A zoned form (``Z``, ``+02``, ``+0200``, ``+02:00``) is exact;
    local forms are local time in ``timezone``; a date alone is midnight there.

    Each form is its own ``to_datetime`` pass (~1 ms per 4,000 values): a regular expression
    normalising the text first costs several times that (measured)."""
    cleaned = text.str.strip_chars()
    if forms.utc_word:
        cleaned = cleaned.str.replace("UTC", "Z", literal=True)
    zoned = [cleaned.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in forms.zoned]
    local = [cleaned.str.to_datetime(f, strict=False, time_unit="us") for f in forms.local]
    if forms.date_only:
        local.append(cleaned.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
    if local:
        naive = pl.coalesce(*local).dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        zoned.append(naive.dt.convert_time_zone("UTC"))
    return pl.coalesce(*zoned) if zoned else pl.lit(None, dtype=UTC_TIMESTAMP)


@dataclass(frozen=True)
class TimestampParser:
    """A file's timestamps, text -> UTC, in the forms and timezone it writes them in:
    ``parser(text)``, or in two steps of one query (``zoned``, then ``local`` on its column),
    which gives the same values with less parsing."""

    forms: TimestampForms
    timezone: str = "UTC"

    def __call__(self, text: pl.Expr) -> pl.Expr:
        return parse_timestamps(text, self.forms, self.timezone)

    def zoned(self, text: pl.Expr) -> pl.Expr:
        """The first step: what the zoned forms read (null elsewhere)."""
        return parse_timestamps(text, dataclasses.replace(self.forms, local=(), date_only=False), self.timezone)

    def local(self, text: pl.Expr, zoned: pl.Expr) -> pl.Expr:
        """The second step, given the first's values as a column computed before it: what
        ``parser(text)`` gives, the local forms tried only where the zoned ones read nothing.
        (Every form in one expression is tried on every value: on the long day's e-mail
        exports, 80 % written with a zone, that was ~5 ms a block of parsing for nothing.)"""
        if not self.forms.local and not self.forms.date_only:
            return zoned
        unread = pl.when(zoned.is_null()).then(text)
        return pl.coalesce(zoned, parse_timestamps(unread, dataclasses.replace(self.forms, zoned=()), self.timezone))


def numeric_order(values: list[pl.Series]) -> tuple[bool, bool | None]:
    """(whether any value is a numeric date like 6/21/2025, and if so whether they are day
    first): a first number above 12 can only be a day, a second one likewise. None: no value
    settles it (or the file mixes both orders, which its profile's default then decides)."""
    seen = first = second = False
    for series in values:
        dates = series.drop_nulls()
        parts = dates.filter(dates.str.contains(NUMERIC_DATE.pattern)).str.extract_groups(NUMERIC_DATE.pattern)
        if parts.len():
            seen = True
            first = first or bool((parts.struct.field("1").cast(pl.Int32) > 12).any())
            second = second or bool((parts.struct.field("2").cast(pl.Int32) > 12).any())
    return seen, (first if first != second else None)


def order_matters(profile: SourceProfile) -> bool:
    """Whether the profile reads numeric dates whose day and month order a file must settle."""
    return not profile.timestamp_format and any(AMBIGUOUS.search(f) for f in profile.formats)


def _ordered(fmt: str, day_first: bool) -> str:
    """A month-first numeric format, swapped to day first when the file writes dates so."""
    return fmt.replace("%m", "\0").replace("%d", "%m").replace("\0", "%d") if day_first and AMBIGUOUS.search(fmt) else fmt


def timestamp_parser(profile: SourceProfile | None, day_first: bool, sample: pl.Series | None = None) -> tuple[TimestampParser, str]:
    """The file's timestamp parser and how its values should look (for reject reasons).

    With a ``sample`` of the file's own timestamps (its first block), only the forms that
    read some of them are tried: an export writes one format, and each form tried is a pass
    over every value (ISO-8601 alone has nine; a Jira profile adds seven)."""
    zone = profile.timezone if profile else "UTC"
    if profile is not None and profile.timestamp_format:
        fixed = TimestampForms(zoned=(), local=(profile.timestamp_format,), date_only=False, utc_word=False)
        return TimestampParser(fixed, zone), f"a {profile.name} timestamp ('{profile.timestamp_format}', from the sources file)"
    tool = tuple(_ordered(f, day_first) for f in profile.formats) if profile else ()
    forms = TimestampForms(local=(*ISO_NAIVE, *tool))
    if sample is not None:
        forms = forms.narrowed(sample)
    kind = f"a {profile.name} timestamp" if profile else "an ISO-8601 date or timestamp"
    return TimestampParser(forms, zone), kind if profile is None else f"{kind} ({forms.shown()})"


# --- CSV ------------------------------------------------------------------------------------


def csv_plan(
    profile: SourceProfile,
    headers: list[str],
    names: list[str],
    day_first: bool,
    sample: pl.Series | None = None,
    lists: Set[str] = frozenset(),
) -> Plan:
    """Expressions for a CSV (or Parquet file) whose header is ``headers`` (as written; repeats
    allowed), read under the unique column ``names``. A header the profile names in several
    copies (Jira's ``Labels``, ``Comment``) is read in all of them, in order. ``lists``: columns
    that are lists of texts already (a Parquet file's ``text[]``)."""
    by_header: dict[str, list[str]] = {}
    for header, name in zip(headers, names, strict=True):
        by_header.setdefault(header.strip().lower(), []).append(name)
    parse, expected = timestamp_parser(profile, day_first, sample)
    values: dict[str, pl.Expr] = {}
    used: set[str] = set()
    mapped: list[tuple[str, str]] = []
    for canonical, spec in profile.columns.items():
        copies = next((by_header[n.strip().lower()] for n in (spec.source, *spec.also) if n.strip().lower() in by_header), [])
        if not copies:
            continue
        copies = copies if spec.every_copy else copies[:1]
        used.update(copies)
        mapped.append((spec.source if len(copies) == 1 else f"{spec.source} (x{len(copies)})", canonical))
        cells = [pl.col(c) for c in copies]
        if canonical == "tags":
            values[canonical] = tag_list(cells, spec.separator, [c in lists for c in copies])
        elif canonical == "comments":
            people = [
                (by_header[n.lower()][0], by_header[i.lower()][0]) for n, i in profile.people if {n.lower(), i.lower()} <= set(by_header)
            ]
            values[canonical] = _comment_cells(cells, parse, people)
        else:  # the first non-blank copy (a repeated Component/s: the first component)
            values[canonical] = pl.coalesce(*(nonblank(c) for c in cells))
    if profile.channel is not None and "channel" not in values:
        values["channel"] = pl.lit(profile.channel)
    missing = [c for c in ("ticket_id", "created_at") if c not in values]
    return Plan(profile.name, values, used, mapped, parse, expected, missing)


def present(text: pl.Expr) -> pl.Expr:
    """Whether a text value is there: not null and not blank."""
    return text.is_not_null() & (text.str.strip_chars() != "")


def nonblank(text: pl.Expr) -> pl.Expr:
    """A text value, blank as null."""
    return pl.when(present(text)).then(text)


def tag_list(cells: list[pl.Expr], separator: str | None, listed: list[bool]) -> pl.Expr:
    """Every copy's tags (split on ``separator`` unless the copy is a list already), trimmed,
    blanks dropped; null when none."""
    lists = [
        c.fill_null(pl.lit([], dtype=pl.List(pl.String)))
        if is_list
        else c.fill_null("").str.split(separator)
        if separator
        else c.fill_null("")
        for c, is_list in zip(cells, listed, strict=True)
    ]
    tags = pl.concat_list(lists).list.eval(pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != ""))
    return pl.when(tags.list.len() > 0).then(tags)


def _comment_cells(cells: list[pl.Expr], parse: Callable[[pl.Expr], pl.Expr], people: list[tuple[str, str]]) -> pl.Expr:
    """Jira comment cells ``date;author;text`` (the text may hold ';' and line breaks) -> a
    list of {created_at_text, created_at, author, text}, blank cells skipped; an author
    written as the id in one of ``people``'s (name column, id column) is given that name."""

    def comment(cell: pl.Expr) -> pl.Expr:
        parts = cell.str.splitn(";", 3)
        written, author = parts.struct.field("field_1"), parts.struct.field("field_1")
        for name, identity in reversed(people):
            author = pl.when(written == pl.col(identity)).then(pl.col(name)).otherwise(author)
        when = parts.struct.field("field_0")
        fields = pl.struct(created_at_text=when, created_at=parse(when), author=author, text=parts.struct.field("field_2"))
        return pl.when(present(cell)).then(fields)

    return pl.concat_list([comment(cell) for cell in cells]).list.drop_nulls()


# --- JSON -----------------------------------------------------------------------------------


def json_path(record: object, path: str) -> object:
    """The value at a dotted path (``fields.status.name``), or None."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
