"""Read-cost benchmark: the items a 30-day stats query reads do not grow with the messages.

One brand, 8 channels, customer messages posted over 32 days (the 30 days queried and one day
either side, so a range in a zone off UTC finds messages at both edges): most answered in
public after a log-normal response time (median 40 min), some resolved elsewhere, some never
answered (overdue, or still open), some negative, some next-response waits. Two populations
are built in one process, on moto, and the API's ``GET /brands/acme/stats`` (``create_app``
over the real ``MessageStore`` and ``StateStore``) is asked for the 30 days in UTC and in
Asia/Kolkata. A botocore hook on the client counts what DynamoDB returned: requests, items
read (``ScannedCount`` of each Query, the item of a GetItem) and items returned.

* **small** (1,000): every message goes through the real counting path, ``put_new``,
  ``count_inbound``, ``advance_alert`` when its due time passed unanswered, then
  ``record_first_response`` or ``resolve``: one TransactWriteItems each.
* **large** (1,000,000): that is far too many for moto, so each message's changes are worked
  out by the same pure functions the store uses (``stats.received``, ``stats.overdue``,
  ``stats.responded``, ``stats.resolved``), added up per channel and quarter hour, spread to
  their day, hour and quarter items and put straight into moto's table; the live backlog
  (``TOTALS``) is added up the same way. Message items: the stats query reads none but the head of each queue
  partition (``Limit`` 1), so only the oldest waiting ones are written, each through the real
  counting path on scratch tables and copied over.

The shortcut is checked, not trusted: the small messages are also built the large way, and
every aggregate and TOTALS item, the queue heads and both stats answers must be identical to
the real path's. The bench fails otherwise.

Two shortcuts through moto's slowness change nothing stored. moto backs up every table a
transaction touches (a deep copy, to roll back a failed one), which makes the real path
quadratic in the table size: 1,000 messages would take most of an hour. The backup is skipped
while the real path runs; it is only ever used when a transaction fails, so every transaction
is checked to succeed and the bench stops if one does not. And moto adds up an item's whole
size again for each attribute it sets (quadratic in the attributes; a month's aggregate item
has hundreds): skipped, the largest item read is reported.

    python -m bench.stats_read_bench [--small 1000] [--large 1000000] [--seed 11]

Exit status 1 when the large run reads more items than a query of that range can read
(``bound``: the range's day, hour and quarter slots times the channels, plus one TOTALS item per
channel, the two queue heads and the brand).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from moto import mock_aws

from bench.moto_shortcuts import transactions_without_backup
from replywatch import stats
from replywatch.api import create_app
from replywatch.models import (
    Brand,
    Classification,
    Intent,
    Message,
    MessageKind,
    MessageStatus,
    Resolution,
    Sentiment,
    SlaPolicy,
    Wait,
)
from replywatch.ports import Triage
from replywatch.sla import Stage
from replywatch.store import HISTOGRAM_PREFIX, QUEUE_INDEX, TOTALS_SK, WRITES, MessageStore, StateStore
from tests.support import aws
from tests.support.events import rest_event
from tests.support.template import create_table_request

BRAND = "acme"
# (platform, share of the messages)
CHANNELS: tuple[tuple[str, float], ...] = (
    ("x", 0.28),
    ("instagram", 0.22),
    ("facebook", 0.18),
    ("google_business", 0.10),
    ("youtube", 0.08),
    ("reddit", 0.06),
    ("mastodon", 0.05),
    ("bluesky", 0.03),
)
DATA_START = datetime(2026, 10, 31, tzinfo=UTC)
DATA_DAYS = 32
NOW = DATA_START + timedelta(days=DATA_DAYS)  # the clock when the query runs
QUERY_FROM, QUERY_TO = date(2026, 11, 1), date(2026, 11, 30)
ZONES = ("UTC", "Asia/Kolkata")
TARGET_SECONDS = 3600
HEAD = 25  # waiting messages written per queue partition in a large population
QUARTER_SECONDS = 900

SENTIMENTS = ((Sentiment.NEGATIVE, 0.22, -0.6), (Sentiment.NEUTRAL, 0.53, 0.0), (Sentiment.POSITIVE, 0.25, 0.6))
INTENTS = ((Intent.COMPLAINT, 0.20), (Intent.QUESTION, 0.40), (Intent.PRAISE, 0.15), (Intent.OTHER, 0.25))
NEXT_SHARE = 0.12  # the customer wrote again after the brand's reply
ANSWERED_SHARE, RESOLVED_SHARE = 0.86, 0.06  # the rest are never answered
ANSWER_MEDIAN_SECONDS, ANSWER_SIGMA = 2400, 1.5
RESOLVE_MEDIAN_SECONDS, RESOLVE_SIGMA = 4 * 3600, 1.0
MIN_ANSWER_SECONDS, LONGEST_SECONDS = 20, 5 * 86400

_serializer, _deserializer = TypeSerializer(), TypeDeserializer()
_SCRATCH_MESSAGES, _SCRATCH_STATE = "bench-scratch-messages", "bench-scratch-state"


# --- the messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Synthetic:
    """A customer message and what became of it by ``NOW``."""

    number: int
    channel: str
    offset: int  # seconds after DATA_START
    wait: Wait
    sentiment: Sentiment
    intent: Intent
    answered_after: int | None  # the brand's first public reply, seconds after the message
    resolved_after: int | None  # handled elsewhere instead, seconds after the message

    @property
    def created_at(self) -> datetime:
        # Microseconds keep every creation instant apart, so the queue's order is total.
        return DATA_START + timedelta(seconds=self.offset, microseconds=self.number % 1_000_000)

    @property
    def due_at(self) -> datetime:
        return self.created_at + timedelta(seconds=TARGET_SECONDS)

    @property
    def waiting(self) -> bool:
        return self.answered_after is None and self.resolved_after is None

    @property
    def overdue(self) -> bool:
        """Flagged by the sweep: its due time passed with nothing done."""
        handled = self.answered_after if self.answered_after is not None else self.resolved_after
        if handled is None:
            return self.due_at <= NOW
        return handled > TARGET_SECONDS

    @property
    def status(self) -> MessageStatus | None:
        if not self.waiting:
            return None
        return MessageStatus.OVERDUE if self.overdue else MessageStatus.OPEN

    @property
    def key(self) -> str:
        return f"{BRAND}#{self.channel}#{100_000_000 + self.number}"


def synthetic(count: int, seed: int) -> Iterator[Synthetic]:
    rng = random.Random(seed)
    channels = [name for name, _ in CHANNELS]
    channel_weights = list(itertools.accumulate(share for _, share in CHANNELS))
    sentiment_weights = list(itertools.accumulate(share for _, share, _ in SENTIMENTS))
    intent_weights = list(itertools.accumulate(share for _, share in INTENTS))
    span = DATA_DAYS * 86400
    for number in range(count):
        offset = rng.randrange(span)
        fate = rng.random()
        answered = resolved = None
        if fate < ANSWERED_SHARE:
            answered = _lognormal(rng, ANSWER_MEDIAN_SECONDS, ANSWER_SIGMA, low=MIN_ANSWER_SECONDS)
        elif fate < ANSWERED_SHARE + RESOLVED_SHARE:
            resolved = _lognormal(rng, RESOLVE_MEDIAN_SECONDS, RESOLVE_SIGMA, low=60)
        # Not by NOW: still waiting.
        answered = answered if answered is None or offset + answered < span else None
        resolved = resolved if resolved is None or offset + resolved < span else None
        yield Synthetic(
            number=number,
            channel=rng.choices(channels, cum_weights=channel_weights)[0],
            offset=offset,
            wait=Wait.NEXT if rng.random() < NEXT_SHARE else Wait.FIRST,
            sentiment=rng.choices(SENTIMENTS, cum_weights=sentiment_weights)[0][0],
            intent=rng.choices(INTENTS, cum_weights=intent_weights)[0][0],
            answered_after=answered,
            resolved_after=resolved,
        )


def _lognormal(rng: random.Random, median: int, sigma: float, *, low: int) -> int:
    return min(LONGEST_SECONDS, max(low, round(rng.lognormvariate(math.log(median), sigma))))


# --- the real counting path -----------------------------------------------------------------


@contextlib.contextmanager
def item_size_unchecked_on_each_attribute() -> Iterator[None]:
    """moto re-adds up an item's whole size each time it sets one attribute (to refuse items over
    400 KB), which is quadratic in the attributes: a month's aggregate item has hundreds. Skipped
    while populating; the largest item the queries read is reported (a few KB)."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    assert "__setitem__" in vars(LimitedSizeDict), "moto changed its item size check: look at this shortcut again"
    checked = LimitedSizeDict.__setitem__
    LimitedSizeDict.__setitem__ = dict.__setitem__  # type: ignore[method-assign]
    try:
        yield
    finally:
        LimitedSizeDict.__setitem__ = checked  # type: ignore[method-assign]


