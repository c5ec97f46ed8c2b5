"""`replywatch import`: past conversations land in the statistics through the stream, never alert,
and importing the same file again changes nothing."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from replywatch.cli import main
from replywatch.models import Message, MessageKind, MessageStatus, Sentiment
from replywatch.store import MessageStore
from tests.support import aws

TABLES = ["--state-table", aws.STATE_TABLE, "--messages-table", aws.MESSAGES_TABLE, "--retention-days", "30"]
FIELDS = ["id", "channel", "created_at", "author", "text", "kind", "replied_at", "rating"]
ANGRY = "This is the worst service ever, I am furious and disgusted. Terrible, useless company!"


@pytest.fixture
def process(aws_env: None) -> ModuleType:
    return aws.load_handler("process")


@pytest.fixture
def store(aws_env: None) -> MessageStore:
    return MessageStore(boto3.client("dynamodb", region_name=aws.REGION), aws.MESSAGES_TABLE, aws.STATE_TABLE)


@pytest.fixture
def brand(aws_env: None) -> None:
    """A brand whose recipient would get every kind of alert, by e-mail and SMS."""
    assert main(["--state-table", aws.STATE_TABLE, "add-brand", "acme", "Acme", "--sla-minutes", "60"]) == 0
    recipient = ["add-recipient", "acme", "lead", "Lead", "--email", "lead@acme.example", "--phone", "+15550100001"]
    kinds = ["--kinds", "warning,overdue,escalation,negative"]
    assert main(["--state-table", aws.STATE_TABLE, *recipient, *kinds]) == 0


def history(now: datetime) -> list[dict[str, str]]:
    """Four conversations three days ago, a row with a bad date, and one past a 30-day retention."""
    start = (now - timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    rows: list[dict[str, Any]] = [
        # answered after 10 minutes, and after 2 hours (outside the 60-minute SLA)
        {"id": "1001", "channel": "x", "created_at": start, "replied_at": start + timedelta(minutes=10)},
        {
            "id": "1002",
            "channel": "x",
            "created_at": start + timedelta(hours=1),
            "replied_at": start + timedelta(hours=3),
        },
        # negative and never answered
        {"id": "fb_1", "channel": "facebook", "created_at": start + timedelta(hours=2), "text": ANGRY},
        # a one-star review answered the next day
        {
            "id": "gp:1",
            "channel": "google_play",
            "created_at": start + timedelta(hours=3),
            "replied_at": start + timedelta(days=1, hours=3),
            "kind": "review",
            "rating": "1",
        },
        {"id": "bad", "channel": "x", "created_at": "last tuesday", "text": ANGRY},
        {"id": "old", "channel": "x", "created_at": now - timedelta(days=40)},
    ]
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main([*TABLES, "import", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


class FreshPump(aws.StreamPump):
    """The stream read from a fresh iterator after the last record delivered. moto answers a
    cancelled transaction by restoring a deep copy of its tables, stream included, so an
    iterator kept from before (as StreamPump keeps them) goes on reading the old copy."""

    def new_records(self) -> list[dict[str, Any]]:
        records = []
        for shard in self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            last = next(
                (r["dynamodb"]["SequenceNumber"] for r in reversed(self.delivered) if r["_shard"] == shard_id), None
            )
            where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last} if last else {}
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, **(where or {"ShardIteratorType": "TRIM_HORIZON"})
            )["ShardIterator"]
            for record in self.streams.get_records(ShardIterator=iterator)["Records"]:
                record["eventSourceARN"] = self.stream_arn
                record["dynamodb"].pop("ApproximateCreationDateTime", None)
                records.append(record)
                self.delivered.append(record | {"_shard": shard_id})
        return records


@pytest.fixture
def stream(pump: aws.StreamPump) -> FreshPump:
    return FreshPump(pump.streams, pump.stream_arn)


def drain(process: ModuleType, pump: aws.StreamPump) -> list[dict[str, Any]]:
    """Deliver what the stream holds to the process handler, as the event source mapping does."""
    records = pump.new_records()
    if records:
        response = process.lambda_handler(aws.stream_event(records), aws.LambdaContext())
        assert response == {"batchItemFailures": []}
    return records


def totals(store: MessageStore, first: date, last: date) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Received and responded per channel, and the first-response histogram, over those days."""
    received: Counter[str] = Counter()
    responded: Counter[str] = Counter()
    histogram: Counter[str] = Counter()
    for aggregate in store.day_aggregates("acme", first, last):
        received[aggregate.channel] += aggregate["received"]
        responded[aggregate.channel] += aggregate["responded"]
        histogram.update(aggregate.histogram)
    return +received, +responded, +histogram


