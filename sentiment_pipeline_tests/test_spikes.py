"""Spikes of negative sentiment: the core against a plain-Python recomputation (loops and a
beta-binomial tail summed term by term from ``math.lgamma``) on planted spikes, its false-flag
rate on pure noise, its minimums on thin data; then the ``sentiment_alerts`` asset over a
lake the pipeline materialized, its WARN check and its one webhook post per new spike."""

import logging
from collections import defaultdict
from datetime import date, timedelta
from math import exp, lgamma

import dagster as dg
import numpy as np
import polars as pl
import pytest

from sentiment_pipeline import spikes
from sentiment_pipeline.api.reads import DateRange, Reader
from sentiment_pipeline.defs.alerts import WEBHOOK_URL_VARIABLE, notify_spikes
from sentiment_pipeline.defs.analytics.assets import sentiment_alerts
from sentiment_pipeline.schemas import SENTIMENT_ALERTS
from sentiment_pipeline.settings import lake_roots

from .helpers import materialize, read_partition, run_whole_graph
from .serving import free_port

ALPHA = spikes.DEFAULT_ALPHA
GROUP = ("dimension", "entity_type", "value")


# --- the independent computation ---------------------------------------------------------


def log_beta(a: float, b: float) -> float:
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def tail(k: int, n: int, a: float, b: float) -> float:
    """P(X >= k), X ~ BetaBinomial(n, a, b): the pmf from lgamma, summed term by term."""
    total = 0.0
    for x in range(k, n + 1):
        log_choose = lgamma(n + 1) - lgamma(x + 1) - lgamma(n - x + 1)
        total += exp(log_choose + log_beta(x + a, n - x + b) - log_beta(a, b))
    return total


def expected_flags(rows: list[dict], day: date, alpha: float) -> dict[tuple, dict]:
    """The flags of ``day`` by the rules in words: baseline = the 28 days before, tested =
    n >= 10, k >= 5, N >= 28; flagged = p <= alpha / tested and a share above the baseline's."""
    today, baseline = {}, defaultdict(lambda: [0, 0])
    for row in rows:
        group = tuple(row[name] for name in GROUP)
        if row["date"] == day:
            today[group] = (row["tickets"], row["negative"])
        elif day - timedelta(days=28) <= row["date"] < day:
            baseline[group][0] += row["tickets"]
            baseline[group][1] += row["negative"]
    tested = [g for g, (n, k) in today.items() if n >= 10 and k >= 5 and baseline[g][0] >= 28]
    flags = {}
    for group in tested:
        (n, k), (big_n, big_k) = today[group], baseline[group]
        p = tail(k, n, big_k + 1, big_n - big_k + 1)
        if p <= alpha / len(tested) and k / n > big_k / big_n:
            flags[group] = {"tickets": n, "negative": k, "baseline_tickets": big_n, "baseline_negative": big_k, "p_value": p}
            flags[group].update(threshold=alpha / len(tested), tested=len(tested))
    return flags


def as_dict(flags: pl.DataFrame) -> dict[tuple, dict]:
    return {tuple(row[name] for name in GROUP): row for row in flags.iter_rows(named=True)}


def same_flags(got: pl.DataFrame, want: dict[tuple, dict]) -> None:
    found = as_dict(got)
    assert set(found) == set(want)
    for group, expected in want.items():
        row = found[group]
        for name in ("tickets", "negative", "baseline_tickets", "baseline_negative", "tested"):
            assert row[name] == expected[name], (group, name)
        assert row["p_value"] == pytest.approx(expected["p_value"], rel=1e-9, abs=0), group
        assert row["threshold"] == pytest.approx(expected["threshold"], rel=1e-12)
        assert row["share_negative"] == pytest.approx(expected["negative"] / expected["tickets"])
        assert row["baseline_share"] == pytest.approx(expected["baseline_negative"] / expected["baseline_tickets"])


# --- the core ----------------------------------------------------------------------------

START = date(2025, 1, 1)
GROUPS = [
    *(("product", None, name) for name in ("CloudSync", "StreamBox 4K", "HomeCam 360", "FitBand Go")),
    *(("channel", None, name) for name in ("email", "chat", "phone")),
    ("entity", "product", "CloudSync"),
    ("entity", "error_code", "E1042"),
    ("entity", "version", "v2.3.1"),
]


