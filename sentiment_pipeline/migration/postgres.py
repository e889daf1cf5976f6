"""PostgreSQL as the migration reads and writes it.

Connections go through ADBC's libpq driver: results stream as Arrow record batches (COPY
BINARY underneath) and Arrow tables are written with COPY BINARY, so no row passes through
Python (the choice is measured in ``benchmarks/migration.py``). A DSN is never shown with its
password: ``shown_dsn`` masks it, and every driver error is re-raised as ``MigrationError``
with the password scrubbed from its text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from urllib.parse import unquote, urlsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import polars as pl

from sentiment_pipeline.ingest.sources import SourceProfile, load_profiles

DSN_VARIABLE = "SENTIMENT_POSTGRES_DSN"
QUERY_SHOWN = 300  # characters of a failed query in an error
MASK = "***"
KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")
# Column types read as they are (Arrow has them); every other type is read as PostgreSQL's
# own text for it (numeric exactly, uuid, interval, json, ...), arrays other than text[] as JSON.
NATIVE_TYPES = {"text", "varchar", "bpchar", "name", "int2", "int4", "int8", "float4", "float8", "bool", "timestamptz", "timestamp", "date"}
TEXT_ARRAYS = {"_text", "_varchar", "_bpchar"}
TIME_TYPES = {"timestamptz", "timestamp", "date"}
DAY = "sentiment_pipeline_day"  # the UTC day the import places a row in (not written to the landing file)


class MigrationError(Exception):
    """The migration cannot go on; the message says why, for a person, with no password in it."""


def resolve_dsn(dsn: str | None) -> str:
    """``dsn``, or else ``SENTIMENT_POSTGRES_DSN``."""
    found = dsn or os.environ.get(DSN_VARIABLE)
    if not found:
        raise MigrationError(f"no PostgreSQL DSN: pass --dsn or set {DSN_VARIABLE} (e.g. postgresql://user@host:5432/db)")
    return found


def source_profile(name: str, sources_file: str | None) -> SourceProfile:
    """The ``[[source]]`` entry named ``name`` (built-in profiles too) of the sources file."""
    profile = next((p for p in load_profiles(sources_file) if p.name == name), None)
    if profile is None:
        where = f"the sources file {sources_file}" if sources_file else "the built-in profiles (SENTIMENT_SOURCES is not set)"
        raise MigrationError(f"no source named {name!r} in {where}: add a [[source]] entry mapping the table's columns")
    return profile


def password_of(dsn: str) -> str | None:
    if "://" in dsn:
        password = urlsplit(dsn).password
        return unquote(password) if password else None
    found = KEYWORD_PASSWORD.search(dsn)
    return found.group(2).strip("'") if found else None


def shown_dsn(dsn: str) -> str:
    """The DSN with its password masked: what logs, errors and metadata may carry."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password is None:
            return dsn
        netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
        return parts._replace(netloc=netloc).geturl()
    return KEYWORD_PASSWORD.sub(rf"\g<1>{MASK}", dsn)


def scrubbed(text: str, dsn: str) -> str:
    """``text`` with the DSN and its password (as written and URL-decoded) masked."""
    text = text.replace(dsn, shown_dsn(dsn))
    written = urlsplit(dsn).password if "://" in dsn else None
    for secret in {password_of(dsn), written} - {None, ""}:
        text = text.replace(secret, MASK)
    return text


@contextmanager
def connection(dsn: str) -> Iterator[adbc.Connection]:
    """An ADBC connection (not autocommit: callers commit); driver errors become ``MigrationError``."""
    try:
        with adbc.connect(dsn) as connected:
            with connected.cursor() as cursor:  # PostgreSQL's text for a timestamptz is in the session's zone
                cursor.execute("SET TimeZone = 'UTC'")
            yield connected
    except adbc_driver_manager.Error as error:
        # The driver appends the whole query (thousands of columns on a wide layout): its start is enough.
        message, _, query = scrubbed(str(error).strip(), dsn).partition("\nQuery was: ")
        if query:
            message += f" (query: {query[:QUERY_SHOWN]}{'...' if len(query) > QUERY_SHOWN else ''})"
        # Not chained: a traceback would print the driver's own text, unscrubbed, after ours.
        raise MigrationError(f"PostgreSQL at {shown_dsn(dsn)}: {message}") from None


