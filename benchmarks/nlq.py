"""NLQ accuracy: every question of `nlq_questions.py` asked over HTTP, each gold answer
computed independently with polars straight from the lake's Parquet files.

A question is right when the API answers 200 with the gold rows (same groups, same values;
a ranking in the same order, ties allowed to swap), or, for a question that must be
refused, answers 422 naming what it could not place. A 200 that differs from the gold
answer, or a 200 to a question that must be refused, is a *wrong answer*: the target is
100 % right and none wrong.

Run: `python benchmarks/nlq.py` (builds a 63-day sample lake, Jira conversations on some days, in a temporary folder: ~2 minutes).
"""

import argparse
import contextlib
import math
import re
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import requests
import snowballstemmer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: sentiment_pipeline_tests is not installed
from benchmarks.nlq_questions import ANSWERABLE, LAKE, REFUSED, TODAY, Gold

SOLVED_STATUSES = ("solved", "resolved", "closed")
# the gold row keys per grouping (else the grouping's own name)
KEYS = {"day": ["date"], "agent": ["agent_id"], "entity": ["entity_type", "entity"]}


@dataclass
class Outcome:
    question: str
    kind: str  # "answerable" or "refused"
    status: int
    right: bool
    detail: str


# --- the gold answers, from the Parquet files ---------------------------------------------


def _scan(root: Path, asset: str, columns: list[str]) -> pl.DataFrame:
    """Every stored day of ``asset``: ``columns`` plus the day, taken from the file's hive path."""
    frames = []
    for path in sorted((root / asset).glob("year=*/month=*/day=*/*.parquet")):
        y, m, d = (int(v) for v in re.findall(r"(?:year|month|day)=(\d+)", str(path)))
        frames.append(pl.read_parquet(path, columns=columns).with_columns(day=pl.lit(date(y, m, d))))
    return pl.concat(frames, how="vertical_relaxed")


def lake_frames(root: Path) -> dict[str, pl.DataFrame]:
    ticket = _scan(
        root, "ticket", ["ticket_id", "channel", "product", "agent_id", "status", "csat", "created_at", "resolved_at", "subject", "body"]
    )
    sentiment = _scan(root, "sentiment", ["ticket_id", "label", "compound", "trajectory"])
    return {
        "tickets": ticket.join(sentiment, on=["ticket_id", "day"]),
        "entities": _scan(root, "entity", ["ticket_id", "type", "normalized"]),
    }


def _stems(text: pl.Series) -> pl.Series:
    stemmer = snowballstemmer.stemmer("english")
    words = text.str.to_lowercase().str.extract_all(r"[a-z0-9_]+")
    vocabulary = {w: stemmer.stemWord(w) for w in words.explode().drop_nulls().unique().to_list()}
    return words.list.eval(pl.element().replace_strict(vocabulary, default=None))


def _within(frame: pl.DataFrame, gold: Gold) -> pl.DataFrame:
    end = gold.end or gold.start
    rows = frame.filter(pl.col("day").is_between(date.fromisoformat(gold.start), date.fromisoformat(end)))
    for column, wanted, unwanted in (
        ("channel", gold.channels, gold.not_channels),
        ("product", gold.products, gold.not_products),
        ("agent_id", gold.agents, ()),
    ):
        value = pl.col(column).str.to_lowercase()
        if wanted:
            rows = rows.filter(value.is_in([w.lower() for w in wanted]))
        if unwanted:
            rows = rows.filter(value.is_null() | ~value.is_in([w.lower() for w in unwanted]))
    if gold.trajectories:
        rows = rows.filter(pl.col("trajectory").is_in(list(gold.trajectories)))
    if gold.label and gold.measure not in ("label_tickets", "label_share"):
        rows = rows.filter(pl.col("label") == gold.label)
    if gold.mentioning:
        target = snowballstemmer.stemmer("english").stemWord(gold.mentioning.lower())
        text = pl.concat_str([pl.col("subject").fill_null(""), pl.col("body").fill_null("")], separator=" ")
        stems = _stems(rows.select(text).to_series())
        rows = rows.filter(stems.list.contains(target))
    return rows


def _value(gold: Gold) -> pl.Expr:
    solved = pl.col("resolved_at").is_not_null() | pl.col("status").str.to_lowercase().is_in(SOLVED_STATUSES)
    labelled = pl.col("label") == (gold.label or "")
    hours = (pl.col("resolved_at") - pl.col("created_at")).dt.total_microseconds() / 3_600_000_000
    return {
        "tickets": pl.len(),
        "mentions": pl.len(),
        "label_tickets": labelled.sum(),
        "label_share": labelled.sum() / pl.len(),
        "avg_sentiment": pl.col("compound").mean(),
        "avg_csat": pl.col("csat").cast(pl.Float64).mean(),
        "solved": solved.sum(),
        "median_hours_to_resolve": hours.filter(pl.col("resolved_at") >= pl.col("created_at")).median(),
    }[gold.measure]


def column_of(gold: Gold) -> str:
    """The answer's value column, as the API names it."""
    return {"label_tickets": f"{gold.label}_tickets", "label_share": f"share_{gold.label}"}.get(gold.measure, gold.measure)


