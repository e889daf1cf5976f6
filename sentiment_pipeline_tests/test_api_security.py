"""The read API's guarantees, over real HTTP (uvicorn on 127.0.0.1) against a lake the pipeline
wrote: the OpenAPI contract (schemathesis), a key on every /v1 route, keys stored only as
hashes, PII masked on every route that returns text, request and result size limits, user
input never spliced into SQL, and a short load run with no error."""

import hashlib
import io
import re
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from sentiment_pipeline import sample, storage
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.errors import MAX_BODY
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.api.masking import mask_frame, mask_value
from sentiment_pipeline.entities import extract_entities, product_catalog

from .helpers import api_keys, materialized_lake
from .serving import serving

pytestmark = pytest.mark.slow

SAMPLE_DAY, PII_DAY = "2025-01-02", "2025-01-03"
EMAILS = ["jane.doe@corp.example.com", "Omar.K+billing@mail.example.org", "kim.lee@support.example.net"]
PHONES = ["+1 415-555-0199", "(415) 555-0123", "415.555.0147", "+44 20 7946 0958", "06 12 34 56 78"]
NORMALIZED = [e.lower() for e in EMAILS] + ["+14155550199", "+14155550123", "+14155550147", "+442079460958", "+10612345678"]
# Three tickets of one agent whose id is an e-mail, PII in subject, body, product and a custom field.
PII_TICKETS = f"""ticket_id,created_at,subject,body,channel,product,agent_id,contact
PII1,{PII_DAY}T09:00:00Z,Call me on {PHONES[0]},"I am Jane ({EMAILS[0]}), reach me at {PHONES[1]}. Still waiting.",email,Acme Router X2,{EMAILS[2]},{PHONES[3]}
PII2,{PII_DAY}T10:00:00Z,Invoice for {EMAILS[1]},"Please send the invoice to {EMAILS[1]} or call {PHONES[2]}, thanks!",chat,Reseller desk {PHONES[2]},{EMAILS[2]},{EMAILS[0]}
PII3,{PII_DAY}T11:00:00Z,Router question,"Which firmware is current? Reply to {EMAILS[0]} or {PHONES[4]}",web,Acme Router X2,{EMAILS[2]},
"""
UNAUTHORIZED = {"error": "unauthorized", "message": "missing, unknown or revoked API key: send `Authorization: Bearer <key>`"}
OPEN_ROUTES = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static-offline-docs"}  # + the docs' own JS/CSS
OPEN_ROUTES |= {"/", "/dashboard/{name}"}  # the dashboard's page and files: no data (the page asks for a key)


class RecordingDatabase:
    """The reader's DuckDB database, keeping the text of every statement run on its cursors."""

    def __init__(self, database, statements: list[str]):
        self.database, self.statements = database, statements

    def cursor(self):
        return RecordingCursor(self.database.cursor(), self.statements)

    def __getattr__(self, name):
        return getattr(self.database, name)


class RecordingCursor(RecordingDatabase):
    def sql(self, query: str, **options):
        self.statements.append(query)
        return self.database.sql(query, **options)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A sample day and a day of PII tickets materialized by the pipeline, served with keys: pii, plain, revoked."""
    base = tmp_path_factory.mktemp("api_security")
    pii = {f"{PII_DAY}/pii.csv": PII_TICKETS}
    with materialized_lake(base, days=1, rows_per_day=60, extra_cols=2, end=date.fromisoformat(SAMPLE_DAY), more_landing=pii) as (root, _):
        store = KeyStore(base / "keys.sqlite")
        keys = api_keys(store)
        statements: list[str] = []
        with pytest.MonkeyPatch.context() as recording:
            connect = storage.duckdb_connection
            recording.setattr(storage, "duckdb_connection", lambda **options: RecordingDatabase(connect(**options), statements))
            app = create_app(str(root), store)
        with serving(app) as url:
            yield {"url": url, "app": app, "keys": keys, "db": base / "keys.sqlite", "statements": statements}


def call(api, method: str, path: str, key: str | None = "pii", **options) -> requests.Response:
    headers = {"Authorization": f"Bearer {api['keys'][key]}"} if key else {}
    return requests.request(method, api["url"] + path, headers={**headers, **options.pop("headers", {})}, timeout=30, **options)


def every_route(routes):
    """The app's routes, those of included routers too (FastAPI keeps an included router as one entry)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from every_route(route.original_router.routes)
        else:
            yield route


