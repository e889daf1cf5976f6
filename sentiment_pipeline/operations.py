"""Operations around the pipeline: a retention job that drops old partitions from storage,
and a sensor that alerts a webhook when a run fails.

Neither is part of the asset graph: retention runs only when someone launches it, and the
alert sensor only watches runs.
"""

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import requests
from pydantic import Field, field_validator

from sentiment_pipeline import storage
from sentiment_pipeline.io_manager import ParquetIOManager

# --- retention ---------------------------------------------------------------------------

# Every asset key of the project (a test checks this against `definitions.defs`).
RETAINABLE_ASSETS = (
    "ticket",
    "ticket_rejects",
    "sentiment",
    "entity",
    "daily_sentiment_summary",
    "daily_entity_mentions",
    "daily_agent_summary",
)
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


def remove_partitions(root: str, asset: str, expired: dict[str, list[str]]) -> None:
    """Delete the files, then (on a local root) the day/month/year folders left empty."""
    storage.delete(uri for uris in expired.values() for uri in uris)
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
def remove_expired_partitions(
    context: dg.OpExecutionContext, config: RetentionConfig, parquet_io_manager: dg.ResourceParam[ParquetIOManager]
) -> dg.Output[dict]:
    root = parquet_io_manager.resolved_root()  # wherever the assets were written
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
                remove_partitions(root, asset, expired)
            finally:  # even a partial removal must refresh the API's caches
                storage.mark_changed(root, asset, f"retention run {context.run_id}: partitions before {cutoff}")
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
    resource_defs={"parquet_io_manager": ParquetIOManager()},
)
def retention():
    remove_expired_partitions()


# --- failure alerts ----------------------------------------------------------------------

WEBHOOK_URL_VARIABLE = "SENTIMENT_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 5


def alert_payload(job_name: str, run_id: str, partition: str | None, error: str) -> dict[str, str | None]:
    """The alert as JSON: fields for machines, and ``text`` so a Slack-style hook shows it."""
    first_line = next((line.strip() for line in error.splitlines() if line.strip()), "unknown error")
    where = f" [{partition}]" if partition else ""
    return {
        "text": f"Dagster run of {job_name}{where} failed: {first_line} (/runs/{run_id})",
        "job_name": job_name,
        "run_id": run_id,
        "partition": partition,
        "error": first_line,
        "link": f"/runs/{run_id}",
    }


def post_alert(url: str, payload: dict) -> None:
    """POST ``payload``; raises ``requests.RequestException`` on a network error or a non-2xx answer."""
    requests.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS).raise_for_status()


def _redacted(text: str, url: str) -> str:
    """``text`` without the URL's path and query: webhook URLs carry their secret there."""
    parts = urlsplit(url)
    secret = parts.path + (f"?{parts.query}" if parts.query else "")
    return text.replace(secret, "/…") if secret.strip("/") else text


def _failure_message(context: dg.RunFailureSensorContext) -> str:
    """The failed step's own exception (innermost cause), else the run failure message."""
    for event in context.get_step_failure_events():
        error = event.event_specific_data.error
        if error is not None:
            while error.cause is not None:
                error = error.cause
            return f"{event.step_key}: {error.message}"
    return context.failure_event.message or "unknown error"


def _partition(tags: dict[str, str]) -> str | None:
    if partition := tags.get("dagster/partition"):
        return partition
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return f"{start}...{end}" if start and end else None


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"POST a short JSON alert for each failed run to the webhook in {WEBHOOK_URL_VARIABLE} (if set).",
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    url = os.environ.get(WEBHOOK_URL_VARIABLE)
    if not url:
        context.log.info(f"run {run.run_id} failed; no alert sent: no webhook configured ({WEBHOOK_URL_VARIABLE} is unset)")
        return
    payload = alert_payload(run.job_name, run.run_id, _partition(run.tags), _failure_message(context))
    try:
        post_alert(url, payload)
    except requests.RequestException as error:
        context.log.warning(f"could not post the failure alert for run {run.run_id}: {_redacted(str(error), url)}")
        return
    context.log.info(f"posted the failure alert for run {run.run_id} to the webhook")
