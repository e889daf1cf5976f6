"""One schema per asset, all here: they drive the writers, the column-schema metadata, the
checks and the API; ``ASSETS`` is the registry of every asset the project writes."""

from __future__ import annotations

import polars as pl

UTC_TIMESTAMP = pl.Datetime("us", "UTC")
# A ticket's conversation after its opening message, oldest first (empty when the source has none).
COMMENTS = pl.List(pl.Struct({"created_at": UTC_TIMESTAMP, "author": pl.String(), "text": pl.String()}))

# Canonical ticket columns, in order, with the lower-case input headers that map to each
# (the canonical name itself first; matching is case-insensitive).
TICKET_CANONICAL: dict[str, pl.DataType] = {
    "ticket_id": pl.String(),
    "created_at": UTC_TIMESTAMP,
    "subject": pl.String(),
    "body": pl.String(),
    "channel": pl.String(),
    "channel_raw": pl.String(),
    "product": pl.String(),
    "customer_id": pl.String(),
    "agent_id": pl.String(),
    "status": pl.String(),
    "priority": pl.String(),
    "priority_raw": pl.String(),
    "resolved_at": UTC_TIMESTAMP,
    "csat": pl.Int8(),
    "tags": pl.List(pl.String()),
    "comments": COMMENTS,
}
DERIVED = ("channel_raw", "priority_raw", "comments")  # filled by the ingest, never read from an input header
TICKET_ALIASES: dict[str, tuple[str, ...]] = {
    "ticket_id": ("ticket_id", "id", "ticket_number"),
    "created_at": ("created_at", "created", "created_date", "timestamp"),
    "body": ("body", "description", "message", "text"),
}
TICKET_LINEAGE: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "ingested_at": UTC_TIMESTAMP,
}
TICKET_REJECTS: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_row": pl.Int64(),  # null for a file-level reject (the whole file was unreadable)
    "ticket_id": pl.String(),
    "reason": pl.String(),
    "raw": pl.String(),
    "ingested_at": UTC_TIMESTAMP,
}

SENTIMENT_LABELS = ("negative", "neutral", "positive")  # the one label vocabulary, worst first
TRAJECTORIES = ("improving", "declining", "stable", "single")  # the customer's first label against their last
ROLES = ("customer", "agent", "other")  # who wrote a message of a conversation
SCORES: dict[str, pl.DataType] = {
    "compound": pl.Float64(),
    "pos": pl.Float64(),
    "neu": pl.Float64(),
    "neg": pl.Float64(),
    "label": pl.String(),
}
SENTIMENT: dict[str, pl.DataType] = {
    "ticket_id": pl.String(),
    **SCORES,
    "trajectory": pl.String(),
    "first_customer_label": pl.String(),
    "last_customer_label": pl.String(),
    "model": pl.String(),
    "model_version": pl.String(),
}
COMMENT: dict[str, pl.DataType] = {
    "ticket_id": pl.String(),
    "seq": pl.Int32(),
    "created_at": UTC_TIMESTAMP,
    "author": pl.String(),
    "role": pl.String(),
    "text": pl.String(),
    **SCORES,
}
ENTITY: dict[str, pl.DataType] = {
    "ticket_id": pl.String(),
    "type": pl.String(),
    "text": pl.String(),
    "normalized": pl.String(),
    "field": pl.String(),
    "start": pl.Int32(),
    "end": pl.Int32(),
}
AGGREGATES: dict[str, dict[str, pl.DataType]] = {
    "daily_sentiment_summary": {
        "date": pl.Date(),
        "channel": pl.String(),
        "product": pl.String(),
        "tickets": pl.Int64(),
        "avg_compound": pl.Float64(),
        "positive": pl.Int64(),
        "neutral": pl.Int64(),
        "negative": pl.Int64(),
        "share_negative": pl.Float64(),
        "avg_csat": pl.Float64(),
        **dict.fromkeys(TRAJECTORIES, pl.Int64()),
    },
    "daily_entity_mentions": {
        "date": pl.Date(),
        "type": pl.String(),
        "normalized": pl.String(),
        "mentions": pl.Int64(),
        "tickets": pl.Int64(),
        "negative": pl.Int64(),
        "avg_compound": pl.Float64(),
    },
    "daily_agent_summary": {
        "date": pl.Date(),
        "agent_id": pl.String(),
        "tickets": pl.Int64(),
        "solved": pl.Int64(),
        "median_hours_to_resolve": pl.Float64(),
        "avg_compound": pl.Float64(),
        "avg_csat": pl.Float64(),
        "improving": pl.Int64(),
        "declining": pl.Int64(),
        "opened_negative": pl.Int64(),
        "turnaround_share": pl.Float64(),
    },
}
# One row per flagged group and day: a spike of negative tickets against the group's own
# 28 days before (``spikes.py`` says how it is tested).
SENTIMENT_ALERTS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "dimension": pl.String(),
    "entity_type": pl.String(),
    "value": pl.String(),
    "tickets": pl.Int64(),
    "negative": pl.Int64(),
    "share_negative": pl.Float64(),
    "baseline_tickets": pl.Int64(),
    "baseline_negative": pl.Int64(),
    "baseline_share": pl.Float64(),
    "lift": pl.Float64(),
    "p_value": pl.Float64(),
    "threshold": pl.Float64(),
    "tested": pl.Int64(),
}
# Every asset the project writes, with its fixed columns (``ticket`` also has the custom
# fields of the day's exports after these).
ASSETS: dict[str, dict[str, pl.DataType]] = {
    "ticket": {**TICKET_CANONICAL, **TICKET_LINEAGE},
    "ticket_rejects": TICKET_REJECTS,
    "comment": COMMENT,
    "sentiment": SENTIMENT,
    "entity": ENTITY,
    **AGGREGATES,
    "sentiment_alerts": SENTIMENT_ALERTS,
}

