"""Real helpdesk exports: each built-in source profile on a realistic fixture of that tool's
layout (``data/exports``, values in ``expected.json`` worked out from the tools' documented
formats), the sources file, date-order evidence, and a mixed day through Dagster."""

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import requests

from sentiment_pipeline import cli, sample
from sentiment_pipeline.api.app import create_app
from sentiment_pipeline.api.keys import KeyStore
from sentiment_pipeline.defs.ingest.assets import ingest
from sentiment_pipeline.ingest import LandingFile, ingest_day
from sentiment_pipeline.ingest.sources import SourcesFileError, load_profiles

from .helpers import api_keys, materialize, read_partition, run_whole_graph, s3_keys
from .serving import serving

EXPORTS = Path(__file__).parent / "data" / "exports"
EXPECTED = json.loads((EXPORTS / "expected.json").read_text())
PROFILE_OF = {
    "jira_all_fields.csv": "jira",
    "jira_search_v3.json": "jira_json",
    "zendesk_incremental.json": "zendesk",
    "zendesk_tickets_array.json": "zendesk",
    "freshdesk_tickets.csv": "freshdesk",
    "servicenow_incident.csv": "servicenow",
    "salesforce_cases.csv": "salesforce",
    "helpscout_conversations.csv": "helpscout",
}
HELPSCOUT_SOURCES = EXPORTS / "helpscout_sources.toml"
STAMP = datetime(2025, 7, 15, tzinfo=UTC)


def ingest_files(files: dict[str, bytes], sources: Path | None = None):
    """The day of these files (name -> content) through the profiles of ``sources``."""
    landing = [LandingFile(f"landing/2025-07-14/{name}", content=content) for name, content in files.items()]
    day = ingest_day(landing, STAMP, load_profiles(sources))
    return day.tickets.collect(), day.outcome()


def as_expected(ticket: dict) -> dict:
    """A ticket row in expected.json's terms: times as UTC ISO text, comments likewise."""

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    shown = {**ticket, "created_at": iso(ticket["created_at"]), "resolved_at": iso(ticket["resolved_at"])}
    shown["comments"] = [{**c, "created_at": iso(c["created_at"])} for c in ticket["comments"]]
    return shown


@pytest.mark.parametrize("name", list(PROFILE_OF))
def test_each_source_lands_with_exact_canonical_values_and_its_custom_columns(name):
    tickets, outcome = ingest_files({name: (EXPORTS / name).read_bytes()}, HELPSCOUT_SOURCES if name.startswith("helpscout") else None)

    [summary] = outcome.sources
    assert summary["profile"] == PROFILE_OF[name] and summary["rejects"] == 0 and outcome.rejects.height == 0
    expected = EXPECTED[name]
    got = {row["ticket_id"]: as_expected(row) for row in tickets.iter_rows(named=True)}
    assert set(got) == set(expected["tickets"])
    for ticket_id, values in expected["tickets"].items():
        assert {field: got[ticket_id][field] for field in values} == values, ticket_id
    assert set(expected["custom_columns"]) <= set(tickets.columns)


