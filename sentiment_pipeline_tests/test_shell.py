"""The shared Dagster shell settings: backfill policy from the environment."""

import dagster as dg
import pytest

from sentiment_pipeline.shell import backfill_policy


def test_a_backfill_is_one_run_unless_a_deployment_asks_for_runs_of_n_days(monkeypatch):
    monkeypatch.delenv("SENTIMENT_BACKFILL_DAYS_PER_RUN", raising=False)
    assert backfill_policy() == dg.BackfillPolicy.single_run()
    monkeypatch.setenv("SENTIMENT_BACKFILL_DAYS_PER_RUN", "7")
    assert backfill_policy().max_partitions_per_run == 7
    monkeypatch.setenv("SENTIMENT_BACKFILL_DAYS_PER_RUN", "0")
    with pytest.raises(ValueError, match="whole number of days"):
        backfill_policy()
