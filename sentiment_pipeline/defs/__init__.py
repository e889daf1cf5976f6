"""The Dagster shell: assets and their checks by stage (``ingest/``, ``enrich/``,
``analytics/``), and what runs them (partitions, resources, automation, retention, alerts).
Each module here wires pure functions of the core package into Dagster and nothing more.

Importing it first silences the beta and preview warnings of the Dagster features the shell
uses knowingly, each named below (every process that loads the definitions printed them,
once per asset); any other beta or preview feature still warns.
"""

import re
import warnings

import dagster as dg

OPTED_IN = [  # (category, how the warning starts)
    # any range backfilled as one run (partitions.backfill_policy)
    (dg.BetaWarning, "Parameter `backfill_policy` of function `asset`"),
    # a spike baseline's 28 days may start before the first partition (analytics/assets.py)
    (dg.BetaWarning, "Parameter `allow_nonexistent_upstream_partitions` of initializer `TimeWindowPartitionMapping"),
    # one check result per day (checking.day_check)
    (dg.PreviewWarning, "Specifying a partitions_def on an AssetCheckSpec"),
]
for category, opening in OPTED_IN:
    warnings.filterwarnings("ignore", message=re.escape(opening), category=category)
