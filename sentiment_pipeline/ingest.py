"""Raw landing files of one day -> canonical ``ticket`` rows and quarantined ``ticket_rejects``.

Pure functions over bytes and polars frames (no Dagster). The rules are DESIGN.md's:
every input row ends in exactly one of tickets or rejects; a file that cannot be read at
all is one file-level reject and the day's other files still land; within a day the first
occurrence of a ticket id wins (file name order, then row order).

Wide exports are the normal case, so values are read as strings (no type guessing from the
first rows; "000123" stays "000123"), the canonical columns are validated on a narrow
projection, and the wide ticket frame stays lazy so the writer can stream it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime
from pathlib import PurePosixPath

import polars as pl
import polars.selectors as cs
import pyarrow as pa
import pyarrow.csv as pa_csv

from sentiment_pipeline.schemas import (
    TICKET_ALIASES,
    TICKET_CANONICAL,
    TICKET_LINEAGE,
    TICKET_REJECTS,
    UTC_TIMESTAMP,
)

READABLE_SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson")
ROW = "__row"  # row number within its file, from 1
RAW = "__raw"  # the row as written (JSON inputs carry it; CSV rebuilds it for rejects only)
PROBLEM = "__problem"  # a structural fault found while reading (bad JSON line, ...)
INTERNAL = (ROW, RAW, PROBLEM)  # the reader's own columns: an input column so named is renamed
RAW_PREVIEW_CHARS = 1_000
PARSE_BLOCK_BYTES = 4 << 20  # pyarrow's structure check streams blocks of this size
JUDGED_COLUMNS = ("ticket_id", "created_at", "resolved_at", "csat")  # the ones a row can fail on
HEADER_TO_CANONICAL = {
    alias: canonical for canonical in TICKET_CANONICAL for alias in TICKET_ALIASES.get(canonical, (canonical,))
}


class UnreadableFile(Exception):
    """The whole file cannot be read; the message says why, for a person."""


@dataclass(frozen=True)
class LandingFile:
    uri: str  # recorded as ``source_file``
    content: bytes

    @property
    def name(self) -> str:
        return PurePosixPath(self.uri).name


@dataclass
class ParsedFile:
    """One readable file: its rows as strings (lazy) and the rows found broken while reading."""

    uri: str
    rows: pl.LazyFrame  # original header names, all String (tags may be a list), plus ROW
    broken: pl.DataFrame  # ROW, reason, raw: rows whose structure is wrong
    input_rows: int
    delimiter: str | None = None  # CSV only: to rebuild a rejected row's text
    notes: list[str] = field(default_factory=list)
    text: bytes | None = None  # CSV only: the file, to give a rejected row's line back
    records: int = 0  # CSV only: records polars counted (blank lines included)

    @cached_property
    def schema(self) -> pl.Schema:
        return self.rows.collect_schema()

    @cached_property
    def one_row_per_line(self) -> bool:
        """No quoted line breaks: row N is exactly line N + 1 of the file."""
        if self.text is None:
            return False
        return self.text.count(b"\n") + (not self.text.endswith(b"\n")) == self.records + 1


@dataclass
class DayIngest:
    tickets: pl.LazyFrame
    rejects: pl.DataFrame
    input_rows: int
    files: list[str]
    notes: list[str]


def ingest_day(files: Iterable[LandingFile], ingested_at: datetime) -> DayIngest:
    """All landing files of one partition -> tickets (lazy, wide) and rejects."""
    ordered = sorted(files, key=lambda f: (f.name, f.uri))
    parsed: list[ParsedFile] = []
    file_rejects = []
    for landing in ordered:
        try:
            parsed.append(parse_file(landing))
        except UnreadableFile as problem:
            file_rejects.append(
                {
                    "source_file": landing.uri,
                    "source_row": None,
                    "ticket_id": None,
                    "reason": f"file not ingested: {problem}",
                    "raw": landing.content[:RAW_PREVIEW_CHARS].decode("utf-8", "replace"),
                }
            )
    canonical, custom_names = _canonical_rows(parsed)
    verdicts = _judge(canonical, [p.uri for p in parsed])
    good = verdicts.filter(pl.col("reason").is_null())
    row_rejects = _row_rejects(parsed, verdicts.filter(pl.col("reason").is_not_null()))
    stamp = pl.lit(ingested_at, dtype=UTC_TIMESTAMP)
    rejects = pl.concat(
        [pl.DataFrame(file_rejects, schema={k: v for k, v in TICKET_REJECTS.items() if k != "ingested_at"}), row_rejects],
        how="vertical",
    ).with_columns(ingested_at=stamp)
    tickets = _tickets(parsed, good, custom_names, stamp)
    return DayIngest(
        tickets=tickets,
        rejects=rejects.select(list(TICKET_REJECTS)),
        input_rows=sum(p.input_rows for p in parsed),
        files=[f.uri for f in ordered],
        notes=[note for p in parsed for note in p.notes],
    )


# --- reading one file --------------------------------------------------------------------


def parse_file(landing: LandingFile) -> ParsedFile:
    """Dispatch on the file name; raises ``UnreadableFile`` for a file that cannot be read."""
    name = landing.name.lower()
    content = landing.content
    if name.endswith(".gz"):
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError, zlib.error) as error:
            raise UnreadableFile(f"named .gz but is not valid gzip ({error})") from error
        name = name.removesuffix(".gz")
    suffix = PurePosixPath(name).suffix
    if suffix not in READABLE_SUFFIXES:
        raise UnreadableFile(
            f"unsupported file type '{suffix or name}': expected .csv, .json or .jsonl, optionally .gz"
        )
    if not content or content.isspace():  # (strip() would copy a 100 MB file)
        raise UnreadableFile("file is empty: no header and no rows")
    data, notes = _as_utf8(content)
    if suffix == ".csv":
        return _parse_csv(landing.uri, data, notes)
    return _parse_json(landing.uri, data.decode("utf-8"), notes, lines=suffix != ".json")


def _as_utf8(content: bytes) -> tuple[bytes, list[str]]:
    """UTF-8 bytes without a BOM; non-UTF-8 input is read as Windows-1252 (and says so)."""
    if not _is_utf8(content):
        note = "not valid UTF-8; decoded as Windows-1252"
        return content.decode("cp1252", errors="replace").encode("utf-8"), [note]
    return (content[3:] if content.startswith(codecs.BOM_UTF8) else content), []


def _is_utf8(content: bytes) -> bool:
    """Arrow's vectorised UTF-8 check: milliseconds for 100 MB, and no Python str is built."""
    offsets = pa.py_buffer(struct.pack("<qq", 0, len(content)))
    as_text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(content)])
    try:
        as_text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _parse_csv(uri: str, data: bytes, notes: list[str]) -> ParsedFile:
    first_line = _first_line(data)
    delimiter = max([",", ";", "\t", "|"], key=first_line.decode("utf-8").count)
    bare_cr = b"\r" in data and data.count(b"\r") != data.count(b"\r\n")
    quotes = data.count(b'"')
    if bare_cr or quotes % 2 or first_line.count(b'"') % 2 or (quotes and _stray_quote(data, delimiter)):
        return _parse_csv_exactly(uri, data, delimiter, notes)  # (the checks: ~0.1 s per 100 MB)
    header = next(csv.reader([first_line.decode("utf-8")], delimiter=delimiter), [])
    names = _header_names(header, notes, uri)
    scan = pl.scan_csv(
        data,
        separator=delimiter,
        has_header=True,
        new_columns=names,
        infer_schema=False,
        truncate_ragged_lines=True,
        row_index_name=ROW,
        row_index_offset=1,
    )
    records = scan.select(pl.len()).collect().item()
    structure = _csv_structure(data, delimiter, len(names), records)
    if structure is None:
        return _parse_csv_exactly(uri, data, delimiter, notes)
    broken, blank = structure
    rows = scan
    excluded = pl.concat([broken.select(ROW), pl.DataFrame({ROW: blank}, schema={ROW: pl.UInt32})])
    if excluded.height:
        rows = rows.join(excluded.lazy(), on=ROW, how="anti", maintain_order="left")
    return ParsedFile(
        uri=uri,
        rows=rows,
        broken=broken,
        input_rows=records - len(blank),
        delimiter=delimiter,
        notes=notes,
        text=data,
        records=records,
    )


