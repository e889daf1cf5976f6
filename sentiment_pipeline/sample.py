"""Realistic sample exports for demos, tests and benchmarks (deterministic for a seed).

Each day gets a wide CSV export (canonical columns under a mix of header aliases, plus
``extra_cols`` custom fields of several kinds) and a small JSON-lines export with nested
custom fields. Texts carry positive, negative and neutral support language and the
entities later stages extract. A small share of rows is dirty on purpose (duplicate id,
blank id, unparseable timestamp, out-of-range csat) so the rejects path has work to show.

The story mode (``SampleSpec(story=True)``, what ``make demo`` writes) makes the days differ
the way a real month does, so a dashboard opened on it shows something: a weekly rhythm and
office hours, each product's steady mood, a product incident a week before the last day,
and conversations (in a Jira export, whose comments the ingest reads) that recover after
it. Without it the output is the same, byte for byte, as tests and benchmarks expect.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from importlib import resources
from pathlib import Path

import polars as pl

CHANNELS = ["email", "chat", "phone", "web", "social"]
STATUSES_OPEN = ["new", "open", "pending"]
PRIORITIES = ["low", "normal", "high", "urgent"]
TAGS = ["billing", "refund", "outage", "login", "shipping", "bug", "feature-request", "vip", "hardware"]

NEGATIVE = [
    (
        "Charged twice for {order}",
        "I was charged twice for order {order} ({money}). Still waiting for the refund, no response since {days} days.",
    ),
    (
        "{product} crashes on start",
        "After the update to {version} the {product} crashes on start with error {error}. This is unacceptable.",
    ),
    ("Refund never came", "The refund of {money} for {order} never came. I have emailed {email} three times. Very disappointed."),
    ("Still waiting", "Still waiting on a reply about my {product}. Call me at {phone}, I cannot keep chasing you."),
    ("Cannot log in", "I can't log in to {url} since yesterday, it keeps failing with {error}. Nothing works!"),
    ("Broken on arrival", "My {product} arrived broken and support has not answered. Order {order}. Worst experience ever 😡"),
]
POSITIVE = [
    ("Works now, thanks", "Thanks a lot, the {product} works now after installing {version}. Great support!"),
    ("Resolved", "The issue with order {order} is resolved and the {money} refund arrived. Really appreciate the quick help 🙂"),
    ("Love the {product}", "Just wanted to say the {product} is excellent. Setup took five minutes following {url}."),
    ("Fixed", "Agent was super helpful, {error} is gone and everything is fixed. Thank you!"),
]
NEUTRAL = [
    ("Question about {product}", "How do I change the billing e-mail on my {product} account to {email}?"),
    ("Invoice request", "Please send the invoice for order {order} ({money}) to {email}."),
    ("Firmware question", "Which firmware is current for the {product}? Mine reports {version}."),
    ("Address change", "I moved. Please update the delivery address for {order}; my number is {phone}."),
]
ERRORS = ["E1042", "E2210", "ERR_TIMEOUT", "ERR_AUTH_FAILED", "E0503"]
BERLIN_SUMMER = timezone(timedelta(hours=2))
CURRENCY_FORMATS = ["${amount:,.2f}", "{amount:.2f} EUR", "{amount:,.2f} USD"]


@dataclass(frozen=True)
class SampleSpec:
    out: Path
    days: int = 3
    rows_per_day: int = 500
    extra_cols: int = 40
    end: date | None = None  # last day written; yesterday (UTC) if not given
    dirty: bool = True
    seed: int = 7
    story: bool = False  # the days tell the demo's story (see ``_story_tickets``) instead of being alike


def product_catalog() -> list[str]:
    text = resources.files("sentiment_pipeline").joinpath("data/products.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def generate(spec: SampleSpec) -> list[Path]:
    """Write ``spec.days`` landing folders ending at ``spec.end``; returns the files written."""
    end = spec.end or (datetime.now(UTC).date() - timedelta(days=1))
    written = []
    for offset in range(spec.days - 1, -1, -1):
        day = end - timedelta(days=offset)
        folder = spec.out / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"{spec.seed}-{day}")
        first_id = 100_000 + (day - date(2020, 1, 1)).days * 100_000
        if spec.story:
            written += _write_story_day(folder, rng, day, end, first_id, spec)
        else:
            written += _write_plain_day(folder, rng, day, first_id, spec)
    return written


def _write_plain_day(folder: Path, rng: random.Random, day: date, first_id: int, spec: SampleSpec) -> list[Path]:
    """A day like any other: ``spec.rows_per_day`` rows in the wide CSV export, a few chats as JSON lines."""
    rows = _canonical_rows(rng, day, first_id, spec.rows_per_day)
    csv_path = _write_wide_csv(folder / f"tickets-{day}.csv", rows, rng, spec, day)
    return [csv_path, _write_text(folder / f"chat-{day}.jsonl", _chat_export(rng, day, first_id + 50_000, max(5, spec.rows_per_day // 20)))]


def _write_wide_csv(path: Path, rows: list[dict[str, str | None]], rng: random.Random, spec: SampleSpec, day: date) -> Path:
    """The day's wide CSV export: its rows (a few made dirty) and ``spec.extra_cols`` custom fields."""
    if spec.dirty and len(rows) >= 20:
        _make_dirty(rows, rng)
    wide = pl.DataFrame(rows, schema={name: pl.String for name in rows[0]}).hstack(
        custom_fields(len(rows), spec.extra_cols, seed=day.toordinal())
    )
    wide.write_csv(path)
    return path


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class _Ticket:
    """One ticket before an export writes it in its own layout (ids are the export's to give)."""

    created: datetime  # UTC; naive or zoned
    subject: str
    body: str
    channel: str | None
    product: str | None
    customer_id: str
    agent_id: str | None
    status: str
    priority: str
    resolved: datetime | None = None
    csat: int | None = None
    tags: list[str] = dataclasses.field(default_factory=list)
    comments: list[tuple[datetime, str, str]] = dataclasses.field(default_factory=list)  # (when, author, text), oldest first


