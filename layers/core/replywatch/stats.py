"""Pre-aggregated response statistics. Pure: no storage, no clock.

Each brand keeps, per channel and per time slot, counters plus a log-bucketed
histogram of first-response seconds (the DDSketch layout: bucket ``i`` holds
values in ``(gamma**(i-1), gamma**i]``), so any quantile it reports is within
``RELATIVE_ACCURACY`` of the exact nearest-rank value, and histograms merge by
adding counts.

A message is counted in three slots of the instant it was posted: its UTC day,
hour and quarter hour. A range in any time zone starts and ends on a quarter
hour, so :func:`cover` splits it into whole days, then whole hours, then
quarters at its edges: a query reads a number of items bounded by the range and
the channels, never by the number of messages.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from replywatch.models import Intent, Sentiment, Wait

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
ZERO_BUCKET = "z"


def bucket_of(seconds: int) -> str:
    """The histogram bucket that holds a response time of ``seconds``."""
    if seconds < 0:
        raise ValueError("response times are never negative")
    if seconds == 0:
        return ZERO_BUCKET
    return str(math.ceil(math.log(seconds) / _LOG_GAMMA))


def bucket_value(bucket: str) -> float:
    """The value a bucket stands for: within RELATIVE_ACCURACY of anything in it."""
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2 * GAMMA ** int(bucket) / (GAMMA + 1)


def _bucket_order(bucket: str) -> int:
    return -1 if bucket == ZERO_BUCKET else int(bucket)


def quantile(histogram: Mapping[str, int], q: float) -> float | None:
    """Nearest-rank quantile (the value at sorted index ceil(q*n)-1) from a histogram."""
    if not 0 <= q <= 1:
        raise ValueError("q must be within [0, 1]")
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(histogram, key=_bucket_order):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    raise AssertionError("unreachable: rank is at most the total")


def exact_quantile(values: Iterable[float], q: float) -> float | None:
    """The exact nearest-rank quantile that :func:`quantile` approximates."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# --- time slots ------------------------------------------------------------------------------


class Level(StrEnum):
    """An aggregate item's span; the value is its sort-key prefix."""

    DAY = "DAY"
    HOUR = "HOUR"
    QUARTER = "Q"


SPAN = {Level.DAY: timedelta(days=1), Level.HOUR: timedelta(hours=1), Level.QUARTER: timedelta(minutes=15)}
_FINER = {Level.DAY: Level.HOUR, Level.HOUR: Level.QUARTER}


def slot_start(moment: datetime, level: Level) -> datetime:
    """The start (UTC) of the ``level`` slot holding ``moment``."""
    moment = moment.astimezone(UTC)
    if level is Level.DAY:
        return datetime.combine(moment.date(), time(), UTC)
    if level is Level.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def slot_label(start: datetime, level: Level) -> str:
    """The slot's part of a sort key: ``2026-11-23``, ``2026-11-23T10``, ``2026-11-23T10:15``."""
    if level is Level.DAY:
        return start.date().isoformat()
    if level is Level.HOUR:
        return start.strftime("%Y-%m-%dT%H")
    return start.strftime("%Y-%m-%dT%H:%M")