def count_for_real(store: MessageStore, messages: Iterable[Synthetic]) -> int:
    """Each message through the store's counting path, one transaction per step. Returns the count."""
    scores = {sentiment: score for sentiment, _, score in SENTIMENTS}
    resolutions = list(Resolution)
    done = 0
    with transactions_without_backup() as failures:
        for message in messages:
            created = message.created_at
            stored = Message(
                brand=BRAND,
                platform=message.channel,
                source_id=f"{BRAND}-{message.channel.replace('_', '-')}",
                platform_id=message.key.rsplit("#", 1)[1],
                author_id=f"c{message.number}",
                author_handle=f"@customer{message.number}",
                text="Where is my order?",
                created_at=created,
                kind=MessageKind.MENTION,
            )
            assert stored.key == message.key
            assert store.put_new(stored, ingested_at=created, expires_at=created + timedelta(days=90))
            counted = store.count_inbound(
                _read(store, message.key),
                due_at=message.due_at,
                classification=Classification(
                    sentiment=message.sentiment, score=scores[message.sentiment], intent=message.intent
                ),
                triage=Triage(wait=message.wait, target_seconds=TARGET_SECONDS, alert=(Stage.BREACH, message.due_at)),
            )
            assert counted, message.key
            if message.overdue:
                moved = store.advance_alert(
                    _read(store, message.key), after=Stage.BREACH, following=None, overdue=True, now=message.due_at
                )
                assert moved, message.key
            if message.answered_after is not None:
                seconds = message.answered_after
                store.record_first_response(
                    _read(store, message.key),
                    reply_key=f"{BRAND}#{message.channel}#r{message.number}",
                    replied_at=created + timedelta(seconds=seconds),
                    seconds=seconds,
                    within_sla=seconds <= TARGET_SECONDS,
                    previous_within_sla=False,
                )
            elif message.resolved_after is not None:
                store.resolve(
                    _read(store, message.key),
                    resolution=resolutions[message.number % len(resolutions)],
                    note=None,
                    now=created + timedelta(seconds=message.resolved_after),
                )
            done += 1
        assert not failures, f"transactions failed ({failures}): moto's rollback was skipped, so nothing here holds"
    return done


