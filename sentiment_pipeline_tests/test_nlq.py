"""POST /v1/nlq: the question set of benchmarks/nlq_questions.py over real HTTP against a
materialized sample lake (gold answers from polars over the Parquet files), the cache echo,
UTC days, and the grammar's pure parts."""

import re
from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from benchmarks.nlq import clock, score, table
from benchmarks.nlq_questions import ANSWERABLE, LAKE, REFUSED, TODAY
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.api.nlq import NotUnderstood, compile_sql, interpret

from .helpers import api_keys, materialized_lake
from .serving import serving


@pytest.fixture(scope="module")
def nlq_api(tmp_path_factory):
    """The benchmark's sample lake, served with the benchmark's fixed clock."""
    base = tmp_path_factory.mktemp("nlq")
    with materialized_lake(base, **LAKE) as (root, _):
        store = KeyStore(base / "keys.sqlite")
        app = create_app(str(root), store, clock=clock)
        with serving(app) as url:
            yield {"url": url, "keys": api_keys(store), "root": root, "app": app, "store": store}


def ask(api, question: str, key: str = "pii") -> requests.Response:
    return requests.post(
        api["url"] + "/v1/nlq", json={"question": question}, headers={"Authorization": f"Bearer {api['keys'][key]}"}, timeout=60
    )


@pytest.mark.slow
def test_every_answerable_question_is_right_and_every_other_refused(nlq_api):
    outcomes = score(nlq_api["url"], nlq_api["keys"]["pii"], nlq_api["root"])
    assert len([o for o in outcomes if o.kind == "answerable"]) >= 60 and len([o for o in outcomes if o.kind == "refused"]) >= 20
    assert all(o.right for o in outcomes), table(outcomes)
    assert not [o for o in outcomes if o.status == 200 and not o.right]  # never a wrong 200


@pytest.mark.slow
def test_a_cached_answer_echoes_each_callers_own_question(nlq_api):
    cache = nlq_api["app"].state.api.cache
    first = ask(nlq_api, "number of tickets by day last week").json()
    entries = len(cache)
    second = ask(nlq_api, "How many tickets per day last week?", key="plain").json()
    third = ask(nlq_api, "tickets by date last week", key="plain").json()
    assert len(cache) == entries + 1  # one more entry, for the caller without pii; the third is a hit
    assert first["question"] == "number of tickets by day last week"
    assert second["question"] == "How many tickets per day last week?"
    assert third["question"] == "tickets by date last week"
    assert first["interpreted"] == second["interpreted"] == third["interpreted"]
    assert first["rows"] == second["rows"] == third["rows"] and first["answer"] == third["answer"]


@pytest.mark.slow
def test_an_answer_shows_the_one_query_run_with_every_value_bound(nlq_api):
    body = ask(nlq_api, "negative tickets mentioning refunds via email for agent A007 not including CloudSync last week").json()
    assert body["columns"] == ["ticket_id", "date", "created_at", "subject", "channel", "product", "agent_id", "label", "compound"]
    assert body["parameters"]["agents"] == ["a007"] and body["parameters"]["not_products"] == ["cloudsync"]
    assert body["parameters"]["label"] == "negative" and body["parameters"]["start"] == "2025-11-24"
    for value in ("a007", "cloudsync", "refund", "email", "negative", "2025-11-24"):
        assert value not in body["sql"].lower()
    assert body["sql"].count("select") >= 1 and ";" not in body["sql"]
    assert body["answer"].endswith(".") and "refunds" in body["answer"]


@pytest.mark.slow
def test_a_refusal_names_the_part_and_suggests_questions_that_are_answered(nlq_api):
    refused = ask(nlq_api, "average csat by region last week")
    body = refused.json()
    assert refused.status_code == 422 and body["error"] == "not_understood"
    assert body["not_understood"] == ["by region"] and "average csat" in body["understood"] and "last week" in body["understood"]
    assert "average csat by channel last week" in body["examples"]
    examples = {example for question, _ in REFUSED for example in ask(nlq_api, question).json()["examples"]}
    for example in examples:
        assert ask(nlq_api, example).status_code == 200, example


@pytest.mark.slow
def test_today_and_yesterday_are_utc_days_whatever_zone_the_clock_is_in(nlq_api):
    evening_in_new_york = datetime(2025, 12, 1, 22, 30, tzinfo=timezone(timedelta(hours=-5)))  # 03:30 on Dec 2 in UTC
    with serving(create_app(str(nlq_api["root"]), nlq_api["store"], clock=lambda: evening_in_new_york)) as url:
        answer = requests.post(
            url + "/v1/nlq",
            json={"question": "tickets yesterday"},
            headers={"Authorization": f"Bearer {nlq_api['keys']['pii']}"},
            timeout=30,
        )
    assert answer.status_code == 200
    assert (answer.json()["interpreted"]["start"], answer.json()["interpreted"]["end"]) == ("2025-12-01", "2025-12-01")


@pytest.mark.parametrize(
    ("question", "today", "start", "end"),
    [
        ("tickets on Nov 29", date(2025, 11, 28), "2024-11-29", "2024-11-29"),  # no year: the latest one not after today
        ("tickets in October", date(2025, 9, 15), "2024-10-01", "2024-10-31"),
        ("tickets last week", date(2025, 12, 1), "2025-11-24", "2025-11-30"),  # on a Monday: the whole week before
        ("tickets this week", date(2025, 12, 7), "2025-12-01", "2025-12-07"),
        ("tickets the last 14 days", date(2025, 12, 2), "2025-11-19", "2025-12-02"),
        ("tickets last month", date(2025, 1, 10), "2024-12-01", "2024-12-31"),
        ("tickets between 2025-02-27 and March 2nd", date(2025, 6, 1), "2025-02-27", "2025-03-02"),
        ("tickets today", date(2025, 6, 1), "2025-06-01", "2025-06-01"),
    ],
)
def test_natural_days(question, today, start, end):
    query = interpret(question, today)
    assert (query.start, query.end) == (start, end)


@pytest.mark.parametrize(
    ("question", "part"),
    [("tickets on Feb 30", "feb 30"), ("negative tickets by channel by product", "by product"), ("tickets; select 1", "; select 1")],
)
def test_a_part_that_cannot_be_placed_is_named(question, part):
    with pytest.raises(NotUnderstood) as refused:
        interpret(question, date(2025, 12, 2))
    assert any(part in named for named in refused.value.not_understood)


def test_no_value_from_a_question_is_written_into_the_sql():
    for question, _ in ANSWERABLE:
        sql, params, _ = compile_sql(interpret(question, TODAY))
        placeholders = set(re.findall(r"\$(\w+)", sql))
        assert placeholders == set(params), question  # every value bound, none left over
        for name in ("agents", "products", "not_products", "channels", "not_channels", "forms"):
            for value in params.get(name, []) if name != "forms" else [params.get(name)]:
                assert value is None or value not in sql.lower(), (question, value)
