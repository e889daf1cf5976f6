"""The shared Dagster shell settings: backfill policy from the environment; the definitions as dg loads them."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from sentiment_pipeline.defs.metadata import readable_type
from sentiment_pipeline.defs.partitions import FRESHNESS, backfill_policy
from sentiment_pipeline.schemas import ASSETS, COMMENTS

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


def test_every_column_of_every_asset_has_a_description_and_a_readable_type():
    from sentiment_pipeline.definitions import defs

    for spec in defs.resolve_all_asset_specs():
        columns = spec.metadata["dagster/column_schema"].columns
        assert [c.name for c in columns] == list(ASSETS[spec.key.to_user_string()])
        assert [c.name for c in columns if not c.description] == [], spec.key
        assert [c.type for c in columns if not c.type[0].islower()] == [], spec.key  # words, not "Datetime(time_unit=...)"


def test_column_types_read_as_words():
    assert readable_type(pl.Datetime("us", "UTC")) == "datetime (UTC)"
    assert readable_type(pl.Datetime("ms")) == "datetime"
    assert [readable_type(t) for t in (pl.Date(), pl.String(), pl.Int8(), pl.Int64(), pl.Float64())] == [
        "date",
        "text",
        "integer",
        "integer",
        "decimal",
    ]
    assert readable_type(pl.List(pl.String())) == "list of text"
    assert readable_type(COMMENTS) == "list of {created_at, author, text}"


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