def _canonical_rows(rng: random.Random, day: date, first_id: int, count: int) -> list[dict[str, str | None]]:
    catalog = product_catalog()
    rows = []
    for index in range(count):
        created = datetime.combine(day, time()) + timedelta(seconds=rng.randrange(86_400))
        mood = rng.choices(["negative", "positive", "neutral"], weights=[45, 25, 30])[0]
        subject, body = _text(rng, mood, catalog)
        solved = rng.random() < 0.55
        resolved = created + timedelta(minutes=rng.randrange(10, 72 * 60)) if solved else None
        created_text = _timestamp_text(rng, created)
        ticket = _Ticket(
            created=created,
            subject=subject,
            body=_as_email(rng, body),
            channel=rng.choice(CHANNELS) if rng.random() > 0.02 else None,
            product=rng.choice(catalog) if rng.random() > 0.05 else None,
            customer_id=f"C{rng.randrange(1, 5000):06d}",
            agent_id=f"A{rng.randrange(1, 25):03d}" if rng.random() > 0.03 else None,
            status="solved" if solved else rng.choice(STATUSES_OPEN),
            priority=rng.choice(PRIORITIES),
            resolved=resolved,
            csat=rng.randint(1, 5) if solved and rng.random() < 0.6 else None,
            tags=rng.sample(TAGS, rng.randrange(0, 3)),
        )
        rows.append(_wide_row(str(first_id + index), ticket, created_text))
    return rows


def _routing(ticket: _Ticket) -> dict[str, str | None]:
    """The columns both sample exports write under their canonical names, in this order."""
    return {
        "channel": ticket.channel,
        "product": ticket.product,
        "customer_id": ticket.customer_id,
        "agent_id": ticket.agent_id,
        "status": ticket.status,
        "priority": ticket.priority,
    }


def _wide_row(ticket_id: str, ticket: _Ticket, created_text: str) -> dict[str, str | None]:
    """A row of the wide CSV export, under a mix of header aliases (the ingest maps them)."""
    return {
        "Ticket_Number": ticket_id,
        "Created": created_text,
        "subject": ticket.subject,
        "Description": ticket.body,
        **_routing(ticket),
        "resolved_at": ticket.resolved.strftime("%Y-%m-%dT%H:%M:%SZ") if ticket.resolved else None,
        "csat": None if ticket.csat is None else str(ticket.csat),
        "tags": ";".join(ticket.tags) or None,
    }


SIGNERS = ["Jürgen Müller", "Zoë Martín", "陈伟", "Ana Souza", "Olivier Lefèvre", "Priya Nair", "Tom O'Brien"]
ADDRESSES = ["Königstraße 12, 10115 Berlin", "4 rue de l'Église, 75004 Paris", "221B Baker St, London", ""]


def _as_email(rng: random.Random, body: str) -> str:
    """Most bodies are e-mails, as helpdesks export them: a greeting, line breaks, a quoted
    line, a signature with a non-ASCII name and an address full of commas."""
    if rng.random() >= 0.6:
        return body
    signer, address = rng.choice(SIGNERS), rng.choice(ADDRESSES)
    quoted = '\n\n> On Monday you wrote: "please send a screenshot, thanks"' if rng.random() < 0.3 else ""
    return f"Hello,\n\n{body}{quoted}\n\nRegards,\n{signer}" + (f"\n{address}" if address else "")


def _timestamp_text(rng: random.Random, moment: datetime) -> str:
    """The same UTC instant written the ways real exports write it."""
    style = rng.random()
    if style < 0.6:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style < 0.8:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.replace(tzinfo=UTC).astimezone(BERLIN_SUMMER).isoformat()