# What each column means, for the UI's column schemas and the API's table listing. One wording
# per column name (COLUMN_DESCRIPTIONS), unless the column means something else in an asset
# (ASSET_COLUMN_DESCRIPTIONS): `tickets` of an entity are the tickets naming it, of a spike the
# group's tickets that day.
COLUMN_DESCRIPTIONS: dict[str, str] = {
    "date": "The UTC day (the partition) the row belongs to.",
    "ticket_id": "Ticket id as exported (string; leading zeros kept).",
    "created_at": "Creation time in UTC (no zone in the input means UTC; a date alone means midnight).",
    "subject": "Ticket subject.",
    "body": "Ticket text (from body, description, message or text).",
    "channel": "Channel, normalised: email, chat, phone, web, social, api or other.",
    "channel_raw": "Channel as the source wrote it (e.g. Zendesk 'voice', Freshdesk 'Portal').",
    "product": "Product named on the ticket.",
    "customer_id": "Customer id (string).",
    "agent_id": "Assigned agent id (string).",
    "status": "Ticket status as exported.",
    "priority": "Priority, normalised: low, normal, high or urgent (null when the source's value is unknown).",
    "priority_raw": "Priority as the source wrote it (e.g. Jira 'Highest', ServiceNow '1 - Critical').",
    "comments": "The conversation after the opening message: a list of {created_at (UTC), author, text}, oldest first.",
    "resolved_at": "Resolution time in UTC, if resolved.",
    "csat": "Customer satisfaction, an integer 1..5, if given.",
    "tags": "Tags (';'-separated in CSV, a list in JSON).",
    "source_file": "Landing file the row came from.",
    "source_row": "Row number in that file, from 1, header excluded (null for a file-level reject).",
    "ingested_at": "When the run that wrote this partition started (UTC).",
    "reason": "Why the row (or file) was rejected, in words a person can act on.",
    "raw": "The rejected row as it was in the file (for a file-level reject: its first bytes).",
    "seq": "Position in the conversation: 0 is the opening message (subject + body), then each comment in time order.",
    "author": "Who wrote the message (the opening message: the ticket's customer).",
    "role": "customer (the ticket's customer), agent (its assignee or any agent of the day) or other.",
    "compound": "Sentiment from -1 (negative) to 1 (positive): the support classifier's P(positive) - P(negative), within its label's band.",
    "pos": "Probability that the text is positive (pos + neu + neg = 1).",
    "neu": "Probability that the text is neutral.",
    "neg": "Probability that the text is negative.",
    "label": "positive (compound >= 0.05), negative (<= -0.05) or neutral.",
    "trajectory": "The customer's label on their first message against their last: improving, declining, stable, or single (one message).",
    "first_customer_label": "Label of the customer's first message (the opening one).",
    "last_customer_label": "Label of the customer's last message.",
    "model": "Name of the model that scored the ticket.",
    "model_version": "Version of that model (changes with its lexicon layer or classifier).",
    "type": "Kind of entity: product, order_id, email, phone, url, money, error_code or version.",
    "normalized": "The entity in one canonical form, so spellings of the same thing count together (e.g. 'ORD-1234', '+15551234567', '12.50 USD').",
    "tickets": "Tickets of the day in the group (rejected rows are not tickets).",
    "avg_compound": "Mean sentiment (compound, -1 .. 1) of the group's tickets' opening messages.",
    "positive": "Tickets labelled positive.",
    "neutral": "Tickets labelled neutral.",
    "negative": "Tickets labelled negative.",
    "share_negative": "negative / tickets.",
    "avg_csat": "Mean csat (1..5) over the group's tickets that have one (null if none has).",
    "improving": "Tickets whose customer ended happier than they started.",
    "declining": "Tickets whose customer ended unhappier than they started.",
    "stable": "Tickets whose customer's first and last labels are the same.",
    "single": "Tickets with one customer message.",
    "solved": "Tickets with a resolved_at, or a status of solved, resolved or closed.",
    "median_hours_to_resolve": "Median hours from created_at to resolved_at, over tickets resolved at or after creation.",
    "opened_negative": "Tickets whose customer's first message was negative.",
    "turnaround_share": "Of the tickets that opened negative, the share whose customer's last message was not negative.",
    "dimension": "What kind of group was flagged: product (the ticket's product), channel (its channel) or entity (a value named in its text).",
    "entity_type": "For an entity: product, error_code or version (null for the other dimensions).",
    "value": "The group: the product, the channel, or the entity's normalized value.",
    "baseline_tickets": "The group's tickets over the 28 days before (days never materialized count as none).",
    "baseline_negative": "Of those, the tickets labelled negative.",
    "baseline_share": "baseline_negative / baseline_tickets.",
    "lift": "share_negative / baseline_share (null when the baseline had no negative ticket).",
    "p_value": "P(at least this many negatives) if the group's rate were its baseline's: beta-binomial, uniform prior updated by the baseline.",
    "threshold": "alpha / tested (Bonferroni): the p_value at or below which the group is flagged.",
    "tested": "Groups tested that day (enough tickets and negatives today, and a baseline of at least 28 tickets).",
}
ASSET_COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ticket_rejects": {"ticket_id": "The row's ticket_id as written, if it had one (null for a file-level reject)."},
    "comment": {
        "ticket_id": "The ticket the message belongs to.",
        "created_at": "When the message was written, in UTC (the opening message: the ticket's created_at).",
        "text": "The message (the opening message: subject and body).",
    },
    "sentiment": {
        "compound": "Sentiment of the opening message (subject + body), -1 (negative) .. 1 (positive).",
        "label": "Label of the opening message: positive (compound >= 0.05), negative (<= -0.05) or neutral.",
    },
    "entity": {
        "ticket_id": "The ticket whose subject or body names the entity.",
        "text": "The mention as written.",
        "field": "Where it was found: subject or body.",
        "start": "Character offset of the mention in that field, from 0.",
        "end": "Character offset just after the mention.",
    },
    "daily_entity_mentions": {
        "mentions": "Every mention of the entity that day (a ticket may name it more than once).",
        "tickets": "Distinct tickets naming the entity.",
        "negative": "Of those, the tickets labelled negative.",
        "avg_compound": "Mean sentiment (compound) over those distinct tickets.",
    },
    "daily_agent_summary": {"agent_id": "The assigned agent (null: tickets with no agent, a group of their own)."},
    "daily_sentiment_summary": {
        "channel": "The tickets' channel (null: a group of its own).",
        "product": "The tickets' product (null: a group of its own).",
    },
    "sentiment_alerts": {
        "tickets": "The group's tickets that day.",
        "negative": "Of those, the tickets labelled negative.",
        "share_negative": "negative / tickets that day.",
    },
}


def column_descriptions(asset: str) -> dict[str, str]:
    """What each of ``asset``'s columns means: its own wording if it has one, else the shared one."""
    own = ASSET_COLUMN_DESCRIPTIONS.get(asset, {})
    return {column: own.get(column) or COLUMN_DESCRIPTIONS.get(column, "") for column in ASSETS[asset]}