def quote(identifier: str) -> str:
    """A name as a quoted SQL identifier; ``schema.table`` is quoted part by part."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in identifier.split("."))


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    pg_type: str

    def selected(self, alias: str) -> str:
        """The column in the SELECT list: as it is, or as PostgreSQL's text for it."""
        ref = f"{alias}.{quote(self.name)}"
        if self.pg_type in NATIVE_TYPES or self.pg_type in TEXT_ARRAYS:
            return ref
        if self.pg_type.startswith("_"):
            return f"to_jsonb({ref})::text AS {quote(self.name)}"
        return f"{ref}::text AS {quote(self.name)}"

    def as_text(self) -> str:
        """The column as PostgreSQL's text for it (``text[]`` kept), under its own name."""
        if self.pg_type in TEXT_ARRAYS:
            return quote(self.name)
        if self.pg_type.startswith("_"):
            return f"to_jsonb({quote(self.name)})::text AS {quote(self.name)}"
        return f"{quote(self.name)}::text AS {quote(self.name)}"


@dataclass(frozen=True)
class Tables:
    """The tables an import reads, joined on the profile's ticket id column, and where the day
    of a row comes from.

    A layout split over tables (PostgreSQL's 1,600-column limit) is wider than one SELECT may
    return (1,664 columns), so only the first table's columns come back as columns: each other
    table comes back as one JSON object of PostgreSQL's text for its values (``text[]`` kept as
    a list), unpacked into columns by ``unpack``. created_at must be in the first table."""

    names: tuple[str, ...]
    profile: SourceProfile
    columns: tuple[Column, ...]

    @classmethod
    def read(cls, connected: adbc.Connection, names: list[str], profile: SourceProfile) -> Tables:
        """The tables' columns and types, checked against the profile's mapping."""
        if not names:
            raise MigrationError("no --table given")
        for canonical in ("ticket_id", "created_at"):
            if canonical not in profile.columns:
                raise MigrationError(f"source '{profile.name}' maps no {canonical} column ([source.columns] {canonical} = \"<column>\")")
        key = profile.columns["ticket_id"].source
        columns: list[Column] = []
        with connected.cursor() as cursor:
            for table in names:
                cursor.execute(f"SELECT * FROM {quote(table)} LIMIT 0")
                schema = cursor.fetch_arrow_table().schema
                types = {f.name: (f.metadata or {}).get(b"POSTGRESQL:type", b"text").decode() for f in schema}
                if key not in types:
                    raise MigrationError(f"table {table} has no column {key!r} (the ticket_id of source '{profile.name}') to join on")
                seen = {c.name: c.table for c in columns}
                for name, pg_type in types.items():
                    if name == key and columns:
                        continue
                    if name in seen:
                        raise MigrationError(
                            f"column {name!r} is in both {seen[name]} and {table}: rename it in one of them (a view will do)"
                        )
                    columns.append(Column(table, name, pg_type))
        tables = cls(tuple(names), profile, tuple(columns))
        created = next((c for c in columns if c.name == profile.columns["created_at"].source), None)
        if created is None or created.table != names[0]:
            where = f"is in {created.table}: list that table first" if created else "is in none of the tables"
            raise MigrationError(f"column {profile.columns['created_at'].source!r} (created_at of source '{profile.name}') {where}")
        if created.pg_type not in TIME_TYPES:
            raise MigrationError(
                f"column {created.name!r} (created_at of source '{profile.name}') is {created.pg_type}: the import places rows "
                f"by a timestamptz, timestamp or date column; import a view that converts it, e.g. "
                f"CREATE VIEW v AS SELECT *, to_timestamp({created.name}, '...') AS created_ts FROM {created.table}"
            )
        return tables

    def column(self, canonical: str) -> Column:
        name = self.profile.columns[canonical].source
        return next(c for c in self.columns if c.name == name)

    @property
    def key(self) -> str:
        return quote(self.profile.columns["ticket_id"].source)

    @property
    def source(self) -> str:
        """FROM: the first table, full-joined with the others on the id (a row in any of them
        counts); each other table as its columns in PostgreSQL's text."""
        joined = f"{quote(self.names[0])} AS t0"
        for position, table in enumerate(self.names[1:], start=1):
            texts = ", ".join(c.as_text() for c in self.columns if c.table == table)
            joined += f" FULL JOIN (SELECT {self.key}, {texts} FROM {quote(table)}) AS t{position} USING ({self.key})"
        return joined

    def selected(self) -> str:
        """The first table's columns (the join key merged), then one JSON text per other table."""
        first = [self.key if quote(c.name) == self.key else c.selected("t0") for c in self.columns if c.table == self.names[0]]
        packed = [f"to_jsonb(t{n})::text AS {quote(packed_name(n))}" for n in range(1, len(self.names))]
        return ", ".join([*first, *packed])

    def packed(self) -> dict[str, pl.Struct]:
        """Each packed column and the struct its JSON decodes into."""
        return {
            packed_name(n): pl.Struct(
                {c.name: pl.List(pl.String) if c.pg_type in TEXT_ARRAYS else pl.String for c in self.columns if c.table == table}
            )
            for n, table in enumerate(self.names[1:], start=1)
        }

    def compared(self) -> dict[str, str]:
        """The mapped canonical columns a reconcile compares value by value, as SQL in the form
        the lake stores them: timestamps as UTC instants, the rest as PostgreSQL's text (a text
        timestamp the ingest parses with the profile's formats, and comments, are not compared)."""
        columns = {}
        for canonical, spec in self.profile.columns.items():
            column = next((c for c in self.columns if c.name == spec.source), None)
            if column is None or canonical in ("ticket_id", "comments"):
                continue
            first_table = column.table == self.names[0]
            ref = f"t{self.names.index(column.table)}.{quote(column.name)}"
            if canonical in ("created_at", "resolved_at"):
                if first_table and column.pg_type == "timestamptz":
                    columns[canonical] = ref
                elif first_table and column.pg_type in TIME_TYPES:
                    columns[canonical] = f"({ref})::timestamp AT TIME ZONE {literal(self.profile.timezone)}"
            elif canonical == "tags" and column.pg_type in TEXT_ARRAYS:
                columns[canonical] = ref
            else:
                columns[canonical] = f"({ref})::text"
        return columns

    def day(self, first: date) -> str:
        """The UTC day of a row's created_at (local time in the profile's timezone when the
        column has no zone); a row with none is placed in ``first``, the import's first day,
        where the ingest quarantines it."""
        created = self.column("created_at")
        value = f"t0.{quote(created.name)}"
        if created.pg_type != "timestamptz":
            value = f"({value})::timestamp AT TIME ZONE {literal(self.profile.timezone)}"
        return f"COALESCE(({value} AT TIME ZONE 'UTC')::date, DATE {literal(first.isoformat())})"

    def query(self, columns: str, first: date, last: date, order: bool = False) -> str:
        """SELECT ``columns`` and the day of the rows placed in ``first``..``last``."""
        day = self.day(first)
        sql = (
            f"SELECT {columns}, {day} AS {DAY} FROM {self.source} "
            f"WHERE {day} BETWEEN DATE {literal(first.isoformat())} AND DATE {literal(last.isoformat())}"
        )
        # In created_at order within a day: a repeated id keeps its earliest row (the ingest keeps the first).
        return sql + f" ORDER BY {DAY}, t0.{quote(self.column('created_at').name)}" if order else sql


def packed_name(position: int) -> str:
    return f"sentiment_pipeline_table_{position}"


def unpack(frame: pl.DataFrame, packed: dict[str, pl.Struct]) -> pl.DataFrame:
    """The other tables' columns out of their JSON values, after the first table's."""
    if not packed:
        return frame
    decoded = [pl.col(name).str.json_decode(dtype).struct.unnest() for name, dtype in packed.items()]
    return frame.select(pl.exclude(list(packed)), *decoded)
