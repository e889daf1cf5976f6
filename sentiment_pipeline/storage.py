"""Where assets and landing files live, and how every part of the project reaches them.

The IO manager, the DuckDB aggregates and the API all resolve storage here, so a root
is interpreted one way only. A root is a local folder or ``s3://bucket/prefix``. S3 is read
through pyarrow's ``S3FileSystem`` (and polars' native reader), configured from the
standard ``AWS_*`` variables: nothing depends on DuckDB's httpfs extension, which downloads
itself at run time and fails offline.

Layout of an asset partition (hive style, so DuckDB/polars read history with
``hive_partitioning``): ``<root>/<asset>/year=YYYY/month=MM/day=DD/<asset>-YYYY-MM-DD.parquet``.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sentiment_pipeline.settings import load_settings

HIVE_SCHEMA = pa.schema([("year", pa.int16()), ("month", pa.int8()), ("day", pa.int8())])
HIVE_TYPES_SQL = "{'year': SMALLINT, 'month': TINYINT, 'day': TINYINT}"  # the same types, for DuckDB
# Matched whole (``fullmatch``): with ``re.match``, ``$`` also matches before a trailing
# newline, and ``\d`` matches any Unicode digit.
ASSET_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
PARTITION_KEY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
VERSION_MARKER = "_version"  # per asset; '_' keeps it out of Parquet globs and datasets
ROW_GROUP_CELLS = 1_000_000
ROW_GROUP_MAX_ROWS = 256_000
# Every DuckDB connection of the project (the API's, and the Dagster shell's DuckDBResource):
# nothing may try to download an extension (httpfs would, and fails offline).
DUCKDB_OFFLINE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


class MissingPartitionError(FileNotFoundError):
    """An upstream partition that a run needs has never been materialized."""


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def partition_day(partition_key: str) -> date:
    """The date of a daily partition key, refusing anything that could escape a path."""
    if not isinstance(partition_key, str) or not PARTITION_KEY.fullmatch(partition_key):
        raise ValueError(f"partition key {partition_key!r} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(partition_key)
    except ValueError as error:
        raise ValueError(f"partition key {partition_key!r} is not a YYYY-MM-DD date ({error})") from None


def check_asset_name(asset: str) -> str:
    if not isinstance(asset, str) or not ASSET_NAME.fullmatch(asset):
        raise ValueError(f"asset name {asset!r} must be lower-case letters, digits and _")
    return asset


def partition_dir(root: str, asset: str, partition_key: str) -> str:
    day = partition_day(partition_key)
    return join(root, check_asset_name(asset), f"year={day:%Y}", f"month={day:%m}", f"day={day:%d}")


def partition_uri(root: str, asset: str, partition_key: str) -> str:
    """The one object that holds ``asset`` for ``partition_key``."""
    return join(partition_dir(root, asset, partition_key), f"{asset}-{partition_key}.parquet")


# --- filesystems -------------------------------------------------------------------------


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for ``uri`` and the path to use on it."""
    if is_s3(uri):
        return s3_filesystem(), uri.removeprefix("s3://")
    return pafs.LocalFileSystem(), uri


def s3_filesystem() -> pafs.S3FileSystem:
    """pyarrow S3 from the AWS_* variables (pyarrow ignores ``AWS_ENDPOINT_URL`` itself)."""
    aws = load_settings().aws
    options: dict = {
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=5),
        "connect_timeout": 5,
        "request_timeout": 60,
    }
    if aws.endpoint_url:
        parsed = urlparse(aws.endpoint_url)
        options["endpoint_override"] = parsed.netloc
        options["scheme"] = parsed.scheme or "https"
    if aws.region:
        options["region"] = aws.region
    if aws.access_key_id and aws.secret_access_key:
        options.update(access_key=aws.access_key_id, secret_key=aws.secret_access_key, session_token=aws.session_token)
    return pafs.S3FileSystem(**options)


