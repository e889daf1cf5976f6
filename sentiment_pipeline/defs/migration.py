"""The migration from PostgreSQL in Dagster: the import as a job the data team launches from
the UI, and the ``matches_postgres`` check of every ingested day that holds an import's
landing file (core: ``sentiment_pipeline.migration``).

The DSN comes only from ``SENTIMENT_POSTGRES_DSN`` in the code location's environment, read
when needed: run config is stored with the run, and a password must not be."""

import json
import re
from datetime import date

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
from pydantic import Field

from sentiment_pipeline import migration, storage
from sentiment_pipeline.defs.checking import DayVerdicts, day_check
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.metadata import markdown_table
from sentiment_pipeline.ingest import DayOutcome
from sentiment_pipeline.ingest.parquet_reader import SOURCE_KEY
from sentiment_pipeline.ingest.sources import SourceProfile
from sentiment_pipeline.migration.importer import TABLES_KEY
from sentiment_pipeline.settings import LakeRoots, load_settings

IMPORT_FILE = re.compile(r"postgres-.+\.parquet")  # migration.import_file_name
MATCHES_POSTGRES = day_check(
    "matches_postgres",
    "ticket",
    "On a day holding an import from PostgreSQL: its rows there equal the day's tickets plus rejects from that import, id by id "
    "(reconciled with SENTIMENT_POSTGRES_DSN; passes on days without an import, warns when PostgreSQL cannot be reached).",
)


def dsn_from_environment() -> str:
    dsn = dg.EnvVar(migration.DSN_VARIABLE).get_value()  # a secret: read when needed, never stored in config
    if not dsn:
        raise migration.MigrationError(f"{migration.DSN_VARIABLE} is not set in the code location's environment")
    return dsn


def postgres_results(roots: LakeRoots, done: dict[str, DayOutcome], profiles: list[SourceProfile]) -> DayVerdicts:
    """``matches_postgres`` for the run's days: each import (source and tables, from its landing
    file's metadata) reconciled once over the run's days that hold it."""
    imports: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for key, outcome in done.items():
        for summary in outcome.sources:
            metadata = _file_metadata(summary["file"]) if IMPORT_FILE.fullmatch(summary["file"].rsplit("/", 1)[-1]) else {}
            if SOURCE_KEY in metadata and TABLES_KEY.encode() in metadata:  # written by an import
                made_by = (metadata[SOURCE_KEY].decode(), tuple(json.loads(metadata[TABLES_KEY.encode()])))
                imports.setdefault(made_by, []).append(key)
    failures: dict[str, str] = {}
    unchecked: dict[str, str] = {}
    facts: dict[str, dict[str, object]] = {key: {"postgres": "no import from PostgreSQL this day"} for key in done}
    for (source, tables), keys in imports.items():
        try:
            profile = next((p for p in profiles if p.name == source), None)
            if profile is None:
                raise migration.MigrationError(f"source {source!r} is not in the sources file")
            first, last = date.fromisoformat(min(keys)), date.fromisoformat(max(keys))
            reconciled = migration.reconcile_days(dsn_from_environment(), list(tables), profile, first, last, roots)
        except migration.MigrationError as error:
            for key in keys:
                unchecked[key] = f"not reconciled with {', '.join(tables)} ({source}): {error}"
            continue
        for row in reconciled.iter_rows(named=True):
            key = row["day"].isoformat()
            if key not in keys:
                continue
            facts[key] = {k: row[k] for k in ("postgres_rows", "lake_tickets", "lake_rejects", "status")}
            if row["status"] != "matches":
                found = {side: row[side][:10] for side in ("missing_in_lake", "missing_in_postgres", "changed") if row[side]}
                failures[key] = f"{', '.join(tables)}: {row['postgres_rows']} rows in PostgreSQL; differences (first 10): {found}"
    return DayVerdicts("ticket", MATCHES_POSTGRES.name, list(done), failures, facts=facts, unchecked=unchecked)


def _file_metadata(uri: str) -> dict[bytes, bytes]:
    fs, path = storage.filesystem(uri)
    with fs.open_input_file(path) as handle:
        return pq.read_metadata(handle).metadata or {}


class PostgresImportConfig(dg.Config):
    tables: list[str] = Field(description="Tables (or views) to read; several are joined on the source's ticket_id column.")
    source: str = Field(description="The [[source]] entry of the sources file (SENTIMENT_SOURCES) that maps their columns.")
    start: str = Field(description="First UTC day of created_at to import (YYYY-MM-DD).")
    end: str = Field(description="Last UTC day (YYYY-MM-DD).")


@dg.op(description="Read PostgreSQL tables into one Parquet landing file per UTC day of created_at.")
def import_postgres_days(context: dg.OpExecutionContext, config: PostgresImportConfig, lake: Lake) -> dg.Output[int]:
    roots = lake.roots()
    try:
        dsn = dsn_from_environment()
        profile = migration.source_profile(config.source, load_settings().sources_file)
        first, last = date.fromisoformat(config.start), date.fromisoformat(config.end)
        days = migration.import_days(
            dsn,
            config.tables,
            profile,
            first,
            last,
            roots.landing_root,
            progress=lambda day: context.log.info(f"{day.day}: {day.rows:,} rows -> {day.file or '(none)'}"),
        )
    except (migration.MigrationError, ValueError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    rows = sum(d.rows for d in days)
    table = pl.DataFrame({"day": [d.day.isoformat() for d in days], "rows": [d.rows for d in days], "file": [d.file or "" for d in days]})
    return dg.Output(
        rows,
        metadata={
            "rows": rows,
            "days_with_rows": sum(1 for d in days if d.rows),
            "postgres": migration.shown_dsn(dsn),
            "days": dg.MetadataValue.md(markdown_table(table)),
            "next": dg.MetadataValue.md(
                f"Materialize all assets for {config.start}...{config.end} (Assets, select all, Materialize, partition range), "
                "or let the landing sensor pick the days up. Each day's `matches_postgres` check then reconciles it."
            ),
        },
    )


@dg.job(
    description="""Import the history of the PostgreSQL platform: one landing file per day, then backfill the range.

The DSN is read from `SENTIMENT_POSTGRES_DSN` in the code location's environment (never from run
config, which is stored with the run). Launchpad run config:

    ops:
      import_postgres_days:
        config:
          tables: [tickets, tickets_custom]
          source: legacy_platform
          start: "2024-01-01"
          end: "2024-12-31"

Then backfill the same range; each day's `matches_postgres` check reconciles it.
""",
)
def postgres_import():
    import_postgres_days()
