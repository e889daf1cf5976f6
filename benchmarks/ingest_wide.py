"""Wide-day ingest benchmark: the `ticket` asset vs polars scan_csv -> sink_parquet of the same file.

Builds one landing day of 10,000 rows x 1,600 custom columns (plus the canonical ones),
then runs, each in a fresh subprocess so peak RSS is its own:
  baseline  polars scan_csv -> sink_parquet of the same CSV (the near-limit: no validation)
  ingest    dg.materialize of ticket + ticket_rejects for that partition (validation,
            dedupe, typing, lineage, rejects, through the IO manager)
and prints wall time, peak RSS and the ratio to the baseline. Targets (issue 3): ingest
within 2x the baseline's time, peak RSS under 500 MB. Run: `make bench` (or
`python benchmarks/ingest_wide.py --rows 10000 --cols 1600 --repeat 3`).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

DAY = date(2025, 3, 1)

# Each child times its own work (imports excluded) and reports it with its peak RSS.
REPORT = """
import json, resource
print(json.dumps({"seconds": seconds, "step": step, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BASELINE = """
import sys, time, polars as pl
start = time.perf_counter()
pl.scan_csv(sys.argv[1]).sink_parquet(sys.argv[2], compression="snappy")
seconds = step = time.perf_counter() - start
""" + REPORT

INGEST = """
import sys, time, dagster as dg
from sentiment_pipeline.ingest_assets import ingest
from sentiment_pipeline.io_manager import ParquetIOManager
start = time.perf_counter()
result = dg.materialize([ingest], resources={"parquet_io_manager": ParquetIOManager()}, partition_key=sys.argv[1])
seconds = time.perf_counter() - start
assert result.success
[step] = [e.event_specific_data.duration_ms / 1000 for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
""" + REPORT


def timed(code: str, *args: str, env: dict | None = None) -> tuple[float, float, float]:
    """Seconds of the work, seconds of the step (the asset's own work) and peak RSS (MB)
    of one fresh interpreter running ``code``."""
    completed = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, env=env, capture_output=True, text=True
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return report["seconds"], report["step"], report["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--cols", type=int, default=1_600)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from sentiment_pipeline import sample

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as folder:
        root = Path(folder) / "data"
        sample.generate(sample.SampleSpec(out=root / "landing", days=1, rows_per_day=args.rows, extra_cols=args.cols, end=DAY))
        csv = next((root / "landing" / DAY.isoformat()).glob("*.csv"))
        env = {**__import__("os").environ, "SENTIMENT_STORAGE_ROOT": str(root), "DAGSTER_HOME": folder}
        results = {"baseline": [], "ingest": []}
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            results["baseline"].append(timed(BASELINE, str(csv), str(Path(folder) / "baseline.parquet")))
            results["ingest"].append(timed(INGEST, DAY.isoformat(), env=env))
        size_mb = csv.stat().st_size / 1e6
        ticket = next((root / "ticket").rglob("*.parquet"))
        import polars as pl

        shape = pl.scan_parquet(ticket).select(pl.len()).collect().item(), len(pl.scan_parquet(ticket).collect_schema())

    def median(name: str, index: int) -> float:
        return statistics.median(run[index] for run in results[name])

    base = median("baseline", 0)
    print(f"\nwide day: {args.rows:,} rows x {args.cols:,} custom columns, CSV {size_mb:.0f} MB "
          f"(+ JSON lines); ticket partition: {shape[0]:,} rows x {shape[1]:,} columns; median of {args.repeat}\n")
    print(f"| {'run':<52} | {'seconds':>7} | {'x baseline':>10} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 12}|{'-' * 13}|")
    rows = [
        ("baseline: polars scan_csv -> sink_parquet", "baseline", 0),
        ("ingest step: ticket + ticket_rejects (Dagster's step time)", "ingest", 1),
        ("ingest, whole dg.materialize call (run setup included)", "ingest", 0),
    ]
    for label, name, index in rows:
        seconds = median(name, index)
        rss = max(run[2] for run in results[name])
        print(f"| {label:<52} | {seconds:>7.2f} | {seconds / base:>10.2f} | {rss:>11.0f} |")
    print("\nseconds: the work in a fresh process, imports excluded; peak RSS: the whole process.")
    print("runs (call s, step s, MB):", json.dumps({k: [[round(x, 3) for x in run] for run in v] for k, v in results.items()}))

if __name__ == "__main__":
    main()