def s3_client():
    """boto3 honours every AWS_* variable, ``AWS_ENDPOINT_URL`` included. The Dagster shell
    passes its ``S3Resource``'s client instead wherever a function takes ``client``.

    Imported here, not at module level: a local-only run (the default) never pays for it.
    """
    import boto3

    return boto3.client("s3")


def polars_storage_options(uri: str) -> dict[str, str] | None:
    """Options for polars' native cloud reader (it needs ``allow_http`` for a plain endpoint)."""
    if not is_s3(uri):
        return None
    aws = load_settings().aws
    options = {}
    if aws.endpoint_url:
        options["aws_endpoint_url"] = aws.endpoint_url
        options["aws_allow_http"] = str(aws.endpoint_url.startswith("http://")).lower()
    if aws.region:
        options["aws_region"] = aws.region
    for name in ("access_key_id", "secret_access_key", "session_token"):
        if value := getattr(aws, name):
            options[f"aws_{name}"] = value
    return options


def probe(root: str) -> tuple[bool, str]:
    """Whether storage answers, quickly (one short try: for health checks, not for work)."""
    if not is_s3(root):
        return (True, "local folder") if Path(root).is_dir() else (False, f"{root} does not exist yet")
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = split_s3(root)[0]
    quick = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
    try:
        boto3.client("s3", config=quick).head_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError) as error:
        return False, f"{type(error).__name__}: {error}"
    return True, f"bucket {bucket} reachable"


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type == pafs.FileType.File


def list_files(uri: str, recursive: bool = False) -> list[pafs.FileInfo]:
    """Files under the folder ``uri`` (none if it does not exist), sorted by path."""
    fs, path = filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=recursive))
    return sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.path)


def uri_of(uri_like_root: str, path: str) -> str:
    """Turn a path returned by a filesystem listing back into a URI of the same kind."""
    return f"s3://{path}" if is_s3(uri_like_root) else path


# --- whole-object writes -----------------------------------------------------------------


def write_parquet(
    frame: pl.DataFrame | pl.LazyFrame, uri: str, *, compression: str, metadata: dict[str, str], client=None
) -> tuple[int, int]:
    """Replace the object at ``uri`` with ``frame`` as Parquet, atomically: (rows, bytes).

    A lazy frame is streamed (``sink_parquet``), so a wide day never sits in memory whole.
    The file is staged locally first. Local target: the stage is a hidden file in the
    target's folder, renamed over the target. S3 target: the stage is sent in one
    PutObject, so the object is the whole new file or the previous version, never a part
    (a multipart stream would be completed with whatever was written if closed after an
    error).
    """
    if is_s3(uri):
        with tempfile.TemporaryDirectory(prefix="sentiment-stage-") as folder:
            staged = Path(folder) / "partition.parquet"
            rows = _write_local(frame, staged, compression, metadata)
            bucket, key = split_s3(uri)
            with staged.open("rb") as body:
                try:
                    (client or s3_client()).put_object(Bucket=bucket, Key=key, Body=body)
                except Exception as error:  # re-raised as is: only says which object failed
                    error.add_note(f"while writing {uri} (the previous version, if any, is unchanged)")
                    raise
            return rows, staged.stat().st_size
    target = Path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        rows = _write_local(frame, staged, compression, metadata)
        size = staged.stat().st_size
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return rows, size


def _write_local(frame: pl.DataFrame | pl.LazyFrame, path: Path, compression: str, metadata: dict[str, str]) -> int:
    options = {"compression": compression, "metadata": metadata, "row_group_size": row_group_rows(frame)}
    if isinstance(frame, pl.LazyFrame):
        frame.sink_parquet(path, **options)
        return pq.read_metadata(path).num_rows
    frame.write_parquet(path, **options)
    return frame.height


