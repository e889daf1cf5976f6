"""The ingest step: each day's landing files -> ``ticket`` and ``ticket_rejects`` (core: ``sentiment_pipeline.ingest``)."""

import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from sentiment_pipeline import storage
from sentiment_pipeline.api.masking import mask_frame
from sentiment_pipeline.defs.checking import report
from sentiment_pipeline.defs.ingest.checks import INGEST_SPECS, ticket_results
from sentiment_pipeline.defs.io_manager import LazyPartitions, Partition
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.landing import LANDING_DIGEST, digest, file_entry, is_export
from sentiment_pipeline.defs.metadata import markdown_table, table_schema
from sentiment_pipeline.defs.migration import postgres_results
from sentiment_pipeline.defs.partitions import FRESHNESS, OWNERS, daily_step
from sentiment_pipeline.ingest import DayIngest, DayOutcome, LandingFile, ingest_day
from sentiment_pipeline.ingest.sources import SourceProfile, SourcesFileError, load_profiles
from sentiment_pipeline.settings import load_settings


def landing_files(landing_root: str, partition_key: str, spool: Path, client=None) -> tuple[list[LandingFile], str]:
    """Every export in ``<landing root>/YYYY-MM-DD/`` (none if the folder does not exist), as
    local files to stream from (S3 objects are downloaded into ``spool`` first), and the digest
    of the listing they were taken from, which the landing sensor compares with the folder later.
    """
    folder = storage.join(landing_root, storage.partition_day(partition_key).isoformat())
    exports = [info for info in storage.list_files(folder) if is_export(info.base_name)]
    files = []
    for info in exports:
        uri = storage.uri_of(folder, info.path)
        path = uri if not storage.is_s3(uri) else storage.download(uri, spool / f"{len(files)}-{info.base_name}", client)
        files.append(LandingFile(uri, path=str(path)))
    return files, digest([file_entry(info) for info in exports])


SOURCES_SHOWN = 200  # files listed in a run's metadata (a year-long backfill has thousands)
REASONS_SHOWN = 20  # kinds of reason listed in a run's metadata, the most frequent first
SAMPLES_PER_REASON = 3
RAW_SHOWN = 200  # characters of a sample's raw text


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
        record_digest: Callable[[str, str], None],
        client=None,
    ):
        self.partition_keys = partition_keys
        self.record_digest = record_digest  # (partition key, digest of the landing files read for it)
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
            files, listed = landing_files(self.landing_root, partition_key, folder, self.client)
            self.record_digest(partition_key, listed)
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
            return Partition(day.rejects, tuple(day.files), figures=reject_figures(day))

        return LazyPartitions(self.partition_keys, compute, summary=self.summary)

    def summary(self) -> dict[str, object]:
        """The run's notes, files and reject reasons (each day's figures are on its own materialization)."""
        return {
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for d in self.done.values() for n in d.notes) or "none"),
            "sources": dg.MetadataValue.md(sources_table(self.done)),
            **reject_reasons(self.done),
        }


def reject_figures(day: DayOutcome) -> dict[str, float | int]:
    """A day's rows in, rejects (rows and whole files), share of rows rejected and files read,
    plotted per partition."""
    return {
        "input_rows": day.input_rows,
        "rejects": day.rejects.height,
        "file_rejects": day.rejects.height - day.row_rejects,
        "reject_share": round(day.row_rejects / day.input_rows, 6) if day.input_rows else 0.0,
        "files": len(day.files),
    }


def sources_table(done: dict[str, DayOutcome]) -> str:
    """Per landing file: the profile it matched, its rows, tickets and rejects, how its columns
    were mapped and how its dates were read (markdown, for the run's metadata)."""
    lines = ["| day | file | profile | rows in | tickets | rejects | columns mapped | date order |", "|---|---|---|---|---|---|---|---|"]
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


