"""Every asset as a table, analytics by every grouping and metric, missing versus empty days and
UTC days: over real HTTP against a lake the pipeline materialized, each answer checked against
a recomputation in polars from the Parquet files themselves."""

import importlib.util
import io
import json
import os
import re
import time
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
import requests

from sentiment_pipeline import storage
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.schemas import ASSETS

from .helpers import api_keys, materialized_lake, run_whole_graph
from .serving import serving

# 01-02 and 01-03: sample days; 01-04: never materialized; 01-05: the file below; 01-06: materialized, no tickets.
DAYS = ["2025-01-02", "2025-01-03", "2025-01-05", "2025-01-06"]
SPAN = {"start": "2025-01-02", "end": "2025-01-06"}
NEVER = "2025-01-04"
# Zoned times whose UTC day is not their landing day: the landing folder decides the partition.
LATE_FILE = '''ticket_id,created_at,subject,body,channel,product,agent_id,status,resolved_at,csat,legacy_ref,"say ""hi""",date
UTC1,2025-01-05T23:30:00-05:00,Late night,still waiting for my refund,EMAIL,CloudSync,A001,solved,2025-01-06T10:30:00Z,2,LR-1,a,yesterday
UTC2,2025-01-05T01:00:00+09:00,Early,works now thanks,chat,CloudSync,A002,open,,5,LR-2,b,today
'''
# A conversation with an e-mail address and a phone number inside its (nested) comments.
JIRA_FILE = json.dumps(
    {
        "issues": [
            {
                "key": "SUP-9",
                "fields": {
                    "summary": "Router drops",
                    "description": "It drops every hour",
                    "created": "2025-01-03T10:00:00.000+0000",
                    "comment": {
                        "comments": [
                            {
                                "created": "2025-01-03T11:00:00.000+0000",
                                "author": {"displayName": "Dana Li"},
                                "body": "Still broken, reach me at dana.li@example.com or +1 415-555-0199",
                            }
                        ]
                    },
                },
            }
        ]
    }
)
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    base = tmp_path_factory.mktemp("tables")
    more = {"2025-01-03/jira.json": JIRA_FILE}
    with materialized_lake(base, days=2, rows_per_day=120, extra_cols=2, end=date(2025, 1, 3), more_landing=more) as (root, _):
        (root / "landing" / "2025-01-05").mkdir()
        (root / "landing" / "2025-01-05" / "zoned.csv").write_text(LATE_FILE)
        for day in ("2025-01-05", "2025-01-06"):
            assert run_whole_graph({"dagster/partition": day}).success
        store = KeyStore(base / "keys.sqlite")
        with serving(create_app(str(root), store, cache_size=0)) as url:
            yield {"url": url, "keys": api_keys(store), "root": root}


def get(api, path, key="pii", **params):
    return requests.get(api["url"] + path, headers={"Authorization": f"Bearer {api['keys'][key]}"}, params=params, timeout=60)


def ok(answer: requests.Response) -> requests.Response:
    assert answer.status_code == 200, answer.text
    return answer


def shown(name: str) -> list[str]:
    """A table's columns: its UTC day as ``date`` first, then the asset's own."""
    return list(dict.fromkeys(["date", *ASSETS[name]]))


def stored(root: Path, asset: str) -> pl.DataFrame:
    """Every partition object of ``asset``, read file by file (days' columns differ), with its day as ``date``."""
    frames = []
    for path in sorted((root / asset).glob("year=*/month=*/day=*/*.parquet")):
        day = date(*map(int, re.findall(r"=(\d+)", str(path.relative_to(root)))))
        frames.append(pl.read_parquet(path).with_columns(date=pl.lit(day)))
    return pl.concat(frames, how="diagonal_relaxed")


