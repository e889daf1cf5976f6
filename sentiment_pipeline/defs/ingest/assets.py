"""The ingest step: each day's landing files -> ``ticket`` and ``ticket_rejects`` (core: ``sentiment_pipeline.ingest``)."""

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field

from sentiment_pipeline import storage
from sentiment_pipeline.defs.checking import report
from sentiment_pipeline.defs.ingest.checks import INGEST_SPECS, ticket_results
from sentiment_pipeline.defs.io_manager import LazyPartitions, Partition
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.metadata import table_schema
from sentiment_pipeline.defs.partitions import FRESHNESS, OWNERS, STEP_RETRY, STORAGE_POOL, backfill_policy, daily_partitions
from sentiment_pipeline.ingest import DayIngest, DayOutcome, LandingFile, ingest_day
from sentiment_pipeline.ingest.sources import SourceProfile, SourcesFileError, load_profiles
from sentiment_pipeline.settings import load_settings


def landing_files(landing_root: str, partition_key: str, spool: Path, client=None) -> list[LandingFile]:
    """Every export in ``<landing root>/YYYY-MM-DD/`` (none if the folder does not exist), as
    local files to stream from: S3 objects are downloaded into ``spool`` first.

    Names starting with '.' or '_' (editor files, ``_SUCCESS`` markers) are not exports.
    """
    folder = storage.join(landing_root, storage.partition_day(partition_key).isoformat())
    files = []
    for info in storage.list_files(folder):
        if info.base_name.startswith((".", "_")):
            continue
        uri = storage.uri_of(folder, info.path)
        path = uri if not storage.is_s3(uri) else storage.download(uri, spool / f"{len(files)}-{info.base_name}", client)
        files.append(LandingFile(uri, path=str(path)))
    return files


SOURCES_SHOWN = 200  # files listed in a run's metadata (a year-long backfill has thousands)


class DayRangeIngest:
    """Ingests the days of a run (one day, or a backfill's range) one at a time, when the IO
    manager asks for each.

    ``tickets`` is consumed first: a day's tickets stream from its landing files into the
    IO manager's writer. Its rejects and counts are known once that is done; only they are
    kept (and the day's downloads removed), so a year-long range needs the memory of one day.
    """

    def __init__(
        self,
        partition_keys: list[str],
        landing_root: str,
        ingested_at: datetime,
        spool: Path,
        profiles: list[SourceProfile],
        client=None,
    ):
        self.partition_keys = partition_keys
        self.profiles = profiles
        self.landing_root = landing_root
        self.client = client  # boto3, for an S3 landing root
        self.ingested_at = ingested_at
        self.spool = spool
        self.days: dict[str, DayIngest] = {}
        self.done: dict[str, DayOutcome] = {}

    def _day(self, partition_key: str) -> DayIngest:
        if partition_key not in self.days:
            folder = self.spool / partition_key
            folder.mkdir(exist_ok=True)
            files = landing_files(self.landing_root, partition_key, folder, self.client)
            self.days[partition_key] = ingest_day(files, self.ingested_at, self.profiles)
        return self.days[partition_key]

    def _finish(self, partition_key: str) -> DayOutcome:
        day = self._day(partition_key)
        self.done[partition_key] = day.outcome()
        del self.days[partition_key]
        shutil.rmtree(self.spool / partition_key)
        return self.done[partition_key]

    def tickets(self) -> LazyPartitions:
        def compute(key: str) -> Partition:
            day = self._day(key)
            return Partition(day.tickets, tuple(day.files))

        return LazyPartitions(self.partition_keys, compute)

    def rejects(self) -> LazyPartitions:
        def compute(key: str) -> Partition:
            day = self._finish(key)
            return Partition(day.rejects, tuple(day.files))

        return LazyPartitions(self.partition_keys, compute, summary=self.summary)

    def summary(self) -> dict[str, object]:
        input_rows = sum(d.input_rows for d in self.done.values())
        rejects = sum(d.rejects.height for d in self.done.values())
        row_rejects = sum(d.row_rejects for d in self.done.values())
        return {
            "input_rows": input_rows,
            "rejects": rejects,
            "file_rejects": rejects - row_rejects,
            "reject_share": round(row_rejects / input_rows, 6) if input_rows else 0.0,
            "files": sum(len(d.files) for d in self.done.values()),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for d in self.done.values() for n in d.notes) or "none"),
            "sources": dg.MetadataValue.md(sources_table(self.done)),
        }