def _read(store: MessageStore, key: str) -> Any:
    record = store.get(key)
    assert record is not None, key
    return record


# --- the same changes, added up in memory ---------------------------------------------------


@dataclass
class Folded:
    """A population's statistics added up: per (channel, quarter) the counters and histogram
    its messages add, per channel the live backlog, and the oldest waiting messages."""

    quarters: dict[tuple[str, int], tuple[dict[str, int], dict[str, int]]] = field(default_factory=dict)
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    heads: dict[MessageStatus, list[tuple[datetime, Synthetic]]] = field(default_factory=dict)


def fold(messages: Iterable[Synthetic], head: int = HEAD) -> Folded:
    folded = Folded()
    waiting: dict[MessageStatus, list[tuple[float, int, Synthetic]]] = {
        MessageStatus.OPEN: [],
        MessageStatus.OVERDUE: [],
    }
    for message in messages:
        # What each step of the counting path adds (the store's own pure functions).
        changes = [stats.received(message.wait, message.sentiment, message.intent)]
        histogram: dict[str, int] = {}
        if message.overdue:
            changes.append(stats.overdue(message.wait))
        if message.answered_after is not None:
            counters, histogram = stats.responded(
                message.wait, message.answered_after, message.answered_after <= TARGET_SECONDS
            )
            changes.append(counters)
        elif message.resolved_after is not None:
            changes.append(stats.resolved(message.wait))
        counters_sum, histogram_sum = folded.quarters.setdefault(
            (message.channel, message.offset // QUARTER_SECONDS), ({}, {})
        )
        _add(histogram, histogram_sum)
        for change in changes:
            _add(change, counters_sum)
        # The live backlog: +1 open when counted, +1 overdue when flagged, both taken back when
        # handled. An attribute exists once something was added to it; ``writes`` counts the
        # writes (counted, flagged, handled).
        totals = folded.totals.setdefault(message.channel, {"open": 0, WRITES: 0})
        handled = message.answered_after is not None or message.resolved_after is not None
        totals[WRITES] += 1 + int(message.overdue) + int(handled)
        if message.overdue:
            totals.setdefault("overdue", 0)
        status = message.status
        if status is not None:
            totals["open"] += 1
            if status is MessageStatus.OVERDUE:
                totals["overdue"] += 1
            # The oldest `head` of each queue partition (a max-heap on the creation time).
            entry = (-message.created_at.timestamp(), message.number, message)
            if len(waiting[status]) < head:
                heapq.heappush(waiting[status], entry)
            else:
                heapq.heappushpop(waiting[status], entry)
    for status, entries in waiting.items():
        folded.heads[status] = sorted((entry[2].created_at, entry[2]) for entry in entries)
    return folded


def _add(change: Mapping[str, int], total: dict[str, int]) -> None:
    """What the store's ADD does to an item, for a change that never takes away: it leaves out
    zeros (an attribute exists once something was added to it)."""
    for name, amount in change.items():
        if amount > 0:
            total[name] = total.get(name, 0) + amount
        elif amount:
            raise AssertionError(f"{name} {amount}: a take-back, which adding up in memory does not model")


def aggregate_items(folded: Folded) -> list[dict[str, Any]]:
    """The state table's aggregate and TOTALS items, keyed and named as the store writes them."""
    items: dict[tuple[str, str], dict[str, int]] = {}
    for (channel, quarter), (counters, histogram) in folded.quarters.items():
        amounts = counters | {HISTOGRAM_PREFIX + bucket: count for bucket, count in histogram.items()}
        for level, start in stats.slots_of(DATA_START + timedelta(seconds=quarter * QUARTER_SECONDS)):
            key = (f"BRAND#{BRAND}", f"{level.value}#{stats.slot_label(start, level)}#{channel}")
            total = items.setdefault(key, {})
            for name, amount in amounts.items():
                total[name] = total.get(name, 0) + amount
    for channel, totals in folded.totals.items():
        items[(f"BRAND#{BRAND}", f"{TOTALS_SK}#{channel}")] = dict(totals)
    return [{"pk": pk, "sk": sk, **attributes} for (pk, sk), attributes in items.items()]


def write_folded(client: Any, folded: Folded) -> int:
    """Write a folded population: its aggregate and TOTALS items, and its oldest waiting
    messages (each counted for real on scratch tables, then copied). Returns the state items written."""
    items = aggregate_items(folded)
    _put_items(
        aws.STATE_TABLE, ({name: _serializer.serialize(value) for name, value in item.items()} for item in items)
    )
    heads = [message for entries in folded.heads.values() for _, message in entries]
    for logical_id, name in (("MessagesTable", _SCRATCH_MESSAGES), ("StateTable", _SCRATCH_STATE)):
        request = create_table_request(logical_id, name)
        request.pop("StreamSpecification", None)
        client.create_table(**request)
    count_for_real(MessageStore(client, _SCRATCH_MESSAGES, _SCRATCH_STATE), heads)
    copied = list(_scan(client, _SCRATCH_MESSAGES))
    _put_items(aws.MESSAGES_TABLE, copied)
    for name in (_SCRATCH_MESSAGES, _SCRATCH_STATE):
        client.delete_table(TableName=name)
    return len(items)


def _put_items(table: str, items: Iterable[dict[str, Any]]) -> None:
    """PutItem straight into moto's table: what a BatchWriteItem stores, without a request (whose
    serialising, both ways, would take minutes for a million messages' aggregates)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][aws.REGION]
    for item in items:
        backend.put_item(table, item)


def _scan(client: Any, table: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator("scan").paginate(TableName=table):
        yield from page["Items"]


# --- what a stats query reads ---------------------------------------------------------------


@dataclass
class Reads:
    """What DynamoDB returned while ``active``, tallied by a botocore hook on the client."""

    active: bool = False
    requests: int = 0
    items_read: int = 0  # ScannedCount of a Query (before any filter), the item of a GetItem
    items_returned: int = 0
    bytes_returned: int = 0  # DynamoDB's item size of what came back
    read_units: float = 0.0  # what DynamoDB would charge for it (4 KB units; half when eventually consistent)
    largest_item_bytes: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb.*", self._tag)
        client.meta.events.register("after-call.dynamodb.*", self._tally)

    def reset(self) -> None:
        self.requests = self.items_read = self.items_returned = self.bytes_returned = 0
        self.read_units = 0.0
        self.largest_item_bytes = 0
        self.by_kind = Counter()

    @staticmethod
    def _tag(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_kind"] = _kind(params)
        context["bench_consistent"] = bool(params.get("ConsistentRead"))

    def _tally(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return
        self.requests += 1
        if model.name in ("Query", "Scan"):
            read, returned = int(parsed.get("ScannedCount", 0)), int(parsed.get("Count", 0))
            each = [_item_bytes(item) for item in parsed.get("Items", [])]
            self.largest_item_bytes = max([self.largest_item_bytes, *each])
            sizes = [sum(each)]  # one read of the total
        elif model.name == "GetItem":
            read = returned = int("Item" in parsed)
            sizes = [_item_bytes(parsed["Item"])] if "Item" in parsed else [0]
        else:
            raise AssertionError(f"a stats query wrote or did {model.name}")
        self.items_read += read
        self.items_returned += returned
        self.bytes_returned += sum(sizes)
        factor = 1.0 if context.get("bench_consistent") else 0.5
        self.read_units += sum(max(1, math.ceil(size / 4096)) * factor for size in sizes)
        self.by_kind[context.get("bench_kind", model.name)] += read

    def report(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "items_read": self.items_read,
            "items_returned": self.items_returned,
            "bytes_returned": self.bytes_returned,
            "read_units_estimate": self.read_units,
            "largest_item_bytes": self.largest_item_bytes,
            "items_read_by_kind": dict(sorted(self.by_kind.items())),
        }


def _item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it: names plus values (a number takes about one byte
    per two digits, plus one)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Mapping[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (len(inner.lstrip("-").replace(".", "").strip("0")) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(inner)
    if kind == "M":
        return 3 + sum(len(name.encode()) + 1 + _value_bytes(inner_value) for name, inner_value in inner.items())
    if kind == "L":
        return 3 + sum(1 + _value_bytes(inner_value) for inner_value in inner)
    if kind == "SS":
        return sum(len(text.encode()) for text in inner)
    if kind == "NS":
        return sum(_value_bytes({"N": number}) for number in inner)
    raise AssertionError(kind)


def _kind(params: Mapping[str, Any]) -> str:
    if params.get("IndexName") == QUEUE_INDEX:
        return "queue_head"
    values = params.get("ExpressionAttributeValues") or {}
    if ":totals" in values:
        return "totals"
    first = str(values.get(":first", {}).get("S", ""))
    if first:
        return "aggregates_" + first.split("#", 1)[0]
    if "Key" in params:
        return "brand"
    return "other"


def bound(zone: str, channels: int) -> dict[str, int]:
    """The most items a stats query of the range can read, whatever the number of messages."""
    # The API reads the whole UTC days between the range's edges' nearer UTC midnights, and the
    # hours and quarters between each edge and its midnight (stats.cut).
    start, end = (stats.cut(edge) for edge in stats.local_range(QUERY_FROM, QUERY_TO, ZoneInfo(zone)))
    slots: Counter[str] = Counter()
    for low, high in [(start.day, end.day), start.partial, end.partial]:
        for part in stats.cover(low, high):
            slots[part.level.value] += (part.last - part.first) // stats.SPAN[part.level] + 1
    aggregates = {f"aggregates_{level}": count * channels for level, count in sorted(slots.items())}
    parts = {**aggregates, "totals": channels, "queue_head": 2, "brand": 1}
    return {"total": sum(parts.values()), **parts}


def query(client: Any, reads: Reads, zone: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """GET /brands/acme/stats for the 30 days in ``zone``: the answer and what it read."""
    messages, state = MessageStore(client, aws.MESSAGES_TABLE, aws.STATE_TABLE), StateStore(client, aws.STATE_TABLE)
    app = create_app(messages, state, clock=lambda: NOW)
    event = rest_event(f"/brands/{BRAND}/stats", f"from={QUERY_FROM}&to={QUERY_TO}&tz={zone}")
    reads.reset()
    reads.active = True
    started = time.perf_counter()
    try:
        response = app.resolve(event, aws.LambdaContext())  # type: ignore[arg-type]
    finally:
        reads.active = False
    took = time.perf_counter() - started
    assert response["statusCode"] == 200, response
    return json.loads(response["body"]), {**reads.report(), "wall_ms": round(took * 1000, 1)}


# --- populations ----------------------------------------------------------------------------


@dataclass
class Population:
    how: str
    messages: int
    seconds: float
    state_items: dict[tuple[str, str], dict[str, Any]]
    state_items_stored: int
    queue_heads: dict[str, list[dict[str, Any]]]
    answers: dict[str, dict[str, Any]]
    reads: dict[str, dict[str, Any]]
    message_items: int


def populate(
    messages: list[Synthetic] | None, count: int, seed: int, *, real: bool, head: int = HEAD, snapshot: bool = True
) -> Population:
    """A fresh moto account with the brand and one population, then the stats queries.
    ``snapshot``: keep its state items and queue heads, to compare (slow at a million)."""
    with mock_aws(), item_size_unchecked_on_each_attribute():
        aws.deploy_tables()
        client = boto3.client("dynamodb", region_name=aws.REGION)
        store = MessageStore(client, aws.MESSAGES_TABLE, aws.STATE_TABLE)
        StateStore(client, aws.STATE_TABLE).put_brand(
            Brand(brand_id=BRAND, name="Acme", sla=SlaPolicy(first_response_seconds=TARGET_SECONDS))
        )
        source = messages if messages is not None else synthetic(count, seed)
        started = time.perf_counter()
        if real:
            count_for_real(store, source)
            stored = None
            how = "real counting path (put_new, count_inbound, advance_alert, record_first_response / resolve)"
        else:
            stored = write_folded(client, fold(source, head))
            how = (
                "in memory (stats.received/overdue/responded/resolved added up per channel and quarter, then"
                f" written); message items: only the {head} oldest open and {head} oldest overdue, counted for real"
            )
        seconds = time.perf_counter() - started
        reads = Reads()
        reads.attach(client)
        answers, read_counts = {}, {}
        for zone in ZONES:
            answers[zone], read_counts[zone] = query(client, reads, zone)
        state_items = _state_items(client) if snapshot or stored is None else {}
        return Population(
            how=how,
            messages=count,
            seconds=round(seconds, 1),
            state_items=state_items,
            state_items_stored=len(state_items) if stored is None else stored,
            queue_heads=_queue_heads(client, head) if snapshot else {},
            answers=answers,
            reads=read_counts,
            message_items=client.describe_table(TableName=aws.MESSAGES_TABLE)["Table"]["ItemCount"],
        )


def _state_items(client: Any) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for item in _scan(client, aws.STATE_TABLE):
        plain = {name: _deserializer.deserialize(value) for name, value in item.items()}
        if plain["pk"] == f"BRAND#{BRAND}":
            found[(plain["pk"], plain["sk"])] = plain
    return found


def _queue_heads(client: Any, head: int) -> dict[str, list[dict[str, Any]]]:
    heads = {}
    for status in (MessageStatus.OPEN, MessageStatus.OVERDUE):
        response = client.query(
            TableName=aws.MESSAGES_TABLE,
            IndexName=QUEUE_INDEX,
            KeyConditionExpression="queue_pk = :k",
            ExpressionAttributeValues={":k": {"S": f"{BRAND}#{status.value}"}},
            Limit=head,
        )
        heads[status.value] = [
            {name: _deserializer.deserialize(value) for name, value in item.items()} for item in response["Items"]
        ]
    return heads


def check_faithful(real: Population, folded: Population) -> dict[str, Any]:
    """The in-memory population of the same messages equals the real path's, item for item."""
    assert real.state_items.keys() == folded.state_items.keys(), sorted(
        real.state_items.keys() ^ folded.state_items.keys()
    )[:5]
    differing = [key for key in real.state_items if real.state_items[key] != folded.state_items[key]]
    assert not differing, [(key, real.state_items[key], folded.state_items[key]) for key in differing[:3]]
    assert real.queue_heads == folded.queue_heads, "queue heads differ"
    assert real.answers == folded.answers, "the stats answers differ"
    assert real.reads.keys() == folded.reads.keys()
    for zone in real.reads:
        mine = {k: v for k, v in folded.reads[zone].items() if k != "wall_ms"}
        theirs = {k: v for k, v in real.reads[zone].items() if k != "wall_ms"}
        assert mine == theirs, (zone, mine, theirs)
    return {
        "messages": real.messages,
        "state_items_compared": len(real.state_items),
        "queue_head_items_compared": sum(len(items) for items in real.queue_heads.values()),
        "identical_aggregate_and_totals_items": True,
        "identical_queue_heads": True,
        "identical_stats_answers_and_reads": True,
        "real_path_seconds": real.seconds,
        "in_memory_seconds": folded.seconds,
    }


def stats_buckets() -> int:
    """How many histogram buckets the bench's response times can fall in."""
    return int(stats.bucket_of(LONGEST_SECONDS)) - int(stats.bucket_of(MIN_ANSWER_SECONDS)) + 1


def meaning(small: int, large: int, real: Population, big: Population, bounds: dict[str, dict[str, int]]) -> str:
    full = all(big.reads[zone]["items_read"] == bounds[zone]["total"] for zone in ZONES)
    return (
        "The items a stats query reads depend on the range and the channels, not on the messages: one"
        " aggregate item per channel for each whole day, edge hour and edge quarter hour of the range, one"
        " TOTALS item per channel, the head of the two waiting queues and the brand. "
        f"The {_label(small)} run reads fewer only because some (slot, channel) items do not exist yet (a"
        " quiet channel has slots with no message); "
        + (
            f"at {_label(large)} every slot is filled, so it reads exactly the bound, which no number of"
            " messages can exceed."
            if full
            else f"at {_label(large)} some slots are still empty; no number of messages can exceed the bound."
        )
    )


def _progress(what: str) -> None:
    print(f"[stats_read_bench {time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def _label(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1000 and count % 1000 == 0:
        return f"{count // 1000}k"
    return str(count)


def compare(small: int, large: int, seed: int, *, head: int = HEAD) -> tuple[dict[str, Any], bool]:
    """The whole benchmark: the result to print, and whether the large run stayed in bound."""
    channels = len(CHANNELS)
    bounds = {zone: bound(zone, channels) for zone in ZONES}
    messages = list(synthetic(small, seed))
    _progress(f"{small:,} messages through the real counting path")
    real = populate(messages, small, seed, real=True, head=head)
    _progress(f"the same {small:,} added up in memory, compared item for item")
    faithful = check_faithful(real, populate(messages, small, seed, real=False, head=head))
    _progress(f"{large:,} messages added up in memory")
    big = populate(None, large, seed, real=False, head=head, snapshot=False)
    _progress("done")
    runs = {}
    for population in (real, big):
        runs[str(population.messages)] = {
            "population": population.how,
            "populate_seconds": population.seconds,
            "aggregate_and_totals_items_stored": population.state_items_stored,
            "message_items_stored": population.message_items,
            "answered_in_range": population.answers["UTC"]["responded"],
            "received_in_range": population.answers["UTC"]["received"],
            "queries": {
                zone: {
                    **population.reads[zone],
                    "bound": bounds[zone]["total"],
                    "within_bound": population.reads[zone]["items_read"] <= bounds[zone]["total"],
                }
                for zone in ZONES
            },
        }
    ratio_key = f"items_read_ratio_{_label(large)}_vs_{_label(small)}"
    ratios = {zone: round(big.reads[zone]["items_read"] / real.reads[zone]["items_read"], 4) for zone in ZONES}
    in_bound = all(big.reads[zone]["items_read"] <= bounds[zone]["total"] for zone in ZONES)
    result: dict[str, Any] = {
        "brand": BRAND,
        "channels": [name for name, _ in CHANNELS],
        "query": f"GET /brands/{BRAND}/stats?from={QUERY_FROM}&to={QUERY_TO}&tz=<zone>",
        "messages_posted": f"{DATA_START.date()} to {(NOW - timedelta(days=1)).date()} (UTC), as of {NOW.isoformat()}",
        ratio_key: ratios,
        "items_read": {
            zone: {
                _label(small): real.reads[zone]["items_read"],
                _label(large): big.reads[zone]["items_read"],
                "bound": bounds[zone]["total"],
            }
            for zone in ZONES
        },
        "bound": bounds,
        "large_run_within_bound": in_bound,
        "runs": runs,
        "faithful_at_small": faithful,
        "notes": [
            "items_read: the ScannedCount of each Query (before any filter) and the item of each GetItem, as"
            " DynamoDB (moto) returned them during the request; requests: the calls the API made.",
            "wall_ms is moto's in-process time, not DynamoDB's: moto scans a whole partition for every Query,"
            " so it grows with the items stored; DynamoDB reads the key range.",
            f"The {_label(large)} population holds {big.message_items} message items, not {large:,}: the stats"
            " query reads no message item but the head of the open and overdue queues (Limit 1 each).",
            "bytes_returned (and read_units_estimate) do grow with the messages, up to a limit: an aggregate"
            " item keeps one counter per 1%-wide first-response bucket that occurred, and there are at most"
            f" {stats_buckets()} buckets for response times of {MIN_ANSWER_SECONDS} s to {LONGEST_SECONDS // 86400}"
            f" days (largest item read at {_label(large)}: {max(big.reads[z]['largest_item_bytes'] for z in ZONES)}"
            " bytes). DynamoDB returns at most 1 MB per Query request: past that, the same items take one more"
            " request per MB.",
        ],
        "meaning": meaning(small, large, real, big, bounds),
    }
    return result, in_bound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000, help="messages counted through the real path")
    parser.add_argument("--large", type=int, default=1_000_000, help="messages added up in memory")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    for key, value in aws.ENV.items():
        os.environ.setdefault(key, value)
    started = time.perf_counter()
    result, in_bound = compare(args.small, args.large, args.seed)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=2))
    return 0 if in_bound else 1


if __name__ == "__main__":
    raise SystemExit(main())
