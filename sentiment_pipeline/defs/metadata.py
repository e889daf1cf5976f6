"""How assets show themselves in the UI: column schemas and previews."""

import re

import dagster as dg
import polars as pl

from sentiment_pipeline.schemas import ASSETS, column_descriptions

LINE_BREAK = re.compile(r"\r\n|\r|\n")


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
    return dg.MetadataValue.md(markdown_table(frame.head(rows)))


def markdown_table(frame: pl.DataFrame) -> str:
    """A frame as a markdown table; a value's '|' and line breaks are escaped, so text such as a
    raw input row stays in its cell."""
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(round(value, 3) if isinstance(value, float) else value)
    return LINE_BREAK.sub(" ↵ ", text.replace("|", "\\|"))
