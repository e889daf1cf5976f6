"""CSV files, block by block: polars reads, its own result (or else pyarrow) vouches for the
field counts, and the stdlib reader takes what the fast readers would misread."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv

from sentiment_pipeline.ingest.blocks import (
    BLOCK_BYTES,
    BROKEN,
    PARSE_BLOCK_BYTES,
    PENDING_LIMIT_BYTES,
    READ_BLOCKS,
    ROW,
    ROW_BY_ROW_CELLS,
    Block,
    Source,
    UnreadableFile,
    _decoded,
    _not_internal,
    csv_line,
)

# --- CSV, block by block ------------------------------------------------------------------


@dataclass
class CsvFile:
    """A CSV export read in blocks that end where a row ends.

    polars reads a block. When every quote is where RFC 4180 puts one, no row is longer than
    the header (polars reads strictly) and the last column has a value in every row (so no
    row is shorter), the block is whole as read; otherwise pyarrow checks every row's field
    count. A block polars would split into rows differently from the stdlib reader (bare
    carriage returns, an odd number of quotes, text after a closing quote), and everything
    after it, go to the stdlib reader, which reads any CSV, slowly; so does a block the
    readers count differently.
    """

    uri: str
    opener: Callable[[], AbstractContextManager[BinaryIO]]
    header: bytes  # the header line as UTF-8 with a line end: polars reads each block under it
    header_bytes: int  # bytes before the first row (BOM, header line and its end)
    names: list[str]
    headers: list[str]  # the header as written (trimmed; repeats kept), one per name
    delimiter: str
    row_by_row: bool  # the header itself needs the stdlib reader (a quoted line break)
    notes: list[str]

    @classmethod
    def open(cls, uri: str, opener: Callable[[], AbstractContextManager[BinaryIO]], head: bytes) -> CsvFile:
        """Read the header from the file's first bytes."""
        bom = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
        first_line = _first_line(head[bom:])
        notes: list[str] = []
        text = _decoded(first_line, uri, notes)
        line = text.decode("utf-8")
        delimiter = max([",", ";", "\t", "|"], key=line.count)
        row_by_row = first_line.count(b'"') % 2 == 1
        if row_by_row:  # the header spans lines: the stdlib reader finds where it ends
            header = next(csv.reader(_decoded_lines(iter([head]), uri, notes), delimiter=delimiter), [])
        else:
            header = next(csv.reader([line], delimiter=delimiter), [])
        after = head[bom + len(first_line) : bom + len(first_line) + 2]
        line_end = 2 if after == b"\r\n" else 1 if after[:1] in (b"\r", b"\n") else 0
        return cls(
            uri=uri,
            opener=opener,
            header=text + b"\n",
            header_bytes=bom + len(first_line) + line_end,
            names=_header_names(header, notes, uri),
            headers=[h.strip() for h in header],
            delimiter=delimiter,
            row_by_row=row_by_row,
            notes=notes,
        )

    def source(self) -> Source:
        return Source(self.uri, self.names, self.blocks, self.notes, headers=self.headers)

    def blocks(self) -> Iterator[Block]:
        with self.opener() as stream:
            if self.row_by_row:
                yield from self._row_by_row(_pieces(b"", stream), first_row=1, header=True)
                return
            stream.read(self.header_bytes)
            row, pending = 1, b""  # pending: the start of a row the last block did not hold
            # Each block has a fixed cost (polars' per-column setup on a wide file, per-block
            # checks and joins on a long one): 4 MB blocks, not 2 MB. Measured on e-mail bodies:
            # 200,000 x 40, the day's stream 2.9 s -> 2.3 s (8 MB: no faster); 10,000 x 1,600
            # was already read so (2.0-2.1 s instead of 2.4-2.6 s; 3x no faster, 4x peaked 501 MB).
            block_bytes = READ_BLOCKS * BLOCK_BYTES
            while True:
                more = stream.read(block_bytes)
                if not more and not pending:
                    return
                before = _count(pending, '"')
                end = _row_end(more, before) if more else (0, before)
                if end is None:
                    pending += more  # (a row longer than a block: rare)
                    if len(pending) <= PENDING_LIMIT_BYTES:
                        continue
                    yield from self._row_by_row(_pieces(pending, stream), first_row=row)
                    return
                cut, quotes = end
                # The block's one copy: polars reads it under the header, the checks view it.
                source = b"".join((self.header, pending, memoryview(more)[:cut]))
                raw, pending = memoryview(source)[len(self.header) :], more[cut:]
                text = _decoded(raw, self.uri, self.notes)
                if text is not raw:  # decoded as Windows-1252
                    source = self.header + text
                stray, rfc = _quote_places(text, self.delimiter) if quotes else (False, True)
                if misread(text, quotes, stray):
                    yield from self._row_by_row(_pieces(bytes(raw) + pending, stream), first_row=row)
                    return
                block = self._fast(source, row, rfc)
                read = [block] if block is not None else list(self._row_by_row(iter([bytes(raw)]), first_row=row))
                yield from read
                row = read[-1].next_row

    def _fast(self, source: bytes, first_row: int, rfc: bool) -> Block | None:
        """polars reads the block (``source``: the header line, then the block's text); its
        rows' field counts are vouched for by the read itself when ``rfc`` (every quote where
        RFC 4180 puts one: polars, pyarrow and the stdlib reader split the block alike), else
        checked by pyarrow. None if the readers disagree or polars cannot read it.

        Read strictly, polars refuses a row longer than the header; a shorter row gets nulls
        for the fields it lacks, so a last column with a value in every row leaves none
        short (a blank line is a row of nulls). Such a block needs no second parse (pyarrow's
        cost ~40 % of polars' read on a 4 MB block of e-mail bodies)."""
        frame, strict = self._read(source, first_row)
        if frame is None:
            return None
        text = memoryview(source)[len(self.header) :]
        records = frame.height
        if rfc and strict and frame.get_column(self.names[-1]).null_count() == 0:
            broken, blank = pl.DataFrame(schema=BROKEN), []
        else:
            arrow_count = arrow_rows(text, self.delimiter, len(self.names))
            structure = _csv_structure(text, self.delimiter, len(self.names), records, first_row, arrow_count)
            if structure is None:
                return None
            broken, blank = structure
        excluded = [*broken.get_column(ROW).to_list(), *blank]
        if excluded:
            frame = frame.filter(~pl.col(ROW).is_in(pl.Series(excluded, dtype=pl.UInt32).implode()))
        return Block(
            rows=frame,
            broken=broken,
            records=records - len(blank),
            first_row=first_row,
            next_row=first_row + records,
            text=text,
            delimiter=self.delimiter,
        )

    def _read(self, source: bytes, first_row: int) -> tuple[pl.DataFrame | None, bool]:
        """The block as polars reads it, and whether it was read strictly (no row longer than
        the header); a block with a longer row is read again with such rows cut to the
        header's width. (None, False) if polars cannot read it."""
        for ragged in (False, True):
            try:
                frame = pl.read_csv(
                    source,
                    separator=self.delimiter,
                    has_header=True,
                    new_columns=self.names,
                    infer_schema=False,
                    truncate_ragged_lines=ragged,
                    row_index_name=ROW,
                    row_index_offset=first_row,
                )
            except pl.exceptions.ComputeError:  # a longer row, or e.g. text after a closing quote the checks missed
                continue
            return frame, not ragged
        return None, False

    def _row_by_row(self, pieces: Iterator[bytes], first_row: int, header: bool = False) -> Iterator[Block]:
        """The stdlib reader over ``pieces`` (the rest of the file, or one block), handing on
        blocks of about ROW_BY_ROW_CELLS fields. An empty field is null, as polars reads it."""
        note = f"{PurePosixPath(self.uri).name}: read row by row (line ends or quoting the fast reader would misread)"
        if note not in self.notes:
            self.notes.append(note)
        rows = _stdlib_rows(_decoded_lines(pieces, self.uri, self.notes), self.delimiter)
        if header:
            next(rows, None)
        last = first_row - 1  # the last record read, blank lines included

        def numbered():
            nonlocal last
            for last, fields in enumerate(rows, start=first_row):  # noqa: UP028 (``last`` is read after the loop)
                yield last, fields

        numbers, kept, broken, blank = [], [], [], []
        start = first_row

        def handed_on() -> Block:
            nonlocal start
            columns = [pl.Series(name, [row[i] or None for row in kept], dtype=pl.String) for i, name in enumerate(self.names)]
            block = Block(
                rows=pl.DataFrame([pl.Series(ROW, numbers, dtype=pl.UInt32), *columns]),
                broken=pl.DataFrame(broken, schema=BROKEN),
                records=len(kept) + len(broken),
                first_row=start,
                next_row=last + 1,
                delimiter=self.delimiter,
            )
            numbers.clear(), kept.clear(), broken.clear()
            start = last + 1
            return block

        size = max(1, ROW_BY_ROW_CELLS // len(self.names))
        try:
            for number, fields in _whole_rows(numbered(), len(self.names), self.delimiter, broken, blank):
                numbers.append(number)
                kept.append(fields)
                if len(kept) >= size:
                    yield handed_on()
        except csv.Error as error:  # the stdlib reader gives up: one reject stands for the rest
            last += 1
            reason = f"this row and the rest of the file are not readable as CSV ({error})"
            broken.append({ROW: last, "reason": reason, "raw": ""})
        yield handed_on()


def _row_end(data: bytes, before: int = 0) -> tuple[int, int] | None:
    """Where the last whole row in ``data`` (after bytes holding ``before`` quotes) ends,
    and the quotes before it: after its last line break with an even number of quotes
    before it (outside any quoted field); None if there is none."""
    quotes, end, after = before + _count(data, '"'), len(data), 0
    while (line_end := data.rfind(b"\n", 0, end)) != -1:
        after += data.count(b'"', line_end + 1, end)
        if (quotes - after) % 2 == 0:
            return line_end + 1, quotes - after
        end = line_end
    return None


def misread(text: bytes | memoryview, quotes: int, stray: bool) -> bool:
    """Would polars split this block (holding ``quotes`` quotes) into rows differently from
    the stdlib reader: bare carriage returns (as line ends or inside fields), an odd number
    of quotes (a file cut inside a quoted field), or a ``stray`` quote (see ``_quote_places``)."""
    raw = _bytes(text)
    carriage = raw == ord("\r")
    if carriage.any() and (carriage & (raw.shift(-1, fill_value=0) != ord("\n"))).any():
        return True
    return quotes % 2 == 1 or stray


def _pieces(first: bytes, stream: BinaryIO) -> Iterator[bytes]:
    yield first
    yield from iter(lambda: stream.read(BLOCK_BYTES), b"")


def _decoded_lines(pieces: Iterator[bytes], uri: str, notes: list[str]) -> Iterator[str]:
    """Text lines, line ends kept (\n, \r\n or a bare \r), of byte pieces each decoded
    up to its last line break (a UTF-8 character never contains that byte)."""
    pending = b""
    for piece in pieces:
        pending = pending + piece if pending else piece
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield from io.StringIO(_decoded(pending[:cut], uri, notes).decode("utf-8"), newline="")
            pending = pending[cut:]
    if pending:
        yield from io.StringIO(_decoded(pending, uri, notes).decode("utf-8"), newline="")


def _stdlib_rows(lines: Iterable[str], delimiter: str):
    csv.field_size_limit(2**31 - 1)  # default 128 KiB: a 1 MB field is fine
    return csv.reader(lines, delimiter=delimiter)


def arrow_rows(text: bytes | memoryview, delimiter: str, width: int) -> int | None:
    """Rows of a block pyarrow parses with the header's field count (one column converted:
    cheap); None if any row has another count or pyarrow cannot parse the block (e.g. one
    field longer than a parse block)."""
    invalid = 0

    def count_invalid(_row) -> str:
        nonlocal invalid
        invalid += 1
        return "skip"

    try:
        reader = pa_csv.open_csv(
            pa.BufferReader(text),
            read_options=pa_csv.ReadOptions(column_names=[f"f{i}" for i in range(width)], block_size=PARSE_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=count_invalid),
            convert_options=pa_csv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.string()}),
        )
        rows = sum(batch.num_rows for batch in reader)
    except pa.ArrowInvalid:
        return None
    return rows if invalid == 0 else None


