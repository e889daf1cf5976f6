"""Ingest benchmark: a landing day through the `ticket` asset vs polars scan_csv -> sink_parquet
of the same CSV, measured in the same run.

Two shapes of day matter: wide (the default: 10,000 rows x 1,600 custom columns, ~86 MB,
issue 3's targets: within 2x the baseline's time, peak RSS under 500 MB) and big
(`--rows 440000 --cols 40`: a ~200 MB CSV of realistic tickets, issue 8: it streams through).
Each run is a fresh subprocess, so its peak RSS is its own:
  baseline  polars scan_csv -> sink_parquet of the CSV (no validation: the near-limit);
            it types columns from their first 100 rows, so "000123" codes become integers
  text      the same with every column read as text, as `ticket` keeps custom fields:
            the near-limit for the asset's output, still without any validation
  checks    each check every row needs, alone, with the ingest's own functions on the
            whole CSV (read into memory first): quoting and line ends, every row's field
            count, the judged columns. "text + checks" adds them up: about the floor, on
            two cores, for any design that writes text columns and checks every row (the
            text run alone already keeps both cores busy: ~1.8 s of CPU per second)
  ingest    dg.materialize of ticket + ticket_rejects for the partition (validation,
            dedupe, typing, lineage, rejects, through the IO manager to local Parquet)
It prints wall time (imports excluded), Dagster's step time, peak RSS, the ratio to the
baseline, and checks that every input row landed in ticket or ticket_rejects.

Then a Jira-shaped day of the same size (`sample.jira_export`: a Jira "all fields" export
with repeated Labels/Component/s/Watchers/Comment headers, `14/Jul/25 3:42 PM` dates, e-mail
bodies and comments with quoted line breaks, the custom fields as `Custom field (...)`),
through the built-in Jira profile, against polars all-text and DuckDB's all-varchar COPY
of the same file (what a user would pick instead; neither maps or checks anything).

Run: `make bench`, or `python benchmarks/ingest_wide.py [--rows N --cols N --repeat N] [--no-jira]`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2025, 3, 1)

# Peak RSS is VmHWM, the process's own high-water mark. Not ru_maxrss: subprocess starts
# children with vfork + exec, and Linux carries the parent's high-water mark over the exec
# (signal->maxrss), so every child would report at least this script's peak (the generated
# sample: ~1 GB).
REPORT = """
import json
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "step": step, "peak_mb": hwm / 1024}))
"""

BASELINE = (
    """
import sys, time, polars as pl
start = time.perf_counter()
pl.scan_csv(sys.argv[1], infer_schema=sys.argv[3] == "infer").sink_parquet(sys.argv[2], compression="snappy")
seconds = step = time.perf_counter() - start
"""
    + REPORT
)

CHECKS = (
    """
import sys, time, polars as pl
from sentiment_pipeline.ingest import blocks, csv_reader, rules
path, check = sys.argv[1], sys.argv[2]
with open(path, "rb") as file:
    data = file.read()
csv_file = csv_reader.CsvFile.open(path, None, data[: 1 << 20])
body, delimiter, width = data[csv_file.header_bytes :], csv_file.delimiter, len(csv_file.names)
start = time.perf_counter()
if check == "quoting":
    assert not csv_reader.misread(body, delimiter, body.count(b'"'))
elif check == "fields":
    assert csv_reader.arrow_rows(body, delimiter, width) is not None
else:
    mapping, _ = rules.canonical_names(csv_file.names)
    judged = [source for source, name in mapping.items() if name in rules.JUDGED_COLUMNS]
    columns = [csv_file.names.index(name) for name in judged]
    rows = pl.read_csv(body, has_header=False, columns=columns, infer_schema=False, row_index_name=blocks.ROW, row_index_offset=1)
    rules.judge(rows.rename(dict(zip(rows.columns[1:], judged))), rules.plan_for(blocks.Source(path, judged, None)))
seconds = step = time.perf_counter() - start
"""
    + REPORT
)

DUCKDB = (
    """
import sys, time, duckdb
start = time.perf_counter()
connection = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
source, target = sys.argv[1].replace("'", "''"), sys.argv[2].replace("'", "''")
connection.execute(f"COPY (FROM read_csv('{source}', all_varchar = true)) TO '{target}' (FORMAT parquet, COMPRESSION snappy)")
seconds = step = time.perf_counter() - start
"""
    + REPORT
)

CHECK_NAMES = {
    "quoting": "checks alone: quoting and line ends (bytes)",
    "fields": "checks alone: every row's field count (pyarrow)",
    "judged": "checks alone: parse and judge the 4 judged columns",
}

INGEST = (
    """
