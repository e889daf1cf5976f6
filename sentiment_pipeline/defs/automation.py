"""When the pipeline runs by itself: a job over every asset of a day, a daily schedule, and a
sensor that runs a day again when its landing folder changes."""

import json
from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg

from sentiment_pipeline import storage
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.defs.landing import LANDING_DIGEST, Files, digest, file_entry, is_export
from sentiment_pipeline.defs.partitions import daily_partitions

daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description=(
        "Every asset of one day: ingest the landing folder into `ticket` and `ticket_rejects`, split and score the conversations (`comment`), "
        "score `sentiment`, extract `entity`, then the three DuckDB aggregates and the spikes of negative sentiment (`sentiment_alerts`)."
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

TICKET = dg.AssetKey("ticket")
RECENT_DAYS = 60  # the latest days keep their own digest in the cursor; older ones one per month


@dg.sensor(
    job=daily_pipeline,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Runs `daily_pipeline` for a day when a file lands in, or changes in, "
        "`<landing root>/YYYY-MM-DD/` (a late file for an old day runs that day again). "
        "A day whose files (name, size, mtime) are the ones its latest `ticket` materialization "
        "read (its `landing_digest`) is not run, so a daemon starting without a cursor does not "
        "redo the days already ingested. Today's folder runs once the day has ended, when its partition exists."
    ),
)
def landing_sensor(context: dg.SensorEvaluationContext, lake: Lake) -> dg.SensorResult:
    """One recursive listing of the landing root per tick (one paginated ListObjects on S3),
    and no file read: a day is identified by the digest of its files' (name, size, mtime).

    The cursor holds what the sensor has accounted for: the digest of each of the latest
    ``RECENT_DAYS`` days and, for the days before them, one digest per month (of its days and
    their digests), so it stays a few KB over years and an unchanged history costs one
    comparison per month. A day the cursor does not vouch for (new or changed, in an older
    month whose digest changed, or any day when the cursor is empty) is looked up in the
    instance, all in one batch per tick: the ingest records the digest of the files it read
    in each day's ``ticket`` materialization (``landing_digest``), and a day whose latest
    materialization recorded its current digest is done. The other days run; the run key is
    the day plus the digest, so one version of a day's files never runs twice.

    A day whose folder is gone leaves the cursor and is not run: there is nothing to ingest,
    and a run would empty it. Writers of a local landing folder should write under a '.' name
    and rename when done.
    """
    root = lake.roots().landing_root
    current = {day: digest(files) for day, files in _valid_days(_landing_files(root), context.log).items()}
    unsure = _not_in_cursor(current, json.loads(context.cursor) if context.cursor else {})
    recorded = _recorded_digests(context.instance, sorted(unsure))
    requests = [
        dg.RunRequest(partition_key=day, run_key=f"{day}:{unsure[day]}") for day in sorted(unsure) if recorded.get(day) != unsure[day]
    ]
    cursor = json.dumps(_cursor_of(current), separators=(",", ":"), sort_keys=True)
    if not requests:
        found = f", {len(unsure)} of them found already ingested" if unsure else ""
        return dg.SensorResult(skip_reason=f"no new or changed file in {root} ({len(current)} days up to date{found})", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def _cursor_of(current: dict[str, str]) -> dict[str, dict[str, str]]:
    """The latest ``RECENT_DAYS`` days with their digests, and each month before them as one digest."""
    days = sorted(current)
    older = defaultdict(list)
    for day in days[: max(len(days) - RECENT_DAYS, 0)]:
        older[day[:7]].append((day, current[day]))
    return {"days": {day: current[day] for day in days[-RECENT_DAYS:]}, "months": {month: digest(pairs) for month, pairs in older.items()}}


def _not_in_cursor(current: dict[str, str], cursor: dict) -> dict[str, str]:
    """The days (with their digests) the cursor does not vouch for: a recent day whose digest
    differs or is not there, and every day of an older month whose digest differs.

    A cursor of the earlier form (day -> digest, for every day) reads as all recent days, so
    the first tick after an upgrade looks nothing up."""
    days, months = (cursor["days"], cursor["months"]) if "days" in cursor else (cursor, {})
    first_recent = min(days, default="")
    unsure = {day: found for day, found in current.items() if day >= first_recent and days.get(day) != found}
    older = defaultdict(dict)
    for day, found in current.items():
        if day < first_recent:
            older[day[:7]][day] = found
    for month, month_days in older.items():
        if digest(list(month_days.items())) != months.get(month):
            unsure.update(month_days)
    return unsure


def _recorded_digests(instance: dg.DagsterInstance, days: list[str]) -> dict[str, str]:
    """The landing digest each day's latest ``ticket`` materialization recorded; a day never
    materialized, or materialized before digests were recorded, is absent. Two queries
    whatever the number of days: the latest event of each partition, then those events."""
    if not days:
        return {}
    latest = instance.get_latest_storage_id_by_partition(TICKET, dg.DagsterEventType.ASSET_MATERIALIZATION, set(days))
    if not latest:
        return {}
    events = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=TICKET, storage_ids=list(latest.values())), limit=len(latest))
    return {
        record.partition_key: record.asset_materialization.metadata[LANDING_DIGEST].value
        for record in events.records
        if LANDING_DIGEST in record.asset_materialization.metadata
    }


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
