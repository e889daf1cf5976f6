"""The demo's story (``SampleSpec(story=True)``), read back through the real ingest, scorer,
conversations and entity extraction: what a dashboard would show, not the generator's intent."""

import hashlib
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from sentiment_pipeline import sample
from sentiment_pipeline.conversations import messages, score_messages, ticket_sentiment
from sentiment_pipeline.entities import extract_entities
from sentiment_pipeline.ingest import LandingFile, ingest_day

END = date(2025, 3, 31)  # a Monday: the incident falls on Monday 2025-03-24
INCIDENT_DAY = sample.INCIDENT.day(END)
TRAILING_DAYS = 28
FLAGGED_AT = 1e-6  # p-value below which a day is an anomaly
CALM_ABOVE = 1e-5  # p-value every ordinary product-day stays above (some 200 of them are tested)


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> dict[str, pl.DataFrame]:
    """30 story days at 200 tickets a weekday, ingested and scored: tickets with their day,
    label and trajectory; entity mentions with their day."""
    landing = tmp_path_factory.mktemp("story")
    sample.generate(sample.SampleSpec(out=landing, days=30, rows_per_day=200, extra_cols=2, end=END, story=True))
    days = []
    for folder in sorted(landing.iterdir()):
        files = [LandingFile(str(path), path=str(path)) for path in sorted(folder.iterdir())]
        ingested = ingest_day(files, datetime.now(UTC)).tickets.select(*TICKET_COLUMNS).collect()
        days.append(ingested.with_columns(day=pl.lit(date.fromisoformat(folder.name))))
    tickets = pl.concat(days)
    scored = ticket_sentiment(score_messages(messages(tickets)))
    entities = extract_entities(tickets, sample.product_catalog()).join(tickets.select("ticket_id", "day"), on="ticket_id")
    return {"tickets": tickets.join(scored, on="ticket_id"), "entities": entities}


TICKET_COLUMNS = ("ticket_id", "created_at", "subject", "body", "product", "customer_id", "agent_id", "comments")


def test_the_story_is_the_same_for_a_seed_and_differs_for_another(tmp_path):
    def digest(out: Path, seed: int) -> str:
        sample.generate(sample.SampleSpec(out=out, days=9, rows_per_day=60, extra_cols=3, end=END, seed=seed, story=True))
        return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in sorted(out.rglob("*.*")))).hexdigest()

    assert digest(tmp_path / "a", 7) == digest(tmp_path / "b", 7) != digest(tmp_path / "c", 8)


def test_the_default_output_is_unchanged(tmp_path):
    """Tests and benchmarks were written against the plain sample's exact bytes: a change to
    them must be deliberate (and this digest updated with it)."""
    written = sample.generate(sample.SampleSpec(out=tmp_path, days=2, rows_per_day=80, extra_cols=7, end=date(2025, 1, 3)))
    contents = b"".join(path.read_bytes() for path in written)
    jira = sample.jira_export(50, 5, date(2025, 7, 14)).encode()
    assert [p.name for p in written] == [
        "tickets-2025-01-02.csv",
        "chat-2025-01-02.jsonl",
        "tickets-2025-01-03.csv",
        "chat-2025-01-03.jsonl",
    ]
    assert hashlib.sha256(contents).hexdigest() == DEFAULT_DIGEST
    assert hashlib.sha256(jira).hexdigest() == JIRA_DIGEST


DEFAULT_DIGEST = "e739e35ab9b68690c00e918fe89e6e61a5b0455673493e6664959daa222c6158"
JIRA_DIGEST = "bd8f6df99335562cac3faf683b3e10c42baeeaaf4f1b49227ab11f7c556e7e23"


def test_weekends_are_quieter_and_office_hours_busier(story):
    tickets = story["tickets"].with_columns(weekend=pl.col("day").dt.weekday() >= 6)
    per_day = tickets.group_by("day", "weekend").len()
    weekday, weekend = (per_day.filter(pl.col("weekend") == flag).get_column("len").mean() for flag in (False, True))
    assert 0.3 < weekend / weekday < 0.5
    hours = tickets.get_column("created_at").dt.hour()
    office = hours.is_between(8, 17)
    assert office.mean() > 0.7 and (hours >= 18).sum() > 2 * (hours < 6).sum()  # an evening tail, quiet nights
    negative = tickets.get_column("label") == "negative"
    assert negative.filter(~office).mean() > negative.filter(office).mean()


