"""The daily job, its schedule and the landing sensor, over real landing files on local disk
and on moto's S3 server."""

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from sentiment_pipeline import storage
from sentiment_pipeline.definitions import defs
from sentiment_pipeline.defs import automation
from sentiment_pipeline.defs.automation import daily_pipeline, daily_pipeline_schedule, landing_sensor
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.defs.partitions import daily_partitions
from sentiment_pipeline.settings import lake_roots

from .helpers import materialize

# The project's assets, checks and resources, with this module's job, schedule and sensor.
DEFS = dg.Definitions(
    assets=defs.assets,
    asset_checks=defs.asset_checks,
    resources=defs.resources,
    schedules=[daily_pipeline_schedule],
    sensors=[landing_sensor],
)
TODAY = datetime.now(UTC).date()


def land(relative: str, body: bytes) -> None:
    """Write a file under the landing root, as an exporter would."""
    uri = storage.join(lake_roots().landing_root, relative)
    if storage.is_s3(uri):
        bucket, key = storage.split_s3(uri)
        storage.s3_client().put_object(Bucket=bucket, Key=key, Body=body)
    else:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        Path(uri).write_bytes(body)


def tick(cursor: str | None, instance: dg.DagsterInstance | None = None):
    """One evaluation, as the daemon makes it: a new context with the stored cursor, on ``instance`` (default: an empty one)."""
    with dg.build_sensor_context(
        cursor=cursor, instance=instance or dg.DagsterInstance.ephemeral(), definitions=DEFS, resources={"lake": defs.resources["lake"]}
    ) as context:
        return landing_sensor.evaluate_tick(context)


def ingest_days(instance: dg.DagsterInstance, first: str, last: str) -> None:
    """``ticket`` and ``ticket_rejects`` of the days from ``first`` to ``last``, in one run (a backfill)."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    assert materialize([ingest], instance=instance, tags=tags).success


def export(day: str, tickets: int = 1) -> bytes:
    return ("ticket_id,created_at\n" + "".join(f"{day}-{n},{day}T10:00:00Z\n" for n in range(tickets))).encode()


def requested(result) -> list[str]:
    return [request.partition_key for request in result.run_requests]


@pytest.fixture(params=["local", "s3"])
def landing(request):
    """The landing root on a temporary folder, then on moto's S3 server."""
    request.getfixturevalue("local_storage" if request.param == "local" else "s3_storage")
    return lake_roots().landing_root


def test_daily_pipeline_materializes_every_asset_of_a_day():
    job = DEFS.resolve_job_def("daily_pipeline")
    assert job.partitions_def == daily_partitions
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == {
        "ticket", "ticket_rejects", "comment", "sentiment", "entity",
        "daily_sentiment_summary", "daily_entity_mentions", "daily_agent_summary", "sentiment_alerts",
    }  # fmt: skip


def test_schedule_runs_yesterday_at_half_past_midnight_utc():
    schedule = DEFS.resolve_schedule_def("daily_pipeline_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 0 * * *", "UTC")
    assert schedule.job_name == daily_pipeline.name
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    context = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 3, 2, 0, 30, tzinfo=UTC))
    [run] = schedule.evaluate_tick(context).run_requests
    assert (run.partition_key, run.run_key) == ("2025-03-01", "2025-03-01")

    first_day_not_over = dg.build_schedule_context(scheduled_execution_time=daily_partitions.start + timedelta(minutes=30))
    result = schedule.evaluate_tick(first_day_not_over)
    assert not result.run_requests and result.skip_message


