"""Read API under concurrent load: many clients for a fixed time, from a second process.

Builds a lake with the real pipeline (sample exports of `--days` days x `--rows` rows,
materialized in process), starts `sentiment-pipeline serve` on 127.0.0.1 in a subprocess,
and runs `--clients` client threads (one HTTP session each) for `--seconds` against a mix
of routes with varied parameters (so some requests miss the response cache and some hit
it, as with real analysts). Prints requests, throughput, p50/p95/p99 latency and errors
per route and overall; exits non-zero if any request failed or none was made.
Run: `python benchmarks/api_load.py` (30 s, 32 clients; `--seconds 3 --clients 4` for a look).
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import requests

from sentiment_pipeline import sample, storage
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.api.reads import GROUPINGS, TABLES
from sentiment_pipeline.definitions import defs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: sentiment_pipeline_tests is not installed
from sentiment_pipeline_tests.serving import free_port

END = date(2025, 1, 31)
TERMS = ["refund", "invoice", "crash", "waiting", "thanks", "router", "error", "login"]
QUESTIONS = [
    "negative tickets by channel between {start} and {end}",
    "average sentiment by product between {start} and {end}",
    "how many negative tickets via email between {start} and {end}",
    "share of negative tickets by day this month",
]


def build_lake(root: Path, days: int, rows: int) -> list[str]:
    """Landing files for ``days`` days ending at END, materialized by the pipeline in one run."""
    os.environ["SENTIMENT_STORAGE_ROOT"] = str(root)
    sample.generate(sample.SampleSpec(out=root / "landing", days=days, rows_per_day=rows, extra_cols=5, end=END))
    first = (END - timedelta(days=days - 1)).isoformat()
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": END.isoformat()}
    job = defs.resolve_implicit_global_asset_job_def()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    assert job.execute_in_process(run_config=quiet, tags=tags, instance=dg.DagsterInstance.ephemeral()).success
    ids = storage.scan_partitions(str(root), "ticket", [END.isoformat()]).select("ticket_id").collect()
    return ids.get_column("ticket_id").head(200).to_list() if ids.height else []


def start_server(root: Path, keys: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "SENTIMENT_STORAGE_ROOT": str(root), "SENTIMENT_API_DB": str(keys)}
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "sentiment_pipeline.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline and server.poll() is None:
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return server, url
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the API did not start: {log.read_text()[-2000:]}")


def request_mix(rng: random.Random, days: int, ticket_ids: list[str]) -> tuple[str, str, str, dict]:
    """(label, method, path, params or JSON body) of one request an analyst might make."""
    first = rng.randrange(days)
    start, end = (END - timedelta(days=first)).isoformat(), (END - timedelta(days=rng.randrange(first + 1))).isoformat()
    span = {"start": start, "end": end}
    choices = [
        ("GET /v1/tables", "GET", "/v1/tables", {}),
        (
            "GET /v1/tables/{name}",
            "GET",
            f"/v1/tables/{rng.choice(TABLES)}",
            {**span, "limit": 100, "offset": rng.choice([0, 100]), "format": rng.choice(["json", "json", "csv", "parquet"])},
        ),
        (
            "GET /v1/tables/ticket?...",
            "GET",
            "/v1/tables/ticket",
            {
                **span,
                "channel": rng.choice(["EMAIL", "chat"]),
                "columns": "ticket_id,created_at,product,cf_0001",
                "order_by": "created_at",
                "desc": "true",
            },
        ),
        (
            "GET /v1/analytics/sentiment",
            "GET",
            "/v1/analytics/sentiment",
            {**span, "group_by": rng.choice(list(GROUPINGS)), **rng.choice([{}, {"order_by": "negative", "desc": "true", "limit": 5}])},
        ),
        ("GET /v1/search", "GET", "/v1/search", {**span, "q": rng.choice(TERMS), "limit": 20}),
        ("GET /v1/reports/daily", "GET", "/v1/reports/daily", {"date": end}),
        ("POST /v1/nlq", "POST", "/v1/nlq", {"question": rng.choice(QUESTIONS).format(**span)}),
    ]
    if ticket_ids:
        choices.append(("GET /v1/tickets/{id}", "GET", f"/v1/tickets/{rng.choice(ticket_ids)}", {}))
    return rng.choice(choices)


def load(url: str, key: str, seconds: float, clients: int, days: int, ticket_ids: list[str]) -> dict[str, list]:
    """Per route: [latencies in seconds, error descriptions]."""
    results: dict[str, list] = defaultdict(lambda: [[], []])
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(number: int) -> None:
        rng = random.Random(number)
        mine: dict[str, list] = defaultdict(lambda: [[], []])
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {key}"
            while time.perf_counter() < deadline:
                label, method, path, params = request_mix(rng, days, ticket_ids)
                body = {"json": params} if method == "POST" else {"params": params}
                began = time.perf_counter()
                try:
                    answer = session.request(method, url + path, timeout=30, **body)  # reads the whole body
                    problem = None if answer.status_code == 200 else f"{answer.status_code} {answer.text[:200]}"
                except requests.RequestException as error:
                    problem = repr(error)
                mine[label][0].append(time.perf_counter() - began)
                if problem:
                    mine[label][1].append(f"{method} {path} {params}: {problem}")
        with lock:
            for label, (latencies, errors) in mine.items():
                results[label][0].extend(latencies)
                results[label][1].extend(errors)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(results)


def table(results: dict[str, list], seconds: float) -> str:
    def percentile(ordered: list[float], share: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else 0.0

    lines = [f"{'route':<28}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"]
    rows = [(label, sorted(latencies), len(errors)) for label, (latencies, errors) in sorted(results.items())]
    rows.append(("all", sorted(t for _, ordered, _ in rows for t in ordered), sum(errors for *_, errors in rows)))
    for label, ordered, errors in rows:
        lines.append(
            f"{label:<28}{len(ordered):>10}{len(ordered) / seconds:>9.1f}{percentile(ordered, 0.5):>9.1f}"
            f"{percentile(ordered, 0.95):>9.1f}{percentile(ordered, 0.99):>9.1f}{errors:>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--days", type=int, default=14, help="days in the generated lake")
    parser.add_argument("--rows", type=int, default=400, help="tickets per day")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="api-load-") as work:
        root, keys = Path(work) / "data", Path(work) / "keys.sqlite"
        ticket_ids = build_lake(root, args.days, args.rows)
        key = KeyStore(keys).create("load", {"pii"})
        server, url = start_server(root, keys, Path(work) / "server.log")
        try:
            results = load(url, key, args.seconds, args.clients, args.days, ticket_ids)
        finally:
            server.terminate()
            server.wait(timeout=30)
        server_errors = [line for line in (Path(work) / "server.log").read_text().splitlines() if "Traceback" in line]
    print(f"{args.clients} clients for {args.seconds:g} s over {args.days} days x {args.rows} tickets, server: one uvicorn process")
    print(table(results, args.seconds))
    errors = [e for _, failed in results.values() for e in failed]
    for error in errors[:10]:
        print("error:", error)
    if server_errors:
        print(f"the server logged {len(server_errors)} traceback(s)")
    return 1 if errors or server_errors or not any(v[0] for v in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
