"""The read API: FastAPI over the Parquet lake (storage + in-memory DuckDB), no Dagster."""
