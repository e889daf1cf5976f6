"""JSON exports through a profile: find the tool's records in the document and map each one.

JSON documents are parsed whole and their records walked in Python anyway, so a record is
mapped by its paths (``fields.status.name``) before the rest of it is flattened into custom
fields. Comments come out as {created_at_text, author, text}; the plan parses the times.
"""

from __future__ import annotations

import copy
import json

from sentiment_pipeline.ingest.sources.adf import adf_to_text
from sentiment_pipeline.ingest.sources.profile import SourceProfile, json_path

NAME_KEYS = ("displayName", "name", "value", "emailAddress")  # how a nested person or option is named


def match_json(document: object, profiles: list[SourceProfile]) -> tuple[SourceProfile, list] | None:
    """The first JSON profile whose record list is in ``document`` and whose first record has
    every path the profile matches on, with that list."""
    for profile in profiles:
        if profile.kind != "json" or not profile.match:
            continue
        for key in profile.records:
            items = document if key == "" else document.get(key) if isinstance(document, dict) else None
            records = isinstance(items, list) and items and isinstance(items[0], dict)
            if records and all(json_path(items[0], path) is not None for path in profile.match):
                return profile, items
    return None


def canonical_record(profile: SourceProfile, record: dict) -> tuple[dict, dict]:
    """(canonical values, the rest of the record) for one record; the rest is flattened into
    custom fields by the reader, Zendesk-style ``custom_fields`` already one per id."""
    rest = copy.deepcopy(record)
    values: dict = {}
    for canonical, spec in profile.columns.items():
        value = _pop(rest, spec.source)
        if value is None or value == [] or value == "":
            continue
        if canonical == "tags":
            items = value if isinstance(value, list) else str(value).split(spec.separator or ";")
            values["tags"] = [text for item in items if (text := _text(item).strip())] or None
        elif canonical == "comments":
            values["comments"] = [_comment(item, profile.rich_text) for item in value if isinstance(item, dict)]
        elif isinstance(value, list):  # e.g. Jira components: the first one's name
            values[canonical] = _text(value[0])
        else:
            values[canonical] = _text(adf_to_text(value) if profile.rich_text else value)
    if profile.channel is not None and "channel" not in values:
        values["channel"] = profile.channel
    if profile.custom_fields and isinstance(fields := rest.pop(profile.custom_fields, None), list):
        for item in fields:
            if isinstance(item, dict) and "id" in item:
                rest[f"custom_field_{item['id']}"] = item.get("value")
    return values, rest


def _pop(record: dict, path: str) -> object:
    """Remove and return the value at a dotted path (None if absent)."""
    *parents, last = path.split(".")
    holder = record
    for part in parents:
        holder = holder.get(part) if isinstance(holder, dict) else None
    return holder.pop(last, None) if isinstance(holder, dict) else None


def _text(value: object) -> str | None:
    """A value as the text a person would read: ids as digits, a person or option by name."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        named = next((value[k] for k in NAME_KEYS if isinstance(value.get(k), str)), None)
        return named if named is not None else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _comment(item: dict, rich_text: bool) -> dict:
    body = item.get("body", item.get("plain_body"))
    return {
        "created_at_text": _text(item.get("created", item.get("created_at"))),
        "author": _text(item.get("author", item.get("author_id"))),
        "text": _text(adf_to_text(body) if rich_text else body),
    }
