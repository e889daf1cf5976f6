"""How assets show themselves in the UI: column schemas and previews."""

import dagster as dg
import polars as pl

from sentiment_pipeline.schemas import ASSETS, column_descriptions


def table_schema(asset: str) -> dg.TableSchema:
    """The asset's columns for the UI, from the one schema definition that also drives the writer."""
    described = column_descriptions(asset)
    return dg.TableSchema(
        columns=[dg.TableColumn(name, readable_type(dtype), description=described[name]) for name, dtype in ASSETS[asset].items()]
    )


def readable_type(dtype: pl.DataType) -> str:
    """A column type in words a reader of the UI knows ("datetime (UTC)", "list of text"),
    not polars' repr (``Datetime(time_unit='us', time_zone='UTC')``)."""
    if isinstance(dtype, pl.Datetime):
        return f"datetime ({dtype.time_zone})" if dtype.time_zone else "datetime"
    if isinstance(dtype, pl.List):
        return f"list of {readable_type(dtype.inner)}"
    if isinstance(dtype, pl.Struct):
        return "{" + ", ".join(field.name for field in dtype.fields) + "}"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "decimal"
    if dtype == pl.String:
        return "text"
    return str(dtype).lower()  # date, boolean, ...


def markdown_preview(frame: pl.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """The first rows of a frame as a markdown table for the asset's page in the UI."""
    shown = frame.head(rows)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += [
        "| " + " | ".join("" if v is None else str(round(v, 3) if isinstance(v, float) else v) for v in row) + " |"
        for row in shown.iter_rows()
    ]
    return dg.MetadataValue.md("\n".join(lines))
