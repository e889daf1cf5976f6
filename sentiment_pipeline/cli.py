"""``sentiment-pipeline``: the project's command line (sample data now; the API server later)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from sentiment_pipeline import sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sentiment-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate-sample", help="write realistic landing files: <out>/YYYY-MM-DD/*.csv|*.jsonl"
    )
    generate.add_argument("--out", type=Path, required=True, help="landing root to write into")
    generate.add_argument("--days", type=int, default=3, help="number of days, ending at --end")
    generate.add_argument("--rows-per-day", type=int, default=500)
    generate.add_argument("--extra-cols", type=int, default=40, help="custom-field columns in the CSV export")
    generate.add_argument("--end", type=date.fromisoformat, help="last day (YYYY-MM-DD); default yesterday, UTC")
    generate.add_argument("--clean", action="store_true", help="no deliberately bad rows")
    generate.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.command == "generate-sample":
        if args.days < 1 or args.rows_per_day < 0 or args.extra_cols < 0:
            parser.error("--days must be at least 1; --rows-per-day and --extra-cols not negative")
        spec = sample.SampleSpec(
            out=args.out,
            days=args.days,
            rows_per_day=args.rows_per_day,
            extra_cols=args.extra_cols,
            end=args.end,
            dirty=not args.clean,
            seed=args.seed,
        )
        written = sample.generate(spec)
        days = sorted({p.parent.name for p in written})
        print(f"wrote {len(written)} files for {days[0]}...{days[-1]} under {args.out}")


if __name__ == "__main__":
    main()
