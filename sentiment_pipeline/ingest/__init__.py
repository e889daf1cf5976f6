"""Raw landing files of one day -> canonical ``ticket`` rows and quarantined ``ticket_rejects``.

Pure functions over byte streams and polars frames (no Dagster). The rules are DESIGN.md's:
every input row ends in exactly one of tickets or rejects; a file that cannot be read at
all is one file-level reject and the day's other files still land; within a day the first
occurrence of a ticket id wins (file name order, then row order).

A day streams: each CSV file is read, checked, judged and handed to the writer a block of
rows at a time (the next block is read while one is judged), so memory holds two blocks and
the day's ticket ids, never a whole file.
Values are read as strings (no type guessing from the first rows; "000123" stays
"000123"); only the canonical columns are typed.
"""

from sentiment_pipeline.ingest.blocks import UnreadableFile
from sentiment_pipeline.ingest.day import DayIngest, DayOutcome, ingest_day
from sentiment_pipeline.ingest.files import READABLE_SUFFIXES, LandingFile, open_source
from sentiment_pipeline.ingest.rules import HEADER_TO_CANONICAL
from sentiment_pipeline.ingest.sources.profile import parse_timestamps

__all__ = [
    "HEADER_TO_CANONICAL",
    "READABLE_SUFFIXES",
    "DayIngest",
    "DayOutcome",
    "LandingFile",
    "UnreadableFile",
    "ingest_day",
    "open_source",
    "parse_timestamps",
]