def test_a_tool_without_a_profile_is_one_sources_file_away():
    """Help Scout writes 14.07.2025 15:42:11 in Europe/Berlin (UTC+2 in July): the sources
    file's format and zone make it 13:42:11 UTC; its tags split on ' | '."""
    content = (EXPORTS / "helpscout_conversations.csv").read_bytes()
    without, outcome = ingest_files({"helpscout_conversations.csv": content})
    assert without.height == 0 and outcome.rejects.height == 5
    assert "no source profile matches this file" in outcome.rejects.get_column("reason")[0]
    assert "'Conversation #'" in outcome.rejects.get_column("reason")[0]

    tickets, _ = ingest_files({"helpscout_conversations.csv": content}, HELPSCOUT_SOURCES)
    written = next(csv.DictReader(io.StringIO(content.decode())))
    local = datetime.strptime(written["Opened"], "%d.%m.%Y %H:%M:%S").replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert tickets.filter(pl.col("ticket_id") == written["Conversation #"]).get_column("created_at")[0] == local.astimezone(UTC)
    assert local.utcoffset().total_seconds() == 2 * 3600  # summer time: the zone, not a fixed offset, decides
    assert tickets.get_column("channel").unique().to_list() == ["email"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[source]\nname = 'x'", "not valid TOML"),
        ("[[source]]\nname = 'x'\nmatch = ['a']\nzone = 'UTC'\n[source.columns]\nticket_id = 'a'\ncreated_at = 'b'", "entry 1 ('x'): unknown key 'zone'"),
        ("[[source]]\nname = 'x'\nmatch = ['a']\n[source.columns]\ncreated_at = 'b'", "entry 1 ('x'): [source.columns] must map 'ticket_id'"),
        ("[[source]]\nname = 'x'\nmatch = ['a']\ntimezone = 'Mars/Olympus'\n[source.columns]\nticket_id = 'a'\ncreated_at = 'b'",
         "entry 1 ('x'): key 'timezone' 'Mars/Olympus' is not an IANA timezone"),
        ("[[source]]\nname = 'jira'\n[source.columns]\nticket = 'Issue key'", "entry 1 ('jira'): columns key 'ticket' is not a canonical column"),
        ("[[source]]\nname = 'x'\nmatch = ['a']\nchannel = 'fax'\n[source.columns]\nticket_id = 'a'\ncreated_at = 'b'", "key 'channel' is 'fax'"),
        ("[[source]]\nmatch = ['a']", "entry 1: key 'name' is required"),
    ],
)  # fmt: skip
def test_a_broken_sources_file_fails_naming_the_file_the_entry_and_the_key(tmp_path, text, message):
    path = tmp_path / "sources.toml"
    path.write_text(text)
    with pytest.raises(SourcesFileError, match=r"sources file .*sources\.toml") as raised:
        load_profiles(path)
    assert message in str(raised.value)


def jira_csv(created: list[str]) -> bytes:
    rows = "".join(f'SUP-{n},Summary {n},"{when}",Medium\n' for n, when in enumerate(created, start=1))
    return f"Issue key,Summary,Created,Priority\n{rows}".encode()


@pytest.mark.parametrize(
    ("created", "first", "order"),
    [
        (["6/21/2025 16:14", "7/2/2025 09:00"], datetime(2025, 6, 21, 16, 14, tzinfo=UTC), "month first"),
        (["21/6/2025 16:14", "2/7/2025 09:00"], datetime(2025, 6, 21, 16, 14, tzinfo=UTC), "day first"),
        (["6/7/2025 16:14"], datetime(2025, 6, 7, 16, 14, tzinfo=UTC), "month first (assumed: no date in the file settles it)"),
    ],
)
def test_numeric_dates_are_read_in_the_order_the_file_itself_shows(created, first, order):
    tickets, outcome = ingest_files({"jira.csv": jira_csv(created)})
    assert tickets.get_column("created_at")[0] == first
    assert outcome.sources[0]["date order"] == order
    assert tickets.get_column("priority").to_list() == ["normal"] * len(created)


