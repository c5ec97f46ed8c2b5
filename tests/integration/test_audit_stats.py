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
from replywatch import store as store_module
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
TABLES = ["--state-table", aws.STATE_TABLE, "--messages-table", aws.MESSAGES_TABLE, "--retention-days", "400"]
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

    assert "backlog_note" in report

    code, report = audit_cli(capsys, "--repair")
    # The aggregates are repaired; the live backlog only reported (a TTL removal may be on its way).
    assert code == 1 and report["repairs"] == {"repaired": 2}
    code, report = audit_cli(capsys)
    assert code == 1 and report["drift"] == []
    assert report["backlog_drift"] == [{"channel": "mastodon", "counts": {"open": -1}}]
    # The stats read the same aggregate items again as before they were tampered with.
    assert {key: (a.counters, a.histogram) for key, a in history.slot_items("acme", start, end).items()} == {
        key: (a.counters, a.histogram) for key, a in kept.items()
    }
    _raw_add("TOTALS#mastodon", "ADD #open :less", {":less": {"N": "-1"}}, {"#open": "open"})
    code, report = audit_cli(capsys)
    assert code == 0 and report["backlog_drift"] == [] and "backlog_note" not in report
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
    found, _ = check_stats(history, "acme", *_range())
    [day_drift] = found.drift
    assert day_drift.counters == {"received": -2}
    customer_message(history, 7, "x", after=timedelta(minutes=2), answered=timedelta(minutes=3))
    assert history.repair_slot("acme", day_drift) is audit.Repair.WRITTEN_SINCE
    # Audited again, the same drift (the new message counted correctly), and now it repairs.
    found, _ = check_stats(history, "acme", *_range())
    assert [d.counters for d in found.drift] == [{"received": -2}]
    assert history.repair_slot("acme", found.drift[0]) is audit.Repair.DONE
    found, _ = check_stats(history, "acme", *_range())
    assert found.clean and not found.changed


def test_a_repair_in_parts_interrupted_by_a_write_is_reported_partial_and_finished_by_the_next(
    history: MessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    buckets = [f"h_{stats.bucket_of(20 * 60)}", f"h_{stats.bucket_of(2 * 3600)}"]
    _raw_add(DAY_X, "REMOVE #one, #two", {}, {"#one": buckets[0], "#two": buckets[1]})
    found, _ = check_stats(history, "acme", *_range())
    [drift] = found.drift
    assert sorted(drift.histogram.values()) == [1, 1] and drift.counters == {}
    monkeypatch.setattr(store_module, "REPAIR_ADDS", 1)  # one bucket an update
    client = history._client
    update = client.update_item
    calls = []

    def update_then_a_message_arrives(**request: Any) -> Any:
        answer = update(**request)
        calls.append(request["Key"])
        if len(calls) == 1:
            customer_message(history, 8, "x", after=timedelta(minutes=4))
        return answer

    monkeypatch.setattr(client, "update_item", update_then_a_message_arrives)
    assert history.repair_slot("acme", drift) is audit.Repair.PARTLY
    monkeypatch.undo()
    found, _ = check_stats(history, "acme", *_range())
    [drift] = found.drift
    assert list(drift.histogram.values()) == [1] and drift.counters == {}
    assert history.repair_slot("acme", drift) is audit.Repair.DONE
    found, _ = check_stats(history, "acme", *_range())
    assert found.clean


def test_one_audit_of_a_brand_at_a_time(history: MessageStore, capsys: pytest.CaptureFixture[str]) -> None:
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    assert state.take_lease("audit#acme", "other", now=NOW, until=NOW + timedelta(hours=2))
    assert main([*TABLES, "audit-stats", "acme"]) == 2
    assert "another audit of 'acme' is running" in capsys.readouterr().err
    state.give_up_lease("audit#acme", "other")
    assert main([*TABLES, "audit-stats", "acme"]) == 0
    # A lease left behind by a crashed audit ends when it runs out; each run gives its own up.
    assert state.take_lease("audit#acme", "crashed", now=NOW - timedelta(hours=3), until=NOW - timedelta(hours=1))
    assert main([*TABLES, "audit-stats", "acme"]) == 0
    assert main([*TABLES, "audit-stats", "acme"]) == 0


def test_items_written_while_it_reads_are_exit_status_3_not_drift(
    history: MessageStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read = MessageStore.tally

    def read_while_a_message_arrives(self: MessageStore, brand: str, start: datetime, end: datetime) -> audit.Tally:
        found = read(self, brand, start, end)
        customer_message(history, 9, "x", after=timedelta(minutes=6))
        return found

    monkeypatch.setattr(MessageStore, "tally", read_while_a_message_arrives)
    code, report = audit_cli(capsys)
    assert code == 3, report
    assert report["drift"] == [] and report["changed_while_reading"] == 3 + 1  # its 3 slots, x's backlog


def test_refusals_say_why(history: MessageStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TABLES, "audit-stats", "acme", "--from", "2026-11-10", "--to", "2026-11-09"]) == 2
    assert "is after --to" in capsys.readouterr().err
    assert main([*TABLES, "audit-stats", "acme", "--from", (NOW - timedelta(days=399)).date().isoformat()]) == 2
    assert "may have expired (RetentionDays 400;" in capsys.readouterr().err
    assert main([*TABLES, "audit-stats", "globex"]) == 2
    assert "no brand 'globex'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["--state-table", aws.STATE_TABLE, "--messages-table", aws.MESSAGES_TABLE, "audit-stats", "acme"])
    assert refused.value.code == 2
    assert "needs --retention-days" in capsys.readouterr().err
