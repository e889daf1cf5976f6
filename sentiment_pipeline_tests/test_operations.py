"""The retention job on a local folder and on moto's S3 server; the run-failure alert
sensor against a real HTTP server on 127.0.0.1 (the ``webhook`` fixture)."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from pydantic import ValidationError

from sentiment_pipeline import storage
from sentiment_pipeline.definitions import defs
from sentiment_pipeline.defs.alerts import WEBHOOK_URL_VARIABLE, alert_payload, run_failure_alert
from sentiment_pipeline.defs.resources import pipeline_resources
from sentiment_pipeline.defs.retention import RETAINABLE_ASSETS, retention
from sentiment_pipeline.settings import lake_roots

from .helpers import s3_keys
from .serving import free_port

KEEP_DAYS = 30


def days_ago(n: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


OLD = [days_ago(400), days_ago(KEEP_DAYS + 1)]  # the newest expired day is the boundary
RECENT = [days_ago(KEEP_DAYS), days_ago(0)]


def write_partitions(root: str, asset: str, keys: list[str]) -> None:
    for key in keys:
        frame = pl.DataFrame({"ticket_id": [f"{asset}-{key}"]})
        storage.write_parquet(frame, storage.partition_uri(root, asset, key), compression="snappy", metadata={})
    storage.mark_changed(root, asset, "test")


def run_retention(assets: list[str], keep_days: int = KEEP_DAYS, dry_run: bool = False) -> dg.ExecuteInProcessResult:
    config = {"assets": assets, "keep_days": keep_days, "dry_run": dry_run}
    return retention.execute_in_process(
        resources=pipeline_resources(), run_config={"ops": {"remove_expired_partitions": {"config": config}}}
    )


def report_of(result: dg.ExecuteInProcessResult) -> tuple[dict, dict]:
    """The op's returned report and its output metadata (as plain values)."""
    output = next(e for e in result.all_node_events if e.is_successful_output)
    metadata = {key: value.value for key, value in output.event_specific_data.metadata.items()}
    return result.output_for_node("remove_expired_partitions"), metadata


def partitions_on_disk(root: Path, asset: str) -> list[str]:
    files = (root / asset).glob(f"year=*/month=*/day=*/{asset}-*.parquet")
    return sorted(f.name.removeprefix(f"{asset}-").removesuffix(".parquet") for f in files)


def test_retainable_assets_are_the_project_assets():
    assert set(RETAINABLE_ASSETS) == {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def test_retention_local_removes_exactly_the_old_partitions(local_storage):
    root = lake_roots().storage_root
    for asset in ("ticket", "sentiment"):
        write_partitions(root, asset, OLD + RECENT)
    write_partitions(root, "entity", OLD)  # not named in the run: untouched
    stray = local_storage / "ticket" / "notes.txt"
    stray.write_text("keep me")
    odd = local_storage / "ticket" / "year=2000" / "month=13" / "day=01" / "ticket-2000-13-01.bin"
    odd.parent.mkdir(parents=True)
    odd.write_bytes(b"not a day")
    versions = {asset: storage.asset_version(root, asset) for asset in ("ticket", "sentiment", "entity")}

    result = run_retention(["ticket", "sentiment"])

    assert result.success
    for asset in ("ticket", "sentiment"):
        assert partitions_on_disk(local_storage, asset) == sorted(RECENT)
        assert storage.asset_version(root, asset) != versions[asset]  # API caches refresh
    assert partitions_on_disk(local_storage, "entity") == sorted(OLD)
    assert storage.asset_version(root, "entity") == versions["entity"]
    # whole folders go, empty month/year folders with them; what retention does not know stays
    old_day = Path(storage.partition_dir(root, "ticket", OLD[0]))
    assert not old_day.exists() and not old_day.parent.parent.exists()
    assert stray.read_text() == "keep me" and odd.exists()

    report, metadata = report_of(result)
    assert report["removed"] == {"ticket": OLD, "sentiment": OLD}
    assert report["left_alone"] == {"ticket": sorted([str(odd), str(stray)])}
    assert report["cutoff"] == days_ago(KEEP_DAYS) and report["dry_run"] is False
    assert metadata["partitions_removed"] == 4
    assert metadata["ticket/partitions_removed"] == metadata["sentiment/partitions_removed"] == 2
    assert metadata["removed_partition_keys"] == {"ticket": OLD, "sentiment": OLD}
    observations = [e.event_specific_data.asset_observation for e in result.all_node_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert {o.asset_key.to_user_string(): o.metadata["partition_keys"].value for o in observations} == {"ticket": OLD, "sentiment": OLD}

    again, _ = report_of(run_retention(["ticket", "sentiment"]))  # nothing left to remove
    assert again["removed"] == {"ticket": [], "sentiment": []}


def test_retention_dry_run_removes_nothing_but_reports(local_storage):
    root = lake_roots().storage_root
    write_partitions(root, "daily_agent_summary", OLD + RECENT)
    version = storage.asset_version(root, "daily_agent_summary")

    report, metadata = report_of(run_retention(["daily_agent_summary"], dry_run=True))

    assert report["removed"] == {"daily_agent_summary": OLD} and report["dry_run"] is True
    assert metadata["partitions_removed"] == 2 and metadata["dry_run"] is True
    assert partitions_on_disk(local_storage, "daily_agent_summary") == sorted(OLD + RECENT)
    assert storage.asset_version(root, "daily_agent_summary") == version


def test_retention_on_s3(s3_storage):
    root = lake_roots().storage_root
    write_partitions(root, "ticket", OLD + RECENT)
    write_partitions(root, "ticket_rejects", OLD)
    storage.s3_client().put_object(Bucket=s3_storage, Key="lake/ticket/readme.txt", Body=b"keep me")
    before = s3_keys(s3_storage, "lake/")

    report, _ = report_of(run_retention(["ticket", "ticket_rejects"], dry_run=True))
    assert report["removed"] == {"ticket": OLD, "ticket_rejects": OLD}
    assert s3_keys(s3_storage, "lake/") == before

    report, _ = report_of(run_retention(["ticket", "ticket_rejects"]))
    assert report["removed"] == {"ticket": OLD, "ticket_rejects": OLD}
    assert report["left_alone"] == {"ticket": [f"s3://{s3_storage}/lake/ticket/readme.txt"]}
    remaining = s3_keys(s3_storage, "lake/")
    expected = [storage.partition_uri(root, "ticket", key).removeprefix(f"s3://{s3_storage}/") for key in RECENT]
    assert [k for k in remaining if k.endswith(".parquet")] == sorted(expected)
    assert "lake/ticket/readme.txt" in remaining and "lake/ticket_rejects/_version" in remaining


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"assets": ["Ticket"], "keep_days": 30}, "must be lower-case letters"),
        ({"assets": ["../ticket"], "keep_days": 30}, "must be lower-case letters"),
        ({"assets": ["ticket", "landing"], "keep_days": 30}, "'landing' is not an asset of this project"),
        ({"assets": [], "keep_days": 30}, "name at least one asset"),
        ({"assets": ["ticket"], "keep_days": 0}, "greater than or equal to 1"),
    ],
)
def test_retention_refuses_bad_config(local_storage, config, message):
    write_partitions(lake_roots().storage_root, "ticket", OLD)
    with pytest.raises(ValidationError, match=message):
        retention.execute_in_process(resources=pipeline_resources(), run_config={"ops": {"remove_expired_partitions": {"config": config}}})
    assert partitions_on_disk(local_storage, "ticket") == sorted(OLD)