def _stray_quote(data: bytes, delimiter: str) -> bool:
    """A quote with ordinary characters on both sides: text after a closing quote ("a"b),
    which polars refuses when it reads the field, or a quote inside an unquoted field,
    which it reads; either way the stdlib reader takes the file. Vectorised over the
    file's bytes (~0.08 s for 85 MB), since a Python loop over quotes can be millions."""
    raw = pl.from_arrow(pa.Array.from_buffers(pa.uint8(), len(data), [None, pa.py_buffer(data)]))
    at = (raw == ord('"')).arg_true()
    at = at.filter((at > 0) & (at < len(data) - 1))
    boundaries = pl.Series([ord(delimiter), ord('"'), ord("\n"), ord("\r")], dtype=pl.UInt8).implode()
    return bool((~raw.gather(at - 1).is_in(boundaries) & ~raw.gather(at + 1).is_in(boundaries)).any())


def _first_line(data: bytes) -> bytes:
    """The file's first physical line, without its line end (\\n, \\r\\n or a bare \\r)."""
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i != -1]
    return data[: min(ends)] if ends else data


def _parse_csv_exactly(uri: str, data: bytes, delimiter: str, notes: list[str]) -> ParsedFile:
    """Every row read by the stdlib reader alone: for the files polars would split into rows
    differently or not at all: bare carriage returns (as line ends or inside fields), an odd
    number of quotes (a file cut inside a quoted field), a header with a quoted line break,
    or rows the two readers count differently. Slower, and only for such files.

    An empty field is null, as polars reads an unquoted one.
    """
    try:
        rows = _stdlib_rows(data, delimiter)
        names = _header_names(next(rows, []), notes, uri)
        width = len(names)
        numbers, kept, broken, blank = [], [], [], []
        for number, fields in _whole_rows(rows, width, delimiter, broken, blank):
            numbers.append(number)
            kept.append(fields)
    except csv.Error as error:
        raise UnreadableFile(f"not readable as CSV ({error})") from error
    text = pl.String()
    columns = {name: pl.Series(name, [row[i] or None for row in kept], dtype=text) for i, name in enumerate(names)}
    frame = pl.DataFrame([pl.Series(ROW, numbers, dtype=pl.UInt32), *columns.values()])
    notes.append(f"{PurePosixPath(uri).name}: read row by row (line ends or quoting the fast reader would misread)")
    return ParsedFile(
        uri=uri,
        rows=frame.lazy(),
        broken=pl.DataFrame(broken, schema={ROW: pl.UInt32, "reason": pl.String, "raw": pl.String}),
        input_rows=len(numbers) + len(broken),
        delimiter=delimiter,
        notes=notes,
    )


