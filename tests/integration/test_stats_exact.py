"""The statistics are exact under at-least-once delivery (issue 5, "Done when" 1).

Hypothesis generates message histories (customers' messages on two channels, the brand's
replies, sometimes two replies or a late one, customers writing again after an answer,
messages resolved elsewhere through the API) and delivery orders: records stored and
delivered in any order, delivered more than once, handlers that crash between two writes
(the batch is delivered again later), and finally two handlers redelivering everything at
the same time. Whatever happened, the API's figures equal a recomputation from the raw
messages, made here without the product's counting code, and p50/p90/p99 are within 1% of
the exact nearest-rank values.

It runs the real processor and stores on moto, with the API built by ``create_app``.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replywatch.api import create_app, message_id
from replywatch.classify import default_classifier
from replywatch.cli import check_stats
from replywatch.models import Brand, Message, MessageKind, MessageRecord, SlaPolicy
from replywatch.processing import Processor
from replywatch.store import MessageStore, StateStore
from tests.support import aws
from tests.support.atomic import AtomicRequests
from tests.support.events import rest_event

BRAND = "acme"
SLA_SECONDS = 3600
SLA = SlaPolicy(first_response_seconds=SLA_SECONDS)
T0 = datetime(2026, 10, 30, 22, 0, tzinfo=UTC)  # near midnight: histories cross UTC and local days
NOW = T0 + timedelta(days=6)
CHANNELS = ("x", "mastodon")
TEXTS = (
    "@acme where is my order?",
    "@acme this is the worst service, I want a refund now",
    "@acme thanks, you are great",
    "@acme my card was charged twice, terrible",
    "@acme ok",
)
WRITES = ("transact_write_items", "update_item", "put_item", "delete_item")


class Crash(Exception):
    """The Lambda container died between two writes."""


class CrashingClient:
    """A DynamoDB client that dies at its ``crash_at``-th write (then works again, as a new container)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.crash_at: int | None = None
        self._writes = 0

    def arm(self, crash_at: int | None) -> None:
        self.crash_at, self._writes = crash_at, 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in WRITES:
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            self._writes += 1
            if self.crash_at is not None and self._writes >= self.crash_at:
                self.crash_at = None
                raise Crash(name)
            return attribute(*args, **kwargs)

        return write


# --- histories ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    messages: list[Message]  # customers' and the brand's, in no particular order
    resolve: list[str]  # keys of messages someone marks as handled elsewhere (may fail: answered, unknown)


@st.composite
def histories(draw: st.DrawFn) -> History:
    messages: list[Message] = []
    ids = iter(range(10_000, 99_999))
    resolve = []

    def post(channel: str, at: datetime, author: str, *, brand: bool = False, parent: Message | None = None) -> Message:
        message = Message(
            brand=BRAND,
            platform=channel,
            source_id=f"{channel}-main",
            platform_id=str(next(ids)),
            parent_id=parent.platform_id if parent else None,
            parent_author_id=parent.author_id if parent else None,
            author_id="brand" if brand else author,
            author_handle="@acme" if brand else f"@{author}",
            text="@customer we are on it" if brand else draw(st.sampled_from(TEXTS)),
            created_at=at,
            kind=MessageKind.MENTION,
            from_brand=brand,
        )
        messages.append(message)
        return message

    seconds = st.integers(min_value=0, max_value=2 * 86400)
    for number in range(draw(st.integers(min_value=1, max_value=7))):
        channel = draw(st.sampled_from(CHANNELS))
        author = f"c{number}"
        opened = T0 + timedelta(seconds=draw(st.integers(min_value=0, max_value=3 * 86400)))
        question = post(channel, opened, author)
        replies = [
            post(channel, opened + timedelta(seconds=draw(seconds)), "", brand=True, parent=question)
            for _ in range(draw(st.integers(min_value=0, max_value=2)))
        ]
        if replies and draw(st.booleans()):
            # The customer writes again after the answer: a next-response wait, maybe answered too.
            answer = min(replies, key=lambda reply: reply.created_at)
            again = post(channel, answer.created_at + timedelta(seconds=draw(seconds)), author, parent=answer)
            if draw(st.booleans()):
                post(channel, again.created_at + timedelta(seconds=draw(seconds)), "", brand=True, parent=again)
            if draw(st.booleans()):
                resolve.append(again.key)
        if replies and draw(st.booleans()):
            # Someone else answers the brand's reply: a conversation of their own, not a next wait.
            answer = min(replies, key=lambda reply: reply.created_at)
            post(channel, answer.created_at + timedelta(seconds=draw(seconds)), f"other{number}", parent=answer)
        if draw(st.booleans()):
            resolve.append(question.key)
    return History(messages=messages, resolve=resolve)


