"""`replywatch audit-stats`: the aggregates and the live backlog checked against the stored
messages, drift repaired, and a write made while the audit reads never taken for drift."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from replywatch import audit, stats
from replywatch.cli import check_stats, main
from replywatch.models import (
    Brand,
    Classification,
    Intent,
    Message,
    MessageKind,
    MessageRecord,
    Resolution,
    Sentiment,
    SlaPolicy,
    Wait,
)
from replywatch.ports import Triage
from replywatch.sla import Stage
from replywatch.store import MessageStore, StateStore
from tests.support import aws

NOW = datetime.now(UTC)
POSTED = (NOW - timedelta(days=3)).replace(hour=10, minute=5, second=0, microsecond=0)
SLA = timedelta(hours=1)
TABLES = ["--state-table", aws.STATE_TABLE, "--messages-table", aws.MESSAGES_TABLE]
DAY_X = f"DAY#{POSTED.date().isoformat()}#x"
HOUR_X = f"HOUR#{POSTED.strftime('%Y-%m-%dT%H')}#x"


def _store() -> MessageStore:
    return MessageStore(boto3.client("dynamodb", region_name=aws.REGION), aws.MESSAGES_TABLE, aws.STATE_TABLE)


def _read(store: MessageStore, key: str) -> MessageRecord:
    record = store.get(key)
    assert record is not None
    return record


def customer_message(
    store: MessageStore,
    number: int,
    channel: str,
    *,
    after: timedelta = timedelta(),
    wait: Wait = Wait.FIRST,
    overdue: bool = False,
    answered: timedelta | None = None,
    resolved: bool = False,
) -> str:
    """A customer message taken through the real counting path, as the processor and sweep would."""
    created = POSTED + after
    message = Message(
        brand="acme",
        platform=channel,
        source_id=f"{channel}-main",
        platform_id=f"m{number}",
        author_id=f"c{number}",
        author_handle=f"@customer{number}",
        text="@acme my order never came",
        created_at=created,
        kind=MessageKind.MENTION,
    )
    due = created + SLA
    assert store.put_new(message, ingested_at=created, expires_at=created + timedelta(days=400))
    assert store.count_inbound(
        _read(store, message.key),
        due_at=due,
        classification=Classification(sentiment=Sentiment.NEGATIVE, score=-0.6, intent=Intent.COMPLAINT),
        triage=Triage(wait=wait, target_seconds=3600, alert=(Stage.BREACH, due)),
    )
    if overdue:
        assert store.advance_alert(_read(store, message.key), after=Stage.BREACH, following=None, overdue=True, now=due)
    if answered is not None:
        store.record_first_response(
            _read(store, message.key),
            reply_key=f"acme#{channel}#r{number}",
            replied_at=created + answered,
            seconds=int(answered.total_seconds()),
            within_sla=answered <= SLA,
            previous_within_sla=False,
        )
    elif resolved:
        store.resolve(_read(store, message.key), resolution=Resolution.PHONE, note=None, now=created + SLA / 2)
    return message.key


@pytest.fixture
def history(aws_env: None) -> Iterator[MessageStore]:
    StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE).put_brand(
        Brand(brand_id="acme", name="Acme", sla=SlaPolicy(first_response_seconds=3600))
    )
    store = _store()
    customer_message(store, 1, "x", answered=timedelta(minutes=20))
    customer_message(store, 2, "x", after=timedelta(minutes=30), overdue=True, answered=timedelta(hours=2))
    customer_message(store, 3, "mastodon", resolved=True)
    customer_message(store, 4, "mastodon", after=timedelta(hours=5), overdue=True)
    customer_message(store, 5, "x", after=timedelta(minutes=50), wait=Wait.NEXT, answered=timedelta(minutes=5))
    yield store


def audit_cli(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main([*TABLES, "audit-stats", "acme", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def _raw_add(sk: str, expression: str, values: dict[str, Any], names: dict[str, str] | None = None) -> None:
    """A write made outside the product (or by an older version of it): drift to find."""
    request: dict[str, Any] = {
        "TableName": aws.STATE_TABLE,
        "Key": {"pk": {"S": "BRAND#acme"}, "sk": {"S": sk}},
        "UpdateExpression": expression,
    }
    if values:
        request["ExpressionAttributeValues"] = values
    if names:
        request["ExpressionAttributeNames"] = names
    boto3.client("dynamodb", region_name=aws.REGION).update_item(**request)


def _range() -> tuple[datetime, datetime]:
    start = datetime.combine(POSTED.date() - timedelta(days=1), datetime.min.time(), UTC)
    return start, start + timedelta(days=4)


def test_statistics_kept_by_the_counting_path_audit_clean(
    history: MessageStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = audit_cli(capsys)
    assert code == 0, report
    assert report["messages_counted"] == 5
    assert report["drift"] == [] and report["backlog_drift"] == [] and report["changed_while_reading"] == 0
    # x at 10:05, 10:35 and 10:55: three quarters, an hour, a day; mastodon at 10:05 and 15:05: two of
    # each and a day
    assert report["items_checked"] == 5 + 5


def test_drift_is_reported_exactly_and_repaired_back_to_what_the_messages_say(
    history: MessageStore, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = _range()
    kept = history.slot_items("acme", start, end)
    bucket = stats.bucket_of(20 * 60)
    _raw_add(DAY_X, "ADD received :one", {":one": {"N": "1"}})
    _raw_add(HOUR_X, "REMOVE #bucket", {}, {"#bucket": f"h_{bucket}"})
    _raw_add("TOTALS#mastodon", "ADD #open :one", {":one": {"N": "1"}}, {"#open": "open"})

    code, report = audit_cli(capsys)
    assert code == 1
    drift = {(d["slot"], d["channel"]): d for d in report["drift"]}
    assert set(drift) == {(DAY_X.rsplit("#", 1)[0], "x"), (HOUR_X.rsplit("#", 1)[0], "x")}
    assert drift[(DAY_X.rsplit("#", 1)[0], "x")]["counters"] == {"received": -1}
    assert drift[(HOUR_X.rsplit("#", 1)[0], "x")] == {
        "slot": HOUR_X.rsplit("#", 1)[0],
        "channel": "x",
        "counters": {},
        "histogram": {bucket: 1},
    }
    assert report["backlog_drift"] == [{"channel": "mastodon", "counts": {"open": -1}}]

    code, report = audit_cli(capsys, "--repair")
    assert code == 0 and report["repaired"] == 3 and report["not_repaired_written_since"] == 0
    code, report = audit_cli(capsys)
    assert code == 0 and report["drift"] == [] and report["backlog_drift"] == []
    # The stats read the same items again as before they were tampered with.
    assert {key: (a.counters, a.histogram) for key, a in history.slot_items("acme", start, end).items()} == {
        key: (a.counters, a.histogram) for key, a in kept.items()
    }
    assert history.backlog("acme").open == 1 and history.backlog("acme").overdue == 1


def test_a_message_counted_while_the_audit_reads_is_not_taken_for_drift(
    history: MessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = history.tally

    def read_while_a_message_arrives(brand: str, start: datetime, end: datetime) -> audit.Tally:
        found = read(brand, start, end)  # the scan misses the message counted right after it
        customer_message(history, 6, "x", after=timedelta(minutes=1), overdue=True)
        return found

    monkeypatch.setattr(history, "tally", read_while_a_message_arrives)
    found, counted = check_stats(history, "acme", *_range())
    assert found.clean, found.drift
    assert {(level.value, channel) for level, _, channel in found.changed} == {("DAY", "x"), ("HOUR", "x"), ("Q", "x")}
    assert found.backlog_changed == ["x"]
    assert counted == 5
    monkeypatch.undo()
    found, counted = check_stats(history, "acme", *_range())
    assert found.clean and not found.changed and counted == 6


def test_a_repair_is_not_applied_to_an_item_written_since_it_was_read(history: MessageStore) -> None:
    _raw_add(DAY_X, "ADD received :two", {":two": {"N": "2"}})
    _raw_add("TOTALS#x", "ADD #open :one", {":one": {"N": "1"}}, {"#open": "open"})
    found, _ = check_stats(history, "acme", *_range())
    day_drift = next(d for d in found.drift if d.level is stats.Level.DAY)
    assert day_drift.counters == {"received": -2}
    customer_message(history, 7, "x", after=timedelta(minutes=2), answered=timedelta(minutes=3))
    assert not history.repair_slot("acme", day_drift)
    assert not history.repair_backlog("acme", found.backlog_drift[0])
    # Audited again, the same drift (the new message counted correctly), and now it repairs.
    found, _ = check_stats(history, "acme", *_range())
    assert [d.counters for d in found.drift] == [{"received": -2}]
    assert [d.counts for d in found.backlog_drift] == [{"open": -1}]
    assert history.repair_slot("acme", found.drift[0]) and history.repair_backlog("acme", found.backlog_drift[0])
    found, _ = check_stats(history, "acme", *_range())
    assert found.clean and not found.changed


def test_refusals_say_why(history: MessageStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TABLES, "audit-stats", "acme", "--from", "2026-11-10", "--to", "2026-11-09"]) == 2
    assert "is after --to" in capsys.readouterr().err
    assert main([*TABLES, "audit-stats", "acme", "--from", (NOW - timedelta(days=399)).date().isoformat()]) == 2
    assert "may have expired (RetentionDays 400)" in capsys.readouterr().err
    assert main([*TABLES, "audit-stats", "globex"]) == 2
    assert "no brand 'globex'" in capsys.readouterr().err
