"""The DuckDB aggregates checked against an independent polars computation on the same inputs,
on local disk (with nulls, rejected duplicates, unresolved tickets and an empty day) and on
moto's S3 server end to end."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from sentiment_pipeline import storage
from sentiment_pipeline.definitions import defs
from sentiment_pipeline.schemas import TRAJECTORIES
from sentiment_pipeline.settings import lake_roots

from .helpers import read_partition, run_whole_graph
from .test_conversations import conversation_day

CSV = """ticket_id,created_at,subject,body,channel,product,agent_id,status,resolved_at,csat
T1,2025-01-02T08:00:00Z,Charged twice,I was charged twice for ORD-100001,email,CloudSync,A1,solved,2025-01-02T10:30:00Z,2
T2,2025-01-02T09:00:00Z,Works now,Thanks! It works now with v2.3.1,chat,CloudSync,A1,solved,2025-01-03T09:00:00Z,5
T3,2025-01-02T09:30:00Z,Question,How do I change my email to ana@example.com?,,CloudSync,A2,open,,
T4,2025-01-02T10:00:00Z,Still waiting,Still waiting for the refund of $49.99 on ORD-100001,email,,,pending,,
T5,2025-01-02T11:00:00Z,Crash,CloudSync crashes on start with E1042,email,CloudSync,A2,closed,,
T1,2025-01-02T12:00:00Z,dup,duplicate id is rejected upstream,email,CloudSync,A1,solved,,
T6,2025-01-02T12:30:00Z,Thanks,Resolved quickly,,,,solved,2025-01-02T12:00:00Z,4
"""
DAYS = ["2025-01-02", "2025-01-03"]  # the second day has no landing folder: an empty day
RANGE = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}
TABLES = ("daily_sentiment_summary", "daily_entity_mentions", "daily_agent_summary")


def read(asset: str, day: str) -> pl.DataFrame:
    return read_partition(asset, day).drop("partition_date")


def expected(table: str, day: str) -> pl.DataFrame:
    """The same numbers computed by polars, not SQL."""
    tickets, scores = read("ticket", day), read("sentiment", day)
    joined = tickets.join(scores, on="ticket_id")
    date = pl.lit(storage.partition_day(day))
    if table == "daily_sentiment_summary":
        return (
            joined.group_by("channel", "product")
            .agg(
                tickets=pl.len(),
                avg_compound=pl.col("compound").mean(),
                positive=(pl.col("label") == "positive").sum(),
                neutral=(pl.col("label") == "neutral").sum(),
                negative=(pl.col("label") == "negative").sum(),
                share_negative=(pl.col("label") == "negative").mean(),
                avg_csat=pl.col("csat").mean(),
                **{name: (pl.col("trajectory") == name).sum() for name in TRAJECTORIES},
            )
            .with_columns(date=date)
        )
    if table == "daily_entity_mentions":
        per_ticket = read("entity", day).group_by("type", "normalized", "ticket_id").agg(mentions=pl.len())
        return (
            per_ticket.join(scores, on="ticket_id", how="left")
            .group_by("type", "normalized")
            .agg(
                mentions=pl.col("mentions").sum(),
                tickets=pl.len(),
                negative=(pl.col("label") == "negative").sum(),
                avg_compound=pl.col("compound").mean(),
            )
            .with_columns(date=date)
        )
    hours = (pl.col("resolved_at") - pl.col("created_at")).dt.total_seconds() / 3600
    solved = pl.col("resolved_at").is_not_null() | pl.col("status").str.to_lowercase().is_in(["solved", "resolved", "closed"])
    opened_negative = pl.col("first_customer_label") == "negative"
    return (
        joined.group_by("agent_id")
        .agg(
            tickets=pl.len(),
            solved=solved.sum(),
            median_hours_to_resolve=hours.filter(pl.col("resolved_at") >= pl.col("created_at")).median(),
            avg_compound=pl.col("compound").mean(),
            avg_csat=pl.col("csat").mean(),
            improving=(pl.col("trajectory") == "improving").sum(),
            declining=(pl.col("trajectory") == "declining").sum(),
            opened_negative=opened_negative.sum(),
            turned=(opened_negative & (pl.col("last_customer_label") != "negative")).sum(),
        )
        .with_columns(date=date, turnaround_share=pl.when(pl.col("opened_negative") > 0).then(pl.col("turned") / pl.col("opened_negative")))
    )


def same(table: str, got: pl.DataFrame, want: pl.DataFrame) -> None:
    keys = [c for c, t in got.schema.items() if t == pl.String] + ["date"]
    want = want.select(got.columns).cast(got.schema)
    assert_frame_equal(got.sort(keys, nulls_last=True), want.sort(keys, nulls_last=True), check_exact=False, rel_tol=1e-9)


def test_aggregates_match_polars_with_nulls_duplicates_unresolved_and_an_empty_day(local_storage):
    landing = local_storage / "landing" / DAYS[0]
    landing.mkdir(parents=True)
    (landing / "tickets.csv").write_text(CSV)
    result = run_whole_graph(RANGE)
    assert result.success
    for table in TABLES:
        got = read(table, DAYS[0])
        same(table, got, expected(table, DAYS[0]))
        empty = read(table, DAYS[1])
        assert empty.height == 0 and empty.schema == got.schema  # an empty day: right schema, no rows

    summary = read("daily_sentiment_summary", DAYS[0])
    assert summary.get_column("tickets").sum() == 6  # the duplicate T1 is not a ticket
    assert summary.filter(pl.col("channel").is_null() & pl.col("product").is_null()).get_column("tickets").item() == 1
    agents = read("daily_agent_summary", DAYS[0]).sort("agent_id", nulls_last=True)
    assert agents.get_column("agent_id").to_list() == ["A1", "A2", None]
    assert agents.get_column("solved").to_list() == [2, 1, 1]
    # A1: 2.5 h and 24 h; A2: closed but never resolved_at; none: resolved before created (dropped)
    assert agents.get_column("median_hours_to_resolve").to_list() == [13.25, None, None]
    assert agents.get_column("avg_csat").to_list() == [3.5, None, 4.0]
    mentions = read("daily_entity_mentions", DAYS[0]).filter(pl.col("normalized") == "ORD-100001")
    assert mentions.select("mentions", "tickets").row(0) == (2, 2)

    headlines = {m.partition: m.metadata for m in result.asset_materializations_for_node("daily_sentiment_summary")}
    assert headlines[DAYS[0]]["tickets"].value == 6 and 0 < headlines[DAYS[0]]["share_negative"].value < 1
    csat = read("ticket", DAYS[0]).get_column("csat").mean()  # over the tickets that have one
    assert headlines[DAYS[0]]["avg_csat"].value == pytest.approx(csat, abs=1e-4)
    assert headlines[DAYS[1]]["tickets"].value == 0 and "avg_csat" not in headlines[DAYS[1]]  # an empty day: no average


def test_whole_chain_on_moto_s3_read_back_through_duckdb(s3_storage):
    import boto3

    for day in DAYS:  # both days have data here
        boto3.client("s3").put_object(Bucket=s3_storage, Key=f"landing/{day}/tickets.csv", Body=CSV.encode())
    assert run_whole_graph(RANGE).success
    for table in TABLES:
        for day in DAYS:
            same(table, read(table, day), expected(table, day))
    connection = storage.duckdb_connection()
    summary = storage.asset_source(connection, lake_roots().storage_root, "daily_sentiment_summary")
    rows = connection.execute(f"select year, month, day, sum(tickets) from {summary} group by all order by day").fetchall()
    assert rows == [(2025, 1, 2, 6), (2025, 1, 3, 6)]


@pytest.mark.parametrize("table", TABLES)
def test_aggregate_assets_describe_their_metrics(table):
    spec = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}[table]
    assert spec.group_name == "analytics" and spec.description
    assert {dep.asset_key.to_user_string() for dep in spec.deps} <= {"ticket", "sentiment", "entity"}


def test_trajectory_and_turnaround_columns_match_polars_on_real_conversations(local_storage):
    """Jira CSV and JSON conversations (improving, declining, stable, single): the SQL's
    trajectory counts and each agent's turnaround against the polars recomputation."""
    landing = local_storage / "landing" / DAYS[0]
    landing.mkdir(parents=True)
    for name, content in conversation_day().items():
        (landing / name).write_bytes(content)
    assert run_whole_graph({"dagster/partition": DAYS[0]}).success
    for table in ("daily_sentiment_summary", "daily_agent_summary"):
        same(table, read(table, DAYS[0]), expected(table, DAYS[0]))
    agents = read("daily_agent_summary", DAYS[0])
    assert agents.get_column("opened_negative").sum() == 4 and agents.get_column("turnaround_share").drop_nulls().len() == 3
    assert read("daily_sentiment_summary", DAYS[0]).select(list(TRAJECTORIES)).sum().row(0) == (2, 1, 1, 1)
