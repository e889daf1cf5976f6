"""Entity mentions in ticket subjects and bodies: pure polars, no Python loop per ticket.

Each type is one regular expression run over the whole column (the product catalog is
one alternation, compiled once into an automaton). Polars gives the matches
(``extract_all``) and, from the same regex, the text between them (``replace_all`` with a
marker, then ``split``); the lengths of those pieces give every match's character
offsets without leaving polars.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import polars as pl

from sentiment_pipeline.schemas import ENTITY
from sentiment_pipeline.settings import load_settings

TEXT_FIELDS = ("subject", "body")
MARKER = "\uffff"  # a Unicode non-character: never in real text, so it cannot split one

# Order matters twice: a mention inside an earlier type's mention is dropped (an order id
# inside a URL is part of the URL), and it is the order of the output.
PATTERNS: dict[str, str] = {
    "url": r"(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]}]",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "order_id": r"(?i)\bORD-\d{4,12}\b",
    "money": (
        r"[$€£]\s?\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|[$€£]\s?\d+(?:\.\d{1,2})?"
        r"|\b\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?\s?(?:USD|EUR|GBP)\b|\b\d+(?:\.\d{1,2})?\s?(?:USD|EUR|GBP)\b"
    ),
    "phone": r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\b\d{2,4}(?:[\s.-]\d{2,4}){1,4}\b",
    "error_code": r"\b(?:E\d{3,5}|ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*)\b",
    "version": r"\b[vV]\d+(?:\.\d+){1,3}\b",
}
ENTITY_TYPES = (*PATTERNS, "product")  # every type a mention can have
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}


def product_catalog(path: str | os.PathLike | None = None) -> list[str]:
    """Product names, one per line (``#`` comments and blanks skipped).

    ``SENTIMENT_PRODUCT_CATALOG`` names the file; the package ships a default.
    """
    source = path or load_settings().product_catalog
    text = (
        Path(source).read_text(encoding="utf-8")
        if source
        else resources.files("sentiment_pipeline").joinpath("data/products.txt").read_text(encoding="utf-8")
    )
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def product_pattern(catalog: list[str]) -> str:
    """One case-insensitive alternation, longest names first, whole words, any spacing."""
    names = sorted(set(catalog), key=lambda name: (-len(name), name))
    alternatives = [r"\s+".join(re.escape(word) for word in name.split()) for name in names]
    return r"(?i)\b(?:" + "|".join(alternatives) + r")\b"


def extract_entities(tickets: pl.DataFrame | pl.LazyFrame, catalog: list[str]) -> pl.DataFrame:
    """One row per mention (``ENTITY``) in the subject and body of each ticket."""
    texts = (
        tickets.lazy()
        .select("ticket_id", *TEXT_FIELDS)
        .unpivot(on=list(TEXT_FIELDS), index="ticket_id", variable_name="field", value_name="text")
        .filter(pl.col("text").is_not_null() & (pl.col("text") != ""))
        .collect()
    )
    patterns = {**PATTERNS, **({"product": product_pattern(catalog)} if catalog else {})}
    found = [_mentions(texts, kind, pattern) for kind, pattern in patterns.items()]
    canonical = {name.lower(): name for name in catalog}
    mentions = (
        pl.concat(found)
        .with_columns(
            priority=pl.col("type").replace_strict(list(patterns), range(len(patterns))),
            normalized=_normalized(canonical),
        )
        .filter(pl.col("normalized").is_not_null())  # e.g. a date that looked like a phone number
    )
    return _drop_nested(mentions).sort("ticket_id", "field", "start", "priority").select(list(ENTITY)).cast(ENTITY)


def _mentions(texts: pl.DataFrame, kind: str, pattern: str) -> pl.DataFrame:
    """Every match of ``pattern`` with its character offsets."""
    matched = texts.with_columns(
        found=pl.col("text").str.extract_all(pattern),
        gaps=pl.col("text").str.replace_all(pattern, MARKER).str.split(MARKER),
    ).filter(pl.col("found").list.len() > 0)
    found_chars = pl.col("found").list.eval(pl.element().str.len_chars())
    gap_chars = pl.col("gaps").list.eval(pl.element().str.len_chars())
    return (
        matched.select(
            "ticket_id",
            "field",
            pl.col("found").alias("text"),
            # start of match k = all gaps before it (k + 1 of them) + all matches before it
            (
                gap_chars.list.eval(pl.element().cum_sum()).list.head(pl.col("found").list.len())
                + found_chars.list.eval(pl.element().cum_sum() - pl.element())
            ).alias("start"),
        )
        .explode("text", "start")
        .with_columns(
            type=pl.lit(kind),
            start=pl.col("start").cast(pl.Int32),
            end=(pl.col("start") + pl.col("text").str.len_chars()).cast(pl.Int32),
        )
    )


def _drop_nested(mentions: pl.DataFrame) -> pl.DataFrame:
    """Drop a mention that overlaps one of an earlier type (e.g. a version inside a URL)."""
    keys = ["ticket_id", "field"]
    pairs = mentions.join(mentions.select(*keys, "start", "end", "priority"), on=keys, suffix="_other")
    shadowed = (
        pairs.filter(
            (pl.col("priority_other") < pl.col("priority"))
            & (pl.col("start_other") < pl.col("end"))
            & (pl.col("start") < pl.col("end_other"))
        )
        .select(*keys, "type", "start")
        .unique()
    )
    return mentions.join(shadowed, on=[*keys, "type", "start"], how="anti")


def phone_number(text: pl.Expr) -> pl.Expr:
    """A phone number as written -> E.164 (``+14155550199``); null when it is not one: 10 to 15
    digits is a phone number, fewer is a date, an amount, an id."""
    digits = text.str.replace_all(r"\D", "")
    e164 = (
        pl.when(text.str.starts_with("+"))
        .then(pl.lit("+") + digits)
        .when(digits.str.len_chars() == 10)
        .then(pl.lit("+1") + digits)
        .when((digits.str.len_chars() == 11) & digits.str.starts_with("1"))
        .then(pl.lit("+") + digits)
    )
    return pl.when(digits.str.len_chars().is_between(10, 15)).then(e164)


def _normalized(canonical_products: dict[str, str]) -> pl.Expr:
    text = pl.col("text")
    currency = pl.coalesce(
        text.str.extract(r"(USD|EUR|GBP)"),
        text.str.extract(r"([$€£])").replace_strict(CURRENCY_SYMBOLS, default=None),
    )
    amount = text.str.replace_all(r"[^\d.]", "").cast(pl.Decimal(18, 2), strict=False).cast(pl.String)
    return (
        pl.when(pl.col("type") == "email")
        .then(text.str.to_lowercase())
        .when(pl.col("type") == "phone")
        .then(phone_number(text))
        .when(pl.col("type") == "money")
        .then(pl.format("{} {}", amount, currency))
        .when(pl.col("type").is_in(["order_id", "error_code"]))
        .then(text.str.to_uppercase())
        .when(pl.col("type") == "version")
        .then(text.str.slice(1))
        .when(pl.col("type") == "product")
        .then(text.str.to_lowercase().str.replace_all(r"\s+", " ").replace_strict(canonical_products, default=None))
        .otherwise(text)
    )
