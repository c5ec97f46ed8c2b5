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

A repair adds the drift (expected minus stored) to the stored item, on condition that the
item is still as read: a correct write made later changes the stored item and the messages by
the same amount, so the drift it leaves is the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from replywatch import stats
from replywatch.models import MessageRecord, MessageStatus
from replywatch.stats import Aggregate, Level

# (level, slot start, channel): one aggregate item
SlotKey = tuple[Level, datetime, str]
WAITING = (MessageStatus.OPEN, MessageStatus.OVERDUE)


def contribution(record: MessageRecord) -> tuple[dict[str, int], dict[str, int]]:
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


def expected_slots(records: Iterable[MessageRecord]) -> dict[SlotKey, Aggregate]:
    """The aggregate items the messages add up to, by slot and channel."""
    found: dict[SlotKey, Aggregate] = {}
    for record in records:
        counters, histogram = contribution(record)
        if not counters:
            continue
        for level, start in stats.slots_of(record.created_at):
            key = (level, start, record.platform)
            aggregate = found.setdefault(key, Aggregate(start=start, level=level, channel=record.platform))
            aggregate.counters = _nonzero(Counter(aggregate.counters) + Counter(counters))
            aggregate.histogram = _nonzero(Counter(aggregate.histogram) + Counter(histogram))
    return found


def expected_backlog(records: Iterable[MessageRecord]) -> dict[str, dict[str, int]]:
    """The live backlog the messages add up to, by channel: ``open`` (overdue included) and ``overdue``."""
    found: dict[str, Counter[str]] = {}
    for record in records:
        if record.status in WAITING:
            channel = found.setdefault(record.platform, Counter())
            channel["open"] += 1
            channel["overdue"] += int(record.status is MessageStatus.OVERDUE)
    return {channel: _nonzero(counts) for channel, counts in found.items() if _nonzero(counts)}


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
