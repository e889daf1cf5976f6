"""The ingest core on dirty inputs of every kind: exact good/bad counts, reasons, values, types."""

import gzip
import json
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_series_equal

from sentiment_pipeline.ingest import LandingFile, ingest_day

NOW = datetime(2025, 1, 3, 6, 0, tzinfo=UTC)
HEADER = "ticket_id,created_at,subject,body,channel,csat,tags"


def run(*files: tuple[str, bytes | str]):
    landing = [LandingFile(f"landing/2025-01-02/{name}", c.encode() if isinstance(c, str) else c) for name, c in files]
    result = ingest_day(landing, NOW)
    tickets = result.tickets.collect()
    row_rejects = result.rejects.filter(pl.col("source_row").is_not_null())
    assert tickets.height + row_rejects.height == result.input_rows, "conservation: rows in = ticket + row rejects"
    assert tickets.get_column("ticket_id").is_unique().all()
    return result, tickets


def reasons(result) -> list[tuple[str, int | None, str]]:
    return [(r["source_file"].rsplit("/", 1)[-1], r["source_row"], r["reason"]) for r in result.rejects.iter_rows(named=True)]


def test_clean_csv_types_lineage_and_custom_fields():
    result, tickets = run(("a.csv", f"{HEADER},order_code,score\nT1,2025-01-02T10:00:00Z,Hi,Body,email,5,billing; vip ;,000123,7\n"))
    row = tickets.row(0, named=True)
    assert row["ticket_id"] == "T1" and row["csat"] == 5 and row["tags"] == ["billing", "vip"]
    assert row["created_at"] == datetime(2025, 1, 2, 10, tzinfo=UTC)
    assert row["order_code"] == "000123" and row["score"] == "7"  # custom fields stay text as written
    assert (row["source_file"], row["source_row"], row["ingested_at"]) == ("landing/2025-01-02/a.csv", 1, NOW)
    assert tickets.schema["csat"] == pl.Int8 and tickets.schema["tags"] == pl.List(pl.String)
    assert result.rejects.height == 0


def test_bom_crlf_quotes_newlines_and_unicode():
    body = 'says "hi", then\r\nleaves 😀 你好 שלום'
    content = "\ufeff" + HEADER + "\r\n" + 'T1,2025-01-02,Sub,"' + body.replace('"', '""') + '",chat,,\r\nT2,2025-01-02,S2,plain,web,,\r\n'
    _result, tickets = run(("a.csv", content))
    assert tickets.get_column("ticket_id").to_list() == ["T1", "T2"]
    assert tickets.get_column("body").to_list() == [body, "plain"]
    assert tickets.get_column("source_row").to_list() == [1, 2]  # a quoted multi-line field is one row


def test_one_megabyte_field():
    big = "x" * 1_000_000
    _, tickets = run(("a.csv", f"{HEADER}\nT1,2025-01-02,S,{big},email,,\nT2,2025-01-02,S,b,email,,\n"))
    assert tickets.get_column("body").str.len_chars().to_list() == [1_000_000, 1]


def test_latin1_bytes_are_decoded_and_noted():
    content = f"{HEADER}\nT1,2025-01-02,Caf\xe9,cr\xe8me br\xfbl\xe9e,email,,\n".encode("latin-1")
    result, tickets = run(("a.csv", content))
    assert tickets.get_column("body").to_list() == ["crème brûlée"]
    assert any("Windows-1252" in note for note in result.notes)


def test_semicolon_delimiter_and_header_aliases_in_any_case():
    _, tickets = run(("a.csv", "ID;Created_Date;Subject;Description;CSAT\nT1;2025-01-02 08:30:00;S;a, b;4\n"))
    assert tickets.select("ticket_id", "body", "csat").row(0) == ("T1", "a, b", 4)
    assert tickets.get_column("created_at").to_list() == [datetime(2025, 1, 2, 8, 30, tzinfo=UTC)]


def test_duplicate_header_names_are_both_kept():
    result, tickets = run(("a.csv", "ticket_id,created_at,region,Region\nT1,2025-01-02,north,south\n"))
    assert tickets.select("region", "Region_2").row(0) == ("north", "south")
    assert any("repeated header 'Region'" in note for note in result.notes)


