"""The dashboard in a real browser: Debian's Chromium driven by Playwright (no browser download),
over the API served on a lake the pipeline materialized from the demo's story (30 days with a
product incident). Every chart must draw as many points as the API returns, the incident must
be flagged and open its tickets and a conversation, the console must stay clean, and a key
without the `pii` scope must never show an e-mail address or a phone number. Screenshots are
saved under test-artifacts/dashboard/ (SENTIMENT_TEST_ARTIFACTS to put them elsewhere)."""

import os
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import requests

from sentiment_pipeline import sample
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore

from .helpers import api_keys, materialized_lake
from .serving import serving

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

END = date(2025, 3, 30)  # the story's last day
START = END - timedelta(days=29)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("SENTIMENT_TEST_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts")) / "dashboard"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
PHONE = re.compile(r"(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")  # +1 415-555-0199, (415) 555 0199
CHARTS = ("chart-volume", "chart-negative", "chart-csat", "chart-channel", "chart-product", "chart-heatmap")
TRACES = """id => Array.from(document.getElementById(id).data).map(t => ({
    name: t.name, points: t.type === 'heatmap' ? t.z.flat().filter(v => v !== null).length : t.x.length}))"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium (apt-get install -y chromium)")
    base = tmp_path_factory.mktemp("dashboard")
    with materialized_lake(base, days=30, rows_per_day=150, extra_cols=2, end=END, story=True) as (root, _):
        store = KeyStore(base / "keys.sqlite")
        with serving(create_app(str(root), store, cache_size=0)) as url:
            yield {"url": url, "keys": api_keys(store), "root": root}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def get(site, path, key="pii", **params):
    answer = requests.get(site["url"] + path, headers={"Authorization": f"Bearer {site['keys'][key]}"}, params=params, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def opened(browser, site, key: str):
    """A fresh tab (its own sessionStorage) that logged in with ``key`` and drew the story's range;
    with the console errors it logged."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(site["url"] + "/")
    page.fill("#start", START.isoformat())
    page.fill("#end", END.isoformat())
    page.fill("#key", site["keys"][key])
    page.click("#key-form button[type=submit]")
    page.wait_for_function("['true', 'error'].includes(document.body.dataset.ready)", timeout=90_000)
    assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#status")
    return page, errors


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def test_every_chart_draws_the_points_the_api_returns(browser, site):
    page, errors = opened(browser, site, "pii")
    screenshot(page, "overview")
    span = {"start": START.isoformat(), "end": END.isoformat()}
    daily = get(site, "/v1/analytics/sentiment", **span, group_by="day")["rows"]
    flagged = {row["date"] for row in get(site, "/v1/tables/sentiment_alerts", **span, limit=10_000)["rows"]}
    by_channel = get(site, "/v1/analytics/sentiment", **span, group_by=["day", "channel"])["rows"]
    by_product = get(site, "/v1/analytics/sentiment", **span, group_by=["day", "product"])["rows"]
    heat = get(site, "/v1/analytics/sentiment", **span, group_by=["weekday", "hour"])["rows"]
    drawn = {chart: page.evaluate(TRACES, chart) for chart in CHARTS}
    assert [t["points"] for t in drawn["chart-volume"]] == [len(daily)] and len(daily) == 30
    assert [t["points"] for t in drawn["chart-negative"]] == [len(daily), len(daily), len(flagged)] and flagged
    assert [t["points"] for t in drawn["chart-csat"]] == [len(daily)]
    for chart, rows, key in (("chart-channel", by_channel, "channel"), ("chart-product", by_product, "product")):
        for trace in drawn[chart]:
            assert trace["points"] == sum(1 for row in rows if (row[key] or "(none)") == trace["name"]) > 0, (chart, trace)
    volume = {}
    for row in by_product:
        volume[row["product"]] = volume.get(row["product"], 0) + row["tickets"]
    eighth = sorted(volume.values(), reverse=True)[7]
    assert len(drawn["chart-product"]) == 8 and all(volume[t["name"]] >= eighth for t in drawn["chart-product"])
    assert {t["name"] for t in drawn["chart-channel"]} == {row["channel"] or "(none)" for row in by_channel}
    assert drawn["chart-heatmap"] == [{"name": None, "points": len(heat)}] or drawn["chart-heatmap"][0]["points"] == len(heat)
    cards = page.locator("#headline .card .value").all_inner_texts()
    total = get(site, "/v1/analytics/sentiment", **span, group_by="total")["rows"][0]
    assert cards[0] == f"{total['tickets']:,}" and cards[1] == f"{100 * total['share_negative']:.1f} %"
    assert errors == []


def test_the_incident_is_flagged_and_opens_its_tickets_and_a_conversation(browser, site):
    page, errors = opened(browser, site, "pii")
    incident = sample.INCIDENT
    rows = page.locator("#spikes tbody tr")
    texts = rows.all_inner_texts()
    with page.expect_download() as download:  # every table downloads as CSV: what it shows
        page.click("#spikes button[data-csv]")
    csv = pl.read_csv(download.value.path())
    assert csv.height == rows.count() and csv.columns[:4] == ["date", "dimension", "entity_type", "value"]
    assert page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]") == ["", 0, 1]  # the key: this tab only
    at = next(i for i, text in enumerate(texts) if f"product\t\t{incident.product}" in text and incident.day(END).isoformat() in text)
    rows.nth(at).click()
    page.wait_for_function("document.querySelector('#tickets-title').textContent.includes('behind the flag')")
    listed = page.locator("#tickets tbody tr")
    assert listed.count() > 0
    products = page.locator("#tickets tbody tr td:nth-child(5)").all_inner_texts()
    labels = page.locator("#tickets tbody tr td:nth-child(7)").all_inner_texts()
    assert set(products) == {incident.product} and set(labels) == {"negative"}
    screenshot(page, "flag-tickets")
    trajectories = page.locator("#tickets tbody tr td:nth-child(9)").all_inner_texts()
    listed.nth(next(i for i, t in enumerate(trajectories) if t != "single")).click()  # one with a conversation
    page.wait_for_selector("#ticket-section:not([hidden]) .message")
    messages = page.locator("#ticket .message")
    assert messages.count() >= 2
    assert all(
        re.search(r"· (positive|neutral|negative) \(-?\d\.\d{3}\)$", meta) for meta in page.locator("#ticket .meta").all_inner_texts()
    )
    screenshot(page, "conversation")
    assert errors == []


def test_a_key_without_pii_never_shows_an_email_address_or_phone_number(browser, site):
    span = {"start": START.isoformat(), "end": END.isoformat()}
    bodies = {
        row["ticket_id"]: row["body"] or ""
        for row in get(site, "/v1/tables/ticket", **span, columns="ticket_id,body", limit=10_000)["rows"]
    }
    shown = [next(t for t, body in bodies.items() if pattern.search(body)) for pattern in (EMAIL, PHONE)]  # opening messages
    for key in ("pii", "plain"):
        page, errors = opened(browser, site, key)
        seen = [page.content()]
        for ticket_id in shown:
            page.evaluate("id => showTicket(id)", ticket_id)
            page.wait_for_function("id => document.querySelector('#ticket-title').textContent.includes(id)", arg=ticket_id)
            seen.append(page.content())
        everything = "\n".join(seen)
        if key == "pii":  # the control: the same pages show them to a pii key
            assert EMAIL.search(everything) and PHONE.search(everything)
        else:
            screenshot(page, "masked-conversation")
            assert not EMAIL.search(everything) and not PHONE.search(everything)
            assert "[email:" in everything and "[phone:" in everything
        assert errors == []
