"""JSON documents and JSON lines: parsed whole, nested objects flattened to dotted names."""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from sentiment_pipeline.ingest.blocks import (
    BROKEN,
    RAW,
    ROW,
    Block,
    UnreadableFile,
    _not_internal,
)
from sentiment_pipeline.ingest.sources import BUILT_IN, SourceProfile, canonical_record, match_json
from sentiment_pipeline.schemas import TICKET_CANONICAL

# Comments as a profile hands them on: their times still text, parsed with the file's rules.
COMMENT_TEXTS = pl.List(pl.Struct({"created_at_text": pl.String, "author": pl.String, "text": pl.String}))


def parse_json(
    text: str, lines: bool, profiles: Sequence[SourceProfile] = BUILT_IN
) -> tuple[Block, SourceProfile | None, list[tuple[str, str]] | None]:
    """JSON array (or an object holding one array) or JSON lines -> one block, the profile the
    records matched (None: canonical layout) and the paths it mapped. Nesting is flattened."""
    records: list[tuple[int, object, str | None]] = []  # (row, value, problem)
    if lines:
        # Lines end at "\n" only: str.splitlines() would also split at U+2028, U+0085, ... which
        # JSON leaves unescaped inside strings.
        for number, line in enumerate(text.removesuffix("\n").split("\n"), start=1):
            line = line.removesuffix("\r")
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line), None))
            except json.JSONDecodeError as error:
                records.append((number, line, f"line is not valid JSON ({error.msg} at column {error.colno})"))
        document: object = [value for _, value, problem in records if problem is None]
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise UnreadableFile(f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from error
    matched = match_json(document, profiles)
    profile = matched[0] if matched else None
    if not lines:
        items = matched[1] if matched else _records_of(document)
        records = [(number, item, None) for number, item in enumerate(items, start=1)]
    flat, broken = [], []
    for number, value, problem in records:
        raw = value if isinstance(value, str) and problem else json.dumps(value, ensure_ascii=False)
        if problem is None and not isinstance(value, dict):
            problem = f"row is a JSON {type(value).__name__}, not an object"
        if problem:
            broken.append({ROW: number, "reason": problem, "raw": raw})
        elif profile is None:
            flat.append({ROW: number, RAW: raw, **{_not_internal(k): v for k, v in _flatten(value).items()}})
        else:
            values, rest = canonical_record(profile, value)
            custom = {(f"{k}_custom" if k in TICKET_CANONICAL else _not_internal(k)): v for k, v in _flatten(rest, tags=False).items()}
            flat.append({ROW: number, RAW: raw, **values, **custom})
    schema = {ROW: pl.UInt32(), RAW: pl.String()}
    for record in flat:
        for key in record:
            if key not in schema:
                schema[key] = pl.List(pl.String()) if key.strip().lower() == "tags" else COMMENT_TEXTS if key == "comments" else pl.String()
    frame = pl.DataFrame(flat, schema=schema)
    broken_rows = pl.DataFrame(broken, schema=BROKEN)
    block = Block(rows=frame, broken=broken_rows, records=len(records), first_row=1, next_row=len(records) + 1)
    mapped = [(spec.source, canonical) for canonical, spec in profile.columns.items() if canonical in frame.columns] if profile else None
    return block, profile, mapped


def _records_of(document: object) -> list:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        arrays = [v for v in document.values() if isinstance(v, list) and all(isinstance(i, dict) for i in v)]
        return arrays[0] if len(arrays) == 1 else [document]
    raise UnreadableFile(f"JSON document is a {type(document).__name__}, not an array of objects")


def _flatten(record: dict, prefix: str = "", tags: bool = True) -> dict[str, str | list[str] | None]:
    """Nested objects become dotted names; values become strings; a top-level ``tags`` stays
    a list (unless ``tags`` is off: a profile maps the tags itself)."""
    flat: dict[str, str | list[str] | None] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}.", tags))
        elif tags and not prefix and name.strip().lower() == "tags":
            flat[name] = _tag_list(value)
        elif value is None or isinstance(value, str):
            flat[name] = value
        else:
            flat[name] = json.dumps(value, ensure_ascii=False)
    return flat


def _tag_list(value: object) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(";")
    return [str(item).strip() for item in items if str(item).strip()]
