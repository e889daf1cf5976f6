"""The one ``dg.Definitions`` of the project (``dagster dev`` loads it through workspace.yaml)."""

import dagster as dg

from sentiment_pipeline.analytics_assets import DuckDB, analytics
from sentiment_pipeline.automation import daily_pipeline, daily_pipeline_schedule, landing_sensor
from sentiment_pipeline.enrich_assets import entity, sentiment
from sentiment_pipeline.ingest_assets import ingest
from sentiment_pipeline.io_manager import ParquetIOManager
from sentiment_pipeline.operations import retention, run_failure_alert

defs = dg.Definitions(
    assets=[ingest, sentiment, entity, *analytics],
    jobs=[daily_pipeline, retention],
    schedules=[daily_pipeline_schedule],
    sensors=[landing_sensor, run_failure_alert],
    resources={"parquet_io_manager": ParquetIOManager(), "duckdb": DuckDB()},
)
