"""``ticket`` / ``ticket_rejects`` materialized through Dagster: local disk, moto S3, ranges, the CLI."""

import dataclasses
import gzip
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import polars as pl
import pytest

from sentiment_pipeline import sample
from sentiment_pipeline.api import masking
from sentiment_pipeline.definitions import defs
from sentiment_pipeline.defs.ingest import assets
from sentiment_pipeline.defs.ingest.assets import ingest, reason_kind, reject_reasons
from sentiment_pipeline.ingest import ingest_day

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


PLANTED_DAY = {
    "a.csv": (
        "ticket_id,created_at,subject\n"
        "T1,2025-01-02T10:00:00Z,Hello\n"
        "T2,yesterday,Bad date\n"
        "T1,2025-01-02T11:00:00Z,Same id\n"
        "T3,2025-01-02T12:00:00Z,Please write to jane.doe@example.com,one field too many\n"
        "T4,2025-01-02T12:00:00Z\n"
        "T5,31/31/2025,Another bad date\n"
    ),
    "export (1).csv": "ticket_id,created_at,subject\nT1,2025-01-02T13:00:00Z,Again\nT6,2025-01-02T13:00:00Z,Fine\n",
    "c.json": '[{"id": "J2", "timestamp": "2025-01-02"}',
}


def test_rejects_metadata_counts_reasons_by_kind_with_masked_samples(local_storage):
    for name, text in PLANTED_DAY.items():
        path = local_storage / "landing" / "2025-01-02" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = materialize([ingest], partition_key="2025-01-02")
    metadata = next(m for m in result.asset_materializations_for_node("ingest") if m.asset_key.path == ["ticket_rejects"]).metadata

    stored = read_partition("ticket_rejects", "2025-01-02").get_column("reason")
    reasons = {reason: int(rows) for reason, rows in markdown_rows(metadata["reasons"].value)}
    assert reasons == {
        "created_at '…' is not an ISO-8601 date or timestamp": stored.str.starts_with("created_at ").sum(),
        "duplicate ticket_id '…': the first occurrence (…) is kept": stored.str.starts_with("duplicate ticket_id 'T1'").sum(),
        "row has N fields but the header has N": stored.str.contains(r"^row has \d+ fields").sum(),
        "file not ingested: not valid JSON (…)": stored.str.starts_with("file not ingested").sum(),
    }
    assert sorted(reasons.values()) == [1, 2, 2, 2] and sum(reasons.values()) == stored.len()

    samples = markdown_rows(metadata["reject_samples"].value)  # rows are numbered from the first after the header
    assert {(file, row) for _, _, file, row, _ in samples} == {
        ("a.csv", "2"), ("a.csv", "3"), ("a.csv", "4"), ("a.csv", "5"), ("a.csv", "6"), ("export (1).csv", "1"), ("c.json", ""),
    }  # fmt: skip
    [(reason, raw)] = [(reason, raw) for reason, _, file, row, raw in samples if (file, row) == ("a.csv", "4")]
    assert reason == "row has 4 fields but the header has 3"
    assert (
        raw
        == f"T3,2025-01-02T12:00:00Z,Please write to {masking.tokens(['jane.doe@example.com'])['jane.doe@example.com']},one field too many"
    )
    assert "jane.doe" not in str(metadata)


def test_sample_raw_text_is_cut_and_stays_in_its_cell(local_storage):
    body = "x|y\n" * 200  # a quoted multi-line field with '|' in it, far longer than a sample shows
    path = local_storage / "landing" / "2025-01-02" / "a.csv"
    path.parent.mkdir(parents=True)
    path.write_text(f'ticket_id,created_at,body\nT1,never,"{body}"\n')
    result = materialize([ingest], partition_key="2025-01-02")
    metadata = next(m for m in result.asset_materializations_for_node("ingest") if m.asset_key.path == ["ticket_rejects"]).metadata
    [[reason, day, file, row, raw]] = markdown_rows(metadata["reject_samples"].value)
    assert (reason, day, file, row) == ("created_at 'never' is not an ISO-8601 date or timestamp", "2025-01-02", "a.csv", "1")
    assert raw.endswith("…") and len(raw.replace("\\|", "|").replace(" ↵ ", "\n")) == 200 + 1


def test_reasons_of_a_kind_group_whatever_their_values():
    reasons = [
        "duplicate ticket_id 'O'Brien': the first occurrence (s3://b/landing/2025-01-02/export (1).csv row 12) is kept",
        "duplicate ticket_id 'T7': the first occurrence (/data/landing/2025-01-02/a.csv row 2) is kept",
        "csat 'great' is not an integer from 1 to 5",
        "csat '' is not an integer from 1 to 5",
        "row has 12 fields but the header has 7",
        "row has 2 fields but the header has 70",
        "the Jira export has no column for ticket_id (headers: 'Key', 'Summary (short)'): map it in the sources file's [source.columns]",
        "the Jira export has no column for ticket_id (headers: 'Issue key'): map it in the sources file's [source.columns]",
    ]
    kinds = pl.Series(reasons).to_frame("reason").select(reason_kind(pl.col("reason"))).to_series().to_list()
    assert kinds[0::2] == kinds[1::2]
    assert kinds[0::2] == [
        "duplicate ticket_id '…': the first occurrence (…) is kept",
        "csat '…' is not an integer from N to N",
        "row has N fields but the header has N",
        "the Jira export has no column for ticket_id (…): map it in the sources file's [source.columns]",
    ]


def test_reasons_beyond_those_shown_are_counted(monkeypatch):
    monkeypatch.setattr(assets, "REASONS_SHOWN", 1)
    day = ingest_day([], datetime.now(UTC)).outcome()
    rejects = pl.DataFrame(
        {
            "source_file": "a.csv",
            "source_row": [1, 2, 3],
            "reason": ["missing ticket_id", "missing ticket_id", "missing created_at"],
            "raw": "",
        }
    )
    metadata = reject_reasons({"2025-01-02": dataclasses.replace(day, rejects=rejects)})
    assert metadata["reasons"].value.endswith("| missing ticket_id | 2 |\n\n... and 1 more kinds of reason (1 rejects)")
