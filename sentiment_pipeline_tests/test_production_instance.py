"""The production instance of ``deploy/`` run for real: PostgreSQL storage, S3 compute logs,
the queued run coordinator and its limits, run monitoring and retries.

Everything runs on this machine, on loopback ports: a throwaway PostgreSQL cluster made with
Debian's server binaries (``make test`` installs the ``postgresql`` package where missing),
moto's S3 server (the session fixture) holding the lake, the landing files and the compute
logs, and the three processes of a deployment: the code-location gRPC server (what the Helm
chart's user deployment runs from our image), ``dagster-daemon`` and ``dagster-webserver``.
The instance is ``deploy/dagster.production.yaml`` itself, with one block swapped (see
``derived_instance``); the workspace is ``deploy/workspace.production.yaml`` pointed at the
local gRPC server. Through the webserver's GraphQL API, as the UI does, one partition of
``daily_pipeline`` is launched and a 3-day backfill of every asset; the tests then read
Dagster's tables in PostgreSQL directly, the compute-log objects and the lake on S3.

Not covered here: the ``K8sRunLauncher`` (runs are subprocesses of the gRPC server, as with
Dagster's default launcher), the Helm chart and the image build (see deploy/README.md).
"""

import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import boto3
import polars as pl
import pytest
import requests
import yaml
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._core.scheduler.instigation import InstigatorState, InstigatorStatus
from dagster._grpc.client import DagsterGrpcClient
from dagster._serdes import deserialize_value

from sentiment_pipeline import sample
from sentiment_pipeline.spikes import BASELINE_DAYS

from .helpers import ASSET_GROUPS, LAUNCH_RUN, stop_process_group, stop_sensor
from .services import PG_DB, PG_PASSWORD, PG_USER, Postgres, Service, start_service, wait_until
from .serving import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
START = "2025-03-01"  # SENTIMENT_PARTITIONS_START of the code location
DAY = "2025-03-01"  # launched alone, as the schedule or the sensor would
BACKFILL = ["2025-03-02", "2025-03-03", "2025-03-04"]  # one backfill from the UI
ROWS = 40  # CSV rows per landing day; the sample adds a JSON-lines export of max(5, ROWS // 20) rows
COMPUTE_LOG_PREFIX = "dagster/compute-logs"  # as in deploy/dagster.production.yaml
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
TIMEOUT = 240  # seconds for the runs and the backfill, from launch to their end (~100 s on 2 idle cores)


# -- the deployment --------------------------------------------------------------------------


def derived_instance(staging: Path) -> dict:
    """``deploy/dagster.production.yaml`` as it is (storage, compute logs, run coordinator,
    concurrency, run monitoring and retries), except its ``run_launcher``: the
    ``K8sRunLauncher`` needs a Kubernetes cluster, so Dagster's ``DefaultRunLauncher`` takes
    its place and each run becomes a subprocess of the code location's gRPC server.

    One setting is added: the compute log manager's ``local_dir``, where a run stages its logs
    before the upload (Dagster's default is ``/tmp`` itself, a fresh folder in a pod, not on a
    shared machine), to ``staging``."""
    instance = yaml.safe_load((DEPLOY / "dagster.production.yaml").read_text())
    assert instance["run_launcher"]["class"] == "K8sRunLauncher", instance["run_launcher"]
    instance["run_launcher"] = {"module": "dagster._core.launcher", "class": "DefaultRunLauncher"}
    assert "local_dir" not in instance["compute_logs"]["config"]
    instance["compute_logs"]["config"]["local_dir"] = str(staging)
    return instance


def derived_workspace(port: int) -> dict:
    """``deploy/workspace.production.yaml`` with its gRPC server at 127.0.0.1:``port`` (the
    location name stays)."""
    workspace = yaml.safe_load((DEPLOY / "workspace.production.yaml").read_text())
    [entry] = workspace["load_from"]
    entry["grpc_server"].update(host="127.0.0.1", port=port)
    return workspace


