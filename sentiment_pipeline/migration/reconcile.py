"""Reconcile: per day, the rows PostgreSQL holds against what the lake made of the import's
landing file (its tickets plus its rejects), the ids missing on either side, and the tickets
whose values changed.

Ids are compared as multisets (a duplicated id in PostgreSQL is one ticket and one reject in
the lake); a row with no id counts as the id ``NO_ID``. Only the import's own landing file is
counted on the lake side: a day's other exports are not PostgreSQL's rows. Values are
compared for every ticket whose id occurs once that day on both sides, column by mapped
column, as the lake stores them (timestamps in UTC, text as written, blank as null;
``channel`` and ``priority`` against the lake's ``*_raw`` columns, the values as written).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.ingest.sources import SourceProfile
from sentiment_pipeline.ingest.sources.profile import nonblank, tag_list
from sentiment_pipeline.migration.importer import by_day, days_between, import_file_name
from sentiment_pipeline.migration.postgres import Tables, connection, quote
from sentiment_pipeline.schemas import UTC_TIMESTAMP
from sentiment_pipeline.settings import LakeRoots

NO_ID = "(no id)"
LAKE_COLUMN = {"channel": "channel_raw", "priority": "priority_raw"}  # the value as the source wrote it
RECONCILED = pl.Schema(
    {
        "day": pl.Date,
        "postgres_rows": pl.Int64,
        "lake_tickets": pl.Int64,
        "lake_rejects": pl.Int64,
        "missing_in_lake": pl.List(pl.String),
        "missing_in_postgres": pl.List(pl.String),
        "changed": pl.List(pl.String),  # "<id> (<columns>)": tickets whose values differ from PostgreSQL's
        "status": pl.String,  # matches | differs | not ingested
    }
)


def reconcile_days(dsn: str, tables: list[str], profile: SourceProfile, first: date, last: date, roots: LakeRoots) -> pl.DataFrame:
    """One row per day of ``first``..``last`` (``RECONCILED``); every day matches when the
    import, the ingest and PostgreSQL agree. PostgreSQL's rows stream in day order and each
    day is compared as it ends, so memory holds one day, however long the range."""
    days = days_between(first, last)
    ingested = {storage.partition_day(k) for k in storage.materialized_keys(roots.storage_root, "ticket")}
    results = []
    with connection(dsn) as connected:
        layout = Tables.read(connected, tables, profile)
        compared = layout.compared()
        values = "".join(f", {sql} AS {quote(canonical)}" for canonical, sql in compared.items())
        with connected.cursor() as cursor:
            cursor.execute(layout.query(f"NULLIF(btrim(({layout.key})::text), '') AS id{values}", first, last, order=True))
            stream = by_day(cursor.fetch_record_batch())
            pending = next(stream, None)
            for day in days:
                rows = None
                if pending is not None and pending[0] == day:
                    rows, pending = pl.from_arrow(pending[1]), next(stream, None)
                lake = _lake_rows(roots, [day] if day in ingested else [], import_file_name(profile.name), list(compared))
                results.append(_compare_day(day, rows, lake, profile, list(compared), day in ingested))
    return pl.concat(results)


def _compare_day(
    day: date, rows: pl.DataFrame | None, in_lake: pl.DataFrame, profile: SourceProfile, compared: list[str], ingested: bool
) -> pl.DataFrame:
    """One day's ``RECONCILED`` row from its PostgreSQL rows (id and compared values) and the lake's."""
    rows = rows.with_columns(day=pl.lit(day)) if rows is not None else pl.DataFrame(schema={"day": pl.Date, "id": pl.String})
    days = [day]
    in_postgres = rows.select("day", "id")
    changed = (
        _changed(rows, in_lake, profile, compared)
        if rows.height and in_lake.height
        else pl.DataFrame(schema={"day": pl.Date, "changed": pl.List(pl.String)})
    )
    counts = [
        frame.select("day", pl.col("id").fill_null(NO_ID)).group_by("day", "id").len(name)
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
        .join(changed, on="day", how="left")
        .with_columns(
            pl.col("postgres_rows", "lake_tickets", "lake_rejects").fill_null(0).cast(pl.Int64),
            pl.col("missing_in_lake", "missing_in_postgres", "changed").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        )
    )
    status = (
        pl.when(pl.col("missing_in_lake").list.len() + pl.col("missing_in_postgres").list.len() + pl.col("changed").list.len() == 0)
        .then(pl.lit("matches"))
        .otherwise(pl.lit("differs" if ingested else "not ingested"))
    )
    return totals.with_columns(status=status).select(list(RECONCILED))


def _lake_rows(roots: LakeRoots, days: list[date], file_name: str, compared: list[str]) -> pl.DataFrame:
    """day, id, kind (ticket | reject) and the compared values of the rows the lake holds from
    the import's files (a reject's values are null)."""
    keys = [d.isoformat() for d in days]
    frames = []
    for asset, kind in (("ticket", "ticket"), ("ticket_rejects", "reject")):
        if not keys:
            frames.append(pl.DataFrame(schema={"day": pl.Date, "id": pl.String, "kind": pl.String}))
            continue
        scan = storage.scan_partitions(roots.storage_root, asset, keys)
        own = pl.col("source_file").str.ends_with(
            pl.concat_str(pl.lit("/"), pl.col("partition_date").dt.to_string("%Y-%m-%d"), pl.lit(f"/{file_name}"))
        )
        values = [pl.col(LAKE_COLUMN.get(c, c)).alias(c) for c in compared] if kind == "ticket" else []
        kept = [pl.col("partition_date").alias("day"), pl.col("ticket_id").alias("id"), pl.lit(kind).alias("kind"), *values]
        frames.append(scan.filter(own).select(kept).collect())
    return pl.concat(frames, how="diagonal_relaxed")


def _changed(postgres: pl.DataFrame, lake: pl.DataFrame, profile: SourceProfile, compared: list[str]) -> pl.DataFrame:
    """day, changed: per day, "<id> (<columns>)" of the tickets whose values differ."""
    once = pl.len().over("day", "id") == 1
    mine = postgres.filter(once & pl.col("id").is_not_null()).with_columns(_as_stored(c, profile, postgres.schema[c]) for c in compared)
    theirs = lake.filter((pl.col("kind") == "ticket") & once).select("day", "id", *(pl.col(c).alias(f"{c}_lake") for c in compared))
    if "csat" in compared:
        theirs = theirs.with_columns(pl.col("csat_lake").cast(pl.String))
    both = mine.join(theirs, on=["day", "id"], how="inner")
    differing = [pl.when(pl.col(c).ne_missing(pl.col(f"{c}_lake"))).then(pl.lit(c)) for c in compared]
    return (
        both.with_columns(columns=pl.concat_list(differing).list.drop_nulls() if differing else pl.lit([], dtype=pl.List(pl.String)))
        .filter(pl.col("columns").list.len() > 0)
        .sort("day", "id")
        .group_by("day", maintain_order=True)
        .agg(changed=pl.format("{} ({})", pl.col("id"), pl.col("columns").list.join(", ")))
    )


def _as_stored(canonical: str, profile: SourceProfile, dtype: pl.DataType) -> pl.Expr:
    """A PostgreSQL value as the ingest stores it, by the ingest's own rules: blank text is
    null, csat trimmed, tags a list (a text split on the profile's separator, if any)."""
    value = pl.col(canonical)
    if canonical in ("created_at", "resolved_at"):
        return value.cast(UTC_TIMESTAMP)
    if canonical == "tags":
        return tag_list([value], profile.columns["tags"].separator, [isinstance(dtype, pl.List)]).alias(canonical)
    return nonblank(value.str.strip_chars() if canonical == "csat" else value).alias(canonical)


def all_match(reconciled: pl.DataFrame) -> bool:
    return bool(reconciled.get_column("status").eq("matches").all())


def reconcile_table(reconciled: pl.DataFrame, ids_shown: int = 10) -> str:
    """The per-day result as a plain-text table, at most ``ids_shown`` ids per cell."""

    def ids(values: list[str]) -> str:
        more = f" and {len(values) - ids_shown} more" if len(values) > ids_shown else ""
        return (", ".join(values[:ids_shown]) + more) or "-"

    header = ("day", "postgres", "lake tickets", "lake rejects", "status", "missing in lake", "missing in postgres", "changed")
    rows = [
        (
            str(r["day"]),
            f"{r['postgres_rows']:,}",
            f"{r['lake_tickets']:,}",
            f"{r['lake_rejects']:,}",
            r["status"],
            ids(r["missing_in_lake"]),
            ids(r["missing_in_postgres"]),
            ids(r["changed"]),
        )
        for r in reconciled.iter_rows(named=True)
    ]
    totals = reconciled.select(pl.col("postgres_rows", "lake_tickets", "lake_rejects").sum()).row(0)
    differing = reconciled.filter(pl.col("status") != "matches").height
    rows.append(
        (
            "total",
            *(f"{n:,}" for n in totals),
            f"{differing} day{' differs' if differing == 1 else 's differ'}" if differing else "all match",
            "",
            "",
            "",
        )
    )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in [header, *rows])
