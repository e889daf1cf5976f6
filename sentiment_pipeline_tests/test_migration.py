"""The migration from PostgreSQL against a real server (the session's throwaway cluster on
127.0.0.1): a seeded history of the old platform's support tickets (dirty rows, NULLs,
timestamptz values written in several zones, array, numeric, uuid and jsonb columns) and a
2,000-column layout split over two tables are imported, ingested by ``dg.materialize``,
reconciled (clean, then with a planted extra row and a deleted one) and exported back.

The expected tickets and rejects are worked out here from the seed rows themselves, not read
back from what the pipeline wrote."""

import json
import os
import subprocess
import sys
import uuid
from contextlib import closing
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest

from sentiment_pipeline import migration, storage
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.ingest.parquet_reader import SOURCE_KEY
from sentiment_pipeline.settings import lake_roots

from .helpers import materialize, read_partition

BIN = Path(sys.executable).parent
FIRST, LAST = date(2025, 3, 1), date(2025, 3, 3)
KEYS = [(FIRST + timedelta(days=n)).isoformat() for n in range(3)]
SOURCE = "legacy_platform"
SOURCES_FILE = Path(__file__).parent / "data" / "legacy_platform_sources.toml"  # maps SOURCE and "legacy_wide"
BODY = 'Hallo Team,\n\nmein Router "X2" fällt ständig aus; bitte helfen.\nGrüße, Zoë 🙂'
CREATE = """CREATE TABLE support_tickets (
    ticket_ref text, opened_at timestamptz, subject text, body text, channel text, product text, customer text,
    agent text, closed_at timestamptz, csat smallint, labels text[], region text, plan_tier integer,
    refund_amount numeric(10, 2), account_uuid uuid, extra jsonb, seats int[], opt_in boolean)"""
COLUMNS = "ticket_ref, opened_at, subject, body, channel, product, customer, agent, closed_at, csat, labels, region, plan_tier, refund_amount, account_uuid, extra, seats, opt_in"
# The dirty rows (by body) and the start of the reason each is rejected with.
DIRTY = {
    "csat out of range": "csat '9' is not an integer from 1 to 5",
    "no id at all": "missing ticket_id",
    "no created_at": "missing created_at",
    "the same id again, later": "duplicate ticket_id 'T-0007'",
}
ZONES = [timezone(timedelta(hours=h)) for h in (2, -5, 0, 9, -3)]
ACCOUNT = uuid.UUID("6c6226b2-143c-4f7a-b799-dc04f4f51758")


