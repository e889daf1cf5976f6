"""What the API answers, as plain functions over storage: DuckDB SQL with every user value
passed as a parameter (never spliced into SQL text), results as polars frames."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from sentiment_pipeline import aggregates, storage
from sentiment_pipeline.api import nlq, search
from sentiment_pipeline.schemas import (
    ASSETS,
    COLUMN_DESCRIPTIONS,
    SENTIMENT_LABELS,
    TICKET_CANONICAL,
    TICKET_LINEAGE,
    TRAJECTORIES,
    column_descriptions,
)

TABLES = tuple(ASSETS)  # every asset is a table: `date` (its UTC partition day) first, then its columns
COLUMNS = {name: {"date": pl.Date(), **schema} for name, schema in ASSETS.items()}
FILTERABLE = {name: [c for c, t in columns.items() if t == pl.String] for name, columns in COLUMNS.items()}
ORDER_KEYS = {  # after `date`, what orders a table's rows when the caller names no order: a stable page order
    "ticket": ("ticket_id",),
    "ticket_rejects": ("source_file", "source_row"),
    "comment": ("ticket_id", "seq"),
    "sentiment": ("ticket_id",),
    "entity": ("ticket_id", "field", "start"),
    "daily_sentiment_summary": ("channel", "product"),
    "daily_entity_mentions": ("type", "normalized"),
    "daily_agent_summary": ("agent_id",),
    "sentiment_alerts": ("dimension", "entity_type", "value"),
}
MIRRORED = ("daily_sentiment_summary", "daily_agent_summary")  # small enough to hold in memory
MAX_LIMIT = 10_000
MAX_RANGE_DAYS = 366 * 3
DAY = "make_date(t.year, t.month, t.day)"
GROUPINGS = {  # group_by -> (output column, SQL over t = ticket, s = sentiment); `date` is the UTC partition day
    "total": ("total", "'all tickets'"),  # the whole range as one group: its headline numbers
    "day": ("date", DAY),
    "week": ("week", f"date_trunc('week', {DAY})::date"),  # the ISO week's Monday
    "month": ("month", f"date_trunc('month', {DAY})::date"),
    "channel": ("channel", "t.channel"),
    "product": ("product", "t.product"),
    "agent": ("agent_id", "t.agent_id"),
    "trajectory": ("trajectory", "s.trajectory"),
    "weekday": ("weekday", "isodow(timezone('UTC', t.created_at))"),  # 1 = Monday, of created_at in UTC
    "hour": ("hour", "hour(timezone('UTC', t.created_at))"),  # 0-23, of created_at in UTC
}
METRICS = ("tickets", "positive", "neutral", "negative", "share_negative", "avg_compound", "avg_csat", "solved", "median_hours_to_resolve")
TICKET_FIELDS = list(TICKET_CANONICAL)  # what a ticket shows; custom fields only when asked for


PARTITION_COLUMNS = ("year", "month", "day")


def _without(row: dict | None, keys: tuple[str, ...]) -> dict | None:
    """A stored row for the caller: without ``keys`` and the hive partition columns."""
    return None if row is None else {k: v for k, v in row.items() if k not in keys and k not in PARTITION_COLUMNS}


@dataclass(frozen=True)
class TicketSelection:
    """Which tickets: each given field must match (ignoring case); an entity is its type and normalized value."""

    product: str | None = None
    channel: str | None = None
    agent: str | None = None
    label: str | None = None
    entity_type: str | None = None
    entity: str | None = None


@dataclass(frozen=True)
class Page:
    """Rows of a read and how many rows match before ``limit`` and ``offset``."""

    frame: pl.DataFrame
    total: int


def _quoted(column: str) -> str:
    """A column name as a SQL identifier (an export's header may hold any character)."""
    return '"' + column.replace('"', '""') + '"'


class BadRequest(ValueError):
    """The caller asked for something that cannot be answered; the message says what to change."""


class NotFound(LookupError):
    pass


def utc_today() -> date:
    """Partitions are UTC days, so "today" is the UTC one, whatever the server's zone."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @classmethod
    def parse(cls, start: str | None, end: str | None, default_days: int = 30) -> DateRange:
        last = _date(end, "end") if end else utc_today()
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
        self.mirrors: dict[str, str] = {}  # asset -> the data version its mirror holds
        self.mirror_lock = threading.Lock()
        self.materialized: dict[str, tuple[str, frozenset[str]]] = {}  # asset -> (data version, its days)

    def _mirror(self, asset: str, version: str) -> str:
        """The whole of a small aggregate table as a table in the reader's database, reloaded
        when the pipeline marks it changed: a year of day x channel x product rows is a few
        MB, reading it from 365 files costs more than any query on it, and DuckDB scans its
        own tables faster than registered Arrow data. Queries already running keep reading
        the version they started with (DuckDB's transactions)."""
        with self.mirror_lock:
            if self.mirrors.get(asset) != version:
                cursor = self.database.cursor()
                try:
                    source = storage.asset_source(cursor, self.root, asset)
                    cursor.execute(f"create or replace table mirror_{asset} as select * from {source}")
                finally:
                    cursor.close()
                self.mirrors[asset] = version
            return f"mirror_{asset}"

    def _version_of(self, asset: str) -> str:
        """The asset's data version; the pipeline marks every asset it writes."""
        version = storage.asset_version(self.root, asset)
        if version is None:
            raise NotFound(f"no data yet for '{asset}': materialize it first")
        return version

    def _days_of(self, asset: str) -> frozenset[str]:
        """The days ``asset`` has a partition object for (one listing per data version)."""
        version = self._version_of(asset)
        known = self.materialized.get(asset)
        if known is None or known[0] != version:
            known = (version, frozenset(storage.materialized_keys(self.root, asset)))
            self.materialized[asset] = known
        return known[1]

    def missing_days(self, assets: tuple[str, ...], days: DateRange) -> list[str]:
        """The days of ``days`` that any of ``assets`` never materialized (a materialized day
        without tickets still has its objects, so these are unknown, not empty); a read of a
        single such day is a NotFound."""
        present = frozenset.intersection(*(self._days_of(asset) for asset in assets))
        missing = sorted(set(days.keys()) - present)
        if missing and days.start == days.end:
            raise NotFound(
                f"{days.start} was never materialized ({' and '.join(assets)} have no partition for it), "
                "so its numbers are unknown, not zero: materialize that day first"
            )
        return missing

    def _query(
        self, sql: str, assets: tuple[str, ...], params: dict | None = None, days: DateRange | None = None, union_by_name: bool = False
    ) -> pl.DataFrame:
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
                keys = days.keys() if days else None
                sources[asset] = storage.asset_source(connection, self.root, asset, keys, union_by_name=union_by_name)
                if sources[asset] is None:
                    return pl.DataFrame()
            return connection.sql(sql.format(**sources), params=params).pl()
        finally:
            connection.close()

    def version(self, assets: tuple[str, ...]) -> tuple:
        return tuple(storage.asset_version(self.root, asset) for asset in assets)

    def tables(self) -> list[dict]:
        """Every table with its columns, their types and what they mean, how many rows and days
        it holds, the days missing between its first and last, and when it last changed (UTC)."""
        described = []
        for name in TABLES:
            try:
                days = sorted(self._days_of(name))
                rows = self._query(f"select count(*) from {{{name}}}", (name,)).item() if days else 0
            except NotFound:
                days, rows = [], 0
            span = DateRange(date.fromisoformat(days[0]), date.fromisoformat(days[-1])) if days else None
            updated = storage.asset_updated_at(self.root, name)
            described.append(
                {
                    "name": name,
                    "columns": {column: str(kind) for column, kind in COLUMNS[name].items()},
                    "descriptions": {"date": COLUMN_DESCRIPTIONS["date"], **column_descriptions(name)},
                    "custom_fields": name == "ticket",
                    "filters": FILTERABLE[name],
                    "rows": rows,
                    "first_date": days[0] if days else None,
                    "last_date": days[-1] if days else None,
                    "missing_days": sorted(set(span.keys()) - set(days)) if span else [],
                    "last_update": updated.strftime("%Y-%m-%dT%H:%M:%SZ") if updated else None,
                }
            )
        return described

    def _columns(self, name: str, days: DateRange, named: list[str]) -> dict[str, pl.DataType]:
        """The table's columns, and for ``ticket`` the custom fields of ``named`` that the
        range's exports have (text); any other name is a BadRequest naming it."""
        columns = dict(COLUMNS[name])
        unknown = [column for column in dict.fromkeys(named) if column not in columns]
        if unknown and name == "ticket":
            described = self._query("describe select * from {ticket}", ("ticket",), days=days, union_by_name=True)
            custom = set(described.get_column("column_name")) - set(storage.HIVE_SCHEMA.names) if described.height else set()
            columns.update(dict.fromkeys([column for column in unknown if column in custom], pl.String()))
            unknown = [column for column in unknown if column not in custom]
        if unknown:
            also = " or a custom field of the range's exports" if name == "ticket" else ""
            raise BadRequest(f"{name} has no column {', '.join(map(repr, unknown))}; its columns: {', '.join(COLUMNS[name])}{also}")
        return columns

    def table(
        self,
        name: str,
        days: DateRange,
        columns: list[str] | None = None,
        filters: dict[str, str] | None = None,
        order_by: str | None = None,
        desc: bool = False,
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """One page of a table's rows in the range: ``columns`` (default: all but ``ticket``'s
        custom fields), ``filters`` equal to the value ignoring case (text columns), ordered by
        ``order_by`` then the table's own order; ``total`` counts every matching row."""
        if name not in TABLES:
            raise NotFound(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise BadRequest(f"limit must be 1..{MAX_LIMIT} and offset at least 0")
        filters = filters or {}
        known = self._columns(name, days, [*(columns or []), *filters, *([order_by] if order_by else [])])
        shown = columns or list(COLUMNS[name])
        not_text = [column for column in filters if known[column] != pl.String]
        if not_text:
            raise BadRequest(
                f"only text columns filter; {', '.join(not_text)} of {name} are not text (text: {', '.join(FILTERABLE[name])})"
            )
        own = (  # an export's own `date` column gives way to the partition day
            "* exclude (year, month, day)"
            if "date" in ASSETS[name]
            else "make_date(year, month, day) as date, columns(lambda c: c not in ('year', 'month', 'day', 'date'))"
        )
        rows = f"(select {own} from {{{name}}}) where true"
        rows += "".join(f" and lower({_quoted(column)}) = lower($f{n})" for n, column in enumerate(filters))
        keys = [f"{_quoted(order_by)} {'desc' if desc else 'asc'} nulls last"] if order_by else []
        keys += [f"{_quoted(key)} nulls last" for key in ("date", *ORDER_KEYS[name]) if key != order_by]
        params = {f"f{n}": value for n, value in enumerate(filters.values())}
        union = len(known) > len(COLUMNS[name])  # a custom field: every day's columns, not only the first file's
        listed = ", ".join(map(_quoted, shown))
        sql = f"select {listed} from {rows} order by {', '.join(keys)} limit $limit offset $offset"
        frame = self._query(sql, (name,), {**params, "limit": limit, "offset": offset}, days, union)
        if not frame.width:  # no day of the range has an object
            frame = pl.DataFrame(schema={column: known[column] for column in shown})
        if frame.height < limit and (frame.height or not offset):
            return Page(frame, offset + frame.height)
        total = self._query(f"select count(*) from {rows}", (name,), params, days, union)
        return Page(frame, total.item() if total.width else 0)

    def sentiment(
        self,
        days: DateRange,
        group_by: str | tuple[str, ...],
        product: str | None = None,
        channel: str | None = None,
        trajectory: str | None = None,
        agent: str | None = None,
        order_by: str | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Tickets of the range grouped by ``group_by`` (one grouping or several: day and
        channel, weekday and hour) with every metric of ``METRICS`` (the aggregates' own
        expressions), from the ticket and sentiment partitions in one DuckDB query; filters
        ignore case."""
        groups = (group_by,) if isinstance(group_by, str) else tuple(group_by)
        unknown = [g for g in groups if g not in GROUPINGS]
        if unknown or not groups or len(set(groups)) < len(groups):
            raise BadRequest(f"group_by must be one or more different ones of {', '.join(GROUPINGS)}")
        if trajectory is not None and trajectory not in TRAJECTORIES:
            raise BadRequest(f"trajectory must be one of {', '.join(TRAJECTORIES)}")
        columns = [GROUPINGS[g][0] for g in groups]
        output = [*columns, *METRICS]
        if order_by is not None and order_by not in output:
            raise BadRequest(f"cannot order by {order_by!r}; order_by is one of {', '.join(output)}")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be 1..{MAX_LIMIT}")
        order = [f"{order_by} {'desc' if desc else 'asc'} nulls last"] if order_by else []
        order += [f"{column} nulls last" for column in columns if column != order_by]
        keys = ", ".join(f"{GROUPINGS[g][1]} as {GROUPINGS[g][0]}" for g in groups)
        sql = f"""
            select {keys}, {aggregates.metrics(*METRICS)}
            from (select ticket_id, year, month, day, channel, product, agent_id, status, csat, created_at, resolved_at from {{ticket}}) t
            join (select ticket_id, year, month, day, label, compound, trajectory from {{sentiment}}) s using (ticket_id, year, month, day)
            where ($product is null or lower(t.product) = lower($product)) and ($channel is null or lower(t.channel) = lower($channel))
              and ($agent is null or lower(t.agent_id) = lower($agent)) and ($trajectory is null or s.trajectory = $trajectory)
            group by all order by {", ".join(order)}{" limit $limit" if limit else ""}
        """
        params = {"product": product, "channel": channel, "agent": agent, "trajectory": trajectory}
        params |= {"limit": limit} if limit else {}
        found = self._query(sql, ("ticket", "sentiment"), params, days)
        counts = ["tickets", "positive", "neutral", "negative", "solved"]
        return found.with_columns(pl.col(counts).cast(pl.Int64)) if found.height else pl.DataFrame(schema=dict.fromkeys(output))

    def tickets(self, days: DateRange, selection: TicketSelection, limit: int = 50, offset: int = 0) -> Page:
        """The tickets of a selection (product, channel, agent, label, an entity they mention, or any of a type),
        most negative first, with their scores: what lies behind a number or a flag."""
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise BadRequest(f"limit must be 1..{MAX_LIMIT} and offset at least 0")
        if selection.label is not None and selection.label not in SENTIMENT_LABELS:
            raise BadRequest(f"label must be one of {', '.join(SENTIMENT_LABELS)}")
        if selection.entity is not None and selection.entity_type is None:
            raise BadRequest("entity needs entity_type: the type (e.g. error_code) of the normalized value")
        mentioning = (
            """ and exists (select 1 from {entity} e where e.ticket_id = t.ticket_id and e.year = t.year and e.month = t.month
                and e.day = t.day and lower(e.type) = lower($entity_type) and ($entity is null or lower(e.normalized) = lower($entity)))"""
            if selection.entity_type is not None
            else ""
        )
        rows = f"""
            (select make_date(t.year, t.month, t.day) as date, t.ticket_id, t.created_at, t.subject, t.channel, t.product,
                    t.agent_id, t.status, t.csat, s.label, s.compound, s.trajectory
             from (select ticket_id, year, month, day, created_at, subject, channel, product, agent_id, status, csat from {{ticket}}) t
             join (select ticket_id, year, month, day, label, compound, trajectory from {{sentiment}}) s
               using (ticket_id, year, month, day)
             where ($product is null or lower(t.product) = lower($product)) and ($channel is null or lower(t.channel) = lower($channel))
               and ($agent is null or lower(t.agent_id) = lower($agent)) and ($label is null or s.label = $label){mentioning})
        """
        params = asdict(selection)
        assets = ("ticket", "sentiment", "entity")
        if selection.entity_type is None:  # DuckDB refuses a parameter the query does not use
            del params["entity_type"], params["entity"]
            assets = ("ticket", "sentiment")
        sql = f"select * from {rows} order by compound, created_at desc, ticket_id limit $limit offset $offset"
        frame = self._query(sql, assets, {**params, "limit": limit, "offset": offset}, days)
        if not frame.width:
            return Page(pl.DataFrame(), 0)
        total = self._query(f"select count(*) from {rows}", assets, params, days).item()
        return Page(frame, total)

    def question(self, query: nlq.Query, days: DateRange) -> tuple[str, dict, pl.DataFrame]:
        """A question's one query over the range's files: the SQL (assets named), its parameters, the
        rows. A searched word's forms are found first, as ``/v1/search`` finds them."""
        forms = None
        if query.mentioning is not None:  # the word's forms among the range's tickets holding its piece
            words = search.query_words(query.mentioning)
            holding = f"select subject, body from {{ticket}} t where {search.HOLDING.format(t='t')}"
            forms = search.forms(words, self._query(holding, ("ticket",), {"piece": search.piece(words)}, days))
        sql, params, assets = nlq.compile_sql(query, forms)
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
        words = search.query_words(text)
        if not words:
            raise BadRequest("q must hold a word: letters or digits")
        if label is not None and label not in SENTIMENT_LABELS:
            raise BadRequest("label must be positive, neutral or negative")
        if not 1 <= limit <= 1_000 or offset < 0:
            raise BadRequest("limit must be 1..1000 and offset at least 0")
        sql = f"""
            select t.ticket_id, t.created_at, t.subject, t.body, t.channel, t.product, s.label, s.compound
            from (select ticket_id, created_at, subject, body, channel, product, year, month, day from {{ticket}} t
                  where {search.HOLDING.format(t="t")}) t
            join (select ticket_id, label, compound, year, month, day from {{sentiment}}) s using (ticket_id, year, month, day)
            where $label is null or s.label = $label
        """
        found = self._query(sql, ("ticket", "sentiment"), {"piece": search.piece(words), "label": label}, days)
        if not found.height:
            return Page(found, 0)
        connection = self.database.cursor()
        try:  # the predicate NLQ runs, over the tickets holding the piece
            connection.register("found", found)
            matching = f"select * from found where {search.MATCHING.format(t='found')} order by created_at desc, ticket_id"
            found = connection.sql(matching, params={"forms": search.forms(words, found)}).pl()
        finally:
            connection.close()
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
            "headline": headline.drop("date").row(0, named=True) if headline.height else None,
            "top_negative_products": products.to_dicts(),
            "top_entities": entities.to_dicts(),
            "busiest_agents": agents.to_dicts(),
        }