def noisy_rows(rng: np.random.Generator, groups: list[tuple], days: int) -> list[dict]:
    """Each group on each day: Poisson tickets around its own volume, binomial negatives at its own
    fixed share; about one day in twenty missing (never materialized)."""
    volumes = rng.uniform(8, 80, len(groups))
    shares = rng.uniform(0.05, 0.35, len(groups))
    rows = []
    for offset in range(days):
        if rng.random() < 0.05:
            continue
        for group, volume, share in zip(groups, volumes, shares, strict=True):
            tickets = int(rng.poisson(volume))
            rows.append(dict(zip(GROUP, group, strict=True), date=START + timedelta(days=offset), tickets=tickets))
            rows[-1]["negative"] = int(rng.binomial(tickets, share))
    return rows


def counts_of(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=spikes.COUNTS)


def test_planted_spikes_are_flagged_with_the_recomputed_p_values_and_nothing_else():
    rng = np.random.default_rng(19)
    rows = noisy_rows(rng, GROUPS, days=36)
    day = START + timedelta(days=35)
    rows = [row for row in rows if row["date"] != day]
    planted = {("product", None, "StreamBox 4K"): (40, 24), ("entity", "error_code", "E1042"): (15, 11)}
    for group in GROUPS:  # the test day: every group at 30 tickets and 5 negatives, two of them much worse
        tickets, negative = planted.get(group, (30, 5))
        rows.append(dict(zip(GROUP, group, strict=True), date=day, tickets=tickets, negative=negative))

    verdict = spikes.find_spikes(counts_of(rows), day, ALPHA)

    want = expected_flags(rows, day, ALPHA)
    assert set(want) == set(planted)  # the recomputation finds the planted spikes and nothing else
    same_flags(verdict.flags, want)
    assert verdict.tested == len(GROUPS) and verdict.flags.schema == pl.Schema(SENTIMENT_ALERTS)
    assert verdict.flags.get_column("p_value").is_sorted()
    lift = verdict.flags.select((pl.col("share_negative") / pl.col("baseline_share") - pl.col("lift")).abs().max()).item()
    assert lift < 1e-12
    print("planted spikes:", {group[-1]: row["p_value"] for group, row in as_dict(verdict.flags).items()})


def test_the_tail_keeps_its_digits_where_one_minus_the_cdf_loses_them():
    """SciPy's ``betabinom.sf`` is 1 - cdf: a strong spike's p-value has no digit left there."""
    from scipy.stats import betabinom

    k, n, a, b = np.array([24, 30, 11]), np.array([40, 30, 15]), np.array([40.0, 2.0, 60.0]), np.array([500.0, 100.0, 300.0])
    want = [tail(int(k_), int(n_), a_, b_) for k_, n_, a_, b_ in zip(k, n, a, b, strict=True)]
    assert spikes.upper_tail(k, n, a, b) == pytest.approx(want, rel=1e-9, abs=0)
    assert want[1] < 1e-20 and betabinom.sf(k[1] - 1, n[1], a[1], b[1]) != pytest.approx(want[1], rel=0.5, abs=0)


def test_noise_flags_at_most_alpha_of_the_days():
    """25 groups, 400 tested days, each group at a fixed share: any flag is a false one."""
    groups = [("product", None, f"P{n:02}") for n in range(15)] + [("entity", "error_code", f"E{n:04}") for n in range(10)]
    rows = noisy_rows(np.random.default_rng(7), groups, days=428)
    counts = counts_of(rows)
    days = [START + timedelta(days=offset) for offset in range(28, 428)]
    rates = {}
    for alpha in (0.01, 0.05):
        flagged = sum(spikes.find_spikes(counts, day, alpha).flags.height > 0 for day in days)
        rates[alpha] = flagged / len(days)
        assert rates[alpha] <= alpha, (alpha, flagged)
    print("share of noise days with any flag, by alpha:", rates)


def test_groups_below_the_minimums_are_not_tested():
    day = START + timedelta(days=28)
    baseline = [(28, 1), (100, 10), (27, 0), (100, 10)]  # (tickets, negatives) over the 28 days before
    today = [(9, 9), (20, 4), (30, 30), (50, 5)]  # too few tickets, too few negatives, thin baseline, ordinary
    rows = []
    for index, ((big_n, big_k), (n, k)) in enumerate(zip(baseline, today, strict=True)):
        group = {"dimension": "product", "entity_type": None, "value": f"P{index}"}
        rows.append({**group, "date": day - timedelta(days=3), "tickets": big_n, "negative": big_k})
        rows.append({**group, "date": day, "tickets": n, "negative": k})
    rows.append({"dimension": "channel", "entity_type": None, "value": "new", "date": day, "tickets": 50, "negative": 50})  # no baseline
    verdict = spikes.find_spikes(counts_of(rows), day)
    assert verdict.tested == 1 and verdict.flags.is_empty()  # only the ordinary group counts in m
    assert expected_flags(rows, day, ALPHA) == {}