def sources_table(done: dict[str, DayOutcome]) -> str:
    """Per landing file: the profile it matched, its rows, tickets and rejects, how its columns
    were mapped and how its dates were read (markdown, for the run's metadata)."""
    lines = ["| day | file | profile | rows | tickets | rejects | columns mapped | date order |", "|---|---|---|---|---|---|---|---|"]
    for day, outcome in done.items():
        for file in outcome.sources:
            name = file["file"].rsplit("/", 1)[-1]
            lines.append(
                f"| {day} | {name} | {file['profile']} | {file['rows']} | {file['tickets']} | {file['rejects']} "
                f"| {file.get('mapped', '')} | {file.get('date order', '')} |"
            )
    shown = lines[: 2 + SOURCES_SHOWN]
    if len(lines) > len(shown):
        shown.append(f"\n... and {len(lines) - len(shown)} more files")
    return "\n".join(shown) if len(lines) > 2 else "no landing files"


class IngestConfig(dg.Config):
    reject_share_warn_at: float = Field(
        default=0.05, ge=0.0, le=1.0, description="the reject_share check warns when a day rejects more than this share of its rows"
    )


@dg.multi_asset(
    outs={
        "ticket": dg.AssetOut(
            description="One row per ticket: typed canonical columns, lineage, then every custom field of the exports (as text).",
            io_manager_key="parquet_io_manager",
            metadata={"dagster/column_schema": table_schema("ticket")},
            kinds={"polars", "parquet"},
            owners=OWNERS,
            freshness_policy=FRESHNESS,
        ),
        "ticket_rejects": dg.AssetOut(
            description="One row per rejected input row (or unreadable file): file, row number, raw content, reason.",
            io_manager_key="parquet_io_manager",
            metadata={"dagster/column_schema": table_schema("ticket_rejects")},
            kinds={"polars", "parquet"},
            owners=OWNERS,
            freshness_policy=FRESHNESS,
        ),
    },
    check_specs=INGEST_SPECS,
    group_name="ingest",
    partitions_def=daily_partitions,
    backfill_policy=backfill_policy(),
    retry_policy=STEP_RETRY,
    pool=STORAGE_POOL,
)
def ingest(context: dg.AssetExecutionContext, config: IngestConfig, lake: Lake):
    """Reads every landing file of each day in the run; every input row lands in exactly one of the two."""
    roots = lake.roots()
    try:
        profiles = load_profiles(load_settings().sources_file)
    except SourcesFileError as error:  # a broken sources file stops the run: nothing is read half-mapped
        raise dg.Failure(description=str(error), allow_retries=False) from error
    with tempfile.TemporaryDirectory(prefix="sentiment-landing-") as spool:
        run = DayRangeIngest(context.partition_keys, roots.landing_root, datetime.now(UTC), Path(spool), profiles, lake.s3_client())
        yield dg.Output(run.tickets(), "ticket")  # streamed into the writer day by day first
        yield dg.Output(run.rejects(), "ticket_rejects")
    checks = ticket_results(
        roots.storage_root,
        context.partition_keys,
        input_rows={key: day.input_rows for key, day in run.done.items()},
        row_rejects={key: day.row_rejects for key, day in run.done.items()},
        reject_share_warn_at=config.reject_share_warn_at,
    )
    yield from report(context, checks)
