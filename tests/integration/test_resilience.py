"""Exactly-once under the failures a serverless pipeline meets: killed polls, concurrent
sweeps, replies that arrive late, early or twice.

moto stands in for AWS; the project's fake Mastodon serves the demo scenario.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from boto3.dynamodb.types import TypeDeserializer

from infra.local import scenario
from infra.local.fake_mastodon import FakeMastodon
from infra.local.seed import seed
from replywatch.alerts import AlertContent, AwsNotifier
from replywatch.classify import default_classifier
from replywatch.connectors.http import id_order
from replywatch.models import Brand, Message, MessageKind, MessageStatus, SlaPolicy, SourceState
from replywatch.polling import Poller, PollReport
from replywatch.processing import Processor
from replywatch.stats import bucket_of
from replywatch.store import MessageStore, StateStore, day_of
from replywatch.sweeping import Sweeper, SweepReport
from tests.support import aws
from tests.support.atomic import AtomicRequests
from tests.support.expected import expected

_deserializer = TypeDeserializer()

ANSWERED = [mention for mention in scenario.MENTIONS if mention.reply_after is not None]
SCENARIO_MESSAGES = len(scenario.MENTIONS) + len(ANSWERED)
SLA = SlaPolicy(first_response_seconds=int(scenario.SLA.total_seconds()))


class StaticSecrets:
    def read(self, secret_name: str) -> str:
        assert secret_name == scenario.SECRET_NAME
        return scenario.TOKEN


def stores(dynamodb: Any = None) -> tuple[MessageStore, StateStore]:
    """A fresh pair of adapters with their own client (as a separate Lambda container would have)."""
    dynamodb = dynamodb or boto3.client("dynamodb", region_name=aws.REGION)
    return MessageStore(dynamodb, aws.MESSAGES_TABLE, aws.STATE_TABLE), StateStore(dynamodb, aws.STATE_TABLE)


def stored_items() -> list[dict[str, Any]]:
    return [
        {key: _deserializer.deserialize(value) for key, value in item.items()}
        for item in aws.iter_table(aws.MESSAGES_TABLE)
    ]


def poll(poller: Poller, now: datetime) -> PollReport:
    async def run() -> PollReport:
        async with httpx.AsyncClient(timeout=10) as client:
            return await poller.poll_all(client, now)

    return asyncio.run(run())


@dataclass(frozen=True)
class ScenarioIds:
    """The fake server's ids for the scenario, read from its timeline (not through the connector)."""

    mention_of: dict[str, str]  # author -> customer status id
    notification_of: dict[str, str]  # customer status id -> its mention notification id
    replies: dict[str, str]  # brand reply status id -> parent status id

    @classmethod
    def of(cls, fake: FakeMastodon) -> ScenarioIds:
        mentions = [item for item in fake.timeline.notifications if item["type"] == "mention"]
        return cls(
            mention_of={item["status"]["account"]["acct"]: item["status"]["id"] for item in mentions},
            notification_of={item["status"]["id"]: item["id"] for item in mentions},
            replies={
                status["id"]: status["in_reply_to_id"]
                for status in fake.timeline.brand_statuses
                if status["in_reply_to_id"]
            },
        )

    @property
    def all(self) -> set[str]:
        return set(self.notification_of) | set(self.replies)


# --- a. a poll that dies half-way through a page -----------------------------------------------------


class Killed(BaseException):
    """The Lambda running the poll was stopped (timeout, OOM, redeploy): no handler code runs after it."""


class StoreFailed(Exception):
    """A write failed for good (throttled past botocore's retries, say): the poller sees an exception."""


@dataclass
class FailsAfterWrites:
    """The real message store, until ``failure`` strikes after ``writes`` successful writes."""

    inner: MessageStore
    writes: int
    failure: type[BaseException]
    done: int = 0

    def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool:
        if self.done >= self.writes:
            raise self.failure(f"after {self.done} writes")
        stored = self.inner.put_new(message, ingested_at=ingested_at, expires_at=expires_at)
        self.done += 1
        return stored

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def assert_cursor_covers_only_stored(state: SourceState, ids: ScenarioIds, stored: set[str]) -> None:
    """Everything at or below a saved high-water mark must already be stored."""
    if "notifications" in state.cursor:
        mark = id_order(state.cursor["notifications"])
        behind = {status for status, notification in ids.notification_of.items() if id_order(notification) <= mark}
        assert behind <= stored, f"cursor passed unstored mentions {sorted(behind - stored)}"
    if "statuses" in state.cursor:
        mark = id_order(state.cursor["statuses"])
        behind = {reply for reply in ids.replies if id_order(reply) <= mark}
        assert behind <= stored, f"cursor passed unstored replies {sorted(behind - stored)}"


