"""The resources every part of the shell shares: one ``Lake`` (where assets live, where
exports land, and the S3 client), the Parquet IO manager over it, and DuckDB.

``pipeline_resources()`` is the one place they are put together: the definitions use it,
and so do tests that materialize assets on their own storage.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from sentiment_pipeline.defs.io_manager import ParquetIOManager
from sentiment_pipeline.defs.lake import Lake, lake
from sentiment_pipeline.storage import DUCKDB_OFFLINE_CONFIG


def duckdb_resource() -> DuckDBResource:
    """In-memory DuckDB (no database file, so concurrent runs never contend for a lock) that
    never downloads an extension; past 2 GB it spills to disk, which suits a small machine."""
    return DuckDBResource(database=":memory:", connection_config={**DUCKDB_OFFLINE_CONFIG, "memory_limit": "2GB"})


def pipeline_resources(the_lake: Lake | None = None) -> dict[str, dg.ConfigurableResource]:
    """Every resource the assets, sensor and jobs use, over ``the_lake`` (default: from the environment)."""
    the_lake = the_lake or lake()
    return {"lake": the_lake, "parquet_io_manager": ParquetIOManager(lake=the_lake), "duckdb": duckdb_resource()}