def _whole_rows(rows, width: int, delimiter: str, broken: list[dict], blank: list[int]):
    """The rows after the header, numbered from 1, that have the header's field count; the
    others are recorded in ``broken`` (with a reason and their text) or ``blank`` (no row at all)."""
    for number, fields in enumerate(rows, start=1):
        if _blank(fields):
            blank.append(number)
        elif len(fields) != width:
            reason = f"row has {len(fields)} fields but the header has {width}"
            broken.append({ROW: number, "reason": reason, "raw": _csv_line(fields, delimiter)})
        else:
            yield number, fields


def _stdlib_rows(data: bytes, delimiter: str):
    csv.field_size_limit(max(csv.field_size_limit(), len(data)))  # default 128 KiB: a 1 MB field is fine
    return csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter)


def _blank(fields: list[str]) -> bool:
    """An empty line (or one of blanks alone): not a row at all, in either reader."""
    return not fields or all(not f.strip() for f in fields) and len(fields) <= 1


def _header_names(header: list[str], notes: list[str], uri: str) -> list[str]:
    if _blank(header):
        raise UnreadableFile("the first line is blank: a CSV file needs a header line")
    return _unique_names([h.strip() for h in header], notes, uri)


def _unique_names(names: list[str], notes: list[str], uri: str) -> list[str]:
    """Blank headers get a position name; repeats (case-insensitive) get a _2, _3 suffix
    (the first one free); a header spelled like one of the reader's own columns gets _custom."""
    seen: set[str] = set()
    unique = []
    for position, name in enumerate(names, start=1):
        name = _not_internal(name or f"column_{position}", notes, uri)
        renamed, count = name, 1
        while renamed.lower() in seen:
            count += 1
            renamed = f"{name}_{count}"
        if renamed != name:
            notes.append(f"{PurePosixPath(uri).name}: repeated header '{name}' kept as '{renamed}'")
        seen.add(renamed.lower())
        unique.append(renamed)
    return unique