def test_the_incident_is_the_one_anomaly_and_its_error_code_spikes(story):
    """Volume-aware tests against each product's trailing 28 days (a binomial test of the
    day's negative tickets given its volume, a Poisson test of the volume against the same kind
    of day, weekday or weekend) flag the incident's product on its day and nothing else but the
    incident's tail; the error code's tickets spike the same day, in number and in share negative."""
    tickets = story["tickets"].filter(pl.col("product").is_not_null())
    daily = tickets.group_by("day", "product").agg(
        tickets=pl.len(), negative=(pl.col("label") == "negative").sum(), weekend=pl.col("day").first().dt.weekday() >= 6
    )
    flagged = {}
    for (product,), history in daily.sort("day").group_by("product"):
        for row in history.iter_rows(named=True):
            trailing = history.filter(pl.col("day").is_between(row["day"] - timedelta(days=TRAILING_DAYS), row["day"], closed="left"))
            if trailing.height < 14:
                continue
            share = trailing.get_column("negative").sum() / trailing.get_column("tickets").sum()
            volume = trailing.filter(pl.col("weekend") == row["weekend"]).get_column("tickets").mean()
            p = min(binomial_tail(row["negative"], row["tickets"], share), poisson_tail(row["tickets"], volume))
            flagged[(product, row["day"])] = p
    incident = sample.INCIDENT
    assert flagged[(incident.product, INCIDENT_DAY)] < FLAGGED_AT**2
    tail = {(incident.product, INCIDENT_DAY + timedelta(days=n)) for n in range(len(incident.surge))}
    calm = {key: p for key, p in flagged.items() if key not in tail}
    assert min(calm.values()) > CALM_ABOVE, min(calm.items(), key=lambda item: item[1])

    day = daily.filter(pl.col("day") == INCIDENT_DAY)
    incident_share = day.filter(pl.col("product") == incident.product).select(pl.col("negative") / pl.col("tickets")).item()
    before = daily.filter((pl.col("product") == incident.product) & (pl.col("day") < INCIDENT_DAY))
    usual = before.get_column("negative").sum() / before.get_column("tickets").sum()
    assert 0.6 <= incident_share <= 0.95 and 0.15 <= usual <= 0.35 and incident_share > usual + 0.3
    others = (
        daily.filter(pl.col("product") != incident.product)
        .group_by("product")
        .agg(share=pl.col("negative").sum() / pl.col("tickets").sum())
    )
    assert others.get_column("share").is_between(0.15, 0.38).all(), others

    errors = story["entities"].filter((pl.col("type") == "error_code") & (pl.col("normalized") == incident.error))
    labels = story["tickets"].select("ticket_id", negative=pl.col("label") == "negative")
    per_day = (
        errors.unique(["ticket_id"]).join(labels, on="ticket_id").group_by("day").agg(tickets=pl.len(), negative=pl.col("negative").sum())
    )
    trailing = per_day.filter(pl.col("day").is_between(INCIDENT_DAY - timedelta(days=TRAILING_DAYS), INCIDENT_DAY, closed="left"))
    days = story["tickets"].filter(pl.col("day") < INCIDENT_DAY).get_column("day").n_unique()
    mentioned, negative = per_day.filter(pl.col("day") == INCIDENT_DAY).select("tickets", "negative").row(0)
    assert poisson_tail(mentioned, trailing.get_column("tickets").sum() / min(days, TRAILING_DAYS)) < FLAGGED_AT
    usual_share = trailing.get_column("negative").sum() / trailing.get_column("tickets").sum()
    assert binomial_tail(negative, mentioned, usual_share) < FLAGGED_AT


def test_incident_tickets_are_real_emails_about_one_error_and_firmware(story):
    incident = sample.INCIDENT
    day = story["tickets"].filter((pl.col("day") == INCIDENT_DAY) & (pl.col("product") == incident.product))
    about = day.filter(pl.col("body").str.contains(incident.error) & pl.col("body").str.contains(incident.broken))
    assert about.height >= 0.75 * day.height
    bodies = about.get_column("body")
    assert bodies.str.contains("\n").all() and bodies.str.contains(r"[^\x00-\x7f]").any() and bodies.str.contains('"').any()


def test_conversations_improve_after_the_incident(story):
    """The customer's trajectory, as the pipeline computes it: the incident's customers end
    content after the fix, more conversations turn around after the incident than before, and
    some agents turn theirs around far more often than the rest."""
    incident = sample.INCIDENT
    talks = story["tickets"].filter(pl.col("trajectory") != "single")
    surge_days = pl.col("day").is_between(INCIDENT_DAY, INCIDENT_DAY + timedelta(days=len(incident.surge) - 1))
    fixed = talks.filter((pl.col("product") == incident.product) & pl.col("body").str.contains(incident.error) & surge_days)
    assert fixed.height > 50
    assert (fixed.get_column("trajectory") == "improving").mean() > 0.6
    assert fixed.get_column("last_customer_label").is_in(["positive", "neutral"]).mean() > 0.75

    def improving_share(frame: pl.DataFrame) -> float:
        return (frame.get_column("trajectory") == "improving").mean()

    ordinary = talks.filter(~pl.col("body").str.contains(incident.error))
    before, after = ordinary.filter(pl.col("day") < INCIDENT_DAY), ordinary.filter(pl.col("day") > INCIDENT_DAY)
    assert improving_share(after) > improving_share(before) + 0.08

    opened_negative = talks.filter(pl.col("first_customer_label") == "negative")
    turnaround = opened_negative.group_by("agent_id").agg(share=(pl.col("last_customer_label") != "negative").mean()).sort("share")
    shares = turnaround.get_column("share")
    assert shares[-1] - shares.median() > 0.2


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed from k up (exact where it is tiny)."""
    return sum(math.exp(-mean + i * math.log(mean) - math.lgamma(i + 1)) for i in range(k, k + 2000))
