"""A day's landing folder as the ingest and the landing sensor both see it: which files are
exports, and the digest of them that the ingest records and the sensor compares (one
definition, so the two always agree on whether a day's files changed)."""

import hashlib
import json

import pyarrow.fs as pafs

LANDING_DIGEST = "landing_digest"  # the ``ticket`` materialization's metadata key, per partition

Files = list[tuple[str, int, int]]  # (name, size, mtime in ns) of the exports of one day


def is_export(name: str) -> bool:
    """Names starting with '.' or '_' are not exports: editor files, writes in progress, ``_SUCCESS`` markers."""
    return not name.startswith((".", "_"))


def file_entry(info: pafs.FileInfo) -> tuple[str, int, int]:
    """What a listing says of a file, no read needed: a rewrite changes its size or mtime."""
    return (info.base_name, info.size, info.mtime_ns)


def digest(items: list) -> str:
    """A short fingerprint of a set (a day's files, or days and their digests): any new,
    changed or removed item changes it; the order of ``items`` does not."""
    return hashlib.sha256(json.dumps(sorted(items)).encode()).hexdigest()[:16]