def test_wrong_column_count_rows_are_rejected_with_their_text():
    content = (
        f'{HEADER}\nT1,2025-01-02,S,B,email,,\nT2,2025-01-02,S,B,email,,,EXTRA\nT3,2025-01-02\n\nT4,2025-01-02,S,"multi\nline",chat,3,\n'
    )
    result, tickets = run(("a.csv", content))
    assert tickets.get_column("ticket_id").to_list() == ["T1", "T4"]
    assert tickets.get_column("source_row").to_list() == [1, 5]  # the blank line keeps its number, but is no row
    assert reasons(result) == [
        ("a.csv", 2, "row has 8 fields but the header has 7"),
        ("a.csv", 3, "row has 2 fields but the header has 7"),
    ]
    assert result.rejects.get_column("raw").to_list() == ["T2,2025-01-02,S,B,email,,,EXTRA", "T3,2025-01-02"]
    assert result.input_rows == 4


def test_row_rules_missing_id_bad_timestamps_bad_csat_duplicates():
    content = "\n".join(
        [
            HEADER,
            "T1,2025-01-02T10:00:00+02:00,S,B,email,1,",
            ",2025-01-02,S,no id,email,,",
            "   ,2025-01-02,S,blank id,email,,",
            "T2,,S,no date,email,,",
            "T3,yesterday,S,bad date,email,,",
            "T4,2025-01-02,S,bad csat,email,6,",
            "T5,2025-01-02,S,text csat,email,great,",
            "T6,2025-01-02,S,zero csat,email,0,",
            "T1,2025-01-02,S,dup,email,,",
            "T7,2025-02-30,S,no such day,email,,",
        ]
    )
    result, tickets = run(("a.csv", content + "\n"))
    assert tickets.get_column("ticket_id").to_list() == ["T1"]
    assert tickets.get_column("body").to_list() == ["B"]  # the first T1 is kept
    assert reasons(result) == [
        ("a.csv", 2, "missing ticket_id"),
        ("a.csv", 3, "missing ticket_id"),
        ("a.csv", 4, "missing created_at"),
        ("a.csv", 5, "created_at 'yesterday' is not an ISO-8601 date or timestamp"),
        ("a.csv", 6, "csat '6' is not an integer from 1 to 5"),
        ("a.csv", 7, "csat 'great' is not an integer from 1 to 5"),
        ("a.csv", 8, "csat '0' is not an integer from 1 to 5"),
        ("a.csv", 9, "duplicate ticket_id 'T1': the first occurrence (landing/2025-01-02/a.csv row 1) is kept"),
        ("a.csv", 10, "created_at '2025-02-30' is not an ISO-8601 date or timestamp"),
    ]
    assert result.rejects.filter(pl.col("source_row") == 6).get_column("raw").item() == "T4,2025-01-02,S,bad csat,email,6,"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-02T10:00:00Z", datetime(2025, 1, 2, 10, tzinfo=UTC)),
        ("2025-01-02T10:00:00.250Z", datetime(2025, 1, 2, 10, 0, 0, 250000, tzinfo=UTC)),
        ("2025-01-02T12:00:00+02:00", datetime(2025, 1, 2, 10, tzinfo=UTC)),
        ("2025-01-02T05:00:00-0500", datetime(2025, 1, 2, 10, tzinfo=UTC)),
        ("2025-01-02 10:00:00", datetime(2025, 1, 2, 10, tzinfo=UTC)),
        ("2025-01-02T10:00", datetime(2025, 1, 2, 10, tzinfo=UTC)),
        ("2025-01-02 10:00:00 UTC", datetime(2025, 1, 2, 10, tzinfo=UTC)),
        ("2025-01-02", datetime(2025, 1, 2, tzinfo=UTC)),
    ],
)
def test_mixed_timestamp_formats_and_zones_become_utc(text, expected):
    _, tickets = run(("a.csv", f"ticket_id,created_at\nT1,{text}\n"))
    assert tickets.get_column("created_at").to_list() == [expected]


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_timestamps_read_in_two_steps_equal_every_form_tried_on_every_value(timezone):
    """The judge reads timestamps in two steps (the zoned forms, then the local ones only
    where those read nothing); the values are the one expression's, which tries every form
    on every value (DST gaps and repeated hours included)."""
    from sentiment_pipeline.ingest.sources.builtin import JIRA_FORMATS
    from sentiment_pipeline.ingest.sources.profile import ISO_NAIVE, TimestampForms, TimestampParser

    texts = pl.DataFrame(
        {
            "t": [
                *["2025-01-02T10:00:00Z", "2025-01-02T10:00:00.250Z", " 2025-01-02T12:00:00+02:00 ", "2025-01-02T05:00:00-0500"],
                *["2025-01-02 10:00:00", "2025-01-02T10:00", "2025-01-02 10:00:00 UTC", "2025-01-02", "2025-02-30", "2025-01-02T25:00"],
                *["2025-03-30 02:30:00", "2025-10-26 02:30", "2025-03-09 02:30", "2025-11-02 01:30", "14/Jul/25 3:42 PM"],
                *["6/21/2025 16:14", "21/Jun/2025 4:14 PM", "yesterday", "", "   ", None, "2025-01-02T10:00:00+0200x", "UTC"],
            ]
        }
    )
    for forms in [
        TimestampForms(),
        TimestampForms(local=(*ISO_NAIVE, *JIRA_FORMATS)),
        TimestampForms().narrowed(texts.get_column("t").head(3)),
        TimestampForms(zoned=(), local=("%d/%b/%y %I:%M %p",), date_only=False, utc_word=False),
        TimestampForms(local=(), date_only=False),
        TimestampForms(zoned=(), local=(), date_only=False),
    ]:
        parser, text = TimestampParser(forms, timezone), pl.col("t")
        at_once = texts.with_columns(parsed=parser(text)).get_column("parsed")
        in_steps = texts.with_columns(parsed=parser.zoned(text)).with_columns(parsed=parser.local(text, pl.col("parsed")))
        assert_series_equal(in_steps.get_column("parsed"), at_once)