def _text(rng: random.Random, mood: str, catalog: list[str], product: str | None = None) -> tuple[str, str]:
    """A subject and body in ``mood``, about ``product`` (a random one from the catalog if not given)."""
    subject, body = rng.choice({"negative": NEGATIVE, "positive": POSITIVE, "neutral": NEUTRAL}[mood])
    amount = rng.randrange(500, 250_000) / 100
    values = {
        "product": product or rng.choice(catalog),
        "order": f"ORD-{rng.randrange(100000, 999999)}",
        "email": f"{rng.choice(['ana', 'li.wei', 'j.smith', 'omar'])}{rng.randrange(100)}@example.com",
        "phone": f"+1 415-555-{rng.randrange(0, 10000):04d}",
        "url": f"https://status.example.com/{rng.choice(['login', 'incidents', 'setup'])}",
        "money": rng.choice(CURRENCY_FORMATS).format(amount=amount),
        "error": rng.choice(ERRORS),
        "version": f"v{rng.randrange(1, 5)}.{rng.randrange(0, 10)}.{rng.randrange(0, 20)}",
        "days": str(rng.randrange(2, 15)),
    }
    return subject.format(**values), body.format(**values)


def _make_dirty(rows: list[dict[str, str | None]], rng: random.Random) -> None:
    """A handful of rows that ingest must quarantine with a reason."""
    victims = rng.sample(range(1, len(rows)), 4)
    rows[victims[0]]["Ticket_Number"] = rows[0]["Ticket_Number"]  # duplicate id
    rows[victims[1]]["Ticket_Number"] = ""  # blank id
    rows[victims[2]]["Created"] = "last tuesday"  # unparseable timestamp
    rows[victims[3]]["csat"] = "7"  # csat out of range


# The story mode (``SampleSpec(story=True)``): a month that gives a dashboard something to show.
STORY_WEEKDAY_VOLUME = (1.0, 1.0, 1.0, 1.0, 0.95, 0.42, 0.36)  # Monday..Sunday, in multiples of rows_per_day
# Tickets per UTC hour: office hours, an evening tail, quiet nights.
STORY_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 11, 12, 13, 13, 12, 10, 7, 6, 5, 4, 3, 2)
OFFICE_HOURS = range(8, 18)
AFTER_HOURS_NEGATIVE = 1.3  # customers who write at night are angrier
STORY_CHANNELS = {"email": 40, "chat": 25, "web": 15, "phone": 15, "social": 5}
STORY_AGENTS = tuple(f"A{number:03d}" for number in range(1, 13))
FAST_AGENTS = ("A004", "A009")  # answer sooner and turn unhappy customers around more often
STORY_COMMENT_COLUMNS = 4  # the longest story conversation: agent, customer, agent, customer
JIRA_STATUS = {"new": "Open", "open": "Open", "pending": "Waiting for customer", "solved": "Resolved"}
JIRA_PRIORITY = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Highest"}


@dataclass(frozen=True)
class Incident:
    """The story's incident: a firmware update breaks one product's connection with one error
    code; a fixed firmware ships the next morning."""

    product: str = "Acme Router X2"
    error: str = "E2210"
    broken: str = "3.2.0"
    fixed: str = "3.2.1"
    days_before_end: int = 7
    surge: tuple[float, ...] = (5.0, 2.0, 0.7)  # extra tickets that day and the next ones, in the product's usual weekdays
    angry: float = 0.9  # share of the incident's tickets written in anger (the rest ask whether it is known)

    def day(self, end: date) -> date:
        """The incident's day in a story ending at ``end``."""
        return end - timedelta(days=self.days_before_end)


