"""Hostile inputs (issue 8): generated exports, scale extremes and path-like names.

The ingest core is called directly (``ingest.ingest_day``), on inputs hypothesis builds:
random headers (aliases, duplicates, blanks, reserved names), cells with quotes,
delimiters, line breaks, unicode and NULs, bad timestamps and csat values, missing ids,
truncated files and random bytes. Whatever comes in, the day never raises and every input
row ends in exactly one of ``ticket`` or ``ticket_rejects`` (a file that cannot be read is
one file-level reject). Where the input is well formed, the expected row count, row numbers
and values are known independently of the parser and are checked too.

Then the scale extremes (2,500 columns, fields of 1 MB and of more than a parse block) and
the guards that keep partition keys and asset names from becoming paths outside the root.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from datetime import UTC, datetime
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from polars.testing import assert_frame_equal

from sentiment_pipeline import storage
from sentiment_pipeline.ingest import HEADER_TO_CANONICAL, LandingFile, csv_reader, ingest_day
from sentiment_pipeline.ingest import files as ingest_files
from sentiment_pipeline.ingest.blocks import PARSE_BLOCK_BYTES

pytestmark = pytest.mark.slow

NOW = datetime(2025, 1, 3, 6, 0, tzinfo=UTC)
DAY_FOLDER = "landing/2025-01-02"
# Deterministic and bounded in the suite; `FUZZ_EXAMPLES=5000 pytest ...test_fuzz.py` explores
# further with fresh random examples each run.
DEEP = int(os.environ.get("FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=DEEP or 150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=not DEEP, database=None)

# --- generated inputs -----------------------------------------------------------------------

HEADERS = [
    "ticket_id", "id", "ID", "Ticket_Number", " ticket_id ", "created_at", "Created", "created_date", "timestamp",
    "subject", "body", "Description", "message", "text", "channel", "product", "customer_id", "agent_id",
    "status", "priority", "resolved_at", "csat", "CSAT", "tags", "region", "Region", "cf_0001", "",
    "source_file", "source_row", "ingested_at", "__row", "__raw", "__file", "a,b", 'say "x"', "semi;colon",
    "pipe|d", "tab\tbed", "ünïcödé", "emoji 😀", "tags ",
]  # fmt: skip
CELLS = [
    "", " ", "T1", "T2", "000123", "2025-01-02", "2025-01-02T10:00:00Z", "2025-01-02 10:00:00+02", "2025-02-30",
    "yesterday", "2025-01-02T25:00:00", "1", "5", "0", "6", "4.0", " 3 ", "great", "a;b; c", 'he said "hi"',
    "a, b", "x\ny", "x\r\ny", "line\r", "tab\there", "😀 你好 שלום", "\u2028", "\x85", "\x00", "NULL", "null",
    "=SUM(A1)", "\ufeff", "-1e9", "[1, 2]", "{\"k\": 1}",
]  # fmt: skip

unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
cells = st.one_of(st.sampled_from(CELLS), unicode_text)
header_names = st.one_of(st.sampled_from(HEADERS), unicode_text)


@st.composite
def well_formed_csv(draw):
    """An RFC 4180 CSV: a header, then rows of the header's width, LF or CRLF line ends."""
    width = draw(st.integers(2, 8))
    # (a header name holding ';', '|' or a tab can win the delimiter vote: see the hostile test)
    plain = header_names.filter(lambda h: not any(c in h for c in "\n\r;|\t"))
    header = draw(st.lists(plain, min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=12))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return header, rows, "".join(",".join(map(csv_field, row)) + newline for row in [header, *rows])


def csv_field(value: str) -> str:
    """RFC 4180 quoting (``csv.writer`` leaves a bare CR unquoted when lines end in LF)."""
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


@st.composite
def json_record(draw):
    keys = st.one_of(st.sampled_from([h for h in HEADERS if h]), unicode_text)
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), cells)
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=6)
    return draw(st.dictionaries(keys, values, max_size=8))


