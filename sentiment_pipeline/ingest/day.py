"""One day's landing files -> its tickets (streamed) and rejects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from polars.io.plugins import register_io_source

from sentiment_pipeline.ingest.blocks import JUDGED, ROW, Block, Source, UnreadableFile, read_ahead
from sentiment_pipeline.ingest.files import LandingFile, open_source
from sentiment_pipeline.ingest.rules import FirstSeen, _csat_ok, _custom_names, _row_rejects, custom_columns, judge, plan_for
from sentiment_pipeline.ingest.sources import BUILT_IN, Plan, SourceProfile, numeric_order, order_matters, vocabulary
from sentiment_pipeline.ingest.sources.profile import nonblank
from sentiment_pipeline.schemas import COMMENTS, TICKET_CANONICAL, TICKET_LINEAGE, TICKET_REJECTS, UTC_TIMESTAMP

RAW_PREVIEW_CHARS = 1_000


@dataclass(frozen=True)
class DayOutcome:
    """What is kept of a day once its tickets are read: small, so a range fits in memory."""

    rejects: pl.DataFrame
    input_rows: int
    files: list[str]
    notes: list[str]
    sources: list[dict]  # per file, in name order: file, profile, columns mapped, rows, tickets, rejects

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

    def __init__(self, files: list[LandingFile], ingested_at: datetime, profiles: Sequence[SourceProfile] = BUILT_IN):
        ordered = sorted(files, key=lambda f: (f.name, f.uri))
        self.files = [f.uri for f in ordered]
        self._stamp = pl.lit(ingested_at, dtype=UTC_TIMESTAMP)
        self._sources: list[Source] = []
        self._file_rejects = []
        for landing in ordered:
            try:
                self._sources.append(open_source(landing, profiles))
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
        rejects, input_rows, yielded, summaries = [], 0, False, []
        for source in self._sources:
            plan = shape = None
            summary = {
                "file": source.uri,
                "profile": source.profile.name if source.profile else "none (canonical layout)",
                "rows": 0,
                "tickets": 0,
            }
            summaries.append(summary)
            for block in read_ahead(source.blocks()):
                input_rows += block.records
                summary["rows"] += block.records
                if plan is None:
                    plan = self._plan(source, block, summary)
                judged = judge(block.rows, plan)
                failed = judged.height - judged.get_column("__reason").null_count()  # usually none: no filter then
                good = judged.filter(pl.col("__reason").is_null()) if failed else judged
                duplicates = first_seen.duplicates(good.select(ROW, "__id"), source.uri)
                if failed or duplicates.height or block.broken.height:
                    rejected = pl.concat([judged.filter(pl.col("__reason").is_not_null()).select(ROW, "__id", "__reason"), duplicates])
                    rejects.append(_row_rejects(block, rejected, source.uri))
                if duplicates.height:
                    good = good.join(duplicates.select(ROW), on=ROW, how="anti", maintain_order="left")
                if good.height:
                    shape = shape or self._shape(source, plan, block.rows.schema)
                    yielded = True
                    summary["tickets"] += good.height
                    yield shape(block.rows, good)
            summary["rejects"] = summary["rows"] - summary["tickets"]
        unreadable = [
            {"file": reject["source_file"], "profile": "none: file not ingested", "rows": 0, "tickets": 0, "rejects": 1}
            for reject in self._file_rejects
        ]
        order = {uri: position for position, uri in enumerate(self.files)}
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
            sources=sorted([*summaries, *unreadable], key=lambda summary: order[summary["file"]]),
        )

    @staticmethod
    def _plan(source: Source, first: Block, summary: dict) -> Plan:
        """The file's plan, from its first block's timestamps: numeric dates (6/21/2025) are
        read in the order they show (a number above 12 settles it), else in the profile's
        default order, noted; only the formats they are written in are tried."""
        profile, day_first = source.profile, False
        probe = plan_for(source)
        values = [probe.values[c] for c in ("created_at", "resolved_at") if c in probe.values]
        sample = first.rows.select(pl.concat_list(values).explode()).to_series() if values else None
        if profile is not None and order_matters(profile) and sample is not None:
            seen, found = numeric_order([sample])
            day_first = profile.day_first if found is None else found
            if seen:
                order = "day first" if day_first else "month first"
                summary["date order"] = order if found is not None else f"{order} (assumed: no date in the file settles it)"
        plan = plan_for(source, day_first, sample)
        summary["mapped"] = ", ".join(f"{column} -> {canonical}" for column, canonical in plan.mapped) or "by header name"
        return plan

    def _shape(self, source: Source, plan: Plan, read: pl.Schema):
        """For a file (read as ``read``): its whole rows and their judged canonical values ->
        the day's ticket columns, typed, in order.

        Custom text columns pass through as they are (no per-column work); the typed columns
        are computed on a narrow frame: polars' per-operation cost grows with the width.
        """
        source_of = {self._custom_names[c.lower()]: c for c in custom_columns(source, plan)}
        values = plan.values
        channel, priority = values.get("channel"), values.get("priority")
        typed = {
            "ticket_id": pl.col("__id"),
            "created_at": pl.col("__created"),
            "resolved_at": pl.col("__resolved"),
            "csat": pl.when(_csat_ok(pl.col("__csat"))).then(pl.col("__csat").str.strip_chars().cast(pl.Int8)),
            "tags": values.get("tags"),
            "comments": _comments(pl.col("__comments") if "comments" in values else None),  # parsed by the judge
            "channel": None if channel is None else vocabulary.channel(channel),
            "channel_raw": None if channel is None or (source.profile and source.profile.channel) else nonblank(channel),
            "priority": None if priority is None else vocabulary.priority(priority),
            "priority_raw": None if priority is None else nonblank(priority),
            "source_file": pl.lit(source.uri),
            "source_row": pl.col(ROW).cast(pl.Int64),
            "ingested_at": self._stamp,
        }
        computed = []
        for name, dtype in self._schema.items():
            if typed.get(name) is not None:
                computed.append(typed[name].alias(name))
            elif name in values:
                computed.append(nonblank(values[name]).alias(name))
            elif name not in source_of:  # a canonical column this file lacks, or another file's custom one
                computed.append(pl.lit(None, dtype=dtype).alias(name))
            elif read[source_of[name]] != pl.String:
                computed.append(pl.col(source_of[name]).cast(pl.String).alias(name))
        judged = [*JUDGED, *(["__comments"] if "comments" in values else [])]
        inputs = [ROW, *{e for c in computed for e in c.meta.root_names() if e not in (ROW, *judged)}]
        names = self._schema.names()
        renamed = {name for name, source in source_of.items() if name != source}  # (an alias per column and block adds up)

        def shape(rows: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
            if kept.height < rows.height:
                rows = rows.filter(pl.col(ROW).is_in(kept.get_column(ROW).implode()))
            by_source = {column.name: column for column in rows.get_columns()}
            narrow = pl.DataFrame([*(by_source[c] for c in inputs), *kept.select(judged).get_columns()]).select(computed)
            done = {column.name: column for column in narrow.get_columns()}
            return pl.DataFrame(
                [done[n] if n in done else by_source[source_of[n]].alias(n) if n in renamed else by_source[n] for n in names]
            )

        return shape


def ingest_day(files: list[LandingFile], ingested_at: datetime, profiles: Sequence[SourceProfile] = BUILT_IN) -> DayIngest:
    """All landing files of one partition -> tickets (lazy, wide, streamed) and rejects;
    each file is matched against ``profiles`` (default: the built-in ones)."""
    return DayIngest(list(files), ingested_at, profiles)


def _comments(comments: pl.Expr | None) -> pl.Expr:
    """The comments as stored: {created_at, author, text}; an empty list when the file has none."""
    if comments is None:
        return pl.lit([], dtype=COMMENTS)
    fields = [pl.element().struct.field(name) for name in ("created_at", "author", "text")]
    return comments.list.eval(pl.struct(*fields)).cast(COMMENTS).fill_null(pl.lit([], dtype=COMMENTS))
