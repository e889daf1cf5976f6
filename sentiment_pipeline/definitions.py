"""The one ``dg.Definitions`` of the project (``dagster dev`` loads it through workspace.yaml)."""

import dagster as dg

from sentiment_pipeline.analytics_assets import DuckDB, analytics
from sentiment_pipeline.enrich_assets import entity, sentiment
from sentiment_pipeline.ingest_assets import ingest
from sentiment_pipeline.io_manager import ParquetIOManager

defs = dg.Definitions(
    assets=[ingest, sentiment, entity, *analytics],
    resources={"parquet_io_manager": ParquetIOManager(), "duckdb": DuckDB()},
)