def v1_routes(app) -> list[tuple[str, str]]:
    routes = list(every_route(app.routes))
    assert all(route.path in OPEN_ROUTES or route.path.startswith("/v1/") for route in routes), "a new open route must be listed here"
    return [(route.path, method) for route in routes if route.path.startswith("/v1/") for method in route.methods]


def test_openapi_contract_holds_for_generated_requests(api):
    """Schemathesis, for every operation of the served document: no 5xx, and every status, content
    type and body is one the document gives. Schema-valid requests may still be refused (start
    after end, a range over three years, a question not understood): the schema cannot say that,
    so `positive_data_acceptance` is left out; the refusal itself is still checked."""
    schema = schemathesis.openapi.from_url(api["url"] + "/openapi.json")
    headers = {"Authorization": f"Bearer {api['keys']['pii']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(v1_routes(api["app"])) + 2  # /health and the dashboard's page too
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def generated(case):
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        generated()


@pytest.mark.parametrize("header", [None, "Bearer sp_not-a-real-key", "revoked", "stored hash", "Basic pii", "Bearer ", "pii"])
def test_every_v1_route_refuses_a_missing_wrong_or_revoked_key_alike(api, header):
    """Every route the app has, found from app.routes, before any parameter is even validated; the
    hash stored in SQLite does not work as a key either."""
    pii = api["keys"]["pii"]
    value = {
        "revoked": f"Bearer {api['keys']['revoked']}",
        "stored hash": f"Bearer {hashlib.sha256(pii.encode()).hexdigest()}",
        "Basic pii": f"Basic {pii}",
        "pii": pii,
    }.get(header, header)
    routes = v1_routes(api["app"])
    assert len(routes) >= 7
    for path, method in routes:
        answer = call(api, method, re.sub(r"\{[^}]+\}", "x", path), key=None, headers={"Authorization": value} if value else {})
        assert (answer.status_code, answer.json()) == (401, UNAUTHORIZED), (method, path)
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_keys_are_stored_only_as_hashes(api):
    stored = b"".join(path.read_bytes() for path in api["db"].parent.glob(api["db"].name + "*"))  # with any -wal/-journal
    with sqlite3.connect(api["db"]) as connection:
        hashes = {row[0] for row in connection.execute("select key_hash from api_keys")}
    for key in api["keys"].values():
        assert key.encode() not in stored and key.removeprefix("sp_").encode() not in stored
        assert hashlib.sha256(key.encode()).hexdigest() in hashes


def text_of(answer: requests.Response) -> str:
    """The body as text; a Parquet body is read back and written as CSV."""
    assert answer.status_code == 200, answer.text
    if answer.headers["content-type"].startswith("application/vnd.apache.parquet"):
        return pl.read_parquet(io.BytesIO(answer.content)).write_csv()
    return answer.content.decode()


def pii_reads() -> list[tuple[str, str, dict]]:
    """Every route that returns ticket text, entity values, products or agents, in every format it has."""
    span = {"start": PII_DAY, "end": PII_DAY}
    reads = [("GET", f"/v1/tickets/{ticket}", {"params": {"custom_fields": "true"}}) for ticket in ("PII1", "PII2", "PII3")]
    reads += [
        ("GET", "/v1/reports/daily", {"params": {"date": PII_DAY}}),
        ("POST", "/v1/nlq", {"json": {"question": f"tickets by product between {PII_DAY} and {PII_DAY}"}}),
    ]
    for fmt in ("json", "csv", "parquet"):
        reads += [
            ("GET", f"/v1/tables/{name}", {"params": {**span, "format": fmt}})
            for name in ("daily_sentiment_summary", "daily_entity_mentions", "daily_agent_summary")
        ]
        reads += [
            ("GET", "/v1/analytics/sentiment", {"params": {**span, "group_by": "product", "format": fmt}}),
            ("GET", "/v1/search", {"params": {**span, "q": "call", "format": fmt}}),
        ]
    return reads


@pytest.mark.parametrize(("method", "path", "options"), pii_reads())
def test_emails_and_phones_are_masked_without_the_pii_scope(api, method, path, options):
    masked, clear = (text_of(call(api, method, path, key=key, **options)) for key in ("plain", "pii"))
    assert any(value in clear for value in EMAILS + PHONES + NORMALIZED), "the pii scope sees them"
    assert not [value for value in EMAILS + PHONES + NORMALIZED if value in masked]
    assert not re.search(r"@[A-Za-z0-9-]+\.", masked)  # nothing of an address is left, not even its domain
    assert re.search(r"\[(?:email|phone):[0-9a-f]{12}\]", masked)


PHONE_STYLES = [
    "+1 415-555-0199",
    "+1.415.555.0199",
    "+14155550199",
    "(415) 555-0123",
    "415.555.0147",
    "415 555 0188",
    "1-800-555-0199",
    "+44 20 7946 0958",
    "+44 (0) 20 7946 0958",
    "020 7946 0958",
    "(020) 7946 0958",
    "06 12 34 56 78",
    "06.12.34.56.78",
    "+33 6 12 34 56 78",
    "0612 345 678",
    "030 1234 5678",
    "07700 900123",
]


def test_the_mask_hides_every_phone_style_and_every_email_and_phone_the_extractor_finds():
    """Both masks (polars for frames, re for nested values) over known phone styles and the sample's
    entity tickets; and every e-mail or phone the pipeline's own extractor finds there."""
    tickets, _ = sample.entity_tickets(1000)
    styles = pl.DataFrame(
        {
            "ticket_id": [str(n) for n in range(len(PHONE_STYLES))],
            "subject": "call me",
            "body": [f"call me at {phone} please" for phone in PHONE_STYLES],
        }
    )
    texts = pl.concat([tickets, styles])
    found = extract_entities(texts, product_catalog()).filter(pl.col("type").is_in(["email", "phone"]))
    assert found.height > 300 and set(PHONE_STYLES) - set(found.get_column("text")) <= {
        "+14155550199",
        "+44 (0) 20 7946 0958",
        "020 7946 0958",
        "(020) 7946 0958",
        "+33 6 12 34 56 78",
        "030 1234 5678",
        "07700 900123",
        "1-800-555-0199",
    }
    secrets = set(found.get_column("text")) | set(PHONE_STYLES)
    for masked in (mask_frame(texts).to_dicts(), mask_value(texts.to_dicts())):
        shown = "\n".join(value for row in masked for value in row.values())
        assert not [secret for secret in secrets if secret in shown]


def test_oversized_requests_get_a_4xx_and_the_server_keeps_answering(api):
    huge = b'{"question": "' + b"x" * (4 * MAX_BODY) + b'"}'
    for body in (huge, iter([huge[i : i + 4096] for i in range(0, len(huge), 4096)])):  # sized, then chunked with no length
        answer = call(api, "POST", "/v1/nlq", data=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 413 and answer.json()["error"] == "request_entity_too_large", answer.text
    assert call(api, "POST", "/v1/nlq", json={"question": "tickets " * 100}).status_code == 422  # over 500 characters
    long_query = call(api, "GET", "/v1/search", params={"q": "x", "pad": "y" * 10_000})
    assert long_query.status_code == 414 and long_query.json()["message"]
    assert 400 <= call(api, "GET", "/v1/search", params={"q": "x", "pad": "y" * 1_000_000}).status_code < 500
    for path, params in [
        ("/v1/tables/daily_agent_summary", {"limit": 10**9}),
        ("/v1/tables/daily_agent_summary", {"offset": 10**30}),
        ("/v1/tables/daily_agent_summary", {"limit": 0}),
        ("/v1/search", {"q": "x", "limit": 10**6}),
        ("/v1/search", {"q": "x" * 201}),
    ]:
        answer = call(api, "GET", path, params=params)
        assert answer.status_code == 422 and answer.json()["error"] == "invalid_request", (path, params, answer.text)
    assert requests.get(api["url"] + "/health", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("question", "status"), [("tickets between 2025-02-30 and 2025-03-01", 422), ("tickets between 0001-01-01 and 9999-12-31", 400)]
)
def test_nlq_a_day_that_does_not_exist_is_not_understood_and_a_huge_range_is_a_400(api, question, status):
    answer = call(api, "POST", "/v1/nlq", json={"question": question})
    assert answer.status_code == status and answer.json()["message"], answer.text


def test_a_date_near_year_one_is_a_400_not_a_crash(api):
    answer = call(api, "GET", "/v1/analytics/sentiment", params={"end": "0001-01-05"})
    assert answer.status_code == 400 and "0001-01-01" in answer.json()["message"]


MARK = "zq9"  # in every fragment, in no SQL the API writes
INJECTIONS = [
    f"{MARK}' OR '1'='1",
    f"{MARK}'; DROP TABLE ticket; --",
    f'{MARK}" OR ""="',
    f"{MARK}') UNION SELECT * FROM duckdb_settings() --",
    f"{MARK}$limit",
    f"{MARK}'||(select version())||'",
]


def injected_requests(fragment: str) -> list[tuple[str, str, dict, set[int]]]:
    """(method, path, options, accepted statuses) with ``fragment`` in each parameter in turn."""
    span = {"start": SAMPLE_DAY, "end": SAMPLE_DAY}
    table = "/v1/tables/daily_agent_summary"
    data, refused, missing = {200}, {400, 422}, {404}
    return [
        ("GET", f"/v1/tables/{fragment}", {}, missing),
        ("GET", table, {"params": {**span, "agent_id": fragment}}, data),
        ("GET", table, {"params": {**span, fragment: "A001"}}, refused),
        *[("GET", table, {"params": {**span, name: fragment}}, refused) for name in ("start", "end", "limit", "offset", "format")],
        *[("GET", "/v1/analytics/sentiment", {"params": {**span, name: fragment}}, data) for name in ("product", "channel")],
        ("GET", "/v1/analytics/sentiment", {"params": {**span, "group_by": fragment}}, refused),
        ("GET", f"/v1/tickets/{fragment}", {}, missing),
        ("GET", "/v1/search", {"params": {**span, "q": fragment}}, data),
        ("GET", "/v1/search", {"params": {**span, "q": "refund", "label": fragment}}, refused),
        ("GET", "/v1/reports/daily", {"params": {"date": fragment}}, refused),
        ("POST", "/v1/nlq", {"json": {"question": f"tickets about {fragment} yesterday"}}, {422}),  # a part it cannot place
        ("POST", "/v1/nlq", {"json": {"question": f"tickets mentioning {fragment} yesterday"}}, {422}),
    ]


def test_sql_fragments_in_every_parameter_are_answered_as_data(api):
    """Each fragment is refused or matched as a plain value, and none reaches the text of any SQL
    statement DuckDB ran (every statement the reader ran is recorded)."""
    tables = call(api, "GET", "/v1/tables").json()
    api["statements"].clear()
    for fragment in INJECTIONS:
        for method, path, options, accepted in injected_requests(fragment):
            answer = call(api, method, path, **options)
            assert answer.status_code in accepted, (method, path, options, answer.text)
            if answer.status_code == 200 and "rows" in answer.json():
                assert answer.json()["count"] == 0 or path.endswith("nlq"), (path, options)
    assert api["statements"], "the reader's statements were recorded"
    assert not [statement for statement in api["statements"] if MARK in statement]
    assert call(api, "GET", "/v1/tables").json() == tables  # nothing was changed or dropped


def test_short_load_run_has_no_error():
    """benchmarks/api_load.py in its short form: a second process, a server subprocess, no timing asserted."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "api_load.py"
    run = subprocess.run(
        [sys.executable, str(script), "--seconds", "3", "--clients", "4", "--days", "2", "--rows", "40"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    overall = next(line.split() for line in run.stdout.splitlines() if line.startswith("all "))
    assert int(overall[1]) > 0 and float(overall[2]) > 0 and overall[-1] == "0"
