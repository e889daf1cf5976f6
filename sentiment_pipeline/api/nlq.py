"""Plain-English questions -> one parameterised DuckDB query over the assets, or a refusal.

A small grammar over closed vocabularies (the tables below): every phrase a rule matches
is *understood* and sets one part of the query (a measure, a grouping, a filter, a ranking,
the days); whatever is left over must be filler words, or the question is refused with the
parts it could not place and close questions that would work. Nothing the caller writes
reaches SQL text: values picked from the vocabularies, the days computed here, an agent id
and the word forms of a searched word are all bound as parameters.

Days are UTC days (the daily partitions); "today" comes from the clock the caller passes.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from functools import cache

from sentiment_pipeline.api import search
from sentiment_pipeline.entities import product_catalog
from sentiment_pipeline.schemas import SENTIMENT_LABELS, TRAJECTORIES

DEFAULT_DAYS = 30
MAX_ROWS = 1000  # grouped answers and ticket lists; one more is fetched to say when there are more
MAX_TOP = 100

# measure -> (SQL over the joined rows t (ticket), s (sentiment), e (entity), what it is in words)
MEASURES: dict[str, tuple[str, str]] = {
    "tickets": ("count(*)", "tickets"),
    "label_tickets": ("count(*) filter (where s.label = $label)", "{label} tickets"),
    "label_share": ("count(*) filter (where s.label = $label) / count(*)", "share of {label} tickets"),
    "avg_sentiment": ("avg(s.compound)", "average sentiment (compound)"),
    "avg_csat": ("avg(t.csat)", "average csat"),
    "solved": (
        "count(*) filter (where t.resolved_at is not null or lower(t.status) in ('solved', 'resolved', 'closed'))",
        "solved tickets",
    ),
    "median_hours_to_resolve": (
        "median(epoch(t.resolved_at - t.created_at) / 3600.0) filter (where t.resolved_at >= t.created_at)",
        "median hours to resolve",
    ),
    "mentions": ("count(*)", "entity mentions"),
}
# phrase (regex over the normalised question) -> measure, in the order tried: a phrase before the shorter ones inside it
MEASURE_WORDS: dict[str, str] = {
    r"(?:share|percentage|percent|proportion|fraction) of (?:tickets that (?:were|are) )?(?P<label>LABEL)(?: tickets)?": "label_share",
    r"(?P<label>LABEL) (?:share|percentage|rate)": "label_share",
    r"share (?P<label>LABEL)": "label_share",
    r"(?:average|avg|mean) (?:sentiment|compound)(?: score)?": "avg_sentiment",
    r"(?:average|avg|mean) (?:csat|satisfaction|customer satisfaction)(?: score)?": "avg_csat",
    r"(?:number of |how many )?(?:solved|resolved) tickets|tickets (?:solved|resolved)|solved": "solved",
    r"median (?:hours|time) to (?:resolve|resolution)|median resolution time|median hours to resolution": "median_hours_to_resolve",
    r"(?:number of |how many )?(?:entity )?mentions": "mentions",
    r"(?:the )?(?:number of|count of|how many|total) tickets|ticket (?:count|volume)|tickets?|volume": "tickets",
}
GROUPS: dict[str, tuple[tuple[str, ...], str]] = {  # grouping -> (its key columns as SQL, words that name it)
    "day": (("t.partition_day as date",), r"day|days|date|dates|daily"),
    "week": (("date_trunc('week', t.partition_day)::date as week",), r"week|weeks|weekly"),
    "month": (("date_trunc('month', t.partition_day)::date as month",), r"month|months|monthly"),
    "channel": (("t.channel as channel",), r"channel|channels"),
    "product": (("t.product as product",), r"product|products"),
    "agent": (("t.agent_id as agent_id",), r"agent|agents"),
    "trajectory": (("s.trajectory as trajectory",), r"trajectory|trajectories"),
    "entity": (("e.type as entity_type", "e.normalized as entity"), r"entity|entities"),
}
CHANNELS = ("email", "chat", "phone", "web", "social", "api")
ENTITY_TYPES: dict[str, str] = {  # words -> entity type (as the entity asset writes it)
    r"products?": "product",
    r"order ids?|orders?": "order_id",
    r"e-?mail addresses|e-?mail address|e-?mails?": "email",
    r"phone numbers?|phones?": "phone",
    r"urls?|links?": "url",
    r"(?:money )?amounts?": "money",
    r"error codes?|errors?": "error_code",
    r"versions?": "version",
}
MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if n} | {
    name.lower(): n for n, name in enumerate(calendar.month_abbr) if n
}
MONTHS["sept"] = 9
FILLER = frozenset(  # words that carry no part of a query
    {
        *("a", "an", "the", "of", "for", "in", "on", "at", "to", "with", "from", "and", "or", "so", "far", "it", "its"),
        *("was", "were", "is", "are", "be", "been", "there", "did", "do", "does", "had", "have", "has", "got", "received"),
        *("i", "we", "our", "me", "us", "you", "can", "could", "would", "please", "see", "tell"),
        *("what", "whats", "what's", "which", "that", "how", "many", "much", "all", "any", "total", "overall", "during", "number", "count"),
    }
)
AMBIGUOUS_SPANS = {"week": "'last week' (Monday to Sunday) or 'the last 7 days'", "month": "'last month' or 'the last 30 days'"}
CLOSE_WORDS = {  # a word the grammar does not place -> the measure a close question would use
    "csat": "average csat",
    "satisfaction": "average csat",
    "sentiment": "average sentiment",
    "complaints": "negative tickets",
    "unhappy": "negative tickets",
    "happy": "positive tickets",
    "resolution": "median hours to resolve",
    "resolve": "median hours to resolve",
}
EXAMPLES = (
    "which product had the most negative tickets last week",
    "top 5 agents by average csat in the last 30 days",
    "share of negative tickets by channel not including email yesterday",
    "median hours to resolve by agent in October 2025",
    "tickets mentioning refunds last week",
)
LABEL = "|".join(SENTIMENT_LABELS)
DATE = (
    r"\d{4}-\d{2}-\d{2}|today|yesterday"
    r"|(?:MONTH) \d{1,2}(?:st|nd|rd|th)?(?: \d{4})?|\d{1,2}(?:st|nd|rd|th)? (?:MONTH)(?: \d{4})?"
).replace("MONTH", "|".join(sorted(MONTHS, key=len, reverse=True)))


class NotUnderstood(ValueError):
    """A part of the question cannot be placed: 422 with what was understood and what was not."""

    def __init__(self, not_understood: list[str], understood: list[str], examples: list[str], why: str = ""):
        parts = ", ".join(repr(p) for p in not_understood)
        super().__init__(why or f"could not place {parts}: rephrase with the words of the examples")
        self.not_understood, self.understood, self.examples = not_understood, understood, examples


@dataclass(frozen=True)
class Query:
    """What a question was read as: hashable, so equal readings share one cache entry."""

    measure: str
    start: str
    end: str
    label: str | None = None  # the label the measure counts, or a filter when the measure is another
    group_by: str | None = None
    order: str | None = None  # "desc" or "asc" for a ranking
    top: int | None = None
    channels: tuple[str, ...] = ()
    not_channels: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    not_products: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    trajectories: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    mentioning: str | None = None  # a word whose forms the ticket's subject or body contains
    list_tickets: bool = False

    def assets(self) -> tuple[str, ...]:
        return ("ticket", "sentiment", "entity") if self.measure == "mentions" else ("ticket", "sentiment")

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v not in (None, (), False)}


@dataclass
class _Reading:
    """The parts found so far, with the phrase each came from."""

    today: date
    measures: dict[str, str] = field(default_factory=dict)  # measure -> phrase
    fields: dict = field(default_factory=dict)
    phrases: dict[str, str] = field(default_factory=dict)  # field -> the phrase that set it
    understood: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def set(self, name: str, value, phrase: str) -> None:
        if name in self.fields and self.fields[name] != value:
            what = {"days": "date range", "group_by": "grouping", "order": "ranking", "top": "ranking", "mentioning": "search word"}.get(
                name, name
            )
            self.conflicts.append(f"{self.phrases[name]!r} and {phrase!r}: one {what} at a time")
        self.fields[name], self.phrases[name] = value, phrase

    def add(self, name: str, values: tuple, phrase: str) -> None:
        self.fields[name] = tuple(dict.fromkeys((*self.fields.get(name, ()), *values)))
        self.phrases[name] = phrase


def _alternatives(values) -> str:
    return "|".join(sorted(values, key=len, reverse=True))


def _products() -> dict[str, str]:
    return {r"\s+".join(map(re.escape, name.lower().split())): name for name in product_catalog()}


def _values(pattern: str) -> str:
    """One value or a list of them: ``email``, ``email and chat``, ``email, chat or web``."""
    return rf"(?:{pattern})(?:(?:,| and| or|, and|, or) (?:the )?(?:{pattern}))*"


def _pick(text: str, table: dict[str, str]) -> tuple[str, ...]:
    """The values a phrase names, in order: each of ``table``'s patterns (longest first) mapped to its value."""
    patterns = sorted(table, key=len, reverse=True)
    names = re.compile(rf"(?<![\w-])(?:{'|'.join(f'({p})' for p in patterns)})(?![\w-])")
    return tuple(dict.fromkeys(table[patterns[m.lastindex - 1]] for m in names.finditer(text)))


