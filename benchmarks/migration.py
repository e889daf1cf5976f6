"""Migration benchmark: 1,000,000 tickets over 30 days imported from PostgreSQL and exported
back, each driver tried next to psql's COPY as the floor, measured in the same run.

A throwaway PostgreSQL server (Debian's binaries, 512 MB shared buffers, on 127.0.0.1) is
seeded with the old platform's table: 15 columns (e-mail bodies of ~500 characters with line
breaks, quotes, a quoted earlier message and non-ASCII text; timestamptz, smallint, numeric,
text[]), warm in the cache.
Each run is a fresh interpreter (its own peak RSS, VmHWM):

  import
    psql COPY TO STDOUT         the floor: the server's text COPY of the table into /dev/null
    psql COPY, ORDER BY         the same rows in created_at order (the import needs them by day)
    adbc stream (driver only)   ADBC's libpq driver: SELECT ... ORDER BY day as Arrow batches, counted
    connectorx (driver only)    connectorx.read_sql -> one Arrow table (it has no streaming)
    psycopg 3 binary COPY       COPY (SELECT ...) TO STDOUT (FORMAT BINARY), rows -> Arrow batches
    import (chosen: adbc)       `sentiment-pipeline import postgres`'s function: 30 Parquet landing files
  then the normal pipeline ingests the 30 days (one dg.materialize of ticket + ticket_rejects), and
  the reconcile compares every row's id and mapped values with PostgreSQL (it must find all equal)
  export
    psql COPY FROM STDIN        the floor: the exported rows as COPY text, loaded into a copy of the table
    psycopg 3 binary COPY       the lake's ticket partitions, rows written with Copy.write_row
    export (chosen: adbc)       `sentiment-pipeline export postgres`'s function: per day DELETE + bulk COPY

Target (issue 20): the chosen import within 2x of the COPY floor, peak RSS that of one day.

Run: `python benchmarks/migration.py [--tickets N] [--days D]`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiment_pipeline_tests.services import postgres_binaries, throwaway_postgres

FIRST = date(2025, 3, 1)
SOURCE = "legacy_platform"
SOURCES_FILE = Path(__file__).resolve().parents[1] / "sentiment_pipeline_tests" / "data" / "legacy_platform_sources.toml"
QUOTED = (
    "\n\n--\nSent from my phone\n\n> On Mon, 3 Mar 2025 at 09:12, Acme Support <support@acme.example> wrote:\n"
    "> Thank you for contacting Acme Support. We have received your request and an agent will reply\n"
    "> within one business day. Please keep the ticket number in the subject of your reply.\n> Kind regards, the Acme team"
)
BODIES = [
    "Hello team,\n\nmy Acme Router X2 keeps dropping the connection since firmware 3.2.0.\nError E2210 every evening.\n\nThanks, Zoë",
    'Hi,\n\nthe invoice says "paid" but I was charged twice; order #48213.\nPlease refund one.\n\nRegards, José',
    "Guten Tag,\n\nder Drucker meldet „Papierstau“, obwohl kein Papier drin ist.\nGrüße, Jürgen",
    "Thanks a lot, the new firmware fixed it!",
    "Bonjour,\n\nl'application plante à l'ouverture depuis la mise à jour.\nCordialement, Amélie",
]
SEED = """CREATE TABLE tickets AS SELECT
    'T-' || lpad(g::text, 7, '0') AS ticket_ref,
    timestamptz '{first}' + (g - 1) * interval '1 second' * ({seconds} / {tickets}.0) AS opened_at,
    'Case ' || g || ': ' || (ARRAY['router drops', 'double charge', 'paper jam', 'thank you', 'app crash'])[1 + g % 5] AS subject,
    (ARRAY[{bodies}])[1 + g % 5] || E'\\n-- ticket ' || g || {quoted} AS body,
    (ARRAY['email', 'chat', 'phone', 'web'])[1 + g % 4] AS channel,
    'Acme Router X' || (g % 7) AS product,
    'C' || (g % 50000) AS customer,
    'A' || lpad((g % 40)::text, 3, '0') AS agent,
    (ARRAY['solved', 'open', 'pending'])[1 + g % 3] AS status,
    (ARRAY['low', 'normal', 'high', 'urgent'])[1 + g % 4] AS priority,
    timestamptz '{first}' + (g - 1) * interval '1 second' * ({seconds} / {tickets}.0) + interval '3 hours' AS closed_at,
    (1 + g % 5)::smallint AS csat,
    ARRAY['billing', 'vip'] AS labels,
    (ARRAY['EMEA', 'AMER', 'APAC'])[1 + g % 3] AS region,
    (g % 1000 * 1.25)::numeric(10, 2) AS refund_amount
    FROM generate_series(1, {tickets}) AS g"""

REPORT = """
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": hwm / 1024}))
"""
RUNS = {
    "adbc stream (driver only)": """