@dataclass
class Deployment:
    url: str
    home: Path
    lake_bucket: str
    log_bucket: str
    s3: object  # a boto3 S3 client on moto
    postgres: Postgres
    services: list[Service]
    start_daemon: Callable[[], Service]

    def logs(self) -> str:
        return "\n".join(s.log_tail() for s in self.services)

    def gql(self, query: str, **variables) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        assert "errors" not in body, body["errors"]
        response.raise_for_status()
        return body["data"]

    def repository(self) -> dict:
        data = self.gql("""{ repositoriesOrError { __typename ... on RepositoryConnection { nodes {
            name location { name }
            schedules { name scheduleState { id selectorId status } }
            sensors { name jobOriginId sensorState { selectorId status } }
            assetNodes { assetKey { path } } } } ... on PythonError { message } } }""")["repositoriesOrError"]
        assert data["__typename"] == "RepositoryConnection", data
        [repository] = data["nodes"]
        return repository


def _location_loaded(deployment: Deployment) -> bool:
    with suppress(requests.RequestException):
        if requests.get(f"{deployment.url}/server_info", timeout=2).ok:
            entries = deployment.gql("""{ workspaceOrError { ... on Workspace { locationEntries {
                name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")["workspaceOrError"][
                "locationEntries"
            ]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
                assert not errors, f"code location failed to load: {errors}\n{deployment.logs()}"
                return True
    return False


def _daemons_healthy(deployment: Deployment) -> bool:
    statuses = deployment.gql("""{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }""")
    required = [s for s in statuses["instance"]["daemonHealth"]["allDaemonStatuses"] if s["required"]]
    return bool(required) and all(s["healthy"] for s in required)


def _grpc_serving(port: int) -> bool:
    try:
        DagsterGrpcClient(port=port, host="127.0.0.1").ping("up?")
    except DagsterUserCodeUnreachableError:
        return False
    return True


def _stop_automation(deployment: Deployment) -> None:
    """Stop the daily schedule and the landing sensor (both running by default) before the
    daemon starts: the sensor would otherwise queue a run for each landing day, and the
    schedule one for yesterday if the test crossed 00:30 UTC, ahead of and beside the runs
    launched here. Stopping them writes their state to the schedule storage, which the tests
    then find in PostgreSQL. The run-failure sensor stays on: it only reads runs and posts to
    a webhook (none is set), and its ticks are schedule storage too."""
    repository = deployment.repository()
    [sensor] = [s for s in repository["sensors"] if s["name"] == "landing_sensor"]
    stop_sensor(deployment.gql, sensor)
    [schedule] = [s for s in repository["schedules"] if s["name"] == "daily_pipeline_schedule"]
    stopped = deployment.gql(
        """mutation($id: String!, $selector: String!) {
        stopRunningSchedule(scheduleOriginId: $id, scheduleSelectorId: $selector) { __typename
          ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }""",
        id=schedule["scheduleState"]["id"],
        selector=schedule["scheduleState"]["selectorId"],
    )["stopRunningSchedule"]
    assert stopped["__typename"] == "ScheduleStateResult" and stopped["scheduleState"]["status"] == "STOPPED", stopped


def _land_sample_days(s3, bucket: str, tmp: Path) -> None:
    """The sample's landing days (made locally, then uploaded) under ``s3://bucket/landing/``."""
    local = tmp / "landing"
    days = [DAY, *BACKFILL]
    files = sample.generate(sample.SampleSpec(out=local, days=len(days), rows_per_day=ROWS, extra_cols=5, end=date.fromisoformat(days[-1])))
    assert sorted({path.parent.name for path in files}) == days
    for path in files:
        s3.upload_file(str(path), bucket, f"landing/{path.relative_to(local).as_posix()}")


@pytest.fixture(scope="module")
def deployment(postgres, moto_endpoint, tmp_path_factory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("production")
    home, scratch = tmp / "home", tmp / "scratch"
    home.mkdir()
    scratch.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(derived_instance(scratch), sort_keys=False))
    grpc_port, web_port = free_port(), free_port()
    (tmp / "workspace.yaml").write_text(yaml.safe_dump(derived_workspace(grpc_port), sort_keys=False))

    aws = {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    suffix = tmp.name.replace("_", "-").lower()[-20:]
    lake_bucket, log_bucket = f"lake-{suffix}", f"dagster-logs-{suffix}"
    for bucket in (lake_bucket, log_bucket):
        s3.create_bucket(Bucket=bucket)

    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "DAGSTER_", "SENTIMENT_"))}
    env.update(
        aws,
        DAGSTER_HOME=str(home),
        # The variables deploy/dagster.production.yaml reads. No endpoint for the compute logs:
        # S3ComputeLogManager's boto3 client honours AWS_ENDPOINT_URL, like every other S3 client here.
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT=str(postgres.port),
        DAGSTER_PG_USER=PG_USER,
        DAGSTER_PG_PASSWORD=PG_PASSWORD,
        DAGSTER_PG_DB=PG_DB,
        DAGSTER_COMPUTE_LOG_BUCKET=log_bucket,
        SENTIMENT_STORAGE_ROOT=f"s3://{lake_bucket}/lake",
        SENTIMENT_LANDING_ROOT=f"s3://{lake_bucket}/landing",
        SENTIMENT_PARTITIONS_START=START,
    )
    workspace = str(tmp / "workspace.yaml")
    services: list[Service] = []

    def start_daemon() -> Service:
        daemon = start_service(
            "dagster-daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace], tmp / "daemon.log", cwd=tmp, env=env
        )
        services.append(daemon)
        return daemon

    deployment = Deployment(f"http://127.0.0.1:{web_port}", home, lake_bucket, log_bucket, s3, postgres, services, start_daemon)
    try:
        # The user-code deployment's command (deploy/Dockerfile), on a loopback port; -d puts
        # this checkout first on the path, whatever package the virtual environment installed.
        grpc = start_service(
            "code location (gRPC)",
            [
                str(BIN / "dagster"),
                "api",
                "grpc",
                "-m",
                "sentiment_pipeline.definitions",
                "-d",
                str(REPO),
                "-h",
                "127.0.0.1",
                "-p",
                str(grpc_port),
            ],
            tmp / "grpc.log",
            cwd=tmp,
            env=env,
        )
        services.append(grpc)
        wait_until("the gRPC code server", lambda: _grpc_serving(grpc_port), services, timeout=90)
        webserver = start_service(
            "dagster-webserver",
            [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(web_port)],
            tmp / "webserver.log",
            cwd=tmp,
            env=env,
        )
        services.append(webserver)
        wait_until("the webserver", lambda: _location_loaded(deployment), services, timeout=90)
        _stop_automation(deployment)
        _land_sample_days(s3, lake_bucket, tmp)
        yield deployment
    finally:
        for service in reversed(services):  # the daemon first: no new run starts while the rest stops
            stop_process_group(service.process)


