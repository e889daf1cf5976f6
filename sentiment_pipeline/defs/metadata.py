"""How assets show themselves in the UI: column schemas and previews."""

import dagster as dg
import polars as pl

from sentiment_pipeline.schemas import DESCRIPTIONS


def table_schema(schema: dict[str, pl.DataType]) -> dg.TableSchema:
    """The asset's columns for the UI, from the one schema definition that also drives the writer."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype), description=DESCRIPTIONS.get(name, "")) for name, dtype in schema.items()]
    )


def markdown_preview(frame: pl.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """The first rows of a frame as a markdown table for the asset's page in the UI."""
    shown = frame.head(rows)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += [
        "| " + " | ".join("" if v is None else str(round(v, 3) if isinstance(v, float) else v) for v in row) + " |"
        for row in shown.iter_rows()
    ]
    return dg.MetadataValue.md("\n".join(lines))
