"""Export for a rollback: partitions of an asset -> a PostgreSQL table, one day at a time.

Each day is one transaction: its rows (by ``partition_date``) are deleted, the partition is
sent with COPY BINARY (ADBC's bulk ingest) into a temporary table and inserted from there,
so a re-export replaces the day and a failed one leaves it as it was. The table is created
from the asset's columns when missing. PostgreSQL caps a table at 1,600 columns: custom
fields beyond what fits are kept in one ``jsonb`` column, ``custom_fields`` (nulls left out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.ingest.parquet_reader import json_text
from sentiment_pipeline.migration.importer import days_between
from sentiment_pipeline.migration.postgres import MigrationError, connection, literal, quote
from sentiment_pipeline.schemas import ASSETS
from sentiment_pipeline.settings import LakeRoots

PG_MAX_COLUMNS = 1_600
PARTITION_COLUMN = "partition_date"
OVERFLOW_COLUMN = "custom_fields"
STAGE = "sentiment_export_stage"


@dataclass(frozen=True)
class ExportedDay:
    day: date
    rows: int
    overflow_fields: int  # custom fields of the day kept in custom_fields (jsonb)


def pg_type(dtype: pl.DataType) -> str:
    """The PostgreSQL column type for a lake column; nested values become jsonb."""
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if isinstance(dtype, pl.List) and dtype.inner == pl.String:
        return "text[]"
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        return "jsonb"
    if isinstance(dtype, pl.Decimal):
        return "numeric"
    simple = {
        pl.String: "text",
        pl.Boolean: "boolean",
        pl.Int8: "smallint",
        pl.Int16: "smallint",
        pl.UInt8: "smallint",
        pl.Int32: "integer",
        pl.UInt16: "integer",
        pl.Int64: "bigint",
        pl.UInt32: "bigint",
        pl.UInt64: "numeric",
        pl.Float32: "real",
        pl.Float64: "double precision",
        pl.Date: "date",
    }
    return next((name for kind, name in simple.items() if dtype == kind), "text")


def export_days(
    dsn: str,
    asset: str,
    first: date,
    last: date,
    roots: LakeRoots,
    table: str | None = None,
    progress: Callable[[ExportedDay], None] = lambda day: None,
) -> list[ExportedDay]:
    """Partitions ``first``..``last`` of ``asset`` into ``table`` (default: the asset's name)."""
    storage.check_asset_name(asset)
    target = table or asset
    keys = [d.isoformat() for d in days_between(first, last)]
    missing = [k for k in keys if not storage.exists(storage.partition_uri(roots.storage_root, asset, k))]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise MigrationError(f"'{asset}' has no partition for {shown} in {roots.storage_root}: materialize them first")
    fixed = set(ASSETS.get(asset, {}))
    done = []
    with connection(dsn) as connected, connected.cursor() as cursor:
        columns = _table_columns(cursor, target)  # kept up to date below as days add columns
        for key in keys:
            frame = pl.read_parquet(
                storage.partition_uri(roots.storage_root, asset, key), storage_options=storage.polars_storage_options(roots.storage_root)
            )
            if columns is None:
                columns = _create(cursor, target, frame, fixed)
            custom = [c for c in frame.columns if c not in fixed and c not in columns]
            room = PG_MAX_COLUMNS - len(columns) - (OVERFLOW_COLUMN not in columns)
            added, overflow = custom[: max(0, room)], custom[max(0, room) :]
            for name in added:
                cursor.execute(f"ALTER TABLE {quote(target)} ADD COLUMN {quote(name)} {pg_type(frame.schema[name])}")
                columns[name] = pg_type(frame.schema[name])
            if overflow and OVERFLOW_COLUMN not in columns:
                cursor.execute(f"ALTER TABLE {quote(target)} ADD COLUMN {quote(OVERFLOW_COLUMN)} jsonb")
                columns[OVERFLOW_COLUMN] = "jsonb"
            unknown = [c for c in frame.columns if c in fixed and c not in columns]
            if unknown:
                raise MigrationError(f"table {target} has no column {unknown[0]!r} of '{asset}': export into a new --table")
            staged = frame.select(
                *(json_text(pl.col(c)).alias(c) if columns[c] == "jsonb" else pl.col(c) for c in frame.columns if c not in overflow),
                *([pl.struct(overflow).struct.json_encode().alias(OVERFLOW_COLUMN)] if overflow else []),
                pl.lit(storage.partition_day(key)).alias(PARTITION_COLUMN),
            )
            names = ", ".join(quote(c) for c in staged.columns)
            values = ", ".join(
                f"jsonb_strip_nulls({quote(c)}::jsonb)"
                if c == OVERFLOW_COLUMN
                else f"{quote(c)}::jsonb"
                if columns[c] == "jsonb"
                else quote(c)
                for c in staged.columns
            )
            cursor.execute(f"DELETE FROM {quote(target)} WHERE {quote(PARTITION_COLUMN)} = DATE {literal(key)}")
            if staged.height:
                cursor.adbc_ingest(STAGE, staged.to_arrow(), mode="create", temporary=True)
                cursor.execute(f"INSERT INTO {quote(target)} ({names}) SELECT {values} FROM {STAGE}")
                cursor.execute(f"DROP TABLE {STAGE}")
            connected.commit()
            done.append(ExportedDay(storage.partition_day(key), staged.height, len(overflow)))
            progress(done[-1])
    return done


def _table_columns(cursor, table: str) -> dict[str, str] | None:
    """The table's columns and types (None: no such table)."""
    cursor.execute(f"SELECT to_regclass({literal(quote(table))}) IS NOT NULL")
    if not cursor.fetchone()[0]:
        return None
    cursor.execute(f"SELECT * FROM {quote(table)} LIMIT 0")
    return {f.name: (f.metadata or {}).get(b"POSTGRESQL:type", b"text").decode() for f in cursor.fetch_arrow_table().schema}


def _create(cursor, table: str, frame: pl.DataFrame, fixed: set[str]) -> dict[str, str]:
    """The table for the asset's columns (the fixed ones first), keyed by day for re-exports."""
    fixed_first = [c for c in frame.columns if c in fixed] + [c for c in frame.columns if c not in fixed]
    fits = fixed_first[: PG_MAX_COLUMNS - 2]
    columns = {c: pg_type(frame.schema[c]) for c in fits}
    definition = ", ".join(f"{quote(c)} {t}" for c, t in columns.items())
    cursor.execute(f"CREATE TABLE {quote(table)} ({definition}, {quote(PARTITION_COLUMN)} date NOT NULL)")
    cursor.execute(f"CREATE INDEX ON {quote(table)} ({quote(PARTITION_COLUMN)})")
    return {**columns, PARTITION_COLUMN: "date"}