@dataclass
class Launched:
    run_id: str  # the one partition
    backfill_id: str
    backfill_runs: dict[str, str]  # run id -> status


@pytest.fixture(scope="module")
def launched(deployment) -> Launched:
    """One partition of ``daily_pipeline`` (launchRun) and a 3-day backfill of every asset
    (launchPartitionBackfill), launched as the UI does and waited for together."""
    repository = deployment.repository()
    launch = deployment.gql(
        LAUNCH_RUN,
        params={
            "selector": {
                "repositoryLocationName": repository["location"]["name"],
                "repositoryName": repository["name"],
                "jobName": "daily_pipeline",
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": DAY}]},
        },
    )["launchRun"]
    assert launch["__typename"] == "LaunchRunSuccess", launch
    assert launch["run"]["status"] == "QUEUED"  # the QueuedRunCoordinator of the production instance; the daemon starts it
    run_id = launch["run"]["runId"]

    backfill = deployment.gql(
        """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }""",
        params={"assetSelection": [node["assetKey"] for node in repository["assetNodes"]], "partitionNames": BACKFILL},
    )["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
    backfill_id = backfill["backfillId"]

    # Only now the daemon: its first iterations find the queued run and the requested backfill.
    deployment.start_daemon()
    wait_until("the daemons", lambda: _daemons_healthy(deployment), deployment.services, timeout=90)
    deadline = time.monotonic() + TIMEOUT
    while True:
        run = deployment.gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id)["runOrError"]
        state = deployment.gql(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
            ... on PartitionBackfill { status runs { runId status } error { message } } ... on PythonError { message } } }""",
            id=backfill_id,
        )["partitionBackfillOrError"]
        assert state["__typename"] == "PartitionBackfill", state
        if run["status"] in RUN_DONE and state["status"] in BACKFILL_DONE:
            break
        for service in deployment.services:
            service.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"after {TIMEOUT} s: run {run_id} {run['status']}, backfill {backfill_id} {state}\n{deployment.logs()}")
        time.sleep(1)

    runs = {r["runId"]: r["status"] for r in state["runs"]}
    failed = {rid: status for rid, status in {run_id: run["status"], **runs}.items() if status != "SUCCESS"}
    if failed or state["status"] not in {"COMPLETED", "COMPLETED_SUCCESS"}:
        events = {
            rid: deployment.gql(
                """query($id: ID!) { runOrError(runId: $id) { ... on Run { eventConnection { events {
                __typename ... on MessageEvent { message } ... on ErrorEvent { error { message } } } } } } }""",
                id=rid,
            )
            for rid in failed
        }
        pytest.fail(f"runs not successful: {failed}; backfill {state}\n{events}\n{deployment.logs()}")
    return Launched(run_id, backfill_id, runs)


# -- the tests -------------------------------------------------------------------------------


def _days(first: str, last: str) -> list[str]:
    start, stop = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((stop - start).days + 1)]


# sentiment_alerts compares each day with the BASELINE_DAYS before it, so a backfill of days
# also re-runs the alerts of the BASELINE_DAYS after them (its partition mapping says so): the
# asset backfill runs every other asset over the 3 days, then sentiment_alerts over this range.
ALERT_DAYS = _days(BACKFILL[0], (date.fromisoformat(BACKFILL[-1]) + timedelta(days=BASELINE_DAYS)).isoformat())


def test_partition_and_backfill_runs_succeed_and_are_stored_in_postgres(deployment, launched):
    pg = deployment.postgres
    ours = {launched.run_id, *launched.backfill_runs}
    # The run storage holds these runs and no other: the stopped sensor and schedule queued none.
    assert dict(pg.query("SELECT run_id, status FROM runs")) == dict.fromkeys(ours, "SUCCESS")
    tags = {(rid, key): value for rid, key, value in pg.query("SELECT run_id, key, value FROM run_tags WHERE run_id = ANY(%s)", list(ours))}
    assert tags[launched.run_id, "dagster/partition"] == DAY
    assert {rid for (rid, key), value in tags.items() if key == "dagster/backfill" and value == launched.backfill_id} == set(
        launched.backfill_runs
    )
    # BackfillPolicy.single_run (SENTIMENT_BACKFILL_DAYS_PER_RUN unset): one run per range, not per day.
    ranges = sorted(
        (tags[rid, "dagster/asset_partition_range_start"], tags[rid, "dagster/asset_partition_range_end"]) for rid in launched.backfill_runs
    )
    assert ranges == [(BACKFILL[0], BACKFILL[-1]), (ALERT_DAYS[0], ALERT_DAYS[-1])]
    [(status,)] = pg.query("SELECT status FROM bulk_actions WHERE key = %s", launched.backfill_id)
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}
    heartbeats = {daemon for (daemon,) in pg.query("SELECT daemon_type FROM daemon_heartbeats")}
    assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "BACKFILL", "MONITORING"} <= heartbeats
    # Nothing went to SQLite under DAGSTER_HOME.
    assert not [p.name for p in deployment.home.rglob("*.db")]


def test_event_logs_are_in_postgres(deployment, launched):
    pg = deployment.postgres
    ours = [launched.run_id, *launched.backfill_runs]
    counts = dict(pg.query("SELECT run_id, count(*) FROM event_logs WHERE run_id = ANY(%s) GROUP BY run_id", ours))
    assert set(counts) == set(ours)
    assert all(count > 10 for count in counts.values()), counts
    materialized = pg.query(
        "SELECT asset_key, partition, run_id FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND run_id = ANY(%s)",
        ours,
    )
    by_asset: dict[str, dict[str, str]] = {}
    for asset_key, partition, run_id in materialized:
        assert partition not in by_asset.get(asset_key, {}), (asset_key, partition)  # each partition once
        by_asset.setdefault(asset_key, {})[partition] = run_id
    assert set(by_asset) == {f'["{asset}"]' for asset in ASSET_GROUPS}
    for asset, partitions in by_asset.items():
        backfilled = ALERT_DAYS if asset == '["sentiment_alerts"]' else BACKFILL
        assert sorted(partitions) == [DAY, *backfilled], asset
        assert partitions[DAY] == launched.run_id
        [backfill_run] = {partitions[day] for day in backfilled}  # all its days in one run
        assert backfill_run in launched.backfill_runs, asset


def test_schedule_and_sensor_state_is_in_postgres(deployment, launched):
    pg = deployment.postgres
    states = [deserialize_value(body, InstigatorState) for (body,) in pg.query("SELECT instigator_body FROM instigators")]
    by_name = {state.instigator_name: state.status for state in states}
    assert by_name.get("landing_sensor") == InstigatorStatus.STOPPED, by_name
    assert by_name.get("daily_pipeline_schedule") == InstigatorStatus.STOPPED, by_name
    # The run-failure sensor, left running, ticked through the daemon: its ticks are stored too.
    [failure_sensor] = [s for s in deployment.repository()["sensors"] if s["name"] == "run_failure_alert"]
    [(ticks,)] = pg.query("SELECT count(*) FROM job_ticks WHERE selector_id = %s", failure_sensor["sensorState"]["selectorId"])
    assert ticks >= 1


def test_the_storage_pool_is_limited_in_postgres(deployment, launched):
    """The production file's pool limit (every asset step is in the "storage" pool) became the
    pool's slots in PostgreSQL, where every run's steps claim them; all free again at the end."""
    limit = yaml.safe_load((DEPLOY / "dagster.production.yaml").read_text())["concurrency"]["pools"]["default_limit"]
    pg = deployment.postgres
    assert pg.query('SELECT concurrency_key, "limit", using_default_limit FROM concurrency_limits') == [("storage", limit, True)]
    assert pg.query("SELECT count(*), count(run_id) FROM concurrency_slots WHERE concurrency_key = 'storage'") == [(limit, 0)]


def test_compute_logs_are_uploaded_to_s3(deployment, launched):
    """Each run's captured stdout and stderr, uploaded whole (no ``.partial`` left) under the
    production prefix; the run's own log lines are in them."""
    listing = deployment.s3.list_objects_v2(Bucket=deployment.log_bucket)
    keys = sorted(item["Key"] for item in listing.get("Contents", []))
    for run_id in (launched.run_id, *launched.backfill_runs):
        mine = [key for key in keys if key.startswith(f"{COMPUTE_LOG_PREFIX}/storage/{run_id}/compute_logs/")]
        assert {key.rsplit(".", 1)[1] for key in mine} == {"out", "err"}, (run_id, keys)
    [err] = [key for key in keys if key.startswith(f"{COMPUTE_LOG_PREFIX}/storage/{launched.run_id}/") and key.endswith(".err")]
    text = deployment.s3.get_object(Bucket=deployment.log_bucket, Key=err)["Body"].read().decode()
    y, m, d = DAY.split("-")
    assert f"rows of ticket to s3://{deployment.lake_bucket}/lake/ticket/year={y}/month={m}/day={d}/" in text, text[:3000]


def test_the_lake_on_s3_holds_every_partition(deployment, launched):
    listing = deployment.s3.list_objects_v2(Bucket=deployment.lake_bucket, Prefix="lake/")
    keys = {item["Key"] for item in listing.get("Contents", [])}
    for asset in ASSET_GROUPS:
        for day in (DAY, *BACKFILL):
            y, m, d = day.split("-")
            assert f"lake/{asset}/year={y}/month={m}/day={d}/{asset}-{day}.parquet" in keys, (asset, day, sorted(keys))
    for day in (DAY, *BACKFILL):
        y, m, d = day.split("-")
        tickets, rejects = (
            pl.read_parquet(
                io.BytesIO(
                    deployment.s3.get_object(
                        Bucket=deployment.lake_bucket, Key=f"lake/{asset}/year={y}/month={m}/day={d}/{asset}-{day}.parquet"
                    )["Body"].read()
                )
            )
            for asset in ("ticket", "ticket_rejects")
        )
        assert tickets.height > 0 and tickets.get_column("ticket_id").is_unique().all()
        assert tickets.height + rejects.height == ROWS + max(5, ROWS // 20), day  # the landing day on S3 reached the run
