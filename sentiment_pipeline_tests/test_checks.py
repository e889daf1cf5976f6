"""Asset checks: every check passes on a real pipeline run, and fails (or warns) on data built to break it."""

from datetime import date

import dagster as dg
import polars as pl

from sentiment_pipeline import sample, storage
from sentiment_pipeline.defs.analytics.assets import analytics, sentiment_alerts
from sentiment_pipeline.defs.analytics.checks import ADDS_UP, adds_up_result
from sentiment_pipeline.defs.checking import DayVerdicts
from sentiment_pipeline.defs.enrich.assets import comment, entity, sentiment
from sentiment_pipeline.defs.enrich.checks import COMMENT_SPECS, SENTIMENT_SPECS, comment_results, sentiment_results
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.defs.ingest.checks import INGEST_SPECS, ticket_results
from sentiment_pipeline.schemas import TICKET_CANONICAL, TICKET_LINEAGE

from .helpers import materialize

DAY = "2025-01-03"


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {f"{e.asset_key.to_user_string()}.{e.check_name}": e for e in result.get_asset_check_evaluations()}


def materialize_all(config: dict | None = None) -> dg.ExecuteInProcessResult:
    assets = [ingest, comment, sentiment, entity, *analytics, sentiment_alerts]
    return materialize(assets, partition_key=DAY, run_config=config, raise_on_error=False)


def test_every_check_passes_on_a_clean_day(local_storage):
    sample.generate(
        sample.SampleSpec(out=local_storage / "landing", days=2, rows_per_day=150, extra_cols=3, end=date(2025, 1, 3), dirty=False)
    )
    result = materialize_all()
    assert result.success
    found = evaluations(result)
    expected = {f"{s.asset_key.to_user_string()}.{s.name}" for s in [*INGEST_SPECS, *COMMENT_SPECS, *SENTIMENT_SPECS]}
    expected |= {f"{table}.adds_up" for table in ADDS_UP} | {"sentiment_alerts.no_spikes"}
    assert set(found) == expected
    assert [name for name, e in found.items() if not e.passed] == []
    counts = {k: v.value for k, v in found["ticket.rows_conserved"].metadata.items() if k in ("input_rows", "tickets", "row_rejects")}
    tickets = storage.scan_partitions(str(local_storage), "ticket", [DAY]).collect().height
    assert counts["tickets"] == tickets >= 150 and counts["input_rows"] == tickets + counts["row_rejects"]
    on_disk = sum(f.stat().st_size for f in (local_storage / "sentiment").rglob("*.parquet"))
    assert result.asset_materializations_for_node("sentiment")[0].metadata["storage"].value["asset_bytes_total"] == on_disk > 0


def test_a_range_run_reports_every_check_per_day_and_the_dirty_day_warns(local_storage):
    days = ["2025-01-02", DAY, "2025-01-04"]  # one run, the middle day dirty
    for day in days:
        rows = [f"T{n},{day}T10:00:00Z,hello" for n in range(6)]
        rows += [f"T{n},not a date,broken" for n in range(6, 10)] if day == DAY else []
        (local_storage / "landing" / day).mkdir(parents=True)
        (local_storage / "landing" / day / "export.csv").write_text("ticket_id,created_at,subject\n" + "\n".join(rows) + "\n")
    instance = dg.DagsterInstance.ephemeral()
    tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    config = {"ops": {"ingest": {"config": {"reject_share_warn_at": 0.2}}}}
    result = materialize([ingest], tags=tags, run_config=config, instance=instance)

    assert result.success
    found = {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()}
    assert set(found) == {(spec.name, day) for spec in INGEST_SPECS for day in days}
    assert [key for key, e in found.items() if not e.passed] == [("reject_share", DAY)]
    share = found["reject_share", DAY]
    assert (
        share.severity == dg.AssetCheckSeverity.WARN and share.description == f"{DAY}: 40.0% of the day's rows rejected (warns above 20.0%)"
    )
    assert found["reject_share", days[0]].description == f"{days[0]}: passed"  # the run's log names every day
    assert {day: found["reject_share", day].metadata["reject_share"].value for day in days} == {days[0]: 0, DAY: 0.4, days[2]: 0}
    assert {day: found["rows_conserved", day].metadata["row_rejects"].value for day in days} == {days[0]: 0, DAY: 4, days[2]: 0}
    # what the UI reads per partition: each day's latest result, current for that day's materialization
    check = dg.AssetCheckKey(dg.AssetKey("ticket_rejects"), "reject_share")
    shown = {
        i.partition_key: (i.latest_execution_status.value, i.is_current)
        for i in instance.event_log_storage.get_asset_check_partition_info([check])
    }
    assert shown == {days[0]: ("SUCCEEDED", True), DAY: ("FAILED", True), days[2]: ("SUCCEEDED", True)}
    # and each day's ticket_rejects materialization plots that day's own figures, not the run's
    rejected = {
        m.partition: (m.metadata["input_rows"].value, m.metadata["rejects"].value, m.metadata["reject_share"].value)
        for m in result.asset_materializations_for_node("ingest")
        if m.asset_key == dg.AssetKey("ticket_rejects")
    }
    assert rejected == {days[0]: (6, 0, 0.0), DAY: (10, 4, 0.4), days[2]: (6, 0, 0.0)}


