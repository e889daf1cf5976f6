"""Several partitions materializing at once, in separate run processes sharing one Dagster
instance, while the API serves reads of the same tables over HTTP: no lock errors, no 5xx,
and every read sees each day whole (all of its tickets or none of them)."""

import os
import subprocess
import threading
from collections import defaultdict
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import requests

from sentiment_pipeline import sample, storage
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore

from .serving import serving

pytestmark = pytest.mark.e2e

DAYS = ["2025-02-01", "2025-02-02", "2025-02-03"]
DAGSTER = Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[1] / ".venv")) / "bin" / "dagster"


def test_partitions_run_at_once_while_the_api_reads(tmp_path, monkeypatch):
    root, home = tmp_path / "data", tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # no pool limit: the runs' steps overlap
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the instance exists before runs start, as deployed
        instance.get_runs(limit=1)
        instance.all_instigator_state()
    monkeypatch.setenv("SENTIMENT_STORAGE_ROOT", str(root))
    monkeypatch.delenv("SENTIMENT_LANDING_ROOT", raising=False)
    sample.generate(sample.SampleSpec(out=root / "landing", days=3, rows_per_day=200, extra_cols=5, end=date(2025, 2, 3)))
    env = {**os.environ, "DAGSTER_HOME": str(home), "SENTIMENT_PARTITIONS_START": "2025-01-01"}
    store = KeyStore(tmp_path / "keys.sqlite")
    key = {"Authorization": f"Bearer {store.create('reader')}"}
    seen: dict[str, set[int]] = defaultdict(set)
    statuses: list[int] = []
    done = threading.Event()

    def read_while_running(url: str) -> None:
        days = {"start": DAYS[0], "end": DAYS[-1]}
        while not done.is_set():
            answer = requests.get(f"{url}/v1/analytics/sentiment", params=days | {"group_by": "day"}, headers=key, timeout=30)
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                for row in answer.json()["rows"]:
                    seen[row["date"]].add(row["tickets"])
            statuses.append(
                requests.get(f"{url}/v1/tables/daily_agent_summary", params=days | {"limit": 1000}, headers=key, timeout=30).status_code
            )

    with serving(create_app(str(root), store)) as url:
        reader = threading.Thread(target=read_while_running, args=(url,))
        reader.start()
        runs = [
            subprocess.Popen(
                [str(DAGSTER), "asset", "materialize", "-m", "sentiment_pipeline.definitions", "--select", "*", "--partition", day],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for day in DAYS
        ]
        outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
        done.set()
        reader.join(timeout=60)
        final = requests.get(
            f"{url}/v1/analytics/sentiment", params={"start": DAYS[0], "end": DAYS[-1], "group_by": "day"}, headers=key, timeout=30
        ).json()

    for run, output in zip(runs, outputs, strict=False):
        assert run.returncode == 0, output[-3000:]
        assert "database is locked" not in output
    assert 200 in statuses and set(statuses) <= {200, 404}, sorted(set(statuses))  # 404: no aggregate written yet
    tickets = {day: storage.scan_partitions(str(root), "ticket", [day]).select(pl.len()).collect().item() for day in DAYS}
    assert {row["date"]: row["tickets"] for row in final["rows"]} == tickets, final
    for day, counts in seen.items():
        assert counts == {tickets[day]}, (day, counts)  # never a part of a day
