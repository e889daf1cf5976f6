"""Stage 3: the DuckDB-computed analyst tables."""