json_items = st.one_of(
    json_record(), json_record(), json_record(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.none()
)


def landing(name: str, content: bytes) -> LandingFile:
    return LandingFile(f"{DAY_FOLDER}/{name}", content)


def check_day(files: list[LandingFile]):
    """Run the day and check what holds for any input; returns (result, tickets, row rejects, file rejects)."""
    if currently_in_test_context():
        note(f"files: {[(f.name, f.content[:2000]) for f in files]!r}")
    result = ingest_day(files, NOW)
    tickets = result.tickets.collect()
    rejects = result.rejects
    row_rejects = rejects.filter(pl.col("source_row").is_not_null())
    file_rejects = rejects.filter(pl.col("source_row").is_null())
    assert tickets.height + row_rejects.height == result.input_rows, "conservation: input rows = tickets + row rejects"
    ids = tickets.get_column("ticket_id")
    assert ids.null_count() == 0 and (ids.str.strip_chars() != "").all() and ids.is_unique().all()
    assert rejects.get_column("reason").null_count() == 0
    placed = pl.concat([tickets.select("source_file", "source_row"), row_rejects.select("source_file", "source_row")])
    assert not placed.is_duplicated().any(), "a row landed twice"
    assert (placed.get_column("source_row") >= 1).all()
    unreadable = file_rejects.get_column("source_file").to_list()
    assert len(unreadable) == len(set(unreadable)) <= len(files)
    assert not set(unreadable) & set(placed.get_column("source_file")), "an unreadable file still gave rows"
    assert sorted(result.files) == sorted(f.uri for f in files)
    return result, tickets, row_rejects, file_rejects


def canonical_of(header: str) -> str | None:
    return HEADER_TO_CANONICAL.get(header.strip().lower())


# --- properties ----------------------------------------------------------------------------


@FUZZ
@given(well_formed_csv())
def test_well_formed_csv_every_row_is_placed_once_with_its_own_number(generated):
    _header, rows, text = generated
    result, tickets, row_rejects, file_rejects = check_day([landing("a.csv", text.encode())])
    assert file_rejects.height == 0
    assert result.input_rows == len(rows)  # counted by the writer, not by the parser
    numbers = sorted(tickets.get_column("source_row").to_list() + row_rejects.get_column("source_row").to_list())
    assert numbers == list(range(1, len(rows) + 1))


@FUZZ
@given(well_formed_csv())
def test_well_formed_csv_kept_rows_keep_their_values(generated):
    """Where the header is unambiguous (no repeated or reserved names), a kept row's id and
    body are the written ones and every custom field is as written."""
    header, rows, text = generated
    names = [h.strip() for h in header]
    simple = len({n.lower() for n in names}) == len(names) and all(
        n and not n.startswith("__") and n.lower() not in ("source_file", "source_row", "ingested_at") for n in names
    )
    _, tickets, _, _ = check_day([landing("a.csv", text.encode())])
    if not simple:
        return
    canonical = [canonical_of(h) for h in names]
    for ticket in tickets.iter_rows(named=True):
        written = rows[ticket["source_row"] - 1]
        by_canonical = {}
        for name, target, value in zip(names, canonical, written, strict=False):
            if target and target not in by_canonical:
                by_canonical[target] = value
            elif not target:  # (an empty field, unquoted, reads as null)
                assert ticket[name] == (value if value != "" else None), f"custom field {name!r}"
        assert ticket["ticket_id"] == by_canonical["ticket_id"].strip()
        if "body" in by_canonical:
            assert ticket["body"] == (by_canonical["body"] if by_canonical["body"].strip() else None)


@FUZZ
@given(
    st.lists(st.lists(header_names, min_size=1, max_size=6), min_size=1, max_size=4),
    st.lists(st.lists(cells, max_size=8), max_size=10),
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_hostile_csv_never_raises_and_conserves_rows(headers, rows, delimiter, newline):
    """Ragged rows, headers with line breaks, any delimiter and line ending, several files.

    A header holding ';' or '|' can win the delimiter vote (the first line decides), and
    the rows are then misread, yet still all placed. One class is open and pinned by the
    xfail below: a field with text after its closing quote; deep runs can find it."""
    files = []
    for index, header in enumerate(headers):
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows[index :: len(headers)])
        files.append(landing(f"f{index}.csv", out.getvalue().encode()))
    check_day(files)


@FUZZ
@given(st.lists(json_items, max_size=10), st.sampled_from(["array", "wrapped", "lines"]), st.sampled_from([False, True]))
def test_json_and_json_lines_count_every_record(items, shape, gz):
    if shape == "lines":
        name, text = "a.jsonl", "\n".join(json.dumps(item, ensure_ascii=False) for item in items) + "\n"
        expected = len(items)
    elif shape == "array":
        name, text, expected = "a.json", json.dumps(items, ensure_ascii=False), len(items)
    else:
        name, text = "a.json", json.dumps({"meta": {"n": len(items)}, "tickets": items}, ensure_ascii=False)
        expected = len(items) if all(isinstance(i, dict) for i in items) else 1  # else the object itself is the row
    content = text.encode()
    if gz:
        name, content = name + ".gz", gzip.compress(content)
    result, tickets, _row_rejects, file_rejects = check_day([landing(name, content)])
    empty = not text.strip()  # an empty file is a file-level reject, like an empty CSV
    assert file_rejects.height == empty
    assert result.input_rows == (0 if empty else expected)
    if shape != "wrapped":
        for ticket in tickets.iter_rows(named=True):
            assert isinstance(items[ticket["source_row"] - 1], dict)


@FUZZ
@given(well_formed_csv(), st.lists(json_items, min_size=1, max_size=6), st.data())
def test_truncated_files_never_raise(generated, items, data):
    """An export cut short anywhere: a half row, a half JSON document, a half gzip stream."""
    csv_bytes = generated[2].encode()
    json_bytes = json.dumps(items, ensure_ascii=False).encode()
    jsonl_bytes = "\n".join(json.dumps(i, ensure_ascii=False) for i in items).encode()
    gz_bytes = gzip.compress(csv_bytes)
    files = []
    for name, content in [("a.csv", csv_bytes), ("b.json", json_bytes), ("c.jsonl", jsonl_bytes), ("d.csv.gz", gz_bytes)]:
        cut = data.draw(st.integers(0, len(content)), label=name)
        files.append(landing(name, content[:cut]))
    result, _tickets, _row_rejects, _file_rejects = check_day(files)
    assert result.input_rows <= 2 * len(generated[1]) + 2 * len(items)  # the CSV is there twice


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["x.csv", "x.json", "x.jsonl", "x.ndjson", "x.csv.gz", "x.json.gz", "x.txt", "x", "X.CSV", ".csv"]),
            st.binary(max_size=300),
            st.booleans(),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_random_bytes_never_raise(specs):
    files = []
    for index, (name, content, gz) in enumerate(specs):
        files.append(landing(f"{index}-{name}", gzip.compress(content) if gz else content))
    check_day(files)