INCIDENT = Incident()
INCIDENT_WORDS = dataclasses.asdict(INCIDENT)  # what the incident's texts fill in: {product}, {error}, {broken}, {fixed}
INCIDENT_ANGRY = [
    (
        "{product} keeps dropping the internet ({error})",
        "Since the automatic update to firmware {broken} last night my {product} loses the connection every few "
        "minutes and the log says {error}.\nI work from home and this is the third call I lost today. Fix this now!",
    ),
    (
        "{error} after firmware {broken}",
        'After the update to {broken} the WAN light on my {product} blinks red and the admin page shows "{error}: WAN '
        'link lost".\nRebooting does not help. The router is completely useless.',
    ),
    (
        "Office offline again: {error}",
        "Our office {product} went down again with {error}, firmware {broken}.\nTwelve people without internet since "
        "9:00. This is unacceptable!",
    ),
    (
        "Urgent: {product} broken since update",
        "Your update {broken} broke my {product}: error {error} every time it reconnects.\nI want a rollback or a "
        "replacement, not another FAQ link. Very disappointed.",
    ),
]
INCIDENT_ASKING = [
    ("Is {error} a known issue?", "My {product} shows {error} since it updated to {broken}. Is this a known issue, and is a fix planned?"),
    ("Question about firmware {broken}", "Should I roll my {product} back from {broken}? The log shows {error} a few times an hour."),
]
INCIDENT_WORKAROUND = (
    '{error} after {broken} is a known issue and our engineers are on it. Until the fix: Settings > WAN > turn off "Smart '
    'Connect", then restart the router.\nSorry for the trouble.'
)
INCIDENT_WAITING = {
    "neutral": ["Turned off Smart Connect, it holds for now. I will wait for the update.", "Ok, done. Please tell me when the fix is out."],
    "negative": ["The workaround did not help, {error} again after an hour.", "Still dropping every few minutes. This is ridiculous."],
}
INCIDENT_FIX = "Firmware {fixed} is out and fixes {error}: Settings > Update > Check now (details at https://status.example.com/incidents)."
INCIDENT_AFTER_FIX = {
    "positive": ["Updated to {fixed}, works now, thanks!", "Installed {fixed} this morning, no drops since. Thank you for the quick fix."],
    "neutral": ["Updated to {fixed}. I will let you know if it comes back."],
    "negative": ["Updated to {fixed} and it still drops once a day with {error}. Not happy."],
}
AGENT_FIRST_REPLIES = [
    "Sorry about this. Could you send your order number and a photo of the device label? I am on it.",
    "Thanks for writing in. I have passed this to our billing team and will update you today.",
    "I have checked your account and started the correction; it can take 3-5 business days to show.",
]
AGENT_SECOND_REPLIES = [
    "Thanks, I have escalated it to second-level support; you will hear from us tomorrow morning.",
    "Understood. I have sent a replacement today and refunded the shipping.",
]
AGENT_ANSWERS = [
    "You can change it under Account > Billing; the steps are at https://status.example.com/setup.",
    "The current firmware is listed under Settings > About; updates install overnight.",
]
CUSTOMER_UNHAPPY = [
    "Restarted it like you said. Same thing.",
    "Still not fixed. This is taking far too long.",
    "Nothing has changed and nobody calls back. Very disappointed.",
]
CUSTOMER_SETTLED = {
    "positive": ["That worked, thank you!", "Refund arrived today, thanks for sorting it out.", "All good now, thanks for the quick help."],
    "neutral": ["Ok, received. I will check it tomorrow.", "Noted, I will wait for the delivery."],
}
CUSTOMER_ANSWERED = ["Thanks, that answers it.", "Found it, thank you!"]
CUSTOMER_UNANSWERED = ["Still no answer to my question. This is getting frustrating."]


def _write_story_day(folder: Path, rng: random.Random, day: date, end: date, first_id: int, spec: SampleSpec) -> list[Path]:
    """The day's story tickets in three exports: those with a conversation in a Jira export
    (the format whose comments the ingest reads), the other chats as JSON lines, the rest in
    the wide CSV export."""
    tickets = _story_tickets(rng, day, end, spec.rows_per_day)
    talks = [t for t in tickets if t.comments]
    chats = [t for t in tickets if not t.comments and t.channel == "chat"]
    rest = [t for t in tickets if not t.comments and t.channel != "chat"]
    written = []
    if rest:
        rows = [_wide_row(str(first_id + index), ticket, _timestamp_text(rng, ticket.created)) for index, ticket in enumerate(rest)]
        written.append(_write_wide_csv(folder / f"tickets-{day}.csv", rows, rng, spec, day))
    if chats:
        lines = [_chat_line(str(first_id + 50_000 + index), ticket, rng) for index, ticket in enumerate(chats)]
        written.append(_write_text(folder / f"chat-{day}.jsonl", "\n".join(lines) + "\n"))
    if talks:
        records = [
            _jira_row(
                f"SUP-{first_id + index}",
                str(first_id + 80_000 + index),
                dataclasses.replace(ticket, status=JIRA_STATUS[ticket.status], priority=JIRA_PRIORITY[ticket.priority]),
                "",
                ticket.comments[-1][0],
                STORY_COMMENT_COLUMNS,
            )
            for index, ticket in enumerate(talks)
        ]
        custom = custom_fields(len(talks), spec.extra_cols, seed=day.toordinal() + 1)
        written.append(_write_text(folder / f"servicedesk-{day}.csv", _jira_csv(records, STORY_COMMENT_COLUMNS, custom)))
    return written


def _story_tickets(rng: random.Random, day: date, end: date, rows_per_day: int) -> list[_Ticket]:
    """One day of the story, in time order: about ``rows_per_day`` tickets on weekdays and far
    fewer at weekends, each product with its own steady share of unhappy customers, and
    ``INCIDENT``'s surge on its day and the two after. Conversations turn around more often
    after the incident (the team learned from it) and with ``FAST_AGENTS``."""
    catalog = product_catalog()
    since_incident = (day - INCIDENT.day(end)).days
    usual_negative = {product: _usual_negative(product) + rng.gauss(0, 0.015) for product in catalog}
    volume = round(rows_per_day * STORY_WEEKDAY_VOLUME[day.weekday()] * rng.uniform(0.95, 1.05))
    tickets = [_story_ticket(rng, day, since_incident, catalog, usual_negative) for _ in range(volume)]
    surge = INCIDENT.surge[since_incident] if 0 <= since_incident < len(INCIDENT.surge) else 0.0
    tickets += [_incident_ticket(rng, day, since_incident) for _ in range(round(rows_per_day / len(catalog) * surge))]
    return sorted(tickets, key=lambda ticket: ticket.created)


