"""Checking the statistics against the messages they count. Pure: no storage, no clock.

Every change the statistics count (a customer message counted, answered, answered earlier
than first thought, resolved elsewhere, gone overdue) is written in one transaction with the
``ADD`` s to the day, hour and quarter-hour items of the message's slot and to its channel's
live backlog. So the aggregates of a range must equal what the messages stored for that range
add up to now, and the backlog must equal the messages waiting now. This module works that
out from each message's stored state alone (not from the events that led there) and compares.

The stored side is read twice, before and after the messages: an item that changed between the
two reads was written while the messages were read, so the messages seen may be older or newer
than it; it is reported as changed, never as drift. An aggregate item whose counters are equal
in both reads was not written in between, because every write to one changes its counters:
``received``, ``responded``, ``overdue`` and their ``next_`` twins only ever grow, ``resolved``
shrinks only when ``responded`` grows, and an answer found earlier shrinks
``response_seconds_sum``. The live backlog's counters go up and down, so its items carry a
count of the writes made to them (``writes``), which is compared instead.

A repair adds the drift (expected minus stored) to a stored aggregate item, on condition that
the item is still as read: a correct write made later changes the stored item and the messages
by the same amount, so the drift it leaves is the same. A repair's write is not monotone, so
one audit of a brand runs at a time (a lease in the state table). The live backlog is reported,
never repaired: a waiting message removed by TTL is gone from the table before the stream
handler takes it off the backlog, so a drift there may be a removal still on its way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from replywatch import stats
from replywatch.models import Intent, MessageStatus, Sentiment, Wait
from replywatch.stats import Aggregate, Level

# (level, slot start, channel): one aggregate item
SlotKey = tuple[Level, datetime, str]
WAITING = (MessageStatus.OPEN, MessageStatus.OVERDUE)


class Repair(StrEnum):
    """What a repair of one item did."""

    DONE = "repaired"
    WRITTEN_SINCE = "written since it was read: not repaired"
    PARTLY = "written while it was repaired: repaired in part"


class Counted(Protocol):
    """What the audit needs of a stored message (a :class:`MessageRecord` has it; the store's
    scan reads only these attributes, never the text)."""

    @property
    def platform(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def counted(self) -> bool: ...
    @property
    def status(self) -> MessageStatus | None: ...
    @property
    def wait(self) -> Wait | None: ...
    @property
    def sentiment(self) -> Sentiment | None: ...
    @property
    def intent(self) -> Intent | None: ...
    @property
    def due_at(self) -> datetime | None: ...
    @property
    def overdue_at(self) -> datetime | None: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def first_response_seconds(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class MessageState:
    """A stored message's counted state, as the audit's scan reads it."""

    platform: str
    created_at: datetime
    counted: bool = False
    status: MessageStatus | None = None
    wait: Wait | None = None
    sentiment: Sentiment | None = None
    intent: Intent | None = None
    due_at: datetime | None = None
    overdue_at: datetime | None = None
    first_response_at: datetime | None = None
    first_response_seconds: int | None = None


def contribution(record: Counted) -> tuple[dict[str, int], dict[str, int]]:
    """What a stored message adds to each of its slots: counters and first-response histogram.

    Nothing unless it was counted (a conversation's opening message, or a next-response wait);
    follow-ups filed under a conversation, and the brand's own posts, count nothing."""
    if not record.counted:
        return {}, {}
    counters: Counter[str] = Counter()
    histogram: Counter[str] = Counter()
    if record.sentiment is not None and record.intent is not None:
        counters.update(stats.received(record.wait, record.sentiment, record.intent))
    else:  # counted without a classification: not written by this product, shown as drift
        counters.update(stats.received_only(record.wait))
    if record.overdue_at is not None:
        counters.update(stats.overdue(record.wait))
    if record.first_response_at is not None:
        within = record.due_at is not None and record.first_response_at <= record.due_at
        answered, buckets = stats.responded(record.wait, record.first_response_seconds or 0, within)
        counters.update(answered)
        histogram.update(buckets)
    elif record.status is MessageStatus.RESOLVED:
        counters.update(stats.resolved(record.wait))
    return _nonzero(counters), _nonzero(histogram)


class Tally:
    """What a brand's messages add up to, one message at a time (a scan never holds them all):
    the aggregate items of [start, end) by slot and channel, and the live backlog by channel."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.slots: dict[SlotKey, tuple[Counter[str], Counter[str]]] = {}
        self.backlog: dict[str, Counter[str]] = {}
        self.counted = 0  # counted messages posted in the range

    def add(self, record: Counted) -> None:
        if record.status in WAITING:
            waiting = self.backlog.setdefault(record.platform, Counter())
            waiting["open"] += 1
            waiting["overdue"] += int(record.status is MessageStatus.OVERDUE)
        if not self.start <= record.created_at < self.end:
            return
        counters, histogram = contribution(record)
        if not counters:
            return
        self.counted += 1
        for level, slot in stats.slots_of(record.created_at):
            kept = self.slots.setdefault((level, slot, record.platform), (Counter(), Counter()))
            kept[0].update(counters)
            kept[1].update(histogram)

    def merge(self, other: Tally) -> Tally:
        for key, (counters, histogram) in other.slots.items():
            kept = self.slots.setdefault(key, (Counter(), Counter()))
            kept[0].update(counters)
            kept[1].update(histogram)
        for channel, counts in other.backlog.items():
            self.backlog.setdefault(channel, Counter()).update(counts)
        self.counted += other.counted
        return self

    def aggregates(self) -> dict[SlotKey, Aggregate]:
        return {
            (level, slot, channel): Aggregate(
                start=slot, level=level, channel=channel, counters=_nonzero(counters), histogram=_nonzero(histogram)
            )
            for (level, slot, channel), (counters, histogram) in self.slots.items()
        }

    def waiting(self) -> dict[str, dict[str, int]]:
        return {channel: _nonzero(counts) for channel, counts in self.backlog.items() if _nonzero(counts)}


_EVERYTHING = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def expected_slots(records: Iterable[Counted]) -> dict[SlotKey, Aggregate]:
    """The aggregate items the messages add up to, by slot and channel."""
    tally = Tally(*_EVERYTHING)
    for record in records:
        tally.add(record)
    return tally.aggregates()


def expected_backlog(records: Iterable[Counted]) -> dict[str, dict[str, int]]:
    """The live backlog the messages add up to, by channel: ``open`` (overdue included) and ``overdue``."""
    tally = Tally(*_EVERYTHING)
    for record in records:
        tally.add(record)
    return tally.waiting()


@dataclass(frozen=True)
class Stored:
    """A live-backlog item as read: its counters and how many writes made it."""

    counts: dict[str, int]
    writes: int


@dataclass(frozen=True)
class SlotDrift:
    """One aggregate item that does not hold what its messages add up to."""

    level: Level
    start: datetime
    channel: str
    stored: Aggregate
    expected: Aggregate

    @property
    def counters(self) -> dict[str, int]:
        """Expected minus stored, per counter that differs."""
        return _difference(self.expected.counters, self.stored.counters)

    @property
    def histogram(self) -> dict[str, int]:
        return _difference(self.expected.histogram, self.stored.histogram)


@dataclass(frozen=True)
class BacklogDrift:
    channel: str
    stored: Stored
    expected: dict[str, int]

    @property
    def counts(self) -> dict[str, int]:
        return _difference(self.expected, self.stored.counts)


@dataclass
class Audit:
    """What :func:`compare` found."""

    slots: int = 0  # aggregate items checked (stored or expected)
    drift: list[SlotDrift] = field(default_factory=list)
    backlog_drift: list[BacklogDrift] = field(default_factory=list)
    changed: list[SlotKey] = field(default_factory=list)  # written while the messages were read
    backlog_changed: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.drift and not self.backlog_drift


def compare(
    expected: Mapping[SlotKey, Aggregate],
    before: Mapping[SlotKey, Aggregate],
    after: Mapping[SlotKey, Aggregate],
    *,
    backlog_expected: Mapping[str, Mapping[str, int]],
    backlog_before: Mapping[str, Stored],
    backlog_after: Mapping[str, Stored],
) -> Audit:
    """Drift of every item that stayed still while the messages were read (``before`` and
    ``after``: the stored items read either side of them; a missing item holds nothing)."""
    audit = Audit()
    for key in sorted(set(expected) | set(before) | set(after), key=lambda k: (k[1], k[0].value, k[2])):
        level, start, channel = key
        empty = Aggregate(start=start, level=level, channel=channel)
        stored, later = before.get(key, empty), after.get(key, empty)
        audit.slots += 1
        if _content(stored) != _content(later):
            audit.changed.append(key)
            continue
        want = expected.get(key, empty)
        if _content(want) != _content(later):
            audit.drift.append(SlotDrift(level, start, channel, stored=later, expected=want))
    nothing = Stored({}, 0)
    for channel in sorted(set(backlog_expected) | set(backlog_before) | set(backlog_after)):
        stored_backlog, later_backlog = backlog_before.get(channel, nothing), backlog_after.get(channel, nothing)
        if stored_backlog != later_backlog:
            audit.backlog_changed.append(channel)
            continue
        wanted = _nonzero(Counter(backlog_expected.get(channel, {})))
        if wanted != _nonzero(Counter(later_backlog.counts)):
            audit.backlog_drift.append(BacklogDrift(channel, later_backlog, wanted))
    return audit


def _content(aggregate: Aggregate) -> tuple[dict[str, int], dict[str, int]]:
    return _nonzero(Counter(aggregate.counters)), _nonzero(Counter(aggregate.histogram))


def _nonzero(counts: Counter[str] | Mapping[str, int]) -> dict[str, int]:
    return {name: count for name, count in sorted(counts.items()) if count}


def _difference(want: Mapping[str, int], have: Mapping[str, int]) -> dict[str, int]:
    return {
        name: want.get(name, 0) - have.get(name, 0)
        for name in sorted(set(want) | set(have))
        if want.get(name, 0) != have.get(name, 0)
    }
