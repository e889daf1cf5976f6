"""Entity extraction: each type with offsets and normalization, and precision/recall on generated truth."""

import polars as pl
import pytest

from sentiment_pipeline.entities import extract_entities, product_catalog
from sentiment_pipeline.sample import entity_tickets

CATALOG = ["Acme Router X2", "Acme Router X2 Pro", "CloudSync"]


def mentions(body: str, subject: str | None = None, catalog=CATALOG) -> list[tuple]:
    tickets = pl.DataFrame({"ticket_id": ["T1"], "subject": [subject], "body": [body]})
    found = extract_entities(tickets, catalog)
    for row in found.iter_rows(named=True):  # offsets point at the text as written, in characters
        source = body if row["field"] == "body" else subject
        assert source[row["start"] : row["end"]] == row["text"]
    return found.select("type", "text", "normalized", "field", "start", "end").rows()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Order ord-123456 late", [("order_id", "ord-123456", "ORD-123456", "body", 6, 16)]),
        ("mail Ana.B@Example.COM now", [("email", "Ana.B@Example.COM", "ana.b@example.com", "body", 5, 22)]),
        ("call +1 415-555-0134", [("phone", "+1 415-555-0134", "+14155550134", "body", 5, 20)]),
        ("call (415) 555-0134.", [("phone", "(415) 555-0134", "+14155550134", "body", 5, 19)]),
        ("ring +44 20 7946 0958", [("phone", "+44 20 7946 0958", "+442079460958", "body", 5, 21)]),
        ("see https://x.example.com/a?b=1.", [("url", "https://x.example.com/a?b=1", "https://x.example.com/a?b=1", "body", 4, 31)]),
        ("(see http://example.org/help)", [("url", "http://example.org/help", "http://example.org/help", "body", 5, 28)]),
        ("paid $1,234.56", [("money", "$1,234.56", "1234.56 USD", "body", 5, 14)]),
        ("paid 49.99 EUR", [("money", "49.99 EUR", "49.99 EUR", "body", 5, 14)]),
        ("paid 1,299.00 USD", [("money", "1,299.00 USD", "1299.00 USD", "body", 5, 17)]),
        ("paid €15", [("money", "€15", "15.00 EUR", "body", 5, 8)]),
        (
            "got E1042 and ERR_TIMEOUT",
            [("error_code", "E1042", "E1042", "body", 4, 9), ("error_code", "ERR_TIMEOUT", "ERR_TIMEOUT", "body", 14, 25)],
        ),
        ("on v2.3.1 now", [("version", "v2.3.1", "2.3.1", "body", 3, 9)]),
        (
            "my acme router x2 pro and CloudSync",
            [("product", "acme router x2 pro", "Acme Router X2 Pro", "body", 3, 21), ("product", "CloudSync", "CloudSync", "body", 26, 35)],
        ),
        ("😀 emoji first: E2210", [("error_code", "E2210", "E2210", "body", 15, 20)]),
    ],
)
def test_each_type_with_offsets_and_normalization(body, expected):
    assert mentions(body) == expected


def test_products_match_whole_words_only_and_the_longest_name():
    assert mentions("CloudSyncer and acme router x2pro") == []
    assert [m[2] for m in mentions("Acme   Router X2 Pro!")] == ["Acme Router X2 Pro"]


def test_no_false_entities_in_dates_amounts_and_inside_urls():
    found = mentions("On 2025-01-02 at 10:30 I paid 3 times. https://example.com/v2.3.1/ORD-123456")
    assert [m[0] for m in found] == ["url"]


def test_subject_mentions_have_their_own_field_and_offsets():
    assert mentions("body", subject="Refund for ORD-000001") == [("order_id", "ORD-000001", "ORD-000001", "subject", 11, 21)]


def test_catalog_comes_from_the_environment(tmp_path, monkeypatch):
    catalog = tmp_path / "products.txt"
    catalog.write_text("# ours\nWidget Max\n\nGizmo\n")
    monkeypatch.setenv("SENTIMENT_PRODUCT_CATALOG", str(catalog))
    assert product_catalog() == ["Widget Max", "Gizmo"]


def test_precision_and_recall_per_type_on_generated_tickets():
    tickets, truth = entity_tickets(3000, seed=5)
    found = extract_entities(tickets, product_catalog())
    keys = ["ticket_id", "type", "normalized", "field", "start", "end"]
    for kind in sorted(truth.get_column("type").unique()):
        expected, got = truth.filter(pl.col("type") == kind), found.filter(pl.col("type") == kind)
        hits = got.join(expected, on=keys, how="semi").height
        assert hits / got.height >= 0.98, f"{kind} precision {hits / got.height:.3f}"
        assert hits / expected.height >= 0.98, f"{kind} recall {hits / expected.height:.3f}"