def test_a_sources_file_settles_the_date_format_and_zone_of_a_built_in_profile(tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text('[[source]]\nname = "jira"\ntimezone = "America/New_York"\ntimestamp_format = "%d/%m/%Y %H:%M"\n')
    tickets, outcome = ingest_files({"jira.csv": jira_csv(["6/7/2025 16:14"])}, sources)
    assert tickets.get_column("created_at")[0] == datetime(2025, 7, 6, 20, 14, tzinfo=UTC)  # EDT is UTC-4
    assert "date order" not in outcome.sources[0]


def test_unreadable_source_values_are_row_rejects_saying_what_was_expected():
    content = (
        "Issue key,Summary,Created,Comment\n"
        'SUP-1,Fine,14/Jul/25 3:42 PM,"14/Jul/25 4:05 PM;jsmith;Looking; into it"\n'
        "SUP-2,Bad date,yesterday-ish,\n"
        'SUP-3,Bad comment date,14/Jul/25 3:42 PM,"soon;jsmith;hm"\n'
    )
    tickets, outcome = ingest_files({"jira.csv": content.encode()})
    assert tickets.get_column("ticket_id").to_list() == ["SUP-1"]
    assert tickets.get_column("comments")[0].to_list() == [
        {"created_at": datetime(2025, 7, 14, 16, 5, tzinfo=UTC), "author": "jsmith", "text": "Looking; into it"}
    ]
    reasons = dict(zip(outcome.rejects.get_column("ticket_id"), outcome.rejects.get_column("reason"), strict=True))
    assert reasons["SUP-2"].startswith("created_at 'yesterday-ish' is not a jira timestamp ('%d/%b/%y %I:%M %p'")
    assert reasons["SUP-3"].startswith("a comment's date 'soon' is not a jira timestamp")


def test_a_wide_jira_export_streams_through_the_fast_reader():
    """1,600 custom fields, quoted line breaks in bodies and comments: no row-by-row reading,
    every custom column kept by name, repeated headers mapped by position."""
    text = sample.jira_export(300, 1_600, date(2025, 7, 14))
    tickets, outcome = ingest_files({"jira.csv": text.encode()})
    assert tickets.height == 300 and outcome.rejects.height == 0
    assert not [note for note in outcome.notes if "row by row" in note]
    assert sum(c.startswith("Custom field (") for c in tickets.columns) == 1_600
    assert {"Watchers", "Watchers_2"} <= set(tickets.columns) and "Labels_2" not in tickets.columns
    assert tickets.get_column("comments").list.len().sum() > 0 and tickets.get_column("tags").list.len().min() == 2


def mixed_day(landing: Path) -> dict[str, int]:
    """Every fixture, a canonical sample export and a file no profile matches, in one day
    folder; the input rows each file has."""
    folder = landing / "2025-07-14"
    folder.mkdir(parents=True)
    rows = {}
    for name in PROFILE_OF:
        (folder / name).write_bytes((EXPORTS / name).read_bytes())
        rows[name] = len(EXPECTED[name]["tickets"])
    sample.generate(sample.SampleSpec(out=landing, days=1, rows_per_day=40, extra_cols=5, end=date(2025, 7, 14)))
    (folder / "mystery.csv").write_text("ref,opened\nR1,today\nR2,today\n")
    return rows


def check_mixed_day(result) -> None:
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["rows_conserved"].passed and checks["unique_ticket_ids"].passed and checks["canonical_schema"].passed
    tickets, rejects = read_partition("ticket", "2025-07-14"), read_partition("ticket_rejects", "2025-07-14")
    conserved = checks["rows_conserved"].metadata
    assert conserved["input_rows"].value == tickets.height + conserved["row_rejects"].value
    profiles = set(tickets.get_column("source_file").str.extract(r"([^/]+)$").replace_strict(PROFILE_OF, default="canonical"))
    assert profiles == {*PROFILE_OF.values(), "canonical"}
    for name, expected in EXPECTED.items():
        landed = tickets.filter(pl.col("source_file").str.ends_with(name)).get_column("ticket_id")
        assert sorted(landed) == sorted(expected["tickets"]), name
    mystery = rejects.filter(pl.col("source_file").str.ends_with("mystery.csv"))
    assert mystery.height == 2 and mystery.get_column("reason").str.contains("no source profile matches").all()
    sources = result.asset_materializations_for_node("ingest")[1].metadata["sources"].value
    assert "| jira_all_fields.csv | jira | 7 | 7 | 0 |" in sources and "| mystery.csv | none (canonical layout) | 2 | 0 | 2 |" in sources


def test_a_mixed_day_of_every_source_lands_in_one_partition(local_storage, monkeypatch):
    monkeypatch.setenv("SENTIMENT_SOURCES", str(HELPSCOUT_SOURCES))
    mixed_day(local_storage / "landing")
    check_mixed_day(materialize([ingest], partition_key="2025-07-14"))


def test_a_mixed_day_lands_from_s3_to_s3(s3_storage, monkeypatch, tmp_path):
    """Landing files and assets on moto's S3 server, as in production."""
    import boto3

    monkeypatch.setenv("SENTIMENT_SOURCES", str(HELPSCOUT_SOURCES))
    mixed_day(tmp_path / "landing")
    client = boto3.client("s3")
    for path in (tmp_path / "landing").rglob("*.*"):
        client.upload_file(str(path), s3_storage, f"landing/{path.relative_to(tmp_path / 'landing')}")
    check_mixed_day(materialize([ingest], partition_key="2025-07-14"))
    assert "lake/ticket/year=2025/month=07/day=14/ticket-2025-07-14.parquet" in s3_keys(s3_storage, "lake/ticket/")


def test_a_broken_sources_file_stops_the_run_with_its_message(local_storage, monkeypatch, tmp_path):
    broken = tmp_path / "sources.toml"
    broken.write_text("[[source]]\nname = 'x'\nmatch = ['a']\n")
    monkeypatch.setenv("SENTIMENT_SOURCES", str(broken))
    result = materialize([ingest], partition_key="2025-07-14", raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "entry 1 ('x'): [source.columns] must map 'ticket_id'" in failure.step_failure_data.error.to_string()


def test_sources_check_shows_the_profile_and_mapping_of_each_sample_file(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(
            [
                "sources",
                "check",
                str(HELPSCOUT_SOURCES),
                str(EXPORTS / "helpscout_conversations.csv"),
                str(EXPORTS / "freshdesk_tickets.csv"),
            ]
        )
    shown = capsys.readouterr().out
    assert exited.value.code == 0
    assert "Own profiles: helpscout" in shown
    assert "profile: helpscout" in shown and "Conversation # -> ticket_id" in shown and "rows: 5, tickets: 5, rejects: 0" in shown
    assert "profile: freshdesk" in shown and "Tags -> tags" in shown


def test_sources_check_fails_on_a_broken_file(tmp_path, capsys):
    broken = tmp_path / "sources.toml"
    broken.write_text("[[source]]\nname = 'x'\nmatch = ['a']\nbogus = 1\n")
    with pytest.raises(SystemExit) as exited:
        cli.main(["sources", "check", str(broken)])
    assert exited.value.code == 1 and "unknown key 'bogus'" in capsys.readouterr().err


def test_ticket_detail_shows_the_conversation_masked_like_everything_else(local_storage, monkeypatch, tmp_path):
    monkeypatch.setenv("SENTIMENT_SOURCES", str(HELPSCOUT_SOURCES))
    mixed_day(local_storage / "landing")
    folder = local_storage / "landing" / "2025-07-14"
    (folder / "jira_all_fields.csv").write_text(
        (EXPORTS / "jira_all_fields.csv").read_text().replace("Hi Jürgen; thanks", "Hi Jürgen (juergen.mueller@example.de); thanks")
    )
    assert run_whole_graph({"dagster/partition": "2025-07-14"}).success
    store = KeyStore(tmp_path / "keys.sqlite")
    keys = api_keys(store)
    with serving(create_app(str(local_storage), store)) as url:
        answers = {
            scope: requests.get(f"{url}/v1/tickets/SUP-101", headers={"Authorization": f"Bearer {keys[scope]}"}, timeout=30).json()
            for scope in ("pii", "plain")
        }
    expected = EXPECTED["jira_all_fields.csv"]["tickets"]["SUP-101"]["comments"]
    shown = answers["pii"]["ticket"]["comments"]
    assert [c["author"] for c in shown] == [c["author"] for c in expected]
    assert [c["created_at"] for c in shown] == [c["created_at"] for c in expected]
    assert "juergen.mueller@example.de" in shown[0]["text"]
    masked = answers["plain"]["ticket"]["comments"][0]["text"]
    assert "juergen.mueller@example.de" not in masked and re.search(r"\(\[email:[0-9a-f]{12}\]\); thanks", masked), masked
    assert answers["pii"]["ticket"]["priority"] == "high" and answers["pii"]["ticket"]["priority_raw"] == "High"