def _not_internal(name: str, notes: list[str] | None = None, uri: str = "") -> str:
    if name not in INTERNAL:
        return name
    if notes is not None:
        notes.append(f"{PurePosixPath(uri).name}: column '{name}' kept as '{name}_custom' (the name is reserved)")
    return f"{name}_custom"


def _csv_structure(data: bytes, delimiter: str, width: int, records: int) -> tuple[pl.DataFrame, list[int]] | None:
    """Rows whose field count differs from the header's, and blank lines (not rows at all).

    pyarrow's parser checks every row cheaply (one column converted). Only when it finds a
    bad row or a blank line, or cannot parse the file, does the stdlib reader walk the file
    to number them; polars numbers records the same way (a blank line takes a number).
    None if the stdlib reader finds a different number of records than polars: the file
    must then be read by the stdlib reader alone.
    """
    invalid = 0

    def count_invalid(_row) -> str:
        nonlocal invalid
        invalid += 1
        return "skip"

    try:
        reader = pa_csv.open_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True, block_size=PARSE_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=count_invalid
            ),
            convert_options=pa_csv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.string()}),
        )
        valid = sum(batch.num_rows for batch in reader) - 1  # the header
        clean = invalid == 0 and valid == records
        pa.default_memory_pool().release_unused()  # give the parse buffers back before the write
    except pa.ArrowInvalid:  # e.g. one field longer than a parse block: take the exact path
        clean = False
    broken, blank = [], []
    if not clean:
        rows = _stdlib_rows(data, delimiter)
        next(rows, None)  # the header
        try:
            whole = sum(1 for _ in _whole_rows(rows, width, delimiter, broken, blank))
        except csv.Error:
            return None
        if whole + len(broken) + len(blank) != records:
            return None
    return pl.DataFrame(broken, schema={ROW: pl.UInt32, "reason": pl.String, "raw": pl.String}), blank


def _csv_line(fields: list[str], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(fields)
    return out.getvalue()


def _parse_json(uri: str, text: str, notes: list[str], lines: bool) -> ParsedFile:
    """JSON array (or an object holding one array) or JSON lines; nesting is flattened."""
    records: list[tuple[int, object, str | None]] = []  # (row, value, problem)
    if lines:
        # Lines end at "\n" only: str.splitlines() would also split at U+2028, U+0085, ... which
        # JSON leaves unescaped inside strings.
        for number, line in enumerate(text.removesuffix("\n").split("\n"), start=1):
            line = line.removesuffix("\r")
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line), None))
            except json.JSONDecodeError as error:
                records.append((number, line, f"line is not valid JSON ({error.msg} at column {error.colno})"))
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise UnreadableFile(f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from error
        items = _records_of(document)
        records = [(number, item, None) for number, item in enumerate(items, start=1)]
    flat, broken = [], []
    for number, value, problem in records:
        raw = value if isinstance(value, str) and problem else json.dumps(value, ensure_ascii=False)
        if problem is None and not isinstance(value, dict):
            problem = f"row is a JSON {type(value).__name__}, not an object"
        if problem:
            broken.append({ROW: number, "reason": problem, "raw": raw})
        else:
            flat.append({ROW: number, RAW: raw, **{_not_internal(k): v for k, v in _flatten(value).items()}})
    schema = {ROW: pl.UInt32(), RAW: pl.String()}
    for record in flat:
        for key in record:
            if key not in schema:
                schema[key] = pl.List(pl.String()) if key.strip().lower() == "tags" else pl.String()
    frame = pl.DataFrame(flat, schema=schema)
    return ParsedFile(
        uri=uri,
        rows=frame.lazy(),
        broken=pl.DataFrame(broken, schema={ROW: pl.UInt32, "reason": pl.String, "raw": pl.String}),
        input_rows=len(records),
        notes=notes,
    )


def _records_of(document: object) -> list:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        arrays = [v for v in document.values() if isinstance(v, list) and all(isinstance(i, dict) for i in v)]
        return arrays[0] if len(arrays) == 1 else [document]
    raise UnreadableFile(f"JSON document is a {type(document).__name__}, not an array of objects")


def _flatten(record: dict, prefix: str = "") -> dict[str, str | list[str] | None]:
    """Nested objects become dotted names; values become strings; ``tags`` stays a list."""
    flat: dict[str, str | list[str] | None] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif not prefix and name.strip().lower() == "tags":
            flat[name] = _tag_list(value)
        elif value is None or isinstance(value, str):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, ensure_ascii=False)
    return flat