# --- what the fuzzing found, pinned as plain examples -----------------------------------------


def test_headers_named_like_the_readers_own_columns_are_kept():
    """A CSV header "__row" crashed the day (polars DuplicateError); a JSON key "__row" did
    too, and "__raw" replaced the row's raw text. Now they are kept as *_custom."""
    result, tickets, _, _ = check_day(
        [
            landing("a.csv", b"ticket_id,created_at,__row,__raw\nT1,2025-01-02,r1,w1\n"),
            landing("b.jsonl", b'{"id": "J1", "created_at": "2025-01-02", "__row": "r2", "__raw": "w2"}\n{"id": "J2", "__row": 7}\n'),
        ]
    )
    assert tickets.select("ticket_id", "__row_custom", "__raw_custom").rows() == [("T1", "r1", "w1"), ("J1", "r2", "w2")]
    [reject] = result.rejects.to_dicts()
    assert reject["reason"] == "missing created_at" and reject["raw"] == '{"id": "J2", "__row": 7}'


def test_headers_that_polars_would_read_as_a_wildcard_or_a_regex():
    """``pl.col("*")`` is every column and ``pl.col("^cf.*$")`` a pattern: such headers
    crashed the day or took another column's values."""
    _, tickets, row_rejects, _ = check_day(
        [landing("a.csv", b"ticket_id,created_at,*,^cf.*$,cf_1\nT1,2025-01-02,star,pattern,one\nT2,2025-01-02,short\n")]
    )
    assert [{k: row[k] for k in ("*", "^cf.*$", "cf_1")} for row in tickets.iter_rows(named=True)] == [
        {"*": "star", "^cf.*$": "pattern", "cf_1": "one"}
    ]
    assert row_rejects.get_column("raw").to_list() == ["T2,2025-01-02,short"]


