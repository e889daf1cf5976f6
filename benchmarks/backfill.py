"""Backfill cost: a range of days as one run (our BackfillPolicy.single_run) against one run per day.

Both ways go through the real CLI on a fresh SQLite instance, with the same landing files
and the whole graph (ticket -> sentiment/entity -> aggregates): `dagster asset materialize
--partition-range A...B` once, and `dagster asset materialize --partition D` once per day,
which is what a backfill without a single-run policy costs (a run, a process start-up and
a step process per asset, for every day). Wall time, and the ratio, from the same run.
Run: `python benchmarks/backfill.py` (30 days of 300 tickets; about 10 minutes on 2 cores).
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sentiment_pipeline import sample

REPO = Path(__file__).resolve().parents[1]
DAGSTER = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "dagster"
END = date(2025, 3, 31)


def materialize(home: Path, root: Path, partition_args: list[str]) -> float:
    env = {**os.environ, "DAGSTER_HOME": str(home), "SENTIMENT_STORAGE_ROOT": str(root), "SENTIMENT_PARTITIONS_START": "2025-01-01"}
    started = time.perf_counter()
    subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "sentiment_pipeline.definitions", "--select", "*", *partition_args],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def fresh(folder: Path, landing: Path) -> tuple[Path, Path]:
    home, root = folder / "home", folder / "data"
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    shutil.copytree(landing, root / "landing")
    return home, root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--tickets", type=int, default=300)
    args = parser.parse_args()
    days = [(END - timedelta(days=n)).isoformat() for n in reversed(range(args.days))]
    with tempfile.TemporaryDirectory() as folder:
        landing = Path(folder, "landing")
        sample.generate(sample.SampleSpec(out=landing, days=args.days, rows_per_day=args.tickets, extra_cols=20, end=END, dirty=False))
        home, root = fresh(Path(folder, "range"), landing)
        one_run = materialize(home, root, ["--partition-range", f"{days[0]}...{days[-1]}"])
        home, root = fresh(Path(folder, "per_day"), landing)
        per_day = sum(materialize(home, root, ["--partition", day]) for day in days)
        written = len(list(Path(root, "ticket").rglob("*.parquet")))
    print(f"\n{args.days}-day backfill of the whole graph, {args.tickets} tickets a day, via `dagster asset materialize`\n")
    print("| way                                   | runs | wall time | per day | x single run |")
    print("|---------------------------------------|------|-----------|---------|--------------|")
    print(f"| one run for the range (single_run)    | {1:>4} | {one_run:>8.1f}s | {one_run / args.days:>6.2f}s | {1:>12.2f} |")
    print(
        f"| one run per day                       | {args.days:>4} | {per_day:>8.1f}s | {per_day / args.days:>6.2f}s | {per_day / one_run:>12.2f} |"
    )
    print(f"\nticket objects written by the per-day way: {written} (one per day)")


if __name__ == "__main__":
    main()