# --- days --------------------------------------------------------------------------------


def _day(text: str, today: date) -> date:
    """One day as written: ISO, today, yesterday, "Nov 29", "29 November 2025" (no year: the latest one not after today)."""
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    words = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", text).split()
    month = next(MONTHS[w] for w in words if w in MONTHS)
    numbers = [int(w) for w in words if w.isdigit()]
    day, year = numbers[0], (numbers[1] if len(numbers) > 1 else None)
    if year is not None:
        return date(year, month, day)
    this_year = date(today.year, month, day) if (month, day) != (2, 29) or calendar.isleap(today.year) else None
    return this_year if this_year and this_year <= today else date(today.year - 1, month, day)


def _month(month: int, year: int | None, today: date) -> tuple[date, date]:
    year = year if year is not None else (today.year if month <= today.month else today.year - 1)
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _week(monday: date) -> tuple[date, date]:
    return monday, monday + timedelta(days=6)


DAY_RULES: dict[str, Callable[[re.Match, date], tuple[date, date]]] = {
    rf"(?:between|from) (?P<a>{DATE}) (?:and|to|until|through) (?P<b>{DATE})": lambda m, t: (_day(m["a"], t), _day(m["b"], t)),
    rf"(?:since|from|starting) (?P<a>{DATE})": lambda m, t: (_day(m["a"], t), t),
    r"(?:in |over |during |for )?(?:the )?(?:last|past|previous) (?P<n>\d{1,4}) days": lambda m, t: (
        t - timedelta(days=int(m["n"]) - 1),
        t,
    ),
    r"(?:in |over |during |for )?(?:the )?(?:last|past|previous) (?P<n>\d{1,3}) weeks": lambda m, t: (
        t - timedelta(days=7 * int(m["n"]) - 1),
        t,
    ),
    r"(?:in |during )?(?:the )?(?:last|previous|past) week": lambda m, t: _week(t - timedelta(days=t.weekday() + 7)),
    r"(?:in |during )?this week": lambda m, t: (t - timedelta(days=t.weekday()), t),
    r"(?:in |during )?(?:the )?(?:last|previous|past) month": lambda m, t: _month(
        (t.replace(day=1) - timedelta(days=1)).month, (t.replace(day=1) - timedelta(days=1)).year, t
    ),
    r"(?:in |during )?this month": lambda m, t: (t.replace(day=1), t),
    rf"(?:on )?(?P<a>{DATE})": lambda m, t: (_day(m["a"], t), _day(m["a"], t)),
    rf"(?:in |during )?(?P<month>{_alternatives(MONTHS)})(?: (?P<year>\d{{4}}))?": lambda m, t: _month(
        MONTHS[m["month"]], int(m["year"]) if m["year"] else None, t
    ),
    r"in (?P<year>\d{4})": lambda m, t: (date(int(m["year"]), 1, 1), min(date(int(m["year"]), 12, 31), t)),
    r"(?:in |during )?this year": lambda m, t: (date(t.year, 1, 1), t),
    r"(?:in |during )?last year": lambda m, t: (date(t.year - 1, 1, 1), date(t.year - 1, 12, 31)),
}