def row_group_rows(frame: pl.DataFrame | pl.LazyFrame) -> int:
    """Rows per row group for about ``ROW_GROUP_CELLS`` values: a 1,600-column day gets
    small groups (the writer buffers a whole group, so this bounds memory), a narrow one
    large groups (better compression and scans)."""
    columns = max(1, len(frame.collect_schema()))
    return max(1_000, min(ROW_GROUP_MAX_ROWS, ROW_GROUP_CELLS // columns))


def mark_changed(root: str, asset: str, note: str, client=None) -> None:
    """Record that ``asset`` changed (a new token each time): readers that cached
    anything read from it compare ``asset_version`` and drop what is stale."""
    uri = join(root, check_asset_name(asset), VERSION_MARKER)
    body = f"{uuid.uuid4().hex} {note}".encode()
    if is_s3(uri):
        bucket, key = split_s3(uri)
        (client or s3_client()).put_object(Bucket=bucket, Key=key, Body=body)
        return
    target = Path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    staged.write_bytes(body)
    os.replace(staged, target)


def asset_version(root: str, asset: str) -> str | None:
    """The token of ``asset``'s last change (None if it was never written)."""
    uri = join(root, check_asset_name(asset), VERSION_MARKER)
    try:
        return read_bytes(uri).decode()
    except FileNotFoundError:
        return None


def asset_updated_at(root: str, asset: str) -> datetime | None:
    """When ``asset`` last changed (its ``_version`` object's modification time, UTC)."""
    fs, path = filesystem(join(root, check_asset_name(asset), VERSION_MARKER))
    info = fs.get_file_info(path)
    return info.mtime.astimezone(UTC) if info.type == pafs.FileType.File else None


def delete(uris: Iterable[str], client=None) -> None:
    for uri in uris:
        if is_s3(uri):
            bucket, key = split_s3(uri)
            (client or s3_client()).delete_object(Bucket=bucket, Key=key)
        else:
            Path(uri).unlink(missing_ok=True)


# --- reads -------------------------------------------------------------------------------


def read_bytes(uri: str) -> bytes:
    """The object's bytes exactly as stored, in one copy (never un-gzipped on the way)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = s3_client()
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey as error:
            raise FileNotFoundError(uri) from error
    return Path(uri).read_bytes()


def download(uri: str, target: Path, client=None) -> Path:
    """Copy an S3 object to a local file (streamed, never whole in memory): ``target``."""
    bucket, key = split_s3(uri)
    client = client or s3_client()
    try:
        client.download_file(bucket, key, str(target))
    except Exception as error:  # re-raised as is: only says which object failed
        error.add_note(f"while downloading {uri}")
        raise
    return target


def scan_partitions(root: str, asset: str, partition_keys: Iterable[str]) -> pl.LazyFrame:
    """One lazy scan over the given partitions, with a ``partition_date`` column.

    Files of different days may hold different columns (wide, drifting exports): the scan
    is their union, absent values null. A partition that was never written is an error
    naming it, not an empty result.
    """
    keys = list(partition_keys)
    uris = {key: partition_uri(root, asset, key) for key in keys}
    missing = [key for key, uri in uris.items() if not exists(uri)]
    if missing:
        raise _missing(root, asset, missing)
    scans = [
        pl.scan_parquet(uri, storage_options=polars_storage_options(uri)).with_columns(partition_date=pl.lit(partition_day(key)))
        for key, uri in uris.items()
    ]
    if not scans:
        raise ValueError(f"no partitions of '{asset}' were asked for")
    return pl.concat(scans, how="diagonal_relaxed")


def materialized_keys(root: str, asset: str) -> set[str]:
    """The days ``asset`` has an object for, from one listing: a materialized day always has
    its object (an empty day too), so a day without one was never materialized."""
    layout = re.compile(rf"year=([0-9]{{4}})/month=([0-9]{{2}})/day=([0-9]{{2}})/{re.escape(check_asset_name(asset))}-\1-\2-\3\.parquet$")
    found = (layout.search(info.path) for info in list_files(join(root, asset), recursive=True))
    return {"-".join(match.groups()) for match in found if match}


def asset_source(
    connection, root: str, asset: str, partition_keys: str | list[str] | None = None, union_by_name: bool = False
) -> str | None:
    """A DuckDB FROM-clause source for ``asset``, to put in a query: every day (None), one
    day (a key: an error naming it if it was never written) or the days of a list that
    exist (None if none does), so a range reads only its own files. ``union_by_name``: the
    columns of every file (days whose exports differ), not only those every file has.

    A local root is read by DuckDB's own Parquet reader, written into the query itself
    (typed hive partitions, nothing bound twice); an S3 root is a pyarrow dataset
    registered on ``connection`` under the asset's name, which DuckDB scans with
    projection and filter pushdown and without any httpfs download.
    """
    base = join(root, check_asset_name(asset))
    if isinstance(partition_keys, str):
        uri = partition_uri(root, asset, partition_keys)
        if not exists(uri):
            raise _missing(root, asset, [partition_keys])
        uris = [uri]
    elif partition_keys is not None:
        wanted = [partition_uri(root, asset, key) for key in partition_keys]
        if is_s3(root):  # one LIST instead of a HEAD per day
            listed = {uri_of(root, info.path) for info in list_files(base, recursive=True)}
            uris = [uri for uri in wanted if uri in listed]
        else:
            uris = [uri for uri in wanted if os.path.isfile(uri)]
        if not uris:
            return None
    if is_s3(root):
        fs, path = filesystem(base)
        hive = ds.partitioning(HIVE_SCHEMA, flavor="hive")
        if partition_keys is None:
            dataset = arrow_dataset(root, asset)
        else:
            paths = [filesystem(uri)[1] for uri in uris]
            dataset = ds.dataset(paths, filesystem=fs, format="parquet", partitioning=hive, partition_base_dir=path)
        if union_by_name:
            fragments = [fragment.physical_schema for fragment in dataset.get_fragments()]
            dataset = ds.dataset(
                dataset.files,
                filesystem=fs,
                format="parquet",
                partitioning=hive,
                partition_base_dir=path,
                schema=pa.unify_schemas([*fragments, HIVE_SCHEMA]),
            )
        connection.register(asset, dataset)
        return asset
    if partition_keys is None:
        files = "'{}'".format(join(base, "*", "*", "*", "*.parquet").replace("'", "''"))
    else:
        files = "[" + ", ".join("'{}'".format(uri.replace("'", "''")) for uri in uris) + "]"
    union = ", union_by_name = true" if union_by_name else ""
    return f"read_parquet({files}, hive_partitioning = true, hive_types = {HIVE_TYPES_SQL}{union})"


def _missing(root: str, asset: str, keys: list[str]) -> MissingPartitionError:
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    return MissingPartitionError(
        f"asset '{asset}' has no materialized partition {shown} under {root} "
        f"(expected e.g. {partition_uri(root, asset, keys[0])}). Materialize it first, e.g. "
        f"`dagster asset materialize -m sentiment_pipeline.definitions --select {asset} --partition {keys[0]}`."
    )


def arrow_dataset(root: str, asset: str) -> ds.Dataset:
    """Every partition of ``asset`` as a pyarrow dataset with typed year/month/day columns.

    DuckDB scans this (registered as a relation) with projection and filter pushdown, on
    local disk and on S3 alike, with no extension to download.
    """
    fs, path = filesystem(join(root, check_asset_name(asset)))
    hive = ds.partitioning(HIVE_SCHEMA, flavor="hive")
    return ds.dataset(path, filesystem=fs, format="parquet", partitioning=hive, ignore_prefixes=[".", "_"])


def duckdb_connection(threads: int | None = None, memory_limit: str | None = None, temp_directory: str | None = None):
    """An in-memory DuckDB that never tries to download an extension.

    Imported here, not at module level: the ingest process never needs DuckDB.
    """
    import duckdb

    config: dict = dict(DUCKDB_OFFLINE_CONFIG)
    if threads:
        config["threads"] = str(threads)
    if memory_limit:
        config["memory_limit"] = memory_limit
    if temp_directory:
        config["temp_directory"] = temp_directory
    connection = duckdb.connect(":memory:", config=config)
    connection.execute("set global TimeZone = 'UTC'")  # timestamps come back in UTC, every cursor, whatever the machine's zone
    return connection