def test_imported_history_is_counted_never_alerted_and_a_second_import_changes_nothing(
    brand: None,
    process: ModuleType,
    stream: FreshPump,
    store: MessageStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    path = write_csv(tmp_path / "history.csv", history(now))

    code, summary = run_import(capsys, str(path), "--brand", "acme")
    assert code == 1, "a row was invalid: the exit code says so, the others are imported"
    assert summary["conversations"] == 4 and summary["messages"] == 7
    assert (summary["stored"], summary["already_there"]) == (7, 0)
    assert summary["skipped"] == {"invalid": 1, "duplicate": 0, "expired": 1}
    assert [(row["line"], row["reason"]) for row in summary["skipped_rows"]] == [(6, "invalid"), (7, "expired")]
    assert "furious" not in json.dumps(summary)

    inserted = drain(process, stream)
    assert sum(record["eventName"] == "INSERT" for record in inserted) == 7
    drain(process, stream)  # the pipeline's own updates: ignored

    first, last = (now - timedelta(days=4)).date(), now.date()
    received, responded, histogram = totals(store, first, last)
    assert received == {"x": 2, "facebook": 1, "google_play": 1}
    assert responded == {"x": 2, "google_play": 1}
    assert sum(histogram.values()) == 3

    angry = store.get("acme#facebook#fb_1")
    assert angry is not None and angry.imported and angry.counted
    assert angry.sentiment is Sentiment.NEGATIVE, "classified like any message"
    assert angry.alert_at is None and angry.alert_stage is None, "never on the alert ladder"
    review = store.get("acme#google_play#gp:1")
    assert review is not None and review.kind is MessageKind.REVIEW and review.rating == 1
    assert review.status is MessageStatus.ANSWERED and review.first_response_seconds == 86400
    assert review.responded_by == "acme#google_play#gp:1#reply"

    # The sweep finds nothing to alert on either.
    aws.load_handler("sweep").lambda_handler({}, aws.LambdaContext())
    assert aws.sent_emails() == [] and aws.sent_sms() == []

    # The same file again: every message is already there, the stream carries nothing new.
    code, again = run_import(capsys, str(path), "--brand", "acme")
    assert code == 1 and (again["stored"], again["already_there"]) == (0, 7)
    assert not [record for record in drain(process, stream) if record["eventName"] == "INSERT"]
    assert totals(store, first, last) == (received, responded, histogram)

    # Control: the same recipients do get a live negative message (so "no alert" above means something).
    live = Message(
        brand="acme",
        platform="x",
        source_id="x-main",
        platform_id="2001",
        author_id="9",
        author_handle="@angry",
        text=ANGRY,
        created_at=now - timedelta(minutes=1),
        kind=MessageKind.MENTION,
    )
    assert store.put_new(live, ingested_at=now, expires_at=now + timedelta(days=30))
    drain(process, stream)
    assert aws.sent_emails(), "a live negative message alerts"


def test_an_unanswered_imported_message_is_not_a_live_open_message(
    brand: None,
    process: ModuleType,
    stream: FreshPump,
    store: MessageStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    path = write_csv(tmp_path / "history.csv", history(now))
    assert run_import(capsys, str(path), "--brand", "acme")[0] == 1
    drain(process, stream)

    angry = store.get("acme#facebook#fb_1")
    assert angry is not None and angry.counted and angry.first_response_at is None
    assert angry.status is None, "neither open nor overdue: history, not a message waiting now"
    backlog = store.backlog("acme")
    assert (backlog.open, backlog.overdue, backlog.oldest_open_at) == (0, 0, None)
    assert store.queue("acme", "open", limit=10).messages == []


def test_a_dry_run_writes_nothing_and_an_unknown_brand_or_unreadable_file_does_nothing(
    brand: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    path = write_csv(tmp_path / "history.csv", history(now))
    code, summary = run_import(capsys, str(path), "--brand", "acme", "--dry-run")
    assert code == 1 and summary["dry_run"] and summary["messages"] == 7 and summary["stored"] == 0
    assert list(aws.iter_table(aws.MESSAGES_TABLE)) == []

    assert main([*TABLES, "import", str(path), "--brand", "nobody"]) == 2
    assert "no brand 'nobody'" in capsys.readouterr().err
    unreadable = tmp_path / "history.txt"
    unreadable.write_text("whatever")
    assert main([*TABLES, "import", str(unreadable), "--brand", "acme"]) == 2
    assert "--format" in capsys.readouterr().err
    missing = tmp_path / "nope.csv"
    assert main([*TABLES, "import", str(missing), "--brand", "acme"]) == 2
    assert list(aws.iter_table(aws.MESSAGES_TABLE)) == []


def test_a_json_lines_file_imports_like_the_csv(
    brand: None, store: MessageStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in history(now)) + "\n", encoding="utf-8")
    code, summary = run_import(capsys, str(path), "--brand", "acme", "--source-id", "zendesk-export")
    assert code == 1 and summary["format"] == "jsonl" and summary["stored"] == 7
    stored = store.get("acme#x#1001")
    assert stored is not None and stored.imported and stored.source_id == "zendesk-export"
    reply = store.get("acme#x#1001#reply")
    assert reply is not None and reply.from_brand and reply.imported
    expires = boto3.client("dynamodb", region_name=aws.REGION).get_item(
        TableName=aws.MESSAGES_TABLE, Key={"pk": {"S": "acme#x#1001"}}
    )["Item"]["expires_at"]["N"]
    assert int(expires) == int((stored.created_at + timedelta(days=30)).timestamp()), "retention from created_at"
