"""Ticket text through the read API, over real HTTP against a lake the pipeline wrote: masked
e-mail addresses and phone numbers as keyed tokens (one value, one token, on every route and
in every format), entity offsets into the text as returned, and search by word forms with a
total and an offset. Expected values are recomputed here from the Parquet files."""

import hashlib
import hmac
import io
import os
import re
import stat
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import requests
import snowballstemmer
import vaderSentiment

from sentiment_pipeline import sentiment, storage
from sentiment_pipeline.api import masking, nlq
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.api.reads import DateRange, Reader
from sentiment_pipeline.api.search import forms, pieces, query_words

from .helpers import api_keys, materialized_lake
from .serving import serving

DAYS = ("2025-01-02", "2025-01-03")
MASK_KEY = "test-mask-key-" + "0123456789abcdef" * 2
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")  # the sample's addresses: ana12@example.com
PHONE = re.compile(r"\+1 415-555-(\d{4})|\+1415555(\d{4})")  # the sample's numbers, as written and in E.164


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """Two sample days, served with a masking key this test knows, and keys: pii, plain, revoked."""
    base = tmp_path_factory.mktemp("api_text")
    with materialized_lake(base, days=2, rows_per_day=150, extra_cols=2, end=date.fromisoformat(DAYS[1])) as (root, patch):
        patch.setenv("SENTIMENT_MASK_KEY", MASK_KEY)
        store = KeyStore(base / "keys.sqlite")
        keys = api_keys(store)
        with serving(create_app(str(root), store)) as url:
            yield {"url": url, "keys": keys, "root": str(root)}