def _days(reading: _Reading, match: re.Match, rule: Callable) -> None:
    try:
        start, end = rule(match, reading.today)
    except ValueError as error:  # "Feb 30", "2025-13-01"
        raise NotUnderstood([match[0]], reading.understood, list(EXAMPLES), f"{match[0]!r} is not a day ({error})") from error
    if start > end:
        reading.conflicts.append(f"{match[0]!r} ends before it starts")
    reading.set("days", (start, end), match[0])


# --- the grammar -------------------------------------------------------------------------


def _rules() -> list[tuple[str, Callable[[_Reading, re.Match], None]]]:
    """(pattern, action) in the order they are tried; a phrase belongs to the first rule that matches it."""
    products = _products()
    product, channel = _alternatives(products), _alternatives(CHANNELS)
    group = "|".join(f"(?P<g_{name}>{words})" for name, (_, words) in GROUPS.items())
    etype = "|".join(f"(?P<t{n}>{words})" for n, words in enumerate(ENTITY_TYPES))
    negation = r"(?:not including|not from|not via|not on|not in|excluding|except(?: for)?|other than|apart from|but not|without|not)"

    def grouping(m: re.Match) -> str:
        return next(name for name in GROUPS if m[f"g_{name}"])

    def entity_type(m: re.Match) -> str:
        return next(value for n, value in enumerate(ENTITY_TYPES.values()) if m[f"t{n}"])

    def rank(reading: _Reading, m: re.Match) -> None:
        order = "asc" if m["dir"] in ("fewest", "least", "lowest", "bottom", "smallest", "worst") else "desc"
        reading.set("order", order, m[0])
        reading.set("top", int(m["n"]) if m.groupdict().get("n") else 1, m[0])

    def rank_group(reading: _Reading, m: re.Match) -> None:
        rank(reading, m)
        reading.set("group_by", grouping(m), m[0])

    def rank_entity(reading: _Reading, m: re.Match) -> None:
        rank(reading, m)
        reading.set("group_by", "entity", m[0])
        reading.add("entity_types", (entity_type(m),), m[0])
        reading.measures["mentions"] = m[0]

    def typed_mentions(reading: _Reading, m: re.Match) -> None:
        reading.add("entity_types", (entity_type(m),), m[0])
        reading.measures["mentions"] = m[0]

    def labelled(reading: _Reading, m: re.Match, measure: str) -> None:
        reading.measures[measure] = m[0]
        if m.groupdict().get("label"):
            reading.set("label", m["label"], m[0])

    rules: list[tuple[str, Callable[[_Reading, re.Match], None]]] = [
        (  # a calendar week or month, or the last 7 or 30 days? Not guessed.
            r"(?:in |during |over )?(?:the (?:last|past)|past) (?P<unit>week|month)",
            lambda r, m: r.conflicts.append(f"{m[0]!r} is ambiguous: say {AMBIGUOUS_SPANS[m['unit']]}"),
        )
    ]
    rules += [(pattern, lambda r, m, rule=rule: _days(r, m, rule)) for pattern, rule in DAY_RULES.items()]
    rules += [
        (rf"(?:which|what) (?:{etype}) (?:was|were|is|are|got|gets) mentioned (?:the )?(?P<dir>most|least)", rank_entity),
        (rf"(?:the )?(?P<dir>most|least) mentioned (?:{etype})", rank_entity),
        (rf"(?:the )?(?P<dir>top|bottom) (?P<n>\d{{1,3}}) (?:{etype}) by mentions", rank_entity),
        (rf"(?:{etype}) mentions", typed_mentions),
        (rf"mentions of (?:{etype})", typed_mentions),
        (
            rf"(?:(?:which|what) (?:{group}) (?:had|has|have|got|received|saw|with) )(?:the )?(?P<dir>most|highest|largest|biggest|best|fewest|least|lowest|smallest|worst)",
            rank_group,
        ),
        (rf"(?:the )?(?P<dir>top|bottom) (?P<n>\d{{1,3}}) (?:{group}) (?:by|for|on)", rank_group),
        (rf"(?:grouped by|broken down by|split by|by|per|for each|each) (?:{group})", lambda r, m: r.set("group_by", grouping(m), m[0])),
        (
            rf"{negation} (?:the )?(?P<v>{_values(product)})(?: tickets)?",
            lambda r, m: r.add("not_products", _pick(m["v"], products), m[0]),
        ),
        (
            rf"{negation} (?:the )?(?P<v>{_values(channel)})(?: channels?| tickets)?",
            lambda r, m: r.add("not_channels", _pick(m["v"], {c: c for c in CHANNELS}), m[0]),
        ),
        (
            rf"(?:(?:about|for|on|with|of|from|regarding|concerning) )?(?:the )?(?P<v>{_values(product)})",
            lambda r, m: r.add("products", _pick(m["v"], products), m[0]),
        ),
        (
            rf"(?:(?:via|over|through|from|on|in|by|through the) )?(?:the )?(?P<v>{_values(channel)})(?: channels?)?",
            lambda r, m: r.add("channels", _pick(m["v"], {c: c for c in CHANNELS}), m[0]),
        ),
        (r"(?:for |by |of |handled by )?agents? (?P<v>[a-z]*\d[a-z0-9_-]*)", lambda r, m: r.add("agents", (m["v"],), m[0])),
        (
            r"(?:(?:that|which) (?:mention|mentions|mentioned|contain|contains|contained|say|said)|mentioning|mention|containing|saying"
            r"|with the word) (?:(?:the|a|an|word) )?(?P<w>[a-z][a-z']*)",
            lambda r, m: r.set("mentioning", m["w"], m[0]),
        ),
        (rf"(?P<v>{'|'.join(TRAJECTORIES)})(?: trajectory)?", lambda r, m: r.add("trajectories", (m["v"],), m[0])),
    ]
    rules.append((r"(?:show|list|find|give|get)(?: me| us)?(?: the| all(?: the)?)?", lambda r, m: r.set("list_tickets", True, m[0])))
    rules += [(pattern, lambda r, m, measure=measure: labelled(r, m, measure)) for pattern, measure in MEASURE_WORDS.items()]
    rules.append((rf"(?P<label>{LABEL})", lambda r, m: r.set("label", m["label"], m[0])))
    return [(re.compile(rf"(?<![\w-])(?:{p.replace('LABEL', LABEL)})(?![\w-])"), action) for p, action in rules]