def seed_rows() -> list[dict]:
    """The old platform's rows: five clean tickets a day written in five zones (one of them
    near midnight, so its UTC day differs from its local one), and the dirty ones."""
    rows = []
    for n in range(15):
        zone = ZONES[n % 5]
        local = datetime(2025, 3, 1, 9, 0) + timedelta(days=n // 5, hours=3 * (n % 5))
        if n % 5 == 1:  # 23:30 at UTC-5 is the next day in UTC
            local = datetime.combine(local.date(), datetime.min.time()) + timedelta(hours=23, minutes=30) - timedelta(days=1)
        opened = local.replace(tzinfo=zone)
        rows.append(
            {
                "ticket_ref": f"T-{n:04d}",
                "opened_at": opened,
                "subject": f"Router X2 drops, case {n}",
                "body": BODY if n % 2 else "Plain; short, with a comma",
                "channel": ["email", "chat", "phone"][n % 3],
                "product": "Acme Router X2",
                "customer": f"C{100 + n}",
                "agent": None if n == 4 else f"A00{n % 3}",
                "closed_at": opened + timedelta(hours=5) if n % 4 else None,
                "csat": None if n % 3 == 2 else 1 + n % 5,
                "labels": ["wifi", "vip"] if n % 2 else None,
                "region": "EMEA",
                "plan_tier": n,
                "refund_amount": "12.50" if n == 3 else None,
                "account_uuid": str(ACCOUNT) if n == 5 else None,
                "extra": json.dumps({"source": "portal", "flags": [1, "é"]}) if n == 6 else None,
                "seats": [1, 2] if n == 7 else None,
                "opt_in": n % 2 == 0,
            }
        )
    rows[3]["ticket_ref"] = "  000123 "  # trimmed; leading zeros kept
    dirty = [
        {"ticket_ref": "T-0100", "opened_at": datetime(2025, 3, 2, 10, 0, tzinfo=UTC), "csat": 9, "body": "csat out of range"},
        {"ticket_ref": None, "opened_at": datetime(2025, 3, 2, 11, 0, tzinfo=UTC), "body": "no id at all"},
        {"ticket_ref": "T-0102", "opened_at": None, "body": "no created_at"},
        {"ticket_ref": "T-0007", "opened_at": rows[7]["opened_at"] + timedelta(minutes=5), "body": "the same id again, later"},
        {"ticket_ref": "T-0900", "opened_at": datetime(2025, 2, 28, 12, 0, tzinfo=UTC), "body": "before the range"},
        {"ticket_ref": "T-0901", "opened_at": datetime(2025, 3, 4, 0, 0, tzinfo=UTC), "body": "after the range"},
    ]
    return rows + [{**dict.fromkeys(COLUMNS.split(", ")), **row} for row in dirty]


def utc_day(row: dict) -> date | None:
    return row["opened_at"].astimezone(UTC).date() if row["opened_at"] else None


def placed(rows: list[dict]) -> dict[str, list[dict]]:
    """The seed rows each day of the range should hold: by UTC day of opened_at, none -> FIRST."""
    days: dict[str, list[dict]] = {key: [] for key in KEYS}
    for row in rows:
        day = utc_day(row) or FIRST
        if FIRST <= day <= LAST:
            days[day.isoformat()].append(row)
    return days


def insert(pg, dbname: str, table: str, rows: list[dict]) -> None:
    with closing(pg.connect(dbname)) as connection, connection.cursor() as cursor:
        for row in rows:
            names = list(row)
            cursor.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})", [row[n] for n in names])
        connection.commit()


@pytest.fixture(scope="module")
def history(postgres):
    """A database holding the seeded history and the wide layout; its DSN."""
    dbname = f"helpdesk_{uuid.uuid4().hex[:8]}"
    postgres.execute(f"CREATE DATABASE {dbname}")
    postgres.execute(CREATE, dbname=dbname)
    insert(postgres, dbname, "support_tickets", seed_rows())
    wide_columns = [f"cf_{n:04d}" for n in range(1, 2001)]
    for table, custom in (("wide_a", wide_columns[:1000]), ("wide_b", wide_columns[1000:])):
        head = "ticket_ref text, opened_at timestamptz, body text, " if table == "wide_a" else "ticket_ref text, "
        postgres.execute(f"CREATE TABLE {table} ({head}{', '.join(f'{c} text' for c in custom)})", dbname=dbname)
    insert(postgres, dbname, "wide_a", [{"ticket_ref": t, "opened_at": w, "body": "wide", **v} for t, w, v in wide_rows("a")])
    insert(postgres, dbname, "wide_b", [{"ticket_ref": t, **v} for t, _, v in wide_rows("b")])
    return postgres, dbname, postgres.dsn(dbname)


def wide_rows(part: str) -> list[tuple[str, datetime, dict]]:
    """Four tickets over two days, each with a few of the 2,000 custom fields set (sparse, as
    real wide exports are); W-4 is only in wide_b."""
    rows = []
    for n in range(1, 5):
        set_fields = [k for k in range(1, 2001) if k % 97 == n]
        values = {f"cf_{k:04d}": f"v{n}-{k}" for k in set_fields if (k <= 1000) == (part == "a")}
        if part == "a" and n == 4:
            continue
        rows.append((f"W-{n}", datetime(2025, 3, 1 + n % 2, 8, n, tzinfo=UTC), values))
    return rows


@pytest.fixture
def migration_env(local_storage, monkeypatch):
    monkeypatch.setenv("SENTIMENT_SOURCES", str(SOURCES_FILE))
    monkeypatch.setenv("SENTIMENT_PARTITIONS_START", "2025-02-01")
    return local_storage


