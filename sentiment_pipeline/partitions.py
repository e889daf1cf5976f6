"""The one daily partitioning every asset shares (UTC days)."""

import os

import dagster as dg

DEFAULT_START = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("SENTIMENT_PARTITIONS_START") or DEFAULT_START, timezone="UTC"
)
