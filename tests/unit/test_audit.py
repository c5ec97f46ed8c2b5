"""What a stored message adds to its slots, and how an audit tells drift from a write in flight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from replywatch import audit, stats
from replywatch.models import Intent, MessageKind, MessageRecord, MessageStatus, Sentiment, Wait
from replywatch.stats import Aggregate, Level

POSTED = datetime(2026, 11, 3, 10, 20, tzinfo=UTC)
DUE = POSTED + timedelta(hours=1)


def record(number: int = 1, **state: object) -> MessageRecord:
    fields: dict[str, object] = {
        "brand": "acme",
        "platform": "x",
        "source_id": "x-main",
        "platform_id": str(number),
        "author_id": "u1",
        "author_handle": "@ann",
        "text": "@acme where is my order?",
        "created_at": POSTED,
        "kind": MessageKind.MENTION,
    }
    counted = {
        "counted": True,
        "status": MessageStatus.OPEN,
        "due_at": DUE,
        "sentiment": Sentiment.NEGATIVE,
        "intent": Intent.COMPLAINT,
        "wait": Wait.FIRST,
    }
    return MessageRecord.model_validate(fields | counted | state)


def test_an_open_conversation_adds_one_received_with_its_sentiment_and_intent() -> None:
    counters, histogram = audit.contribution(record())
    assert counters == {"received": 1, "sentiment_negative": 1, "intent_complaint": 1}
    assert histogram == {}


def test_an_answer_after_the_due_time_of_an_overdue_message_counts_both_and_is_not_within_the_sla() -> None:
    answered = DUE + timedelta(minutes=5)
    counters, histogram = audit.contribution(
        record(
            status=MessageStatus.ANSWERED,
            overdue_at=DUE,
            first_response_at=answered,
            first_response_seconds=3900,
        )
    )
    assert counters["overdue"] == 1 and counters["responded"] == 1
    assert counters["response_seconds_sum"] == 3900
    assert "within_sla" not in counters and "within_1h" not in counters and counters["within_24h"] == 1
    assert histogram == {stats.bucket_of(3900): 1}


def test_an_answer_on_the_due_time_is_within_the_sla() -> None:
    counters, _ = audit.contribution(
        record(status=MessageStatus.ANSWERED, first_response_at=DUE, first_response_seconds=3600)
    )
    assert counters["within_sla"] == 1 and counters["within_1h"] == 1


def test_a_next_response_wait_counts_under_next_and_leaves_the_distribution_alone() -> None:
    counters, histogram = audit.contribution(
        record(
            wait=Wait.NEXT,
            status=MessageStatus.ANSWERED,
            first_response_at=POSTED + timedelta(minutes=10),
            first_response_seconds=600,
        )
    )
    assert counters["next_received"] == 1 and counters["next_responded"] == 1 and counters["next_within_sla"] == 1
    assert "received" not in counters and "responded" not in counters
    assert counters["sentiment_negative"] == 1  # sentiment and intent count every customer message
    assert histogram == {}


def test_resolved_elsewhere_counts_as_resolved_not_answered() -> None:
    counters, _ = audit.contribution(record(status=MessageStatus.RESOLVED))
    assert counters["resolved"] == 1 and "responded" not in counters


def test_follow_ups_and_uncounted_messages_add_nothing() -> None:
    assert audit.contribution(record(counted=False, opener_key="acme#x#0")) == ({}, {})
    assert audit.expected_slots([record(counted=False)]) == {}


def test_messages_add_up_in_their_day_hour_and_quarter_and_per_channel() -> None:
    found = audit.expected_slots(
        [
            record(1),
            record(2, created_at=POSTED + timedelta(minutes=20), sentiment=Sentiment.NEUTRAL),
            record(3, platform="mastodon"),
        ]
    )
    day = (Level.DAY, datetime(2026, 11, 3, tzinfo=UTC), "x")
    assert found[day].counters["received"] == 2
    assert found[(Level.HOUR, datetime(2026, 11, 3, 10, tzinfo=UTC), "x")].counters["received"] == 2
    assert found[(Level.QUARTER, datetime(2026, 11, 3, 10, 15, tzinfo=UTC), "x")].counters["received"] == 1
    assert found[(Level.QUARTER, datetime(2026, 11, 3, 10, 30, tzinfo=UTC), "x")].counters["received"] == 1
    assert found[(Level.DAY, datetime(2026, 11, 3, tzinfo=UTC), "mastodon")].counters["received"] == 1
    assert len(found) == 4 + 3  # x: a day, an hour, two quarters; mastodon: one of each


def test_the_backlog_counts_waiting_messages_per_channel() -> None:
    backlog = audit.expected_backlog(
        [
            record(1),
            record(2, status=MessageStatus.OVERDUE),
            record(3, status=MessageStatus.ANSWERED),
            record(4, platform="mastodon", status=MessageStatus.RESOLVED),
        ]
    )
    assert backlog == {"x": {"open": 2, "overdue": 1}}


KEY = (Level.DAY, datetime(2026, 11, 3, tzinfo=UTC), "x")


def aggregate(**counters: int) -> Aggregate:
    return Aggregate(start=KEY[1], level=KEY[0], channel=KEY[2], counters=counters)


def compare(want: dict, before: dict, after: dict, **backlog: dict) -> audit.Audit:
    return audit.compare(
        want,
        before,
        after,
        backlog_expected=backlog.get("wanted", {}),
        backlog_before=backlog.get("was", {}),
        backlog_after=backlog.get("now", {}),
    )


def test_an_item_equal_to_its_messages_is_clean_zeros_or_not() -> None:
    found = compare(
        {KEY: aggregate(received=2)}, {KEY: aggregate(received=2, resolved=0)}, {KEY: aggregate(received=2)}
    )
    assert found.clean and found.slots == 1 and not found.changed


def test_drift_is_expected_minus_stored_and_a_missing_item_holds_nothing() -> None:
    other = (Level.HOUR, datetime(2026, 11, 3, 10, tzinfo=UTC), "x")
    stale = {KEY: aggregate(received=3, responded=1), other: aggregate(received=1)}
    found = compare({KEY: aggregate(received=2, responded=2)}, stale, stale)
    assert not found.clean
    drift = {(d.level, d.start, d.channel): d for d in found.drift}
    assert drift[KEY].counters == {"received": -1, "responded": 1}
    assert drift[other].counters == {"received": -1}  # stored, but no message of it is


def test_an_item_written_while_the_messages_were_read_is_changed_not_drift() -> None:
    found = compare({KEY: aggregate(received=1)}, {KEY: aggregate(received=1)}, {KEY: aggregate(received=2)})
    assert found.clean and found.changed == [KEY]


def test_the_backlog_is_still_only_when_no_write_was_made_to_it() -> None:
    # Counted and answered between the two reads: the counts are back where they were, the writes are not.
    still = audit.Stored({"open": 1}, writes=4)
    found = compare({}, {}, {}, wanted={"x": {"open": 2}}, was={"x": still}, now={"x": audit.Stored({"open": 1}, 6)})
    assert found.clean and found.backlog_changed == ["x"]
    found = compare({}, {}, {}, wanted={"x": {"open": 2}}, was={"x": still}, now={"x": still})
    assert [(d.channel, d.counts) for d in found.backlog_drift] == [("x", {"open": 1})]
