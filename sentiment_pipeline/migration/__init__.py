"""Migration from the PostgreSQL platform this pipeline replaces: import its tables into daily
landing files, reconcile PostgreSQL against the lake day by day, and export partitions back
for a rollback. Plain functions (no Dagster); the CLI and ``defs/migration.py`` call them."""

from sentiment_pipeline.migration.exporter import ExportedDay, export_days
from sentiment_pipeline.migration.importer import ImportedDay, import_days, import_file_name
from sentiment_pipeline.migration.postgres import DSN_VARIABLE, MigrationError, Tables, resolve_dsn, shown_dsn, source_profile
from sentiment_pipeline.migration.reconcile import all_match, reconcile_days, reconcile_table

__all__ = [
    "DSN_VARIABLE",
    "ExportedDay",
    "ImportedDay",
    "MigrationError",
    "Tables",
    "all_match",
    "export_days",
    "import_days",
    "import_file_name",
    "reconcile_days",
    "reconcile_table",
    "resolve_dsn",
    "shown_dsn",
    "source_profile",
]
