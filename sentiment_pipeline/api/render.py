"""Response bodies: a frame as JSON, CSV or Parquet, masked unless the caller has ``pii``."""

import io
import json
from typing import Literal

import polars as pl

from sentiment_pipeline.api.keys import ApiKey
from sentiment_pipeline.api.masking import mask_frame

MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
Format = Literal["json", "csv", "parquet"]


def render(frame: pl.DataFrame, fmt: Format, extra: dict | None = None) -> bytes:
    if fmt == "csv":
        return frame.with_columns(pl.col(pl.List(pl.String)).list.join(";")).write_csv().encode()
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        return buffer.getvalue()
    rows = json.loads(frame.write_json()) if frame.height else []
    return json.dumps({**(extra or {}), "count": frame.height, "rows": rows}).encode()


def frame_response(frame: pl.DataFrame, key: ApiKey, fmt: Format, extra: dict | None = None) -> bytes:
    return render(frame if "pii" in key.scopes else mask_frame(frame), fmt, extra)
