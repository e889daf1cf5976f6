"""Import: PostgreSQL tables -> one Parquet landing file per UTC day of ``created_at``.

One query streams the rows in day order (the server sorts; nothing else is held but the day
being cut), each day is written whole (atomically, replacing the import's own file of that
day) as soon as the next begins, and a day of the range with no rows loses the import's file
it had from an earlier run. The file's metadata names the source profile, so the ingest maps
its columns with it, and the tables it came from, so a reconcile can find them again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from sentiment_pipeline import storage
from sentiment_pipeline.ingest.parquet_reader import SOURCE_KEY
from sentiment_pipeline.ingest.sources import SourceProfile
from sentiment_pipeline.migration.postgres import DAY, MigrationError, Tables, connection, unpack

TABLES_KEY = "sentiment_pipeline.postgres_tables"
BATCH_BYTES = 16 << 20  # ADBC's batch size hint: rows arrive in batches of about this size


@dataclass(frozen=True)
class ImportedDay:
    day: date
    rows: int
    file: str | None  # the landing file written (None: no rows, the import's file removed)
    bytes: int = 0


def import_file_name(source: str) -> str:
    """The import's own landing file in each day's folder (one per source)."""
    return f"postgres-{source}.parquet"


def days_between(first: date, last: date) -> list[date]:
    if last < first:
        raise MigrationError(f"--end {last} is before --start {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def import_days(
    dsn: str,
    tables: list[str],
    profile: SourceProfile,
    first: date,
    last: date,
    landing_root: str,
    progress: Callable[[ImportedDay], None] = lambda day: None,
) -> list[ImportedDay]:
    """Every row of ``tables`` (joined) whose created_at falls in ``first``..``last`` (UTC
    days; a row with none goes to ``first``) into ``<landing root>/<day>/postgres-<source>.parquet``.
    Returns each day of the range, in order; ``progress`` hears of each as it is done."""
    days = days_between(first, last)
    done: dict[date, ImportedDay] = {}

    def landing_file(day: date) -> str:
        return storage.join(landing_root, day.isoformat(), import_file_name(profile.name))

    with connection(dsn) as connected:
        layout = Tables.read(connected, tables, profile)
        metadata = {SOURCE_KEY.decode(): profile.name, TABLES_KEY: json.dumps(list(tables))}
        packed = layout.packed()
        with connected.cursor() as cursor:
            cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
            cursor.execute(layout.query(layout.selected(), first, last, order=True))
            for day, table in by_day(cursor.fetch_record_batch()):
                uri = landing_file(day)
                frame = unpack(pl.from_arrow(table), packed)
                rows, size = storage.write_parquet(frame, uri, compression="zstd", metadata=metadata)
                done[day] = ImportedDay(day, rows, uri, size)
                progress(done[day])
    for day in days:
        if day not in done:
            storage.delete([landing_file(day)])
            done[day] = ImportedDay(day, 0, None)
            progress(done[day])
    return [done[day] for day in days]


def by_day(batches: pa.RecordBatchReader) -> Iterator[tuple[date, pa.Table]]:
    """Rows that arrive in day order, cut into days: (day, its rows without the day column)."""
    current: date | None = None
    pieces: list[pa.RecordBatch] = []
    for batch in batches:
        days = batch.column(DAY)
        numbers = days.cast(pa.int32()).to_numpy()
        # Where the day changes inside the batch (sorted: a handful of runs per batch).
        starts = [0, *(np.flatnonzero(np.diff(numbers)) + 1).tolist()] if len(numbers) else []
        for start, end in zip(starts, [*starts[1:], len(numbers)], strict=True):
            day = days[start].as_py()
            if day != current and pieces:
                yield current, pa.Table.from_batches(pieces).drop_columns([DAY])
                pieces = []
            current = day
            pieces.append(batch.slice(start, end - start))
    if pieces:
        yield current, pa.Table.from_batches(pieces).drop_columns([DAY])