def test_tables_lists_every_asset_with_columns_types_descriptions_days_and_update_time(api):
    listed = {t["name"]: t for t in ok(get(api, "/v1/tables")).json()["tables"]}
    assert set(listed) == set(ASSETS)
    for name, table in listed.items():
        assert list(table["columns"]) == list(table["descriptions"]) == shown(name)
        assert all(table["descriptions"].values()), name
        assert (table["first_date"], table["last_date"], table["missing_days"]) == ("2025-01-02", "2025-01-06", [NEVER]), name
        assert table["rows"] == stored(api["root"], name).height and ISO_Z.fullmatch(table["last_update"])
        assert datetime.fromisoformat(table["last_update"]) <= datetime.now(UTC)
    assert listed["ticket"]["custom_fields"] and not listed["sentiment"]["custom_fields"]
    assert listed["ticket"]["columns"]["created_at"].startswith("Datetime") and "channel" in listed["ticket"]["filters"]


@pytest.mark.parametrize("name", list(ASSETS))
def test_every_table_reads_alike_as_json_csv_and_parquet(api, name):
    expected = stored(api["root"], name)
    as_json = ok(get(api, f"/v1/tables/{name}", **SPAN, limit=10_000)).json()
    assert as_json["total"] == as_json["count"] == expected.height and as_json["missing_days"] == [NEVER]
    if expected.height:  # sentiment_alerts has no row here (no spike in two sample days): CSV and Parquet show its columns
        assert list(as_json["rows"][0]) == shown(name)
    for fmt in ("csv", "parquet"):
        answer = ok(get(api, f"/v1/tables/{name}", **SPAN, limit=10_000, format=fmt))
        assert answer.headers["content-disposition"] == f'attachment; filename="{name}_2025-01-02_2025-01-06.{fmt}"'
        assert (answer.headers["x-total-count"], answer.headers["x-missing-days"]) == (str(expected.height), NEVER)
        frame = pl.read_csv(io.BytesIO(answer.content), infer_schema=False) if fmt == "csv" else pl.read_parquet(answer.content)
        assert frame.columns == shown(name) and frame.height == expected.height


def test_ticket_custom_fields_come_by_name_across_days_whose_exports_differ(api):
    expected = stored(api["root"], "ticket").sort("date", "ticket_id")
    default = ok(get(api, "/v1/tables/ticket", **SPAN, limit=5)).json()["rows"][0]
    assert "cf_0000" not in default and "legacy_ref" not in default
    rows = ok(get(api, "/v1/tables/ticket", **SPAN, columns="ticket_id, cf_0000,legacy_ref", limit=10_000)).json()["rows"]
    assert rows == expected.select("ticket_id", "cf_0000", "legacy_ref").to_dicts()
    quoted = ok(get(api, "/v1/tables/ticket", start="2025-01-05", end="2025-01-05", columns='ticket_id,say "hi",ticket_id')).json()
    assert quoted["rows"] == [{"ticket_id": "UTC1", 'say "hi"': "a"}, {"ticket_id": "UTC2", 'say "hi"': "b"}]
    refused = get(api, "/v1/tables/ticket", **SPAN, columns="ticket_id,no_such_field")
    assert refused.status_code == 400 and "'no_such_field'" in refused.json()["message"]


def test_columns_of_only_blanks_and_commas_mean_every_column(api):
    """Found by the OpenAPI fuzzing: `columns=%0C` was a 500 (an empty list in the cache key)."""
    for columns in ("\x0c", " , ,"):
        rows = ok(get(api, "/v1/tables/sentiment", **SPAN, columns=columns, limit=1)).json()["rows"]
        assert list(rows[0]) == shown("sentiment")


def test_order_by_desc_limit_offset_and_total(api):
    expected = stored(api["root"], "sentiment").sort(["compound", "date", "ticket_id"], descending=[True, False, False])
    page = ok(get(api, "/v1/tables/sentiment", **SPAN, order_by="compound", desc="true", limit=7, offset=5)).json()
    assert page["total"] == expected.height and page["count"] == 7
    assert [r["ticket_id"] for r in page["rows"]] == expected.get_column("ticket_id").slice(5, 7).to_list()
    seen = []  # pages in the table's own order join up with no row twice or missed
    while len(seen) < expected.height:
        batch = ok(get(api, "/v1/tables/ticket", **SPAN, columns="ticket_id,date", limit=100, offset=len(seen))).json()
        assert batch["total"] == expected.height and batch["rows"]
        seen += [(r["date"], r["ticket_id"]) for r in batch["rows"]]
    ids = stored(api["root"], "ticket").sort("date", "ticket_id").select(pl.col("date").cast(pl.String), "ticket_id")
    assert seen == list(ids.iter_rows())
    past_end = ok(get(api, "/v1/tables/ticket", **SPAN, offset=10**6)).json()
    assert (past_end["count"], past_end["total"]) == (0, expected.height)


