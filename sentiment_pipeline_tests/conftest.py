"""Shared fixtures: storage on a temporary folder, or on moto's S3 *server* on 127.0.0.1."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import boto3
import dagster as dg
import pytest
from moto.server import ThreadedMotoServer

from sentiment_pipeline import sample


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real HTTP S3 endpoint on a free loopback port, stopped at the end of the session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(moto_endpoint, monkeypatch):
    """AWS_* variables pointing at moto, and a fresh bucket; returns the bucket name."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_storage(s3_env, monkeypatch):
    """Storage and landing roots both on moto's S3 server."""
    monkeypatch.setenv("SENTIMENT_STORAGE_ROOT", f"s3://{s3_env}/lake")
    monkeypatch.setenv("SENTIMENT_LANDING_ROOT", f"s3://{s3_env}/landing")
    return s3_env


@pytest.fixture
def local_storage(tmp_path, monkeypatch):
    """Storage root in a temporary folder (landing under it, as by default)."""
    root = tmp_path / "data"
    monkeypatch.setenv("SENTIMENT_STORAGE_ROOT", str(root))
    monkeypatch.delenv("SENTIMENT_LANDING_ROOT", raising=False)
    return root


def s3_keys(bucket: str, prefix: str = "") -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def run_whole_graph(tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    """Every asset of the project's definitions, in process, for the partition(s) ``tags`` name."""
    from sentiment_pipeline.definitions import defs

    return defs.resolve_implicit_global_asset_job_def().execute_in_process(tags=tags, instance=dg.DagsterInstance.ephemeral())


def api_keys(store) -> dict[str, str]:
    """One key per kind of caller: "pii" (sees e-mails and phones), "plain", and "revoked"."""
    keys = {"pii": store.create("analyst-pii", {"pii"}), "plain": store.create("analyst"), "revoked": store.create("old")}
    store.revoke("old")
    return keys


@contextmanager
def materialized_lake(base: Path, days: int, rows_per_day: int, extra_cols: int, end: date, more_landing: dict[str, str] | None = None) -> Iterator[tuple[Path, pytest.MonkeyPatch]]:
    """For module-scoped fixtures: sample landing days (and ``more_landing``: 'YYYY-MM-DD/file' ->
    text) under ``base/data``, every landing day materialized by the whole graph; yields the
    storage root, set as SENTIMENT_STORAGE_ROOT until the block ends, and the patch that set it."""
    root = base / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SENTIMENT_STORAGE_ROOT", str(root))
        patch.delenv("SENTIMENT_LANDING_ROOT", raising=False)
        sample.generate(sample.SampleSpec(out=root / "landing", days=days, rows_per_day=rows_per_day, extra_cols=extra_cols, end=end))
        for name, text in (more_landing or {}).items():
            (root / "landing" / name).parent.mkdir(exist_ok=True)
            (root / "landing" / name).write_text(text)
        landed = sorted(folder.name for folder in (root / "landing").iterdir())
        assert run_whole_graph({"dagster/asset_partition_range_start": landed[0], "dagster/asset_partition_range_end": landed[-1]}).success
        yield root, patch