def _usual_negative(product: str) -> float:
    """A product's steady share of unhappy tickets, 20-30 %, the same in every run."""
    return 0.20 + 0.10 * (zlib.crc32(product.encode()) % 101) / 100


def _office_time(rng: random.Random, day: date) -> datetime:
    """A moment of ``day`` drawn by ``STORY_HOUR_WEIGHTS``, so a day-of-week x hour heatmap has a shape."""
    hour = rng.choices(range(24), weights=STORY_HOUR_WEIGHTS)[0]
    return datetime.combine(day, time(hour)) + timedelta(seconds=rng.randrange(3600))


def _pause(rng: random.Random) -> timedelta:
    """Time until the other side answers."""
    return timedelta(minutes=rng.uniform(20, 180))


def _story_ticket(rng: random.Random, day: date, since_incident: int, catalog: list[str], usual_negative: dict[str, float]) -> _Ticket:
    """An ordinary ticket: its product's usual mood (angrier out of office hours), and a
    conversation for most complaints and some questions."""
    created = _office_time(rng, day)
    product = rng.choice(catalog) if rng.random() > 0.03 else None
    negative = usual_negative.get(product, 0.25) * (1 if created.hour in OFFICE_HOURS else AFTER_HOURS_NEGATIVE)
    mood = "negative" if rng.random() < negative else rng.choices(["positive", "neutral"], weights=[40, 60])[0]
    subject, body = _text(rng, mood, catalog, product)
    customer, agent = f"C{rng.randrange(1, 5000):06d}", rng.choice(STORY_AGENTS)
    talks = rng.random() < {"negative": 0.7, "neutral": 0.15, "positive": 0.0}[mood]
    comments, settled = _conversation(rng, created, mood, customer, agent, since_incident) if talks else ([], False)
    solved = settled or (not talks and rng.random() < 0.55)
    resolved = None
    if solved:
        hours = rng.uniform(0.3, 4) if agent in FAST_AGENTS else rng.uniform(1, 30)
        resolved = (comments[-1][0] if comments else created) + timedelta(hours=hours)
    return _Ticket(
        created=created,
        subject=subject,
        body=_as_email(rng, body),
        channel=rng.choices(list(STORY_CHANNELS), weights=list(STORY_CHANNELS.values()))[0],
        product=product,
        customer_id=customer,
        agent_id=agent,
        status="solved" if solved else rng.choice(STATUSES_OPEN),
        priority=rng.choices(PRIORITIES, weights=[10, 40, 35, 15] if mood == "negative" else [30, 50, 15, 5])[0],
        resolved=resolved,
        csat=rng.randint(*{"negative": (1, 3), "neutral": (3, 5), "positive": (4, 5)}[mood]) if solved and rng.random() < 0.6 else None,
        tags=rng.sample(TAGS, rng.randrange(0, 3)),
        comments=comments,
    )


def _conversation(
    rng: random.Random, opened: datetime, mood: str, customer: str, agent: str, since_incident: int
) -> tuple[list[tuple[datetime, str, str]], bool]:
    """The agent's answer and the customer's replies to a complaint or a question, and whether
    the customer ended content."""
    fast = agent in FAST_AGENTS
    answered_at = opened + timedelta(minutes=rng.uniform(5, 45) if fast else rng.uniform(60, 360))
    if mood != "negative":
        answered = rng.random() < 0.85
        last = rng.choice(CUSTOMER_ANSWERED if answered else CUSTOMER_UNANSWERED)
        return [(answered_at, agent, rng.choice(AGENT_ANSWERS)), (answered_at + _pause(rng), customer, last)], answered
    comments = [(answered_at, agent, rng.choice(AGENT_FIRST_REPLIES))]
    if rng.random() < 0.4:  # one more round before it ends
        asked_at = answered_at + _pause(rng)
        comments += [(asked_at, customer, rng.choice(CUSTOMER_UNHAPPY)), (asked_at + _pause(rng), agent, rng.choice(AGENT_SECOND_REPLIES))]
    settled = rng.random() < (0.85 if fast else 0.7 if since_incident > 0 else 0.4)
    last = rng.choice(CUSTOMER_SETTLED[rng.choice(["positive", "positive", "neutral"])] if settled else CUSTOMER_UNHAPPY)
    return [*comments, (comments[-1][0] + _pause(rng), customer, last)], settled