@pytest.mark.parametrize("failure", [Killed, StoreFailed], ids=["lambda-killed", "store-error"])
@pytest.mark.parametrize(
    ("writes", "cursor_keys"),
    [
        pytest.param(5, set(), id="in-the-mentions-page"),
        pytest.param(
            len(scenario.MENTIONS) + len(ANSWERED) // 2, {"account_id", "notifications"}, id="in-the-replies-page"
        ),
    ],
)
def test_a_poll_dying_after_half_a_page_then_polling_again_stores_every_message_exactly_once(
    aws_env: None, writes: int, cursor_keys: set[str], failure: type[BaseException]
) -> None:
    now = datetime.now(UTC)
    messages, state = stores()
    with FakeMastodon(now=now) as fake:
        seed(state, boto3.client("secretsmanager", region_name=aws.REGION), fake.base_url)
        ids = ScenarioIds.of(fake)
        assert len(ids.all) == SCENARIO_MESSAGES
        dying = Poller(
            messages=FailsAfterWrites(messages, writes, failure),
            state=state,
            secrets=StaticSecrets(),
            retention=timedelta(days=400),
        )
        if failure is Killed:
            with pytest.raises(Killed):
                poll(dying, now)
        else:
            report = poll(dying, now)
            # The report counts whole pages only; the half page's writes are found again next time.
            whole_pages = len(scenario.MENTIONS) if "notifications" in cursor_keys else 0
            assert [(source.health, source.stored) for source in report.sources] == [("error", whole_pages)]

        stored_before = {item["platform_id"] for item in stored_items()}
        assert len(stored_before) == writes
        [(_, after)] = state.list_sources()
        assert set(after.cursor) == cursor_keys
        assert_cursor_covers_only_stored(after, ids, stored_before)
        if failure is StoreFailed:
            assert (after.health, after.last_error) == ("error", "StoreFailed")

        poller = Poller(messages=messages, state=state, secrets=StaticSecrets(), retention=timedelta(days=400))
        report = poll(poller, now + timedelta(minutes=1))
        assert [source.health for source in report.sources] == ["ok"]
        assert report.stored == SCENARIO_MESSAGES - writes
        assert report.sources[0].duplicates <= writes

        items = stored_items()
        assert len(items) == SCENARIO_MESSAGES
        assert Counter(item["pk"] for item in items).most_common(1)[0][1] == 1
        assert Counter(item["platform_id"] for item in items).most_common(1)[0][1] == 1
        assert {item["platform_id"] for item in items} == ids.all
        assert {item["platform_id"]: item["parent_id"] for item in items if item["from_brand"]} == ids.replies

        third = poll(poller, now + timedelta(minutes=2))
        assert third.stored == 0 and third.sources[0].duplicates == 0
        assert len(stored_items()) == SCENARIO_MESSAGES
        [(_, final)] = state.list_sources()
        assert (final.health, final.last_error) == ("ok", None)
        assert final.cursor["notifications"] == max(ids.notification_of.values(), key=id_order)
        assert final.cursor["statuses"] == max((s["id"] for s in fake.timeline.brand_statuses), key=id_order)


# --- b. two sweeps at once ------------------------------------------------------------------------


