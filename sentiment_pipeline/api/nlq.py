"""Plain-English questions -> the structured query the analytics route runs, by rules.

Nothing the user writes reaches SQL: the parser only picks values from closed lists
(labels, groupings, channels, catalog products) and dates it computes itself.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from sentiment_pipeline.api.reads import BadRequest
from sentiment_pipeline.entities import product_catalog

CHANNELS = ("email", "chat", "phone", "web", "social")
LABELS = {
    "negative": "negative",
    "complaint": "negative",
    "complaints": "negative",
    "unhappy": "negative",
    "positive": "positive",
    "happy": "positive",
    "praise": "positive",
    "neutral": "neutral",
}
TOPICS = ("ticket", "tickets", "sentiment", "share", "how many", "count", "volume", "mood", *LABELS)
EXAMPLES = [
    "negative tickets about Acme Router X2 last week by channel",
    "sentiment by product in the last 30 days",
    "how many complaints via email yesterday",
    "share of negative tickets by day this month",
    "positive tickets for CloudSync between 2025-01-01 and 2025-01-31",
]


class NotUnderstood(ValueError):
    def __init__(self, question: str):
        super().__init__(f"could not understand {question!r}: ask about tickets or sentiment, e.g. one of the examples")
        self.examples = EXAMPLES


@dataclass(frozen=True)
class Interpretation:
    route: str
    start: str
    end: str
    group_by: str
    label: str | None = None
    product: str | None = None
    channel: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def interpret(question: str, today: date | None = None) -> Interpretation:
    text = " ".join(question.lower().split())
    if not text or not any(re.search(rf"\b{re.escape(topic)}\b", text) for topic in TOPICS):
        raise NotUnderstood(question)
    today = today or date.today()
    start, end = _dates(text, today)
    return Interpretation(
        route="/v1/analytics/sentiment",
        start=start.isoformat(),
        end=end.isoformat(),
        group_by=_group_by(text),
        label=next((label for word, label in LABELS.items() if re.search(rf"\b{word}\b", text)), None),
        product=_product(text),
        channel=next((c for c in CHANNELS if re.search(rf"(?<!by )\b{c}\b", text)), None),
    )


def _group_by(text: str) -> str:
    match = re.search(r"\b(?:by|per|for each|each)\s+(day|date|channel|product)s?\b", text)
    if match:
        return {"date": "day"}.get(match.group(1), match.group(1))
    return "day"


def _product(text: str) -> str | None:
    for name in sorted(product_catalog(), key=len, reverse=True):
        if re.search(r"\b" + r"\s+".join(map(re.escape, name.lower().split())) + r"\b", text):
            return name
    return None


def _dates(text: str, today: date) -> tuple[date, date]:
    explicit = re.findall(r"\b(\d{4}-\d{2}-\d{2})\b", text)
    if explicit:
        try:
            days = sorted(date.fromisoformat(d) for d in explicit)
        except ValueError as error:  # 2025-02-30
            raise BadRequest(f"the question names a date that does not exist ({error})") from error
        return days[0], days[-1]
    if "yesterday" in text:
        return today - timedelta(days=1), today - timedelta(days=1)
    if "today" in text:
        return today, today
    if match := re.search(r"\b(?:last|past)\s+(\d{1,4})\s+days?\b", text):
        return today - timedelta(days=int(match.group(1)) - 1), today
    if "last week" in text or "past week" in text:
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if "this week" in text:
        return today - timedelta(days=today.weekday()), today
    if "last month" in text:
        last_day = today.replace(day=1) - timedelta(days=1)
        return last_day.replace(day=1), last_day
    if "this month" in text:
        return today.replace(day=1), today
    return today - timedelta(days=29), today
