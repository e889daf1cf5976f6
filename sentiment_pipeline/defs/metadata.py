"""How assets show themselves in the UI: column schemas and previews."""

import re

import dagster as dg
import polars as pl

from sentiment_pipeline.schemas import DESCRIPTIONS

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def table_schema(schema: dict[str, pl.DataType]) -> dg.TableSchema:
    """The asset's columns for the UI, from the one schema definition that also drives the writer."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype), description=DESCRIPTIONS.get(name, "")) for name, dtype in schema.items()]
    )


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
