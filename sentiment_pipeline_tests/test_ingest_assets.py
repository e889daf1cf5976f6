"""``ticket`` / ``ticket_rejects`` materialized through Dagster: local disk, moto S3, ranges, the CLI."""

import gzip
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import boto3
import polars as pl
import pytest

from sentiment_pipeline import sample
from sentiment_pipeline.definitions import defs
from sentiment_pipeline.defs.ingest.assets import ingest

from .helpers import materialize, read_partition, s3_keys

DIRTY_DAY = {
    "a.csv": b"ticket_id,created_at,subject,cf_code\nT1,2025-01-02T10:00:00Z,Hello,000123\nT2,nope,Bad,1\nT1,2025-01-02,dup,2\n",
    "b.jsonl.gz": gzip.compress(b'{"id": "J1", "timestamp": "2025-01-02", "extra": {"k": 1}}\n{broken\n'),
    "c.json": b'[{"id": "J2", "timestamp": "2025-01-02"}',
}


def markdown_rows(text: str) -> list[list[str]]:
    """The body rows of a markdown table, cell by cell."""
    return [line.strip("| ").split(" | ") for line in text.splitlines()[2:] if line.startswith("| ")]


def check_dirty_day(result):
    tickets, rejects = read_partition("ticket", "2025-01-02"), read_partition("ticket_rejects", "2025-01-02")
    assert sorted(tickets.get_column("ticket_id").to_list()) == ["J1", "T1"]
    assert tickets.filter(pl.col("ticket_id") == "T1").select("cf_code", "extra.k").row(0) == ("000123", None)
    assert sorted(rejects.get_column("reason").str.slice(0, 24).to_list()) == [
        "created_at 'nope' is not",
        "duplicate ticket_id 'T1'",
        "file not ingested: not v",
        "line is not valid JSON (",
    ]
    summary = result.asset_materializations_for_node("ingest")[-1].metadata
    assert (summary["input_rows"].value, summary["rejects"].value, summary["file_rejects"].value) == (5, 4, 1)
    assert summary["reject_share"].value == 0.6
    sources = {row[1]: row[2:6] for row in markdown_rows(summary["sources"].value)}  # profile, rows in, tickets, rejects
    assert sources["a.csv"] == ["none (canonical layout)", "3", "1", "2"]
    assert sources["c.json"] == ["none: file not ingested", "0", "0", "1"]  # listed too, though unreadable


def test_dirty_day_on_local_disk(local_storage):
    for name, content in DIRTY_DAY.items():
        path = local_storage / "landing" / "2025-01-02" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    check_dirty_day(materialize([ingest], partition_key="2025-01-02"))


def test_dirty_day_with_landing_and_storage_on_moto_s3(s3_storage):
    s3 = boto3.client("s3")
    for name, content in DIRTY_DAY.items():
        s3.put_object(Bucket=s3_storage, Key=f"landing/2025-01-02/{name}", Body=content)
    check_dirty_day(materialize([ingest], partition_key="2025-01-02"))
    assert s3_keys(s3_storage, "lake/") == [
        "lake/ticket/_version",
        "lake/ticket/year=2025/month=01/day=02/ticket-2025-01-02.parquet",
        "lake/ticket_rejects/_version",
        "lake/ticket_rejects/year=2025/month=01/day=02/ticket_rejects-2025-01-02.parquet",
    ]


def test_range_run_writes_one_object_per_day_and_empty_days_are_not_errors(local_storage):
    sample.generate(sample.SampleSpec(out=local_storage / "landing", days=2, rows_per_day=50, extra_cols=5, end=date(2025, 1, 3)))
    result = materialize(
        [ingest], tags={"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-03"}
    )
    assert result.success
    objects = sorted(p.relative_to(local_storage).as_posix() for p in local_storage.rglob("*.parquet"))
    assert objects == [
        f"{asset}/year=2025/month=01/day=0{day}/{asset}-2025-01-0{day}.parquet"
        for asset in ("ticket", "ticket_rejects")
        for day in (1, 2, 3)
    ]
    assert read_partition("ticket", "2025-01-01").height == 0  # no landing folder: an empty day
    for day in ("2025-01-02", "2025-01-03"):
        assert read_partition("ticket", day).height + read_partition("ticket_rejects", day).height == 55  # 50 CSV rows + 5 JSON lines


@pytest.mark.e2e
def test_cli_partition_range_backfill(tmp_path):
    """The documented command line, in a subprocess with its own DAGSTER_HOME."""
    root = tmp_path / "data"
    sample.generate(sample.SampleSpec(out=root / "landing", days=3, rows_per_day=30, extra_cols=3, end=date(2025, 1, 3)))
    env = {**os.environ, "SENTIMENT_STORAGE_ROOT": str(root), "DAGSTER_HOME": str(tmp_path)}
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "asset",
        "materialize",
        "-m",
        "sentiment_pipeline.definitions",
        "--select",
        "*",
        "--partition-range",
        "2025-01-01...2025-01-03",
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert len(list((root / "ticket").rglob("*.parquet"))) == 3
    assert len(list((root / "ticket_rejects").rglob("*.parquet"))) == 3


def test_definitions_describe_the_ingest_assets():
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert specs["ticket"].group_name == "ingest"
    assert "ticket_id" in [c.name for c in specs["ticket"].metadata["dagster/column_schema"].columns]