def test_filters_ignore_case_and_unknown_or_untyped_names_are_refused(api):
    tickets = stored(api["root"], "ticket")
    emails = tickets.filter(pl.col("channel").str.to_lowercase() == "email").height
    for value in ("email", "EMAIL", "eMail"):
        answer = ok(get(api, "/v1/tables/ticket", **SPAN, channel=value, columns="channel", limit=1)).json()
        assert answer["total"] == emails and answer["rows"][0]["channel"] == "email"
    agent = ok(get(api, "/v1/tables/daily_agent_summary", **SPAN, agent_id="a001")).json()
    assert agent["total"] == 3 and {r["agent_id"] for r in agent["rows"]} == {"A001"}
    for params, named in [({"sort": "x"}, "'sort'"), ({"order_by": "nope"}, "'nope'"), ({"csat": "5"}, "csat")]:
        refused = get(api, "/v1/tables/ticket", **SPAN, **params)
        assert refused.status_code == 400 and named in refused.json()["message"], refused.text


def test_timestamps_are_utc_with_z_and_the_landing_day_is_the_date(api):
    """A ticket created 23:30 at UTC-5 on the 5th (04:30 UTC on the 6th) and one created 01:00 at
    UTC+9 on the 5th (16:00 UTC on the 4th) both belong to their landing day, the 5th."""
    params = {"start": "2025-01-05", "end": "2025-01-05", "columns": "date,ticket_id,created_at,resolved_at,ingested_at"}
    rows = ok(get(api, "/v1/tables/ticket", **params)).json()["rows"]
    assert [(r["date"], r["ticket_id"], r["created_at"]) for r in rows] == [  # the export's own `date` column gives way
        ("2025-01-05", "UTC1", "2025-01-06T04:30:00Z"),
        ("2025-01-05", "UTC2", "2025-01-04T16:00:00Z"),
    ]
    assert rows[0]["resolved_at"] == "2025-01-06T10:30:00Z" and ISO_Z.fullmatch(rows[0]["ingested_at"])
    detail = ok(get(api, "/v1/tickets/UTC1")).json()
    assert (detail["partition"], detail["ticket"]["created_at"]) == ("2025-01-05", "2025-01-06T04:30:00Z")
    csv = pl.read_csv(io.BytesIO(ok(get(api, "/v1/tables/ticket", **params, format="csv")).content), infer_schema=False)
    assert csv.get_column("created_at").to_list() == ["2025-01-06T04:30:00Z", "2025-01-04T16:00:00Z"]
    comments = ok(get(api, "/v1/tables/comment", start="2025-01-02", end="2025-01-02", limit=50)).json()["rows"]
    assert comments and all(ISO_Z.fullmatch(r["created_at"]) for r in comments if r["created_at"])
    by_day = ok(get(api, "/v1/analytics/sentiment", start="2025-01-04", end="2025-01-06")).json()
    assert [(r["date"], r["tickets"]) for r in by_day["rows"]] == [("2025-01-05", 2)] and by_day["missing_days"] == [NEVER]


@pytest.mark.parametrize("zone", ["Etc/GMT-14", "Etc/GMT+12"])  # UTC+14 and UTC-12: one of them is on another day than UTC
def test_the_default_range_ends_today_in_utc_whatever_the_servers_zone(api, zone):
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        answer = ok(get(api, "/v1/tables/daily_agent_summary")).json()
        assert answer["end"] == datetime.now(UTC).date().isoformat()
    finally:
        os.environ.pop("TZ") if before is None else os.environ.update(TZ=before)
        time.tzset()


