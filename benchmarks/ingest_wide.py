"""Ingest benchmark: landing days through the `ticket` asset against what a user would pick
instead, on the same CSV, measured in the same run.

Three days, each with realistic text (most bodies are e-mails with quoted line breaks, quotes,
commas and non-ASCII names):
  wide   the sample generator's day: 10,000 tickets x 1,600 custom columns (~90 MB)
  long   the sample generator's day: 200,000 tickets x 40 custom columns (~90 MB)
  jira   a Jira "all fields" export (`sample.jira_export`): 10,000 issues x 1,600
         `Custom field (...)` columns, repeated Labels/Component/s/Watchers/Comment headers,
         `14/Jul/25 3:42 PM` dates, comments, through the built-in Jira profile
Runs, each in a fresh interpreter (its own peak RSS, VmHWM), interleaved, median of --repeat:
  ingest step        dg.materialize of ticket + ticket_rejects: Dagster's step time
  ingest, whole call the same call's wall time, run setup included
  polars text        scan_csv(infer_schema=False) -> sink_parquet: every column as text, no checks
  polars inferred    scan_csv (types from the first 100 rows) -> sink_parquet
  duckdb             COPY (FROM read_csv(all_varchar = true)) TO parquet
  pandas             read_csv(dtype=str) -> to_parquet: what the platform we replace did
Targets (issue 17): the ingest step within 2.5x polars text, faster than DuckDB's COPY,
peak RSS under 500 MB, every row in ticket or ticket_rejects.

Run: `make bench`, or `python benchmarks/ingest_wide.py [--days wide,long,jira] [--repeat N]`.
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
DAYS = {"wide": (10_000, 1_600), "long": (200_000, 40), "jira": (10_000, 1_600)}

# Peak RSS is VmHWM, the process's own high-water mark. Not ru_maxrss: subprocess starts
# children with vfork + exec, and Linux carries the parent's high-water mark over the exec.
REPORT = """
import json
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "step": step, "peak_mb": hwm / 1024}))
"""
COPIES = {
    "polars text": "import polars as pl\npl.scan_csv(source, infer_schema=False).sink_parquet(target)",
    "polars inferred": "import polars as pl\npl.scan_csv(source).sink_parquet(target)",
    "duckdb": (
        "import duckdb\nconnection = duckdb.connect(config={'autoinstall_known_extensions': False})\n"
        "connection.execute(f\"COPY (FROM read_csv('{source}', all_varchar = true)) TO '{target}' (FORMAT parquet)\")"
    ),
    "pandas": "import pandas as pd\npd.read_csv(source, dtype=str, keep_default_na=False).to_parquet(target)",
}
COPY = """
import sys, time
source, target = sys.argv[1], sys.argv[2]
{imports}
start = time.perf_counter()
{work}
seconds = step = time.perf_counter() - start
"""
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


def copy_code(name: str) -> str:
    """The baseline's script: its imports before the clock starts, like the ingest's."""
    imports, _, work = COPIES[name].partition("\n")
    return COPY.format(imports=imports, work=work) + REPORT


def timed(code: str, *args: str, env: dict | None = None) -> tuple[float, float, float]:
    """(seconds of the work, seconds of the step, peak RSS MB) of one fresh interpreter."""
    completed = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"run failed:\n{completed.stderr[-3000:]}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return report["seconds"], report["step"], report["peak_mb"]


def land(kind: str, landing: Path) -> tuple[Path, int]:
    """The day's CSV under ``landing`` and its number of data rows."""
    from sentiment_pipeline import sample

    rows, columns = DAYS[kind]
    folder = landing / DAY.isoformat()
    if kind == "jira":
        folder.mkdir(parents=True)
        path = folder / "jira-all-fields.csv"
        path.write_text(sample.jira_export(rows, columns, DAY))
        return path, rows
    sample.generate(sample.SampleSpec(out=landing, days=1, rows_per_day=rows, extra_cols=columns, end=DAY))
    for extra in folder.glob("*.jsonl"):  # the CSV alone, so every run reads the same input
        extra.unlink()
    return next(folder.glob("*.csv")), rows


def compare(kind: str, repeat: int) -> None:
    import polars as pl

    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as folder:
        root = Path(folder) / "data"
        started = time.perf_counter()
        csv, rows = land(kind, root / "landing")
        generated = time.perf_counter() - started
        env = {**os.environ, "SENTIMENT_STORAGE_ROOT": str(root), "DAGSTER_HOME": folder}
        for variable in ("SENTIMENT_LANDING_ROOT", "SENTIMENT_SOURCES"):
            env.pop(variable, None)
        target = str(Path(folder) / "copy.parquet")
        results: dict[str, list] = {"ingest": [], **{name: [] for name in COPIES}}
        for _ in range(repeat):  # interleaved, so all see the same machine load
            results["ingest"].append(timed(INGEST, DAY.isoformat(), env=env))
            for name in COPIES:
                results[name].append(timed(copy_code(name), str(csv), target))
        kept = pl.scan_parquet(next((root / "ticket").rglob("*.parquet"))).select(pl.len()).collect().item()
        rejected = pl.scan_parquet(next((root / "ticket_rejects").rglob("*.parquet"))).select(pl.len()).collect().item()
        csv_mb = csv.stat().st_size / 1e6
    assert kept + rejected == rows, f"{kind}: {kept} tickets + {rejected} rejects != {rows} rows"

    def median(name: str, index: int) -> float:
        return statistics.median(run[index] for run in results[name])

    text, duckdb = median("polars text", 0), median("duckdb", 0)
    print(
        f"\n{kind} day: CSV {csv_mb:.0f} MB, {rows:,} rows x {DAYS[kind][1]:,} custom columns (generated in {generated:.0f} s); "
        f"{kept:,} tickets + {rejected:,} rejects = every row; median of {repeat}\n"
    )
    print(f"| {'run':<50} | {'seconds':>7} | {'x polars text':>13} | {'x duckdb':>8} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 52}|{'-' * 9}|{'-' * 15}|{'-' * 10}|{'-' * 13}|")
    lines = [
        ("ingest step: ticket + ticket_rejects (step time)", "ingest", 1),
        ("ingest, whole dg.materialize call", "ingest", 0),
        ("polars scan_csv(all text) -> sink_parquet", "polars text", 0),
        ("polars scan_csv(types inferred) -> sink_parquet", "polars inferred", 0),
        ("DuckDB COPY read_csv(all_varchar) -> parquet", "duckdb", 0),
        ("pandas read_csv(dtype=str) -> to_parquet", "pandas", 0),
    ]
    for label, name, index in lines:
        seconds, rss = median(name, index), max(run[2] for run in results[name])
        print(f"| {label:<50} | {seconds:>7.2f} | {seconds / text:>13.2f} | {seconds / duckdb:>8.2f} | {rss:>11.0f} |")
    print("runs (call s, step s, MB):", json.dumps({k: [[round(x, 3) for x in run] for run in v] for k, v in results.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", default="wide,long,jira", help="comma-separated: wide, long, jira")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for kind in args.days.split(","):
        compare(kind.strip(), args.repeat)


if __name__ == "__main__":
    main()