def _incident_ticket(rng: random.Random, day: date, since_incident: int) -> _Ticket:
    """A ticket about ``INCIDENT``: an e-mail (half of them quoting the router's log) and its conversation."""
    created = _office_time(rng, day)
    subject, body = rng.choice(INCIDENT_ANGRY if rng.random() < INCIDENT.angry else INCIDENT_ASKING)
    customer, agent = f"C{rng.randrange(1, 5000):06d}", rng.choice(STORY_AGENTS)
    comments, fixed = _incident_conversation(rng, created, customer, agent, since_incident)
    signer, address = rng.choice(SIGNERS), rng.choice(ADDRESSES)
    logged = created - timedelta(minutes=rng.uniform(1, 90))
    log = (
        f"\n\nFrom the router log:\n> {logged:%H:%M:%S} wan0 {INCIDENT.error} reconnect (firmware {INCIDENT.broken})"
        if rng.random() < 0.5
        else ""
    )
    return _Ticket(
        created=created,
        subject=subject.format(**INCIDENT_WORDS),
        body=f"Hello support,\n\n{body.format(**INCIDENT_WORDS)}{log}\n\nRegards,\n{signer}" + (f"\n{address}" if address else ""),
        channel="email",
        product=INCIDENT.product,
        customer_id=customer,
        agent_id=agent,
        status="solved" if fixed else "pending",
        priority=rng.choice(["high", "urgent"]),
        resolved=comments[-1][0] + timedelta(minutes=rng.uniform(5, 60)) if fixed else None,
        tags=["outage", "hardware"],
        comments=comments,
    )


def _incident_conversation(
    rng: random.Random, opened: datetime, customer: str, agent: str, since_incident: int
) -> tuple[list[tuple[datetime, str, str]], bool]:
    """On the incident's day the agent can only offer a workaround and the fix follows the next
    morning; later tickets get the fix at once. Most customers end content; whether the
    fix worked for this one is the second value."""
    fast = agent in FAST_AGENTS
    answered_at = opened + timedelta(minutes=rng.uniform(5, 45) if fast else rng.uniform(30, 180))
    comments = []
    if since_incident == 0:
        waiting = rng.choice(INCIDENT_WAITING["neutral" if rng.random() < 0.5 else "negative"])
        comments = [
            (answered_at, agent, INCIDENT_WORKAROUND.format(**INCIDENT_WORDS)),
            (answered_at + _pause(rng), customer, waiting.format(**INCIDENT_WORDS)),
        ]
        answered_at = datetime.combine(opened.date() + timedelta(days=1), time(9)) + timedelta(minutes=rng.uniform(0, 180))
    fixed = rng.random() < (0.95 if fast else 0.85)
    last = rng.choice(INCIDENT_AFTER_FIX[("positive" if rng.random() < 0.8 else "neutral") if fixed else "negative"])
    fix = [
        (answered_at, agent, INCIDENT_FIX.format(**INCIDENT_WORDS)),
        (answered_at + _pause(rng), customer, last.format(**INCIDENT_WORDS)),
    ]
    return [*comments, *fix], fixed


def _chat_export(rng: random.Random, day: date, first_id: int, count: int) -> str:
    """JSON lines with nested custom fields (flattened by ingest) and list-valued tags."""
    catalog = product_catalog()
    lines = []
    for index in range(count):
        created = datetime.combine(day, time(), tzinfo=UTC) + timedelta(seconds=rng.randrange(86_400))
        mood = rng.choice(["negative", "positive", "neutral"])
        subject, body = _text(rng, mood, catalog)
        ticket = _Ticket(
            created=created,
            subject=subject,
            body=body,
            channel="chat",
            product=rng.choice(catalog),
            customer_id=f"C{rng.randrange(1, 5000):06d}",
            agent_id=f"A{rng.randrange(1, 25):03d}",
            status="open",
            priority=rng.choice(PRIORITIES),
            tags=rng.sample(TAGS, 2),
        )
        lines.append(_chat_line(str(first_id + index), ticket, rng))
    return "\n".join(lines) + "\n"


def _chat_line(ticket_id: str, ticket: _Ticket, rng: random.Random) -> str:
    """One record of the chat export: the chat tool's session details nested, tags a list."""
    record = {
        "id": ticket_id,
        "timestamp": ticket.created.replace(tzinfo=UTC).isoformat(),
        "subject": ticket.subject,
        "message": ticket.body,
        **_routing(ticket),
        "tags": ticket.tags,
        "session": {"browser": rng.choice(["firefox", "chrome", "safari"]), "wait_seconds": rng.randrange(5, 900)},
    }
    return json.dumps(record, ensure_ascii=False)


JIRA_PEOPLE = ["Jane Smith", "Omar Haddad", "Li Wei", "Jürgen Müller", "Ana Souza", "Priya Nair"]
JIRA_PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
JIRA_STATUSES = ["Open", "Waiting for support", "Waiting for customer", "In Progress", "Resolved", "Closed"]


JIRA_HEADER = [
    "Summary", "Issue key", "Issue id", "Issue Type", "Status", "Priority", "Assignee", "Reporter", "Created", "Updated",
    "Resolved", "Component/s", "Component/s", "Labels", "Labels", "Labels", "Description", "Watchers", "Watchers",
]  # fmt: skip
JIRA_LABEL_COLUMNS = 3