def test_a_day_never_materialized_is_404_and_a_day_without_tickets_is_empty(api):
    for path in ("/v1/tables/ticket", "/v1/tables/daily_sentiment_summary", "/v1/analytics/sentiment"):
        missing = get(api, path, start=NEVER, end=NEVER)
        assert missing.status_code == 404 and "never materialized" in missing.json()["message"] and NEVER in missing.json()["message"]
        empty = ok(get(api, path, start="2025-01-06", end="2025-01-06")).json()
        assert (empty["count"], empty["missing_days"]) == (0, [])
    assert get(api, "/v1/reports/daily", date=NEVER).status_code == 404
    csv = ok(get(api, "/v1/analytics/sentiment", start="2025-01-03", end="2025-01-05", format="csv"))
    assert csv.headers["x-missing-days"] == NEVER
    full = ok(get(api, "/v1/tables/ticket", start="2025-01-02", end="2025-01-03", format="parquet"))
    assert full.headers["x-missing-days"] == ""


def scored_tickets(root: Path) -> pl.DataFrame:
    return stored(root, "ticket").join(stored(root, "sentiment"), on=["ticket_id", "date"], suffix="_s")


def expected_analytics(root: Path, keys: dict[str, pl.Expr]) -> pl.DataFrame:
    """The analytics roll-up by ``keys`` (column -> expression) recomputed in polars from the ticket and sentiment files."""
    tickets = scored_tickets(root)
    hours = (pl.col("resolved_at") - pl.col("created_at")).dt.total_microseconds() / 3.6e9
    return (
        tickets.group_by(*(key.alias(column) for column, key in keys.items()))
        .agg(
            tickets=pl.len(),
            **{label: (pl.col("label") == label).sum() for label in ("positive", "neutral", "negative")},
            share_negative=(pl.col("label") == "negative").mean(),
            avg_compound=pl.col("compound").mean(),
            avg_csat=pl.col("csat").cast(pl.Float64).mean(),
            solved=(
                pl.col("resolved_at").is_not_null() | pl.col("status").str.to_lowercase().is_in(["solved", "resolved", "closed"])
            ).sum(),
            median_hours_to_resolve=hours.filter(pl.col("resolved_at") >= pl.col("created_at")).median(),
        )
        .sort(list(keys), nulls_last=True)
    )


UTC_CREATED = pl.col("created_at").dt.convert_time_zone("UTC")
GROUPS = {
    "day": ("date", pl.col("date")),
    "week": ("week", pl.col("date").dt.truncate("1w")),
    "month": ("month", pl.col("date").dt.truncate("1mo")),
    "channel": ("channel", pl.col("channel")),
    "product": ("product", pl.col("product")),
    "agent": ("agent_id", pl.col("agent_id")),
    "trajectory": ("trajectory", pl.col("trajectory")),
    "weekday": ("weekday", UTC_CREATED.dt.weekday()),
    "hour": ("hour", UTC_CREATED.dt.hour()),
    "total": ("total", pl.lit("all tickets")),
}


@pytest.mark.parametrize("group_by", list(GROUPS))
def test_analytics_every_grouping_and_metric_match_a_recomputation(api, group_by):
    column, key = GROUPS[group_by]
    expected = expected_analytics(api["root"], {column: key})
    for fmt in ("json", "parquet"):
        answer = ok(get(api, "/v1/analytics/sentiment", **SPAN, group_by=group_by, format=fmt))
        got = pl.DataFrame(answer.json()["rows"]) if fmt == "json" else pl.read_parquet(answer.content)
        assert got.columns == expected.columns
        assert got.get_column(column).cast(pl.String).to_list() == expected.get_column(column).cast(pl.String).to_list()
        for metric in expected.columns[1:]:
            want, have = expected.get_column(metric).to_list(), got.get_column(metric).to_list()
            assert have == pytest.approx(want, abs=1e-9, nan_ok=True), (group_by, metric)
    assert expected.get_column("median_hours_to_resolve").is_not_null().any() and expected.get_column("solved").sum() > 0


