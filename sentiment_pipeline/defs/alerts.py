"""The webhook alerts: a sensor that posts when a run fails (it watches runs; it is not part
of the asset graph), and the post of new negative-sentiment spikes from the
``sentiment_alerts`` step. Both go to the one webhook of ``SENTIMENT_ALERT_WEBHOOK_URL``."""

from datetime import date
from urllib.parse import urlsplit

import dagster as dg
import requests

from sentiment_pipeline import spikes
from sentiment_pipeline.settings import ALERT_WEBHOOK_VARIABLE

WEBHOOK_URL_VARIABLE = ALERT_WEBHOOK_VARIABLE
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


def spike_payload(run_id: str, flags: list[dict]) -> dict:
    """New spikes as JSON: ``text`` (one line per spike) so a Slack-style hook shows it, and
    ``spikes``, the ``sentiment_alerts`` rows, for machines."""
    lines = [f"{flag['date']} {spikes.describe(flag)}" for flag in flags]
    return {
        "text": f"{len(flags)} new spike(s) of negative tickets (/runs/{run_id}):\n" + "\n".join(lines),
        "run_id": run_id,
        "link": f"/runs/{run_id}",
        "spikes": [{name: value.isoformat() if isinstance(value, date) else value for name, value in flag.items()} for flag in flags],
    }


def notify_spikes(log, run_id: str, flags: list[dict]) -> str:
    """Post ``flags`` (new ones only) to the webhook, if one is set; returns what happened, for
    the check's metadata. Never raises: an alert that cannot be sent must not fail the run
    that found the spike (the check's WARN still shows it)."""
    if not flags:
        return "nothing to send: no new spike"
    url = dg.EnvVar(WEBHOOK_URL_VARIABLE).get_value()  # a secret: read when needed, never stored in config
    if not url:
        message = f"{len(flags)} new spike(s) not sent: no webhook configured ({WEBHOOK_URL_VARIABLE} is unset)"
        log.info(message)
        return message
    try:
        post_alert(url, spike_payload(run_id, flags))
    except requests.RequestException as error:
        message = f"could not post {len(flags)} new spike(s) to the webhook: {_redacted(str(error), url)}"
        log.warning(message)
        return message
    log.info(f"posted {len(flags)} new spike(s) to the webhook")
    return f"posted {len(flags)} new spike(s) to the webhook"


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
    url = dg.EnvVar(WEBHOOK_URL_VARIABLE).get_value()  # a secret: read when needed, never stored in config
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