def _tag_list(value: object) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(";")
    return [str(item).strip() for item in items if str(item).strip()]


# --- canonical columns, validation, duplicates --------------------------------------------


def _canonical_names(columns: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map input headers to canonical names (exact name beats alias, first alias wins)."""
    mapping: dict[str, str] = {}
    for exact_first in (True, False):
        for column in columns:
            key = column.strip().lower()
            canonical = HEADER_TO_CANONICAL.get(key)
            if canonical and canonical not in mapping.values() and column not in mapping:
                if (key == canonical) == exact_first:
                    mapping[column] = canonical
    custom = [c for c in columns if c not in mapping and c not in (ROW, RAW, PROBLEM)]
    return mapping, custom


def _canonical_rows(parsed: list[ParsedFile]) -> tuple[pl.DataFrame, dict[str, str]]:
    """The judged canonical columns of every file (as text), numbered by file; and custom names.

    Custom names are unified case-insensitively across files (DuckDB treats "Region" and
    "region" as one column): the first spelling seen wins. A CSV file whose rows polars
    cannot parse (stray quotes its row count accepted) is read again by the stdlib reader,
    and replaced in ``parsed``.
    """
    frames = []
    custom_names: dict[str, str] = {}
    reserved = {name.lower() for name in [*TICKET_CANONICAL, *TICKET_LINEAGE]}
    for index, parsed_file in enumerate(parsed):
        try:
            frame = _judged_columns(parsed_file, index)
        except pl.exceptions.ComputeError:
            if parsed_file.text is None:
                raise
            # polars cannot parse rows its own count accepted (stray quotes): the stdlib reads the file
            fast = parsed_file
            parsed[index] = parsed_file = _parse_csv_exactly(fast.uri, fast.text, fast.delimiter or ",", [])
            parsed_file.notes = list(dict.fromkeys([*fast.notes, *parsed_file.notes]))
            frame = _judged_columns(parsed_file, index)
        for name in _canonical_names(parsed_file.schema.names())[1]:
            key = name.lower()
            custom_names.setdefault(key, f"{name}_custom" if key in reserved else name)
        frames.append(frame)
    if not frames:
        schema = {"__file": pl.UInt32, ROW: pl.UInt32, **{c: pl.String for c in JUDGED_COLUMNS}}
        return pl.DataFrame(schema=schema), custom_names
    return pl.concat(frames, how="vertical"), custom_names


def _judged_columns(parsed_file: ParsedFile, index: int) -> pl.DataFrame:
    mapping, _ = _canonical_names(parsed_file.schema.names())
    selected = [pl.col(s).alias(t) for s, t in mapping.items() if t in JUDGED_COLUMNS]
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in JUDGED_COLUMNS if c not in mapping.values()]
    return (
        parsed_file.rows.select(ROW, *selected, *missing)
        .select(ROW, *JUDGED_COLUMNS)
        .with_columns(pl.lit(index, dtype=pl.UInt32).alias("__file"))
        .collect()
    )


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-8601 text -> UTC timestamp; no zone means UTC, a date alone means midnight UTC."""
    cleaned = (
        text.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]", "${1}T")
        .str.replace(r"\s*(?:Z|z|UTC)$", "+00:00")
        .str.replace(r"(T[\d:.]+[+-]\d{2})$", "${1}00")  # a "+02" offset means "+0200"
    )
    zoned = [
        cleaned.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC")
        for f in ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z")
    ]
    naive = [
        cleaned.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M")
    ]
    date_only = cleaned.str.to_date("%Y-%m-%d", strict=False).cast(UTC_TIMESTAMP)
    return pl.coalesce(*zoned, *naive, date_only)