@pytest.mark.parametrize("metric", ["negative", "avg_csat", "median_hours_to_resolve"])
def test_analytics_top_n_by_any_metric(api, metric):
    expected = (
        expected_analytics(api["root"], {"product": pl.col("product")})
        .sort([metric, "product"], descending=[True, False], nulls_last=True)
        .head(3)
    )
    rows = ok(get(api, "/v1/analytics/sentiment", **SPAN, group_by="product", order_by=metric, desc="true", limit=3)).json()["rows"]
    assert [r["product"] for r in rows] == expected.get_column("product").to_list()
    assert [r[metric] for r in rows] == pytest.approx(expected.get_column(metric).to_list())
    ascending = ok(get(api, "/v1/analytics/sentiment", **SPAN, group_by="product", order_by=metric, limit=1)).json()["rows"]
    assert ascending[0][metric] == expected_analytics(api["root"], {"product": pl.col("product")}).get_column(metric).min()


@pytest.mark.parametrize("groups", [("day", "channel"), ("weekday", "hour"), ("product", "trajectory")])
def test_analytics_by_several_groupings_match_a_recomputation(api, groups):
    expected = expected_analytics(api["root"], dict(GROUPS[g] for g in groups))
    got = pl.DataFrame(ok(get(api, "/v1/analytics/sentiment", **SPAN, group_by=list(groups))).json()["rows"])
    assert got.columns == expected.columns and got.height == expected.height > 1
    for column in expected.columns:
        want, have = expected.get_column(column).cast(pl.String).to_list(), got.get_column(column).cast(pl.String).to_list()
        if expected.schema[column].is_numeric() and column not in ("weekday", "hour"):
            assert got.get_column(column).to_list() == pytest.approx(expected.get_column(column).to_list(), abs=1e-9, nan_ok=True)
        else:
            assert have == want, column
    refused = get(api, "/v1/analytics/sentiment", **SPAN, group_by=["day", "day"])
    assert refused.status_code == 400 and "group_by" in refused.json()["message"]


def test_tickets_of_a_selection_most_negative_first_with_their_total(api):
    tickets = scored_tickets(api["root"])
    mentions = stored(api["root"], "entity").filter(pl.col("type") == "error_code")
    code = mentions.group_by("normalized").len().sort(["len", "normalized"], descending=[True, False]).item(0, "normalized")
    order = ["compound", "created_at", "ticket_id"]
    selections = {
        (("product", "CLOUDSYNC"), ("label", "negative")): tickets.filter(
            (pl.col("product").str.to_lowercase() == "cloudsync") & (pl.col("label") == "negative")
        ),
        (("entity_type", "error_code"), ("entity", code.lower())): tickets.join(
            mentions.filter(pl.col("normalized") == code).select("ticket_id", "date").unique(), on=["ticket_id", "date"]
        ),
        (("entity_type", "ERROR_CODE"),): tickets.join(mentions.select("ticket_id", "date").unique(), on=["ticket_id", "date"]),
    }
    for selection, want in selections.items():
        want = want.sort(order, descending=[False, True, False])
        answer = ok(get(api, "/v1/tickets", **SPAN, **dict(selection), limit=5)).json()
        assert answer["total"] == want.height > 0 and answer["missing_days"] == [NEVER], selection
        assert [r["ticket_id"] for r in answer["rows"]] == want.get_column("ticket_id").head(5).to_list()
        assert list(answer["rows"][0]) == [
            "date",
            "ticket_id",
            "created_at",
            "subject",
            "channel",
            "product",
            "agent_id",
            "status",
            "csat",
            "label",
            "compound",
            "trajectory",
        ]
    assert get(api, "/v1/tickets", **SPAN, entity=code).status_code == 400  # a value without its type
    assert get(api, "/v1/tickets", **SPAN, label="angry").status_code == 422


