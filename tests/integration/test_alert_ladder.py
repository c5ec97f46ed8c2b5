"""Warnings, breaches and escalations exactly once per message, storm control and quiet hours,
against the real store (moto) with sweeps racing each other and stream batches redelivered."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest

from replywatch.alerts import AlertContent
from replywatch.classify import default_classifier
from replywatch.models import (
    Brand,
    Message,
    MessageKind,
    MessageRecord,
    MessageStatus,
    Recipient,
    SlaPolicy,
    StormControl,
)
from replywatch.processing import Processor
from replywatch.store import MessageStore, StateStore
from replywatch.sweeping import Sweeper
from tests.support import aws
from tests.support.atomic import AtomicRequests

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # on a 15-minute window boundary
HOUR = 3600
SLA = SlaPolicy(first_response_seconds=HOUR)  # warning at 48 min, breach at 60, escalation at 120
NEUTRAL = "Hello, my order number is 12345."
NEGATIVE = "This is terrible, the worst service ever. I hate it!"


@dataclass
class RecordingNotifier:
    """Thread-safe: sweeps race in threads."""

    emails: list[tuple[str, AlertContent]] = field(default_factory=list)
    sms: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send_email(self, to: str, content: AlertContent) -> None:
        with self._lock:
            self.emails.append((to, content))

    def send_sms(self, phone: str, text: str) -> None:
        with self._lock:
            self.sms.append((phone, text))

    def email_subjects(self) -> Counter[str]:
        return Counter(content.subject for _, content in self.emails)


@dataclass
class Pipeline:
    messages: MessageStore
    state: StateStore
    processor: Processor
    sweeper: Sweeper


def pipeline(notifier: RecordingNotifier) -> Pipeline:
    """Adapters with their own client, as another Lambda container would have."""
    client = AtomicRequests(boto3.client("dynamodb", region_name=aws.REGION))
    messages, state = MessageStore(client, aws.MESSAGES_TABLE, aws.STATE_TABLE), StateStore(client, aws.STATE_TABLE)
    processor = Processor(
        messages=messages, state=state, classifier=default_classifier(), notifier=notifier, default_sla=SLA
    )
    sweeper = Sweeper(messages=messages, state=state, notifier=notifier, default_sla=SLA, processor=processor)
    return Pipeline(messages, state, processor, sweeper)


def customer_message(number: int, text: str, at: datetime = T0) -> Message:
    return Message(
        brand="acme",
        platform="mastodon",
        source_id="acme-social",
        platform_id=str(1000 + number),
        author_id=f"author-{number}",
        author_handle=f"@customer{number}@example.social",
        text=text,
        permalink=f"https://example.social/@customer{number}/{1000 + number}",
        created_at=at,
        kind=MessageKind.MENTION,
    )


def store_and_process(line: Pipeline, message: Message, now: datetime) -> MessageRecord:
    assert line.messages.put_new(message, ingested_at=now, expires_at=now + timedelta(days=400))
    record = line.messages.get(message.key)
    assert record is not None
    line.processor.on_new_message(record, now)
    return record


def setup_brand(state: StateStore, *recipients: Recipient, storm: StormControl | None = None, tz: str = "UTC") -> None:
    state.put_brand(Brand(brand_id="acme", name="Acme", sla=SLA, storm=storm or StormControl(limit=1000), timezone=tz))
    for recipient in recipients:
        state.put_recipient(recipient)


LEAD = Recipient(
    brand_id="acme",
    recipient_id="lead",
    name="Team lead",
    email="lead@acme.example",
    phone="+447700900001",
    alert_kinds=frozenset({"warning", "overdue", "escalation"}),
)

NEGATIVE_ONLY = Recipient(
    brand_id="acme",
    recipient_id="agent",
    name="Agent",
    email="agent@acme.example",
    phone="+447700900002",
    alert_kinds=frozenset({"negative"}),
)


def test_one_warning_one_breach_and_one_escalation_per_message_under_racing_sweeps_and_redelivery(
    aws_env: None,
) -> None:
    notifier = RecordingNotifier()
    first = pipeline(notifier)
    setup_brand(first.state, LEAD)
    records = [store_and_process(first, customer_message(n, NEUTRAL, T0 + timedelta(seconds=n)), T0) for n in range(6)]
    for record in records:  # the stream delivers the batch again
        first.processor.on_new_message(record, T0 + timedelta(seconds=30))

    lines = [first, pipeline(notifier)]
    barrier = threading.Barrier(len(lines))

    def race(at: datetime) -> list[str]:
        def sweep(line: Pipeline) -> list[str]:
            barrier.wait(timeout=10)
            report = line.sweeper.sweep(at)
            assert report.failed == []
            return report.flagged

        with ThreadPoolExecutor(max_workers=len(lines)) as pool:
            flagged = [key for keys in pool.map(sweep, lines) for key in keys]
        flagged += first.sweeper.sweep(at).flagged  # and a retried invocation after both
        return flagged

    assert race(T0 + timedelta(minutes=47)) == []
    assert notifier.emails == [] and notifier.sms == []

    race(T0 + timedelta(minutes=48, seconds=10))
    assert len(notifier.emails) == len(notifier.sms) == len(records), "one warning per message and channel"
    assert all(content.subject.startswith("[ReplyWatch] Acme: Reply due in") for _, content in notifier.emails)

    for record in records:  # a redelivered batch after the warning changes nothing
        first.processor.on_new_message(record, T0 + timedelta(minutes=50))

    flagged = race(T0 + timedelta(minutes=61))
    assert sorted(flagged) == sorted(record.key for record in records), "each flagged overdue once"
    breach = [c for _, c in notifier.emails if "No reply yet, past the SLA" in c.subject]
    assert len(breach) == len(records)

    race(T0 + timedelta(hours=2, seconds=10))
    escalations = [c for _, c in notifier.emails if "Escalation 1: still no reply" in c.subject]
    assert len(escalations) == len(records)

    race(T0 + timedelta(hours=5))
    subjects = notifier.email_subjects()
    assert len(notifier.emails) == 3 * len(records)
    assert all(count == 1 for count in subjects.values()), subjects
    per_phone_and_text = Counter(notifier.sms)
    assert len(notifier.sms) == 3 * len(records) and all(count == 1 for count in per_phone_and_text.values())
    for record in records:
        stored = first.messages.get(record.key)
        assert stored is not None and stored.status is MessageStatus.OVERDUE and stored.alert_at is None
    assert first.messages.backlog("acme").overdue == len(records)


def test_a_late_sweep_sends_the_breach_not_the_stale_warning_and_an_answer_stops_the_ladder(aws_env: None) -> None:
    notifier = RecordingNotifier()
    line = pipeline(notifier)
    setup_brand(line.state, LEAD)
    _late, answered = (store_and_process(line, customer_message(n, NEUTRAL), T0) for n in (1, 2))
    reply = Message(
        brand="acme",
        platform="mastodon",
        source_id="acme-social",
        platform_id="9001",
        parent_id=answered.platform_id,
        author_id="acme",
        author_handle="@acme@example.social",
        text="Sorry! Sent you a DM.",
        created_at=T0 + timedelta(minutes=30),
        kind=MessageKind.MENTION,
        from_brand=True,
    )
    store_and_process(line, reply, T0 + timedelta(minutes=30))

    line.sweeper.sweep(T0 + timedelta(minutes=65))  # the sweep missed the warning's minute
    subjects = [content.subject for _, content in notifier.emails]
    assert len(subjects) == 1 and "No reply yet, past the SLA" in subjects[0] and "@customer1@" in subjects[0]
    assert line.messages.get(answered.key).status is MessageStatus.ANSWERED  # type: ignore[union-attr]
    line.sweeper.sweep(T0 + timedelta(hours=3))
    assert [c.subject for _, c in notifier.emails if "@customer2@" in c.subject] == []


def test_storm_control_collapses_a_burst_into_one_summary(aws_env: None) -> None:
    notifier = RecordingNotifier()
    line = pipeline(notifier)
    setup_brand(line.state, NEGATIVE_ONLY, storm=StormControl(limit=3, window_minutes=15))
    burst = [customer_message(n, NEGATIVE, T0 + timedelta(seconds=n)) for n in range(12)]
    for message in burst:
        store_and_process(line, message, T0 + timedelta(minutes=1))
    for message in burst[:5]:  # a redelivered part of the batch is neither sent nor counted again
        record = line.messages.get(message.key)
        assert record is not None
        line.processor.on_new_message(record, T0 + timedelta(minutes=2))

    assert len(notifier.emails) == 3 and len(notifier.sms) == 3, "the first three go out one by one"
    assert line.sweeper.sweep(T0 + timedelta(minutes=10)).summaries == 0, "not before the window ends"
    report = line.sweeper.sweep(T0 + timedelta(minutes=15, seconds=5))
    assert report.summaries == 1
    summaries = [content for _, content in notifier.emails if "more alerts" in content.subject]
    assert len(summaries) == 1
    assert "9 more alerts in 15 minutes" in summaries[0].subject
    assert "Negative messages: 9" in summaries[0].text
    assert sum("9 more alerts" in text for _, text in notifier.sms) == 1
    assert line.sweeper.sweep(T0 + timedelta(minutes=20)).summaries == 0, "one summary per window"
    assert len(notifier.emails) == 4 and len(notifier.sms) == 4


@pytest.mark.parametrize("tz", ["Europe/London", "America/New_York"])
def test_quiet_hours_hold_sms_but_not_email(aws_env: None, tz: str) -> None:
    notifier = RecordingNotifier()
    line = pipeline(notifier)
    night_owl = Recipient(
        brand_id="acme",
        recipient_id="owl",
        name="Owl",
        email="owl@acme.example",
        phone="+447700900003",
        alert_kinds=frozenset({"negative", "overdue"}),
        quiet_hours="22:00-07:00",
    )
    setup_brand(line.state, night_owl, tz=tz)
    night = datetime(2026, 11, 23, 23, 30, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    morning = datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    complaint = store_and_process(line, customer_message(1, NEGATIVE, night), night)
    answered = store_and_process(line, customer_message(2, NEGATIVE, night), night)

    assert len(notifier.emails) == 2, "email goes out at night"
    assert notifier.sms == [], "SMS waits for the morning"

    # The brand answers one of them before the quiet hours end: its SMS is no longer needed.
    stored = line.messages.get(answered.key)
    assert stored is not None
    line.messages.record_first_response(
        stored,
        reply_key="acme#mastodon#reply",
        replied_at=night + timedelta(minutes=20),
        seconds=1200,
        within_sla=True,
        previous_within_sla=False,
    )
    line.sweeper.sweep(night + timedelta(minutes=65))  # overdue at 00:30: email now, SMS held
    assert notifier.sms == []
    assert sum("No reply yet" in c.subject for _, c in notifier.emails) == 1

    line.sweeper.sweep(morning - timedelta(minutes=1))
    assert notifier.sms == []
    line.sweeper.sweep(morning + timedelta(seconds=30))
    texts = [text for _, text in notifier.sms]
    assert len(texts) == 2, texts  # the complaint's negative alert and its overdue alert
    assert all("@customer1@" in text for text in texts)
    line.sweeper.sweep(morning + timedelta(minutes=5))
    assert len(notifier.sms) == 2, "a held SMS is sent once"
    assert line.messages.get(complaint.key).status is MessageStatus.OVERDUE  # type: ignore[union-attr]


def test_a_paused_brand_climbs_its_ladder_and_counts_but_alerts_nobody(aws_env: None) -> None:
    notifier = RecordingNotifier()
    line = pipeline(notifier)
    everyone = LEAD.model_copy(update={"alert_kinds": frozenset({"warning", "overdue", "escalation", "negative"})})
    setup_brand(line.state, everyone)
    line.state.put_brand(line.state.get_brand("acme").model_copy(update={"enabled": False}))  # type: ignore[union-attr]
    waiting = store_and_process(line, customer_message(1, NEGATIVE), T0)
    for minutes in (50, 61, 121):
        line.sweeper.sweep(T0 + timedelta(minutes=minutes))
    assert notifier.emails == [] and notifier.sms == []
    record = line.messages.get(waiting.key)
    assert record is not None and record.status is MessageStatus.OVERDUE  # its statistics stay right
    # Resumed: a new message alerts again.
    line.state.put_brand(line.state.get_brand("acme").model_copy(update={"enabled": True}))  # type: ignore[union-attr]
    store_and_process(line, customer_message(2, NEGATIVE, T0 + timedelta(minutes=130)), T0 + timedelta(minutes=130))
    assert notifier.email_subjects(), "the negative alert of the new message"


def test_a_due_time_follows_business_hours_changed_after_it_was_counted(aws_env: None) -> None:
    from replywatch.models import BusinessHours

    friday = datetime(2026, 3, 6, 16, 30, tzinfo=UTC)  # a one-hour target: due Monday 09:30
    monday, tuesday = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    hours = BusinessHours(weekly={day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")})
    policy = SLA.model_copy(update={"business_hours": hours})
    notifier = RecordingNotifier()
    line = pipeline(notifier)
    line.state.put_brand(Brand(brand_id="acme", name="Acme", sla=policy, storm=StormControl(limit=1000)))
    line.state.put_recipient(LEAD)
    waiting = store_and_process(line, customer_message(1, NEUTRAL, friday), friday)
    counted = line.messages.get(waiting.key)
    assert counted is not None and counted.due_at == monday.replace(hour=9, minute=30)
    # Monday is made a company holiday after the message was counted.
    closed = policy.model_copy(
        update={"business_hours": hours.model_copy(update={"closed_dates": frozenset({monday.date()})})}
    )
    line.state.put_brand(Brand(brand_id="acme", name="Acme", sla=closed, storm=StormControl(limit=1000)))
    line.sweeper.sweep(monday.replace(hour=9, minute=40))  # past the old due time
    moved = line.messages.get(waiting.key)
    assert moved is not None and moved.status is MessageStatus.OPEN, "not flagged: Monday is closed now"
    assert moved.due_at == tuesday.replace(hour=9, minute=30), "the stored due time follows the ladder"
    assert notifier.email_subjects() == Counter()
    # Answered on Monday at noon: within its SLA, as nobody was alerted.
    line.processor.match_reply(
        line.state.get_brand("acme"),  # type: ignore[arg-type]
        waiting.key,
        "acme#mastodon#r1",
        monday.replace(hour=12),
    )
    [day] = line.messages.day_aggregates("acme", friday.date(), friday.date())
    assert day["responded"] == 1 and day["within_sla"] == 1 and day["overdue"] == 0


def test_alerts_nobody_takes_do_not_use_up_the_storm_allowance(aws_env: None) -> None:
    notifier = RecordingNotifier()
    line = pipeline(notifier)
    setup_brand(
        line.state, NEGATIVE_ONLY.model_copy(update={"phone": None}), storm=StormControl(limit=3, window_minutes=15)
    )
    for n in range(3):
        store_and_process(line, customer_message(n, NEUTRAL), T0)
    line.sweeper.sweep(T0 + timedelta(minutes=49))  # three warnings that nobody takes
    for n in range(3, 6):
        at = T0 + timedelta(minutes=50)
        store_and_process(line, customer_message(n, NEGATIVE, at), at)
    assert len(notifier.emails) == 3, "the three negative alerts go out one by one, in the same window"
    assert not any("more alerts" in content.subject for _, content in notifier.emails)


def test_after_quiet_hours_only_the_latest_ladder_sms_goes_out_in_words_of_now(aws_env: None) -> None:
    notifier = RecordingNotifier()
    line = pipeline(notifier)
    owl = LEAD.model_copy(update={"quiet_hours": "22:00-07:00"})  # warning, overdue and escalation
    setup_brand(line.state, owl)
    night = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # warning 22:18, breach 22:30, escalation 23:30
    waiting = store_and_process(line, customer_message(1, NEUTRAL, night), night)
    for at in ("22:20", "22:31", "23:31"):
        hour, minute = map(int, at.split(":"))
        line.sweeper.sweep(night.replace(hour=hour, minute=minute))
    assert notifier.sms == [] and len(notifier.emails) == 3, "each by email at night"
    line.sweeper.sweep(datetime(2026, 11, 24, 7, 1, tzinfo=UTC))
    texts = [text for _, text in notifier.sms]
    assert len(texts) == 1, texts  # the escalation, not the stale warning and breach as well
    assert "scalat" in texts[0]
    assert "9h" in texts[0] or "9 h" in texts[0], texts[0]  # its age at 07:01, not at 23:31
    line.sweeper.sweep(datetime(2026, 11, 24, 7, 10, tzinfo=UTC))
    assert len(notifier.sms) == 1
    assert line.messages.get(waiting.key).status is MessageStatus.OVERDUE  # type: ignore[union-attr]
