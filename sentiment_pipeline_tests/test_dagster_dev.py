"""``dagster dev`` end to end: the webserver and the daemon in a subprocess, asked over GraphQL.

One server per module (startup is ~10 s): its own DAGSTER_HOME (a copy of the repo's
dagster.yaml, so runs go to SQLite in a temporary folder, never the repo's ``.dagster``),
storage and landing roots in a temporary folder, and ``-w workspace.yaml``, as ``make dev``
runs it. The tests read what the UI shows (asset graph, groups, partitions, schedule,
sensors) and launch a partition run the way the UI's "Materialize" button does, which the
daemon's queued run coordinator then starts.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
import requests

from sentiment_pipeline import sample

from .helpers import ASSET_GROUPS, LAUNCH_RUN, stop_process_group, stop_sensor
from .serving import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).with_name("dagster")
START = "2025-03-01"  # not the default 2025-01-01: the first partition key shows the variable was honoured
DAY = "2025-03-02"
ROWS = 40  # CSV rows of the landing day; the sample adds a JSON-lines export of max(5, ROWS // 20) rows

GROUPS = ASSET_GROUPS
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


class DagsterDev:
    def __init__(self, url: str, process: subprocess.Popen, log: Path, home: Path, data: Path):
        self.url, self.process, self.log, self.home, self.data = url, process, log, home, data

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def gql(self, query: str, **variables) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        assert "errors" not in body, body["errors"]  # a query that does not match the schema is a 400 with errors
        response.raise_for_status()
        return body["data"]

    def repository(self) -> dict:
        """The one repository of the workspace, with what the UI shows of it."""
        data = self.gql("""{ repositoriesOrError { __typename ... on RepositoryConnection { nodes {
            name location { name }
            schedules { name cronSchedule pipelineName scheduleState { status } }
            sensors { name jobOriginId sensorState { selectorId status } }
            assetNodes { assetKey { path } groupName isPartitioned jobNames dependencyKeys { path } } } }
            ... on PythonError { message } } }""")["repositoriesOrError"]
        assert data["__typename"] == "RepositoryConnection", data
        [repository] = data["nodes"]
        return repository


def _wait_until_loaded(server: DagsterDev, timeout: float = 90.0) -> None:
    """Until the webserver answers and the code location is loaded (and loaded without error)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"dagster dev exited with {server.process.returncode}:\n{server.log_tail()}")
        with suppress(requests.RequestException):
            if requests.get(f"{server.url}/server_info", timeout=2).ok:
                workspace = server.gql("""{ workspaceOrError { ... on Workspace { locationEntries {
                    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
                entries = workspace["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
                    assert not errors, f"code location failed to load: {errors}"
                    return
        if time.monotonic() > deadline:
            pytest.fail(f"dagster dev not ready after {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dagster_dev")
    home, data = tmp / "home", tmp / "data"
    home.mkdir()
    (data / "landing").mkdir(parents=True)  # the day itself is written by the run test, once the sensor is off
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SENTIMENT_STORAGE_ROOT": str(data),
        "SENTIMENT_LANDING_ROOT": str(data / "landing"),
        "SENTIMENT_PARTITIONS_START": START,
    }
    port = free_port()
    log = tmp / "dagster_dev.log"
    # A SIGINT ignored here (pytest started from a background job of a script) would be inherited,
    # and dagster dev maps SIGTERM to its SIGINT handler: it would then ignore both. A handled
    # signal is reset to the default on exec, so the child gets a working Ctrl-C.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with log.open("wb") as out:
            # workspace.yaml loads the package by module name and dagster.yaml keeps all state under
            # DAGSTER_HOME, so the working directory (the temporary home) does not matter.
            process = subprocess.Popen(
                [str(DAGSTER), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
                cwd=home,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    server = DagsterDev(f"http://127.0.0.1:{port}", process, log, home, data)
    try:
        _wait_until_loaded(server)
        yield server
    finally:
        stop_process_group(process)


def test_asset_graph_groups_and_dependencies(dagster_dev):
    nodes = {"/".join(n["assetKey"]["path"]): n for n in dagster_dev.repository()["assetNodes"]}
    assert {key: nodes[key]["groupName"] for key in GROUPS if key in nodes} == GROUPS
    assert all(nodes[key]["isPartitioned"] for key in GROUPS)
    deps = {key: {"/".join(d["path"]) for d in node["dependencyKeys"]} for key, node in nodes.items()}
    assert deps["ticket"] == deps["ticket_rejects"] == set()
    assert deps["comment"] == deps["entity"] == {"ticket"} and deps["sentiment"] == {"comment"}
    for key in ("daily_sentiment_summary", "daily_entity_mentions", "daily_agent_summary"):
        assert "sentiment" in deps[key] and deps[key] <= {"ticket", "sentiment", "entity"}, (key, deps[key])


def test_daily_partitions_start_at_the_configured_day(dagster_dev):
    data = dagster_dev.gql(
        """query($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) {
        assetKey { path } partitionDefinition { type description } partitionKeys } }""",
        keys=[{"path": ["ticket"]}, {"path": ["daily_agent_summary"]}],
    )
    assert len(data["assetNodes"]) == 2
    for node in data["assetNodes"]:
        assert node["partitionDefinition"]["type"] == "TIME_WINDOW"
        assert node["partitionDefinition"]["description"] == f"Daily, starting {START} UTC."
        keys = node["partitionKeys"]
        assert keys[:2] == [START, DAY]
        assert keys[-1] < datetime.now(UTC).date().isoformat()  # up to yesterday (UTC): a day is a partition once it has ended


def test_the_first_page_opens_without_the_community_pop_up_or_a_wall_of_warnings(dagster_dev):
    assert dagster_dev.gql("{ shouldShowNux }") == {"shouldShowNux": False}  # nux: enabled: false in dagster.yaml
    started = dagster_dev.log.read_text(errors="replace")
    assert "BetaWarning" not in started and "PreviewWarning" not in started, started


def test_schedule_and_sensors_are_loaded(dagster_dev):
    repository = dagster_dev.repository()
    schedules = {s["name"]: s for s in repository["schedules"]}
    sensors = {s["name"]: s for s in repository["sensors"]}
    assert "daily_pipeline_schedule" in schedules, f"schedules: {sorted(schedules)}"
    assert {"landing_sensor", "run_failure_alert"} <= set(sensors), f"sensors: {sorted(sensors)}"


def test_ui_style_launch_of_one_partition_runs_through_the_daemon(dagster_dev):
    repository = dagster_dev.repository()
    sensor = next((s for s in repository["sensors"] if s["name"] == "landing_sensor"), None)
    if sensor and sensor["sensorState"]["status"] == "RUNNING":
        # Otherwise its first tick would queue a whole-pipeline run of the day ahead of ours.
        stop_sensor(dagster_dev.gql, sensor)
    sample.generate(
        sample.SampleSpec(out=dagster_dev.data / "landing", days=1, rows_per_day=ROWS, extra_cols=5, end=date.fromisoformat(DAY))
    )

    ticket = next(n for n in repository["assetNodes"] if n["assetKey"]["path"] == ["ticket"])
    job = "__ASSET_JOB" if "__ASSET_JOB" in ticket["jobNames"] else ticket["jobNames"][0]
    launched = dagster_dev.gql(
        LAUNCH_RUN,
        params={
            "selector": {
                "repositoryLocationName": repository["location"]["name"],
                "repositoryName": repository["name"],
                "jobName": job,
                "assetSelection": [{"path": ["ticket"]}, {"path": ["ticket_rejects"]}],
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": DAY}]},
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert launched["run"]["status"] == "QUEUED"  # the QueuedRunCoordinator of dagster.yaml; the daemon starts it

    deadline = time.monotonic() + 120
    while (
        status := dagster_dev.gql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id)["runOrError"]["status"]
    ) not in DONE:
        assert time.monotonic() < deadline, f"run {run_id} still {status} after 120 s:\n{dagster_dev.log_tail()}"
        time.sleep(1)
    if status != "SUCCESS":
        events = dagster_dev.gql(
            """query($id: ID!) { runOrError(runId: $id) { ... on Run { eventConnection { events {
            __typename ... on MessageEvent { message } ... on ErrorEvent { error { message } } } } } } }""",
            id=run_id,
        )
        pytest.fail(f"run {run_id} ended {status}: {events}\n{dagster_dev.log_tail()}")

    y, m, d = DAY.split("-")
    files = {
        asset: dagster_dev.data / asset / f"year={y}" / f"month={m}" / f"day={d}" / f"{asset}-{DAY}.parquet"
        for asset in ("ticket", "ticket_rejects")
    }
    assert all(path.is_file() for path in files.values()), sorted(
        p.relative_to(dagster_dev.data).as_posix() for p in dagster_dev.data.rglob("*.parquet")
    )
    tickets, rejects = pl.read_parquet(files["ticket"]), pl.read_parquet(files["ticket_rejects"])
    assert tickets.height > 0 and tickets.get_column("ticket_id").is_unique().all()
    assert tickets.height + rejects.height == ROWS + max(5, ROWS // 20)  # the landing day reached the run worker
    assert not list(dagster_dev.data.glob("sentiment/**/*.parquet"))  # only the selected assets ran

    materialized = dagster_dev.gql(
        """query($day: String!) { assetNodes(assetKeys: [{path: ["ticket"]}]) {
        assetMaterializations(partitions: [$day], limit: 1) { partition runId } } }""",
        day=DAY,
    )
    assert materialized["assetNodes"][0]["assetMaterializations"] == [{"partition": DAY, "runId": run_id}]
    checks = dagster_dev.gql(
        """{ assetNodes(assetKeys: [{path: ["ticket"]}]) { assetChecksOrError { ... on AssetChecks { checks {
        name partitionStatuses { ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } } } } } } }"""
    )["assetNodes"][0]["assetChecksOrError"]["checks"]
    day_passed = [{"startKey": DAY, "endKey": DAY, "status": "SUCCEEDED"}]
    assert {c["name"]: c["partitionStatuses"]["ranges"] for c in checks} == dict.fromkeys(
        ("unique_ticket_ids", "rows_conserved", "canonical_schema", "matches_postgres"), day_passed
    )  # the UI shows each check's result under the day's partition
    assert list(dagster_dev.home.rglob("runs.db")), "run storage is not under the temporary DAGSTER_HOME"


def test_the_asset_pages_show_reject_reasons_and_each_days_check_results(dagster_dev):
    """What the data team sees in a real browser (Debian's Chromium, driven by Playwright) after
    the run above: the reasons table of ticket_rejects' materialization, and the checks tab
    with each check's result under the day; no console errors. Screenshots in test-artifacts/."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is not installed: `make test` installs Debian's chromium (apt-get install -y chromium)"
    rejects = pl.read_parquet(next(dagster_dev.data.glob(f"ticket_rejects/**/ticket_rejects-{DAY}.parquet")))
    assert rejects.height > 0, "the sample day has rejects to show"
    artifacts = Path(os.environ.get("SENTIMENT_TEST_ARTIFACTS", REPO / "test-artifacts")) / "dagster_ui"
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{dagster_dev.url}/assets/ticket_rejects?partition={DAY}", wait_until="networkidle")
        page.get_by_text("reject_samples").first.wait_for(timeout=60_000)
        shown = page.locator("body").inner_text()
        assert "reasons" in shown and "reject_samples" in shown
        assert any(reason.split(":")[0][:30] in shown for reason in rejects.get_column("reason").to_list())
        page.screenshot(path=artifacts / "ticket_rejects.png", full_page=True)
        page.goto(f"{dagster_dev.url}/assets/ticket?view=checks", wait_until="networkidle")
        for check in ("unique_ticket_ids", "rows_conserved", "canonical_schema"):
            page.get_by_text(check).first.wait_for(timeout=60_000)
        page.get_by_text("unique_ticket_ids").first.click()
        page.get_by_text(DAY).first.wait_for(timeout=60_000)  # the result under its day
        page.screenshot(path=artifacts / "ticket_checks.png", full_page=True)
        browser.close()
    assert errors == []