@dataclass(frozen=True)
class Step:
    kind: str  # "store", "deliver", "resolve"
    key: str
    crash_at: int | None = None  # deliver: die at this write (the record comes back later)


@st.composite
def schedules(draw: st.DrawFn, history: History) -> list[Step]:
    """Each message stored once, then delivered one or more times (in any order, interleaved
    with other messages' steps), some deliveries dying between two writes; resolutions at
    any point, even before the message was processed."""
    by_key = {message.key: message for message in history.messages}
    pending = [Step("store", key) for key in draw(st.permutations(sorted(by_key)))]
    pending += [Step("resolve", key) for key in history.resolve]
    steps: list[Step] = []
    stored: set[str] = set()
    deliveries: list[Step] = []
    while pending or deliveries:
        options = len(pending) + len(deliveries)
        pick = draw(st.integers(min_value=0, max_value=options - 1))
        if pick < len(pending):
            step = pending.pop(pick if draw(st.booleans()) else 0)
            steps.append(step)
            if step.kind == "store":
                stored.add(step.key)
                copies = draw(st.integers(min_value=1, max_value=3))
                deliveries += [
                    Step("deliver", step.key, draw(st.none() | st.integers(min_value=1, max_value=4)))
                    for _ in range(copies)
                ]
        else:
            steps.append(deliveries.pop(pick - len(pending)))
    return steps


# --- the pipeline ------------------------------------------------------------------------------------


@dataclass
class Handler:
    """One stream-handler container: its own client, processor and crash switch."""

    client: CrashingClient
    processor: Processor

    @classmethod
    def new(cls) -> Handler:
        client = CrashingClient(AtomicRequests(boto3.client("dynamodb", region_name=aws.REGION)))
        messages = MessageStore(client, aws.MESSAGES_TABLE, aws.STATE_TABLE)
        state = StateStore(client, aws.STATE_TABLE)
        processor = Processor(
            messages=messages, state=state, classifier=default_classifier(), notifier=_NoAlerts(), default_sla=SLA
        )
        return cls(client, processor)

    def deliver(self, message: Message, crash_at: int | None = None) -> bool:
        """Process one INSERT record as the stream delivers it; False: the container died."""
        self.client.arm(crash_at)
        try:
            self.processor.on_new_message(_as_inserted(message), NOW)
        except Crash:
            return False
        finally:
            self.client.arm(None)
        return True


class _NoAlerts:
    def send_email(self, to: str, content: object) -> None:
        raise AssertionError("no recipients: nothing is sent")

    def send_sms(self, phone: str, text: str) -> None:
        raise AssertionError("no recipients: nothing is sent")


def _as_inserted(message: Message) -> MessageRecord:
    return MessageRecord.model_validate(message.model_dump())


@dataclass
class Run:
    history: History
    resolved: set[str] = field(default_factory=set)  # resolutions the API accepted (200)


