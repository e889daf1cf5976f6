"""The Dagster shell: assets and their checks by stage (``ingest/``, ``enrich/``,
``analytics/``), and what runs them (partitions, resources, automation, retention, alerts).
Each module here wires pure functions of the core package into Dagster and nothing more."""
