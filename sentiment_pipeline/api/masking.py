"""PII masking for callers without the ``pii`` scope.

Every e-mail address and phone number becomes a token carrying a short keyed hash of the
value: ``[email:3f9a0c1d2e4b]``, ``[phone:8b1e07c2d9a4]``. The hash is HMAC-SHA256 under the
server's masking key over the value normalised (an e-mail in lower case without surrounding
space, a phone number in E.164 as the entity extractor writes it), so one value gives one
token on every route and in every format (text, entity values, JSON, CSV, Parquet) and
distinct counts and joins still work; different values give different tokens (48 bits: two
of a million distinct values collide with a chance of about 1 in 500); and without the key
nobody can tell which address a token stands for by hashing guesses.

The key is ``SENTIMENT_MASK_KEY`` when set (servers that must agree share it), else 32 random
bytes made on first use and kept in ``mask.key`` beside the API key database (mode 0600),
so tokens stay the same across restarts. A new key changes every token.
"""

import functools
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from sentiment_pipeline import settings
from sentiment_pipeline.api.keys import database_path
from sentiment_pipeline.entities import phone_number

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
PHONE = "|".join(
    [  # at least every number the entity extractor calls a phone; no look-around (polars' regex)
        r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}",  # international: +1 415-555-0199, +44 20 7946 0958
        r"\(\d{2,5}\)\s?\d{2,4}[\s.-]\d{3,4}",  # area code in brackets: (415) 555-0123, (020) 7946 0958
        r"\b\d{2,5}[\s.-]\d{3,4}[\s.-]\d{3,4}\b",  # three groups: 415.555.0147, 020 7946 0958, 0612 345 678
        r"\b\d{2}(?:[\s.-]\d{2}){4}\b",  # five pairs: 06 12 34 56 78
        r"\b0\d{3,4}[\s.-]\d{6,7}\b",  # trunk prefix and subscriber: 07700 900123
    ]
)
PII = f"{EMAIL}|{PHONE}"  # e-mail first: the digits of an address are not a phone number
PII_RE = re.compile(PII)
HASH_HEX = 12
MARK = "\uffff"  # a Unicode non-character: never in real text, so it cannot split one


def tokens(found: Iterable[str | None]) -> dict[str, str]:
    """Each e-mail address or phone number as written -> its token."""
    values = pl.Series("text", sorted(set(found) - {None}), dtype=pl.String)
    if values.is_empty():
        return {}
    text = pl.col("text")
    normalized = values.to_frame().select(
        pl.when(text.str.contains("@"))
        .then(pl.lit("email:") + text.str.strip_chars().str.to_lowercase())
        # a number the extractor would not call a phone (too few digits) is still hidden, by its digits
        .otherwise(pl.lit("phone:") + pl.coalesce(phone_number(text), text.str.replace_all(r"[^\d+]", "")))
    )
    key = _key()
    return {
        value: f"[{kind}:{hmac.new(key, f'{kind}:{plain}'.encode(), hashlib.sha256).hexdigest()[:HASH_HEX]}]"
        for value, (kind, plain) in zip(values, (n.split(":", 1) for n in normalized.to_series()), strict=True)
    }


def mask_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column masked column-wise; nested columns (lists, structs) value by value."""
    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    found = (
        (  # (unpivot's own names are set: a table may have a `value` column, as sentiment_alerts does)
            frame.select(pl.col(strings).str.extract_all(PII)).unpivot(variable_name="__column", value_name="__matches")
            if strings
            else pl.DataFrame({"__matches": []}, schema={"__matches": pl.List(pl.String)})
        )
        .get_column("__matches")
        .explode()
    )
    mapping = tokens(found)
    masked = (
        frame.with_columns(
            pl.col(strings)
            .str.replace_all(PII, f"{MARK}${{0}}{MARK}")
            .str.split(MARK)
            .list.eval(pl.element().replace(mapping))  # the pieces between marks that are a match become its token
            .list.join("")
        )
        if mapping
        else frame
    )
    nested = [
        pl.Series(name, mask_value(frame.get_column(name).to_list()), dtype) for name, dtype in frame.schema.items() if dtype.is_nested()
    ]
    return masked.with_columns(nested) if nested else masked


def mask_value(value: Any) -> Any:
    """Every string inside ``value`` (dicts and lists walked) masked."""
    return _substitute(value, _tokens_in(value))


def mask_ticket(found: dict) -> dict:
    """A ticket as ``Reader.ticket`` reads it, masked; each entity's ``start``/``end`` point into
    its field's text as returned, and its ``text`` is that stretch of it."""
    mapping = _tokens_in(found)
    masked = _substitute(found, mapping)
    for original, entity in zip(found["entities"], masked["entities"], strict=True):
        text = found["ticket"].get(original["field"])
        if text is None:
            continue
        spans = [(m.start(), m.end(), len(mapping[m.group(0)])) for m in PII_RE.finditer(text)]
        entity["start"], entity["end"] = _moved(spans, original["start"], False), _moved(spans, original["end"], True)
        entity["text"] = masked["ticket"][original["field"]][entity["start"] : entity["end"]]
    return masked


def _moved(spans: list[tuple[int, int, int]], position: int, is_end: bool) -> int:
    """Where ``position`` of a text lands once each span (start, end, token length) is replaced;
    a position inside a span goes to the token's start (a start) or end (an end)."""
    shift = 0
    for start, end, length in spans:
        if position >= end:
            shift += length - (end - start)
        elif position > start:
            return start + shift + (length if is_end else 0)
        else:
            break
    return position + shift


def _tokens_in(value: Any) -> dict[str, str]:
    return tokens(match for text in _strings(value) for match in PII_RE.findall(text))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _substitute(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        return PII_RE.sub(lambda match: mapping[match.group(0)], value) if mapping else value
    if isinstance(value, dict):
        return {k: _substitute(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, mapping) for v in value]
    return value


def _key() -> bytes:
    configured = settings.load_settings().mask_key
    return configured.encode() if configured else _stored_key(database_path().with_name("mask.key"))


@functools.cache
def _stored_key(path: Path) -> bytes:
    """The key kept at ``path``, made there first if there is none: written whole under another
    name and linked into place, so servers starting at once all end up reading the same key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another server made it first: theirs is the key
        finally:
            draft.unlink()
    return path.read_text().strip().encode()
