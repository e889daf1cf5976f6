"""The shared Dagster shell settings: backfill policy from the environment; the definitions as dg loads them."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from sentiment_pipeline.defs.partitions import FRESHNESS, backfill_policy

from .helpers import ASSET_GROUPS


def test_a_backfill_is_one_run_unless_a_deployment_asks_for_runs_of_n_days(monkeypatch):
    monkeypatch.delenv("SENTIMENT_BACKFILL_DAYS_PER_RUN", raising=False)
    assert backfill_policy() == dg.BackfillPolicy.single_run()
    monkeypatch.setenv("SENTIMENT_BACKFILL_DAYS_PER_RUN", "7")
    assert backfill_policy().max_partitions_per_run == 7
    monkeypatch.setenv("SENTIMENT_BACKFILL_DAYS_PER_RUN", "0")
    with pytest.raises(ValueError, match="whole number of days"):
        backfill_policy()


def test_every_asset_tells_its_story_in_the_ui():
    from sentiment_pipeline.definitions import defs

    groups = ASSET_GROUPS
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) == set(groups)
    for name, spec in specs.items():
        assert spec.group_name == groups[name], name
        assert spec.owners == ["team:data-platform"] and spec.kinds and len(spec.description or "") > 40, name
        assert spec.metadata["dagster/column_schema"].columns, name
        assert spec.freshness_policy == FRESHNESS, name


@pytest.mark.e2e
def test_dg_check_defs_loads_the_project_as_dg_sees_it():
    """`[tool.dg]` points dg at the one Definitions: `dg check defs` loads it in its own process."""
    repo = Path(__file__).resolve().parents[1]
    checked = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=repo, env={**os.environ, "VIRTUAL_ENV": sys.prefix}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "All definitions loaded successfully" in output