@cache
def _compiled() -> list[tuple[re.Pattern, Callable[[_Reading, re.Match], None]]]:
    return _rules()


def normalise(question: str) -> str:
    """Lower case, one space between words; end punctuation and commas between words dropped."""
    text = re.sub(r'["“”]', " ", question.lower().replace("’", "'")).strip()
    text = re.sub(r"[?!.]+$", "", text)
    text = re.sub(r"(?<=\w),(?=\s)", " ,", text)
    return " ".join(text.split())


def interpret(question: str, today: date) -> Query:
    """The query ``question`` means, or NotUnderstood naming the parts it cannot place."""
    text = normalise(question)
    reading, free = _Reading(today), [True] * len(text)
    for pattern, action in _compiled():
        for start, end in [m.span() for m in re.finditer(r"\x01+", "".join("\x01" if f else "\x00" for f in free))]:
            for match in pattern.finditer(text, start, end):  # only text no earlier rule has placed
                action(reading, match)
                reading.understood.append(match[0])
                free[match.start() : match.end()] = [False] * (match.end() - match.start())
    leftover = [
        part.strip(" ,")
        for part in re.split(r"\x00+", "".join(c if f else "\x00" for c, f in zip(text, free, strict=True)))
        if set(part.replace(",", " ").split()) - FILLER
    ]
    if leftover or reading.conflicts:
        close = next((CLOSE_WORDS[w] for part in leftover for w in part.split() if w in CLOSE_WORDS), None)
        why = "" if leftover else "; ".join(reading.conflicts)
        raise NotUnderstood(leftover + reading.conflicts, reading.understood, suggestions(reading, close), why)
    return _resolve(reading)