def play(history: History, steps: list[Step]) -> Run:
    store = MessageStore(boto3.client("dynamodb", region_name=aws.REGION), aws.MESSAGES_TABLE, aws.STATE_TABLE)
    by_key = {message.key: message for message in history.messages}
    handler = Handler.new()
    app = _app()
    run = Run(history)
    queue = list(steps)
    while queue:
        step = queue.pop(0)
        message = by_key[step.key]
        if step.kind == "store":
            assert store.put_new(message, ingested_at=NOW, expires_at=NOW + timedelta(days=400))
        elif step.kind == "deliver":
            if not handler.deliver(message, step.crash_at):
                handler = Handler.new()  # a fresh container; the record is delivered again later
                queue.append(Step("deliver", step.key))
        else:
            status, _ = _call(
                app, "POST", f"/brands/{BRAND}/messages/{message_id(step.key)}/resolve", {"reason": "phone"}
            )
            assert status in (200, 404, 409), status
            if status == 200:
                run.resolved.add(step.key)
    # Two containers redeliver every record at once (a retried batch racing a new one).
    threads = [threading.Thread(target=_redeliver, args=(list(by_key.values()), order)) for order in (1, -1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return run


def _redeliver(messages: list[Message], order: int) -> None:
    handler = Handler.new()
    for message in messages[::order]:
        assert handler.deliver(message)


def _messages() -> MessageStore:
    return MessageStore(boto3.client("dynamodb", region_name=aws.REGION), aws.MESSAGES_TABLE, aws.STATE_TABLE)


def _app() -> Any:
    return create_app(
        _messages(),
        StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE),
        clock=lambda: NOW,
    )


def _call(app: Any, method: str, path: str, body: dict[str, Any] | None = None, query: str = "") -> tuple[int, Any]:
    event = rest_event(path, query, method)
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"] = {**(event.get("headers") or {}), "Content-Type": "application/json"}
    response = app.resolve(event, aws.LambdaContext())
    return response["statusCode"], json.loads(response["body"])


# --- the recomputation (no product counting code) ---------------------------------------------------


@dataclass
class Expected:
    received: int = 0
    responded: int = 0
    resolved: int = 0
    seconds: list[int] = field(default_factory=list)
    within_sla: int = 0
    within_1h: int = 0
    within_24h: int = 0
    next_received: int = 0
    next_responded: int = 0
    next_resolved: int = 0
    sentiment: Counter[str] = field(default_factory=Counter)
    intent: Counter[str] = field(default_factory=Counter)
    open: list[datetime] = field(default_factory=list)


def recompute(run: Run, channel: str | None = None) -> Expected:
    """From the raw messages: a customer message that replies to the brand's answer to them is
    a next-response wait, every other one a conversation; each is answered by the brand's earliest reply to it.
    The conversation figures hold conversations only, next waits are counted apart."""
    classifier = default_classifier()
    by_id = {(m.platform, m.platform_id): m for m in run.history.messages}
    want = Expected()
    for message in run.history.messages:
        if message.from_brand or (channel is not None and message.platform != channel):
            continue
        parent = by_id.get((message.platform, message.parent_id or ""))
        answered = by_id.get((message.platform, parent.parent_id or "")) if parent is not None else None
        # writing again after the brand's answer to them
        next_wait = (
            parent is not None
            and parent.from_brand
            and answered is not None
            and answered.author_id == message.author_id
        )
        want.received += not next_wait
        want.next_received += next_wait
        verdict = classifier.classify(message.text)
        want.sentiment[verdict.sentiment.value] += 1
        want.intent[verdict.intent.value] += 1
        replies = [
            m.created_at
            for m in run.history.messages
            if m.from_brand and m.platform == message.platform and m.parent_id == message.platform_id
        ]
        if replies and next_wait:
            want.next_responded += 1
        elif replies:
            seconds = max(0, math.floor((min(replies) - message.created_at).total_seconds()))
            want.responded += 1
            want.seconds.append(seconds)
            want.within_sla += seconds <= SLA_SECONDS
            want.within_1h += seconds <= 3600
            want.within_24h += seconds <= 86400
        elif message.key in run.resolved:
            want.next_resolved += next_wait
            want.resolved += not next_wait
        else:
            want.open.append(message.created_at)
    return want


def nearest_rank(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[max(1, math.ceil(q * len(ordered))) - 1])


def assert_matches(stats: dict[str, Any], want: Expected) -> None:
    assert stats["received"] == want.received
    assert stats["responded"] == want.responded
    assert stats["resolved"] == want.resolved
    assert stats["next_response"]["received"] == want.next_received
    assert stats["next_response"]["responded"] == want.next_responded
    assert stats["next_response"]["resolved"] == want.next_resolved
    assert stats["sentiment"] == {name: want.sentiment[name] for name in ("negative", "neutral", "positive")}
    assert stats["intent"] == {name: want.intent[name] for name in ("complaint", "question", "praise", "other")}
    assert stats["negative"] == want.sentiment["negative"]
    assert stats["overdue"] == 0  # nothing was swept
    if want.received:
        assert stats["response_rate"] == round(want.responded / want.received, 4)
        assert stats["handled_rate"] == round((want.responded + want.resolved) / want.received, 4)
        assert stats["within_sla_percent"] == round(100 * want.within_sla / want.received, 2)
        assert stats["within_1h_percent"] == round(100 * want.within_1h / want.received, 2)
        assert stats["within_24h_percent"] == round(100 * want.within_24h / want.received, 2)
    if want.seconds:
        assert stats["first_response_mean_seconds"] == round(sum(want.seconds) / len(want.seconds), 2)
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            exact = nearest_rank(want.seconds, q)
            got = stats[f"first_response_{name}_seconds"]
            assert abs(got - exact) <= 0.01 * exact + 0.05, (name, got, exact)
        assert sum(bin_["count"] for bin_ in stats["distribution"]) == want.responded
    else:
        assert stats["first_response_p50_seconds"] is None
    backlog = stats["backlog"]
    assert backlog["open"] == len(want.open)
    assert backlog["overdue"] == 0
    oldest = min(want.open) if want.open else None
    assert (datetime.fromisoformat(backlog["oldest_open_at"]) if backlog["oldest_open_at"] else None) == oldest


def _stats(app: Any, first: date, last: date, **extra: str) -> dict[str, Any]:
    query = "&".join([f"from={first}", f"to={last}", *(f"{k}={v}" for k, v in extra.items())])
    status, body = _call(app, "GET", f"/brands/{BRAND}/stats", query=query)
    assert status == 200, body
    return dict(body)


def _timeseries(app: Any, first: date, last: date, **extra: str) -> dict[str, Any]:
    query = "&".join([f"from={first}", f"to={last}", *(f"{k}={v}" for k, v in extra.items())])
    status, body = _call(app, "GET", f"/brands/{BRAND}/stats/timeseries", query=query)
    assert status == 200, body
    return dict(body)


# --- the property ------------------------------------------------------------------------------------


@pytest.fixture
def tables(aws_env: None) -> Iterator[None]:
    yield


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_the_statistics_equal_a_recomputation_whatever_the_delivery(tables: None, data: st.DataObject) -> None:
    history = data.draw(histories(), label="history")
    steps = data.draw(schedules(history), label="schedule")
    _fresh_tables()
    StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE).put_brand(
        Brand(brand_id=BRAND, name="Acme", sla=SLA)
    )
    run = play(history, steps)
    app = _app()
    first, last = (T0 - timedelta(days=2)).date(), (NOW + timedelta(days=2)).date()
    assert_matches(_stats(app, first, last), recompute(run))
    # The same counts whatever the zone the days are read in (every slot is read once) ...
    assert_matches(_stats(app, first, last, tz="Asia/Kolkata"), recompute(run))
    # ... and per channel.
    for channel in CHANNELS:
        assert_matches(_stats(app, first, last, channel=channel), recompute(run, channel))
    # The time series adds up to the same counts, day by day in a zone off UTC.
    points = _timeseries(app, first, last, tz="America/St_Johns")["points"]
    want = recompute(run)
    assert sum(point["received"] for point in points) == want.received
    assert sum(point["responded"] for point in points) == want.responded
    assert sum(point["resolved"] for point in points) == want.resolved
    # The product's own audit (replywatch audit-stats) finds every item equal to its messages.
    start = datetime.combine(first, datetime.min.time(), UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
    found, counted = check_stats(_messages(), BRAND, start, end)
    assert found.clean and not found.changed, found
    assert counted == want.received + want.next_received


def _fresh_tables() -> None:
    """Each example starts from empty tables (moto keeps them for the test's whole run)."""
    client = boto3.client("dynamodb", region_name=aws.REGION)
    for table in (aws.MESSAGES_TABLE, aws.STATE_TABLE):
        keys = ["pk"] if table == aws.MESSAGES_TABLE else ["pk", "sk"]
        for item in aws.iter_table(table):
            client.delete_item(TableName=table, Key={name: item[name] for name in keys})