def test_duplicates_across_files_keep_file_name_order():
    result, tickets = run(
        ("b.csv", "ticket_id,created_at,subject\nT1,2025-01-02,from b\n"),
        ("a.jsonl", json.dumps({"id": "T1", "timestamp": "2025-01-02", "subject": "from a"}) + "\n"),
    )
    assert tickets.get_column("subject").to_list() == ["from a"]
    assert reasons(result) == [("b.csv", 1, "duplicate ticket_id 'T1': the first occurrence (landing/2025-01-02/a.jsonl row 1) is kept")]


def test_json_array_nesting_and_list_tags():
    records = [
        {
            "ticket_number": "000042",
            "created": "2025-01-02T01:00:00Z",
            "text": "hello",
            "tags": ["a", "b"],
            "meta": {"browser": "firefox", "wait": 12, "deep": {"x": True}},
        },
        {"ticket_number": "000043", "created": "2025-01-02", "tags": "c;d", "csat": 3},
        [1, 2],
    ]
    result, tickets = run(("a.json", json.dumps(records)))
    assert tickets.select("ticket_id", "body", "tags", "meta.browser", "meta.wait", "meta.deep.x", "csat").rows() == [
        ("000042", "hello", ["a", "b"], "firefox", "12", "true", None),
        ("000043", None, ["c", "d"], None, None, None, 3),
    ]
    assert reasons(result) == [("a.json", 3, "row is a JSON list, not an object")]


def test_one_bad_json_line_among_good_ones():
    lines = [
        json.dumps({"id": "T1", "created_at": "2025-01-02"}),
        '{"id": "T2", "created_at": ',
        "",
        json.dumps({"id": "T3", "created_at": "2025-01-02"}),
    ]
    result, tickets = run(("a.jsonl", "\n".join(lines) + "\n"))
    assert tickets.get_column("ticket_id").to_list() == ["T1", "T3"]
    assert tickets.get_column("source_row").to_list() == [1, 4]
    [reject] = result.rejects.to_dicts()
    assert (
        reject["source_row"] == 2
        and reject["reason"].startswith("line is not valid JSON")
        and reject["raw"] == '{"id": "T2", "created_at": '
    )