def _resolve(reading: _Reading) -> Query:
    """The parts found, checked for sense and made into one query."""
    fields, measures = dict(reading.fields), dict(reading.measures)
    start, end = fields.pop("days", (reading.today - timedelta(days=DEFAULT_DAYS - 1), reading.today))
    label = fields.pop("label", None)
    asked_for_list = fields.pop("list_tickets", False)  # "show me ...", "list ..."
    refuse = []
    if len(measures) > 1 and "tickets" in measures:  # "tickets" is the noun the other measures are about
        measures.pop("tickets")
    if len(measures) > 1:
        refuse.append(f"{' and '.join(repr(p) for p in measures.values())}: one measure at a time")
    measure = next(iter(measures), None)
    if measure in (None, "tickets") and label:
        measure = "label_tickets"
    if measure is None and fields.get("mentioning"):
        measure = "tickets"
    if measure is None:
        refuse.append("no measure: ask for tickets, negative tickets, share of negative tickets, average sentiment, ...")
    if label and measure == "mentions":
        refuse.append(f"{label!r}: mentions are counted over all tickets; ask for {label} tickets instead")
    if (fields.get("group_by") == "entity" or fields.get("entity_types")) and measure != "mentions":
        refuse.append("entities are counted as mentions: ask e.g. 'most mentioned error codes last week'")
    if fields.get("top") is not None and not 1 <= fields["top"] <= MAX_TOP:
        refuse.append(f"top {fields['top']}: at most {MAX_TOP}")
    if refuse:
        raise NotUnderstood(refuse, reading.understood, suggestions(reading), "; ".join(refuse))
    plain = reading.measures.get("tickets", "tickets") in ("ticket", "tickets")  # not "how many tickets"
    if (fields.get("mentioning") or asked_for_list) and measure in ("tickets", "label_tickets") and not fields.get("group_by") and plain:
        return Query(measure="tickets", start=start.isoformat(), end=end.isoformat(), label=label, list_tickets=True, **fields)
    return Query(measure=measure, start=start.isoformat(), end=end.isoformat(), label=label, **fields)


