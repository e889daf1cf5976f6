"""The read API over real HTTP (uvicorn on 127.0.0.1, a free port) against Parquet written by the pipeline."""

import io
import re
from datetime import date

import polars as pl
import pytest
import requests

from sentiment_pipeline import storage
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore

from .helpers import api_keys, materialized_lake, run_whole_graph
from .serving import serving

DAYS = ("2025-01-02", "2025-01-03")
RANGE = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A lake of two sample days, an API server on it, and keys: pii, plain, revoked."""
    base = tmp_path_factory.mktemp("api")
    with materialized_lake(base, days=2, rows_per_day=150, extra_cols=3, end=date(2025, 1, 3)) as (root, patch):
        store = KeyStore(base / "keys.sqlite")
        keys = api_keys(store)
        with serving(create_app(str(root), store)) as url:
            yield {"url": url, "keys": keys, "root": str(root), "patch": patch}


def get(api, path, key="pii", **params):
    headers = {"Authorization": f"Bearer {api['keys'][key]}"} if key else {}
    return requests.get(api["url"] + path, headers=headers, params=params, timeout=30)


def test_health_needs_no_key_and_reports_storage(api):
    answer = requests.get(api["url"] + "/health", timeout=10)
    assert answer.status_code == 200 and answer.json()["storage"]["reachable"] is True


@pytest.mark.parametrize("key", [None, "revoked", "wrong"])
def test_every_v1_route_refuses_a_missing_wrong_or_revoked_key_alike(api, key):
    api["keys"]["wrong"] = "sp_not-a-real-key"
    routes = [(path, method) for path, methods in create_app(api["root"]).openapi()["paths"].items() for method in methods]
    protected = [(path, method) for path, method in routes if path not in ("/health", "/")]  # the dashboard page holds no data
    assert len(protected) == 8 and all(path.startswith("/v1/") for path, _ in protected)  # a new route must be here too
    headers = {"Authorization": f"Bearer {api['keys'][key]}"} if key else {}
    for path, method in protected:
        url = api["url"] + path.replace("{name}", "daily_sentiment_summary").replace("{ticket_id}", "x")
        answer = requests.request(method, url, headers=headers, json={"question": "x"}, params={"q": "x", "date": DAYS[0]}, timeout=10)
        assert answer.status_code == 401, path
        assert answer.json() == {
            "error": "unauthorized",
            "message": "missing, unknown or revoked API key: send `Authorization: Bearer <key>`",
        }


def test_tables_list_and_table_reads_in_every_format(api):
    listed = get(api, "/v1/tables").json()["tables"]
    summary = next(t for t in listed if t["name"] == "daily_sentiment_summary")
    assert summary["first_date"] == DAYS[0] and summary["last_date"] == DAYS[1] and summary["rows"] > 0
    as_json = get(api, "/v1/tables/daily_agent_summary", start=DAYS[0], end=DAYS[1], agent_id="A001").json()
    assert as_json["count"] == 2 and {r["agent_id"] for r in as_json["rows"]} == {"A001"}
    as_csv = pl.read_csv(
        io.BytesIO(get(api, "/v1/tables/daily_agent_summary", start=DAYS[0], end=DAYS[1], agent_id="A001", format="csv").content)
    )
    as_parquet = pl.read_parquet(
        io.BytesIO(get(api, "/v1/tables/daily_agent_summary", start=DAYS[0], end=DAYS[1], agent_id="A001", format="parquet").content)
    )
    assert as_csv.height == as_parquet.height == 2
    assert as_parquet.get_column("tickets").to_list() == [r["tickets"] for r in as_json["rows"]]


def test_analytics_grouped_three_ways_add_up(api):
    totals = {}
    for group in ("day", "channel", "product"):
        rows = get(api, "/v1/analytics/sentiment", start=DAYS[0], end=DAYS[1], group_by=group).json()["rows"]
        totals[group] = sum(r["tickets"] for r in rows)
    tickets = storage.scan_partitions(api["root"], "ticket", list(DAYS)).select(pl.len()).collect().item()
    assert totals == {"day": tickets, "channel": tickets, "product": tickets}


def test_analytics_by_channel_match_the_per_ticket_rows(api):
    """Recomputed from the ticket and sentiment partitions in polars, not from the aggregate."""
    scored = (
        storage.scan_partitions(api["root"], "ticket", list(DAYS))
        .select("ticket_id", "partition_date", "channel")
        .join(
            storage.scan_partitions(api["root"], "sentiment", list(DAYS)).select("ticket_id", "partition_date", "compound", "label"),
            on=["ticket_id", "partition_date"],
        )
        .group_by("channel")
        .agg(tickets=pl.len(), negative=(pl.col("label") == "negative").sum(), avg_compound=pl.col("compound").mean())
        .collect()
    )
    expected = {r["channel"]: r for r in scored.iter_rows(named=True)}
    rows = get(api, "/v1/analytics/sentiment", start=DAYS[0], end=DAYS[1], group_by="channel").json()["rows"]
    assert {r["channel"] for r in rows} == set(expected)
    for row in rows:
        want = expected[row["channel"]]
        assert (row["tickets"], row["negative"]) == (want["tickets"], want["negative"])
        assert row["avg_compound"] == pytest.approx(want["avg_compound"], abs=1e-9)
        assert row["share_negative"] == pytest.approx(want["negative"] / want["tickets"])


def test_ticket_detail_search_and_daily_report_with_masking(api):
    hits = get(api, "/v1/search", q="INVOICE", start=DAYS[0], end=DAYS[1], limit=5).json()["rows"]
    assert hits and all("invoice" in (h["subject"] + h["body"]).lower() for h in hits)
    with_email = next(h for h in hits if "@" in h["body"])
    detail = get(api, f"/v1/tickets/{with_email['ticket_id']}", custom_fields="true").json()
    assert detail["ticket"]["ticket_id"] == with_email["ticket_id"] and detail["sentiment"]["label"] in ("positive", "neutral", "negative")
    assert any(e["type"] == "email" for e in detail["entities"]) and "custom_fields" in detail
    masked = get(api, f"/v1/tickets/{with_email['ticket_id']}", key="plain").json()
    assert "@" not in masked["ticket"]["body"] and "[email:" in masked["ticket"]["body"]
    assert all(e["text"] == e["normalized"] and e["text"].startswith("[email:") for e in masked["entities"] if e["type"] == "email")
    masked_hits = get(api, "/v1/search", key="plain", q="invoice", start=DAYS[0], end=DAYS[1], limit=5).json()["rows"]
    assert not any(re_email(h["body"]) for h in masked_hits)
    report = get(api, "/v1/reports/daily", date=DAYS[1]).json()
    assert report["headline"]["tickets"] > 0 and report["busiest_agents"] and report["top_entities"]


def re_email(text: str) -> bool:
    import re

    return re.search(r"[A-Za-z0-9]{2,}@", text) is not None


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/tables/nope", {}, 404),
        ("/v1/tables/..%2F..%2Fetc", {}, 404),
        ("/v1/tables/daily_agent_summary", {"start": "2025-13-01"}, 400),
        ("/v1/tables/daily_agent_summary", {"start": "2025-01-03", "end": "2025-01-01"}, 400),
        ("/v1/tables/daily_agent_summary", {"start": "2000-01-01", "end": "2025-01-01"}, 400),
        ("/v1/tables/daily_agent_summary", {"agent_id' or 1=1 --": "x"}, 400),
        ("/v1/tables/daily_agent_summary", {"limit": 10**9}, 422),
        ("/v1/tables/daily_agent_summary", {"format": "xml"}, 422),
        ("/v1/analytics/sentiment", {"group_by": "agent; drop table x"}, 422),
        ("/v1/tickets/nope'; select 1", {}, 404),
        ("/v1/search", {"q": "'); drop table ticket; --", "start": DAYS[0], "end": DAYS[1]}, 200),
        ("/v1/search", {"q": "日本語 😀", "start": DAYS[0], "end": DAYS[1]}, 200),
        ("/v1/reports/daily", {"date": "yesterday"}, 400),
    ],
)
def test_hostile_and_bad_input_gets_a_clear_4xx_without_a_leak(api, path, params, status):
    answer = get(api, path, **params)
    assert answer.status_code == status, answer.text
    text = answer.text
    assert "Traceback" not in text and "duckdb" not in text.lower() and api["root"] not in text
    if status >= 400:
        assert answer.json()["message"]


def test_cache_serves_repeats_and_sees_a_new_materialization_at_once(api):
    params = {"start": DAYS[0], "end": DAYS[1], "group_by": "day"}
    first = get(api, "/v1/analytics/sentiment", **params).json()
    assert get(api, "/v1/analytics/sentiment", **params).json() == first
    old = storage.scan_partitions(api["root"], "ticket", [DAYS[0]]).select("ticket_id").head(1).collect().item()
    assert get(api, f"/v1/tickets/{old}").json()["partition"] == DAYS[0]
    landing = storage.join(api["root"], "landing", DAYS[1], "late.csv")
    with open(landing, "w") as handle:  # a new ticket, and a re-export of yesterday's ticket
        handle.write(f"ticket_id,created_at,subject,body\nLATE1,2025-01-03,Late,still waiting\n{old},2025-01-02,Updated,now solved\n")
    assert run_whole_graph({"dagster/partition": DAYS[1]}).success
    after = get(api, "/v1/analytics/sentiment", **params).json()
    day_rows = {r["date"]: r["tickets"] for r in after["rows"]}
    assert day_rows[DAYS[1]] == {r["date"]: r["tickets"] for r in first["rows"]}[DAYS[1]] + 2
    latest = get(api, f"/v1/tickets/{old}").json()
    assert (latest["partition"], latest["ticket"]["subject"]) == (DAYS[1], "Updated")


def test_openapi_documents_every_route_and_parameter(api):
    assert requests.get(api["url"] + "/docs", timeout=10).status_code == 200
    spec = requests.get(api["url"] + "/openapi.json", timeout=10).json()
    parameters = {path: {p["name"] for op in item.values() for p in op.get("parameters", [])} for path, item in spec["paths"].items()}
    assert parameters["/v1/search"] >= {"q", "start", "end", "label", "limit", "format", "authorization"}
    assert parameters["/v1/tables/{name}"] >= {"name", "start", "end", "limit", "offset", "format"}
    assert parameters["/v1/analytics/sentiment"] >= {"start", "end", "group_by"}
    assert parameters["/v1/reports/daily"] >= {"date"}
    assert all(op.get("summary") for item in spec["paths"].values() for op in item.values())


def test_docs_and_redoc_load_every_asset_from_the_server_itself(tmp_path):
    """Offline is normal: the pages name no external URL, and each asset they load is served."""
    with serving(create_app(str(tmp_path), KeyStore(tmp_path / "keys.sqlite"))) as url:
        for page in ("/docs", "/redoc"):
            html = requests.get(f"{url}{page}", timeout=30).text
            assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html) + re.findall(r"url: ['\"]([^'\"]+)['\"]", html)
            assert assets and not [a for a in assets if a.startswith(("http://", "https://", "//"))], (page, assets)
            for asset in assets:
                answer = requests.get(f"{url}{asset}", timeout=30)
                assert answer.status_code == 200 and len(answer.content) > 100, (page, asset)