def jira_export(rows: int, custom_cols: int, day: date, seed: int = 7) -> str:
    """A Jira "all fields" CSV export as Jira writes it: repeated ``Labels``, ``Component/s``,
    ``Watchers`` and ``Comment`` headers, dates like ``14/Jul/25 3:42 PM``, e-mail bodies and
    comments with quoted line breaks (``date;author;text``, the text holding ';' too), then
    ``custom_cols`` ``Custom field (...)`` columns of mixed kinds. Built column-wise, so a
    10,000 x 1,600 file takes seconds."""
    rng = random.Random(seed)
    catalog = product_catalog()
    start = datetime.combine(day, time())
    records = []
    for index in range(rows):
        opened = start + timedelta(minutes=rng.randrange(0, 20 * 60))
        subject, body = _text(rng, rng.choice(["negative", "positive", "neutral"]), catalog)
        reporter, assignee = rng.choice(JIRA_PEOPLE), rng.choice(JIRA_PEOPLE)
        said = rng.randrange(0, 4)  # comments on this ticket; the other Comment cells are empty
        comments = [
            (
                opened + timedelta(minutes=15 * (n + 1)),
                rng.choice([assignee, reporter]),
                rng.choice(["Thanks; we are on it.\nRegards", "Any update?", "Fixed in v2.3.2, please retry.\n\n-- \nSupport"]),
            )
            for n in range(said)
        ]
        resolved = rng.random() < 0.6
        status = "Resolved" if resolved else rng.choice(JIRA_STATUSES[:4])
        priority = rng.choice(JIRA_PRIORITIES)
        product, component, tags = rng.choice(catalog), rng.choice(["", "Firmware", "Billing"]), rng.sample(TAGS, 2)
        ticket = _Ticket(
            created=opened,
            subject=subject,
            body=f"Hi team,\n\n{body}\n\nThanks,\n{reporter}",
            channel=None,
            product=product,
            customer_id=reporter,
            agent_id=assignee,
            status=status,
            priority=priority,
            resolved=opened + timedelta(minutes=80) if resolved else None,
            tags=tags,
            comments=comments,
        )
        records.append(_jira_row(f"SUP-{index + 1}", str(10_000 + index), ticket, component, opened + timedelta(minutes=90), 3))
    return _jira_csv(records, 3, custom_fields(rows, custom_cols, seed))


def _jira_time(moment: datetime) -> str:
    """A time as Jira writes it by default: ``14/Jul/25 3:42 PM``."""
    return moment.strftime("%d/%b/%y ") + moment.strftime("%I:%M %p").lstrip("0")


def _jira_row(key: str, issue_id: str, ticket: _Ticket, component: str, updated: datetime, comment_columns: int) -> list[str]:
    """One issue's cells under ``JIRA_HEADER`` and ``comment_columns`` ``Comment`` columns."""
    comments = [f"{_jira_time(when)};{author};{text}" for when, author, text in ticket.comments]
    return [
        ticket.subject,
        key,
        issue_id,
        "[System] Service request",
        ticket.status,
        ticket.priority,
        ticket.agent_id or "",
        ticket.customer_id,
        _jira_time(ticket.created),
        _jira_time(updated),
        _jira_time(ticket.resolved) if ticket.resolved else "",
        ticket.product or "",
        component,
        *ticket.tags,
        *[""] * (JIRA_LABEL_COLUMNS - len(ticket.tags)),
        ticket.body,
        ticket.customer_id,
        ticket.agent_id or "",
        *comments,
        *[""] * (comment_columns - len(comments)),
    ]


def _jira_csv(records: list[list[str]], comment_columns: int, custom: pl.DataFrame) -> str:
    """The export's text: ``JIRA_HEADER``, the Comment columns, then the custom fields."""
    header = [*JIRA_HEADER, *["Comment"] * comment_columns]
    canonical = pl.DataFrame(records, schema=[f"c{i}" for i in range(len(header))], orient="row")
    names = [f"Custom field ({name.replace('cf_', 'Field ')})" for name in custom.columns]
    body = pl.concat([canonical, custom], how="horizontal").write_csv(include_header=False)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([*header, *names])  # repeated names: no frame can hold them
    return out.getvalue() + body