import sys, time, dagster as dg
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.defs.resources import pipeline_resources
start = time.perf_counter()
result = dg.materialize([ingest], resources=pipeline_resources(), partition_key=sys.argv[1])
seconds = time.perf_counter() - start
assert result.success
[step] = [e.event_specific_data.duration_ms / 1000 for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
"""
    + REPORT
)


def timed(code: str, *args: str, env: dict | None = None) -> tuple[float, float, float]:
    """(seconds of the work, seconds of the step, peak RSS MB) of one fresh interpreter."""
    completed = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"run failed:\n{completed.stderr[-3000:]}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return report["seconds"], report["step"], report["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="tickets in the CSV (440k x 40 columns is ~200 MB)")
    parser.add_argument("--cols", type=int, default=1_600, help="custom field columns")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-jira", action="store_true", help="skip the Jira-shaped day")
    args = parser.parse_args()
    canonical_day(args)
    if not args.no_jira:
        jira_day(args)


def canonical_day(args: argparse.Namespace) -> None:
    """The sample generator's day (canonical headers and aliases) through every comparison."""
    import polars as pl

    from sentiment_pipeline import sample

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        root = Path(folder) / "data"
        started = time.perf_counter()
        sample.generate(sample.SampleSpec(out=root / "landing", days=1, rows_per_day=args.rows, extra_cols=args.cols, end=DAY))
        generated = time.perf_counter() - started
        landing = root / "landing" / DAY.isoformat()
        csv = next(landing.glob("*.csv"))
        day_mb = sum(p.stat().st_size for p in landing.iterdir()) / 1e6
        csv_mb = csv.stat().st_size / 1e6
        env = {**os.environ, "SENTIMENT_STORAGE_ROOT": str(root), "DAGSTER_HOME": folder}
        env.pop("SENTIMENT_LANDING_ROOT", None)
        results = {"baseline": [], "text": [], **{check: [] for check in CHECK_NAMES}, "ingest": []}
        for _ in range(args.repeat):  # interleaved, so all see the same machine load
            results["baseline"].append(timed(BASELINE, str(csv), str(Path(folder) / "baseline.parquet"), "infer"))
            results["text"].append(timed(BASELINE, str(csv), str(Path(folder) / "baseline.parquet"), "text"))
            for check in CHECK_NAMES:
                results[check].append(timed(CHECKS, str(csv), check))
            results["ingest"].append(timed(INGEST, DAY.isoformat(), env=env))
        tickets = pl.scan_parquet(next((root / "ticket").rglob("*.parquet")))
        rejects = pl.scan_parquet(next((root / "ticket_rejects").rglob("*.parquet")))
        kept, rejected = tickets.select(pl.len()).collect().item(), rejects.select(pl.len()).collect().item()
        columns = len(tickets.collect_schema())
        csv_rows = pl.scan_csv(csv).select(pl.len()).collect().item()
        json_rows = sum(1 for line in next(landing.glob("*.jsonl")).open() if line.strip())
        written_mb = (sum(p.stat().st_size for p in (root / "ticket").rglob("*.parquet"))) / 1e6

    def median(name: str, index: int) -> float:
        return statistics.median(run[index] for run in results[name])

    base, text = median("baseline", 0), median("text", 0)
    print(
        f"\nday: CSV {csv_mb:.0f} MB ({day_mb:.0f} MB with the JSON lines), "
        f"{csv_rows:,} CSV rows + {json_rows:,} JSON lines x {args.cols} custom columns (generated in {generated:.0f} s); "
        f"ticket partition: {kept:,} rows x {columns} columns, {written_mb:.0f} MB; rejects: {rejected:,}; median of {args.repeat}\n"
    )
    assert kept + rejected == csv_rows + json_rows, "every input row lands in ticket or ticket_rejects"
    print(f"| {'run':<58} | {'seconds':>7} | {'x baseline':>10} | {'x text':>6} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 60}|{'-' * 9}|{'-' * 12}|{'-' * 8}|{'-' * 13}|")

    def measured(label: str, name: str, index: int) -> tuple[str, float, str]:
        return label, median(name, index), f"{max(run[2] for run in results[name]):.0f}"

    floor = text + sum(median(check, 0) for check in CHECK_NAMES)
    rows = [
        measured("baseline: polars scan_csv -> sink_parquet (CSV only)", "baseline", 0),
        measured("text: the same, every column as text", "text", 0),
        *(measured(label, check, 0) for check, label in CHECK_NAMES.items()),
        ("text + checks (their sum, not a run)", floor, ""),
        measured("ingest step: ticket + ticket_rejects (Dagster's step time)", "ingest", 1),
        measured("ingest, whole dg.materialize call (run setup included)", "ingest", 0),
    ]
    for label, seconds, rss in rows:
        print(f"| {label:<58} | {seconds:>7.2f} | {seconds / base:>10.2f} | {seconds / text:>6.2f} | {rss:>11} |")
    print("\nseconds: the work in a fresh process, imports excluded; peak RSS: the whole process.")
    print("runs (call s, step s, MB):", json.dumps({k: [[round(x, 3) for x in run] for run in v] for k, v in results.items()}))


def jira_day(args: argparse.Namespace) -> None:
    """A Jira "all fields" export of the same size through the Jira profile, against polars
    all-text and DuckDB all-varchar copies of the same file."""
    import polars as pl

    from sentiment_pipeline import sample

    with tempfile.TemporaryDirectory(prefix="bench-jira-") as folder:
        root = Path(folder) / "data"
        landing = root / "landing" / DAY.isoformat()
        landing.mkdir(parents=True)
        csv = landing / "jira-all-fields.csv"
        started = time.perf_counter()
        csv.write_text(sample.jira_export(args.rows, args.cols, DAY))
        generated = time.perf_counter() - started
        env = {**os.environ, "SENTIMENT_STORAGE_ROOT": str(root), "DAGSTER_HOME": folder}
        env.pop("SENTIMENT_LANDING_ROOT", None)
        env.pop("SENTIMENT_SOURCES", None)
        out = str(Path(folder) / "copy.parquet")
        results = {"text": [], "duckdb": [], "ingest": []}
        for _ in range(args.repeat):
            results["text"].append(timed(BASELINE, str(csv), out, "text"))
            results["duckdb"].append(timed(DUCKDB, str(csv), out))
            results["ingest"].append(timed(INGEST, DAY.isoformat(), env=env))
        tickets = pl.scan_parquet(next((root / "ticket").rglob("*.parquet")))
        kept = tickets.select(pl.len()).collect().item()
        rejected = pl.scan_parquet(next((root / "ticket_rejects").rglob("*.parquet"))).select(pl.len()).collect().item()
        columns = len(tickets.collect_schema())
        comments = tickets.select(pl.col("comments").list.len().sum()).collect().item()
        csv_mb = csv.stat().st_size / 1e6

    def median(name: str, index: int) -> float:
        return statistics.median(run[index] for run in results[name])

    text = median("text", 0)
    print(
        f"\nJira-shaped day: CSV {csv_mb:.0f} MB, {args.rows:,} issues x {args.cols} custom fields (generated in {generated:.0f} s); "
        f"ticket partition: {kept:,} rows x {columns} columns, {comments:,} comments; rejects: {rejected:,}; median of {args.repeat}\n"
    )
    assert kept + rejected == args.rows, "every input row lands in ticket or ticket_rejects"
    print(f"| {'run':<58} | {'seconds':>7} | {'x polars text':>13} | {'x duckdb':>8} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 60}|{'-' * 9}|{'-' * 15}|{'-' * 10}|{'-' * 13}|")
    for label, name, index in [
        ("polars scan_csv(all text) -> sink_parquet (no mapping)", "text", 0),
        ("DuckDB COPY read_csv(all_varchar) -> parquet (no mapping)", "duckdb", 0),
        ("ingest step through the Jira profile (Dagster's step time)", "ingest", 1),
        ("ingest, whole dg.materialize call (run setup included)", "ingest", 0),
    ]:
        seconds, rss = median(name, index), max(run[2] for run in results[name])
        print(f"| {label:<58} | {seconds:>7.2f} | {seconds / text:>13.2f} | {seconds / median('duckdb', 0):>8.2f} | {rss:>11.0f} |")
    print("runs (call s, step s, MB):", json.dumps({k: [[round(x, 3) for x in run] for run in v] for k, v in results.items()}))


if __name__ == "__main__":
    main()
