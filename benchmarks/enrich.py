"""Enrich benchmark: sentiment throughput on both cores vs a plain vaderSentiment loop,
entity extraction time for a 10,000-ticket day, and the `comment` step's messages per second
(splitting Jira-shaped conversations into messages and scoring each) on 1 and 2 processes.

All figures are measured in this run on the same texts: realistic ticket texts from the
sample generator (subject + body). Targets (issue 4): our parallel scoring at least 1.8x
the throughput of the single-process vaderSentiment loop, with identical scores to our
single-process run; entity extraction for a 10,000-ticket day under 1 s. The support layer
alone and with the classifier (the default model, issue 16) are both shown; the classifier's
one-off fit (about a second per process) is outside the timings.
Run: `make bench` (or `python benchmarks/enrich.py --texts 20000`).
"""

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from sentiment_pipeline import sample
from sentiment_pipeline.conversations import messages, score_messages
from sentiment_pipeline.entities import extract_entities, product_catalog
from sentiment_pipeline.ingest import LandingFile, ingest_day
from sentiment_pipeline.sentiment import Model, score_texts, ticket_text


def sample_tickets(count: int) -> pl.DataFrame:
    with tempfile.TemporaryDirectory() as folder:
        sample.generate(sample.SampleSpec(out=Path(folder), days=1, rows_per_day=count, extra_cols=0, end=date(2025, 3, 1), dirty=False))
        files = [LandingFile(str(p), p.read_bytes()) for p in sorted(Path(folder, "2025-03-01").iterdir())]
        return ingest_day(files, sample.datetime.now(sample.UTC)).tickets.select("ticket_id", "subject", "body").collect()


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    tickets = sample_tickets(args.texts)
    texts = tickets.select(ticket_text(tickets)).to_series()
    as_list = texts.to_list()
    analyzer = SentimentIntensityAnalyzer()

    def vader_loop():
        return [analyzer.polarity_scores(text) for text in as_list]

    single = score_texts(texts, Model(), workers=1)  # also fits the classifier, outside the timings
    parallel = score_texts(texts, Model(), workers=2)
    identical = single.equals(parallel)

    rows = [("vaderSentiment loop, 1 process (baseline)", best_of(args.repeat, vader_loop))]
    for model in (Model(trained=False), Model()):
        for workers in (1, 2):
            label = f"ours ({model.name}), {workers} process{'es' if workers > 1 else ''}"
            rows.append((label, best_of(args.repeat, lambda model=model, workers=workers: score_texts(texts, model, workers=workers))))
    base = rows[0][1]
    print(f"\nsentiment: {len(as_list):,} ticket texts (subject + body), median of {args.repeat}\n")
    print(f"| {'run':<50} | {'seconds':>7} | {'texts/s':>8} | {'x baseline throughput':>21} |")
    print(f"|{'-' * 52}|{'-' * 9}|{'-' * 10}|{'-' * 23}|")
    for label, seconds in rows:
        print(f"| {label:<50} | {seconds:>7.3f} | {len(as_list) / seconds:>8,.0f} | {base / seconds:>21.2f} |")
    print(f"\nscores of the 2-process run identical to the 1-process run: {identical}")

    day = tickets.head(10_000)
    catalog = product_catalog()
    seconds = best_of(args.repeat, lambda: extract_entities(day, catalog))
    found = extract_entities(day, catalog)
    print(f"\nentities: {day.height:,} tickets -> {found.height:,} mentions in {seconds:.3f} s (median of {args.repeat}; target < 1 s)")
    print(found.group_by("type").len().sort("type").rows())

    conversations = jira_tickets(args.texts // 4)
    split = messages(conversations)
    message_texts = split.get_column("text").to_list()
    rows = [
        (
            "vaderSentiment loop over the texts, 1 process",
            best_of(args.repeat, lambda: [analyzer.polarity_scores(t) for t in message_texts]),
        ),
        ("comment step core: split + score, 1 process", best_of(args.repeat, lambda: score_messages(messages(conversations), workers=1))),
        ("comment step core: split + score, 2 processes", best_of(args.repeat, lambda: score_messages(messages(conversations), workers=2))),
    ]
    print(f"\ncomment: {conversations.height:,} Jira tickets -> {split.height:,} messages (opening + comments), median of {args.repeat}\n")
    print(f"| {'run':<46} | {'seconds':>7} | {'messages/s':>10} | {'x vader loop':>12} |")
    print(f"|{'-' * 48}|{'-' * 9}|{'-' * 12}|{'-' * 14}|")
    for label, seconds in rows:
        print(f"| {label:<46} | {seconds:>7.3f} | {split.height / seconds:>10,.0f} | {rows[0][1] / seconds:>12.2f} |")


def jira_tickets(count: int) -> pl.DataFrame:
    """A Jira "all fields" day (sample.jira_export) through the ingest: tickets with comments."""
    export = sample.jira_export(count, 10, date(2025, 3, 1)).encode()
    files = [LandingFile("landing/2025-03-01/jira.csv", content=export)]
    return ingest_day(files, sample.datetime.now(sample.UTC)).tickets.collect()


if __name__ == "__main__":
    main()