def cli(*args: str, dsn: str | None = None) -> subprocess.CompletedProcess:
    """The installed ``sentiment-pipeline`` command, the DSN (if any) from the environment."""
    env = {**os.environ, **({migration.DSN_VARIABLE: dsn} if dsn else {})}
    return subprocess.run([str(BIN / "sentiment-pipeline"), *args], capture_output=True, text=True, env=env, timeout=300)


def import_args(*tables: str, source: str = SOURCE) -> list[str]:
    return ["postgres", *(a for t in tables for a in ("--table", t)), "--source", source, "--start", str(FIRST), "--end", str(LAST)]


def profile(name: str = SOURCE):
    return migration.source_profile(name, os.environ["SENTIMENT_SOURCES"])


@pytest.mark.slow
def test_the_import_places_each_row_in_its_utc_day_and_a_rerun_replaces_its_files(history, migration_env, monkeypatch):
    pg, dbname, dsn = history
    expected = placed(seed_rows())
    days = migration.import_days(dsn, ["support_tickets"], profile(), FIRST, LAST, lake_roots().landing_root)
    assert [(d.day.isoformat(), d.rows) for d in days] == [(key, len(rows)) for key, rows in expected.items()]
    for day in days:
        written = pq.read_table(day.file)
        assert sorted(written.column("ticket_ref").to_pylist(), key=str) == sorted(
            (r["ticket_ref"] for r in expected[day.day.isoformat()]), key=str
        )
        metadata = pq.read_metadata(day.file).metadata
        assert metadata[SOURCE_KEY] == SOURCE.encode()
        assert pg.password.encode() not in b"".join(metadata.values())
    # Imported, not yet ingested: the reconcile says so for every day (and does not pass).
    waiting = migration.reconcile_days(dsn, ["support_tickets"], profile(), FIRST, LAST, lake_roots())
    assert waiting.select("status", "postgres_rows", "lake_tickets").rows() == [("not ingested", d.rows, 0) for d in days]
    assert not migration.all_match(waiting)
    with pytest.raises(migration.MigrationError, match="'ticket' has no partition for 2025-03-01, 2025-03-02, 2025-03-03"):
        migration.export_days(dsn, "ticket", FIRST, LAST, lake_roots())
    # A day emptied in PostgreSQL loses the import's file on a re-run; the others are replaced, not added to.
    pg.execute("CREATE TABLE support_tickets_later AS SELECT * FROM support_tickets WHERE opened_at >= '2025-03-03'", dbname=dbname)
    again = migration.import_days(dsn, ["support_tickets_later"], profile(), date(2025, 3, 2), LAST, lake_roots().landing_root)
    assert again[0].rows == 0 and again[0].file is None
    assert not storage.exists(days[1].file)
    assert pq.read_table(again[1].file).num_rows == len(expected[KEYS[2]])
    assert sorted(p.name for p in Path(lake_roots().landing_root).rglob("*.parquet")) == [f"postgres-{SOURCE}.parquet"] * 2
    # Ingested where PostgreSQL is not configured: the day's check warns that it could not reconcile.
    monkeypatch.delenv(migration.DSN_VARIABLE, raising=False)
    result = materialize([ingest], partition_key=KEYS[2])
    [check] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "matches_postgres"]
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert "not reconciled with support_tickets_later (legacy_platform): SENTIMENT_POSTGRES_DSN is not set" in check.description