def write(root: str, asset: str, frame: pl.DataFrame, day: str = DAY) -> None:
    storage.write_parquet(frame, storage.partition_uri(root, asset, day), compression="snappy", metadata={})


def ticket_frame(ids: list[str | None], **overrides) -> pl.DataFrame:
    columns = {name: pl.Series(name, [None] * len(ids), dtype) for name, dtype in {**TICKET_CANONICAL, **TICKET_LINEAGE}.items()}
    columns["ticket_id"] = pl.Series("ticket_id", ids, pl.String)
    columns.update({name: pl.Series(name, values) for name, values in overrides.items()})
    return pl.DataFrame(list(columns.values()))


def by_name(results: list[DayVerdicts]) -> dict[str, DayVerdicts]:
    return {r.name: r for r in results}


def test_ticket_checks_catch_duplicates_lost_rows_and_schema_drift(local_storage):
    root = str(local_storage)
    write(root, "ticket", ticket_frame(["A", "B"]), "2025-01-02")
    write(root, "ticket", ticket_frame(["A", "A", None], csat=["5", "x", "1"], region=["eu", "us", "eu"]))
    found = by_name(ticket_results(root, [DAY], input_rows={DAY: 5}, row_rejects={DAY: 1}, reject_share_warn_at=0.5))
    assert not found["unique_ticket_ids"].passed
    assert "1 repeated, 1 null ids" in found["unique_ticket_ids"].failures[DAY]
    assert not found["rows_conserved"].passed  # 5 in, 3 tickets + 1 reject: a row went missing
    assert not found["canonical_schema"].passed and "csat: String" in found["canonical_schema"].failures[DAY]
    assert "region" in found["canonical_schema"].facts[DAY]["new_custom_columns"]
    assert found["reject_share"].passed
    both = ["2025-01-02", DAY]  # a range run: the day before is one of the run's own days
    ranged = by_name(ticket_results(root, both, dict.fromkeys(both, 3), dict.fromkeys(both, 0), reject_share_warn_at=0.5))
    assert ranged["canonical_schema"].facts == {DAY: {"new_custom_columns": "region"}}


def test_sentiment_checks_catch_missing_extra_and_out_of_range_scores(local_storage):
    root = str(local_storage)
    write(root, "ticket", ticket_frame(["A", "B", "C"]))
    write(
        root,
        "sentiment",
        pl.DataFrame(
            {
                "ticket_id": ["A", "A", "Z"],
                "compound": [0.5, 0.5, 1.5],
                "pos": [0.1, 0.1, 0.2],
                "neu": [0.9, 0.9, 0.8],
                "neg": [0.0, 0.0, None],
                "trajectory": [None, "stable", "single"],
            }
        ),
    )
    write(root, "comment", pl.DataFrame({"ticket_id": ["A", "B"], "seq": [0, 0], "role": ["customer", "customer"]}))
    found = by_name(sentiment_results(root, [DAY]))
    assert not found["one_row_per_ticket"].passed
    assert "2 tickets unscored, 1 scores without a ticket, 1 scored twice" in found["one_row_per_ticket"].failures[DAY]
    assert not found["scores_in_range"].passed and "1 rows out of range" in found["scores_in_range"].failures[DAY]
    unexplained = found["trajectory_known"].failures[DAY]
    assert not found["trajectory_known"].passed
    assert "1 tickets with a customer message but no trajectory, 1 with a trajectory but none" in unexplained


def test_comment_checks_catch_missing_openings_miscounts_and_orphans(local_storage):
    root = str(local_storage)
    said = {"created_at": None, "author": "x", "text": "hi"}
    write(root, "ticket", ticket_frame(["A", "B", "C"], comments=[[said], [said, said], []]))
    write(root, "comment", pl.DataFrame({"ticket_id": ["A", "A", "B", "B", "Z"], "seq": [0, 1, 0, 2, 0]}))
    found = by_name(comment_results(root, [DAY]))
    assert "1 tickets without exactly one opening message, 1 messages of no ticket" in found["one_opening_message"].failures[DAY]
    assert "2 tickets whose messages are not 1 + comments, 1 with gaps in seq" in found["messages_add_up"].failures[DAY]
    write(root, "comment", pl.DataFrame({"ticket_id": ["A", "A", "B", "B", "B", "C"], "seq": [0, 1, 0, 1, 2, 0]}))
    assert all(result.passed for result in comment_results(root, [DAY]))


def test_aggregates_must_add_up_to_their_inputs(local_storage):
    root = str(local_storage)
    write(root, "ticket", ticket_frame(["A", "B", "C"]))
    write(root, "daily_sentiment_summary", pl.DataFrame({"tickets": [1, 1]}))
    write(root, "daily_agent_summary", pl.DataFrame({"tickets": [2, 1]}))
    assert not adds_up_result(root, "daily_sentiment_summary", [DAY]).passed
    assert adds_up_result(root, "daily_agent_summary", [DAY]).passed
