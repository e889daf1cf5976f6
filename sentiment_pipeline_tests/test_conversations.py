"""Conversations: a ticket's messages in order with their authors' roles and scores, the
customer's trajectory, the `comment` asset over a range, and the API's view of both."""

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import requests

from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.conversations import messages, score_messages, ticket_sentiment
from sentiment_pipeline.defs.enrich.assets import comment, sentiment
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.ingest import LandingFile, ingest_day

from .helpers import api_keys, materialize, read_partition, run_whole_graph
from .serving import serving

ANGRY = "This is terrible. The router is still broken and nothing works!"
HAPPY = "Thank you so much, it works perfectly now!"
PLAIN = "I have attached the log file from the router."
# A Jira "all fields" export (Cloud: comment authors are account ids; the Reporter and
# Assignee columns have them beside the names). Comment columns are not in time order.
JIRA = f"""Summary,Issue key,Created,Reporter,Reporter Id,Assignee,Assignee Id,Description,Comment,Comment,Comment
Router drops,CONV-1,14/Jul/25 8:00 AM,Jürgen Müller,qm:111,Ana Souza,5b222,"{ANGRY}","14/Jul/25 11:00 AM;qm:111;{HAPPY}","14/Jul/25 9:00 AM;5b222;Please update the firmware to v2.3.2 and restart the router.",
Billing address,CONV-2,14/Jul/25 8:30 AM,Élodie Fournier,qm:222,Li Wei,5b333,"How do I change my billing address? I moved last month.","14/Jul/25 10:00 AM;Sam Lee;Following this ticket.","14/Jul/25 12:00 PM;qm:222;This is ridiculous. I am still waiting and nobody helps!",
Same crash,CONV-3,14/Jul/25 9:15 AM,Tom O'Brien,qm:333,Li Wei,5b333,"{ANGRY}","14/Jul/25 1:00 PM;qm:333;Still broken. Nothing changed and it crashes again!","14/Jul/25 10:30 AM;5b333;{PLAIN}",
Firmware,CONV-4,14/Jul/25 9:45 AM,Priya Nair,qm:444,Ana Souza,5b222,"{ANGRY}","14/Jul/25 2:00 PM;5b222;We have fixed the issue, sorry for the trouble.",,
"""


def adf(text: str) -> dict:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


JIRA_JSON = {
    "issues": [
        {
            "key": "CONV-9",
            "fields": {
                "summary": "VPN broken",
                "description": adf(ANGRY),
                "created": "2025-07-14T10:00:00.000+0200",
                "reporter": {"displayName": "Klaus Bäcker"},
                "assignee": {"displayName": "Jane Smith"},
                "comment": {
                    "comments": [
                        {"author": {"displayName": "Jane Smith"}, "body": adf(PLAIN), "created": "2025-07-14T11:00:00.000+0200"},
                        {
                            "author": {"displayName": "Ana Souza"},
                            "body": adf("Adding our VPN team."),
                            "created": "2025-07-14T11:30:00.000+0200",
                        },
                        {"author": {"displayName": "Klaus Bäcker"}, "body": adf(HAPPY), "created": "2025-07-14T12:00:00.000+0200"},
                    ]
                },
            },
        }
    ]
}


def conversation_day() -> dict[str, bytes]:
    return {"jira.csv": JIRA.encode(), "jira.json": json.dumps(JIRA_JSON).encode()}


def scored_conversations() -> tuple[pl.DataFrame, pl.DataFrame]:
    files = [LandingFile(f"landing/2025-07-14/{name}", content=content) for name, content in conversation_day().items()]
    tickets = ingest_day(files, datetime(2025, 7, 15, tzinfo=UTC)).tickets.collect()
    scored = score_messages(messages(tickets))
    return scored, ticket_sentiment(scored)


def test_messages_come_in_time_order_with_their_authors_roles():
    scored, _ = scored_conversations()
    rows = {(r["ticket_id"], r["seq"]): r for r in scored.iter_rows(named=True)}
    assert [(r["author"], r["role"]) for (t, _), r in sorted(rows.items()) if t == "CONV-1"] == [
        ("Jürgen Müller", "customer"),  # the opening message (subject + body)
        ("Ana Souza", "agent"),  # 9:00, the second Comment column: the assignee's id, shown by name
        ("Jürgen Müller", "customer"),  # 11:00, the first Comment column
    ]
    assert rows[("CONV-1", 0)]["text"] == f"Router drops. {ANGRY}"
    assert rows[("CONV-1", 0)]["created_at"] == datetime(2025, 7, 14, 8, 0, tzinfo=UTC)
    assert [r["created_at"] for (t, _), r in sorted(rows.items()) if t == "CONV-1"] == sorted(
        r["created_at"] for (t, _), r in rows.items() if t == "CONV-1"
    )
    assert rows[("CONV-2", 1)]["role"] == "other"  # a watcher: neither the customer nor an agent
    assert (rows[("CONV-3", 1)]["author"], rows[("CONV-3", 1)]["role"]) == ("Li Wei", "agent")
    assert [(r["author"], r["role"]) for (t, _), r in sorted(rows.items()) if t == "CONV-9"] == [
        ("Klaus Bäcker", "customer"),
        ("Jane Smith", "agent"),
        ("Ana Souza", "agent"),  # not this ticket's assignee, but another ticket's of the day
        ("Klaus Bäcker", "customer"),
    ]
    assert rows[("CONV-9", 3)]["text"] == HAPPY and rows[("CONV-9", 3)]["created_at"] == datetime(2025, 7, 14, 10, 0, tzinfo=UTC)
    assert scored.group_by("ticket_id").agg(openings=(pl.col("seq") == 0).sum()).get_column("openings").to_list() == [1] * 5