@pytest.mark.slow
def test_imported_history_ingests_reconciles_and_names_a_planted_and_a_deleted_row(history, migration_env, monkeypatch):
    pg, dbname, dsn = history
    pg.execute("CREATE TABLE tickets_reconciled AS SELECT * FROM support_tickets", dbname=dbname)  # planted in and deleted from below
    imported = cli("import", *import_args("tickets_reconciled"), dsn=dsn)
    assert imported.returncode == 0, imported.stderr
    assert pg.password not in imported.stdout + imported.stderr
    monkeypatch.setenv(migration.DSN_VARIABLE, dsn)  # for the matches_postgres check
    result = materialize([ingest], tags={"dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]})
    assert result.success
    checks = {(e.asset_check_key.name, e.partition): e.passed for e in result.get_asset_check_evaluations()}
    assert all(checks[("matches_postgres", key)] for key in KEYS), checks

    expected = placed(seed_rows())
    for key in KEYS:
        tickets, rejects = read_partition("ticket", key), read_partition("ticket_rejects", key)
        good = [r for r in expected[key] if r["body"] not in DIRTY]
        assert sorted(tickets.get_column("ticket_id").to_list()) == sorted(r["ticket_ref"].strip() for r in good)
        dirty = sorted(((r["ticket_ref"], DIRTY[r["body"]]) for r in expected[key] if r["body"] in DIRTY), key=str)
        found = sorted(zip(rejects.get_column("ticket_id"), rejects.get_column("reason"), strict=True), key=str)
        assert [(i, reason[: len(want)]) for (i, reason), (_, want) in zip(found, dirty, strict=True)] == dirty
        by_id = {r["ticket_id"]: r for r in tickets.iter_rows(named=True)}
        for row in good:
            ticket = by_id[row["ticket_ref"].strip()]
            assert ticket["created_at"] == row["opened_at"].astimezone(UTC)
            assert ticket["resolved_at"] == (row["closed_at"].astimezone(UTC) if row["closed_at"] else None)
            assert ticket["csat"] == row["csat"]
            assert ticket["tags"] == row["labels"]
            assert ticket["body"] == row["body"]
            assert ticket["plan_tier"] == str(row["plan_tier"])
            assert ticket["opt_in"] == str(row["opt_in"]).lower()
            assert ticket["refund_amount"] == row["refund_amount"]
            assert ticket["account_uuid"] == row["account_uuid"]
            assert ticket["seats"] == (None if row["seats"] is None else "[1, 2]")
            assert (json.loads(ticket["extra"]) if ticket["extra"] else None) == (json.loads(row["extra"]) if row["extra"] else None)

    clean = cli("reconcile", *import_args("tickets_reconciled"), dsn=dsn)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "all match" in clean.stdout

    pg.execute(
        "INSERT INTO tickets_reconciled (ticket_ref, opened_at, body) VALUES ('T-PLANTED', '2025-03-02 12:00+00', 'added after the import')",
        dbname=dbname,
    )
    pg.execute("DELETE FROM tickets_reconciled WHERE ticket_ref = 'T-0011'", dbname=dbname)
    pg.execute(
        "UPDATE tickets_reconciled SET body = body || ' (edited)', labels = ARRAY['wifi'] WHERE ticket_ref = 'T-0005'", dbname=dbname
    )
    pg.execute("UPDATE tickets_reconciled SET opened_at = opened_at + interval '1 second' WHERE ticket_ref = 'T-0006'", dbname=dbname)
    deleted_day = next(key for key, rows in expected.items() if any(r["ticket_ref"] == "T-0011" for r in rows))
    differs = cli("reconcile", *import_args("tickets_reconciled"), dsn=dsn)
    assert differs.returncode == 1, differs.stdout + differs.stderr
    lines = {line.split()[0]: line for line in differs.stdout.splitlines()[1:]}
    assert "differs" in lines["2025-03-02"] and "T-PLANTED" in lines["2025-03-02"]
    assert "differs" in lines[deleted_day] and "T-0011" in lines[deleted_day]
    reconciled = migration.reconcile_days(dsn, ["tickets_reconciled"], profile(), FIRST, LAST, lake_roots())
    rows = {r["day"].isoformat(): r for r in reconciled.iter_rows(named=True)}
    assert rows["2025-03-02"]["missing_in_lake"] == ["T-PLANTED"]
    assert rows[deleted_day]["missing_in_postgres"] == ["T-0011"]
    edited_day = next(key for key, rows in expected.items() if any(r["ticket_ref"] == "T-0005" for r in rows))
    assert rows[edited_day]["changed"] == ["T-0005 (body, tags)", "T-0006 (created_at)"]
    assert "T-0005 (body, tags)" in lines[edited_day]
    assert sum(len(r["changed"]) for r in rows.values()) == 2
    assert [k for k, r in rows.items() if r["status"] != "matches"] == sorted({"2025-03-02", deleted_day, edited_day})
    # The day's check, run again by a re-ingest of the day, fails and names the row.
    again = materialize([ingest], partition_key="2025-03-02")
    [check] = [e for e in again.get_asset_check_evaluations() if e.asset_check_key.name == "matches_postgres"]
    assert not check.passed and "T-PLANTED" in check.description


def ingest_range(first: str, last: str) -> None:
    assert materialize([ingest], tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}).success


@pytest.mark.slow
def test_a_layout_split_over_two_tables_keeps_all_2000_custom_columns_and_exports_back_past_the_column_limit(history, migration_env):
    pg, dbname, dsn = history
    wide = profile("legacy_wide")
    days = migration.import_days(dsn, ["wide_a", "wide_b"], wide, FIRST, date(2025, 3, 2), lake_roots().landing_root)
    assert [d.rows for d in days] == [2, 2]  # W-2 and W-4 (only in wide_b: no opened_at) on the first day; W-1, W-3
    assert len(pq.read_schema(days[0].file).names) == 3 + 2000
    ingest_range(KEYS[0], KEYS[1])
    tickets = pl.concat([read_partition("ticket", key) for key in KEYS[:2]], how="diagonal_relaxed")
    custom = [f"cf_{k:04d}" for k in range(1, 2001)]
    assert set(custom) <= set(tickets.columns)
    for ticket in tickets.iter_rows(named=True):
        n = int(ticket["ticket_id"].removeprefix("W-"))
        assert {c: ticket[c] for c in custom if ticket[c] is not None} == {
            f"cf_{k:04d}": f"v{n}-{k}" for k in range(1, 2001) if k % 97 == n
        }
    assert sorted(tickets.get_column("ticket_id")) == ["W-1", "W-2", "W-3"]
    [reject] = read_partition("ticket_rejects", KEYS[0]).iter_rows(named=True)
    assert (reject["ticket_id"], reject["reason"]) == ("W-4", "missing created_at")
    assert migration.all_match(migration.reconcile_days(dsn, ["wide_a", "wide_b"], wide, FIRST, date(2025, 3, 2), lake_roots()))

    exported = migration.export_days(dsn, "ticket", FIRST, date(2025, 3, 2), lake_roots(), table="ticket_rollback")
    assert [(d.rows, d.overflow_fields > 0) for d in exported] == [(1, True), (2, True)]
    columns = [
        c for (c,) in pg.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'ticket_rollback'", dbname=dbname)
    ]
    assert len(columns) == 1600 and "custom_fields" in columns and "partition_date" in columns
    names = ", ".join(f'"{c}"' for c in columns)
    rows = pg.query(f"SELECT row_to_json(t)::text FROM (SELECT {names} FROM ticket_rollback) t", dbname=dbname)
    for (text,) in rows:
        row = json.loads(text)
        kept = {c: v for c, v in row.items() if c.startswith("cf_") and v is not None} | (row["custom_fields"] or {})
        n = int(row["ticket_id"].removeprefix("W-"))
        assert kept == {f"cf_{k:04d}": f"v{n}-{k}" for k in range(1, 2001) if k % 97 == n}
    # A re-export replaces its day: a row planted there is gone and nothing doubles.
    pg.execute("INSERT INTO ticket_rollback (ticket_id, partition_date) VALUES ('PLANTED', '2025-03-02')", dbname=dbname)
    migration.export_days(dsn, "ticket", date(2025, 3, 2), date(2025, 3, 2), lake_roots(), table="ticket_rollback")
    by_day = pg.query(
        "SELECT partition_date::text, array_agg(ticket_id ORDER BY ticket_id) FROM ticket_rollback GROUP BY 1 ORDER BY 1", dbname=dbname
    )
    assert by_day == [("2025-03-01", ["W-2"]), ("2025-03-02", ["W-1", "W-3"])]


@pytest.mark.slow
def test_export_writes_typed_columns_and_a_reexport_replaces_the_day(history, migration_env):
    pg, dbname, dsn = history
    migration.import_days(dsn, ["support_tickets"], profile(), FIRST, LAST, lake_roots().landing_root)
    ingest_range(KEYS[0], KEYS[-1])
    lake = pl.concat([read_partition("ticket", key) for key in KEYS], how="diagonal_relaxed")
    done = cli("export", "postgres", "--asset", "ticket", "--start", str(FIRST), "--end", str(LAST), "--table", "ticket_export", dsn=dsn)
    assert done.returncode == 0, done.stderr
    assert pg.password not in done.stdout + done.stderr
    again = cli("export", "postgres", "--asset", "ticket", "--start", KEYS[1], "--end", KEYS[1], "--table", "ticket_export", dsn=dsn)
    assert again.returncode == 0, again.stderr
    stored = pg.query(
        "SELECT ticket_id, created_at, tags, csat, comments::text, plan_tier, partition_date FROM ticket_export", dbname=dbname
    )
    assert len(stored) == lake.height
    by_id = {r["ticket_id"]: r for r in lake.iter_rows(named=True)}
    for ticket_id, created, tags, csat, comments, plan_tier, day in stored:
        ticket = by_id[ticket_id]
        assert (created, tags, csat, json.loads(comments), plan_tier, day) == (
            ticket["created_at"],
            ticket["tags"],
            ticket["csat"],
            [],
            ticket["plan_tier"],
            ticket["partition_date"],
        )
    types = dict(
        pg.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'ticket_export'", dbname=dbname)
    )
    assert (types["created_at"], types["tags"], types["csat"], types["comments"]) == (
        "timestamp with time zone",
        "ARRAY",
        "smallint",
        "jsonb",
    )


@pytest.mark.slow
def test_passwords_never_appear_in_output_errors_or_run_metadata(history, migration_env, monkeypatch):
    from sentiment_pipeline.definitions import defs

    pg, dbname, dsn = history
    secret = "Sup3r-secret-pw"
    wrong = [
        f"postgresql://{pg.user}:{secret}@127.0.0.1:{pg.port}/{dbname}",
        f"host=127.0.0.1 port={pg.port} dbname={dbname} user={pg.user} password={secret}",
    ]
    for bad in wrong:
        failed = cli("import", *import_args("support_tickets"), dsn=bad)
        assert failed.returncode == 2
        assert "password authentication failed" in failed.stderr and "***" in failed.stderr
        assert secret not in failed.stdout + failed.stderr
    monkeypatch.setenv(migration.DSN_VARIABLE, dsn)
    config = {
        "ops": {"import_postgres_days": {"config": {"tables": ["support_tickets"], "source": SOURCE, "start": KEYS[0], "end": KEYS[-1]}}}
    }
    instance = dg.DagsterInstance.ephemeral()
    result = defs.get_job_def("postgres_import").execute_in_process(run_config=config, instance=instance)
    assert result.success
    assert result.output_for_node("import_postgres_days") == sum(len(rows) for rows in placed(seed_rows()).values())
    logged = "\n".join(str(record.dagster_event or record.user_message) for record in instance.all_logs(result.run_id))
    assert pg.password not in logged and "***" in logged
    assert sorted(p.parent.name for p in Path(lake_roots().landing_root).rglob(f"postgres-{SOURCE}.parquet")) == KEYS


def test_dsn_is_shown_with_its_password_masked():
    assert migration.shown_dsn("postgresql://u:p%40ss@db:5432/x?sslmode=require") == "postgresql://u:***@db:5432/x?sslmode=require"
    assert migration.shown_dsn("host=db user=u password='a b' dbname=x") == "host=db user=u password=*** dbname=x"
    assert migration.shown_dsn("postgresql://u@db/x") == "postgresql://u@db/x"


def test_a_parquet_landing_file_is_ingested_by_its_header_with_every_type_as_text(tmp_path):
    """A Parquet export in the canonical layout (no profile named): typed columns become the
    text a CSV would have held, a list of texts named tags stays the tags."""
    from sentiment_pipeline.ingest import LandingFile, ingest_day

    frame = pl.DataFrame(
        {
            "ticket_id": ["000123", "2", None],
            "created_at": [
                datetime(2025, 3, 1, 23, 30, tzinfo=UTC),
                datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
                datetime(2025, 3, 1, tzinfo=UTC),
            ],
            "tags": [["vip", " "], None, ["x"]],
            "csat": [5, 9, None],
            "amount": [1.5, None, 2.0],
            "seen": [date(2025, 3, 1), None, None],
            "meta": [{"a": 1}, None, {"a": 2}],
        }
    )
    path = tmp_path / "export.parquet"
    frame.write_parquet(path)
    day = ingest_day([LandingFile(str(path), path=str(path))], datetime.now(UTC))
    tickets = day.tickets.collect()
    assert tickets.select("ticket_id", "created_at", "tags", "csat", "amount", "seen", "meta").rows() == [
        ("000123", datetime(2025, 3, 1, 23, 30, tzinfo=UTC), ["vip"], 5, "1.5", "2025-03-01", '{"a":1}')
    ]
    assert sorted(day.rejects.select("source_row", "reason").rows(), key=str) == [
        (2, "csat '9' is not an integer from 1 to 5"),
        (3, "missing ticket_id"),
    ]
    assert day.rejects.get_column("raw").to_list()[0].startswith("2,2025-03-01T08:00:00")


def test_a_parquet_file_naming_an_unknown_source_is_a_file_level_reject(tmp_path):
    from sentiment_pipeline.ingest import LandingFile, ingest_day

    path = tmp_path / "postgres-gone.parquet"
    pl.DataFrame({"ref": ["1"]}).write_parquet(path, metadata={SOURCE_KEY.decode(): "gone"})
    day = ingest_day([LandingFile(str(path), path=str(path))], datetime.now(UTC))
    [reason] = day.rejects.get_column("reason").to_list()
    assert "mapped by source 'gone', which the sources file (SENTIMENT_SOURCES) does not define" in reason


@pytest.mark.slow
def test_a_timestamp_without_zone_is_local_time_of_the_source_and_a_text_one_is_refused(history, migration_env):
    pg, dbname, dsn = history
    pg.execute(
        "CREATE VIEW tickets_local AS SELECT ticket_ref, opened_at AT TIME ZONE 'America/New_York' AS opened_at, body FROM support_tickets",
        dbname=dbname,
    )
    local = migration.import_days(dsn, ["tickets_local"], profile("legacy_local"), FIRST, LAST, lake_roots().landing_root)
    expected = placed(seed_rows())
    assert [d.rows for d in local] == [len(rows) for rows in expected.values()]
    ingest_range(KEYS[0], KEYS[-1])
    tickets = pl.concat([read_partition("ticket", key) for key in KEYS])
    rejected = {body for body, reason in DIRTY.items() if not reason.startswith("csat")}  # the view has no csat
    good = [row for rows in expected.values() for row in rows if row["body"] not in rejected]
    assert dict(tickets.select("ticket_id", "created_at").rows()) == {r["ticket_ref"].strip(): r["opened_at"].astimezone(UTC) for r in good}

    pg.execute("CREATE VIEW tickets_text AS SELECT ticket_ref, opened_at::text AS opened_at, body FROM support_tickets", dbname=dbname)
    refused = cli("import", *import_args("tickets_text", source="legacy_local"), dsn=dsn)
    assert refused.returncode == 2
    assert "column 'opened_at' (created_at of source 'legacy_local') is text" in refused.stderr


@pytest.mark.slow
def test_an_import_onto_s3_is_ingested_and_checked_there(history, s3_storage, monkeypatch):
    dsn = history[2]
    monkeypatch.setenv("SENTIMENT_SOURCES", str(SOURCES_FILE))
    monkeypatch.setenv("SENTIMENT_PARTITIONS_START", "2025-02-01")
    monkeypatch.setenv(migration.DSN_VARIABLE, dsn)
    [day] = migration.import_days(dsn, ["support_tickets"], profile(), LAST, LAST, lake_roots().landing_root)
    assert day.file == f"s3://{s3_storage}/landing/{LAST}/postgres-{SOURCE}.parquet"
    result = materialize([ingest], partition_key=str(LAST))
    [check] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key.name == "matches_postgres"]
    in_lake = read_partition("ticket", str(LAST)).height + read_partition("ticket_rejects", str(LAST)).height
    assert check.passed and check.metadata["postgres_rows"].value == day.rows == in_lake