def test_the_dashboard_page_and_its_files_come_from_installed_packages(api):
    page = requests.get(api["url"] + "/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'src="([^"]+)"', page.text)
    assert scripts == ["/dashboard/plotly.min.js", "/dashboard/dashboard.js"] and "http" not in page.text.split("<body>")[0]
    plotly_js = requests.get(api["url"] + scripts[0], timeout=10)
    shipped = Path(importlib.util.find_spec("plotly").origin).parent / "package_data" / "plotly.min.js"
    assert plotly_js.status_code == 200 and plotly_js.content == shipped.read_bytes()
    assert requests.get(api["url"] + "/dashboard/../keys.sqlite", timeout=10).status_code == 404
    assert requests.get(api["url"] + "/dashboard/nope.js", timeout=10).status_code == 404


def test_analytics_filters_ignore_case_and_bad_options_are_refused(api):
    by_case = [
        ok(get(api, "/v1/analytics/sentiment", **SPAN, group_by="agent", channel=v, product="cloudsync")).json() for v in ("EMAIL", "email")
    ]
    assert by_case[0]["rows"] == by_case[1]["rows"] and by_case[0]["rows"]
    one_agent = ok(get(api, "/v1/analytics/sentiment", **SPAN, group_by="channel", agent="a001")).json()["rows"]
    agents = ok(get(api, "/v1/analytics/sentiment", **SPAN, group_by="agent")).json()["rows"]
    assert sum(r["tickets"] for r in one_agent) == next(r["tickets"] for r in agents if r["agent_id"] == "A001")
    for params in ({"order_by": "nope"}, {"group_by": "year"}, {"limit": 0}):
        refused = get(api, "/v1/analytics/sentiment", **SPAN, **params)
        assert refused.status_code == 422 and next(iter(params)) in refused.json()["message"], refused.text


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_text_inside_nested_columns_is_masked_without_the_pii_scope(api, fmt):
    params = {"start": "2025-01-03", "end": "2025-01-03", "columns": "ticket_id,body,comments", "ticket_id": "SUP-9", "format": fmt}
    clear, masked = (ok(get(api, "/v1/tables/ticket", key=key, **params)) for key in ("pii", "plain"))
    texts = [answer.text if fmt != "parquet" else str(pl.read_parquet(answer.content).to_dicts()) for answer in (clear, masked)]
    assert "dana.li@example.com" in texts[0] and "415-555-0199" in texts[0]
    assert "dana.li@" not in texts[1] and "415-555-0199" not in texts[1] and "Still broken" in texts[1]


def test_on_s3_days_custom_fields_and_missing_days_read_the_same(s3_storage, tmp_path):
    """Days written on moto's S3 server with different custom fields: listed, unioned, gaps named."""
    root = f"s3://{s3_storage}/lake"
    for day, custom in (("2025-03-01", "cf_a"), ("2025-03-03", "cf_b")):
        frame = pl.DataFrame({"ticket_id": [f"T-{day}"], custom: ["x"]}).with_columns(
            pl.lit(None, kind).alias(column) for column, kind in ASSETS["ticket"].items() if column != "ticket_id"
        )
        storage.write_parquet(frame, storage.partition_uri(root, "ticket", day), compression="snappy", metadata={})
    storage.mark_changed(root, "ticket", "test")
    store = KeyStore(tmp_path / "keys.sqlite")
    with serving(create_app(root, store)) as url:
        api = {"url": url, "keys": api_keys(store)}
        listed = next(t for t in ok(get(api, "/v1/tables")).json()["tables"] if t["name"] == "ticket")
        assert (listed["rows"], listed["missing_days"]) == (2, ["2025-03-02"]) and ISO_Z.fullmatch(listed["last_update"])
        span = {"start": "2025-03-01", "end": "2025-03-03"}
        rows = ok(get(api, "/v1/tables/ticket", **span, columns="ticket_id,cf_a,cf_b")).json()
        assert rows["rows"] == [
            {"ticket_id": "T-2025-03-01", "cf_a": "x", "cf_b": None},
            {"ticket_id": "T-2025-03-03", "cf_a": None, "cf_b": "x"},
        ]
        assert rows["missing_days"] == ["2025-03-02"]
        assert get(api, "/v1/tables/ticket", start="2025-03-02", end="2025-03-02").status_code == 404