def test_repeated_headers_get_names_that_are_free():
    result, tickets, _, _ = check_day([landing("a.csv", b"ticket_id,created_at,a,A,a_2\nT1,2025-01-02,x,y,z\n")])
    assert tickets.select("a", "A_2", "a_2_2").row(0) == ("x", "y", "z")  # "a_2" was renamed to "A_2" first
    assert result.notes == ["a.csv: repeated header 'A' kept as 'A_2'", "a.csv: repeated header 'a_2' kept as 'a_2_2'"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_json_lines_split_at_line_feeds_only(separator):
    """JSON leaves U+2028, U+0085, ... unescaped in strings; ``str.splitlines`` cut such a
    record in two and rejected both halves."""
    line = json.dumps({"id": "J1", "created_at": "2025-01-02", "body": f"one{separator}two"}, ensure_ascii=False)
    result, tickets, _, _ = check_day([landing("a.jsonl", f"{line}\r\n\n{line.replace('J1', 'J2')}\n".encode())])
    assert tickets.select("ticket_id", "body", "source_row").rows() == [("J1", f"one{separator}two", 1), ("J2", f"one{separator}two", 3)]
    assert result.rejects.height == 0


def test_bare_carriage_returns_old_mac_line_ends_and_inside_fields():
    """polars ends rows at LF only, the stdlib reader and pyarrow at a bare CR too: the two
    disagreed on the rows (a crash on the header, or rows counted twice). A bare CR is a
    line end (RFC 4180 wants a CR in a value quoted)."""
    result, tickets, row_rejects, _ = check_day(
        [
            landing("mac.csv", b'ticket_id,created_at,body\rT1,2025-01-02,a\rT2,2025-01-02,"two\rlines"\r'),
            landing("stray.csv", b"ticket_id,created_at,body\nT3,2025-01-02,x\r\nT4,2025-01-02,ends in CR\r,\nT5,2025-01-02,y\n"),
        ]
    )
    assert tickets.select("ticket_id", "body").rows() == [("T1", "a"), ("T2", "two\rlines"), ("T3", "x"), ("T4", "ends in CR"), ("T5", "y")]
    assert row_rejects.select("source_file", "source_row", "raw").rows() == [(f"{DAY_FOLDER}/stray.csv", 3, ",")]
    assert result.input_rows == 6


def test_a_file_cut_inside_a_quoted_field_lands_its_whole_rows():
    content = b'ticket_id,created_at,body\nT1,2025-01-02,"complete"\nT2,2025-01-02,"cut he'
    _, tickets, _, file_rejects = check_day([landing("a.csv", content)])
    assert tickets.select("ticket_id", "body").rows()[0] == ("T1", "complete") and file_rejects.height == 0


def test_a_blank_first_line_is_a_file_level_reject():
    _, tickets, _, file_rejects = check_day([landing("a.csv", b"\nT1,2025-01-02\n"), landing("b.csv", b"\r\n0\n")])
    assert tickets.height == 0
    assert file_rejects.get_column("reason").to_list() == ["file not ingested: the first line is blank: a CSV file needs a header line"] * 2


def test_stray_quotes_polars_cannot_parse_in_a_judged_column_fall_back_to_the_stdlib_reader():
    """A quote inside an unquoted field, before a line break: polars counted the rows one way
    and failed to parse them ("CSV malformed: expected 2 rows, actual 3 rows")."""
    result, tickets, row_rejects, _ = check_day([landing("a.csv", b'ticket_id,created_at\nT1,2025-01-02\nx"y\nz",2025-01-02\n')])
    assert result.input_rows == 3 and tickets.get_column("ticket_id").to_list() == ["T1", 'z"']
    assert row_rejects.select("source_row", "reason").rows() == [(2, "row has 1 fields but the header has 2")]
    result, tickets, row_rejects, _ = check_day([landing("b.csv", b'ticket_id\n;"x\ny"\n\n')])  # as the fuzzing found it
    assert result.input_rows == 2 and tickets.height == 0
    reasons = row_rejects.get_column("reason").to_list()
    assert len(reasons) == 2 and all(r.startswith("no source profile matches this file and it has no created_at column") for r in reasons)


def test_quotes_polars_pairs_otherwise_than_rfc_4180_do_not_run_rows_together():
    """A quote ending an unquoted field (x") pairs, for polars, with a later quote: read in
    small blocks, polars read one such block without failing, rows run together. A block
    whose quotes are not where RFC 4180 puts them is not vouched for by polars' own read
    (pyarrow counts its fields), so every row keeps its number, as when read whole. (Found
    by a differential run of the reader before and after the single-parse change.)"""
    content = b'ticket_id,created_at\nx",\n"d,"a,b"\nT27,"\nT47,"x"\nT9,c"'
    whole = check_day([landing("a.csv", content)])
    with mock.patch.object(ingest_files, "BLOCK_BYTES", 16), mock.patch.object(csv_reader, "BLOCK_BYTES", 16):
        split = check_day([landing("a.csv", content)])
    for result, _tickets, row_rejects, _ in (whole, split):
        assert result.input_rows == 4 and row_rejects.get_column("source_row").to_list() == [1, 2, 3, 4]
    assert_frame_equal(whole[2].select("source_row", "reason", "raw"), split[2].select("source_row", "reason", "raw"))


def test_text_after_a_closing_quote_does_not_fail_the_day():
    """Read as the stdlib reader reads it ("z"w is zw), like every CSV reader but polars."""
    _, tickets, row_rejects, _ = check_day([landing("a.csv", b'ticket_id,created_at,body\nT1,2025-01-02,"z"w\nT2,2025-01-02,ok\n')])
    assert tickets.get_column("body").to_list() == ["zw", "ok"] and row_rejects.height == 0


# --- scale ---------------------------------------------------------------------------------


def test_2500_columns_every_value_preserved():
    width, height = 2_500, 40
    custom = [f"cf_{i:04d}" for i in range(width)]
    values = [[f"{row:03d}-{col}" if (row + col) % 7 else "" for col in range(width)] for row in range(height)]
    lines = [",".join(["ticket_id", "created_at", *custom])]
    lines += [",".join([f"T{row}", "2025-01-02", *values[row]]) for row in range(height)]
    _result, tickets, row_rejects, _ = check_day([landing("wide.csv", ("\n".join(lines) + "\n").encode())])
    assert tickets.height == height and row_rejects.height == 0
    assert tickets.select(custom).rows() == [tuple(v or None for v in row) for row in values]  # polars reads "" as null


@pytest.mark.parametrize("size", [1_000_000, PARSE_BLOCK_BYTES + 1_000_000])
def test_huge_fields_in_csv_and_json_are_kept_whole(size):
    """A 1 MB field, and one longer than the structure check's parse block (the exact path)."""
    big = ('grüße, "quoted"\nnew line; ' * (size // 24 + 1))[:size]
    quoted = '"' + big.replace('"', '""') + '"'
    csv_text = f"ticket_id,created_at,body,notes\nT1,2025-01-02,{quoted},small\nT2,2025-01-02,b,{quoted}\nT3,bad,{quoted},x\n"
    jsonl = json.dumps({"id": "J1", "created_at": "2025-01-02", "meta": {"blob": big}}, ensure_ascii=False) + "\n"
    _result, tickets, row_rejects, _ = check_day([landing("a.csv", csv_text.encode()), landing("b.jsonl", jsonl.encode())])
    by_id = {row["ticket_id"]: row for row in tickets.iter_rows(named=True)}
    assert by_id["T1"]["body"] == big and by_id["T1"]["notes"] == "small"
    assert by_id["T2"]["notes"] == big
    assert by_id["J1"]["meta.blob"] == big
    [reject] = row_rejects.to_dicts()
    assert reject["source_row"] == 3 and reject["raw"] == f"T3,bad,{quoted},x"


# --- paths ---------------------------------------------------------------------------------

HOSTILE_KEYS = [
    "", "../x", "2025-01-01/../..", "/etc/passwd", "/2025-01-01", "ticket/../../etc", "2025-01-01\n", "\n2025-01-01",
    "2025-01-01 ", "2025-1-1", "20250101", "2025-01-01/x", "2025-01-01\\..\\x", "٢٠٢٥-٠١-٠١", "2025-13-01",
    "2025-02-30", "0000-01-01", "2025-01-01\x00", "..", ".",
]  # fmt: skip
HOSTILE_NAMES = [
    "", "../x", "..", ".", "/etc", "ticket/../../etc", "ticket/..", "ticket\n", "ticket\x00", "Ticket", "_version",
    "ticket-x", "a" * 64, "ticket ", " ticket", "tick\\et", "~root", "s3://bucket/x",
]  # fmt: skip


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_partition_keys_are_refused_before_any_path_is_made(key, tmp_path):
    with pytest.raises(ValueError, match="is not a YYYY-MM-DD date"):
        storage.partition_day(key)
    with pytest.raises(ValueError, match="is not a YYYY-MM-DD date"):
        storage.partition_uri(str(tmp_path), "ticket", key)
    with pytest.raises(ValueError, match="is not a YYYY-MM-DD date"):
        storage.write_parquet(
            pl.DataFrame({"a": [1]}), storage.partition_uri(str(tmp_path), "ticket", key), compression="snappy", metadata={}
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_asset_names_are_refused(name, tmp_path):
    with pytest.raises(ValueError, match="must be lower-case letters, digits and _"):
        storage.check_asset_name(name)
    with pytest.raises(ValueError, match="must be lower-case letters, digits and _"):
        storage.partition_dir(str(tmp_path), name, "2025-01-02")
    with pytest.raises(ValueError, match="must be lower-case letters, digits and _"):
        storage.mark_changed(str(tmp_path), name, "hostile")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", [["..", "etc"], ["x", "..", "..", "y"], ["Ticket"], ["ticket", "..", "x"]])
def test_the_io_manager_refuses_an_asset_key_that_is_not_a_plain_name(key, tmp_path):
    """Dagster accepts these keys; the IO manager joins them with '_' and refuses the result
    before any path is made: the run fails, saying why, and nothing is written anywhere."""
    import dagster as dg

    from sentiment_pipeline.defs.lake import lake as lake_resource
    from sentiment_pipeline.defs.partitions import daily_partitions
    from sentiment_pipeline.defs.resources import pipeline_resources

    @dg.asset(key=dg.AssetKey(key), partitions_def=daily_partitions, io_manager_key="parquet_io_manager")
    def hostile():
        return pl.DataFrame({"a": [1]})

    lake = tmp_path / "deep" / "lake"
    lake.mkdir(parents=True)
    result = dg.materialize([hostile], partition_key="2025-01-02", raise_on_error=False,
                            resources=pipeline_resources(lake_resource(storage_root=str(lake))))  # fmt: skip
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert f"asset name {'_'.join(key)!r} must be lower-case letters, digits and _" in failure.step_failure_data.error.to_string()
    assert [p for p in tmp_path.rglob("*") if p != lake.parent and p != lake] == []


@FUZZ
@given(st.text(max_size=16), st.text(max_size=16))
def test_any_name_and_key_either_refused_or_a_path_inside_the_root(name, key):
    root = "/lake/root"
    try:
        path = storage.partition_uri(root, name, key)
    except ValueError:
        return
    assert os.path.normpath(path) == path and path.startswith(root + "/")
    assert path == f"{root}/{name}/year={key[:4]}/month={key[5:7]}/day={key[8:10]}/{name}-{key}.parquet"


def test_landing_files_refuse_a_hostile_partition_key(tmp_path):
    from sentiment_pipeline.defs.ingest.assets import landing_files

    outside = tmp_path / "x"
    outside.mkdir()
    (outside / "secret.csv").write_text("ticket_id,created_at\nS1,2025-01-02\n")
    landing = tmp_path / "landing"
    landing.mkdir()
    for key in ("../x", "2025-01-01/../../x", str(outside)):
        with pytest.raises(ValueError, match="is not a YYYY-MM-DD date"):
            landing_files(str(landing), key, tmp_path)


@FUZZ
@given(
    st.lists(header_names, min_size=1, max_size=6),
    st.lists(st.lists(cells, max_size=8), max_size=12),
    st.sampled_from([",", ";"]),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(min_value=1, max_value=300),
)
def test_blocks_of_any_size_place_the_same_rows(header, rows, delimiter, newline, block_bytes):
    """A CSV file streams in blocks that end where a row ends (a quoted line break is not a
    row end); read in blocks of a few bytes, every row lands where it lands read whole."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    files = [landing("a.csv", out.getvalue().encode())]

    def placed():
        _result, tickets, row_rejects, _ = check_day(files)
        return tickets.select("source_row", "ticket_id", "created_at", "csat").sort("source_row"), row_rejects.select(
            "source_row", "reason"
        )

    whole = placed()
    with mock.patch.object(ingest_files, "BLOCK_BYTES", block_bytes), mock.patch.object(csv_reader, "BLOCK_BYTES", block_bytes):
        split = placed()
    assert_frame_equal(split[0], whole[0])
    assert_frame_equal(split[1], whole[1])


def test_a_file_streams_in_blocks_across_every_kind_of_row():
    """Thousands of rows in blocks of ~1 KB: duplicates, broken rows and quoted line breaks in
    different blocks, Windows-1252 bytes in a later block, and a stray quote that sends the
    rest of the file to the stdlib reader: numbering runs on, nothing is lost or repeated."""
    lines = ["ticket_id,created_at,subject,body"]
    for n in range(1, 3001):
        if n % 500 == 0:
            lines.append(f"T{n},2025-01-02,only three")  # broken: 3 fields
        elif n % 450 == 0:
            lines.append(f'T{n - 1},2025-01-02,dup,"two\nlines"')  # duplicate of the previous row
        else:
            lines.append(f'T{n},2025-01-02,s{n},"b, {n}"')
    lines[2200] = 'T2200,2025-01-02,caf\xe9,"x"y'  # Latin-1 byte and a stray quote, far into the file
    content = "\n".join(lines).encode("utf-8").replace("caf\xe9".encode(), b"caf\xe9") + b"\n"
    with mock.patch.object(ingest_files, "BLOCK_BYTES", 1024), mock.patch.object(csv_reader, "BLOCK_BYTES", 1024):
        result, tickets, row_rejects, _ = check_day([landing("a.csv", content)])
    assert result.input_rows == 3000
    assert sorted(row_rejects.get_column("source_row").to_list()) == [n for n in range(1, 3001) if n % 500 == 0 or n % 450 == 0]
    assert tickets.height == 3000 - row_rejects.height
    by_row = {r["source_row"]: r for r in tickets.iter_rows(named=True)}
    assert by_row[2200]["subject"] == "café" and by_row[2999]["body"] == "b, 2999"
    assert any("Windows-1252" in note for note in result.notes) and any("row by row" in note for note in result.notes)


def test_a_first_block_of_blanks_is_still_the_start_of_the_header():
    """Blanks before the header fill the first block: the header is read from the file's
    start, so its first row begins after it (blanks around a name are trimmed)."""
    with mock.patch.object(ingest_files, "BLOCK_BYTES", 8), mock.patch.object(csv_reader, "BLOCK_BYTES", 8):
        _result, tickets, row_rejects, file_rejects = check_day([landing("a.csv", b" " * 8 + b"ticket_id,created_at\nT1,2025-01-02\n")])
    assert tickets.get_column("ticket_id").to_list() == ["T1"] and row_rejects.height == file_rejects.height == 0