def test_unreadable_files_are_one_reject_each_and_the_day_still_lands():
    good = "ticket_id,created_at\nT1,2025-01-02\nT2,2025-01-02\n"
    result, tickets = run(
        ("good.csv", good),
        ("good2.csv.gz", gzip.compress(b"ticket_id,created_at\nT3,2025-01-02\n")),
        ("truncated.json", '[{"id": "T9", "created_at": "2025-01-02"}, {"id": '),
        ("empty.csv", ""),
        ("header_only.csv", "ticket_id,created_at\n"),
        ("fake.csv.gz", good),
        ("notes.xlsx", "PK\x03\x04"),
    )
    assert sorted(tickets.get_column("ticket_id").to_list()) == ["T1", "T2", "T3"]
    assert sorted((f, row, reason) for f, row, reason in reasons(result)) == [
        ("empty.csv", None, "file not ingested: file is empty: no header and no rows"),
        ("fake.csv.gz", None, "file not ingested: named .gz but is not valid gzip (Not a gzipped file (b'ti'))"),
        (
            "notes.xlsx",
            None,
            "file not ingested: unsupported file type '.xlsx': expected .csv, .json or .jsonl (optionally .gz), or .parquet",
        ),
        ("truncated.json", None, "file not ingested: not valid JSON (Expecting value at line 1 column 51)"),
    ]
    assert result.input_rows == 3


def test_files_with_different_custom_columns_union_and_sparse_columns_stay_text():
    rows = "\n".join(f"T{i},2025-01-02,{'' if i < 500 else 'late text'}" for i in range(1000))
    _, tickets = run(
        ("a.csv", "ticket_id,created_at,sparse\n" + rows + "\n"),
        ("b.csv", "ticket_id,created_at,only_b,SPARSE\nB1,2025-01-02,000777,x\n"),
    )
    assert tickets.schema["sparse"] == pl.String and tickets.schema["only_b"] == pl.String
    assert tickets.filter(pl.col("ticket_id") == "T999").get_column("sparse").item() == "late text"
    assert tickets.filter(pl.col("ticket_id") == "B1").select("only_b", "sparse").row(0) == ("000777", "x")
    assert tickets.filter(pl.col("ticket_id") == "T0").get_column("only_b").item() is None


def test_an_empty_day_has_the_right_schema():
    result, tickets = run()
    assert tickets.height == 0 and result.rejects.height == 0 and "created_at" in tickets.columns


def test_raw_text_of_a_rejected_row_in_a_file_with_quoted_line_breaks():
    content = f'{HEADER}\nT1,2025-01-02,S,"two\nlines",email,,\nT2,2025-01-02,S,"say ""hi"", bye",email,9,a;b\n'
    result, tickets = run(("a.csv", content))
    assert tickets.get_column("ticket_id").to_list() == ["T1"]
    assert result.rejects.select("source_row", "raw").rows() == [(2, 'T2,2025-01-02,S,"say ""hi"", bye",email,9,a;b')]


@pytest.mark.parametrize("block_bytes", [None, 256])  # one block, and many small ones cut between rows
def test_line_breaks_stray_quotes_and_crlf_do_not_change_which_rows_land_or_their_numbers(block_bytes, monkeypatch):
    """The same 60 tickets written plainly, with e-mail bodies holding quoted line breaks, with
    CRLF line ends, and with a stray quote in an unquoted field: the same tickets land with
    the same row numbers (a quoted multi-line field is one row) and the same bodies."""
    if block_bytes:
        from sentiment_pipeline.ingest import csv_reader, files

        monkeypatch.setattr(csv_reader, "BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(files, "BLOCK_BYTES", block_bytes)
    bodies = [f'Hello,\n\nmy order ORD-{n} is late, "again".\n\nRegards,\nZoë, Königstraße {n}' for n in range(60)]

    def export(body_of, line_end="\n") -> str:
        rows = [f'T{n},2025-01-02T10:{n:02d}:00Z,Late,"{body_of(n).replace(chr(34), chr(34) * 2)}",email' for n in range(60)]
        return line_end.join(["ticket_id,created_at,subject,body,channel", *rows]) + line_end

    plain = export(lambda n: f"order ORD-{n} is late")
    variants = {
        "e-mail bodies": export(lambda n: bodies[n]),
        "e-mail bodies, CRLF": export(lambda n: bodies[n].replace("\n", "\r\n"), "\r\n"),
        "a stray quote": plain.replace("T7,2025-01-02T10:07:00Z,Late,", 'T7,2025-01-02T10:07:00Z,Late 5" screen,', 1),
    }
    _, expected = run(("a.csv", plain))
    numbering = expected.select("ticket_id", "source_row")
    for name, content in variants.items():
        _, tickets = run(("a.csv", content))
        assert tickets.select("ticket_id", "source_row").equals(numbering), name
    _, mailed = run(("a.csv", variants["e-mail bodies, CRLF"]))
    assert mailed.get_column("body").to_list() == [b.replace("\n", "\r\n") for b in bodies]
