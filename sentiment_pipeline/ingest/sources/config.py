"""The sources file (``SENTIMENT_SOURCES``): profiles for other tools, adjustments to built-in ones.

Checked whole when loaded, before anything is read: a mistake stops the run with a message
naming the file, the entry and the key, never a half-applied mapping.

    [[source]]
    name = "helpscout"
    match = ["Conversation #", "Customer email", "Mailbox"]
    timezone = "Europe/Berlin"
    timestamp_format = "%d.%m.%Y %H:%M:%S"
    channel = "email"
    [source.columns]
    ticket_id = "Conversation #"
    created_at = "Opened"
    tags = { column = "Conversation tags", separator = " | " }

An entry without ``match`` recognises no file by its header: it maps the tables an import
from PostgreSQL reads, and the landing files that import writes name it.

An entry named like a built-in profile (``jira``, ``jira_json``, ``zendesk``, ``freshdesk``,
``servicenow``, ``salesforce``) changes only the keys it sets; its columns are merged in.
"""

from __future__ import annotations

import dataclasses
import tomllib
import zoneinfo
from pathlib import Path

from sentiment_pipeline.ingest.sources.builtin import BUILT_IN
from sentiment_pipeline.ingest.sources.profile import MAPPABLE, ColumnSpec, SourceProfile
from sentiment_pipeline.ingest.sources.vocabulary import CHANNELS

ENTRY_KEYS = {"name", "kind", "match", "timezone", "timestamp_format", "day_first", "channel", "columns", "records"}
COLUMN_KEYS = {"column", "separator"}


class SourcesFileError(ValueError):
    """The sources file cannot be used; the message names the file, the entry and the key."""


def load_profiles(path: str | Path | None) -> list[SourceProfile]:
    """The profiles a run matches files against: the file's own first, then the built-in ones
    (adjusted by the file where it names them)."""
    if path is None:
        return list(BUILT_IN)
    where = str(path)
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SourcesFileError(f"sources file {where}: cannot be read ({error.strerror or error})") from error
    except tomllib.TOMLDecodeError as error:
        raise SourcesFileError(f"sources file {where}: not valid TOML ({error})") from error
    unknown = set(document) - {"source"}
    if unknown:
        raise SourcesFileError(f"sources file {where}: unknown top-level key {sorted(unknown)[0]!r}; entries go in [[source]] tables")
    entries = document.get("source", [])
    if not isinstance(entries, list):
        raise SourcesFileError(f"sources file {where}: 'source' must be an array of tables ([[source]])")
    built_in = {profile.name: profile for profile in BUILT_IN}
    own, adjusted = [], {}
    for position, entry in enumerate(entries, start=1):
        profile = _profile(entry, built_in, f"sources file {where}, entry {position}")
        if profile.name in built_in:
            adjusted[profile.name] = profile
        else:
            own.append(profile)
    names = [p.name for p in own]
    if len(names) != len(set(names)):
        raise SourcesFileError(f"sources file {where}: two entries are named {next(n for n in names if names.count(n) > 1)!r}")
    return [*own, *(adjusted.get(p.name, p) for p in BUILT_IN)]


def _profile(entry: object, built_in: dict[str, SourceProfile], where: str) -> SourceProfile:
    if not isinstance(entry, dict):
        raise SourcesFileError(f"{where}: must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SourcesFileError(f"{where}: key 'name' is required (a text naming the tool)")
    where = f"{where} ({name!r})"
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise SourcesFileError(f"{where}: unknown key {unknown[0]!r}; keys: {', '.join(sorted(ENTRY_KEYS))}")
    base = built_in.get(name)
    changes: dict = {"origin": "sources file"}
    if "kind" in entry:
        changes["kind"] = _choice(entry["kind"], ("csv", "json"), where, "kind")
    if "match" in entry:
        match = entry["match"]
        if not isinstance(match, list) or not match or not all(isinstance(m, str) and m.strip() for m in match):
            raise SourcesFileError(f"{where}: key 'match' must be a non-empty list of header names (or JSON paths)")
        changes["match"] = tuple(match)
    if "timezone" in entry:
        changes["timezone"] = _timezone(entry["timezone"], where)
    if "timestamp_format" in entry:
        changes["timestamp_format"] = _format(entry["timestamp_format"], where)
    if "day_first" in entry:
        if not isinstance(entry["day_first"], bool):
            raise SourcesFileError(f"{where}: key 'day_first' must be true or false")
        changes["day_first"] = entry["day_first"]
    if "channel" in entry:
        changes["channel"] = _choice(entry["channel"], CHANNELS, where, "channel")
    if "records" in entry:
        records = entry["records"]
        if not isinstance(records, str):
            raise SourcesFileError(f"{where}: key 'records' must be the key holding the records ('' for a top-level list)")
        changes["records"] = (records,)
    columns = _columns(entry.get("columns", {}), where)
    if base is not None:
        return dataclasses.replace(base, columns={**base.columns, **columns}, **changes)
    changes.setdefault("match", ())  # none: only files that name it use it (the import from PostgreSQL)
    for required in ("ticket_id", "created_at"):
        if required not in columns:
            raise SourcesFileError(f'{where}: [source.columns] must map {required!r} (e.g. {required} = "<header in the export>")')
    changes.setdefault("kind", "csv")
    return SourceProfile(name=name, columns=columns, **changes)


def _columns(table: object, where: str) -> dict[str, ColumnSpec]:
    if not isinstance(table, dict):
        raise SourcesFileError(f"{where}: key 'columns' must be a table ([source.columns])")
    columns = {}
    for canonical, spec in table.items():
        if canonical not in MAPPABLE:
            raise SourcesFileError(f"{where}: columns key {canonical!r} is not a canonical column; one of {', '.join(MAPPABLE)}")
        if isinstance(spec, str) and spec.strip():
            columns[canonical] = ColumnSpec(spec)
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("column"), str) or set(spec) - COLUMN_KEYS:
            raise SourcesFileError(f'{where}: columns key {canonical!r} must be a header name or {{ column = "...", separator = "..." }}')
        separator = spec.get("separator")
        if separator is not None and (not isinstance(separator, str) or not separator):
            raise SourcesFileError(f"{where}: columns key {canonical!r}: 'separator' must be a non-empty text")
        columns[canonical] = ColumnSpec(spec["column"], separator)
    return columns


def _timezone(value: object, where: str) -> str:
    try:
        if not isinstance(value, str):
            raise zoneinfo.ZoneInfoNotFoundError(value)
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise SourcesFileError(f"{where}: key 'timezone' {value!r} is not an IANA timezone (e.g. 'Europe/Berlin', 'UTC')") from error
    return value


def _format(value: object, where: str) -> str:
    if not isinstance(value, str) or "%" not in value:
        raise SourcesFileError(f"{where}: key 'timestamp_format' {value!r} must be a strftime format such as '%d.%m.%Y %H:%M:%S'")
    return value


def _choice(value: object, allowed: tuple[str, ...], where: str, key: str) -> str:
    if value not in allowed:
        raise SourcesFileError(f"{where}: key {key!r} is {value!r}; one of {', '.join(allowed)}")
    return value