def parse_slot(label: str, level: Level) -> datetime:
    if level is Level.DAY:
        return datetime.combine(date.fromisoformat(label), time(), UTC)
    if level is Level.HOUR:
        return datetime.strptime(label, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    return datetime.strptime(label, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


def slots_of(moment: datetime) -> list[tuple[Level, datetime]]:
    """The slots a message posted at ``moment`` is counted in."""
    return [(level, slot_start(moment, level)) for level in Level]


@dataclass(frozen=True)
class SlotRange:
    """Consecutive slots of one level, ``first`` to ``last`` inclusive (their starts)."""

    level: Level
    first: datetime
    last: datetime


class OffQuarter(ValueError):
    """A range edge not on a quarter hour: a time zone whose midnight is not (none in use today)."""


def cover(start: datetime, end: datetime) -> list[SlotRange]:
    """The fewest slot ranges whose union is exactly [start, end): whole days, then hours,
    then quarters at the edges. Both ends must fall on a quarter hour (every time zone's
    midnight does)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    for edge in (start, end):
        if slot_start(edge, Level.QUARTER) != edge:
            raise OffQuarter(f"{edge.isoformat()} is not on a quarter hour")
    return _cover(start, end, Level.DAY)


def _cover(start: datetime, end: datetime, level: Level) -> list[SlotRange]:
    if start >= end:
        return []
    span = SPAN[level]
    first = slot_start(start, level)
    if first < start:
        first += span
    stop = slot_start(end, level)  # the first slot not wholly inside
    if level is Level.QUARTER or first >= stop:
        if level is Level.QUARTER:
            return [SlotRange(level, start, end - span)]
        return _cover(start, end, _FINER[level])
    finer = _FINER[level]
    return [*_cover(start, first, finer), SlotRange(level, first, stop - span), *_cover(stop, end, finer)]


@dataclass(frozen=True)
class Cut:
    """An instant seen from the grid of UTC days: everything before ``at`` is the whole days
    before ``day`` plus the slots from ``day`` to ``at`` (``at`` after ``day``) or minus the
    slots from ``at`` to ``day`` (``at`` before it). Made by :func:`cut`."""

    at: datetime
    day: datetime

    @property
    def sign(self) -> int:
        return 1 if self.at >= self.day else -1

    @property
    def partial(self) -> tuple[datetime, datetime]:
        """The hours and quarters between ``day`` and ``at``, earlier end first."""
        return (self.day, self.at) if self.at >= self.day else (self.at, self.day)


def cut(at: datetime) -> Cut:
    """``at`` against its nearer UTC midnight: at most 12 hours of hour and quarter slots."""
    at = at.astimezone(UTC)
    midnight = slot_start(at, Level.DAY)
    return Cut(at, midnight if at - midnight <= timedelta(hours=12) else midnight + SPAN[Level.DAY])


def between(
    start: Cut, end: Cut, days: Iterable[Aggregate], partials: Mapping[datetime, Sequence[Aggregate]]
) -> list[Aggregate]:
    """The aggregates that add up to exactly [start.at, end.at): the whole days from
    ``start.day`` to ``end.day``, then ``end``'s partial slots added or taken off and
    ``start``'s the other way round. ``partials`` holds each cut's partial slots by its ``at``.
    A period of a day or more never has ``end.day`` before ``start.day``. A day item holds the
    sum of its hours and quarters (one transaction writes all three), so taking an edge's slots
    off a day is exact; aggregates taken off carry negated counts (:func:`negated`)."""
    whole = [a for a in days if a.level is Level.DAY and start.day <= a.start < end.day]
    added = [a if end.sign > 0 else negated(a) for a in partials[end.at]]
    taken = [negated(a) if start.sign > 0 else a for a in partials[start.at]]
    return [*whole, *added, *taken]


def read_periods(
    cuts: Sequence[Cut], read_slots: Callable[[datetime, datetime], list[Aggregate]]
) -> list[list[Aggregate]]:
    """The aggregates of each period between consecutive ``cuts``: the whole UTC days in one
    read, and at each cut that is not a UTC midnight the few hours and quarters between it
    and the nearer one, added to or taken off the days (:func:`between`). ``read_slots(start,
    end)`` reads every aggregate whose slot lies in [start, end)."""

    def slots(start: datetime, end: datetime) -> list[Aggregate]:
        return read_slots(start, end) if start < end else []

    whole = slots(cuts[0].day, cuts[-1].day)
    partials = {cut.at: slots(*cut.partial) for cut in cuts}
    return [between(start, end, whole, partials) for start, end in itertools.pairwise(cuts)]


def local_cuts(starts: Sequence[date], last: date, tz: ZoneInfo) -> list[Cut]:
    """The cuts of consecutive periods of local days: at the local midnight that starts each
    of ``starts``, and at the one that ends ``last``."""
    return [cut(at) for at in [*(local_range(day, day, tz)[0] for day in starts), local_range(last, last, tz)[1]]]


def local_range(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local days ``first`` to ``last`` inclusive in ``tz``."""
    return (
        datetime.combine(first, time(), tz).astimezone(UTC),
        datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC),
    )


# --- what each event adds ---------------------------------------------------------------------

# A first wait (a conversation opened) is counted under the plain names; a next-response wait
# (the customer wrote again after the brand's reply) under ``next_`` only, so the first-response
# figures, their distribution and the industry figures set beside them hold first responses
# alone. Sentiment and intent count every customer message, whichever wait it is.
NEXT_PREFIX = "next_"
HOUR = 3600
DAY_SECONDS = 86400


def _waited(wait: Wait | None, counters: dict[str, int]) -> dict[str, int]:
    if wait is not Wait.NEXT:
        return counters
    return {NEXT_PREFIX + name: amount for name, amount in counters.items()}


def received(wait: Wait | None, sentiment: Sentiment, intent: Intent) -> dict[str, int]:
    """A customer message counted: a conversation opened, or (``next_``) a next-response wait."""
    return received_only(wait) | {f"sentiment_{sentiment.value}": 1, f"intent_{intent.value}": 1}


def responded(
    wait: Wait | None, seconds: int, within_sla: bool, sign: int = 1
) -> tuple[dict[str, int], dict[str, int]]:
    """Counters and histogram change of a response after ``seconds`` (``sign`` -1 takes one back);
    the histogram is the first-response distribution, so a next response leaves it alone."""
    counters = {
        "responded": sign,
        "response_seconds_sum": sign * seconds,
        "within_sla": sign * int(within_sla),
        "within_1h": sign * int(seconds <= HOUR),
        "within_24h": sign * int(seconds <= DAY_SECONDS),
    }
    return _waited(wait, counters), {} if wait is Wait.NEXT else {bucket_of(seconds): sign}


def moved(
    wait: Wait | None, old_seconds: int, old_within: bool, new_seconds: int, new_within: bool
) -> tuple[dict[str, int], dict[str, int]]:
    """An earlier reply found: the change from the old first response to the new one."""
    old_counters, old_histogram = responded(wait, old_seconds, old_within, sign=-1)
    new_counters, new_histogram = responded(wait, new_seconds, new_within)
    counters = Counter(old_counters)
    counters.update(new_counters)
    histogram = Counter(old_histogram)
    histogram.update(new_histogram)
    return {k: v for k, v in counters.items() if v}, {k: v for k, v in histogram.items() if v}


def received_only(wait: Wait | None) -> dict[str, int]:
    """A customer message counted, without its sentiment and intent."""
    return _waited(wait, {"received": 1})


def overdue(wait: Wait | None) -> dict[str, int]:
    return _waited(wait, {"overdue": 1})


def resolved(wait: Wait | None, sign: int = 1) -> dict[str, int]:
    """Handled elsewhere (phone, e-mail, DM) rather than answered in public."""
    return _waited(wait, {"resolved": sign})


# --- aggregates and their summary -------------------------------------------------------------

COUNTERS = (
    "received",
    "responded",
    "resolved",
    "response_seconds_sum",
    "within_sla",
    "within_1h",
    "within_24h",
    "overdue",
    *(NEXT_PREFIX + name for name in ("received", "responded", "resolved", "response_seconds_sum", "within_sla")),
    *(NEXT_PREFIX + name for name in ("within_1h", "within_24h", "overdue")),
    *(f"sentiment_{sentiment.value}" for sentiment in Sentiment),
    *(f"intent_{intent.value}" for intent in Intent),
)


class Aggregate(BaseModel):
    """Counters for one brand, channel and slot (of the customer's message)."""

    start: datetime
    level: Level = Level.DAY
    channel: str
    counters: dict[str, int] = Field(default_factory=dict)
    histogram: dict[str, int] = Field(default_factory=dict)

    @property
    def day(self) -> date:
        return self.start.date()

    def __getitem__(self, name: str) -> int:
        return self.counters.get(name, 0)


def negated(aggregate: Aggregate) -> Aggregate:
    """The aggregate with every count negated: merged with others, it takes its slot off."""
    return aggregate.model_copy(
        update={
            "counters": {name: -count for name, count in aggregate.counters.items()},
            "histogram": {bucket: -count for bucket, count in aggregate.histogram.items()},
        }
    )


def day_aggregate(day: date, channel: str, histogram: Mapping[str, int] | None = None, **counters: int) -> Aggregate:
    """A DAY-level aggregate (tests and tools)."""
    return Aggregate(
        start=datetime.combine(day, time(), UTC), channel=channel, counters=counters, histogram=dict(histogram or {})
    )


@dataclass
class Totals:
    """Aggregates added together."""

    counters: Counter[str]
    histogram: Counter[str]

    def __getitem__(self, name: str) -> int:
        return self.counters.get(name, 0)


def merge(aggregates: Iterable[Aggregate], channel: str | None = None) -> Totals:
    counters: Counter[str] = Counter()
    histogram: Counter[str] = Counter()
    for aggregate in aggregates:
        if channel is not None and aggregate.channel != channel:
            continue
        counters.update(aggregate.counters)
        histogram.update(aggregate.histogram)
    return Totals(counters, histogram)


class Backlog(BaseModel):
    open: Annotated[int, Field(description="Unanswered messages now, overdue included")] = 0
    overdue: Annotated[int, Field(description="Unanswered messages now past their due time")] = 0
    oldest_open_at: Annotated[datetime | None, Field(description="When the oldest unanswered message was posted")] = (
        None
    )


class BacklogView(Backlog):
    oldest_open_age_seconds: int | None = None


class SentimentCounts(BaseModel):
    negative: int = 0
    neutral: int = 0
    positive: int = 0


class IntentCounts(BaseModel):
    complaint: int = 0
    question: int = 0
    praise: int = 0
    other: int = 0


class NextResponse(BaseModel):
    """Next-response waits: a customer wrote again after the brand's reply. Counted here only,
    never in the conversations or the first-response figures."""

    received: Annotated[int, Field(description="Customer messages written after the brand's reply")]
    responded: Annotated[int, Field(description="Of those, answered in public")]
    resolved: Annotated[int, Field(description="Of those, handled elsewhere (phone, e-mail, DM)")]
    overdue: Annotated[int, Field(description="Of those, passed their next-response due time unanswered")]
    mean_seconds: Annotated[float | None, Field(description="Mean time to the brand's next response")]
    within_sla_percent: Annotated[
        float | None, Field(description="Share answered in public within the next-response SLA, in %")
    ]


class Bin(BaseModel):
    label: str
    from_seconds: int
    to_seconds: Annotated[int | None, Field(description="Exclusive; None: no upper bound")]
    count: int


# Where the first-response distribution is cut for a chart.
BINS: tuple[tuple[str, int, int | None], ...] = (
    ("< 5 min", 0, 300),
    ("5–15 min", 300, 900),
    ("15 min – 1 h", 900, HOUR),
    ("1–4 h", HOUR, 4 * HOUR),
    ("4–24 h", 4 * HOUR, DAY_SECONDS),
    ("≥ 24 h", DAY_SECONDS, None),
)


class IndustryFigures(BaseModel):
    """Published figures to set a brand's own beside: the same for every brand."""

    first_response_mean_seconds: Annotated[int, Field(description="Average first response on social media: ~5 h")]
    expect_answer_within_1h_percent: Annotated[
        int, Field(description="Share of people complaining on social media who expect an answer within 1 hour")
    ]
    x_complaints_answered_within_24h_percent: Annotated[
        int, Field(description="Share of complaints to brands on X (Twitter) answered within 24 hours")
    ]
    sources: list[str]


INDUSTRY = IndustryFigures(
    first_response_mean_seconds=5 * HOUR,
    expect_answer_within_1h_percent=40,
    x_complaints_answered_within_24h_percent=40,
    sources=[
        "Sprout Social Index: average brand response time on social media of about 5 hours",
        "Convince & Convert / Edison Research: 42% of consumers complaining on social media expect a response"
        " within 60 minutes",
        "Simply Measured / Lithium studies of brand accounts on Twitter: roughly 40% of complaints answered"
        " within 24 hours",
    ],
)


class Figures(BaseModel):
    """The response figures of one range (the whole query, or one point of a time series)."""

    received: Annotated[
        int,
        Field(
            description="Conversations opened (a customer's follow-ups to their own unanswered message join one;"
            " writing again after the brand's answer is a next-response wait, counted in next_response only)"
        ),
    ]
    responded: Annotated[int, Field(description="Conversations the brand answered in public")]
    resolved: Annotated[int, Field(description="Conversations handled elsewhere (phone, e-mail, DM), marked so")]
    response_rate: Annotated[float | None, Field(description="responded / received, 0..1")]
    handled_rate: Annotated[float | None, Field(description="(responded + resolved) / received, 0..1")]
    first_response_mean_seconds: float | None
    first_response_p50_seconds: Annotated[float | None, Field(description="Within 1% of the exact value")]
    first_response_p90_seconds: Annotated[float | None, Field(description="Within 1% of the exact value")]
    first_response_p99_seconds: Annotated[float | None, Field(description="Within 1% of the exact value")]
    within_sla_percent: Annotated[
        float | None, Field(description="Share of conversations answered in public within their SLA, in %")
    ]
    within_1h_percent: Annotated[float | None, Field(description="Share answered in public within 1 hour, in %")]
    within_24h_percent: Annotated[float | None, Field(description="Share answered in public within 24 hours, in %")]
    overdue: Annotated[int, Field(description="Conversations that passed their due time unanswered")]
    negative: Annotated[int, Field(description="Negative customer messages (conversations and next waits)")]


class StatsResponse(Figures):
    brand: str
    from_day: Annotated[date, Field(alias="from", description="First day, inclusive, in `tz`")]
    to_day: Annotated[date, Field(alias="to", description="Last day, inclusive, in `tz`")]
    tz: Annotated[str, Field(description="The IANA time zone the days are counted in")]
    channel: Annotated[str | None, Field(description="The one channel counted; None: all")]
    as_of: Annotated[datetime, Field(description="The instant the backlog figures refer to")]
    sentiment: SentimentCounts
    intent: IntentCounts
    next_response: NextResponse
    distribution: Annotated[list[Bin], Field(description="First-response times in bins, for a chart")]
    backlog: BacklogView
    industry: IndustryFigures

    model_config = {"populate_by_name": True}


class Point(Figures):
    start: Annotated[date, Field(description="First day of the point, in `tz`")]
    end: Annotated[date, Field(description="Last day of the point, inclusive")]


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"


class Timeseries(BaseModel):
    brand: str
    from_day: Annotated[date, Field(alias="from")]
    to_day: Annotated[date, Field(alias="to")]
    tz: str
    channel: str | None
    interval: Interval
    points: list[Point]

    model_config = {"populate_by_name": True}


def _ratio(part: int, whole: int, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def figures(totals: Totals) -> dict[str, object]:
    received_, responded_, resolved_ = totals["received"], totals["responded"], totals["resolved"]
    return {
        "received": received_,
        "responded": responded_,
        "resolved": resolved_,
        "response_rate": _ratio(responded_, received_),
        "handled_rate": _ratio(responded_ + resolved_, received_),
        "first_response_mean_seconds": round(totals["response_seconds_sum"] / responded_, 2) if responded_ else None,
        "first_response_p50_seconds": _rounded(quantile(totals.histogram, 0.5)),
        "first_response_p90_seconds": _rounded(quantile(totals.histogram, 0.9)),
        "first_response_p99_seconds": _rounded(quantile(totals.histogram, 0.99)),
        "within_sla_percent": _percent(totals["within_sla"], received_),
        "within_1h_percent": _percent(totals["within_1h"], received_),
        "within_24h_percent": _percent(totals["within_24h"], received_),
        "overdue": totals["overdue"],
        "negative": totals[f"sentiment_{Sentiment.NEGATIVE.value}"],
    }


def distribution(histogram: Mapping[str, int]) -> list[Bin]:
    """The histogram in chart bins. A bucket is put in the bin holding its value, so a time
    within 1% of a bin's edge may be counted in the bin beside it."""
    counts = [0] * len(BINS)
    for bucket, count in histogram.items():
        value = bucket_value(bucket)
        for index, (_, low, high) in enumerate(BINS):
            if value >= low and (high is None or value < high):
                counts[index] += count
                break
    return [
        Bin(label=label, from_seconds=low, to_seconds=high, count=count)
        for (label, low, high), count in zip(BINS, counts, strict=True)
    ]


def summarise(
    brand: str,
    from_day: date,
    to_day: date,
    aggregates: Iterable[Aggregate],
    backlog: Backlog,
    as_of: datetime,
    *,
    tz: str = "UTC",
    channel: str | None = None,
) -> StatsResponse:
    totals = merge(aggregates, channel)
    oldest_age = None
    if backlog.oldest_open_at is not None:
        oldest_age = max(0, int((as_of - backlog.oldest_open_at).total_seconds()))
    next_received, next_responded = totals[NEXT_PREFIX + "received"], totals[NEXT_PREFIX + "responded"]
    return StatsResponse.model_validate(
        {
            **figures(totals),
            "brand": brand,
            "from": from_day,
            "to": to_day,
            "tz": tz,
            "channel": channel,
            "as_of": as_of,
            "sentiment": {sentiment.value: totals[f"sentiment_{sentiment.value}"] for sentiment in Sentiment},
            "intent": {intent.value: totals[f"intent_{intent.value}"] for intent in Intent},
            "next_response": {
                "received": next_received,
                "responded": next_responded,
                "resolved": totals[NEXT_PREFIX + "resolved"],
                "overdue": totals[NEXT_PREFIX + "overdue"],
                "mean_seconds": round(totals[NEXT_PREFIX + "response_seconds_sum"] / next_responded, 2)
                if next_responded
                else None,
                "within_sla_percent": _percent(totals[NEXT_PREFIX + "within_sla"], next_received),
            },
            "distribution": distribution(totals.histogram),
            "backlog": BacklogView(**backlog.model_dump(), oldest_open_age_seconds=oldest_age),
            "industry": INDUSTRY,
        }
    )


def periods(first: date, last: date, interval: Interval) -> Iterator[tuple[date, date]]:
    """The days, or the ISO weeks (Monday to Sunday, clipped to the range), from ``first`` to ``last``."""
    day = first
    while day <= last:
        end = day if interval is Interval.DAY else min(last, day + timedelta(days=6 - day.weekday()))
        yield day, end
        day = end + timedelta(days=1)


def point(start: date, end: date, aggregates: Iterable[Aggregate], channel: str | None = None) -> Point:
    return Point.model_validate({**figures(merge(aggregates, channel)), "start": start, "end": end})


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
