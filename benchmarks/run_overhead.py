"""Run overhead: what a whole-graph run of a small day costs beyond its work, through the CLI
as the schedule, the sensor and the UI launch it.

Measured in one run, on a fresh Dagster instance and lake:
  import     `python -c "import sentiment_pipeline.definitions"`: loading the code location
  one day    `dagster asset materialize --select '*' --partition D` of a 400-ticket day
  30 days    `dagster asset materialize --select '*' --partition-range A...B` of 30 such days
Target (issue 17): one day within the import time + 6 s.

Run: `python benchmarks/run_overhead.py [--rows 400] [--days 30] [--repeat 3]`.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

END = date(2025, 3, 30)


def wall(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from sentiment_pipeline import sample

    dagster = str(Path(sys.executable).parent / "dagster")
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as folder:
        root = Path(folder) / "data"
        home = Path(folder) / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster.yaml").read_text())
        sample.generate(sample.SampleSpec(out=root / "landing", days=args.days, rows_per_day=args.rows, extra_cols=40, end=END))
        env = {**os.environ, "SENTIMENT_STORAGE_ROOT": str(root), "DAGSTER_HOME": str(home)}
        for variable in ("SENTIMENT_LANDING_ROOT", "SENTIMENT_SOURCES"):
            env.pop(variable, None)
        materialize = [dagster, "asset", "materialize", "-m", "sentiment_pipeline.definitions", "--select", "*"]
        first = END - timedelta(days=args.days - 1)
        imports, one_day = [], []
        for _ in range(args.repeat):
            imports.append(wall([sys.executable, "-c", "import sentiment_pipeline.definitions"], env))
            one_day.append(wall([*materialize, "--partition", END.isoformat()], env))
        month = wall([*materialize, "--partition-range", f"{first}...{END}"], env)

    imported, day = statistics.median(imports), statistics.median(one_day)
    print(f"\nwhole-graph runs through the CLI, {args.rows} tickets a day; median of {args.repeat} (the range: one run)\n")
    print(f"| {'run':<52} | {'seconds':>7} | {'- import':>8} |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 10}|")
    print(f"| {'import the code location':<52} | {imported:>7.2f} | {'':>8} |")
    print(f"| {'one day, every asset (target: import + 6 s)':<52} | {day:>7.2f} | {day - imported:>8.2f} |")
    print(f"| {f'{args.days} days, every asset, one run':<52} | {month:>7.2f} | {month - imported:>8.2f} |")
    print(f"\none day within import + 6 s: {day <= imported + 6}; runs (s): import {imports}, day {one_day}")


if __name__ == "__main__":
    main()
