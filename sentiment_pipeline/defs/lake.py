"""The one lake resource: where assets live, where exports land, and the S3 client."""

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from sentiment_pipeline.settings import LakeRoots, load_settings


class Lake(dg.ConfigurableResource):
    """The lake's roots and S3 client. The IO manager, the assets, the sensor and the retention
    job all take their roots from here, so setting one root moves every part together."""

    storage_root: str | None = Field(
        default=None, description="Local folder or s3://bucket/prefix; default SENTIMENT_STORAGE_ROOT (./data)."
    )
    landing_root: str | None = Field(
        default=None, description="Where exports land; default SENTIMENT_LANDING_ROOT, else <storage root>/landing."
    )
    s3: S3Resource  # the boto3 client for puts, downloads and deletes (pyarrow reads the Parquet)

    def roots(self) -> LakeRoots:
        settings = load_settings()
        return LakeRoots.of(self.storage_root or settings.storage_root, self.landing_root or settings.landing_root)

    def s3_client(self):
        """The boto3 client, only when a root is on S3 (a local lake never builds one)."""
        roots = self.roots()
        return self.s3.get_client() if roots.storage_root.startswith("s3://") or roots.landing_root.startswith("s3://") else None


def lake(storage_root: str | None = None, landing_root: str | None = None) -> Lake:
    """A lake on these roots (default: from the environment) with an S3 client that honours
    the standard AWS variables, ``AWS_MAX_ATTEMPTS`` included (5 attempts otherwise)."""
    attempts = load_settings().aws.max_attempts
    return Lake(storage_root=storage_root, landing_root=landing_root, s3=S3Resource(max_attempts=attempts or 5))
