"""What tests share beyond fixtures: running assets on the project's resources, reading
partitions back, API keys, and a materialized sample lake for module-scoped fixtures."""

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path

import boto3
import dagster as dg
import polars as pl
import pytest

from sentiment_pipeline import sample, storage
from sentiment_pipeline.defs.lake import lake
from sentiment_pipeline.defs.resources import pipeline_resources
from sentiment_pipeline.settings import lake_roots

# Every asset the design names, with the group (stage) it shows under in the UI.
ASSET_GROUPS = {
    "ticket": "ingest",
    "ticket_rejects": "ingest",
    "comment": "enrich",
    "sentiment": "enrich",
    "entity": "enrich",
    "daily_sentiment_summary": "analytics",
    "daily_entity_mentions": "analytics",
    "daily_agent_summary": "analytics",
    "sentiment_alerts": "analytics",
}


def materialize(assets, root: str | None = None, **kwargs) -> dg.ExecuteInProcessResult:
    """``dg.materialize`` with the project's resources, on ``root`` (default: the environment's)."""
    return dg.materialize(list(assets), resources=pipeline_resources(lake(storage_root=root)), **kwargs)


def read_partition(asset: str, key: str) -> pl.DataFrame:
    """One stored partition as readers see it (with its ``partition_date``)."""
    return storage.scan_partitions(lake_roots().storage_root, asset, [key]).collect()


def s3_keys(bucket: str, prefix: str = "") -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def run_whole_graph(tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    """Every asset of the project's definitions, in process, for the partition(s) ``tags`` name."""
    from sentiment_pipeline.definitions import defs

    return defs.resolve_implicit_global_asset_job_def().execute_in_process(tags=tags, instance=dg.DagsterInstance.ephemeral())


def api_keys(store) -> dict[str, str]:
    """One key per kind of caller: "pii" (sees e-mails and phones), "plain", and "revoked"."""
    keys = {"pii": store.create("analyst-pii", {"pii"}), "plain": store.create("analyst"), "revoked": store.create("old")}
    store.revoke("old")
    return keys


@contextmanager
def materialized_lake(
    base: Path,
    days: int,
    rows_per_day: int,
    extra_cols: int,
    end: date,
    more_landing: dict[str, str] | None = None,
    story: bool = False,
) -> Iterator[tuple[Path, pytest.MonkeyPatch]]:
    """For module-scoped fixtures: sample landing days (and ``more_landing``: 'YYYY-MM-DD/file' ->
    text; ``story``: the demo's story) under ``base/data``, every landing day materialized by the whole graph; yields the
    storage root, set as SENTIMENT_STORAGE_ROOT until the block ends, and the patch that set it."""
    root = base / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SENTIMENT_STORAGE_ROOT", str(root))
        patch.delenv("SENTIMENT_LANDING_ROOT", raising=False)
        sample.generate(
            sample.SampleSpec(out=root / "landing", days=days, rows_per_day=rows_per_day, extra_cols=extra_cols, end=end, story=story)
        )
        for name, text in (more_landing or {}).items():
            (root / "landing" / name).parent.mkdir(exist_ok=True)
            (root / "landing" / name).write_text(text)
        landed = sorted(folder.name for folder in (root / "landing").iterdir())
        assert run_whole_graph({"dagster/asset_partition_range_start": landed[0], "dagster/asset_partition_range_end": landed[-1]}).success
        yield root, patch


LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId status } } ... on Error { message } } }"""  # the UI's Materialize


def stop_process_group(process: subprocess.Popen, grace: float = 20) -> None:
    """Ctrl-C for the whole process group (Dagster's processes shut their services and children
    down; PostgreSQL does a fast shutdown), then SIGKILL for whatever is left of it."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def stop_sensor(gql: Callable[..., dict], sensor: dict) -> None:
    """Stops a running sensor the way the UI's toggle does (``gql(query, **variables)``: a
    GraphQL call to the webserver; ``sensor``: its jobOriginId and sensorState.selectorId)."""
    stopped = gql(
        """mutation($origin: String!, $selector: String!) {
        stopSensor(jobOriginId: $origin, jobSelectorId: $selector) { __typename
          ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }""",
        origin=sensor["jobOriginId"],
        selector=sensor["sensorState"]["selectorId"],
    )["stopSensor"]
    assert stopped["__typename"] == "StopSensorMutationResult" and stopped["instigationState"]["status"] == "STOPPED", stopped
