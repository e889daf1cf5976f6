"""Response bodies: a frame as JSON, CSV or Parquet, masked unless the caller has ``pii``.

Timestamps are ISO-8601 in UTC with a ``Z`` in JSON and CSV alike (nested ones too); what a
JSON body says beside its rows (``total``, ``missing_days``) CSV and Parquet say in headers.
"""

import io
import json
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from sentiment_pipeline.api.keys import ApiKey
from sentiment_pipeline.api.masking import mask_frame

MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
Format = Literal["json", "csv", "parquet"]
ISO_UTC = "%Y-%m-%dT%H:%M:%S%.fZ"  # %.f: no fraction for whole seconds, else milli/micro digits
HEADERS = {"total": "X-Total-Count", "missing_days": "X-Missing-Days"}  # the body's extras, as CSV/Parquet headers


def iso_utc(moment: datetime) -> str:
    """One timestamp as the tables write them: ISO-8601 in UTC ending in ``Z`` (a naive one is UTC)."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat() if moment.tzinfo else moment.isoformat()
    return text + "Z"


def _has_timestamp(kind: pl.DataType) -> bool:
    if isinstance(kind, pl.List):
        return _has_timestamp(kind.inner)
    if isinstance(kind, pl.Struct):
        return any(_has_timestamp(field.dtype) for field in kind.fields)
    return isinstance(kind, pl.Datetime)


def _utc_text(expr: pl.Expr, kind: pl.DataType) -> pl.Expr:
    """``expr`` with every timestamp inside it as ISO-8601 UTC text ending in ``Z``."""
    if isinstance(kind, pl.List):
        return expr.list.eval(_utc_text(pl.element(), kind.inner))
    if isinstance(kind, pl.Struct):
        return expr.struct.with_fields([_utc_text(pl.field(f.name), f.dtype) for f in kind.fields if _has_timestamp(f.dtype)])
    return (expr.dt.convert_time_zone("UTC") if kind.time_zone else expr).dt.to_string(ISO_UTC)


def _csv_text(expr: pl.Expr, kind: pl.DataType) -> pl.Expr:
    """A nested column as one CSV cell: a list of text joined with ';' (as tags are written), anything else as JSON."""
    if kind == pl.List(pl.String):
        return expr.list.join(";")
    if isinstance(kind, pl.Struct):
        return expr.struct.json_encode()
    items = expr.list.eval(_csv_text(pl.element(), kind.inner) if isinstance(kind.inner, pl.Struct) else pl.element().cast(pl.String))
    return pl.concat_str(pl.lit("["), items.list.join(","), pl.lit("]"))


def render(frame: pl.DataFrame, fmt: Format, extra: dict | None = None) -> bytes:
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        return buffer.getvalue()
    frame = frame.with_columns(_utc_text(pl.col(name), kind) for name, kind in frame.schema.items() if _has_timestamp(kind))
    if fmt == "csv":
        nested = [_csv_text(pl.col(name), kind).alias(name) for name, kind in frame.schema.items() if kind.is_nested()]
        return frame.with_columns(nested).write_csv().encode()
    rows = json.loads(frame.write_json()) if frame.height else []
    return json.dumps({**(extra or {}), "count": frame.height, "rows": rows}).encode()


def frame_response(frame: pl.DataFrame, key: ApiKey, fmt: Format, extra: dict | None = None) -> bytes:
    return render(frame if "pii" in key.scopes else mask_frame(frame), fmt, extra)


def download(frame: pl.DataFrame, key: ApiKey, fmt: Format, name: str, extra: dict) -> tuple[bytes, dict[str, str]]:
    """A read's body and headers: CSV and Parquet come as a file named ``name`` whose headers
    carry ``extra``'s total and missing days; JSON carries ``extra`` in the body."""
    body = frame_response(frame, key, fmt, extra)
    if fmt == "json":
        return body, {}
    headers = {
        header: str(extra[field]) if field == "total" else ",".join(extra[field]) for field, header in HEADERS.items() if field in extra
    }
    return body, {**headers, "Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
