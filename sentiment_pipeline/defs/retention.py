"""The retention job: drops old partitions from storage, only when someone launches it."""

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field, field_validator

from sentiment_pipeline import storage
from sentiment_pipeline.defs.lake import Lake
from sentiment_pipeline.schemas import ASSETS

RETAINABLE_ASSETS = tuple(ASSETS)  # every asset of the project (a test checks this against the definitions)
# A file of a partition, relative to the asset's folder: year=YYYY/month=MM/day=DD/<file>.
PARTITION_FILE = re.compile(r"^year=(\d{4})/month=(\d{2})/day=(\d{2})/[^/]+$")


class RetentionConfig(dg.Config):
    """Checked when the run starts, before anything is listed or removed."""

    assets: list[str] = Field(description=f"asset names, among: {', '.join(RETAINABLE_ASSETS)}")
    keep_days: int = Field(ge=1, description="keep partitions of the last keep_days days (UTC) and today")
    dry_run: bool = Field(default=False, description="only report what would be removed")

    @field_validator("assets")
    @classmethod
    def known_assets(cls, assets: list[str]) -> list[str]:
        if not assets:
            raise ValueError("name at least one asset")
        for asset in assets:
            storage.check_asset_name(asset)
            if asset not in RETAINABLE_ASSETS:
                raise ValueError(f"{asset!r} is not an asset of this project; assets: {', '.join(RETAINABLE_ASSETS)}")
        return list(dict.fromkeys(assets))


def expired_partitions(root: str, asset: str, cutoff: date) -> tuple[dict[str, list[str]], list[str]]:
    """The files of ``asset``'s partitions dated before ``cutoff``, by partition key, and
    every other path under the asset's folder that is not a partition file (never removed:
    retention deletes only what it recognises)."""
    base = storage.join(root, asset)
    prefix = storage.filesystem(base)[1] + "/"
    expired: dict[str, list[str]] = {}
    unrecognised = []
    for info in storage.list_files(base, recursive=True):
        relative = info.path.removeprefix(prefix)
        if relative == storage.VERSION_MARKER:
            continue
        uri = storage.uri_of(root, info.path)
        match = PARTITION_FILE.match(relative)
        try:
            day = date(*map(int, match.groups())) if match else None
        except ValueError:  # e.g. month=13: hive-shaped but not a day
            day = None
        if day is None:
            unrecognised.append(uri)
        elif day < cutoff:
            expired.setdefault(day.isoformat(), []).append(uri)
    return dict(sorted(expired.items())), unrecognised


def remove_partitions(root: str, asset: str, expired: dict[str, list[str]], client=None) -> None:
    """Delete the files, then (on a local root) the day/month/year folders left empty."""
    storage.delete((uri for uris in expired.values() for uri in uris), client=client)
    if storage.is_s3(root):
        return  # S3 has no folders: the prefix is gone with its last object
    for partition_key in expired:
        folder = Path(storage.partition_dir(root, asset, partition_key))
        for _ in range(3):  # day=, month=, year=
            try:
                folder.rmdir()
            except OSError:  # not empty: something we left alone, or another day
                break
            folder = folder.parent


@dg.op(description="Remove partitions older than today (UTC) minus keep_days from storage; report them.")
def remove_expired_partitions(context: dg.OpExecutionContext, config: RetentionConfig, lake: Lake) -> dg.Output[dict]:
    root = lake.roots().storage_root  # wherever the assets were written
    client = lake.s3_client()
    cutoff = datetime.now(UTC).date() - timedelta(days=config.keep_days)
    verb = "would remove" if config.dry_run else "removed"
    removed: dict[str, list[str]] = {}
    left_alone: dict[str, list[str]] = {}
    for asset in config.assets:
        expired, unrecognised = expired_partitions(root, asset, cutoff)
        for uri in unrecognised:
            context.log.warning(f"{asset}: left alone, not a partition file: {uri}")
        if expired and not config.dry_run:
            try:
                remove_partitions(root, asset, expired, client)
            finally:  # even a partial removal must refresh the API's caches
                storage.mark_changed(root, asset, f"retention run {context.run_id}: partitions before {cutoff}", client)
            context.log_event(
                dg.AssetObservation(
                    asset_key=asset,
                    description=f"retention removed {len(expired)} partition(s) before {cutoff} from storage",
                    metadata={"partitions_removed": len(expired), "partition_keys": dg.MetadataValue.json(list(expired))},
                )
            )
        context.log.info(f"{asset}: {verb} {len(expired)} partition(s) before {cutoff}: {', '.join(expired) or 'none'}")
        removed[asset] = list(expired)
        if unrecognised:
            left_alone[asset] = unrecognised
    report = {"cutoff": cutoff.isoformat(), "dry_run": config.dry_run, "removed": removed, "left_alone": left_alone}
    return dg.Output(
        report,
        metadata={
            "cutoff": cutoff.isoformat(),
            "dry_run": config.dry_run,
            "partitions_removed": sum(map(len, removed.values())),
            **{f"{asset}/partitions_removed": len(keys) for asset, keys in removed.items()},
            "removed_partition_keys": dg.MetadataValue.json(removed),
            "left_alone": dg.MetadataValue.json(left_alone),
        },
    )


@dg.job(
    description="""Delete old daily partitions of chosen assets from storage (local folder or S3).

Off by default: no schedule, it runs only when launched. Removes every
`<root>/<asset>/year=YYYY/month=MM/day=DD/` folder whose day is before today (UTC) minus
`keep_days`, then marks each touched asset changed so the read API drops its caches. Paths
under an asset folder that are not partition files are left alone and reported. Only
storage changes: Dagster's materialization records stay, so the UI still lists the removed
partitions as materialized (re-materialize a day to bring it back).

Launchpad run config (try `dry_run: true` first, it removes nothing and reports):

    ops:
      remove_expired_partitions:
        config:
          assets: [ticket, ticket_rejects, sentiment, entity]
          keep_days: 365
          dry_run: true

CLI: `dagster job execute -m sentiment_pipeline.definitions -j retention -c retention.yaml`.
""",
)
def retention():
    remove_expired_partitions()