def test_sensor_settings():
    assert landing_sensor.job_name == "daily_pipeline"
    assert landing_sensor.minimum_interval_seconds == 60
    assert landing_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_sensor_runs_each_changed_day_once(landing):
    land("2025-03-01/a.csv", b"ticket_id,created_at\n1,2025-03-01\n")
    land("2025-03-01/b.json", b'[{"ticket_id": "2", "created_at": "2025-03-01"}]')
    land("2025-03-02/c.jsonl.gz", b"not really gzip")  # unreadable files are ingested as rejects: they count
    junk = [
        "not-a-date/x.csv",
        "2025-02-30/x.csv",
        "2025-3-05/x.csv",
        f"{daily_partitions.start.date() - timedelta(days=1)}/x.csv",
        f"{TODAY + timedelta(days=2)}/x.csv",
        f"{TODAY}/x.csv",  # today's partition does not exist before midnight UTC
        ".hidden/x.csv",
        "_staging/2025-03-05/x.csv",
        "2025-03-06/.x.csv.part",
        "2025-03-06/_SUCCESS",
        "2025-03-07/nested/x.csv",
        "stray.csv",
    ]
    for relative in junk:
        land(relative, b"ticket_id\n9\n")

    first = tick(None)
    assert requested(first) == ["2025-03-01", "2025-03-02"]
    assert all(r.tags["dagster/partition"] == r.partition_key for r in first.run_requests)
    assert all(r.run_key.startswith(f"{r.partition_key}:") for r in first.run_requests)
    assert set(json.loads(first.cursor)["days"]) == {"2025-03-01", "2025-03-02"}

    second = tick(first.cursor)
    assert requested(second) == [] and "no new or changed file" in second.skip_message
    assert second.cursor == first.cursor

    land("2025-03-01/late.csv", b"ticket_id,created_at\n3,2025-03-01\n")
    late = tick(second.cursor)
    assert requested(late) == ["2025-03-01"]
    assert late.run_requests[0].run_key != first.run_requests[0].run_key

    land("2025-03-02/c.jsonl.gz", b"a corrected, longer export")
    changed = tick(late.cursor)
    assert requested(changed) == ["2025-03-02"]
    assert changed.run_requests[0].run_key != first.run_requests[1].run_key
    assert requested(tick(changed.cursor)) == []

    # Without a cursor every day is asked for again, with the same run keys: Dagster skips them.
    lost = tick(None)
    assert [r.run_key for r in lost.run_requests] == [late.run_requests[0].run_key, changed.run_requests[0].run_key]

    # A day whose files are all gone leaves the cursor and is not run (a run would empty it).
    storage.delete([storage.join(landing, "2025-03-02", "c.jsonl.gz")])
    gone = tick(changed.cursor)
    assert requested(gone) == [] and set(json.loads(gone.cursor)["days"]) == {"2025-03-01"}