def _csv_structure(
    text: bytes | memoryview, delimiter: str, width: int, records: int, first_row: int, arrow_rows: int | None
) -> tuple[pl.DataFrame, list[int]] | None:
    """Rows of a block whose field count differs from the header's, and blank lines (not
    rows at all).

    When pyarrow parsed every row with the header's field count, and as many as polars
    read, there are none. Otherwise the stdlib reader walks the block to number them;
    polars numbers records the same way (a blank line takes a number). None if the stdlib
    reader finds a different number of records than polars.
    """
    broken, blank = [], []
    if arrow_rows != records:
        rows = _stdlib_rows(io.StringIO(str(text, "utf-8"), newline=""), delimiter)
        try:
            whole = sum(1 for _ in _whole_rows(enumerate(rows, start=first_row), width, delimiter, broken, blank))
        except csv.Error:
            return None
        if whole + len(broken) + len(blank) != records:
            return None
    return pl.DataFrame(broken, schema=BROKEN), blank


def _whole_rows(rows: Iterable[tuple[int, list[str]]], width: int, delimiter: str, broken: list[dict], blank: list[int]):
    """The numbered rows that have the header's field count; the others are recorded in
    ``broken`` (with a reason and their text) or ``blank`` (no row at all)."""
    for number, fields in rows:
        if _blank(fields):
            blank.append(number)
        elif len(fields) != width:
            reason = f"row has {len(fields)} fields but the header has {width}"
            broken.append({ROW: number, "reason": reason, "raw": csv_line(fields, delimiter)})
        else:
            yield number, fields