def suggestions(reading: _Reading, close: str | None = None) -> list[str]:
    """Close questions that would work: what was understood (and the measure ``close`` to a word
    that was not), completed, then the stock examples."""
    days = reading.phrases.get("days", "last week")
    what = next((p for m, p in reading.measures.items() if m != "tickets"), close or reading.measures.get("tickets") or "negative tickets")
    if reading.fields.get("label") and reading.fields["label"] not in what:
        what = f"{reading.fields['label']} {what}"
    grouping = f"by {reading.fields['group_by']}" if reading.fields.get("group_by") not in (None, "entity") else "by channel"
    filters = " ".join(
        reading.phrases[n] for n in ("products", "not_products", "channels", "not_channels", "agents") if n in reading.phrases
    )
    what = f"{what} {filters}".strip()
    completed = [f"{what} {grouping} {days}", f"{what} {days}"] if reading.measures or reading.fields or close else []
    return list(dict.fromkeys([*completed, *EXAMPLES]))[:5]


# --- the query ---------------------------------------------------------------------------


def compile_sql(query: Query, forms: str | None = None) -> tuple[str, dict, tuple[str, ...]]:
    """``query`` as one DuckDB statement (``{asset}`` placeholders for the range's Parquet
    files), its parameters, and the assets it reads; ``forms`` is the searched word's
    ``search.forms`` (by default its words as written)."""
    params: dict = {"start": date.fromisoformat(query.start), "end": date.fromisoformat(query.end)}
    text = query.mentioning is not None
    ticket_columns = "channel, product, agent_id, status, csat, created_at, resolved_at"
    ticket_columns += (", subject" if text or query.list_tickets else "") + (", body" if text else "")
    sources = [
        f"(select ticket_id, make_date(year, month, day) as partition_day, {ticket_columns} from {{ticket}}) t",
        "(select ticket_id, make_date(year, month, day) as partition_day, label, compound, trajectory from {sentiment}) s"
        " using (ticket_id, partition_day)",
    ]
    if query.measure == "mentions":
        sources.append(
            "(select ticket_id, make_date(year, month, day) as partition_day, type, normalized from {entity}) e using (ticket_id, partition_day)"
        )
    where = ["t.partition_day between $start and $end"]
    for name, column in (("channels", "t.channel"), ("products", "t.product"), ("agents", "t.agent_id")):
        if getattr(query, name):
            where.append(f"list_contains(${name}, lower({column}))")
            params[name] = [v.lower() for v in getattr(query, name)]
        if getattr(query, f"not_{name}", ()):
            where.append(f"coalesce(not list_contains($not_{name}, lower({column})), true)")
            params[f"not_{name}"] = [v.lower() for v in getattr(query, f"not_{name}")]
    if query.trajectories:
        where.append("list_contains($trajectories, s.trajectory)")
        params["trajectories"] = list(query.trajectories)
    if query.entity_types:
        where.append("list_contains($entity_types, e.type)")
        params["entity_types"] = list(query.entity_types)
    if query.label:
        params["label"] = query.label
        if query.measure not in ("label_tickets", "label_share"):
            where.append("s.label = $label")
    if text:
        where.append(search.MATCHING.format(t="t"))
        params["forms"] = forms if forms is not None else search.forms(search.query_words(query.mentioning))
    joined = "\n  join ".join(sources)
    if query.list_tickets or query.group_by:
        params["limit"] = query.top or MAX_ROWS + 1
    if query.list_tickets:
        select = "t.ticket_id, t.partition_day as date, t.created_at, t.subject, t.channel, t.product, t.agent_id, s.label, s.compound"
        sql = f"select {select}\nfrom {joined}\nwhere {' and '.join(where)}\norder by t.created_at desc, t.ticket_id\nlimit $limit"
        return sql, params, query.assets()
    name = measure_column(query)
    value = f"{MEASURES[query.measure][0]} as {name}"
    if query.group_by is None:
        return f"select {value}\nfrom {joined}\nwhere {' and '.join(where)}", params, query.assets()
    keys = GROUPS[query.group_by][0]
    order = ", ".join(f"{n} asc nulls last" for n in range(1, len(keys) + 1))
    if query.order:
        order = f"{len(keys) + 1} {query.order} nulls last, {order}"
    sql = f"select {', '.join(keys)}, {value}\nfrom {joined}\nwhere {' and '.join(where)}\ngroup by all\norder by {order}\nlimit $limit"
    return sql, params, query.assets()


