"""Checks of the ingest step, run inside it over the days it wrote."""

from datetime import timedelta

import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.defs.checking import WARN, DayVerdicts, day_check, per_day
from sentiment_pipeline.defs.migration import MATCHES_POSTGRES
from sentiment_pipeline.schemas import TICKET_CANONICAL, TICKET_LINEAGE

INGEST_SPECS = [
    day_check("unique_ticket_ids", "ticket", "No ticket_id appears twice (or is null) within a day.", blocking=True),
    day_check("rows_conserved", "ticket", "Every input row of a day is in exactly one of ticket and ticket_rejects.", blocking=True),
    day_check(
        "canonical_schema", "ticket", "The canonical and lineage columns keep their types; new custom columns are listed.", blocking=True
    ),
    day_check("reject_share", "ticket_rejects", "Warns when a day's share of rejected rows is above the run's threshold."),
    MATCHES_POSTGRES,
]


def ticket_results(
    root: str, keys: list[str], input_rows: dict[str, int], row_rejects: dict[str, int], reject_share_warn_at: float
) -> list[DayVerdicts]:
    ids = per_day(root, "ticket", keys, rows=pl.len(), distinct=pl.col("ticket_id").n_unique(), nulls=pl.col("ticket_id").null_count())
    tickets = dict(zip(ids.get_column("day"), ids.get_column("rows"), strict=False))
    duplicated = {
        r["day"]: f"{r['rows'] - r['distinct']} repeated, {r['nulls']} null ids"
        for r in ids.iter_rows(named=True)
        if r["rows"] != r["distinct"] or r["nulls"]
    }
    unbalanced = {
        key: f"{input_rows[key]} input rows != {tickets.get(key, 0)} tickets + {row_rejects[key]} rejects"
        for key in keys
        if input_rows[key] != tickets.get(key, 0) + row_rejects[key]
    }
    counted = {key: {"input_rows": input_rows[key], "tickets": tickets.get(key, 0), "row_rejects": row_rejects[key]} for key in keys}
    shares = {key: row_rejects[key] / input_rows[key] if input_rows[key] else 0.0 for key in keys}
    high = {
        key: f"{share:.1%} of the day's rows rejected (warns above {reject_share_warn_at:.1%})"
        for key, share in shares.items()
        if share > reject_share_warn_at
    }
    drift, new_columns = _schema_drift(root, keys)
    return [
        DayVerdicts("ticket", "unique_ticket_ids", keys, duplicated),
        DayVerdicts("ticket", "rows_conserved", keys, unbalanced, facts=counted),
        DayVerdicts(
            "ticket", "canonical_schema", keys, drift, facts={key: {"new_custom_columns": columns} for key, columns in new_columns.items()}
        ),
        DayVerdicts(
            "ticket_rejects",
            "reject_share",
            keys,
            high,
            WARN,
            facts={key: {"reject_share": round(share, 6)} for key, share in shares.items()},
        ),
    ]


def _schema_drift(root: str, keys: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Days whose canonical/lineage columns changed type or went missing, and each day's
    custom columns that the day before did not have (growth is normal, so only reported)."""
    expected = {**TICKET_CANONICAL, **TICKET_LINEAGE}
    drift, new_columns = {}, {}
    schemas = {key: storage.scan_partitions(root, "ticket", [key]).collect_schema() for key in keys}
    for key in keys:
        schema = schemas[key]
        changed = [f"{c}: {schema.get(c, 'missing')} (expected {t})" for c, t in expected.items() if schema.get(c) != t]
        if changed:
            drift[key] = "; ".join(changed)
        previous = (storage.partition_day(key) - timedelta(days=1)).isoformat()
        if previous not in schemas and storage.exists(storage.partition_uri(root, "ticket", previous)):
            schemas[previous] = storage.scan_partitions(root, "ticket", [previous]).collect_schema()
        if previous in schemas:
            added = sorted(set(schema) - set(schemas[previous]))
            if added:
                new_columns[key] = ", ".join(added[:50]) + (f" and {len(added) - 50} more" if len(added) > 50 else "")
    return drift, new_columns