def expected(frames: dict[str, pl.DataFrame], gold: Gold) -> list[tuple[tuple, object]]:
    """The gold answer: (group key, value) rows, ranked when the question ranks."""
    rows = _within(frames["tickets"], gold)
    if gold.listing:
        return [((ticket, day.isoformat()), None) for ticket, day in rows.select("ticket_id", "day").iter_rows()]
    if gold.measure == "mentions":
        entities = frames["entities"]
        if gold.entity_types:
            entities = entities.filter(pl.col("type").is_in(list(gold.entity_types)))
        rows = rows.join(entities, on=["ticket_id", "day"]).rename({"type": "entity_type", "normalized": "entity"})
    keys = {
        None: [],
        "day": [pl.col("day")],
        "week": [pl.col("day").dt.truncate("1w").alias("week")],
        "month": [pl.col("day").dt.month_start().alias("month")],
        "channel": [pl.col("channel")],
        "product": [pl.col("product")],
        "agent": [pl.col("agent_id").alias("agent")],
        "trajectory": [pl.col("trajectory")],
        "entity": [pl.col("entity_type"), pl.col("entity")],
    }[gold.by]
    if not keys:
        return [((), rows.select(_value(gold).alias("v")).item())]
    found = rows.group_by(keys).agg(_value(gold).alias("v"))
    names = [k for k in found.columns if k != "v"]
    found = found.sort(names, nulls_last=True)
    if gold.top:
        found = found.sort("v", descending=gold.order == "desc", nulls_last=True, maintain_order=True).head(gold.top)
    return [(tuple(_key(v) for v in row[:-1]), row[-1]) for row in found.select(*names, "v").iter_rows()]


def _key(value) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _plain(value) -> object:
    """A JSON value as a dictionary key (a key that is not a scalar is a wrong answer, shown as text)."""
    return value if value is None or isinstance(value, str | int | float) else repr(value)


# --- comparing ------------------------------------------------------------------------------


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def compare(frames: dict[str, pl.DataFrame], gold: Gold, body: dict) -> str:
    """'' when the API's rows are the gold answer, else what differs."""
    gold_rows, rows = expected(frames, gold), body.get("rows", [])
    if gold.listing:
        got = {(r["ticket_id"], r["date"]) for r in rows}
        want = {key for key, _ in gold_rows}
        return "" if got == want else f"tickets differ: {len(got - want)} extra, {len(want - got)} missing"
    column = column_of(gold)
    if any(column not in r for r in rows):
        return f"no column {column!r} in {body.get('columns')}"
    names = KEYS.get(gold.by, [gold.by] if gold.by else [])
    got = [(tuple(_plain(r.get(n)) for n in names), r.get(column)) for r in rows]
    if len(got) != len(gold_rows):
        return f"{len(got)} rows, expected {len(gold_rows)}"
    if gold.top:  # the same values in the same order; a group may swap only with one of equal value
        every = dict(expected(frames, replace(gold, top=None)))
        for (key, value), (_, want) in zip(got, gold_rows, strict=True):
            if not _same(value, want) or key not in every or not _same(every[key], value):
                return f"ranking differs: got {got}, expected {gold_rows}"
        return ""
    want = dict(gold_rows)
    wrong = [(key, value, want.get(key)) for key, value in got if key not in want or not _same(value, want[key])]
    return "" if not wrong else f"values differ: {wrong[:3]}"


def score(url: str, key: str, root: Path) -> list[Outcome]:
    frames = lake_frames(root)
    headers = {"Authorization": f"Bearer {key}"}
    outcomes = []
    for question, gold in ANSWERABLE:
        answer = requests.post(url + "/v1/nlq", json={"question": question}, headers=headers, timeout=60)
        body = answer.json()
        detail = compare(frames, gold, body) if answer.status_code == 200 else body.get("message", "")
        if answer.status_code == 200 and body.get("question") != question:
            detail = f"echoed {body.get('question')!r}"
        outcomes.append(Outcome(question, "answerable", answer.status_code, answer.status_code == 200 and not detail, detail))
    for question, why in REFUSED:
        answer = requests.post(url + "/v1/nlq", json={"question": question}, headers=headers, timeout=60)
        body = answer.json()
        named = answer.status_code == 422 and bool(body.get("not_understood")) and bool(body.get("examples"))
        outcomes.append(Outcome(question, "refused", answer.status_code, named, why if named else f"answered: {body.get('answer')}"))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    lines = [f"{'kind':<11} {'questions':>9} {'right':>6} {'wrong 200':>9} {'refused':>7} {'score':>7}"]
    for kind in ("answerable", "refused"):
        mine = [o for o in outcomes if o.kind == kind]
        right = sum(o.right for o in mine)
        wrong = sum(o.status == 200 and not o.right for o in mine)
        refused = sum(o.status == 422 for o in mine)
        lines.append(f"{kind:<11} {len(mine):>9} {right:>6} {wrong:>9} {refused:>7} {right / len(mine):>7.0%}")
    misses = [f"  {o.kind}: {o.question!r} -> {o.status}: {o.detail}" for o in outcomes if not o.right]
    return "\n".join(lines + (["not right:", *misses] if misses else []))


def clock() -> datetime:
    """The benchmark's fixed "now": 09:00 UTC on TODAY."""
    return datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC)


def main() -> None:
    from sentiment_pipeline.api.app import create_app
    from sentiment_pipeline.api.keys import KeyStore
    from sentiment_pipeline_tests.helpers import materialized_lake
    from sentiment_pipeline_tests.serving import serving

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="a lake already materialized with nlq_questions.LAKE (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        root = args.root or stack.enter_context(materialized_lake(Path(folder), **LAKE))[0]
        store = KeyStore(Path(folder) / "keys.sqlite")
        key = store.create("bench", {"pii"})
        with serving(create_app(str(root), store, clock=clock)) as url:
            outcomes = score(url, key, root)
    print(f"NLQ question set: {len(ANSWERABLE)} answerable, {len(REFUSED)} to refuse; today is {TODAY} (UTC)")
    print(table(outcomes))


if __name__ == "__main__":
    main()