def test_group_counts_from_the_aggregates():
    summary = pl.DataFrame(
        {
            "date": [START] * 3,
            "channel": ["email", "email", None],
            "product": ["CloudSync", None, "CloudSync"],
            "tickets": [10, 5, 2],
            "negative": [4, 1, 2],
        }
    )
    mentions = pl.DataFrame(
        {
            "date": [START] * 4,
            "type": ["error_code", "email", "version", "product"],
            "normalized": ["E1042", "ana@example.com", "v2.3.1", "CloudSync"],
            "tickets": [3, 1, 2, 7],
            "negative": [2, 1, None, 3],  # a day written before the column existed: not read as zero
        }
    )
    counts = spikes.group_counts(summary, mentions)
    assert counts.select(*GROUP, "tickets", "negative").rows() == [
        ("channel", None, "email", 15, 5),
        ("entity", "error_code", "E1042", 3, 2),
        ("entity", "product", "CloudSync", 7, 3),
        ("product", None, "CloudSync", 12, 6),
    ]


def test_new_flags_are_those_the_stored_day_did_not_have():
    flags = pl.DataFrame(
        [{"date": START, "dimension": "product", "entity_type": None, "value": v} for v in ("A", "B")]
        + [{"date": START, "dimension": "entity", "entity_type": "version", "value": "v1.0"}],
        schema={name: SENTIMENT_ALERTS[name] for name in ("date", *GROUP)},
    )
    assert spikes.new_flags(flags, flags.head(0)).height == 3
    assert spikes.new_flags(flags, flags.slice(1)).get_column("value").to_list() == ["A"]


def test_window_covers_each_day_and_its_baseline():
    assert spikes.window_keys(["2025-03-01", "2025-03-03"])[0] == "2025-02-01"
    assert len(spikes.window_keys(["2025-03-01", "2025-03-03"])) == 31
    assert spikes.baseline_keys("2025-03-01") == [(date(2025, 2, 1) + timedelta(days=n)).isoformat() for n in range(28)]


# --- the webhook ---------------------------------------------------------------------------

FLAG = {
    "date": START,
    "dimension": "product",
    "entity_type": None,
    "value": "CloudSync",
    "tickets": 20,
    "negative": 15,
    "share_negative": 0.75,
    "baseline_tickets": 60,
    "baseline_negative": 6,
    "baseline_share": 0.1,
    "lift": 7.5,
    "p_value": 1e-9,
    "threshold": 0.002,
    "tested": 5,
}


@pytest.mark.parametrize("target", ["closed port", "http 500", "unset"])
def test_a_failed_or_missing_webhook_is_logged_never_raised(webhook, monkeypatch, caplog, target):
    url, received = webhook
    if target == "unset":
        monkeypatch.delenv(WEBHOOK_URL_VARIABLE, raising=False)
    else:
        base = f"http://127.0.0.1:{free_port()}" if target == "closed port" else url
        monkeypatch.setenv(WEBHOOK_URL_VARIABLE, f"{base}/hooks/secret-token/500")
    with caplog.at_level(logging.INFO):
        outcome = notify_spikes(logging.getLogger("test"), "run1", [FLAG])
    assert "secret-token" not in outcome and "secret-token" not in caplog.text
    if target == "unset":
        assert "no webhook configured" in outcome and received == []
    else:
        assert outcome.startswith("could not post 1 new spike(s)") and caplog.records[-1].levelno == logging.WARNING
        assert len(received) == (1 if target == "http 500" else 0)


# --- the asset over a materialized lake ------------------------------------------------------

BASELINE_DAYS, SPIKE_DAY = ["2025-03-01", "2025-03-02"], "2025-03-03"
NEGATIVE_TEXT = "Still waiting for my refund, I was charged twice and nobody answers. This is unacceptable."
POSITIVE_TEXT = "Thanks a lot, it works now. Great support!"
# (tickets, negatives) per product and day: CloudSync turns bad on the spike day, StreamBox does not.
PLAN = {day: {"CloudSync": (30, 3), "StreamBox 4K": (30, 3)} for day in BASELINE_DAYS} | {
    SPIKE_DAY: {"CloudSync": (20, 15), "StreamBox 4K": (20, 2)}
}