def _quote_places(data: bytes | memoryview, delimiter: str) -> tuple[bool, bool]:
    """Where a block's quotes stand, from one pass over its bytes: (stray, rfc).

    ``stray``: a quote with ordinary characters on both sides: text after a closing quote
    ("a"b), which polars refuses when it reads the field, or a quote inside an unquoted
    field, which it reads; either way the stdlib reader takes the block.

    ``rfc``: every quote is where RFC 4180 puts one. Counted from the block's start (a row
    start), an even-numbered quote opens a field (after a delimiter, a line end or the
    start) or is the second of a doubled quote; an odd-numbered one closes a field (before
    a delimiter, a line end or the end) or is the first of a doubled quote. Then every
    reader splits the block into the same rows and fields (a quote at the end of an
    unquoted field, x", is read as text by pyarrow and the stdlib reader, and fails polars).

    Vectorised over the block's bytes with numpy (~3 ms for a 4 MB block; polars' per-call
    overhead made it ~6 ms), since a Python loop over quotes can be millions."""
    raw = np.frombuffer(data, dtype=np.uint8)
    at = np.flatnonzero(raw == ord('"'))
    edge = np.zeros(256, dtype=bool)
    edge[[ord(delimiter), ord('"'), ord("\n"), ord("\r")]] = True
    last = len(raw) - 1
    after_edge = (at == 0) | edge[raw[np.maximum(at - 1, 0)]]
    before_edge = (at == last) | edge[raw[np.minimum(at + 1, last)]]
    opening = np.arange(len(at)) % 2 == 0
    return not bool((after_edge | before_edge).all()), bool(((opening & after_edge) | (~opening & before_edge)).all())


def _bytes(data: bytes | memoryview) -> pl.Series:
    """The bytes as a polars UInt8 Series, without a copy: polars compares 4 MB of them in
    ~0.3 ms, where ``bytes.count`` takes ~3 ms."""
    return pl.from_arrow(pa.Array.from_buffers(pa.uint8(), len(data), [None, pa.py_buffer(data)]))


def _count(data: bytes | memoryview, char: str) -> int:
    """How many times the one-byte ``char`` occurs in ``data``."""
    return (_bytes(data) == ord(char)).sum()


def _first_line(data: bytes) -> bytes:
    """The file's first physical line, without its line end (\\n, \\r\\n or a bare \\r)."""
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i != -1]
    return data[: min(ends)] if ends else data


def _blank(fields: list[str]) -> bool:
    """An empty line (or one of blanks alone): not a row at all, in either reader."""
    return not fields or (all(not f.strip() for f in fields) and len(fields) <= 1)


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
