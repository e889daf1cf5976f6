"""When the pipeline runs by itself: a job over every asset of a day, a daily schedule, and a
sensor that runs a day again when its landing folder changes."""

import json
from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg

from sentiment_pipeline import storage
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.landing import Files, digest, file_entry, is_export
from sentiment_pipeline.defs.partitions import daily_partitions

daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description=(
        "Every asset of one day: ingest the landing folder into `ticket` and `ticket_rejects`, split and score the conversations (`comment`), "
        "score `sentiment`, extract `entity`, then the three DuckDB aggregates."
    ),
)

daily_pipeline_schedule = dg.build_schedule_from_partitioned_job(
    daily_pipeline,
    minute_of_hour=30,
    hour_of_day=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every day at 00:30 UTC, runs `daily_pipeline` for yesterday's partition (the day that "
        "just ended), so every day is materialized, an empty day included. Running by default: "
        "`dagster dev` (or any deployment with the daemon) starts it without a click."
    ),
)


@dg.sensor(
    job=daily_pipeline,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Runs `daily_pipeline` for a day when a file lands in, or changes in, "
        "`<landing root>/YYYY-MM-DD/` (a late file for an old day runs that day again). "
        "Today's folder runs once the day has ended, when its partition exists."
    ),
)
def landing_sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SensorResult:
    """One recursive listing of the landing root per tick (one paginated ListObjects on S3),
    and no file read: a day is identified by the digest of its files' (name, size, mtime).

    The cursor maps each day to the digest last requested, so an unchanged day costs nothing;
    the run key is the day plus that digest, so one version of a day's files never runs twice
    (Dagster skips a run key it has seen, even if the cursor were lost). A day whose folder is
    gone leaves the cursor and is not run: there is nothing to ingest, and a run would empty it.
    Writers of a local landing folder should write under a '.' name and rename when done.
    """
    root = lake.roots().landing_root
    seen = json.loads(context.cursor) if context.cursor else {}
    days = _valid_days(_landing_files(root), context.log)
    current = {day: digest(files) for day, files in days.items()}
    requests = [
        dg.RunRequest(partition_key=day, run_key=f"{day}:{digest}") for day, digest in sorted(current.items()) if seen.get(day) != digest
    ]
    cursor = json.dumps(current, separators=(",", ":"), sort_keys=True)
    if not requests:
        return dg.SensorResult(
            skip_reason=f"no new or changed file in {root} ({len(current)} days up to date)",
            cursor=cursor,
        )
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def _landing_files(root: str) -> dict[str, Files]:
    """The exports of every ``<folder>/<name>`` under the landing root, by folder name.

    What ``landing_files`` would not read is left out: names that are not exports (see
    ``is_export``), files directly under the root or deeper than a day folder.
    """
    base = storage.filesystem(root)[1].rstrip("/") + "/"
    folders: dict[str, Files] = defaultdict(list)
    for info in storage.list_files(root, recursive=True):
        folder, _, name = info.path.removeprefix(base).partition("/")
        if name and "/" not in name and is_export(folder) and is_export(name):
            folders[folder].append(file_entry(info))
    return folders


def _valid_days(folders: dict[str, Files], log) -> dict[str, Files]:
    """The folders that are a partition that exists now; the others are logged, not run.

    Today's folder waits: its partition starts at the next midnight UTC (a run request
    for it would be refused), and the first tick after that picks it up.
    """
    first = daily_partitions.start.date()
    today = datetime.now(UTC).date()
    days = {}
    for folder, files in folders.items():
        try:
            day = storage.partition_day(folder)
        except ValueError:
            log.warning(f"landing folder {folder!r} is not a YYYY-MM-DD date: ignored")
            continue
        if day < first:
            log.warning(f"landing folder {folder} is before the first partition ({first}): ignored")
        elif day == today:
            log.info(f"landing folder {folder} is today's: it runs once the day has ended (UTC)")
        elif day > today:
            log.warning(f"landing folder {folder} is in the future (today is {today} UTC): ignored")
        else:
            days[folder] = files
    return days
