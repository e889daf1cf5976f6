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

    summary = result.asset_materializations_for_node("sentiment")[0].metadata
    assert summary["tickets"].value == sum(read_partition("ticket", d).height for d in DAYS)
    shares = [summary[f"share_{name}"].value for name in ("negative", "neutral", "positive")]
    assert abs(sum(shares) - 1) < 1e-3 and summary["share_negative"].value > 0.2  # the sample leans negative
    entity_summary = result.asset_materializations_for_node("entity")[0].metadata
    assert entity_summary["mentions"].value == sum(read_partition("entity", d).height for d in DAYS)

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
