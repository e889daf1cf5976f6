"""Dagster shell around ``ingest``: landing files of a day -> ``ticket`` and ``ticket_rejects``."""

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field

from sentiment_pipeline import checks, storage
from sentiment_pipeline.ingest import DayIngest, DayOutcome, LandingFile, ingest_day
from sentiment_pipeline.io_manager import LazyPartitions, ParquetIOManager, Partition
from sentiment_pipeline.shell import EACH_ASSET, SHELL, table_schema
from sentiment_pipeline.schemas import TICKET_CANONICAL, TICKET_LINEAGE, TICKET_REJECTS


def landing_files(landing_root: str, partition_key: str, spool: Path) -> list[LandingFile]:
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
        path = uri if not storage.is_s3(uri) else storage.download(uri, spool / f"{len(files)}-{info.base_name}")
        files.append(LandingFile(uri, path=str(path)))
    return files


class DailyIngest:
    """Ingests the days of a run one at a time, when the IO manager asks for each.

    ``tickets`` is consumed first: a day's tickets stream from its landing files into the
    IO manager's writer. Its rejects and counts are known once that is done; only they are
    kept (and the day's downloads removed), so a year-long range needs the memory of one day.
    """

    def __init__(self, partition_keys: list[str], landing_root: str, ingested_at: datetime, spool: Path):
        self.partition_keys = partition_keys
        self.landing_root = landing_root
        self.ingested_at = ingested_at
        self.spool = spool
        self.days: dict[str, DayIngest] = {}
        self.done: dict[str, DayOutcome] = {}

    def _day(self, partition_key: str) -> DayIngest:
        if partition_key not in self.days:
            folder = self.spool / partition_key
            folder.mkdir(exist_ok=True)
            files = landing_files(self.landing_root, partition_key, folder)
            self.days[partition_key] = ingest_day(files, self.ingested_at)
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
        }


class IngestConfig(dg.Config):
    reject_share_warn_at: float = Field(
        default=0.05, ge=0.0, le=1.0, description="the reject_share check warns when a day rejects more than this share of its rows"
    )


@dg.multi_asset(
    outs={
        "ticket": dg.AssetOut(
            description="One row per ticket: typed canonical columns, lineage, then every custom field of the exports (as text).",
            io_manager_key="parquet_io_manager",
            metadata={"dagster/column_schema": table_schema({**TICKET_CANONICAL, **TICKET_LINEAGE})},
            kinds={"polars", "parquet"},
            **EACH_ASSET,
        ),
        "ticket_rejects": dg.AssetOut(
            description="One row per rejected input row (or unreadable file): file, row number, raw content, reason.",
            io_manager_key="parquet_io_manager",
            metadata={"dagster/column_schema": table_schema(TICKET_REJECTS)},
            kinds={"polars", "parquet"},
            **EACH_ASSET,
        ),
    },
    check_specs=checks.INGEST_SPECS,
    group_name="ingest",
    **SHELL,
)
def ingest(context: dg.AssetExecutionContext, config: IngestConfig, parquet_io_manager: dg.ResourceParam[ParquetIOManager]):
    """Reads every landing file of each day in the run; every input row lands in exactly one of the two."""
    with tempfile.TemporaryDirectory(prefix="sentiment-landing-") as spool:
        run = DailyIngest(context.partition_keys, storage.landing_root(), datetime.now(UTC), Path(spool))
        yield dg.Output(run.tickets(), "ticket")  # streamed into the writer day by day first
        yield dg.Output(run.rejects(), "ticket_rejects")
    yield from checks.ticket_results(
        parquet_io_manager.resolved_root(),
        context.partition_keys,
        input_rows={key: day.input_rows for key, day in run.done.items()},
        row_rejects={key: day.row_rejects for key, day in run.done.items()},
        reject_share_warn_at=config.reject_share_warn_at,
    )
