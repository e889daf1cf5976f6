"""The partitioned Parquet IO manager on local disk and on moto's S3 server."""

import json
import os
import time

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest

from sentiment_pipeline import storage
from sentiment_pipeline.definitions import defs
from sentiment_pipeline.defs.io_manager import LINEAGE_KEY
from sentiment_pipeline.defs.partitions import daily_partitions

from .helpers import materialize, s3_keys

RANGE_TAGS = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-03"}
DESIGN_ASSETS = {
    "ticket",
    "ticket_rejects",
    "comment",
    "sentiment",
    "entity",
    "daily_sentiment_summary",
    "daily_entity_mentions",
    "daily_agent_summary",
    "sentiment_alerts",
}


def probe_assets(version: str):
    """A tiny upstream/downstream pair: ``probe`` rows name their day and ``version``."""

    @dg.asset(partitions_def=daily_partitions, io_manager_key="parquet_io_manager", backfill_policy=dg.BackfillPolicy.single_run())
    def probe(context: dg.AssetExecutionContext):
        frames = {
            day: pl.DataFrame({"for_day": [day, day], "version": [version, version], "code": ["000123", "9"]})
            for day in context.partition_keys
        }
        return frames if len(frames) > 1 else frames[context.partition_key]

    @dg.asset(partitions_def=daily_partitions, io_manager_key="parquet_io_manager", backfill_policy=dg.BackfillPolicy.single_run())
    def probe_copy(context: dg.AssetExecutionContext, probe: pl.LazyFrame):
        frame = probe.collect()
        return {
            day: frame.filter(pl.col("partition_date") == storage.partition_day(day)).drop("partition_date")
            for day in context.partition_keys
        }

    return [probe, probe_copy]


def test_definitions_load_with_design_asset_keys():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"ticket", "ticket_rejects"} <= keys
    assert keys <= DESIGN_ASSETS, f"asset keys outside DESIGN.md: {keys - DESIGN_ASSETS}"


def test_local_partition_written_at_hive_path_and_read_back(tmp_path):
    root = str(tmp_path / "lake")
    result = materialize(probe_assets("v1"), root, partition_key="2025-01-02")
    assert result.success
    files = sorted(p.relative_to(tmp_path / "lake").as_posix() for p in (tmp_path / "lake").rglob("*") if p.is_file())
    assert files == [
        "probe/_version",  # changes on every write: readers' caches compare it
        "probe/year=2025/month=01/day=02/probe-2025-01-02.parquet",
        "probe_copy/_version",
        "probe_copy/year=2025/month=01/day=02/probe_copy-2025-01-02.parquet",
    ]
    copied = pl.read_parquet(tmp_path / "lake" / files[3])
    assert copied.to_dicts() == [
        {"for_day": "2025-01-02", "version": "v1", "code": "000123"},
        {"for_day": "2025-01-02", "version": "v1", "code": "9"},
    ]
    lineage = json.loads(pq.read_metadata(tmp_path / "lake" / files[3]).metadata[LINEAGE_KEY.encode()])
    assert lineage["partition"] == "2025-01-02" and lineage["run_id"] == result.run_id
    assert lineage["source_files"] == [storage.join(root, files[1])]
    metadata = result.asset_materializations_for_node("probe")[0].metadata
    assert metadata["dagster/row_count"].value == 2 and metadata["storage"].value["bytes"] > 0


def test_s3_partition_written_at_exact_keys_and_read_back(s3_env):
    root = f"s3://{s3_env}/lake"
    assert materialize(probe_assets("v1"), root, partition_key="2025-01-02").success
    assert s3_keys(s3_env) == [
        "lake/probe/_version",
        "lake/probe/year=2025/month=01/day=02/probe-2025-01-02.parquet",
        "lake/probe_copy/_version",
        "lake/probe_copy/year=2025/month=01/day=02/probe_copy-2025-01-02.parquet",
    ]
    back = storage.scan_partitions(root, "probe_copy", ["2025-01-02"]).collect()
    assert back.get_column("code").to_list() == ["000123", "9"]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_rematerialization_replaces_the_one_object(where, tmp_path, request):
    root = str(tmp_path / "lake") if where == "local" else f"s3://{request.getfixturevalue('s3_env')}/lake"
    assert storage.asset_version(root, "probe") is None
    assert materialize(probe_assets("v1"), root, partition_key="2025-01-02").success
    first = storage.asset_version(root, "probe")
    assert materialize(probe_assets("v2"), root, partition_key="2025-01-02").success
    assert storage.asset_version(root, "probe") not in (None, first)
    objects = storage.list_files(storage.partition_dir(root, "probe", "2025-01-02"))
    assert [o.base_name for o in objects] == ["probe-2025-01-02.parquet"]
    assert storage.scan_partitions(root, "probe", ["2025-01-02"]).collect().get_column("version").to_list() == ["v2", "v2"]


