"""Read API latency over a year of data, next to raw DuckDB and PostgreSQL on the same question.

Builds a lake of `--days` days x `--tickets` tickets in the pipeline's layout (canonical
ticket columns, sentiment, entities, and the three DuckDB aggregates computed by the
pipeline's own code), serves it with uvicorn on 127.0.0.1 twice (cache off, cache on),
and times each route over HTTP: p50/p95 uncached and cached, with raw DuckDB answering
the same question over the same files in the same run ("uncached": no response cache;
the two small aggregate tables are still mirrored in memory per data version, as the API
always does). If PostgreSQL is installed, the
benchmark starts a throw-away server on 127.0.0.1, loads the same tickets (canonical
columns: PostgreSQL cannot hold the 1,600+ custom columns), indexes and analyzes it, and
times the analytics questions from per-ticket rows as the old platform did.
Run: `python benchmarks/api.py` (the year-long analytics read per-ticket rows 30 times each: 40 min on a
busy 2-core machine; `--days 30 --repeat 5` for a quick look).
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import requests

from sentiment_pipeline import aggregates, storage
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.schemas import AGGREGATES, ASSETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: sentiment_pipeline_tests is not installed
from sentiment_pipeline_tests.serving import free_port, serving

END = date(2025, 12, 31)
CHANNELS = ["email", "chat", "phone", "web", "social"]
PRODUCTS = ["Acme Router X2", "CloudSync", "PixelPhone 8", "SmartHub Mini", "StreamBox 4K", "PayEasy Wallet", None]
TEXTS = [
    ("Refund never came", "Still waiting for my refund of $49.99 for ORD-{n}"),
    ("Works now", "Thanks, it works now on v2.3.{m}"),
    ("Invoice", "Please send the invoice for ORD-{n} to ana{m}@example.com"),
    ("Crash", "The app crashes on start with E10{m}"),
]


REFUND_FORMS = r"(?:^|[^\pL\pN])(?:refund|refunds)(?:[^\pL\pN]|$)"  # "refunds" in every form the lake's words have


def build_lake(root: str, days: int, tickets: int) -> pl.DataFrame:
    """Writes every asset for each day; returns the canonical ticket rows + labels (for PostgreSQL)."""
    everything = []
    for offset in range(days):
        day = END - timedelta(days=offset)
        key = day.isoformat()
        h = (pl.int_range(tickets, eager=True) * 2654435761 + offset * 97) % 1_000_003
        template = h % len(TEXTS)
        ticket = pl.DataFrame(
            {
                "ticket_id": [f"T{day:%Y%m%d}{n:05d}" for n in range(tickets)],
                "created_at": pl.select(pl.lit(day).cast(pl.Datetime("us", "UTC")) + pl.duration(seconds=h % 86400)).to_series(),
                "subject": template.map_elements(lambda t: TEXTS[t][0], return_dtype=pl.String),
                "body": pl.select(
                    pl.format("{} #{}", template.map_elements(lambda t: TEXTS[t][1], return_dtype=pl.String), h % 1000)
                ).to_series(),
                "channel": (h % 5).map_elements(lambda c: CHANNELS[c], return_dtype=pl.String),
                "product": (h % 7).map_elements(lambda p: PRODUCTS[p], return_dtype=pl.String, skip_nulls=False),
                "agent_id": [f"A{(x % 25):03d}" for x in h.to_list()],
                "status": ["solved" if x % 2 == 0 else "open" for x in h.to_list()],
                "csat": (h % 5 + 1).cast(pl.Int8),
            }
        ).with_columns(
            resolved_at=pl.when(pl.col("status") == "solved").then(pl.col("created_at") + pl.duration(minutes=h % 4320)),
            tags=pl.lit(["billing", "router"]),
        )
        ticket = ticket.with_columns(  # every canonical and lineage column, as the pipeline writes them
            pl.lit(None, kind).alias(column) for column, kind in ASSETS["ticket"].items() if column not in ticket.columns
        ).select(list(ASSETS["ticket"]))
        compound = ((h % 2001).cast(pl.Float64) / 1000 - 1).round(4)
        sentiment = (
            pl.DataFrame({"ticket_id": ticket["ticket_id"], "compound": compound})
            .with_columns(
                label=pl.when(pl.col("compound") >= 0.05)
                .then(pl.lit("positive"))
                .when(pl.col("compound") <= -0.05)
                .then(pl.lit("negative"))
                .otherwise(pl.lit("neutral")),
                pos=0.0,
                neu=0.0,
                neg=0.0,
            )
            .with_columns(
                trajectory=pl.lit(["improving", "declining", "stable", "single"]).list.get(h % 4),
                first_customer_label=pl.col("label"),
                last_customer_label=pl.col("label"),
                model=pl.lit("synthetic"),
                model_version=pl.lit("1"),
            )
        )
        entity = pl.DataFrame(
            {"ticket_id": ticket["ticket_id"], "type": "order_id", "text": "ORD-1", "field": "body", "start": 0, "end": 5}
        ).with_columns(normalized=pl.format("ORD-{}", (h % 500).cast(pl.String)))
        for asset, frame in (("ticket", ticket), ("sentiment", sentiment), ("entity", entity)):
            storage.write_parquet(frame, storage.partition_uri(root, asset, key), compression="snappy", metadata={})
        for table in AGGREGATES:
            with storage.duckdb_connection() as connection:
                frame = aggregates.aggregate(connection, table, root, key)
            storage.write_parquet(frame, storage.partition_uri(root, table, key), compression="snappy", metadata={})
        everything.append(
            ticket.select("ticket_id", "created_at", "channel", "product", "agent_id").with_columns(
                day=pl.lit(day), label=sentiment["label"], compound=sentiment["compound"]
            )
        )
    for asset in ("ticket", "sentiment", "entity", *AGGREGATES):
        storage.mark_changed(root, asset, "benchmark")
    return pl.concat(everything)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def time_http(session, url, path, params, key, repeat) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = session.get(url + path, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        samples.append(time.perf_counter() - start)
        answer.raise_for_status()
    return samples


def time_duckdb(sql: str | tuple[str, ...], params: dict, repeat: int) -> list[float]:
    """Raw DuckDB on one open in-memory database, a cursor per query (as the API does); a
    tuple is statements answering one question together (a page and its total)."""
    database = storage.duckdb_connection(threads=2)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for statement in (sql,) if isinstance(sql, str) else sql:
            cursor = database.cursor()
            cursor.execute(statement, params).fetchall()
            cursor.close()
        samples.append(time.perf_counter() - start)
    return samples


def analytics_sql(ticket: str, sentiment: str, group: str, where: str = "true", order: str = "1", limit: str = "") -> str:
    """The analytics question as an analyst writes it over the files: every metric per group."""
    return f"""
        select {group} as g, count(*) as tickets,
               count(*) filter (where s.label = 'positive') as positive, count(*) filter (where s.label = 'neutral') as neutral,
               count(*) filter (where s.label = 'negative') as negative,
               count(*) filter (where s.label = 'negative') / count(*) as share_negative,
               avg(s.compound) as avg_compound, avg(t.csat) as avg_csat,
               count(*) filter (where t.resolved_at is not null or lower(t.status) in ('solved', 'resolved', 'closed')) as solved,
               median(epoch(t.resolved_at - t.created_at) / 3600.0) filter (where t.resolved_at >= t.created_at) as median_hours
        from {ticket} t join {sentiment} s using (ticket_id, year, month, day)
        where make_date(t.year, t.month, t.day) between $a and $b and {where}
        group by all order by {order} {limit}
    """


def postgres_timings(rows: pl.DataFrame, questions: dict[str, str], repeat: int) -> dict[str, tuple[float, float]] | None:
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not binaries or shutil.which("runuser") is None:
        print("PostgreSQL is not installed here: skipping that comparison")
        return None
    bin_dir = binaries[-1]
    work = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    shutil.chown(work, "postgres")
    data = work / "data"
    as_pg = ["runuser", "-u", "postgres", "--"]
    port = str(free_port())
    subprocess.run([*as_pg, bin_dir / "initdb", "-D", data, "-A", "trust"], check=True, capture_output=True)
    options = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c work_mem=64MB"
    subprocess.run(
        [*as_pg, bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", work / "log", "-w", "start"], check=True, capture_output=True
    )
    psql = ["psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-q", "-v", "ON_ERROR_STOP=1"]
    try:
        csv = work / "tickets.csv"
        rows.write_csv(csv)
        shutil.chown(csv, "postgres")
        load = f"""
            create table tickets (ticket_id text primary key, created_at timestamptz, channel text, product text,
                                  agent_id text, day date, label text, compound double precision);
            \\copy tickets from '{csv}' with (format csv, header true)
            create index on tickets (day); create index on tickets (day, channel); analyze tickets;
        """
        subprocess.run(psql, input=load, text=True, check=True, capture_output=True)
        results = {}
        for name, sql in questions.items():
            script = "\\timing on\n" + "\n".join([sql + ";"] * (repeat + 1))
            out = subprocess.run([*psql, "-o", "/dev/null"], input=script, text=True, check=True, capture_output=True).stdout
            times = [float(line.split()[1]) / 1000 for line in out.splitlines() if line.startswith("Time:")][1:]
            results[name] = percentiles(times)
        return results
    finally:
        subprocess.run([*as_pg, bin_dir / "pg_ctl", "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-api-")
    root = os.path.join(folder, "data")
    try:
        started = time.perf_counter()
        rows = build_lake(root, args.days, args.tickets)
        print(f"\nlake: {args.days} days x {args.tickets:,} tickets built in {time.perf_counter() - started:.0f} s")
        store = KeyStore(Path(folder) / "keys.sqlite")
        key = store.create("bench", {"pii"})
        with serving(create_app(root, store, cache_size=0)) as uncached_url, serving(create_app(root, store)) as cached_url:
            first = (END - timedelta(days=args.days - 1)).isoformat()
            month = (END - timedelta(days=29)).isoformat()
            week = (END - timedelta(days=6)).isoformat()
            some_id = f"T{END - timedelta(days=args.days // 2):%Y%m%d}{random.Random(1).randrange(args.tickets):05d}"

            def glob(asset: str) -> str:
                return f"read_parquet('{root}/{asset}/*/*/*/*.parquet', hive_partitioning = true, hive_types = {storage.HIVE_TYPES_SQL})"

            # The search route's question as one raw query: the words' forms already known, the total, the newest 50.
            search_sql = (
                "select t.ticket_id, t.created_at, t.subject, t.body, t.channel, t.product, s.label, s.compound, count(*) over () as total "
                "from {ticket} t join {sentiment} s using (ticket_id, year, month, day) "
                "where make_date(t.year, t.month, t.day) between $a and $b and (regexp_matches(lower(t.subject), $p) or regexp_matches(lower(t.body), $p)) "
                "order by t.created_at desc, t.ticket_id limit 50"
            )
            year_span = {"a": date.fromisoformat(first), "b": END}
            month_span = {"a": date.fromisoformat(month), "b": END}
            ticket, sentiment = glob("ticket"), glob("sentiment")
            canonical = ", ".join(f'"{c}"' for c in ("date", *ASSETS["ticket"]))
            tickets_in = (
                f"(select make_date(year, month, day) as date, * exclude (year, month, day) from {ticket}) where date between $a and $b"
            )
            scores_in = (
                f"(select make_date(year, month, day) as date, * exclude (year, month, day) from {sentiment}) where date between $a and $b"
            )
            routes = {
                "analytics: year by product": (
                    "/v1/analytics/sentiment",
                    {"start": first, "end": END.isoformat(), "group_by": "product"},
                    analytics_sql(ticket, sentiment, "t.product"),
                    year_span,
                ),
                "analytics: 30 days by channel": (
                    "/v1/analytics/sentiment",
                    {"start": month, "end": END.isoformat(), "group_by": "channel"},
                    analytics_sql(ticket, sentiment, "t.channel"),
                    month_span,
                ),
                "analytics: year by week": (
                    "/v1/analytics/sentiment",
                    {"start": first, "end": END.isoformat(), "group_by": "week"},
                    analytics_sql(ticket, sentiment, "date_trunc('week', make_date(t.year, t.month, t.day))::date"),
                    year_span,
                ),
                "analytics: top 5 agents, email": (
                    "/v1/analytics/sentiment",
                    {
                        "start": month,
                        "end": END.isoformat(),
                        "group_by": "agent",
                        "channel": "EMAIL",
                        "order_by": "negative",
                        "desc": "true",
                        "limit": 5,
                    },
                    analytics_sql(ticket, sentiment, "t.agent_id", "lower(t.channel) = 'email'", "negative desc, 1", "limit 5"),
                    month_span,
                ),
                "table: 30 days of tickets, page 3": (
                    "/v1/tables/ticket",
                    {"start": month, "end": END.isoformat(), "limit": 100, "offset": 200},
                    (
                        f"select {canonical} from {tickets_in} order by date, ticket_id limit 100 offset 200",
                        f"select count(*) from {tickets_in}",
                    ),
                    month_span,
                ),
                "table: ticket filter+sort+columns": (
                    "/v1/tables/ticket",
                    {
                        "start": month,
                        "end": END.isoformat(),
                        "channel": "EMAIL",
                        "columns": "ticket_id,created_at,product",
                        "order_by": "created_at",
                        "desc": "true",
                        "limit": 100,
                    },
                    (
                        f"select ticket_id, created_at, product from {tickets_in} and lower(channel) = 'email' "
                        "order by created_at desc, date, ticket_id limit 100",
                        f"select count(*) from {tickets_in} and lower(channel) = 'email'",
                    ),
                    month_span,
                ),
                "table: year of sentiment, top 50": (
                    "/v1/tables/sentiment",
                    {"start": first, "end": END.isoformat(), "order_by": "compound", "desc": "true", "limit": 50},
                    (
                        f"select * from {scores_in} order by compound desc, date, ticket_id limit 50",
                        f"select count(*) from {scores_in}",
                    ),
                    year_span,
                ),
                "table: 30 days of agent summary": (
                    "/v1/tables/daily_agent_summary",
                    {"start": month, "end": END.isoformat()},
                    f"select * from {glob('daily_agent_summary')} where date between $a and $b order by all limit 1000",
                    {"a": date.fromisoformat(month), "b": END},
                ),
                "ticket detail (no date given)": (
                    f"/v1/tickets/{some_id}",
                    {},
                    f"select * from {glob('ticket')} t join {glob('sentiment')} s using (ticket_id) where ticket_id = $id",
                    {"id": some_id},
                ),
                "search 'refunds', last 7 days": (
                    "/v1/search",
                    {"q": "refunds", "start": week, "end": END.isoformat(), "limit": 50},
                    search_sql.format(ticket=glob("ticket"), sentiment=glob("sentiment")),
                    {"a": date.fromisoformat(week), "b": END, "p": REFUND_FORMS},
                ),
                "search 'refunds', a year": (
                    "/v1/search",
                    {"q": "refunds", "start": first, "end": END.isoformat(), "limit": 50},
                    search_sql.format(ticket=glob("ticket"), sentiment=glob("sentiment")),
                    {"a": date.fromisoformat(first), "b": END, "p": REFUND_FORMS},
                ),
                "daily report": (
                    "/v1/reports/daily",
                    {"date": END.isoformat()},
                    f"select product, sum(negative) from {glob('daily_sentiment_summary')} where date = $a group by product",
                    {"a": END},
                ),
            }
            session = requests.Session()
            print(
                f"\n| {'route':<32} | {'uncached p50':>12} | {'uncached p95':>12} | {'cached p50':>10} | {'cached p95':>10} | {'raw DuckDB p50':>14} | {'uncached / raw':>14} |"
            )
            print(f"|{'-' * 34}|{'-' * 14}|{'-' * 14}|{'-' * 12}|{'-' * 12}|{'-' * 16}|{'-' * 16}|")
            raw_p50 = {}
            for label, (path, params, sql, sql_params) in routes.items():
                time_http(session, uncached_url, path, params, key, 2)  # warm the id index and the OS cache
                un = percentiles(time_http(session, uncached_url, path, params, key, args.repeat))
                time_http(session, cached_url, path, params, key, 1)
                ca = percentiles(time_http(session, cached_url, path, params, key, args.repeat))
                raw = percentiles(time_duckdb(sql, sql_params, args.repeat))
                raw_p50[label] = raw[0]
                print(
                    f"| {label:<32} | {un[0]:>10.1f}ms | {un[1]:>10.1f}ms | {ca[0]:>8.2f}ms | {ca[1]:>8.2f}ms | {raw[0]:>12.1f}ms | {un[0] / raw[0]:>14.2f} |"
                )
        questions = {
            "analytics: year by product": "select product, count(*), avg(compound), avg((label = 'negative')::int) from tickets group by product",
            "analytics: 30 days by channel": f"select channel, count(*), avg((label = 'negative')::int) from tickets where day between '{month}' and '{END}' group by channel",
            "ticket detail (no date given)": f"select * from tickets where ticket_id = '{some_id}'",
        }
        pg = postgres_timings(rows, questions, args.repeat)
        if pg:
            print(f"\n| {'question (PostgreSQL 15, per-ticket rows)':<44} | {'p50':>9} | {'p95':>9} |")
            print(f"|{'-' * 46}|{'-' * 11}|{'-' * 11}|")
            for name, (p50, p95) in pg.items():
                print(f"| {name:<44} | {p50:>7.2f}ms | {p95:>7.2f}ms |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
