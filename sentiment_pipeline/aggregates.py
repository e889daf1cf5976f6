"""The analyst tables: DuckDB SQL over one day of the Parquet assets (pure, no Dagster).

Each query reads the day's ``ticket``, ``sentiment`` and ``entity`` objects, read
by an in-memory DuckDB through ``storage.asset_source`` (DuckDB's reader locally, pyarrow
datasets on S3): DuckDB pushes the projection into the scan, so only the few canonical
columns of the wide ``ticket`` table are read, and nothing needs an extension download.

Definitions (also in each asset's description):
- tickets: tickets of the day (after ingest's rules; rejected rows are not tickets).
- share_negative: tickets labelled negative / tickets.
- avg_compound: mean sentiment compound of the group's tickets.
- avg_csat: mean csat over the tickets that have one (null if none has).
- mentions vs tickets: every mention counts; ``tickets`` counts distinct tickets.
- avg_compound of an entity: the mean over the distinct tickets that mention it.
- negative of an entity: the distinct tickets that mention it and are labelled negative
  (what ``sentiment_alerts`` tests against the entity's baseline).
- solved: the ticket has a ``resolved_at`` or a status of solved/resolved/closed.
- median_hours_to_resolve: median of resolved_at - created_at, over tickets with a
  ``resolved_at`` at or after ``created_at``.
- trajectory counts (improving, declining, stable, single): tickets by how the customer's
  label moved from their first message to their last.
- opened_negative: tickets whose customer's first message was negative; turnaround_share:
  of those, the share whose customer's last message was not negative (null if none).
- a null channel, product or agent is a group of its own, never dropped.
"""

from __future__ import annotations

import duckdb
import polars as pl

from sentiment_pipeline import storage
from sentiment_pipeline.schemas import AGGREGATES, TRAJECTORIES

INPUTS: dict[str, tuple[str, ...]] = {
    "daily_sentiment_summary": ("ticket", "sentiment"),
    "daily_entity_mentions": ("entity", "sentiment"),
    "daily_agent_summary": ("ticket", "sentiment"),
}

# Per-ticket metrics over ``t`` (ticket) joined to ``s`` (sentiment): the aggregates and the
# API's analytics compute each one from these same expressions.
METRICS: dict[str, str] = {
    "tickets": "count(*)",
    **{label: f"count(*) filter (where s.label = '{label}')" for label in ("positive", "neutral", "negative")},
    "share_negative": "count(*) filter (where s.label = 'negative') / count(*)",
    "avg_compound": "avg(s.compound)",
    "avg_csat": "avg(t.csat)",
    "solved": "count(*) filter (where t.resolved_at is not null or lower(t.status) in ('solved', 'resolved', 'closed'))",
    "median_hours_to_resolve": "median(epoch(t.resolved_at - t.created_at) / 3600.0) filter (where t.resolved_at >= t.created_at)",
    **{trajectory: f"count(*) filter (where s.trajectory = '{trajectory}')" for trajectory in TRAJECTORIES},
}


def metrics(*names: str) -> str:
    """``expression as name, ...`` for a select list."""
    return ", ".join(f"{METRICS[name]} as {name}" for name in names)


QUERIES: dict[str, str] = {
    "daily_sentiment_summary": f"""
        select $day as date, t.channel, t.product,
               {metrics("tickets", "avg_compound", "positive", "neutral", "negative", "share_negative", "avg_csat", *TRAJECTORIES)}
        from {{ticket}} t join {{sentiment}} s using (ticket_id)
        group by all
        order by t.channel nulls last, t.product nulls last
    """,
    "daily_entity_mentions": """
        with per_ticket as (
            select e.type, e.normalized, e.ticket_id, count(*) as mentions
            from {entity} e
            group by all
        )
        select $day as date, p.type, p.normalized,
               sum(p.mentions) as mentions,
               count(*) as tickets,
               count(*) filter (where s.label = 'negative') as negative,
               avg(s.compound) as avg_compound
        from per_ticket p left join {sentiment} s using (ticket_id)
        group by all
        order by p.type, mentions desc, p.normalized
    """,
    "daily_agent_summary": f"""
        select $day as date, t.agent_id,
               {metrics("tickets", "solved", "median_hours_to_resolve", "avg_compound", "avg_csat", "improving", "declining")},
               count(*) filter (where s.first_customer_label = 'negative') as opened_negative,
               count(*) filter (where s.first_customer_label = 'negative' and s.last_customer_label <> 'negative')
                   / nullif(count(*) filter (where s.first_customer_label = 'negative'), 0) as turnaround_share
        from {{ticket}} t join {{sentiment}} s using (ticket_id)
        group by all
        order by t.agent_id nulls last
    """,
}


# Each table's figures for the whole day (plotted per day in the UI), over the same inputs
# ungrouped: a day's avg csat cannot be rebuilt from the groups' averages, whose csat counts
# the table does not keep.
HEADLINES: dict[str, str] = {
    "daily_sentiment_summary": f"""
        select {metrics("tickets", "share_negative", "avg_compound", "avg_csat")}
        from {{ticket}} t join {{sentiment}} s using (ticket_id)
    """,
    "daily_entity_mentions": "select count(*) as mentions, count(distinct (type, normalized)) as distinct_entities from {entity}",
    "daily_agent_summary": f"""
        select {metrics("tickets", "solved", "avg_csat")}
        from {{ticket}} t join {{sentiment}} s using (ticket_id)
    """,
}


def aggregate(connection: duckdb.DuckDBPyConnection, table: str, root: str, partition_key: str) -> pl.DataFrame:
    """``table`` for one day, from that day's inputs under ``root``; use a fresh connection."""
    day = storage.partition_day(partition_key)
    result = connection.sql(QUERIES[table].format(**_sources(connection, table, root, partition_key)), params={"day": day}).pl()
    return result.cast(AGGREGATES[table]).select(list(AGGREGATES[table]))


def headline(connection: duckdb.DuckDBPyConnection, table: str, root: str, partition_key: str) -> dict[str, float | int]:
    """``table``'s figures for the whole day (a figure with no value, like the average of no
    tickets, is left out: no point rather than a zero)."""
    figures = connection.sql(HEADLINES[table].format(**_sources(connection, table, root, partition_key))).pl().row(0, named=True)
    return {name: round(value, 4) if isinstance(value, float) else value for name, value in figures.items() if value is not None}


def _sources(connection: duckdb.DuckDBPyConnection, table: str, root: str, partition_key: str) -> dict[str, str]:
    return {name: storage.asset_source(connection, root, name, partition_key) for name in INPUTS[table]}