# --- failure alerts ----------------------------------------------------------------------


@dg.op
def explode():
    raise ValueError("disk on fire\nsecond line of detail")


@dg.job
def fragile():
    explode()


def evaluate_sensor_on_failed_run(tags: dict[str, str] | None = None) -> tuple[dg.DagsterRun, list[logging.LogRecord]]:
    """Fail a run of ``fragile``, evaluate the sensor on it; the run and the sensor's log records."""
    instance = dg.DagsterInstance.ephemeral()
    result = fragile.execute_in_process(raise_on_error=False, instance=instance, tags=tags)
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    )
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    context.log.addHandler(handler)
    run_failure_alert(context)
    return result.dagster_run, records


def test_failure_sensor_posts_one_alert(webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv(WEBHOOK_URL_VARIABLE, f"{url}/hooks/T0/secret")

    run, _ = evaluate_sensor_on_failed_run(tags={"dagster/partition": "2025-03-04"})

    assert received == [
        {
            "text": f"Dagster run of fragile [2025-03-04] failed: explode: ValueError: disk on fire (/runs/{run.run_id})",
            "job_name": "fragile",
            "run_id": run.run_id,
            "partition": "2025-03-04",
            "error": "explode: ValueError: disk on fire",
            "link": f"/runs/{run.run_id}",
        }
    ]


@pytest.mark.parametrize("target", ["closed port", "http 500"])
def test_failure_sensor_logs_a_failed_post_and_does_not_raise(webhook, monkeypatch, target):
    url, received = webhook
    if target == "closed port":
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv(WEBHOOK_URL_VARIABLE, f"{url}/hooks/secret-token/500")

    run, records = evaluate_sensor_on_failed_run()

    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"could not post the failure alert for run {run.run_id}" in warnings[0]
    assert ("Connection" if target == "closed port" else "500 Server Error") in warnings[0]
    assert "secret-token" not in warnings[0]  # the webhook's secret path never reaches the logs
    assert len(received) == (0 if target == "closed port" else 1)


def test_failure_sensor_without_webhook_does_nothing(webhook, monkeypatch):
    _, received = webhook
    monkeypatch.delenv(WEBHOOK_URL_VARIABLE, raising=False)

    _, records = evaluate_sensor_on_failed_run()

    assert received == []
    assert any("no webhook configured" in r.getMessage() for r in records)


def test_alert_payload_keeps_the_first_non_blank_line():
    payload = alert_payload("job", "abc", None, "\n  boom  \ntraceback...")
    assert payload["error"] == "boom" and payload["partition"] is None and payload["link"] == "/runs/abc"
    assert payload["text"] == "Dagster run of job failed: boom (/runs/abc)"
