"""What the API answers, as plain functions over storage: DuckDB SQL with every user value
passed as a parameter (never spliced into SQL text), results as polars frames."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.api import nlq
from sentiment_pipeline.api.search import matching, pieces, query_words
from sentiment_pipeline.schemas import AGGREGATES, SENTIMENT_LABELS, TICKET_CANONICAL, TICKET_LINEAGE, TRAJECTORIES

TABLES = tuple(AGGREGATES)
MIRRORED = ("daily_sentiment_summary", "daily_agent_summary")  # small enough to hold in memory
FILTERABLE = {name: [c for c, t in schema.items() if t == pl.String] for name, schema in AGGREGATES.items()}
MAX_LIMIT = 10_000
MAX_RANGE_DAYS = 366 * 3
GROUPINGS = {"day": "date", "channel": "channel", "product": "product"}
TICKET_FIELDS = list(TICKET_CANONICAL)  # what a ticket shows; custom fields only when asked for


PARTITION_COLUMNS = ("year", "month", "day")


def _without(row: dict | None, keys: tuple[str, ...]) -> dict | None:
    """A stored row for the caller: without ``keys`` and the hive partition columns."""
    return None if row is None else {k: v for k, v in row.items() if k not in keys and k not in PARTITION_COLUMNS}


@dataclass(frozen=True)
class Page:
    """Rows of a read and how many rows match before ``limit`` and ``offset``."""

    frame: pl.DataFrame
    total: int


class BadRequest(ValueError):
    """The caller asked for something that cannot be answered; the message says what to change."""


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @classmethod
    def parse(cls, start: str | None, end: str | None, default_days: int = 30) -> DateRange:
        last = _date(end, "end") if end else date.today()
        try:
            first = _date(start, "start") if start else last - timedelta(days=default_days - 1)
        except OverflowError as error:  # the default start would fall before year 1
            raise BadRequest("dates must lie between 0001-01-01 and 9999-12-31") from error
        if first > last:
            raise BadRequest(f"start {first} is after end {last}")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise BadRequest(f"range of {(last - first).days + 1} days is too large; at most {MAX_RANGE_DAYS}")
        return cls(first, last)

    def keys(self) -> list[str]:
        """The daily partitions of the range: a read opens only their files."""
        return [(self.start + timedelta(days=n)).isoformat() for n in range((self.end - self.start).days + 1)]


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise BadRequest(f"{name} {text!r} is not a date: use YYYY-MM-DD") from error


class TicketLocator:
    """ticket id -> the latest day holding it, so a lookup reads one day, not every day.

    Built from the narrow ``sentiment`` asset (one row per ticket per day) and rebuilt
    whenever the pipeline marks ``sentiment`` changed; a lookup is a binary search.
    """

    def __init__(self, reader: Reader):
        self.reader = reader
        self.version: str | None = None
        self.ids = pl.Series(dtype=pl.String)
        self.days = pl.Series(dtype=pl.Date)
        self.lock = threading.Lock()

    def day_of(self, ticket_id: str) -> date | None:
        with self.lock:
            current = storage.asset_version(self.reader.root, "sentiment")
            if current != self.version:
                index = self.reader._query(
                    "select ticket_id, max(make_date(year, month, day)) as day from {sentiment} group by ticket_id order by ticket_id",
                    ("sentiment",),
                )
                self.ids, self.days, self.version = index.get_column("ticket_id"), index.get_column("day"), current
            position = self.ids.search_sorted(ticket_id, side="left")
            if position < self.ids.len() and self.ids[position] == ticket_id:
                return self.days[position]
            return None


class Reader:
    """Reads one storage root. One in-memory DuckDB database per reader (opening one costs
    ~10 ms); every query runs on its own cursor, so concurrent requests never share state."""

    def __init__(self, root: str):
        self.root = root
        self.database = storage.duckdb_connection(threads=2)
        self.locator = TicketLocator(self)
        self.mirrors: dict[str, tuple[str, pl.DataFrame]] = {}  # asset -> (data version, its rows)
        self.mirror_lock = threading.Lock()

    def _mirror(self, asset: str, version: str) -> str:
        """The whole of a small aggregate table as a table in the reader's database, reloaded
        when the pipeline marks it changed: a year of day x channel x product rows is a few
        MB, reading it from 365 files costs more than any query on it, and DuckDB scans its
        own tables faster than registered Arrow data. Queries already running keep reading
        the version they started with (DuckDB's transactions). The same rows are kept as a
        polars frame for the roll-ups that run on every analytics request (``sentiment``)."""
        with self.mirror_lock:
            if self.mirrors.get(asset, ("",))[0] != version:
                cursor = self.database.cursor()
                try:
                    source = storage.asset_source(cursor, self.root, asset)
                    cursor.execute(f"create or replace table mirror_{asset} as select * from {source}")
                    rows = cursor.sql(f"select * from mirror_{asset}").pl()
                finally:
                    cursor.close()
                self.mirrors[asset] = (version, rows)
            return f"mirror_{asset}"

    def _mirrored_rows(self, asset: str) -> pl.DataFrame:
        self._mirror(asset, self._version_of(asset))
        return self.mirrors[asset][1]

    def _version_of(self, asset: str) -> str:
        """The asset's data version; the pipeline marks every asset it writes."""
        version = storage.asset_version(self.root, asset)
        if version is None:
            raise NotFound(f"no data yet for '{asset}': materialize it first")
        return version

    def _query(self, sql: str, assets: tuple[str, ...], params: dict | None = None, days: DateRange | None = None) -> pl.DataFrame:
        """Run ``sql`` with ``{asset}`` placeholders over all days or only ``days``' files;
        no data in the range is an empty answer, not an error."""
        connection = self.database.cursor()
        try:
            sources, params = {}, dict(params or {})
            for asset in assets:
                version = self._version_of(asset)
                if asset in MIRRORED:
                    sources[asset] = self._mirror(asset, version)
                    if days:
                        sources[asset] = f"(select * from {sources[asset]} where date between $range_start and $range_end)"
                        params.update(range_start=days.start, range_end=days.end)
                    continue
                sources[asset] = storage.asset_source(connection, self.root, asset, days.keys() if days else None)
                if sources[asset] is None:
                    return pl.DataFrame()
            return connection.sql(sql.format(**sources), params=params).pl()
        finally:
            connection.close()

    def version(self, assets: tuple[str, ...]) -> tuple:
        return tuple(storage.asset_version(self.root, asset) for asset in assets)

    def tables(self) -> list[dict]:
        described = []
        for name in TABLES:
            info = {"name": name, "columns": {c: str(t) for c, t in AGGREGATES[name].items()}, "filters": FILTERABLE[name]}
            try:
                stats = self._query(
                    f"select count(*) as rows, min(date) as first_date, max(date) as last_date from {{{name}}}", (name,)
                ).row(0, named=True)
            except NotFound:
                stats = {"rows": 0, "first_date": None, "last_date": None}
            version = storage.asset_version(self.root, name)
            described.append({**info, **stats, "last_update": version.split(" ", 1)[1] if version else None})
        return described

    def table(self, name: str, days: DateRange, filters: dict[str, str], limit: int, offset: int) -> pl.DataFrame:
        if name not in TABLES:
            raise NotFound(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        unknown = sorted(set(filters) - set(FILTERABLE[name]))
        if unknown:
            raise BadRequest(f"cannot filter {name} on {unknown}; filterable columns: {FILTERABLE[name]}")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise BadRequest(f"limit must be 1..{MAX_LIMIT} and offset at least 0")
        conditions = ["true"] + [f'"{column}" is not distinct from $f{i}' for i, column in enumerate(filters)]
        params = {**{f"f{i}": value for i, value in enumerate(filters.values())}, "limit": limit, "offset": offset}
        columns = ", ".join(f'"{c}"' for c in AGGREGATES[name])
        sql = f"select {columns} from {{{name}}} where {' and '.join(conditions)} order by all limit $limit offset $offset"
        return self._query(sql, (name,), params, days)

    def sentiment(
        self,
        days: DateRange,
        group_by: str,
        product: str | None = None,
        channel: str | None = None,
        label: str | None = None,
        trajectory: str | None = None,
    ) -> pl.DataFrame:
        if group_by not in (*GROUPINGS, "trajectory"):
            raise BadRequest(f"group_by must be one of {sorted([*GROUPINGS, 'trajectory'])}")
        if label is not None and label not in SENTIMENT_LABELS:
            raise BadRequest("label must be positive, neutral or negative")
        if trajectory is not None and trajectory not in TRAJECTORIES:
            raise BadRequest(f"trajectory must be one of {', '.join(TRAJECTORIES)}")
        if group_by == "trajectory" or trajectory is not None:
            return self._sentiment_by_ticket(days, group_by, product, channel, label, trajectory)
        # A roll-up of the in-memory mirror: polars answers it in ~0.5 ms where a DuckDB query
        # costs ~3 ms of planning and hand-over, and this runs on every analytics request.
        rows = self._mirrored_rows("daily_sentiment_summary").lazy().filter(pl.col("date").is_between(days.start, days.end))
        for column, value in (("product", product), ("channel", channel)):
            if value is not None:
                rows = rows.filter(pl.col(column).str.to_lowercase() == value.lower())
        tickets = pl.col("tickets").sum()
        counts = {name: pl.col(name).sum().cast(pl.Int64) for name in ("positive", "neutral", "negative")}
        return (
            rows.group_by(pl.col(GROUPINGS[group_by]).alias(group_by))
            .agg(
                tickets=tickets.cast(pl.Int64),
                avg_compound=(pl.col("avg_compound") * pl.col("tickets")).sum() / tickets,
                **counts,
                share_negative=pl.col("negative").sum() / tickets,
                **({"matching": counts[label]} if label else {}),
            )
            .sort(group_by, nulls_last=True)
            .collect()
        )

    def _sentiment_by_ticket(
        self, days: DateRange, group_by: str, product: str | None, channel: str | None, label: str | None, trajectory: str | None
    ) -> pl.DataFrame:
        """The same roll-up from the tickets themselves, for what the summary does not split
        by (trajectory): a scan of the range's narrow columns."""
        key = {"day": "make_date(t.year, t.month, t.day)", "channel": "t.channel", "product": "t.product", "trajectory": "s.trajectory"}
        matching = ", count(*) filter (where s.label = $label) as matching" if label else ""
        sql = f"""
            select {key[group_by]} as {group_by}, count(*) as tickets, avg(s.compound) as avg_compound,
                   count(*) filter (where s.label = 'positive') as positive,
                   count(*) filter (where s.label = 'neutral') as neutral,
                   count(*) filter (where s.label = 'negative') as negative,
                   count(*) filter (where s.label = 'negative') / count(*) as share_negative{matching}
            from (select ticket_id, channel, product, year, month, day from {{ticket}}) t
            join (select ticket_id, label, compound, trajectory, year, month, day from {{sentiment}}) s using (ticket_id, year, month, day)
            where ($product is null or lower(t.product) = lower($product)) and ($channel is null or lower(t.channel) = lower($channel))
              and ($trajectory is null or s.trajectory = $trajectory)
            group by all order by 1 nulls last
        """
        params = {"product": product, "channel": channel, "trajectory": trajectory, **({"label": label} if label else {})}
        found = self._query(sql, ("ticket", "sentiment"), params, days)
        counts = ["tickets", "positive", "neutral", "negative", *(["matching"] if label else [])]
        return found.with_columns(pl.col(counts).cast(pl.Int64)) if found.height else found

    def question(self, query: nlq.Query, days: DateRange) -> tuple[str, dict, pl.DataFrame]:
        """A question's one query over the range's files: the SQL (assets named), its parameters, the rows."""
        sql, params, assets = nlq.compile_sql(query)
        return sql.format(**{asset: asset for asset in assets}), params, self._query(sql, assets, params, days)

    def ticket(self, ticket_id: str, custom_fields: bool) -> dict:
        """The latest version of a ticket (it may be re-exported on later days)."""
        day = self.locator.day_of(ticket_id)
        if day is None:
            raise NotFound(f"no ticket {ticket_id!r}")
        key = day.isoformat()
        connection = self.database.cursor()
        try:
            sources = {a: storage.asset_source(connection, self.root, a, key) for a in ("ticket", "sentiment", "entity")}
            # A day materialized before conversations were split has no comment object.
            messages = storage.asset_source(connection, self.root, "comment", [key])
            columns = "*" if custom_fields else f"columns('^({'|'.join(TICKET_FIELDS)})$')"  # those the day has
            # One query (each costs DuckDB ~2 ms of its own); scores and mentions come first, by
            # position, so no export's column name can collide with them.
            found = connection.execute(
                f"""
                select (select s from {sources["sentiment"]} s where ticket_id = $id limit 1),
                       (select list(struct_pack(type, text, normalized, field, start, "end") order by field, start)
                        from {sources["entity"]} where ticket_id = $id),
                       {f"(select list(c order by c.seq) from {messages} c where c.ticket_id = $id)" if messages else "null"},
                       {columns}
                from {sources["ticket"]} where ticket_id = $id limit 1
                """,
                {"id": ticket_id},
            )
            scores, mentions, conversation, *values = found.fetchone()
            row = dict(zip([d[0] for d in found.description][3:], values, strict=False))
        finally:
            connection.close()
        result = {
            "partition": key,
            "ticket": {k: row.get(k) for k in TICKET_FIELDS},
            "sentiment": _without(scores, ("ticket_id",)),
            "entities": mentions or [],
            "conversation": [_without(message, ("ticket_id", "pos", "neu", "neg")) for message in conversation or []],
        }
        if custom_fields:
            skip = {*TICKET_FIELDS, *TICKET_LINEAGE, *PARTITION_COLUMNS}
            result["custom_fields"] = {k: v for k, v in row.items() if k not in skip and v is not None}
        return result

    def search(self, text: str, days: DateRange, label: str | None, limit: int, offset: int = 0) -> Page:
        """Tickets whose subject or body holds the words of ``text`` in a row, each in any of its
        forms (``api/search.py``), newest first; ``total`` counts them all, before limit and offset."""
        words = query_words(text)
        if not words:
            raise BadRequest("q must hold a word: letters or digits")
        if label is not None and label not in SENTIMENT_LABELS:
            raise BadRequest("label must be positive, neutral or negative")
        if not 1 <= limit <= 1_000 or offset < 0:
            raise BadRequest("limit must be 1..1000 and offset at least 0")
        sql = """
            select t.ticket_id, t.created_at, t.subject, t.body, t.channel, t.product, s.label, s.compound
            from (select ticket_id, created_at, subject, body, channel, product, year, month, day from {ticket}
                  where contains(lower(subject), $piece) or contains(lower(body), $piece)) t
            join (select ticket_id, label, compound, year, month, day from {sentiment}) s using (ticket_id, year, month, day)
            where $label is null or s.label = $label
        """
        piece = max(pieces(words), key=len)  # the rarest, most likely: the fewest rows to look at
        found = self._query(sql, ("ticket", "sentiment"), {"piece": piece, "label": label}, days)
        if not found.height:
            return Page(found, 0)
        found = found.filter(matching(found, words)).sort(["created_at", "ticket_id"], descending=[True, False])
        return Page(found.slice(offset, limit), found.height)

    def daily_report(self, day: date) -> dict:
        days = DateRange(day, day)
        headline = self.sentiment(days, "day")
        products = self._query(
            "select product, sum(negative)::bigint as negative, sum(tickets)::bigint as tickets from {daily_sentiment_summary} "
            "group by product order by negative desc, product nulls last limit 5",
            ("daily_sentiment_summary",),
            days=days,
        )
        entities = self._query(
            "select type, normalized, mentions, tickets from {daily_entity_mentions} order by mentions desc, type, normalized limit 10",
            ("daily_entity_mentions",),
            days=days,
        )
        agents = self._query(
            "select agent_id, tickets, solved, median_hours_to_resolve from {daily_agent_summary} "
            "order by tickets desc, agent_id nulls last limit 5",
            ("daily_agent_summary",),
            days=days,
        )
        return {
            "date": day.isoformat(),
            "headline": headline.drop("day").row(0, named=True) if headline.height else None,
            "top_negative_products": products.to_dicts(),
            "top_entities": entities.to_dicts(),
            "busiest_agents": agents.to_dicts(),
        }
