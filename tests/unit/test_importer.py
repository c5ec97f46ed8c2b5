"""Reading past conversations from CSV, JSON and JSON Lines (docs/import.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from replywatch.importer import (
    Format,
    ImportBatch,
    ImportFileError,
    Skip,
    format_of,
    parse,
)
from replywatch.models import MessageKind

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=400)
SECRET = "my card number is 4111 and I am furious"  # stands for a customer's words: never in an error
SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "import-sample.csv"


def read(content: str, file_format: Format = Format.CSV) -> ImportBatch:
    return parse(content, file_format, brand="acme", source_id="imported", now=NOW, retention=RETENTION)


def csv_of(*rows: str, header: str = "id,channel,created_at,author,text,kind,replied_at,reply_id,rating") -> str:
    return "\n".join([header, *rows]) + "\n"


def problems(batch: ImportBatch) -> list[tuple[int, Skip, str]]:
    return [(s.line, s.category, s.problem) for s in batch.skipped]


# --- good rows ------------------------------------------------------------------------------


def test_a_row_with_a_reply_gives_the_customer_message_and_the_brand_reply() -> None:
    batch = read(csv_of(f'1001,x,2026-11-20T09:00:00+01:00,@alice,"{SECRET}",mention,2026-11-20T08:30:00Z,,'))
    assert batch.skipped == [] and batch.rows == 1
    (conversation,) = batch.conversations
    message, reply = conversation.message, conversation.reply
    assert reply is not None
    assert (message.brand, message.platform, message.platform_id) == ("acme", "x", "1001")
    assert message.source_id == "imported"
    assert message.created_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert message.imported and not message.from_brand and message.text == SECRET
    assert message.author_handle == "@alice" and message.kind is MessageKind.MENTION
    assert reply.imported and reply.from_brand
    assert reply.parent_key == message.key and reply.platform_id == "1001#reply"
    assert reply.created_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert batch.messages == [message, reply]


def test_optional_fields_take_their_defaults() -> None:
    batch = read(csv_of("1002,facebook,2026-11-20T09:00:00Z,,,,,,", "1003,youtube,2026-11-20T09:00:00Z,,,,,,"))
    assert [c.reply for c in batch.conversations] == [None, None]
    message = batch.conversations[0].message
    assert message.kind is MessageKind.MENTION and message.text == "" and message.author_handle == ""
    assert message.rating is None and message.permalink is None


def test_a_review_with_its_rating_and_an_explicit_reply_id_kind_and_channel_in_any_case() -> None:
    batch = read(csv_of("gp:77,Google_Play,2026-11-01T10:00:00Z,Bo,Crashes,REVIEW,2026-11-02T10:00:00Z,gp:77:r,4.0"))
    (conversation,) = batch.conversations
    assert conversation.message.platform == "google_play" and conversation.message.kind is MessageKind.REVIEW
    assert conversation.message.rating == 4
    assert conversation.reply is not None and conversation.reply.platform_id == "gp:77:r"


def test_a_mastodon_row_names_its_server_so_a_later_poll_finds_the_same_item() -> None:
    header = "id,channel,network,created_at"
    batch = read(csv_of("113,mastodon,Mastodon.Social,2026-11-20T09:00:00Z", header=header))
    (conversation,) = batch.conversations
    assert conversation.message.key == "acme#mastodon@mastodon.social#113"


def test_quoted_multiline_text_keeps_the_line_the_row_starts_on() -> None:
    batch = read(csv_of('1,x,2026-11-20T09:00:00Z,a,"two\nlines",,,,', "2,x,not a date,a,,,,,"))
    assert batch.conversations[0].message.text == "two\nlines"
    assert [(s.line, s.category) for s in batch.skipped] == [(4, Skip.INVALID)]


def test_blank_lines_a_bom_and_unknown_columns_are_tolerated_and_reported() -> None:
    content = "\ufeffid,channel,created_at,mood\n\n1,x,2026-11-20T09:00:00Z,grumpy\n\n"
    batch = read(content)
    assert len(batch.conversations) == 1 and batch.rows == 1
    assert batch.ignored_columns == ("mood",)


def test_the_same_rows_as_json_and_json_lines() -> None:
    rows: list[dict[str, Any]] = [
        {"id": 1001, "channel": "x", "created_at": "2026-11-20T09:00:00Z", "text": SECRET, "extra": {"a": 1}},
        {"id": "1002", "channel": "reddit", "created_at": "2026-11-20T10:00:00Z", "replied_at": "2026-11-20T11:00Z"},
    ]
    as_json = read(json.dumps(rows), Format.JSON)
    as_lines = read("\n".join(json.dumps(row) for row in rows) + "\n\n", Format.JSONL)
    for batch in (as_json, as_lines):
        assert batch.skipped == [] and batch.ignored_columns == ("extra",)
        assert [c.message.platform_id for c in batch.conversations] == ["1001", "1002"]
        assert batch.summary()["messages"] == 3
    assert as_json.messages == as_lines.messages


def test_the_summary_counts_rows_channels_and_skips() -> None:
    batch = read(
        csv_of(
            "1,x,2026-11-20T09:00:00Z,,,,2026-11-20T10:00:00Z,,",
            "2,facebook,2026-11-20T09:00:00Z,,,,,,",
            "1,x,2026-11-21T09:00:00Z,,,,,,",
            "3,x,2024-01-01T09:00:00Z,,,,,,",
            "4,x,yesterday,,,,,,",
        )
    )
    assert batch.summary() == {
        "rows": 5,
        "conversations": 2,
        "replies": 1,
        "messages": 3,
        "channels": {"facebook": 1, "x": 1},
        "skipped": {"invalid": 1, "duplicate": 1, "expired": 1},
        "ignored_columns": [],
    }


def test_the_sample_file_in_the_docs_reads_without_a_skip() -> None:
    batch = parse(
        SAMPLE.read_text(encoding="utf-8"),
        format_of(SAMPLE.name),
        brand="acme",
        source_id="imported",
        now=datetime(2026, 3, 31, tzinfo=UTC),
        retention=RETENTION,
    )
    assert batch.skipped == [] and batch.rows == len(batch.conversations) >= 8
    assert any(c.reply is None for c in batch.conversations)
    assert {c.message.kind for c in batch.conversations} >= {MessageKind.MENTION, MessageKind.REVIEW}


# --- bad rows -------------------------------------------------------------------------------

BAD_ROWS = [
    (f',x,2026-11-20T09:00:00Z,a,"{SECRET}",,,,', "id: required"),
    (f'1,,2026-11-20T09:00:00Z,a,"{SECRET}",,,,', "channel: required"),
    (f'1,Twitter!,2026-11-20T09:00:00Z,a,"{SECRET}",,,,', "channel: a platform name"),
    (f'1,x,,a,"{SECRET}",,,,', "created_at: required"),
    (f'1,x,20/11/2026 09:00,a,"{SECRET}",,,,', "created_at: not an ISO 8601 time"),
    (f'1,x,2026-11-20T09:00:00,a,"{SECRET}",,,,', "created_at: needs a UTC offset"),
    (f'1,x,2026-11-24T09:00:00Z,a,"{SECRET}",,,,', "created_at: in the future"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",tweet,,,', "kind: one of mention, comment, dm, review"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",,2026-11-20T08:59:59Z,,', "replied_at: before created_at"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",,soon,,', "replied_at: not an ISO 8601 time"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",,,r1,', "reply_id: given without replied_at"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",,2026-11-20T10:00:00Z,1,', "reply_id: the same as id"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",review,,,6', "rating: a whole number from 1 to 5"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",review,,,4.5', "rating: a whole number from 1 to 5"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",review,,,{SECRET}', "rating: a whole number from 1 to 5"),
    (f'1,mastodon,2026-11-20T09:00:00Z,a,"{SECRET}",,,,', "network: required for mastodon"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET}",,,,,one too many', "10 fields, but the header has 9"),
    (f'{"9" * 600},x,2026-11-20T09:00:00Z,a,"{SECRET}",,,,', "id: longer than 512 characters"),
    (f'1,x,2026-11-20T09:00:00Z,a,"{SECRET * 1000}",,,,', "text: longer than 20000 characters"),
]


@pytest.mark.parametrize(("row", "problem"), BAD_ROWS)
def test_a_bad_row_is_skipped_with_its_line_and_problem_but_not_its_text(row: str, problem: str) -> None:
    batch = read(csv_of("100,x,2026-11-20T09:00:00Z,,fine,,,,", row, "101,x,2026-11-20T09:00:00Z,,fine,,,,"))
    assert [c.message.platform_id for c in batch.conversations] == ["100", "101"], "the bad row stops nothing"
    [(line, category, said)] = problems(batch)
    assert (line, category) == (3, Skip.INVALID)
    assert said.startswith(problem)
    assert "4111" not in said and "furious" not in said


def test_a_bad_permalink_and_a_bad_network_are_refused() -> None:
    header = "id,channel,network,created_at,permalink,text"
    batch = read(
        csv_of(
            f"1,x,,2026-11-20T09:00:00Z,javascript:alert(1),{SECRET}",
            f"2,mastodon,not a host!,2026-11-20T09:00:00Z,,{SECRET}",
            f"3,x,,2026-11-20T09:00:00Z,https://x.com/a/status/3,{SECRET}",
            header=header,
        )
    )
    assert [(line, problem.split(":")[0]) for line, _, problem in problems(batch)] == [
        (2, "permalink"),
        (3, "network"),
    ]
    assert batch.conversations[0].message.permalink == "https://x.com/a/status/3"


def test_duplicate_ids_keep_the_first_and_a_reply_id_may_not_reuse_a_message_id() -> None:
    batch = read(
        csv_of(
            "1,x,2026-11-20T09:00:00Z,,first,,2026-11-20T10:00:00Z,,",
            "1,x,2026-11-21T09:00:00Z,,second,,,,",
            "1#reply,x,2026-11-21T09:00:00Z,,,,,,",
            "1,facebook,2026-11-21T09:00:00Z,,same id elsewhere,,,,",
        )
    )
    assert [(c.message.platform, c.message.text) for c in batch.conversations] == [
        ("x", "first"),
        ("facebook", "same id elsewhere"),
    ]
    assert problems(batch) == [
        (3, Skip.DUPLICATE, "id already used on line 2; the first is kept"),
        (4, Skip.DUPLICATE, "id already used on line 2; the first is kept"),
    ]


def test_rows_past_the_retention_are_skipped_as_expired() -> None:
    edge = (NOW - RETENTION).isoformat()
    batch = read(csv_of(f"1,x,{edge},,,,,,", "2,x,2026-01-01T00:00:00Z,,,,,,"))
    assert [c.message.platform_id for c in batch.conversations] == ["2"]
    assert problems(batch) == [(2, Skip.EXPIRED, "posted more than 400 days ago, past the stack's retention")]


def test_bad_json_rows_are_skipped_one_by_one() -> None:
    lines = [
        json.dumps({"id": "1", "channel": "x", "created_at": "2026-11-20T09:00:00Z"}),
        '{"id": "2", "text": "' + SECRET + '",',
        json.dumps([1, 2]),
        json.dumps({"id": "3", "channel": "x", "created_at": "2026-11-20T09:00:00Z", "text": {"t": SECRET}}),
        json.dumps({"id": True, "channel": "x", "created_at": "2026-11-20T09:00:00Z"}),
        json.dumps({"id": "4", "channel": "x", "created_at": "2026-11-20T09:00:00Z", "text": SECRET, "rating": 0}),
    ]
    batch = read("\n".join(lines), Format.JSONL)
    assert [c.message.platform_id for c in batch.conversations] == ["1"]
    assert [(line, problem) for line, _, problem in problems(batch)] == [
        (2, "not valid JSON"),
        (3, "not a JSON object"),
        (4, "text: a string or a number"),
        (5, "id: a string or a number"),
        (6, "rating: a whole number from 1 to 5"),
    ]
    array = read(json.dumps([lines[0], json.loads(lines[0]) | {"id": "9"}]), Format.JSON)
    assert [(line, problem) for line, _, problem in problems(array)] == [(1, "not a JSON object")]
    assert SECRET not in repr(batch.skipped) + repr(array.skipped)


@pytest.mark.parametrize(
    ("content", "file_format", "message"),
    [
        ("", Format.CSV, "the file is empty"),
        ("id,channel,text\n1,x,hi\n", Format.CSV, "the header lacks required columns: created_at"),
        ("id,channel,created_at,id\n", Format.CSV, "the header names columns more than once: id"),
        ('{"id": "1"}', Format.JSON, "a JSON file holds an array of objects"),
        ('[{"id": "1",', Format.JSON, "not valid JSON (line 1"),
    ],
)
def test_a_file_that_cannot_be_read_at_all_is_refused_whole(content: str, file_format: Format, message: str) -> None:
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(")):
        read(content, file_format)


def test_broken_quoting_is_one_problem_naming_the_lines_it_swallowed() -> None:
    good = "2,x,2026-11-20T09:00:00Z,fine"
    after_quote = read(f'id,channel,created_at,text\n1,x,2026-11-20T09:00:00Z,"a"b\n{good}\n')
    assert [c.message.platform_id for c in after_quote.conversations] == ["2"]
    assert [(line, problem.split(" (")[0]) for line, _, problem in problems(after_quote)] == [
        (2, "the row cannot be read as CSV")
    ]
    # A quote never closed runs to the end of the file: every line after it is part of that one field.
    unclosed = read(f'id,channel,created_at,text\n{good}\n3,x,2026-11-20T09:00:00Z,"{SECRET}\n4,x,,\n5,x,,\n')
    assert [c.message.platform_id for c in unclosed.conversations] == ["2"]
    assert [(line, problem.split(" (")[0]) for line, _, problem in problems(unclosed)] == [
        (3, "lines 3-5 cannot be read as CSV")
    ]
    assert SECRET not in repr(unclosed.skipped)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.csv", Format.CSV), ("A.JSON", Format.JSON), ("b.jsonl", Format.JSONL), ("c.ndjson", Format.JSONL)],
)
def test_the_format_follows_the_extension(name: str, expected: Format) -> None:
    assert format_of(name) is expected


def test_an_unknown_extension_asks_for_the_format() -> None:
    with pytest.raises(ImportFileError, match="--format"):
        format_of("history.txt")