def measure_column(query: Query) -> str:
    if query.measure == "label_tickets":
        return f"{query.label}_tickets"
    if query.measure == "label_share":
        return f"share_{query.label}"
    return query.measure


# --- the answer in words -----------------------------------------------------------------


def describe(query: Query) -> str:
    """What was asked, in words: the measure, its filters and the days."""
    what = MEASURES[query.measure][1].format(label=query.label)
    if query.list_tickets:
        what = "tickets"
    if query.label and query.measure not in ("label_tickets", "label_share"):
        what += f" of {query.label} tickets"
    conditions = []
    for name, word in (("channels", "via"), ("products", "for"), ("agents", "for agent")):
        if getattr(query, name):
            conditions.append(f"{word} {' or '.join(getattr(query, name))}")
        if getattr(query, f"not_{name}", ()):
            conditions.append(f"not {word} {' or '.join(getattr(query, f'not_{name}'))}")
    if query.trajectories:
        conditions.append(f"with a {' or '.join(query.trajectories)} trajectory")
    if query.entity_types:
        conditions.append(f"of type {' or '.join(query.entity_types)}")
    if query.mentioning:
        conditions.append(f"mentioning {query.mentioning!r} (any form)")
    days = f"on {query.start}" if query.start == query.end else f"from {query.start} to {query.end}"
    return " ".join([what, *conditions, days, "(UTC)"])


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "(none)" if value is None else str(value)


def answer(query: Query, rows: list[dict]) -> str:
    """One sentence saying what the rows answer."""
    asked = describe(query)
    if query.list_tickets:
        more = f"more than {MAX_ROWS}; the newest {MAX_ROWS} are listed" if len(rows) > MAX_ROWS else f"{len(rows)}"
        return f"{asked[0].upper()}{asked[1:]}: {more}."
    column = measure_column(query)
    if query.group_by is None:
        return f"{asked[0].upper()}{asked[1:]}: {_shown(rows[0][column] if rows else None)}."
    keys = [column.rsplit(" as ", 1)[1] for column in GROUPS[query.group_by][0]]
    if not rows:
        return f"No {query.group_by} has any {asked}."
    first = " ".join(_shown(rows[0][k]) for k in keys)
    if query.order:
        counted = query.measure in ("tickets", "label_tickets", "solved", "mentions")
        which = {"desc": "most" if counted else "highest", "asc": "fewest" if counted else "lowest"}[query.order]
        if query.top == 1:
            return f"The {query.group_by} with the {which} {asked} is {first} ({_shown(rows[0][column])})."
        return f"The {len(rows)} {query.group_by} values with the {which} {asked}, first {first} ({_shown(rows[0][column])})."
    more = f" (the first {MAX_ROWS} of more)" if len(rows) > MAX_ROWS else ""
    return f"{asked[0].upper()}{asked[1:]} by {query.group_by}: {min(len(rows), MAX_ROWS)} groups{more}."
