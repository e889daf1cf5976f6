"""``ticket`` -> ``sentiment`` and ``entity`` through real ``dg.materialize`` runs of real partitions."""

from datetime import date

import dagster as dg

from sentiment_pipeline import sample
from sentiment_pipeline.definitions import defs
from sentiment_pipeline.defs.enrich.assets import comment, entity, sentiment
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.defs.resources import pipeline_resources

from .helpers import read_partition

DAYS = ["2025-01-02", "2025-01-03"]


def test_ticket_to_sentiment_and_entity_for_a_range_and_a_single_day(local_storage):
    sample.generate(sample.SampleSpec(out=local_storage / "landing", days=2, rows_per_day=120, extra_cols=4, end=date(2025, 1, 3)))
    resources = pipeline_resources()
    tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}
    result = dg.materialize([ingest, comment, sentiment, entity], resources=resources, tags=tags)
    assert result.success
    for day in DAYS:
        tickets, scores, mentions = read_partition("ticket", day), read_partition("sentiment", day), read_partition("entity", day)
        assert scores.height == tickets.height and scores.get_column("ticket_id").is_unique().all()
        assert set(scores.get_column("ticket_id")) == set(tickets.get_column("ticket_id"))
        assert scores.get_column("compound").is_between(-1, 1).all()
        assert set(scores.get_column("label")) <= {"positive", "negative", "neutral"}
        assert scores.get_column("model").unique().to_list() == ["vader+support+classifier"]
        assert mentions.height > tickets.height  # the sample's texts carry several entities each
        assert set(mentions.get_column("ticket_id")) <= set(tickets.get_column("ticket_id"))
        assert {"product", "order_id", "email", "money"} <= set(mentions.get_column("type"))

    # each day of the range run plots that day's own figures; storage numbers are one JSON value, not plotted
    figures = {m.partition: m.metadata for m in result.asset_materializations_for_node("sentiment")}
    assert {day: figures[day]["tickets"].value for day in DAYS} == {day: read_partition("ticket", day).height for day in DAYS}
    for day in DAYS:
        shares = [figures[day][f"share_{name}"].value for name in ("negative", "neutral", "positive")]
        assert abs(sum(shares) - 1) < 1e-3 and figures[day]["share_negative"].value > 0.2  # the sample leans negative
        assert -1 < figures[day]["avg_compound"].value < 1 and figures[day]["model"].value.startswith("vader+support+classifier")
        assert {"bytes", "columns", "partitions_written", "asset_bytes_total"} & set(figures[day]) == set()
        assert figures[day]["storage"].value["partitions_written"] == 2
    mentions = {m.partition: m.metadata["mentions"].value for m in result.asset_materializations_for_node("entity")}
    assert mentions == {day: read_partition("entity", day).height for day in DAYS}

    # a single day re-run replaces that day only, with the same rows
    before = read_partition("sentiment", DAYS[1])
    assert dg.materialize(
        [sentiment, comment.to_source_assets()[0]], resources=resources, partition_key=DAYS[1], selection=[sentiment]
    ).success
    assert read_partition("sentiment", DAYS[1]).equals(before)


def test_enrich_assets_sit_in_their_group_and_describe_their_columns():
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for asset, upstream in (("comment", "ticket"), ("sentiment", "comment"), ("entity", "ticket")):
        assert specs[asset].group_name == "enrich"
        assert [dep.asset_key.to_user_string() for dep in specs[asset].deps] == [upstream]
        assert "ticket_id" in [c.name for c in specs[asset].metadata["dagster/column_schema"].columns]