def custom_fields(rows: int, columns: int, seed: int) -> pl.DataFrame:
    """``columns`` custom fields of mixed kinds, built column-wise (fast at 10k x 1,600).

    Kinds cycle: zero-padded codes (must stay strings), integers, decimals, categories,
    booleans, and sparse text that is empty in the first rows and set further down (a
    reader that infers types from the first rows gets it wrong).
    """
    index = pl.int_range(rows, eager=True).alias("i")
    frame = pl.DataFrame(index)
    expressions = []
    for number in range(columns):
        name = f"cf_{number:04d}"
        noise = (pl.col("i") * 2_654_435_761 + number * 40_503).hash(seed)
        kind = number % 6
        if kind == 0:
            value = (noise % 1_000_000).cast(pl.String).str.zfill(6)
        elif kind == 1:
            value = (noise % 10_000).cast(pl.String)
        elif kind == 2:
            value = ((noise % 100_000).cast(pl.Float64) / 100).round(2).cast(pl.String)
        elif kind == 3:
            value = pl.lit("gold,silver,bronze,none").str.split(",").list.get((noise % 4).cast(pl.Int64))
        elif kind == 4:
            value = pl.when(noise % 2 == 0).then(pl.lit("true")).otherwise(pl.lit("false"))
        else:
            value = pl.when((pl.col("i") > rows // 2) & (noise % 50 == 0)).then(pl.format("note {}", noise % 997))
        expressions.append(value.alias(name))
    return frame.select(expressions)


FILLER = [
    "hello team",
    "about my account",
    "it happened again this morning",
    "please check",
    "the screen went blank",
    "I tried twice",
    "my colleague saw the same",
    "see below",
    "after the update",
    "nothing else changed",
    "kind regards",
    "any idea why",
]


def entity_tickets(count: int, seed: int = 11, catalog: list[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Tickets with known embedded entities, and the truth: (tickets, expected mentions).

    Entities come in the formats real tickets use (mixed case, several phone and money
    styles, URLs followed by '.' or ')'), between filler phrases that hold none.
    """
    rng = random.Random(seed)
    catalog = catalog or product_catalog()
    tickets, truth = [], []
    for index in range(count):
        ticket_id = f"E{index:06d}"
        fields = {}
        for field in ("subject", "body"):
            parts: list[str] = []
            length = 0
            for _ in range(rng.randint(1, 3) if field == "subject" else rng.randint(3, 7)):
                filler = rng.choice(FILLER) + (" " if rng.random() < 0.5 else ", ")
                kind, text, normalized = _entity(rng, catalog)
                before, after = ("(", ")") if kind == "url" and rng.random() < 0.3 else ("", "")
                tail = "." if kind == "url" and not after and rng.random() < 0.3 else ""
                start = length + len(filler) + len(before)
                truth.append((ticket_id, kind, text, normalized, field, start, start + len(text)))
                piece = f"{filler}{before}{text}{after}{tail} "
                parts.append(piece)
                length += len(piece)
            fields[field] = "".join(parts).rstrip()
        tickets.append({"ticket_id": ticket_id, **fields})
    schema = ["ticket_id", "type", "text", "normalized", "field", "start", "end"]
    return pl.DataFrame(tickets), pl.DataFrame(truth, schema=schema, orient="row")


def _entity(rng: random.Random, catalog: list[str]) -> tuple[str, str, str]:
    """(type, text as written, normalized value) of one random entity."""
    kind = rng.choice(["product", "order_id", "email", "phone", "url", "money", "error_code", "version"])
    if kind == "product":
        name = rng.choice(catalog)
        written = rng.choice([name, name.lower(), name.upper()])
        return kind, written, name
    if kind == "order_id":
        number = rng.randrange(100000, 999999)
        return kind, rng.choice(["ORD", "ord", "Ord"]) + f"-{number}", f"ORD-{number}"
    if kind == "email":
        local = rng.choice(["Ana", "li.wei", "J.Smith", "omar_k", "support+bill"]) + str(rng.randrange(100))
        domain = rng.choice(["example.com", "Mail.Example.org", "corp.example.co.uk"])
        return kind, f"{local}@{domain}", f"{local}@{domain}".lower()
    if kind == "phone":
        area, exchange, line = rng.randrange(201, 989), rng.randrange(200, 999), rng.randrange(0, 10000)
        digits = f"{area}{exchange}{line:04d}"
        styles = [
            (f"+1 {area}-{exchange}-{line:04d}", f"+1{digits}"),
            (f"({area}) {exchange}-{line:04d}", f"+1{digits}"),
            (f"{area}.{exchange}.{line:04d}", f"+1{digits}"),
            (f"+44 20 {exchange}{line % 10} {line:04d}", f"+4420{exchange}{line % 10}{line:04d}"),
        ]
        written, normalized = rng.choice(styles)
        return kind, written, normalized
    if kind == "url":
        path = rng.choice(["login", "incidents/42", "setup?step=2", "help/billing"])
        host = rng.choice(["status.example.com", "www.example.org", "example.net"])
        url = f"{rng.choice(['https', 'http'])}://{host}/{path}"
        return kind, url, url
    if kind == "money":
        amount = rng.randrange(100, 500_000) / 100
        styles = [(f"${amount:,.2f}", "USD"), (f"{amount:.2f} EUR", "EUR"), (f"{amount:,.2f} USD", "USD"), (f"€{amount:.2f}", "EUR")]
        written, currency = rng.choice(styles)
        return kind, written, f"{amount:.2f} {currency}"
    if kind == "error_code":
        code = rng.choice([f"E{rng.randrange(1000, 9999)}", rng.choice(["ERR_TIMEOUT", "ERR_AUTH_FAILED", "ERR_SYNC_CONFLICT"])])
        return kind, code, code
    version = f"{rng.randrange(1, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 30)}"
    return kind, f"v{version}", version
