"""A landing file, and opening it: dispatch on the file name (CSV, JSON, JSON lines, optionally
gzipped; Parquet) to the reader that hands on its rows."""

from __future__ import annotations

import gzip
import io
import shutil
import tempfile
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

import pyarrow as pa

from sentiment_pipeline.ingest.blocks import (
    BLOCK_BYTES,
    RAW,
    ROW,
    Source,
    UnreadableFile,
    _decoded,
)
from sentiment_pipeline.ingest.csv_reader import CsvFile
from sentiment_pipeline.ingest.json_reader import parse_json
from sentiment_pipeline.ingest.parquet_reader import open_parquet
from sentiment_pipeline.ingest.sources import BUILT_IN, SourceProfile, match_csv

READABLE_SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson", ".parquet")


@dataclass(frozen=True)
class LandingFile:
    """One export: in memory (``content``) or a local file to stream from (``path``)."""

    uri: str  # recorded as ``source_file``
    content: bytes | None = None
    path: str | None = None

    @property
    def name(self) -> str:
        return PurePosixPath(self.uri).name

    def open(self) -> BinaryIO:
        return io.BytesIO(self.content) if self.content is not None else open(self.path, "rb")


# --- opening one file ---------------------------------------------------------------------


def open_source(landing: LandingFile, profiles: list[SourceProfile] = BUILT_IN) -> Source:
    """Dispatch on the file name and match the file to a source profile; raises
    ``UnreadableFile`` for a file that cannot be read."""
    name = landing.name.lower()
    if name.endswith(".parquet"):  # read a row group at a time (Parquet compresses inside: no .gz)
        return open_parquet(landing.uri, landing.path or pa.BufferReader(landing.content), profiles)
    opener: Callable[[], AbstractContextManager[BinaryIO]] = landing.open
    if name.endswith(".gz"):
        opener = _gunzipped(landing)
        name = name.removesuffix(".gz")
    suffix = PurePosixPath(name).suffix
    if suffix not in READABLE_SUFFIXES:
        raise UnreadableFile(f"unsupported file type '{suffix or name}': expected .csv, .json or .jsonl (optionally .gz), or .parquet")
    with opener() as stream:
        if suffix != ".csv":  # a JSON document is parsed whole
            content = stream.read()
            if not content or content.isspace():  # (strip() would copy a 100 MB file)
                raise UnreadableFile("file is empty: no header and no rows")
            notes: list[str] = []
            block, profile, mapped = parse_json(_decoded(content, landing.uri, notes).decode("utf-8"), suffix != ".json", profiles)
            columns = [c for c in block.rows.columns if c not in (ROW, RAW)]
            return Source(landing.uri, columns, lambda: iter([block]), notes, profile=profile, mapped=mapped)
        head = stream.read(BLOCK_BYTES)
        while b"\n" not in head and (more := stream.read(BLOCK_BYTES)):  # the whole header line
            head += more
        rest = iter(lambda: stream.read(BLOCK_BYTES), b"")
        if (not head or head.isspace()) and all(piece.isspace() for piece in rest):
            raise UnreadableFile("file is empty: no header and no rows")
    source = CsvFile.open(landing.uri, opener, head).source()
    source.profile = match_csv(source.headers, profiles)
    return source


def _gunzipped(landing: LandingFile) -> Callable[[], AbstractContextManager[BinaryIO]]:
    """The file decompressed into a temporary file (in memory while small), checked whole
    first, so a corrupt archive is a file-level reject before any of its rows is handed on."""
    spooled = tempfile.SpooledTemporaryFile(max_size=BLOCK_BYTES)  # noqa: SIM115 (kept open for the day)
    try:
        with landing.open() as raw, gzip.GzipFile(fileobj=raw) as unpacked:
            shutil.copyfileobj(unpacked, spooled, 1 << 20)
    except (OSError, EOFError, zlib.error) as error:
        spooled.close()
        raise UnreadableFile(f"named .gz but is not valid gzip ({error})") from error

    @contextmanager
    def rewound():
        spooled.seek(0)
        yield spooled

    return rewound
