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
from sentiment_pipeline.defs.automation import daily_pipeline, daily_pipeline_schedule, landing_sensor
from sentiment_pipeline.defs.partitions import daily_partitions
from sentiment_pipeline.settings import lake_roots

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


def tick(cursor: str | None):
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(cursor=cursor, instance=instance, definitions=DEFS, resources={"lake": defs.resources["lake"]}) as context:
        return landing_sensor.evaluate_tick(context)


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
    assert set(json.loads(first.cursor)) == {"2025-03-01", "2025-03-02"}

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
    assert requested(gone) == [] and set(json.loads(gone.cursor)) == {"2025-03-01"}


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
    assert result.run_requests == [] and result.skip_message and json.loads(result.cursor) == {}


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
