"""Blocks of rows as the readers hand them on, the reader's own column names, block sizes, and the
helpers the readers share (decoding, reserved names, a rejected row's text)."""

from __future__ import annotations

import codecs
import csv
import io
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import polars as pl
import pyarrow as pa

from sentiment_pipeline.ingest.sources import SourceProfile

ROW = "__row"  # row number within its file, from 1
RAW = "__raw"  # the row as written (JSON inputs carry it; CSV rebuilds it for rejects only)
PROBLEM = "__problem"  # a structural fault found while reading (bad JSON line, ...)
JUDGED = ("__id", "__created", "__resolved", "__csat")  # a block's judged canonical values
INTERNAL = (ROW, RAW, PROBLEM, *JUDGED)  # the reader's own columns: an input column so named is renamed
BLOCK_BYTES = 2 << 20  # a CSV file is read, checked and written this much at a time
READ_BLOCKS = 2  # a CSV file's rows are read, checked and written this many BLOCK_BYTES at a time
PENDING_LIMIT_BYTES = 4 * READ_BLOCKS * BLOCK_BYTES  # no row end found in this much: the stdlib reader takes the rest
PARSE_BLOCK_BYTES = 4 << 20  # pyarrow's structure check parses blocks of this size
ROW_BY_ROW_CELLS = 2_000_000  # the stdlib reader hands on blocks of about this many fields
BROKEN = {ROW: pl.UInt32, "reason": pl.String, "raw": pl.String}


class UnreadableFile(Exception):
    """The whole file cannot be read; the message says why, for a person."""


@dataclass
class Block:
    """Consecutive rows of one file: the whole ones as text columns, and the broken ones."""

    rows: pl.DataFrame  # ROW + the file's columns, all String (JSON tags may be a list)
    broken: pl.DataFrame  # ROW, reason, raw: rows whose structure is wrong
    records: int  # input rows (a blank line is not a row)
    first_row: int
    next_row: int  # the number the next block starts at
    text: bytes | memoryview | None = None  # CSV read by polars: the block's text (its rows' lines, when one row is one line)
    delimiter: str | None = None  # CSV only: to rebuild a rejected row's text

    def raw_text(self, numbers: list[int]) -> pl.DataFrame:
        """ROW, raw: the given rows as written (JSON records carry it; CSV gives its line back or
        joins the fields into CSV text again when rows span lines)."""
        schema = {ROW: pl.UInt32, "raw": pl.String}
        if not numbers:  # (rebuilding CSV text plans an expression per column: 0.4 s at 1,600 columns)
            return pl.DataFrame(schema=schema)
        text = None if self.text is None else bytes(self.text)  # one copy of the block, for the count and the lines
        if text is not None and text.count(b"\n") + (text[-1:] != b"\n") == self.next_row - self.first_row:
            # one row is one line (counted only here, when a block has rejects: most have none)
            found = _lines(text, [n - self.first_row for n in numbers])
            return pl.DataFrame({ROW: [n + self.first_row for n in found], "raw": list(found.values())}, schema=schema)
        # Gathered by position: a filter costs a pass per column (~15 ms a block at 1,600 columns).
        rows = self.rows[self.rows.get_column(ROW).is_in(pl.Series(numbers, dtype=pl.UInt32).implode()).arg_true()]
        if self.delimiter is None:
            return rows.select(ROW, pl.col(RAW).alias("raw"))
        # The stdlib writer, row by row: rejects are few, and an expression per column costs
        # ~0.2 s a block at 1,600 columns however few rows it writes.
        texts = [csv_line(["" if v is None else v for v in row[1:]], self.delimiter) for row in rows.iter_rows()]
        return pl.DataFrame({ROW: rows.get_column(ROW), "raw": texts}, schema=schema)


@dataclass
class Source:
    """One readable landing file: its column names, its rows block by block, and the source
    profile it matched (None: the canonical layout)."""

    uri: str
    columns: list[str]
    blocks: Callable[[], Iterator[Block]]
    notes: list[str] = field(default_factory=list)
    headers: list[str] | None = None  # CSV: the header as written (repeats kept), one per column
    profile: SourceProfile | None = None
    mapped: list[tuple[str, str]] | None = None  # JSON through a profile: (path, canonical) as the reader mapped them
    lists: set[str] = field(default_factory=set)  # Parquet: columns that are lists of texts already (tags)


def read_ahead(blocks: Iterator[Block]) -> Iterator[Block]:
    """``blocks``, each read (and checked) in a thread while the one before is judged,
    shaped and written. polars and pyarrow release the GIL, so on two cores the reading of
    one block fills the time the rest of the step leaves a core idle; one block ahead, so
    memory holds two."""
    # A consumer that stops early waits here for the block being read; then the file closes.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as reader:
        ahead = reader.submit(next, blocks, None)
        while (block := ahead.result()) is not None:
            ahead = reader.submit(next, blocks, None)
            yield block


# --- shared by the readers ------------------------------------------------------------------


def _decoded(raw: bytes | memoryview, uri: str, notes: list[str]) -> bytes | memoryview:
    """UTF-8 bytes without a BOM (``raw`` itself when it is that already); bytes that are
    not UTF-8 are read as Windows-1252 (noted once)."""
    if _is_utf8(raw):
        return raw[3:] if raw[:3] == codecs.BOM_UTF8 else raw
    note = f"{PurePosixPath(uri).name}: not valid UTF-8; decoded as Windows-1252"
    if note not in notes:
        notes.append(note)
    return str(raw, "cp1252", errors="replace").encode("utf-8")


def _is_utf8(content: bytes | memoryview) -> bool:
    """Arrow's vectorised UTF-8 check: milliseconds for 100 MB, and no Python str is built."""
    offsets = pa.py_buffer(struct.pack("<qq", 0, len(content)))
    as_text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(content)])
    try:
        as_text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _not_internal(name: str, notes: list[str] | None = None, uri: str = "") -> str:
    if name not in INTERNAL:
        return name
    if notes is not None:
        notes.append(f"{PurePosixPath(uri).name}: column '{name}' kept as '{name}_custom' (the name is reserved)")
    return f"{name}_custom"


def _lines(data: bytes, numbers: list[int]) -> dict[int, str]:
    """Lines ``numbers`` of ``data`` (the first line is 0), without their line ending."""
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


def csv_line(fields: list[str], delimiter: str) -> str:
    """Fields joined into one CSV line, quoted the way a CSV writer quotes them."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(fields)
    return out.getvalue()
