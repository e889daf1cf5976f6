"""Reconcile: per day, the rows PostgreSQL holds against what the lake made of the import's
landing file (its tickets plus its rejects), and the ids missing on either side.

Ids are compared as multisets (a duplicated id in PostgreSQL is one ticket and one reject in
the lake); a row with no id counts as the id ``NO_ID``. Only the import's own landing file is
counted on the lake side: a day's other exports are not PostgreSQL's rows.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.ingest.sources import SourceProfile
from sentiment_pipeline.migration.importer import days_between, import_file_name
from sentiment_pipeline.migration.postgres import DAY, Tables, connection
from sentiment_pipeline.settings import LakeRoots

NO_ID = "(no id)"
RECONCILED = pl.Schema(
    {
        "day": pl.Date,
        "postgres_rows": pl.Int64,
        "lake_tickets": pl.Int64,
        "lake_rejects": pl.Int64,
        "missing_in_lake": pl.List(pl.String),
        "missing_in_postgres": pl.List(pl.String),
        "status": pl.String,  # matches | differs | not ingested
    }
)


def reconcile_days(dsn: str, tables: list[str], profile: SourceProfile, first: date, last: date, roots: LakeRoots) -> pl.DataFrame:
    """One row per day of ``first``..``last`` (``RECONCILED``); every day matches when the
    import, the ingest and PostgreSQL agree."""
    days = days_between(first, last)
    with connection(dsn) as connected:
        layout = Tables.read(connected, tables, profile)
        with connected.cursor() as cursor:
            cursor.execute(layout.query(f"NULLIF(btrim(({layout.key})::text), '') AS id", first, last))
            in_postgres = pl.from_arrow(cursor.fetch_arrow_table()).select(pl.col(DAY).alias("day"), "id")
    ingested = sorted(
        storage.partition_day(k)
        for k in storage.materialized_keys(roots.storage_root, "ticket")
        if first.isoformat() <= k <= last.isoformat()
    )
    in_lake = _lake_ids(roots, [d for d in ingested if d in set(days)], import_file_name(profile.name))
    counts = [
        frame.with_columns(pl.col("id").fill_null(NO_ID)).group_by("day", "id").len(name)
        for frame, name in ((in_postgres, "postgres"), (in_lake.select("day", "id"), "lake"))
    ]
    joined = (
        counts[0]
        .join(counts[1], on=["day", "id"], how="full", coalesce=True)
        .select("day", "id", pl.col("postgres", "lake").fill_null(0).cast(pl.Int64))
    )
    shown = pl.when(pl.col("n") == 1).then(pl.col("id")).otherwise(pl.format("{} (x{})", pl.col("id"), pl.col("n")))
    missing = (
        joined.with_columns(n=pl.col("postgres") - pl.col("lake"))
        .filter(pl.col("n") != 0)
        .with_columns(
            side=pl.when(pl.col("n") > 0).then(pl.lit("missing_in_lake")).otherwise(pl.lit("missing_in_postgres")), n=pl.col("n").abs()
        )
        .sort("day", "id")
        .group_by("day", "side", maintain_order=True)
        .agg(shown)
        .pivot("side", index="day", values="id")
    )
    for side in ("missing_in_lake", "missing_in_postgres"):
        if side not in missing.columns:
            missing = missing.with_columns(pl.lit(None, dtype=pl.List(pl.String)).alias(side))
    totals = (
        pl.DataFrame({"day": days}, schema={"day": pl.Date})
        .join(in_postgres.group_by("day").agg(postgres_rows=pl.len()), on="day", how="left")
        .join(
            in_lake.group_by("day").agg(lake_tickets=pl.col("kind").eq("ticket").sum(), lake_rejects=pl.col("kind").eq("reject").sum()),
            on="day",
            how="left",
        )
        .join(missing, on="day", how="left")
        .with_columns(
            pl.col("postgres_rows", "lake_tickets", "lake_rejects").fill_null(0).cast(pl.Int64),
            pl.col("missing_in_lake", "missing_in_postgres").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        )
    )
    ingested_days = pl.Series(ingested, dtype=pl.Date).implode()
    status = (
        pl.when(pl.col("missing_in_lake").list.len() + pl.col("missing_in_postgres").list.len() == 0)
        .then(pl.lit("matches"))
        .when(~pl.col("day").is_in(ingested_days))
        .then(pl.lit("not ingested"))
        .otherwise(pl.lit("differs"))
    )
    return totals.with_columns(status=status).select(list(RECONCILED))


def _lake_ids(roots: LakeRoots, days: list[date], file_name: str) -> pl.DataFrame:
    """day, id, kind (ticket | reject) of the rows the lake holds from the import's files."""
    schema = {"day": pl.Date, "id": pl.String, "kind": pl.String}
    if not days:
        return pl.DataFrame(schema=schema)
    keys = [d.isoformat() for d in days]
    frames = []
    for asset, kind in (("ticket", "ticket"), ("ticket_rejects", "reject")):
        scan = storage.scan_partitions(roots.storage_root, asset, keys)
        own = pl.col("source_file").str.ends_with(
            pl.concat_str(pl.lit("/"), pl.col("partition_date").dt.to_string("%Y-%m-%d"), pl.lit(f"/{file_name}"))
        )
        frames.append(scan.filter(own).select(day="partition_date", id="ticket_id", kind=pl.lit(kind)).collect())
    return pl.concat(frames).cast(schema)


def all_match(reconciled: pl.DataFrame) -> bool:
    return bool(reconciled.get_column("status").eq("matches").all())


def reconcile_table(reconciled: pl.DataFrame, ids_shown: int = 10) -> str:
    """The per-day result as a plain-text table, at most ``ids_shown`` ids per cell."""

    def ids(values: list[str]) -> str:
        more = f" and {len(values) - ids_shown} more" if len(values) > ids_shown else ""
        return (", ".join(values[:ids_shown]) + more) or "-"

    header = ("day", "postgres", "lake tickets", "lake rejects", "status", "missing in lake", "missing in postgres")
    rows = [
        (
            str(r["day"]),
            f"{r['postgres_rows']:,}",
            f"{r['lake_tickets']:,}",
            f"{r['lake_rejects']:,}",
            r["status"],
            ids(r["missing_in_lake"]),
            ids(r["missing_in_postgres"]),
        )
        for r in reconciled.iter_rows(named=True)
    ]
    totals = reconciled.select(pl.col("postgres_rows", "lake_tickets", "lake_rejects").sum()).row(0)
    differing = reconciled.filter(pl.col("status") != "matches").height
    rows.append(("total", *(f"{n:,}" for n in totals), f"{differing} days differ" if differing else "all match", "", ""))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in [header, *rows])
