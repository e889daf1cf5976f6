"""Polars frames <-> one Parquet object per daily partition (see ``storage`` for the layout)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field, PrivateAttr

from sentiment_pipeline import __version__, storage
from sentiment_pipeline.defs.lake import Lake

LINEAGE_KEY = "sentiment_pipeline.lineage"
STALE_STAGE_SECONDS = 3600


@dataclass(frozen=True)
class Partition:
    """One day's frame, the files it was made from (recorded as lineage in the object), and
    the day's figures people watch (plotted per partition in the UI)."""

    frame: pl.DataFrame | pl.LazyFrame
    source_files: tuple[str, ...] = ()
    figures: Mapping[str, float | int] = field(default_factory=dict)


Frame = pl.DataFrame | pl.LazyFrame | Partition


class LazyPartitions(Mapping[str, Frame]):
    """An asset's output for a run: each day computed only when the IO manager writes it.

    A year-long single-run backfill then needs the memory of one day. ``summary`` is
    called once every day has been written; its dict becomes metadata of every day of the
    run, so it is for what describes the run (a preview, the files read), not for numbers:
    a day's own figures go in its ``Partition``.
    """

    def __init__(
        self,
        partition_keys: list[str],
        compute: Callable[[str], Frame],
        summary: Callable[[], dict[str, Any]] | None = None,
    ):
        self.partition_keys = list(partition_keys)
        self.compute = compute
        self.summary = summary

    def __getitem__(self, partition_key: str) -> Frame:
        if partition_key not in self.partition_keys:
            raise KeyError(partition_key)
        return self.compute(partition_key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.partition_keys)

    def __len__(self) -> int:
        return len(self.partition_keys)


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores each daily partition of an asset as one Parquet object, written whole.

    An asset returns a frame (``DataFrame``, ``LazyFrame`` or ``Partition``) for a one-day
    run, or a mapping ``{partition_key: frame}`` covering every day of a range run (a
    single-run backfill). Each day becomes its own object, written one at a time (a lazy
    mapping computes a day only when it is written) and a lazy frame is streamed, so
    neither a long range nor a wide day has to sit in memory. Inputs load as one lazy scan
    over the requested upstream days, with a ``partition_date`` column.

    Each day's materialization gets that day's own metadata (row count, path, figures), so a
    range run plots the same per-day numbers as a run per day; the storage numbers (bytes,
    columns, partitions written, the asset's total bytes) are one JSON value, not plotted.
    """

    lake: Lake  # the storage root, and the S3 client the writes go through
    compression: str = Field(default="snappy", description="Parquet codec: snappy, zstd, lz4, gzip, uncompressed.")

    _loaded: dict[str, dict[str, list[str]]] = PrivateAttr(default_factory=dict)

    def resolved_root(self) -> str:
        return self.lake.roots().storage_root

    def handle_output(self, context: dg.OutputContext, obj: Frame | Mapping[str, Frame]):
        asset = _asset_name(context)
        frames = _frames_by_partition(asset, context.asset_partition_keys, obj)
        root = self.resolved_root()
        client = self.lake.s3_client()
        upstream = self._loaded.pop(context.step_key, {})
        days: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}
        for partition_key, frame in frames.items():
            partition = frame if isinstance(frame, Partition) else Partition(frame)
            uri = storage.partition_uri(root, asset, partition_key)
            lineage = {
                "asset": asset,
                "partition": partition_key,
                "run_id": context.run_id,
                "code_version": __version__,
                "written_at": datetime.now(UTC).isoformat(),
                "source_files": [*partition.source_files, *upstream.get(partition_key, [])],
            }
            written_rows, written_bytes = storage.write_parquet(
                partition.frame, uri, compression=self.compression, metadata={LINEAGE_KEY: json.dumps(lineage)}, client=client
            )
            _remove_strays(storage.partition_dir(root, asset, partition_key), keep=uri, client=client)
            context.log.info(f"wrote {written_rows} rows of {asset} to {uri}")
            days[partition_key] = (
                {"dagster/row_count": written_rows, **partition.figures, "path": dg.MetadataValue.path(uri)},
                {"bytes": written_bytes, "columns": len(partition.frame.collect_schema())},
            )
        storage.mark_changed(root, asset, f"run {context.run_id}: {len(days)} partition(s)", client=client)
        run_storage = {"partitions_written": len(days), "asset_bytes_total": storage_size(root, asset)}
        for partition_key, (metadata, written) in days.items():
            # OutputContext has no per-partition metadata of its own; each day's materialization reads the step's
            context.step_context.add_asset_metadata(
                {**metadata, "storage": dg.MetadataValue.json({**written, **run_storage})},
                asset_key=context.asset_key,
                partition_key=partition_key,
            )
        if isinstance(obj, LazyPartitions) and obj.summary is not None:
            context.add_output_metadata(obj.summary())

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        asset = _asset_name(context)
        root = self.resolved_root()
        keys = context.asset_partition_keys
        scan = storage.scan_partitions(root, asset, keys)
        loaded = self._loaded.setdefault(context.step_context.step.key if context.step_context else "", {})
        for key in keys:
            loaded.setdefault(key, []).append(storage.partition_uri(root, asset, key))
        return scan


def _asset_name(context: dg.InputContext | dg.OutputContext) -> str:
    if not context.has_asset_key or not context.has_asset_partitions:
        raise dg.DagsterInvariantViolationError(
            f"ParquetIOManager stores daily-partitioned assets only; {context.get_identifier()} has no asset key or partitions"
        )
    return storage.check_asset_name("_".join(context.asset_key.path))


def _frames_by_partition(asset: str, partition_keys: list[str], obj: Frame | Mapping[str, Frame]) -> Mapping[str, Frame]:
    """Match what the asset returned to the run's partitions, refusing any mismatch."""
    if isinstance(obj, Frame):
        if len(partition_keys) != 1:
            raise dg.DagsterInvariantViolationError(
                f"asset '{asset}' returned one frame for a run of {len(partition_keys)} partitions; "
                "return a {partition_key: frame} mapping with one frame per day"
            )
        return {partition_keys[0]: obj}
    if not isinstance(obj, Mapping):
        raise dg.DagsterInvariantViolationError(
            f"asset '{asset}' returned {type(obj).__name__}; expected a polars DataFrame or a {{partition_key: frame}} mapping"
        )
    if set(obj) != set(partition_keys):
        missing = sorted(set(partition_keys) - set(obj))
        extra = sorted(set(obj) - set(partition_keys))
        raise dg.DagsterInvariantViolationError(
            f"asset '{asset}' returned frames that do not match the run's partitions (missing: {missing[:5]}, not in this run: {extra[:5]})"
        )
    return obj


def storage_size(root: str, asset: str) -> int:
    """Bytes the asset holds in storage over all its days (one listing), to watch it grow."""
    return sum(
        info.size or 0 for info in storage.list_files(storage.join(root, asset), recursive=True) if info.base_name.endswith(".parquet")
    )


def _remove_strays(partition_dir: str, keep: str, client) -> None:
    """Keep exactly one object per partition, even if an older layout left others, and drop
    the staging files of writes killed before their rename (readers never see them: hidden
    names). A stage younger than an hour may be another run's write in progress: kept."""
    stale_before = time.time() - STALE_STAGE_SECONDS
    strays = [
        storage.uri_of(partition_dir, info.path)
        for info in storage.list_files(partition_dir)
        if (info.base_name.endswith(".parquet") and storage.uri_of(partition_dir, info.path) != keep)
        or (
            info.base_name.startswith(".")
            and info.base_name.endswith(".tmp")
            and info.mtime_ns is not None
            and info.mtime_ns / 1e9 < stale_before
        )
    ]
    storage.delete(strays, client=client)