def get(api, path, key="pii", **params) -> requests.Response:
    answer = requests.get(api["url"] + path, headers={"Authorization": f"Bearer {api['keys'][key]}"}, params=params, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer


def token(kind: str, value: str) -> str:
    return f"[{kind}:{hmac.new(MASK_KEY.encode(), f'{kind}:{value}'.encode(), hashlib.sha256).hexdigest()[:12]}]"


def masked(text: str | None) -> str | None:
    """``text`` as a caller without the pii scope must see it, computed here."""
    if text is None:
        return None
    text = EMAIL.sub(lambda m: token("email", m.group(0).lower()), text)
    return PHONE.sub(lambda m: token("phone", "+1415555" + (m.group(1) or m.group(2))), text)


def search_rows(api, key: str, fmt: str = "json", **params) -> pl.DataFrame:
    answer = get(api, "/v1/search", key=key, start=DAYS[0], end=DAYS[1], limit=1000, format=fmt, **params)
    if fmt == "json":
        return pl.DataFrame(answer.json()["rows"])
    return pl.read_csv(io.BytesIO(answer.content), infer_schema=False) if fmt == "csv" else pl.read_parquet(io.BytesIO(answer.content))


def test_one_address_one_token_in_every_route_and_format(api):
    clear = search_rows(api, "pii", q="example")  # every ticket with an address (or a status.example.com link)
    addresses = {a.lower() for body in clear.get_column("body") for a in EMAIL.findall(body)}
    assert len(addresses) > 20 and any(EMAIL.search(body) for body in clear.get_column("body")), "the pii scope sees originals"
    expected = {row["ticket_id"]: masked(row["body"]) for row in clear.iter_rows(named=True)}
    for fmt in ("parquet", "csv", "json"):
        shown = search_rows(api, "plain", fmt, q="example")
        assert dict(zip(shown.get_column("ticket_id"), shown.get_column("body"), strict=True)) == expected, fmt
    tokens = {t for body in shown.get_column("body") for t in re.findall(r"\[email:[0-9a-f]{12}\]", body)}
    assert len(tokens) == len(addresses)  # N distinct addresses, N distinct tokens

    repeated = clear.filter(pl.col("body").str.contains("@")).head(12)
    for row in repeated.iter_rows(named=True):
        original = get(api, f"/v1/tickets/{row['ticket_id']}").json()
        detail = get(api, f"/v1/tickets/{row['ticket_id']}", key="plain").json()
        assert detail["ticket"]["body"] == expected[row["ticket_id"]]  # the same token as in search
        assert [m["text"] for m in detail["conversation"]] == [masked(m["text"]) for m in original["conversation"]]
        assert any(e["type"] == "email" for e in detail["entities"])
        for entity, was in zip(detail["entities"], original["entities"], strict=True):
            assert original["ticket"][was["field"]][was["start"] : was["end"]] == was["text"]
            assert detail["ticket"][entity["field"]][entity["start"] : entity["end"]] == entity["text"]  # offsets into the text returned
            assert (entity["text"], entity["normalized"]) == (masked(was["text"]), masked(was["normalized"]))

    day = DAYS[1]
    mentions_clear = get(api, "/v1/tables/daily_entity_mentions", start=day, end=day, type="email").json()["rows"]
    for fmt in ("json", "csv"):
        answer = get(api, "/v1/tables/daily_entity_mentions", key="plain", start=day, end=day, type="email", format=fmt)
        rows = answer.json()["rows"] if fmt == "json" else pl.read_csv(io.BytesIO(answer.content)).to_dicts()
        assert sorted(r["normalized"] for r in rows) == sorted(masked(r["normalized"]) for r in mentions_clear)
    report = get(api, "/v1/reports/daily", key="plain", date=day).json()
    clear_report = get(api, "/v1/reports/daily", date=day).json()
    assert [e["normalized"] for e in report["top_entities"]] == [masked(e["normalized"]) for e in clear_report["top_entities"]]


def test_phone_numbers_get_a_token_each_whatever_the_spelling(api):
    clear = search_rows(api, "pii", q="415")
    numbers = {m.group(1) for body in clear.get_column("body") for m in PHONE.finditer(body)}
    shown = search_rows(api, "plain", "parquet", q="415")
    assert len(numbers) > 5 and dict(zip(shown["ticket_id"], shown["body"], strict=True)) == {
        r["ticket_id"]: masked(r["body"]) for r in clear.iter_rows(named=True)
    }
    assert masking.mask_value(["+1 415-555-0101", "(415) 555-0101", "415.555.0101"]) == [token("phone", "+14155550101")] * 3
    email = token("email", "ana1@example.com")
    assert masking.mask_value([" Ana1@Example.COM", "ana1@example.com"]) == [f" {email}", email]


def test_without_a_configured_key_one_is_made_beside_the_key_database_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SENTIMENT_MASK_KEY", raising=False)
    monkeypatch.setenv("SENTIMENT_API_DB", str(tmp_path / "state" / "keys.sqlite"))
    first = masking.mask_value("write to ana@example.com")
    stored = tmp_path / "state" / "mask.key"
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600 and len(stored.read_text().strip()) == 64
    masking._stored_key.cache_clear()  # as a restarted server reads it
    assert masking.mask_value("write to ana@example.com") == first and "ana@" not in first
    assert [p.name for p in stored.parent.iterdir()] == ["mask.key"]


def test_columns_of_any_name_are_masked_even_value_and_variable():
    frame = pl.DataFrame({"value": ["mail ann@example.com"], "variable": ["+1 415-555-0199"], "n": [1]})
    masked = masking.mask_frame(frame).row(0, named=True)
    assert masked["value"].startswith("mail [email:") and masked["variable"].startswith("[phone:") and masked["n"] == 1
    assert masking.mask_frame(pl.DataFrame({"n": [1]})).equals(pl.DataFrame({"n": [1]}))


def test_a_short_configured_key_is_refused(monkeypatch):
    monkeypatch.setenv("SENTIMENT_MASK_KEY", "short")
    with pytest.raises(ValueError, match="SENTIMENT_MASK_KEY"):
        masking.mask_value("ana@example.com")


# --- search ---------------------------------------------------------------------------------

STEM = snowballstemmer.stemmer("english").stemWords


@pytest.fixture(scope="module")
def tickets(api) -> pl.DataFrame:
    """Every ticket of the range with its label, read from the Parquet files."""
    return (
        storage.scan_partitions(api["root"], "ticket", list(DAYS))
        .select("ticket_id", "partition_date", "created_at", "subject", "body")
        .join(
            storage.scan_partitions(api["root"], "sentiment", list(DAYS)).select("ticket_id", "partition_date", "label"),
            on=["ticket_id", "partition_date"],
        )
        .collect()
    )


def holds(text: str | None, query: str) -> bool:
    """The query's words, in a row, in ``text``, each word compared by its Snowball stem."""
    words, wanted = STEM(re.findall(r"[^\W_]+", (text or "").lower())), STEM(re.findall(r"[^\W_]+", query.lower()))
    return any(words[i : i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1))


def expected_ids(tickets: pl.DataFrame, query: str, label: str | None = None) -> list[str]:
    rows = [r for r in tickets.sort(["created_at", "ticket_id"], descending=[True, False]).iter_rows(named=True)]
    return [r["ticket_id"] for r in rows if (holds(r["subject"], query) or holds(r["body"], query)) and label in (None, r["label"])]


@pytest.mark.parametrize(
    ("query", "label", "offset"),
    [
        ("refunds", None, 0),
        ("REFUND", None, 7),
        ("charge", "negative", 3),
        ("charged twice", None, 0),
        ("emails", None, 2),
        ("crashing", None, 5),
    ],
)
def test_search_total_offset_and_word_forms_match_a_recomputation(api, tickets, query, label, offset):
    want = expected_ids(tickets, query, label)
    assert want, f"the sample has tickets for {query!r}"
    body = get(
        api, "/v1/search", q=query, start=DAYS[0], end=DAYS[1], limit=10, offset=offset, **({"label": label} if label else {})
    ).json()
    assert (body["total"], body["offset"], body["count"]) == (len(want), offset, len(want[offset : offset + 10]))
    assert [r["ticket_id"] for r in body["rows"]] == want[offset : offset + 10]


def test_word_forms_find_what_the_literal_word_misses(api, tickets):
    literal = tickets.filter(pl.col("body").str.to_lowercase().str.contains(r"\brefunds\b")).height
    found = get(api, "/v1/search", q="refunds", start=DAYS[0], end=DAYS[1]).json()["total"]
    assert found > literal and found == len(expected_ids(tickets, "refund"))
    assert get(api, "/v1/search", q="charge", start=DAYS[0], end=DAYS[1]).json()["total"] == len(expected_ids(tickets, "charged"))


def test_every_form_of_a_word_holds_its_piece():
    """What lets DuckDB read only the tickets holding a piece: every word of VADER's lexicon and the
    labelled support messages holds the piece of its own stem, but Snowball's irregular -ying verbs."""
    lexicon = Path(vaderSentiment.__file__).with_name("vader_lexicon.txt").read_text(encoding="utf-8")
    messages = Path(sentiment.__file__).with_name("data").joinpath("support_messages.csv").read_text(encoding="utf-8")
    words = sorted({w for line in lexicon.splitlines() for w in query_words(line.split("\t")[0])} | set(query_words(messages)))
    missed = [w for w, stem in zip(words, STEM(words), strict=True) if (stem[:-1] or stem) not in w]
    assert len(words) > 9000 and missed == ["lying"]
    assert pieces(["refunds", "happiness", "lying", "e1042"]) == ["refun", "happ", "l", "e104"]  # a query word holds its own


def test_forms_are_found_in_a_body_whose_ticket_has_no_subject():
    found = pl.DataFrame({"subject": [None, "Refund please", "x"], "body": ["we refunded you", "", "charged twice, refunds pending"]})
    for words, want in ((["refunds"], [True, True, True]), (["charge", "twice"], [False, False, True])):
        pattern = forms(words, found)
        texts = [pl.col(c).str.to_lowercase().str.contains(pattern).fill_null(False) for c in ("subject", "body")]
        assert found.select(pl.any_horizontal(texts)).to_series().to_list() == want


def test_paging_past_the_end_still_counts(api, tickets):
    want = len(expected_ids(tickets, "refund"))
    body = get(api, "/v1/search", q="refund", start=DAYS[0], end=DAYS[1], offset=want + 5).json()
    assert (body["total"], body["count"], body["rows"]) == (want, 0, [])
    nothing = get(api, "/v1/search", q="zyzzyva", start=DAYS[0], end=DAYS[1], offset=3).json()
    assert (nothing["total"], nothing["count"]) == (0, 0)


def test_search_and_nlq_find_the_same_tickets_for_a_word(api, tickets):
    """One rule in both routes: each word (plural, past, -ing) finds the recomputed tickets through
    /v1/search and through NLQ's "tickets mentioning", over HTTP; the phrase, which NLQ's grammar
    does not read, through NLQ's own query (``Reader.question``) on the same lake."""
    for word in ("refunds", "charged", "crashing", "emails", "waiting", "appreciated"):  # appreciate: what word_forms missed
        want = expected_ids(tickets, word)
        assert want, f"the sample has tickets for {word!r}"
        searched = get(api, "/v1/search", q=word, start=DAYS[0], end=DAYS[1], limit=1000).json()["rows"]
        asked = requests.post(
            api["url"] + "/v1/nlq",
            json={"question": f"list tickets mentioning {word} from {DAYS[0]} to {DAYS[1]}"},
            headers={"Authorization": f"Bearer {api['keys']['pii']}"},
            timeout=60,
        )
        assert asked.status_code == 200, asked.text
        assert [r["ticket_id"] for r in searched] == [r["ticket_id"] for r in asked.json()["rows"]] == want, word
    phrase = "charged twice"
    query = nlq.Query(measure="tickets", start=DAYS[0], end=DAYS[1], mentioning=phrase, list_tickets=True)
    _, params, rows = Reader(api["root"]).question(query, DateRange.parse(*DAYS))
    searched = get(api, "/v1/search", q=phrase, start=DAYS[0], end=DAYS[1], limit=1000).json()["rows"]
    want = expected_ids(tickets, phrase)
    assert want and [r["ticket_id"] for r in searched] == rows["ticket_id"].to_list() == want
    assert params["forms"] == forms(["charged", "twice"], tickets)  # the forms the lake's tickets have