def test_the_trajectory_follows_the_customer_and_ignores_the_agents():
    scored, tickets = scored_conversations()
    labels = {(r["ticket_id"], r["seq"]): r["label"] for r in scored.iter_rows(named=True)}
    assert labels[("CONV-1", 0)] == "negative" and labels[("CONV-1", 2)] == "positive"
    moved = {r["ticket_id"]: (r["trajectory"], r["first_customer_label"], r["last_customer_label"]) for r in tickets.iter_rows(named=True)}
    assert moved == {
        "CONV-1": ("improving", "negative", "positive"),
        "CONV-2": ("declining", "neutral", "negative"),
        "CONV-3": ("stable", "negative", "negative"),
        "CONV-4": ("single", "negative", "negative"),  # the agent's happy reply does not count
        "CONV-9": ("improving", "negative", "positive"),
    }
    opening = scored.filter(pl.col("seq") == 0).sort("ticket_id")
    assert tickets.sort("ticket_id").get_column("compound").to_list() == opening.get_column("compound").to_list()


def land(root: Path, days: list[str]) -> None:
    for day in days:
        folder = root / "landing" / day
        folder.mkdir(parents=True)
        for name, content in conversation_day().items():
            (folder / name).write_bytes(content.replace(b"CONV-", f"C{day[-2:]}-".encode()))


def test_a_range_backfill_writes_one_comment_object_per_day(local_storage):
    days = ["2025-07-13", "2025-07-14", "2025-07-15"]
    land(local_storage, days[1:])  # the first day has no landing folder: an empty day
    tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    result = materialize([ingest, comment, sentiment], tags=tags)
    assert result.success
    objects = sorted(p.relative_to(local_storage / "comment").as_posix() for p in (local_storage / "comment").rglob("*.parquet"))
    assert objects == [f"year=2025/month=07/day={d[-2:]}/comment-{d}.parquet" for d in days]
    assert read_partition("comment", days[0]).height == 0
    assert read_partition("comment", days[1]).height == read_partition("comment", days[2]).height == 3 + 3 + 3 + 2 + 4
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["one_opening_message"] and checks["messages_add_up"] and checks["trajectory_known"]
    figures = {m.partition: m.metadata for m in result.asset_materializations_for_node("sentiment")}
    assert [figures[day]["tickets"].value for day in days] == [0, 5, 5]
    assert all(
        (figures[day]["improving"].value, figures[day]["declining"].value, figures[day]["single"].value) == (2, 1, 1) for day in days[1:]
    )


def test_the_api_shows_conversations_and_groups_by_trajectory(local_storage, tmp_path):
    land(local_storage, ["2025-07-14"])
    assert run_whole_graph({"dagster/partition": "2025-07-14"}).success
    store = KeyStore(tmp_path / "keys.sqlite")
    key = {"Authorization": f"Bearer {api_keys(store)['plain']}"}
    days = {"start": "2025-07-14", "end": "2025-07-14"}
    with serving(create_app(str(local_storage), store)) as url:
        ticket = requests.get(f"{url}/v1/tickets/C14-1", headers=key, timeout=30).json()
        grouped = requests.get(f"{url}/v1/analytics/sentiment", params={**days, "group_by": "trajectory"}, headers=key, timeout=30).json()
        declining = requests.get(
            f"{url}/v1/analytics/sentiment", params={**days, "group_by": "channel", "trajectory": "declining"}, headers=key, timeout=30
        ).json()
        agents = requests.get(f"{url}/v1/tables/daily_agent_summary", params=days, headers=key, timeout=30).json()
    assert [(m["seq"], m["role"], m["label"]) for m in ticket["conversation"]] == [
        (0, "customer", "negative"),
        (1, "agent", "neutral"),
        (2, "customer", "positive"),
    ]
    assert ticket["sentiment"]["trajectory"] == "improving" and "year" not in ticket["sentiment"]
    assert {row["trajectory"]: row["tickets"] for row in grouped["rows"]} == {"improving": 2, "declining": 1, "stable": 1, "single": 1}
    assert [row["tickets"] for row in declining["rows"]] == [1]
    by_agent = {row["agent_id"]: row for row in agents["rows"]}
    # Ana Souza: CONV-1 and CONV-4 opened negative; CONV-1 ended positive, CONV-4 did not move
    assert (by_agent["Ana Souza"]["opened_negative"], by_agent["Ana Souza"]["improving"], by_agent["Ana Souza"]["turnaround_share"]) == (
        2,
        1,
        0.5,
    )
    assert by_agent["Li Wei"]["declining"] == 1 and by_agent["Jane Smith"]["turnaround_share"] == 1.0


def test_a_day_before_conversations_reads_without_them(local_storage):
    """A lake written before the comment asset: the ticket route answers, with no conversation."""
    land(local_storage, ["2025-07-14"])
    assert run_whole_graph({"dagster/partition": "2025-07-14"}).success
    for path in (local_storage / "comment").rglob("*.parquet"):
        path.unlink()
    store = KeyStore(local_storage / "keys.sqlite")
    key = {"Authorization": f"Bearer {api_keys(store)['plain']}"}
    with serving(create_app(str(local_storage), store)) as url:
        answer = requests.get(f"{url}/v1/tickets/C14-2", headers=key, timeout=30)
    assert answer.status_code == 200 and answer.json()["conversation"] == []
    assert date.fromisoformat(answer.json()["partition"]) == date(2025, 7, 14)
