"""Source profiles: the layouts real helpdesk tools export, mapped onto the canonical columns.

A file is matched by its header (CSV) or its shape and keys (JSON); a file in the canonical
layout needs no profile. ``load_profiles`` gives the built-in profiles, adjusted and extended
by the sources file (``SENTIMENT_SOURCES``).
"""

from sentiment_pipeline.ingest.sources.builtin import BUILT_IN
from sentiment_pipeline.ingest.sources.config import SourcesFileError, load_profiles
from sentiment_pipeline.ingest.sources.json_records import canonical_record, match_json
from sentiment_pipeline.ingest.sources.profile import (
    ColumnSpec,
    Plan,
    SourceProfile,
    csv_plan,
    numeric_order,
    order_matters,
    timestamp_parser,
)


def match_csv(headers: list[str], profiles: list[SourceProfile]) -> SourceProfile | None:
    """The first CSV profile whose match headers are all in ``headers`` (case-insensitive); a
    profile with none matches no file by its header."""
    present = {header.strip().lower() for header in headers}
    return next(
        (p for p in profiles if p.kind == "csv" and p.match and all(m.strip().lower() in present for m in p.match)),
        None,
    )


__all__ = [
    "BUILT_IN",
    "ColumnSpec",
    "Plan",
    "SourceProfile",
    "SourcesFileError",
    "canonical_record",
    "csv_plan",
    "load_profiles",
    "match_csv",
    "match_json",
    "numeric_order",
    "order_matters",
    "timestamp_parser",
]