def _input_column(name: str) -> pl.Expr:
    """The input column called ``name``, literally: ``pl.col`` reads "*" as every column and
    "^...$" as a regular expression, and an export may well have such a header."""
    if name == "*" or (name.startswith("^") and name.endswith("$")):
        return cs.by_name(name).as_expr()
    return pl.col(name)


def _present(column: str) -> pl.Expr:
    return pl.col(column).is_not_null() & (pl.col(column).str.strip_chars() != "")


def _typed(text_schema: pl.Schema) -> list[pl.Expr]:
    """Canonical text columns -> their types (``TICKET_CANONICAL``); bad values become null."""
    tags = pl.col("tags")
    if text_schema.get("tags") != pl.List(pl.String):
        tags = tags.cast(pl.String).str.split(";").list.eval(pl.element().str.strip_chars())
    return [
        pl.col("ticket_id").str.strip_chars(),
        parse_timestamp(pl.col("created_at")).alias("created_at"),
        parse_timestamp(pl.col("resolved_at")).alias("resolved_at"),
        pl.when(_csat_ok()).then(pl.col("csat").str.strip_chars().cast(pl.Int8)).alias("csat"),
        tags.list.eval(pl.element().filter(pl.element() != "")).alias("tags"),
        *[pl.when(_present(c)).then(pl.col(c)).alias(c) for c, t in TICKET_CANONICAL.items() if t == pl.String and c != "ticket_id"],
    ]


def _csat_ok() -> pl.Expr:
    return pl.col("csat").str.strip_chars().str.contains(r"^[1-5]$")


def _judge(canonical: pl.DataFrame, uris: list[str]) -> pl.DataFrame:
    """``__file``, row, ticket id and ``reason`` (null for a good row); the first failing rule wins."""
    parsed = canonical.with_columns(
        created_parsed=parse_timestamp(pl.col("created_at")), resolved_parsed=parse_timestamp(pl.col("resolved_at"))
    )
    reason = (
        pl.when(~_present("ticket_id"))
        .then(pl.lit("missing ticket_id"))
        .when(~_present("created_at"))
        .then(pl.lit("missing created_at"))
        .when(pl.col("created_parsed").is_null())
        .then(pl.format("created_at '{}' is not an ISO-8601 date or timestamp", pl.col("created_at")))
        .when(_present("resolved_at") & pl.col("resolved_parsed").is_null())
        .then(pl.format("resolved_at '{}' is not an ISO-8601 date or timestamp", pl.col("resolved_at")))
        .when(_present("csat") & ~_csat_ok())
        .then(pl.format("csat '{}' is not an integer from 1 to 5", pl.col("csat")))
    )
    judged = (
        parsed.select("__file", ROW, pl.col("ticket_id").str.strip_chars(), reason.alias("reason"))
        .with_columns(ticket_id=pl.when(pl.col("ticket_id") != "").then(pl.col("ticket_id")))
        .sort("__file", ROW)
    )
    first = (
        judged.filter(pl.col("reason").is_null())
        .group_by("ticket_id", maintain_order=True)
        .agg(first_file=pl.col("__file").first(), first_row=pl.col(ROW).first())
    )
    later = (pl.col("__file") != pl.col("first_file")) | (pl.col(ROW) != pl.col("first_row"))
    duplicate = pl.format(
        "duplicate ticket_id '{}': the first occurrence ({} row {}) is kept",
        pl.col("ticket_id"),
        pl.col("first_file").replace_strict(dict(enumerate(uris)), return_dtype=pl.String),
        pl.col("first_row"),
    )
    return (
        judged.join(first, on="ticket_id", how="left", maintain_order="left")
        .with_columns(reason=pl.when(pl.col("reason").is_null() & later).then(duplicate).otherwise(pl.col("reason")))
        .select("__file", ROW, "ticket_id", "reason")
    )