def reject_reasons(done: dict[str, DayOutcome]) -> dict[str, dg.MetadataValue]:
    """The run's rejects by kind of reason with their counts (``reasons``), and the first few
    of each kind: reason, day, file, row and the start of the raw text (``reject_samples``);
    e-mails and phones masked as the API masks them for a caller without the ``pii`` scope."""
    rejects = pl.concat([outcome.rejects.with_columns(day=pl.lit(day)) for day, outcome in done.items()])
    if rejects.is_empty():
        return {"reasons": dg.MetadataValue.md("no rejects"), "reject_samples": dg.MetadataValue.md("no rejects")}
    rejects = rejects.with_columns(kind=reason_kind(pl.col("reason")))
    kinds = rejects.group_by("kind").agg(rows=pl.len()).sort(["rows", "kind"], descending=[True, False]).with_row_index("rank")
    shown = kinds.head(REASONS_SHOWN)
    reasons = markdown_table(mask_frame(shown.select(reason="kind", rows="rows")))
    if kinds.height > shown.height:
        rest = kinds.slice(shown.height).get_column("rows")
        reasons += f"\n\n... and {rest.len()} more kinds of reason ({rest.sum()} rejects)"
    samples = (
        rejects.join(shown.select("kind", "rank"), on="kind", maintain_order="left")
        .filter(pl.int_range(pl.len()).over("kind") < SAMPLES_PER_REASON)
        .sort("rank", maintain_order=True)
        .select("reason", "day", file=pl.col("source_file").str.split("/").list.last(), row="source_row", raw="raw")
    )
    raw = pl.col("raw")  # cut once masked: a cut address would no longer look like one
    samples = mask_frame(samples).with_columns(
        raw=pl.when(raw.str.len_chars() > RAW_SHOWN).then(raw.str.slice(0, RAW_SHOWN) + "…").otherwise(raw)
    )
    return {"reasons": dg.MetadataValue.md(reasons), "reject_samples": dg.MetadataValue.md(markdown_table(samples))}


def reason_kind(reason: pl.Expr) -> pl.Expr:
    """A reason without what is particular to its row, so rejects group by what went wrong:
    quoted values (ids, timestamps, headers) become '…', details in brackets (the first
    occurrence's file and row, a parser's message) (…), and counts N: "duplicate ticket_id
    'T7': the first occurrence (a.csv row 2) is kept" -> "duplicate ticket_id '…': the first
    occurrence (…) is kept", "row has 8 fields but the header has 7" -> "row has N fields but
    the header has N"."""
    return (
        reason.str.replace_all(r"'.*?'([\s:,)]|$)", "'…'${1}")  # a quote inside a value ("O'Brien") does not end it
        .str.replace_all(r"\(.*\)", "(…)")  # outermost brackets: a file name may have its own, "export (1).csv"
        .str.replace_all(r"(^|\s)\d+(\s|$)", "${1}N${2}")
    )


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
    **daily_step(),
)
def ingest(context: dg.AssetExecutionContext, config: IngestConfig, lake: Lake):
    """Reads every landing file of each day in the run; every input row lands in exactly one of the two."""
    roots = lake.roots()
    try:
        profiles = load_profiles(load_settings().sources_file)
    except SourcesFileError as error:  # a broken sources file stops the run: nothing is read half-mapped
        raise dg.Failure(description=str(error), allow_retries=False) from error

    def record_digest(partition_key: str, landing_digest: str) -> None:
        """Into that day's ``ticket`` materialization: the landing sensor then knows which
        version of the folder is ingested, even with its cursor lost (see ``landing_sensor``)."""
        context.add_asset_metadata({LANDING_DIGEST: landing_digest}, asset_key="ticket", partition_key=partition_key)

    with tempfile.TemporaryDirectory(prefix="sentiment-landing-") as spool:
        run = DayRangeIngest(
            context.partition_keys, roots.landing_root, datetime.now(UTC), Path(spool), profiles, record_digest, lake.s3_client()
        )
        yield dg.Output(run.tickets(), "ticket")  # streamed into the writer day by day first
        yield dg.Output(run.rejects(), "ticket_rejects")
    checks = ticket_results(
        roots.storage_root,
        context.partition_keys,
        input_rows={key: day.input_rows for key, day in run.done.items()},
        row_rejects={key: day.row_rejects for key, day in run.done.items()},
        reject_share_warn_at=config.reject_share_warn_at,
    )
    yield from report(context, [*checks, postgres_results(roots, run.done, profiles)])
