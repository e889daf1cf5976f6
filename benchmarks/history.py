"""Whole-history query latency: 365 days of `daily_sentiment_summary` and of `sentiment`.

Our read path (`storage.asset_source` in a fresh in-memory DuckDB, as the API reads
storage: typed year/month/day hive partitions) next to raw DuckDB `read_parquet` with
`hive_partitioning` over the same files, in the same run. Files are written in the
pipeline's own layout by the IO manager's writer. Run: `make bench` (or
`python benchmarks/history.py --days 365 --tickets 10000`).
"""

import argparse
import statistics
import tempfile
import time
from datetime import date, timedelta

import polars as pl

from sentiment_pipeline import storage

CHANNELS = ["email", "chat", "phone", "web", "social", None]
PRODUCTS = [f"Product {i}" for i in range(12)] + [None]

QUERIES = {
    "summary: 365 days by channel": (
        "daily_sentiment_summary",
        "select channel, sum(tickets) as tickets, sum(negative) / sum(tickets) as share_negative "
        "from {t} group by channel order by channel",
    ),
    "summary: last 30 days by day": (
        "daily_sentiment_summary",
        "select date, sum(tickets), sum(negative) / sum(tickets) from {t} where date >= $since group by date order by date",
    ),
    "sentiment: 365 days by label": (
        "sentiment",
        "select label, count(*), round(avg(compound), 9) from {t} group by label order by label",
    ),
    "sentiment: one month (hive pruning)": (
        "sentiment",
        "select label, count(*), round(avg(compound), 9) from {t} where year = $year and month = $month group by label order by label",
    ),
}


def write_history(root: str, days: int, tickets: int, end: date) -> None:
    for offset in range(days):
        day = end - timedelta(days=offset)
        key = day.isoformat()
        index = pl.int_range(tickets, eager=True)
        noise = ((index * 2654435761 + offset * 40503) % 10007).cast(pl.Float64) / 10007
        compound = (noise * 2 - 1).round(4)
        sentiment = pl.DataFrame(
            {
                "ticket_id": [f"T{key}-{i}" for i in range(tickets)],
                "compound": compound,
                "label": pl.select(
                    pl.when(compound >= 0.05)
                    .then(pl.lit("positive"))
                    .when(compound <= -0.05)
                    .then(pl.lit("negative"))
                    .otherwise(pl.lit("neutral"))
                ).to_series(),
            }
        )
        summary = pl.DataFrame(
            [(day, c, p, 100 + offset % 7, (offset * 13) % 40) for c in CHANNELS for p in PRODUCTS],
            schema={"date": pl.Date, "channel": pl.String, "product": pl.String, "tickets": pl.Int64, "negative": pl.Int64},
            orient="row",
        )
        for asset, frame in (("sentiment", sentiment), ("daily_sentiment_summary", summary)):
            storage.write_parquet(frame, storage.partition_uri(root, asset, key), compression="snappy", metadata={})


def timings(run, repeat: int) -> tuple[float, float, float]:
    start = time.perf_counter()
    run()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        warm.append(time.perf_counter() - start)
    warm.sort()
    return cold, statistics.median(warm), warm[int(len(warm) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    end = date(2025, 12, 31)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as root:
        start = time.perf_counter()
        write_history(root, args.days, args.tickets, end)
        print(
            f"\nwrote {args.days} days x ({args.tickets:,} sentiment rows + {len(CHANNELS) * len(PRODUCTS)} summary rows) "
            f"in {time.perf_counter() - start:.1f} s\n"
        )
        params = {"since": end - timedelta(days=29), "year": end.year, "month": end.month}
        print(
            f"| {'query':<36} | {'ours p50 ms':>11} | {'ours p95 ms':>11} | {'raw p50 ms':>10} | {'ours / raw':>10} | {'ours cold ms':>12} |"
        )
        print(f"|{'-' * 38}|{'-' * 13}|{'-' * 13}|{'-' * 12}|{'-' * 12}|{'-' * 14}|")
        for label, (asset, sql) in QUERIES.items():
            used = {k: v for k, v in params.items() if f"${k}" in sql}

            def ours(sql=sql, asset=asset, used=used):
                connection = storage.duckdb_connection()
                return connection.execute(sql.format(t=storage.asset_source(connection, root, asset)), used).fetchall()

            glob = f"read_parquet('{root}/{asset}/*/*/*/*.parquet', hive_partitioning = true, hive_types = {{'year': SMALLINT, 'month': TINYINT, 'day': TINYINT}})"

            def raw(sql=sql, glob=glob, used=used):
                return storage.duckdb_connection().execute(sql.format(t=glob), used).fetchall()

            assert ours() == raw(), label
            our_cold, our_p50, our_p95 = timings(ours, args.repeat)
            _, raw_p50, _ = timings(raw, args.repeat)
            print(
                f"| {label:<36} | {our_p50 * 1000:>11.1f} | {our_p95 * 1000:>11.1f} | {raw_p50 * 1000:>10.1f} | "
                f"{our_p50 / raw_p50:>10.2f} | {our_cold * 1000:>12.1f} |"
            )
        print("\nboth sides open a fresh in-memory connection per query, as an uncached API request does.")


if __name__ == "__main__":
    main()