def landing_csv(day: str) -> str:
    lines = ["ticket_id,created_at,subject,body,channel,product"]
    for product, (tickets, negatives) in PLAN[day].items():
        for n in range(tickets):
            text = NEGATIVE_TEXT if n < negatives else POSITIVE_TEXT
            channel = ("email", "chat")[n % 2]
            lines.append(f'{product[:2]}{day}-{n},{day}T{8 + n % 10:02}:00:00Z,About {product},"{product}: {text}",{channel},{product}')
    return "\n".join(lines) + "\n"


def spike_checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """The no_spikes result of each day of the run."""
    return {e.partition: e for e in result.get_asset_check_evaluations() if e.check_name == "no_spikes"}


def test_asset_flags_the_planted_day_warns_and_posts_new_flags_once(local_storage, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv(WEBHOOK_URL_VARIABLE, f"{url}/hooks/secret")
    for day in PLAN:
        (local_storage / "landing" / day).mkdir(parents=True)
        (local_storage / "landing" / day / "tickets.csv").write_text(landing_csv(day))

    first = run_whole_graph({"dagster/asset_partition_range_start": BASELINE_DAYS[0], "dagster/asset_partition_range_end": SPIKE_DAY})

    assert first.success
    labels = read_partition("sentiment", SPIKE_DAY).join(read_partition("ticket", SPIKE_DAY), on="ticket_id")
    assert labels.filter(pl.col("product") == "CloudSync").get_column("label").value_counts().sort("label").rows() == [
        ("negative", 15),
        ("positive", 5),
    ]  # the classifier read the planted texts as planted
    root = lake_roots().storage_root
    counts, _ = spikes.read_counts(root, [*BASELINE_DAYS, SPIKE_DAY])
    for day in PLAN:
        flags = read_partition("sentiment_alerts", day).drop("partition_date")
        same_flags(flags, expected_flags(counts.to_dicts(), date.fromisoformat(day), ALPHA))
    flags = as_dict(read_partition("sentiment_alerts", SPIKE_DAY))
    print("flags of the planted day:", {group: row["p_value"] for group, row in flags.items()})
    assert {("product", None, "CloudSync"), ("entity", "product", "CloudSync")} <= set(flags)
    assert not any(group[-1] == "StreamBox 4K" for group in flags)

    checks = spike_checks(first)
    assert [day for day, check in checks.items() if not check.passed] == [SPIKE_DAY]  # each day its own result
    check = checks[SPIKE_DAY]
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["flags"].value == check.metadata["new_flags"].value == len(flags)
    described = check.description.removeprefix(f"{SPIKE_DAY}: ").split("; ")
    assert "product CloudSync: 75% negative (15/20) vs 10% over the 28 days before (6/60), p=6.5e-08" in described
    assert "entity product CloudSync: 75% negative (15/20) vs 10% over the 28 days before (6/60), p=6.5e-08" in described
    assert check.metadata["notification"].value == f"posted {len(flags)} new spike(s) to the webhook"
    [alert] = received
    assert {(s["date"], s["dimension"], s["value"]) for s in alert["spikes"]} == {(SPIKE_DAY, g[0], g[2]) for g in flags}
    assert alert["text"].startswith(f"{len(flags)} new spike(s) of negative tickets") and "CloudSync" in alert["text"]

    again = materialize([sentiment_alerts], partition_key=SPIKE_DAY)

    assert again.success and len(received) == 1  # the day's flags were already known: nothing posted twice
    assert spike_checks(again)[SPIKE_DAY].metadata["new_flags"].value == 0 and not spike_checks(again)[SPIKE_DAY].passed
    assert as_dict(read_partition("sentiment_alerts", SPIKE_DAY)).keys() == flags.keys()
    [materialization] = again.asset_materializations_for_node("sentiment_alerts")
    assert materialization.metadata["baseline_days_present"].value == 2
    page = Reader(root).table("sentiment_alerts", DateRange.parse(SPIKE_DAY, SPIKE_DAY))
    assert page.total == len(flags) and page.frame.columns == list(SENTIMENT_ALERTS)