def overdue_alerts() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(recipient address, author) of every overdue email and SMS sent so far."""
    emails = [
        (to, email["subject"].rsplit("@", 1)[1])
        for email in aws.sent_emails()
        if "past the sla" in email["subject"].lower()
        for to in email["to"]
    ]
    sms = [
        (phone, text.split(" @", 1)[1].split(",", 1)[0])
        for phone, text in aws.sent_sms()
        if "past the sla" in text.lower()
    ]
    return emails, sms


def test_two_concurrent_sweeps_flag_and_alert_each_overdue_message_exactly_once(
    aws_env: None, pump: aws.StreamPump
) -> None:
    now = datetime.now(UTC)
    messages, state = stores()
    with FakeMastodon(now=now) as fake:
        seed(state, boto3.client("secretsmanager", region_name=aws.REGION), fake.base_url)
        ids = ScenarioIds.of(fake)
        poller = Poller(messages=messages, state=state, secrets=StaticSecrets(), retention=timedelta(days=400))
        assert poll(poller, now).stored == SCENARIO_MESSAGES
    process = aws.load_handler("process")
    assert process.lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext()) == {
        "batchItemFailures": []
    }
    assert overdue_alerts() == ([], [])

    swept_at = datetime.now(UTC)
    want = expected(now, swept_at)
    network = urlsplit(fake.base_url).netloc
    overdue = {
        f"acme#mastodon@{network}#{ids.mention_of[m.author]}"
        for m in scenario.MENTIONS
        if m.reply_after is None and scenario.posted_at(m, now) + scenario.SLA < swept_at
    }
    assert len(overdue) == want.overdue > 0

    def sweeper() -> Sweeper:
        own_messages, own_state = stores(AtomicRequests(boto3.client("dynamodb", region_name=aws.REGION)))
        notifier = AwsNotifier(
            AtomicRequests(boto3.client("sesv2", region_name=aws.REGION)),
            AtomicRequests(boto3.client("sns", region_name=aws.REGION)),
            aws.SENDER,
        )
        processor = Processor(
            messages=own_messages, state=own_state, classifier=default_classifier(), notifier=notifier, default_sla=SLA
        )
        return Sweeper(messages=own_messages, state=own_state, notifier=notifier, default_sla=SLA, processor=processor)

    sweepers = [sweeper(), sweeper()]
    barrier = threading.Barrier(len(sweepers))

    def sweep(one: Sweeper) -> SweepReport:
        barrier.wait(timeout=10)
        return one.sweep(swept_at)

    with ThreadPoolExecutor(max_workers=len(sweepers)) as pool:
        reports = list(pool.map(sweep, sweepers))

    flagged = Counter(key for report in reports for key in report.flagged)
    assert [key for key, count in flagged.items() if count > 1] == [], "flagged twice"
    assert set(flagged) == overdue
    assert all(report.failed == [] for report in reports)

    by_author = {ids.mention_of[m.author]: m.author for m in scenario.MENTIONS}
    want_emails = Counter(
        (email, by_author[key.rsplit("#", 1)[1]])
        for key in overdue
        for _rid, _name, email, _phone, kinds in scenario.RECIPIENTS
        if email and "overdue" in kinds
    )
    want_sms = Counter(
        (phone, by_author[key.rsplit("#", 1)[1]])
        for key in overdue
        for _rid, _name, _email, phone, kinds in scenario.RECIPIENTS
        if phone and "overdue" in kinds
    )
    emails, sms = overdue_alerts()
    assert Counter(emails) == want_emails, "one overdue email per recipient and message"
    assert Counter(sms) == want_sms, "one overdue SMS per recipient and message"

    # The statistics counted each one once, too.
    backlog = messages.backlog(scenario.BRAND_ID)
    assert backlog.overdue == want.overdue and backlog.open == want.open
    days = messages.day_aggregates(scenario.BRAND_ID, (now - timedelta(days=1)).date(), now.date())
    assert sum(day["overdue"] for day in days) == want.overdue
    for key in overdue:
        record = messages.get(key)
        assert record is not None and record.status is MessageStatus.OVERDUE and record.overdue_at == swept_at

    # And a third sweep later finds nothing left to do.
    assert sweeper().sweep(swept_at + timedelta(minutes=1)).flagged == []
    assert overdue_alerts() == (emails, sms)


# --- c, d. replies out of order ------------------------------------------------------------------


@dataclass
class RecordingNotifier:
    emails: list[tuple[str, str]] = field(default_factory=list)
    sms: list[tuple[str, str]] = field(default_factory=list)

    def send_email(self, to: str, content: AlertContent) -> None:
        self.emails.append((to, content.subject))

    def send_sms(self, phone: str, text: str) -> None:
        self.sms.append((phone, text))


@dataclass
class Pipeline:
    """Store a message the way the poller does, then process it the way the stream handler does."""

    messages: MessageStore
    state: StateStore
    processor: Processor
    notifier: RecordingNotifier
    now: datetime

    def arrive(self, message: Message) -> None:
        assert self.messages.put_new(message, ingested_at=self.now, expires_at=self.now + timedelta(days=400))
        self.process(message)

    def process(self, message: Message) -> None:
        record = self.messages.get(message.key)
        assert record is not None
        # The stream delivers the item as inserted: without what processing added later.
        inserted = type(record).model_validate(message.model_dump())
        self.processor.on_new_message(inserted, self.now)

    def snapshot(self, *keys: str) -> tuple[Any, ...]:
        day = day_of(T0)
        return (
            tuple(self.messages.get(key) for key in keys),
            tuple(self.messages.day_aggregates(BRAND, day, day)),
            self.messages.backlog(BRAND),
        )


BRAND = "acme"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(aws_env: None) -> Pipeline:
    messages, state = stores()
    state.put_brand(Brand(brand_id=BRAND, name="Acme", sla=SLA))
    notifier = RecordingNotifier()
    processor = Processor(
        messages=messages, state=state, classifier=default_classifier(), notifier=notifier, default_sla=SLA
    )
    return Pipeline(messages=messages, state=state, processor=processor, notifier=notifier, now=T0 + timedelta(hours=3))


def customer(platform_id: str, at: datetime, text: str = "@acme can I change my delivery address?") -> Message:
    return Message(
        brand=BRAND,
        platform="mastodon",
        source_id="mastodon-main",
        platform_id=platform_id,
        author_id="2001",
        author_handle="@ken",
        text=text,
        created_at=at,
        kind=MessageKind.MENTION,
    )


def reply(platform_id: str, parent: Message, at: datetime) -> Message:
    return Message(
        brand=BRAND,
        platform="mastodon",
        source_id="mastodon-main",
        platform_id=platform_id,
        parent_id=parent.platform_id,
        author_id="1001",
        author_handle="@acme",
        text="@ken yes, in the app under Orders.",
        created_at=at,
        kind=MessageKind.MENTION,
        from_brand=True,
    )


def assert_first_response(pipeline: Pipeline, parent: Message, first: Message) -> None:
    seconds = int((first.created_at - parent.created_at).total_seconds())
    record = pipeline.messages.get(parent.key)
    assert record is not None
    assert record.first_response_at == first.created_at
    assert record.first_response_seconds == seconds
    assert record.responded_by == first.key
    assert record.status is MessageStatus.ANSWERED
    [day] = pipeline.messages.day_aggregates(BRAND, day_of(parent.created_at), day_of(parent.created_at))
    assert (day["received"], day["responded"]) == (1, 1)
    assert day["response_seconds_sum"] == seconds
    assert day["within_sla"] == int(seconds <= SLA.first_response_seconds)
    assert day.histogram == {bucket_of(seconds): 1}
    backlog = pipeline.messages.backlog(BRAND)
    assert (backlog.open, backlog.overdue, backlog.oldest_open_at) == (0, 0, None)


def test_the_later_reply_processed_first_is_replaced_by_the_earlier_one(pipeline: Pipeline) -> None:
    question = customer("100", T0)
    early = reply("110", question, T0 + timedelta(minutes=20))  # within the SLA
    late = reply("120", question, T0 + timedelta(minutes=90))  # outside it
    pipeline.arrive(question)
    pipeline.arrive(late)
    assert_first_response(pipeline, question, late)
    pipeline.arrive(early)
    assert_first_response(pipeline, question, early)

    before = pipeline.snapshot(question.key, early.key, late.key)
    for again in (late, early, question, late):
        pipeline.process(again)
    assert pipeline.snapshot(question.key, early.key, late.key) == before
    assert pipeline.notifier.emails == pipeline.notifier.sms == []


@pytest.mark.parametrize(
    "arrival",
    [
        pytest.param(lambda q, e, late: [e, q], id="reply-then-parent"),
        pytest.param(lambda q, e, late: [late, e, q], id="two-replies-later-first-then-parent"),
        pytest.param(lambda q, e, late: [e, late, q], id="two-replies-then-parent"),
        pytest.param(lambda q, e, late: [late, q, e], id="late-reply-parent-early-reply"),
    ],
)
def test_a_reply_processed_before_its_parent_is_counted_when_the_parent_arrives(
    pipeline: Pipeline, arrival: Callable[[Message, Message, Message], list[Message]]
) -> None:
    question = customer("200", T0)
    early = reply("210", question, T0 + timedelta(minutes=15))
    late = reply("220", question, T0 + timedelta(hours=2))
    sequence = arrival(question, early, late)
    for message in sequence:
        pipeline.arrive(message)
    assert_first_response(pipeline, question, early)

    # An unanswered message beside it: the backlog counts exactly that one.
    waiting = customer("300", T0 + timedelta(minutes=5), "@acme is the store open on Sunday?")
    pipeline.arrive(waiting)
    backlog = pipeline.messages.backlog(BRAND)
    assert (backlog.open, backlog.overdue, backlog.oldest_open_at) == (1, 0, waiting.created_at)

    before = pipeline.snapshot(question.key, waiting.key)
    for again in sequence:
        pipeline.process(again)
    assert pipeline.snapshot(question.key, waiting.key) == before

    # The sweep flags only the unanswered one.
    sweeper = Sweeper(
        messages=pipeline.messages,
        state=pipeline.state,
        notifier=pipeline.notifier,
        default_sla=SLA,
        processor=pipeline.processor,
    )
    assert sweeper.sweep(pipeline.now).flagged == [waiting.key]
    backlog = pipeline.messages.backlog(BRAND)
    assert (backlog.open, backlog.overdue) == (1, 1)
    record = pipeline.messages.get(question.key)
    assert record is not None and record.status is MessageStatus.ANSWERED