def test_file_rewritten_with_the_same_size_runs_again(local_storage):
    land("2025-03-01/a.csv", b"ticket_id\n1\n")
    first = tick(None)
    path = Path(lake_roots().landing_root) / "2025-03-01" / "a.csv"
    path.write_bytes(b"ticket_id\n2\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert requested(tick(first.cursor)) == ["2025-03-01"]


def test_empty_or_missing_landing_root_skips(local_storage):
    result = tick(None)
    assert result.run_requests == [] and result.skip_message and json.loads(result.cursor) == {"days": {}, "months": {}}


def test_unchanged_tick_lists_once_and_reads_nothing(local_storage, monkeypatch):
    days = [f"2025-02-{day:02d}" for day in range(1, 21)]
    for day in days:
        for number in range(100):
            land(f"{day}/export-{number:03d}.csv", b"ticket_id\n1\n")
    first = tick(None)
    assert requested(first) == days
    assert len(first.cursor) < 40 * len(days)  # a short digest per day, not a list of files

    listings = []
    real_list_files = storage.list_files
    monkeypatch.setattr(storage, "list_files", lambda *a, **k: listings.append(a) or real_list_files(*a, **k))
    monkeypatch.setattr(storage, "read_bytes", lambda uri: pytest.fail(f"the sensor read {uri}"))
    second = tick(first.cursor)
    assert requested(second) == [] and len(listings) == 1


def test_days_already_ingested_do_not_run_until_their_files_change(landing):
    instance = dg.DagsterInstance.ephemeral()
    days = ["2025-03-01", "2025-03-02", "2025-03-03"]
    for day in days:
        land(f"{day}/a.csv", export(day))
        land(f"{day}/b.csv", export(day, 2))
    ingest_days(instance, days[0], days[-1])

    started = tick(None, instance)  # a daemon starting with no cursor: the days are found ingested
    assert requested(started) == [] and "3 of them found already ingested" in started.skip_message
    restarted = tick(started.cursor, instance)
    assert requested(restarted) == [] and restarted.cursor == started.cursor
    earlier_form = json.dumps(json.loads(started.cursor)["days"])  # a cursor written before months were summarised
    assert requested(tick(earlier_form)) == []  # vouches for every day: nothing looked up, even on an empty instance

    land("2025-03-02/b.csv", export("2025-03-02", 3))  # rewritten: a new size and mtime
    touched = tick(restarted.cursor, instance)
    assert requested(touched) == ["2025-03-02"]
    assert requested(tick(touched.cursor, instance)) == []

    land("2025-03-04/a.csv", export("2025-03-04"))
    added = tick(touched.cursor, instance)
    assert requested(added) == ["2025-03-04"]

    assert requested(tick(None, instance)) == ["2025-03-02", "2025-03-04"]  # a lost cursor: what was not ingested since
    ingest_days(instance, "2025-03-02", "2025-03-04")
    assert requested(tick(None, instance)) == []


def test_an_old_day_that_changes_runs_alone_and_only_its_month_is_looked_up(local_storage, monkeypatch):
    monkeypatch.setattr(automation, "RECENT_DAYS", 2)
    days = ["2025-02-26", "2025-02-27", "2025-02-28", "2025-03-01", "2025-03-02", "2025-03-03"]
    for day in days:
        land(f"{day}/a.csv", export(day))
    instance = dg.DagsterInstance.ephemeral()
    ingest_days(instance, days[0], days[-1])
    cursor = tick(None, instance).cursor
    assert json.loads(cursor)["days"].keys() == {"2025-03-02", "2025-03-03"}
    assert json.loads(cursor)["months"].keys() == {"2025-02", "2025-03"}

    looked_up = []
    real_lookup = automation._recorded_digests
    monkeypatch.setattr(automation, "_recorded_digests", lambda instance, days: looked_up.append(days) or real_lookup(instance, days))
    unchanged = tick(cursor, instance)
    assert requested(unchanged) == [] and looked_up == [[]] and unchanged.cursor == cursor

    land("2025-02-27/a.csv", export("2025-02-27", 2))
    changed = tick(cursor, instance)
    assert requested(changed) == ["2025-02-27"]
    assert looked_up[-1] == ["2025-02-26", "2025-02-27", "2025-02-28"]

    land("2025-01-15/late.csv", export("2025-01-15"))  # a late folder for a month the cursor never saw
    assert requested(tick(changed.cursor, instance)) == ["2025-01-15"]


def test_cursor_stays_small_over_three_years_of_days(local_storage, monkeypatch):
    first = TODAY - timedelta(days=3 * 365)
    monkeypatch.setattr(automation, "daily_partitions", dg.DailyPartitionsDefinition(start_date=first.isoformat()))
    root = Path(lake_roots().landing_root)
    for offset in range(3 * 365):
        folder = root / (first + timedelta(days=offset)).isoformat()
        folder.mkdir(parents=True)
        (folder / "a.csv").write_bytes(b"ticket_id\n1\n")
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources={"lake": defs.resources["lake"]}) as context:
        first_tick = landing_sensor(context)  # invoked directly: these days are before the job's first partition
    assert len(first_tick.run_requests) == 3 * 365
    assert len(first_tick.cursor) < 3_500, len(first_tick.cursor)  # about 1.9 KB of recent days, 30 bytes a month
    with dg.build_sensor_context(
        cursor=first_tick.cursor, instance=dg.DagsterInstance.ephemeral(), resources={"lake": defs.resources["lake"]}
    ) as context:
        again = landing_sensor(context)
    assert again.run_requests == [] and again.cursor == first_tick.cursor
