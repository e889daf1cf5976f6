"""JSON documents and JSON lines: parsed whole, nested objects flattened to dotted names."""

from __future__ import annotations

import json

import polars as pl

from sentiment_pipeline.ingest.blocks import (
    BROKEN,
    RAW,
    ROW,
    Block,
    UnreadableFile,
    _not_internal,
)

# --- JSON ---------------------------------------------------------------------------------


def _parse_json(text: str, lines: bool) -> Block:
    """JSON array (or an object holding one array) or JSON lines; nesting is flattened."""
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
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise UnreadableFile(f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from error
        items = _records_of(document)
        records = [(number, item, None) for number, item in enumerate(items, start=1)]
    flat, broken = [], []
    for number, value, problem in records:
        raw = value if isinstance(value, str) and problem else json.dumps(value, ensure_ascii=False)
        if problem is None and not isinstance(value, dict):
            problem = f"row is a JSON {type(value).__name__}, not an object"
        if problem:
            broken.append({ROW: number, "reason": problem, "raw": raw})
        else:
            flat.append({ROW: number, RAW: raw, **{_not_internal(k): v for k, v in _flatten(value).items()}})
    schema = {ROW: pl.UInt32(), RAW: pl.String()}
    for record in flat:
        for key in record:
            if key not in schema:
                schema[key] = pl.List(pl.String()) if key.strip().lower() == "tags" else pl.String()
    frame = pl.DataFrame(flat, schema=schema)
    broken_rows = pl.DataFrame(broken, schema=BROKEN)
    return Block(rows=frame, broken=broken_rows, records=len(records), first_row=1, next_row=len(records) + 1)


def _records_of(document: object) -> list:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        arrays = [v for v in document.values() if isinstance(v, list) and all(isinstance(i, dict) for i in v)]
        return arrays[0] if len(arrays) == 1 else [document]
    raise UnreadableFile(f"JSON document is a {type(document).__name__}, not an array of objects")


def _flatten(record: dict, prefix: str = "") -> dict[str, str | list[str] | None]:
    """Nested objects become dotted names; values become strings; ``tags`` stays a list."""
    flat: dict[str, str | list[str] | None] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif not prefix and name.strip().lower() == "tags":
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