def test_range_run_writes_one_object_per_day(tmp_path):
    root = str(tmp_path / "lake")
    assert materialize(probe_assets("v1"), root, tags=RANGE_TAGS).success
    for asset in ("probe", "probe_copy"):
        days = storage.scan_partitions(root, asset, ["2025-01-01", "2025-01-02", "2025-01-03"]).collect()
        assert days.group_by("partition_date").len().sort("partition_date").get_column("len").to_list() == [2, 2, 2]
        assert (days.get_column("for_day") == days.get_column("partition_date").cast(pl.String)).all()
    assert len(list((tmp_path / "lake").rglob("*.parquet"))) == 6


def test_one_frame_for_a_range_is_refused_clearly(tmp_path):
    @dg.asset(partitions_def=daily_partitions, io_manager_key="parquet_io_manager", backfill_policy=dg.BackfillPolicy.single_run())
    def probe():
        return pl.DataFrame({"x": [1]})

    with pytest.raises(dg.DagsterInvariantViolationError, match="one frame for a run of 3 partitions"):
        materialize([probe], str(tmp_path), tags=RANGE_TAGS)
    assert not list(tmp_path.rglob("*.parquet"))


def test_missing_upstream_partition_is_a_clear_error(tmp_path):
    probe, probe_copy = probe_assets("v1")
    with pytest.raises(
        storage.MissingPartitionError,
        match=r"asset 'probe' has no materialized partition 2025-01-05.*--select probe --partition 2025-01-05",
    ):
        materialize([probe_copy, probe.to_source_asset()], str(tmp_path), partition_key="2025-01-05", selection=[probe_copy])


def test_partition_keys_and_asset_names_cannot_escape_the_root(tmp_path):
    with pytest.raises(ValueError, match="not a YYYY-MM-DD"):
        storage.partition_uri(str(tmp_path), "ticket", "../../etc")
    with pytest.raises(ValueError, match="asset name"):
        storage.partition_uri(str(tmp_path), "../ticket", "2025-01-01")


def test_duckdb_reads_s3_partitions_offline_through_arrow(s3_env):
    root = f"s3://{s3_env}/lake"
    assert materialize(probe_assets("v1"), root, tags=RANGE_TAGS).success
    connection = storage.duckdb_connection()
    connection.register("probe", storage.arrow_dataset(root, "probe"))
    rows = connection.execute("select day, count(*) from probe where day >= 2 group by day order by day").fetchall()
    assert rows == [(2, 2), (3, 2)]
    assert connection.execute("select current_setting('autoinstall_known_extensions')").fetchone() == (False,)


def test_a_killed_write_leaves_a_stage_that_the_next_write_clears(tmp_path):
    """The hidden stage of a write killed before its rename goes once it is an hour old; a
    younger one may be another run's write in progress and stays."""
    root = str(tmp_path / "lake")
    folder = tmp_path / "lake" / "probe" / "year=2025" / "month=01" / "day=02"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".probe-2025-01-02.parquet.dead.tmp", folder / ".probe-2025-01-02.parquet.live.tmp"
    stale.write_bytes(b"PAR1 half a file")
    fresh.write_bytes(b"PAR1 being written")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert materialize(probe_assets("v1"), root, partition_key="2025-01-02").success
    assert sorted(p.name for p in folder.iterdir()) == [fresh.name, "probe-2025-01-02.parquet"]
