"""One day's landing files -> its tickets (streamed) and rejects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from polars.io.plugins import register_io_source

from sentiment_pipeline.ingest.blocks import JUDGED, ROW, Source, UnreadableFile
from sentiment_pipeline.ingest.files import LandingFile, open_source
from sentiment_pipeline.ingest.rules import (
    FirstSeen,
    _csat_ok,
    _custom_names,
    _present,
    _row_rejects,
    _tags,
    canonical_names,
    judge,
)
from sentiment_pipeline.schemas import (
    TICKET_CANONICAL,
    TICKET_LINEAGE,
    TICKET_REJECTS,
    UTC_TIMESTAMP,
)

RAW_PREVIEW_CHARS = 1_000


@dataclass(frozen=True)
class DayOutcome:
    """What is kept of a day once its tickets are read: small, so a range fits in memory."""

    rejects: pl.DataFrame
    input_rows: int
    files: list[str]
    notes: list[str]

    @property
    def row_rejects(self) -> int:
        """Rejected rows (a file-level reject has no row number and no rows counted in input_rows)."""
        return self.rejects.get_column("source_row").is_not_null().sum()


class DayIngest:
    """All landing files of one partition -> ``tickets`` (a lazy frame that streams) and ``rejects``.

    The files are opened, their headers (and JSON documents) read, and bad files rejected
    up front; rows are read, judged and typed while ``tickets`` is consumed. ``rejects``,
    ``input_rows`` and ``notes`` are known once it has been; asked for earlier, they read
    the day through without keeping the tickets.
    """

    def __init__(self, files: list[LandingFile], ingested_at: datetime):
        ordered = sorted(files, key=lambda f: (f.name, f.uri))
        self.files = [f.uri for f in ordered]
        self._stamp = pl.lit(ingested_at, dtype=UTC_TIMESTAMP)
        self._sources: list[Source] = []
        self._file_rejects = []
        for landing in ordered:
            try:
                self._sources.append(open_source(landing))
            except UnreadableFile as problem:
                with landing.open() as stream:
                    preview = stream.read(RAW_PREVIEW_CHARS)
                self._file_rejects.append(
                    {
                        "source_file": landing.uri,
                        "source_row": None,
                        "ticket_id": None,
                        "reason": f"file not ingested: {problem}",
                        "raw": preview.decode("utf-8", "replace"),
                    }
                )
        self._custom_names = _custom_names(self._sources)
        text = pl.String()  # one instance: building 1,600 dtype objects costs ~0.1 s
        self._schema = pl.Schema({**TICKET_CANONICAL, **TICKET_LINEAGE, **dict.fromkeys(self._custom_names.values(), text)})
        self._outcome: DayOutcome | None = None
        self.tickets = register_io_source(self._read, schema=self._schema, explain_name="landing files")

    @property
    def rejects(self) -> pl.DataFrame:
        return self.outcome().rejects

    @property
    def input_rows(self) -> int:
        return self.outcome().input_rows

    @property
    def notes(self) -> list[str]:
        return self.outcome().notes

    def outcome(self) -> DayOutcome:
        """Rejects and counts: known once ``tickets`` was read through (else read through now)."""
        if self._outcome is None:
            for _ in self._stream():
                pass
        return self._outcome

    def _read(self, with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _batch_size: int | None):
        """polars' IO-source protocol: the day's tickets, projected, filtered and cut as asked."""
        produced = 0
        for frame in self._stream():
            if predicate is not None:
                frame = frame.filter(predicate)
            if with_columns is not None:
                frame = frame.select(with_columns)
            if n_rows is not None:
                frame = frame.head(n_rows - produced)
            produced += frame.height
            yield frame
            if n_rows is not None and produced >= n_rows:
                return

    def _stream(self) -> Iterator[pl.DataFrame]:
        """Typed tickets block by block; at the end, the day's rejects and counts."""
        first_seen = FirstSeen()
        rejects, input_rows, yielded = [], 0, False
        for source in self._sources:
            mapping, custom = canonical_names(source.columns)
            shape = None
            for block in source.blocks():
                input_rows += block.records
                judged = judge(block.rows, mapping)
                good = judged.filter(pl.col("__reason").is_null())
                duplicates = first_seen.duplicates(good.select(ROW, "__id"), source.uri)
                rejected = pl.concat([judged.filter(pl.col("__reason").is_not_null()).select(ROW, "__id", "__reason"), duplicates])
                rejects.append(_row_rejects(block, rejected, source.uri))
                if duplicates.height:
                    good = good.join(duplicates.select(ROW), on=ROW, how="anti", maintain_order="left")
                if good.height:
                    shape = shape or self._shape(source.uri, mapping, custom, block.rows.schema)
                    yielded = True
                    yield shape(block.rows, good)
        if not yielded:
            yield pl.DataFrame(schema=self._schema)
        schema = {k: v for k, v in TICKET_REJECTS.items() if k != "ingested_at"}
        self._outcome = DayOutcome(
            rejects=pl.concat([pl.DataFrame(self._file_rejects, schema=schema), *rejects], how="vertical")
            .with_columns(ingested_at=self._stamp)
            .select(list(TICKET_REJECTS)),
            input_rows=input_rows,
            files=self.files,
            notes=[note for source in self._sources for note in source.notes],
        )

    def _shape(self, uri: str, mapping: dict[str, str], custom: list[str], read: pl.Schema):
        """For a file (read as ``read``): its whole rows and their judged canonical values ->
        the day's ticket columns, typed, in order.

        Custom text columns pass through as they are (no per-column work); the typed columns
        are computed on a narrow frame: polars' per-operation cost grows with the width.
        """
        source_of = {name: source for source, name in {**mapping, **{c: self._custom_names[c.lower()] for c in custom}}.items()}
        typed = {
            "ticket_id": pl.col("__id"),
            "created_at": pl.col("__created"),
            "resolved_at": pl.col("__resolved"),
            "csat": pl.when(_csat_ok(pl.col("__csat"))).then(pl.col("__csat").str.strip_chars().cast(pl.Int8)),
            "tags": _tags(pl.col(source_of["tags"]), read[source_of["tags"]]) if "tags" in source_of else None,
            "source_file": pl.lit(uri),
            "source_row": pl.col(ROW).cast(pl.Int64),
            "ingested_at": self._stamp,
        }
        computed = []
        for name, dtype in self._schema.items():
            source = source_of.get(name)
            if typed.get(name) is not None:
                computed.append(typed[name].alias(name))
            elif source is None:
                computed.append(pl.lit(None, dtype=dtype).alias(name))
            elif name in TICKET_CANONICAL:
                computed.append(pl.when(_present(pl.col(source))).then(pl.col(source)).alias(name))
            elif read[source] != pl.String:
                computed.append(pl.col(source).cast(pl.String).alias(name))
        inputs = [ROW, *{e for c in computed for e in c.meta.root_names() if e not in (ROW, *JUDGED)}]
        names = self._schema.names()
        renamed = {name for name, source in source_of.items() if name != source}  # (an alias per column and block adds up)

        def shape(rows: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
            if kept.height < rows.height:
                rows = rows.filter(pl.col(ROW).is_in(kept.get_column(ROW).implode()))
            by_source = {column.name: column for column in rows.get_columns()}
            narrow = pl.DataFrame([*(by_source[c] for c in inputs), *kept.select(JUDGED).get_columns()]).select(computed)
            done = {column.name: column for column in narrow.get_columns()}
            return pl.DataFrame(
                [done[n] if n in done else by_source[source_of[n]].alias(n) if n in renamed else by_source[n] for n in names]
            )

        return shape


def ingest_day(files: list[LandingFile], ingested_at: datetime) -> DayIngest:
    """All landing files of one partition -> tickets (lazy, wide, streamed) and rejects."""
    return DayIngest(list(files), ingested_at)