def _row_rejects(parsed: list[ParsedFile], rejected: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows with their file, number, reason and raw text, in file and row order."""
    frames = []
    for index, parsed_file in enumerate(parsed):
        judged = rejected.filter(pl.col("__file") == index).select(ROW, "ticket_id", "reason")
        raw = _raw_rows(parsed_file, judged.get_column(ROW))
        judged = judged.join(raw, on=ROW, how="left", maintain_order="left")
        broken = parsed_file.broken.with_columns(ticket_id=pl.lit(None, dtype=pl.String))
        frames.append(
            pl.concat([judged, broken.select(ROW, "ticket_id", "reason", "raw")])
            .sort(ROW)
            .select(pl.lit(parsed_file.uri).alias("source_file"), pl.col(ROW).cast(pl.Int64).alias("source_row"), "ticket_id", "reason", "raw")
        )
    schema = {k: v for k, v in TICKET_REJECTS.items() if k != "ingested_at"}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _raw_rows(parsed_file: ParsedFile, numbers: pl.Series) -> pl.DataFrame:
    """The text of the given rows as written.

    JSON records carry it. A CSV whose rows are one line each gives its lines back, found
    by walking line ends (milliseconds); otherwise (quoted line breaks) the rows are read
    again in full and joined back into CSV text.
    """
    if parsed_file.one_row_per_line:
        found = _lines(parsed_file.text, numbers.to_list())
        return pl.DataFrame({ROW: list(found), "raw": list(found.values())}, schema={ROW: pl.UInt32, "raw": pl.String})
    rows = parsed_file.rows.filter(pl.col(ROW).is_in(numbers.cast(pl.UInt32).implode()))
    if parsed_file.delimiter is None:
        return rows.select(ROW, pl.col(RAW).alias("raw")).collect()
    columns = [c for c in parsed_file.schema.names() if c != ROW]
    return rows.select(ROW, _csv_text(columns, parsed_file.delimiter).alias("raw")).collect(engine="streaming")


def _lines(data: bytes, numbers: list[int]) -> dict[int, str]:
    """Lines ``numbers`` of ``data`` (line 0 is the header), without their line ending."""
    wanted = iter(sorted(set(numbers)))
    target = next(wanted, None)
    found: dict[int, str] = {}
    start = line = 0
    while target is not None:
        end = data.find(b"\n", start)
        if line == target:
            found[line] = data[start : None if end == -1 else end].rstrip(b"\r").decode("utf-8")
            target = next(wanted, None)
        if end == -1:
            break
        start, line = end + 1, line + 1
    return found


def _csv_text(columns: list[str], delimiter: str) -> pl.Expr:
    """Columns joined back into one CSV line, quoting fields the way a CSV writer would."""
    fields = []
    for column in columns:
        value = _input_column(column).fill_null("")
        needs_quotes = value.str.contains(f'[{delimiter}"\\r\\n]')
        fields.append(
            pl.when(needs_quotes).then(pl.format('"{}"', value.str.replace_all('"', '""', literal=True))).otherwise(value)
        )
    return pl.concat_str(fields, separator=delimiter)


# --- the wide ticket frame ------------------------------------------------------------------


def _tickets(parsed: list[ParsedFile], good: pl.DataFrame, custom_names: dict[str, str], stamp: pl.Expr) -> pl.LazyFrame:
    """Each file's kept rows, typed canonical columns, lineage and every custom field: one lazy pass.

    Every file is projected onto the day's full column list (absent columns as typed
    nulls), so the union is a plain vertical concatenation that streams.
    """
    text = pl.String()  # one instance: building 1,600 dtype objects costs ~0.1 s
    output = {**TICKET_CANONICAL, **TICKET_LINEAGE, **dict.fromkeys(custom_names.values(), text)}
    frames = []
    for index, parsed_file in enumerate(parsed):
        schema = parsed_file.schema
        mapping, custom = _canonical_names(schema.names())
        text_schema = pl.Schema({target: schema[source] for source, target in mapping.items()})
        present = {
            **{target: pl.col(source) for source, target in mapping.items()},
            **{custom_names[c.lower()]: _input_column(c).cast(pl.String) for c in custom},
            "source_file": pl.lit(parsed_file.uri),
            "source_row": pl.col(ROW).cast(pl.Int64),
            "ingested_at": stamp,
        }
        absent = pl.lit(None, dtype=text)
        columns = [present.get(name, absent).alias(name) for name in output]
        rows = parsed_file.rows
        kept = good.filter(pl.col("__file") == index).get_column(ROW)
        if kept.len() < parsed_file.input_rows:
            rows = rows.filter(pl.col(ROW).is_in(kept.implode()))
        frames.append(rows.select(columns).with_columns(_typed(text_schema)))
    if not frames:
        return pl.LazyFrame(schema=output)
    return pl.concat(frames, how="vertical")
