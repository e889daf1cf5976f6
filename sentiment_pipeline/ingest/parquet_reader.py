"""Parquet landing files (the import from PostgreSQL writes them; many exports are Parquet
anyway): read a row group at a time, every column handed on as text, as a CSV's would be.

A file may name its source profile in its key-value metadata (``SOURCE_KEY``); otherwise it
is matched by its column names like a CSV header. Values become the text a person would
read: timestamps ISO-8601 (with their offset when they have a zone), dates ``YYYY-MM-DD``,
numbers and booleans as written by polars, nested values as JSON. A list of texts mapped to
``tags`` stays a list.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sentiment_pipeline.ingest.blocks import BROKEN, ROW, Block, Source, UnreadableFile, _not_internal
from sentiment_pipeline.ingest.rules import canonical_names
from sentiment_pipeline.ingest.sources import SourceProfile, match_csv

SOURCE_KEY = b"sentiment_pipeline.source"  # names the profile that maps the file's columns
ZONED = "%Y-%m-%dT%H:%M:%S%.f%:z"
NAIVE = "%Y-%m-%dT%H:%M:%S%.f"
BLOCK_CELLS = 2_000_000  # a block holds about this many values (rows x columns)


def open_parquet(uri: str, where: str | pa.NativeFile, profiles: list[SourceProfile]) -> Source:
    """The file's columns, blocks and profile; ``UnreadableFile`` when it is not Parquet or
    names a profile the sources file does not define."""
    try:
        parquet = pq.ParquetFile(where)
    except (pa.ArrowInvalid, OSError) as error:
        raise UnreadableFile(f"named .parquet but is not a Parquet file ({error})") from error
    schema = parquet.schema_arrow
    named = (parquet.metadata.metadata or {}).get(SOURCE_KEY)  # the file's key-value metadata
    if named is not None:
        profile = next((p for p in profiles if p.name == named.decode()), None)
        if profile is None:
            raise UnreadableFile(
                f"its columns are mapped by source '{named.decode()}', which the sources file (SENTIMENT_SOURCES) does not define"
            )
    else:
        profile = match_csv(schema.names, profiles)
    notes: list[str] = []
    names = [_not_internal(name, notes, uri) for name in schema.names]
    if profile is not None:
        tags = profile.columns["tags"].source if "tags" in profile.columns else None
    else:
        tags = next((column for column, canonical in canonical_names(schema.names).items() if canonical == "tags"), None)
    lists = {name for name, field in zip(names, schema, strict=True) if field.name == tags and _texts(field.type)}

    def blocks() -> Iterator[Block]:
        rows = max(1, BLOCK_CELLS // max(1, len(names)))
        first = 1
        for batch in parquet.iter_batches(batch_size=rows):
            frame = pl.from_arrow(batch.rename_columns(names), rechunk=False)
            columns = [pl.col(name) if name in lists else _as_text(name, dtype) for name, dtype in frame.schema.items()]
            texts = frame.select(pl.int_range(first, first + frame.height, dtype=pl.UInt32).alias(ROW), *columns)
            yield Block(texts, pl.DataFrame(schema=BROKEN), frame.height, first, first + frame.height, delimiter=",")
            first += frame.height

    return Source(uri, names, blocks, notes, headers=schema.names, profile=profile, lists=lists)


def _texts(dtype: pa.DataType) -> bool:
    """A list of texts (PostgreSQL's ``text[]``)."""
    is_list = pa.types.is_list(dtype) or pa.types.is_large_list(dtype)
    return is_list and (pa.types.is_string(dtype.value_type) or pa.types.is_large_string(dtype.value_type))


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype == pl.String:
        return column
    if isinstance(dtype, pl.Datetime):
        return column.dt.to_string(ZONED if dtype.time_zone else NAIVE)
    if dtype == pl.Date:
        return column.dt.to_string("%Y-%m-%d")
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        return json_text(column).alias(name)
    if dtype == pl.Binary:
        return column.bin.encode("hex")
    return column.cast(pl.String)


def json_text(value: pl.Expr) -> pl.Expr:
    """A nested value as JSON text (null stays null): encoded as ``{"v": ...}``, cut to the value."""
    encoded = pl.struct(value.alias("v")).struct.json_encode()
    return pl.when(value.is_not_null()).then(encoded.str.slice(5, encoded.str.len_chars() - 6))
