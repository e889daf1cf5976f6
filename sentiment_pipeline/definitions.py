"""The one ``dg.Definitions`` of the project (``dagster dev`` loads it through workspace.yaml)."""

import dagster as dg

from sentiment_pipeline.defs.alerts import run_failure_alert
from sentiment_pipeline.defs.analytics.assets import analytics, sentiment_alerts
from sentiment_pipeline.defs.automation import daily_pipeline, daily_pipeline_schedule, landing_sensor
from sentiment_pipeline.defs.enrich.assets import comment, entity, sentiment
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.defs.migration import postgres_import
from sentiment_pipeline.defs.resources import pipeline_resources
from sentiment_pipeline.defs.retention import retention

defs = dg.Definitions(
    assets=[ingest, comment, sentiment, entity, *analytics, sentiment_alerts],
    jobs=[daily_pipeline, retention, postgres_import],
    schedules=[daily_pipeline_schedule],
    sensors=[landing_sensor, run_failure_alert],
    resources=pipeline_resources(),
    executor=dg.in_process_executor,
)
