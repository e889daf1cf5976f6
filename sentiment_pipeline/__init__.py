"""Support-ticket exports -> daily Parquet assets and DuckDB aggregates, orchestrated by Dagster."""

__version__ = "0.1.0"