import adbc_driver_postgresql.dbapi as adbc
from sentiment_pipeline.migration.postgres import Tables, connection, source_profile
start = time.perf_counter()
with connection(dsn) as connected:
    layout = Tables.read(connected, ["tickets"], source_profile(source, os.environ["SENTIMENT_SOURCES"]))
    with connected.cursor() as cursor:
        cursor.execute(layout.query(layout.selected(), first, last, order=True))
        rows = sum(batch.num_rows for batch in cursor.fetch_record_batch())
seconds = time.perf_counter() - start
""",
    "connectorx (driver only)": """
import connectorx
start = time.perf_counter()
rows = connectorx.read_sql(dsn, "SELECT * FROM tickets ORDER BY opened_at", return_type="arrow").num_rows
seconds = time.perf_counter() - start
""",
    "psycopg 3 binary COPY": """
import psycopg, pyarrow as pa
start = time.perf_counter()
rows = 0
with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
    cursor.execute("SELECT * FROM tickets LIMIT 0")
    names = [c.name for c in cursor.description]
    types = [c.type_code for c in cursor.description]
    with cursor.copy("COPY (SELECT * FROM tickets ORDER BY opened_at) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(types)
        batch = []
        for row in copy.rows():
            batch.append(row)
            if len(batch) == 65536:
                rows += pa.Table.from_pylist([dict(zip(names, r)) for r in batch]).num_rows
                batch = []
        rows += len(batch) and pa.Table.from_pylist([dict(zip(names, r)) for r in batch]).num_rows
seconds = time.perf_counter() - start
""",
    "import (chosen: adbc)": """
from sentiment_pipeline import migration
from sentiment_pipeline.settings import lake_roots
start = time.perf_counter()
days = migration.import_days(dsn, ["tickets"], migration.source_profile(source, os.environ["SENTIMENT_SOURCES"]), first, last, lake_roots().landing_root)
rows = sum(day.rows for day in days)
seconds = time.perf_counter() - start
""",
    "backfill: ingest of the imported days": """
import dagster as dg
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.defs.resources import pipeline_resources
from sentiment_pipeline.settings import lake_roots
import polars as pl
start = time.perf_counter()
tags = {"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)}
assert dg.materialize([ingest], resources=pipeline_resources(), tags=tags).success
seconds = time.perf_counter() - start
rows = pl.scan_parquet(f"{lake_roots().storage_root}/ticket/**/*.parquet").select(pl.len()).collect().item()
""",
    "reconcile": """
from sentiment_pipeline import migration
from sentiment_pipeline.settings import lake_roots
start = time.perf_counter()
profile = migration.source_profile(source, os.environ["SENTIMENT_SOURCES"])
reconciled = migration.reconcile_days(dsn, ["tickets"], profile, first, last, lake_roots())
assert migration.all_match(reconciled), migration.reconcile_table(reconciled)
rows = int(reconciled["postgres_rows"].sum())
seconds = time.perf_counter() - start
""",
    "export (chosen: adbc)": """
from sentiment_pipeline import migration
from sentiment_pipeline.settings import lake_roots
start = time.perf_counter()
rows = sum(day.rows for day in migration.export_days(dsn, "ticket", first, last, lake_roots(), table="ticket_export"))
seconds = time.perf_counter() - start
""",
    "psycopg 3 binary COPY (export)": """
import psycopg, polars as pl
from sentiment_pipeline import storage
from sentiment_pipeline.migration.exporter import pg_type
from sentiment_pipeline.settings import lake_roots
start = time.perf_counter()
rows = 0
keys = [str(first + timedelta(days=n)) for n in range((last - first).days + 1)]
with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
    for key in keys:
        frame = pl.read_parquet(storage.partition_uri(lake_roots().storage_root, "ticket", key)).drop("comments")
        if key == keys[0]:
            columns = ", ".join(f'"{c}" {pg_type(t)}' for c, t in frame.schema.items())
            cursor.execute(f"CREATE TABLE ticket_psycopg ({columns})")
        with cursor.copy(f"COPY ticket_psycopg FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([pg_type(t) for t in frame.schema.values()])
            for row in frame.iter_rows():
                copy.write_row(row)
        rows += frame.height
    connection.commit()
seconds = time.perf_counter() - start
""",
}
PRELUDE = """
import json, os, sys, time
from datetime import date, timedelta
dsn, source, first, last = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3]), date.fromisoformat(sys.argv[4])
"""


def timed(name: str, dsn: str, last: date, env: dict) -> dict:
    """One run in a fresh interpreter: seconds, rows, peak RSS MB."""
    code = PRELUDE + RUNS[name] + REPORT
    completed = subprocess.run([sys.executable, "-c", code, dsn, SOURCE, str(FIRST), str(last)], env=env, capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"{name} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def psql(dsn: str, command: str, stdin=None, stdout=subprocess.DEVNULL) -> dict:
    """psql running ``command``: its seconds (the server does the work: psql's memory is not shown)."""
    start = time.perf_counter()
    completed = subprocess.run(
        [str(postgres_binaries() / "psql"), dsn, "-v", "ON_ERROR_STOP=1", "-c", command], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE
    )
    if completed.returncode:
        raise SystemExit(f"psql failed: {completed.stderr.decode()[-2000:]}")
    return {"seconds": time.perf_counter() - start, "peak_mb": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    last = FIRST + timedelta(days=args.days - 1)
    settings = {"shared_buffers": "512MB", "work_mem": "64MB", "max_wal_size": "4GB"}
    with throwaway_postgres(settings) as pg, tempfile.TemporaryDirectory(prefix="bench-migration-") as folder:
        dsn = pg.dsn()
        started = time.perf_counter()
        bodies = ", ".join("'" + b.replace("'", "''") + "'" for b in BODIES)
        pg.execute(
            SEED.format(
                first=FIRST, seconds=args.days * 86400, tickets=args.tickets, bodies=bodies, quoted="'" + QUOTED.replace("'", "''") + "'"
            )
        )
        pg.execute("VACUUM ANALYZE tickets")
        size = pg.query("SELECT pg_size_pretty(pg_total_relation_size('tickets'))")[0][0]
        print(f"seeded {args.tickets:,} tickets over {args.days} days ({size}) in {time.perf_counter() - started:.0f} s")
        env = {
            **os.environ,
            "SENTIMENT_STORAGE_ROOT": str(Path(folder) / "data"),
            "SENTIMENT_SOURCES": str(SOURCES_FILE),
            "SENTIMENT_PARTITIONS_START": str(FIRST),
            "DAGSTER_HOME": folder,
        }
        env.pop("SENTIMENT_LANDING_ROOT", None)
        psql(dsn, "COPY tickets TO STDOUT")  # warm: the table in the cache for every reader alike
        results = {
            "psql COPY TO STDOUT (floor)": {**psql(dsn, "COPY tickets TO STDOUT"), "rows": args.tickets},
            "psql COPY, ORDER BY opened_at": {
                **psql(dsn, "COPY (SELECT * FROM tickets ORDER BY opened_at) TO STDOUT"),
                "rows": args.tickets,
            },
        }
        for name in ("adbc stream (driver only)", "connectorx (driver only)", "psycopg 3 binary COPY", "import (chosen: adbc)"):
            results[name] = timed(name, dsn, last, env)
        print_table("import", results, args.tickets, "psql COPY TO STDOUT (floor)")
        backfill = timed("backfill: ingest of the imported days", dsn, last, env)
        print(f"\nbackfill: {backfill['rows']:,} tickets ingested in {backfill['seconds']:.1f} s (peak {backfill['peak_mb']:.0f} MB)")
        reconciled = timed("reconcile", dsn, last, env)
        print(
            f"reconcile: {reconciled['rows']:,} rows, ids and values, all match, in {reconciled['seconds']:.1f} s (peak {reconciled['peak_mb']:.0f} MB)"
        )
        exported = {"export (chosen: adbc)": timed("export (chosen: adbc)", dsn, last, env)}
        dump = Path(folder) / "ticket_export.copy"
        with dump.open("wb") as out:
            psql(dsn, "COPY ticket_export TO STDOUT", stdout=out)
        pg.execute("CREATE TABLE ticket_floor (LIKE ticket_export)")
        with dump.open("rb") as rows_in:
            exported = {
                "psql COPY FROM STDIN (floor)": {
                    **psql(dsn, "COPY ticket_floor FROM STDIN", stdin=rows_in),
                    "rows": exported["export (chosen: adbc)"]["rows"],
                },
                **exported,
            }
        exported["psycopg 3 binary COPY (export)"] = timed("psycopg 3 binary COPY (export)", dsn, last, env)
        print_table("export", exported, exported["export (chosen: adbc)"]["rows"], "psql COPY FROM STDIN (floor)")


def print_table(what: str, results: dict[str, dict], expected_rows: int, floor: str) -> None:
    base = results[floor]["seconds"]
    print(f"\n{what}: {expected_rows:,} rows\n")
    print(f"| {'run':<36} | {'seconds':>7} | {'rows/s':>9} | {'x floor':>7} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 38}|{'-' * 9}|{'-' * 11}|{'-' * 9}|{'-' * 13}|")
    for name, run in results.items():
        assert run["rows"] == expected_rows, f"{name}: {run['rows']} rows, expected {expected_rows}"
        rss = "-" if run["peak_mb"] is None else f"{run['peak_mb']:.0f}"
        print(
            f"| {name:<36} | {run['seconds']:>7.2f} | {run['rows'] / run['seconds']:>9,.0f} | {run['seconds'] / base:>7.2f} | {rss:>11} |"
        )


if __name__ == "__main__":
    main()
