"""Every setting the project reads from the environment, read here and nowhere else.

The Dagster shell wraps these in resources (``defs/resources.py``); the API and the CLI use
them directly. All variables are optional; the defaults make a laptop run with no cloud.
Read at call time (not import time), so a process that changes its environment sees it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_STORAGE_ROOT = "data"
DEFAULT_PARTITIONS_START = "2025-01-01"
MIN_MASK_KEY_CHARS = 32
ALERT_WEBHOOK_VARIABLE = "SENTIMENT_ALERT_WEBHOOK_URL"  # a secret: read by Dagster through dg.EnvVar


@dataclass(frozen=True)
class LakeRoots:
    """Where assets live and where raw exports land: each a local folder or ``s3://bucket/prefix``."""

    storage_root: str
    landing_root: str

    @classmethod
    def of(cls, storage_root: str, landing_root: str | None = None) -> LakeRoots:
        """Normalised roots; the landing root defaults to ``<storage root>/landing``."""
        storage = normalise_root(storage_root)
        return cls(storage, normalise_root(landing_root) if landing_root else f"{storage}/landing")


@dataclass(frozen=True)
class AwsSettings:
    """The standard AWS variables, for the clients that do not read them themselves (pyarrow, polars)."""

    endpoint_url: str | None
    region: str | None
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    max_attempts: int | None  # AWS_MAX_ATTEMPTS: botocore's own retries per call


@dataclass(frozen=True)
class Settings:
    storage_root: str
    landing_root: str | None  # None: under the storage root
    partitions_start: str
    product_catalog: str | None
    api_db: str | None
    mask_key: str | None  # None: a key made once and kept beside the API key database
    sources_file: str | None
    backfill_days_per_run: int | None
    aws: AwsSettings

    @property
    def roots(self) -> LakeRoots:
        return LakeRoots.of(self.storage_root, self.landing_root)


def load_settings() -> Settings:
    """The settings from the environment as it is now; a malformed value is an error naming it."""
    env = os.environ
    return Settings(
        storage_root=env.get("SENTIMENT_STORAGE_ROOT") or DEFAULT_STORAGE_ROOT,
        landing_root=env.get("SENTIMENT_LANDING_ROOT") or None,
        partitions_start=env.get("SENTIMENT_PARTITIONS_START") or DEFAULT_PARTITIONS_START,
        product_catalog=env.get("SENTIMENT_PRODUCT_CATALOG") or None,
        api_db=env.get("SENTIMENT_API_DB") or None,
        mask_key=_mask_key(env.get("SENTIMENT_MASK_KEY")),
        sources_file=env.get("SENTIMENT_SOURCES") or None,
        backfill_days_per_run=_days_per_run(env.get("SENTIMENT_BACKFILL_DAYS_PER_RUN")),
        aws=AwsSettings(
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            max_attempts=int(env["AWS_MAX_ATTEMPTS"]) if env.get("AWS_MAX_ATTEMPTS", "").isdigit() else None,
        ),
    )


def lake_roots() -> LakeRoots:
    return load_settings().roots


def normalise_root(root: str) -> str:
    """An absolute local path, or an ``s3://`` URI without a trailing slash."""
    if root.startswith("s3://"):
        if not urlparse(root).netloc:
            raise ValueError(f"S3 root {root!r} names no bucket: use s3://bucket/prefix")
        return root.rstrip("/")
    return str(Path(root).expanduser().resolve())


def _days_per_run(days: str | None) -> int | None:
    if not days:
        return None
    if not days.isdigit() or int(days) < 1:
        raise ValueError(f"SENTIMENT_BACKFILL_DAYS_PER_RUN must be a whole number of days >= 1, not {days!r}")
    return int(days)


def _mask_key(key: str | None) -> str | None:
    if key and len(key) < MIN_MASK_KEY_CHARS:
        raise ValueError(f"SENTIMENT_MASK_KEY must be at least {MIN_MASK_KEY_CHARS} characters (e.g. `openssl rand -hex 32`)")
    return key or None
