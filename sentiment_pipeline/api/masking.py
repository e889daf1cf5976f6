"""PII masking for callers without the ``pii`` scope: e-mail addresses keep their first
letter and domain, phone numbers are hidden."""

import re
from typing import Any

import polars as pl

EMAIL = r"([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
PHONE = "|".join(
    [  # at least every number the entity extractor calls a phone; no look-around (polars' regex)
        r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}",  # international: +1 415-555-0199, +44 20 7946 0958
        r"\(\d{2,5}\)\s?\d{2,4}[\s.-]\d{3,4}",  # area code in brackets: (415) 555-0123, (020) 7946 0958
        r"\b\d{2,5}[\s.-]\d{3,4}[\s.-]\d{3,4}\b",  # three groups: 415.555.0147, 020 7946 0958, 0612 345 678
        r"\b\d{2}(?:[\s.-]\d{2}){4}\b",  # five pairs: 06 12 34 56 78
        r"\b0\d{3,4}[\s.-]\d{6,7}\b",  # trunk prefix and subscriber: 07700 900123
    ]
)


def mask_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """E-mail addresses keep their first letter and domain; phone numbers are hidden."""
    return frame.with_columns(pl.col(pl.String).str.replace_all(EMAIL, "${1}***@${2}").str.replace_all(PHONE, "[phone]"))


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(PHONE, "[phone]", re.sub(EMAIL, r"\1***@\2", value))
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value
