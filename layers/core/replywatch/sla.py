"""SLA arithmetic, in business time. Pure: every function takes the instants it needs as arguments.

A brand's SLA clock runs only while its team is open (``SlaPolicy.business_hours``: local
wall-clock hours in ``Brand.timezone``, closed on public holidays and ``closed_dates``), or
around the clock when the policy has no business hours. Datetimes in and out are
timezone-aware; every instant returned is in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from replywatch.models import WEEKDAYS, AlertKind, BusinessHours, Priority, SlaPolicy, Wait

_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
# This many closed local days in a row means the calendar never opens again: holidays and
# closed_dates can close every weekday the weekly hours open.
CLOSED_HORIZON_DAYS = 3 * 366

Opening = tuple[datetime, datetime]  # [opens, closes), in UTC


# --- the business clock ----------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessClock:
    """Counts SLA time: only while open, or around the clock when ``weekly`` is None.

    Build one with :func:`business_clock`. Hashable, so a day's openings are cached per clock.
    """

    zone: ZoneInfo
    weekly: tuple[tuple[tuple[int, int], ...], ...] | None  # per weekday, Monday first: [start, end) in minutes
    holidays_country: str | None = None
    holidays_subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()

    def add(self, start: datetime, seconds: int) -> datetime:
        """The instant when ``seconds`` of business time have elapsed after ``start``.

        A start outside hours counts from the next opening, so ``add(start, 0)`` is ``start``
        when open and the next opening otherwise. Openings are [opens, closes): a target that
        runs out exactly at closing time is due at closing time, not at the next opening.
        """
        if seconds < 0:
            raise ValueError("business seconds to add cannot be negative")
        start = _utc(start)
        if self.weekly is None:
            return start + timedelta(seconds=seconds)
        remaining = timedelta(seconds=seconds)
        for opens, closes in self._openings_from(start):
            if closes <= start:
                continue
            begin = max(opens, start)
            if remaining <= closes - begin:
                return begin + remaining
            remaining -= closes - begin
        raise AssertionError("unreachable: the walk over openings ends only by raising")  # pragma: no cover

    def elapsed(self, start: datetime, end: datetime) -> int:
        """Whole business seconds from ``start`` to ``end``; 0 when ``end`` is not after ``start``."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return 0
        if self.weekly is None:
            return (end - start) // _SECOND
        total = timedelta()
        for opens, closes in self._openings_from(start):
            if opens >= end:
                break
            if closes > start:
                total += min(closes, end) - max(opens, start)
        return total // _SECOND

    def is_open(self, moment: datetime) -> bool:
        moment = _utc(moment)
        if self.weekly is None:
            return True
        local_day = moment.astimezone(self.zone).date()
        return any(
            opens <= moment < closes
            for day in (local_day - _DAY, local_day, local_day + _DAY)
            for opens, closes in _day_openings(self, day)
        )

    def is_closed_day(self, day: date) -> bool:
        """A public holiday or one of the brand's closed dates, whatever the weekly hours say."""
        if day in self.closed_dates:
            return True
        if self.holidays_country is None:
            return False
        return day in _public_holidays(self.holidays_country, self.holidays_subdivision, day.year)

    def _openings_from(self, start: datetime) -> Iterator[Opening]:
        """Openings in time order, from the local day before ``start``'s on, without end.

        The day before: a DST gap can push a day's boundary onto the next local date.
        Raises ValueError after ``CLOSED_HORIZON_DAYS`` closed days in a row.
        """
        day = start.astimezone(self.zone).date() - _DAY
        closed_since = day
        while True:
            openings = _day_openings(self, day)
            if openings:
                yield from openings
                closed_since = day + _DAY
            elif (day - closed_since).days >= CLOSED_HORIZON_DAYS:
                raise ValueError(
                    f"business hours do not open in the {CLOSED_HORIZON_DAYS} days from {closed_since.isoformat()}"
                    f" (counting from {start.isoformat()}): public holidays and closed dates close every open weekday"
                )
            day += _DAY


def business_clock(policy: SlaPolicy, timezone: str) -> BusinessClock:
    """The clock for ``policy`` in the brand's IANA ``timezone`` (``Brand.timezone``)."""
    zone = ZoneInfo(timezone)
    hours = policy.business_hours
    if hours is None:
        return BusinessClock(zone=zone, weekly=None)
    weekly = tuple(tuple(sorted(_minutes(span) for span in hours.weekly.get(day, []))) for day in WEEKDAYS)
    return BusinessClock(
        zone=zone,
        weekly=weekly,
        holidays_country=hours.holidays_country,
        holidays_subdivision=hours.holidays_subdivision,
        closed_dates=hours.closed_dates,
    )


@lru_cache(maxsize=4096)
def _day_openings(clock: BusinessClock, day: date) -> tuple[Opening, ...]:
    """One local date's openings as UTC instants: nothing on a closed day."""
    if clock.weekly is None or clock.is_closed_day(day):
        return ()
    openings = []
    for start, end in clock.weekly[day.weekday()]:
        opens, closes = _instant(clock.zone, day, start), _instant(clock.zone, day, end)
        if closes > opens:  # a span entirely inside a DST gap never happens
            openings.append((opens, closes))
    return tuple(openings)


def _instant(zone: ZoneInfo, day: date, minute: int) -> datetime:
    """The UTC instant at which the wall clock in ``zone`` first shows ``minute`` past midnight of ``day``.

    One rule for both DST changes: the first instant the local clock reads the boundary or later.
    - Ambiguous (fall back, the time happens twice): the first occurrence, fold=0.
    - Nonexistent (spring forward, the clock skips it): the end of the gap, the instant the clock
      jumps; e.g. 02:30 on 2026-03-08 in America/New_York is 03:00 EDT (07:00 UTC).
    So a 09:00-17:00 day is 8 real hours on either change day, a 00:00-24:00 day is 23 or 25.
    """
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)  # naive; minute 1440 is the next midnight
    first = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first occurrence when ambiguous
    if _wall(first, zone) == wall:
        return first
    # In a gap: fold=0 and fold=1 land on either side of the jump; find the jump to the second.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    before = min(first, other)  # the clock reads before the boundary here and reads past it at max()
    low, high = 0, abs(first - other) // _SECOND  # whole seconds after ``before``; jumps fall on whole seconds
    while low < high:
        middle = (low + high) // 2
        if _wall(before + middle * _SECOND, zone) >= wall:
            high = middle
        else:
            low = middle + 1
    return before + high * _SECOND


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _minutes(span: str) -> tuple[int, int]:
    """``"09:00-17:30"`` -> (540, 1050); ``"24:00"`` is the end of the day. Validated by the model."""
    opens, closes = span.split("-")
    return _minute_of_day(opens), _minute_of_day(closes)


def _minute_of_day(clock_time: str) -> int:
    hours, minutes = clock_time.split(":")
    return int(hours) * 60 + int(minutes)


def holiday_calendar_note(hours: BusinessHours | None) -> str | None:
    """Check business hours' holiday calendar when it is set, not when the first message needs it:
    ValueError when the holidays package has no such country or subdivision; a note for people
    when the country has regional holidays and no subdivision picks them (GB without ENG misses
    Easter Monday and the August bank holiday)."""
    if hours is None or hours.holidays_country is None:
        return None
    country, subdivision = hours.holidays_country, hours.holidays_subdivision
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        if country not in holidays.list_supported_countries():
            raise ValueError(f"no public holiday calendar for country {country!r}") from None
        known = ", ".join(holidays.list_supported_countries()[country])
        raise ValueError(f"{country} has no subdivision {subdivision!r}; it has {known}") from None
    if subdivision is None and calendar.subdivisions:
        shown = ", ".join(calendar.subdivisions[:10]) + (", ..." if len(calendar.subdivisions) > 10 else "")
        return (
            f"{country} has regional holidays ({shown}): without holidays_subdivision only the"
            " nationwide ones stop the SLA clock"
        )
    return None


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """A year's public holidays, substitute ("observed") days included. Building one is slow: cached."""
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError:
        raise ValueError(f"no public holiday calendar for country {country!r}, subdivision {subdivision!r}") from None
    return frozenset(calendar)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("SLA arithmetic needs timezone-aware datetimes")
    return moment.astimezone(UTC)


# --- targets and due times -------------------------------------------------------------------


def target_seconds(
    policy: SlaPolicy, channel: str | None = None, priority: Priority = Priority.NORMAL, wait: Wait = Wait.FIRST
) -> int:
    """The business seconds a message has for its reply. ``channel`` None: no channel override applies."""
    if channel is None:
        policy = policy.model_copy(update={"overrides": tuple(o for o in policy.overrides if o.channel is None)})
        channel = ""
    return policy.target_seconds(channel, priority, wait)


def first_response_due(
    created_at: datetime,
    policy: SlaPolicy,
    *,
    timezone: str = "UTC",
    channel: str | None = None,
    priority: Priority = Priority.NORMAL,
    wait: Wait = Wait.FIRST,
) -> datetime:
    """When the brand's reply to a message posted at ``created_at`` is due, counted in business time."""
    target = target_seconds(policy, channel, priority, wait)
    return business_clock(policy, timezone).add(created_at, target)


def response_seconds(created_at: datetime, replied_at: datetime) -> int:
    """Whole seconds from the customer's message to the brand's reply (never negative), in real time.

    Platforms' clocks disagree by a second or two now and then; a reply stamped
    before its message counts as instant rather than as a negative duration.
    Business seconds are ``business_clock(policy, timezone).elapsed(created_at, replied_at)``.
    """
    return max(0, int((replied_at - created_at).total_seconds()))


def within_sla(
    created_at: datetime,
    replied_at: datetime,
    policy: SlaPolicy,
    *,
    timezone: str = "UTC",
    channel: str | None = None,
    priority: Priority = Priority.NORMAL,
    wait: Wait = Wait.FIRST,
) -> bool:
    due_at = first_response_due(created_at, policy, timezone=timezone, channel=channel, priority=priority, wait=wait)
    return replied_at <= due_at


def is_overdue(due_at: datetime, now: datetime) -> bool:
    """Past due: a reply exactly at the due time is still within the SLA."""
    return now > due_at


# --- the alert ladder ------------------------------------------------------------------------


class Stage(IntEnum):
    """Positions on a message's alert ladder (``MessageRecord.alert_stage``).

    Stage n >= 2 is escalation level n - 1: ``ESCALATION`` names the first, level 1.
    """

    WARNING = 0
    BREACH = 1
    ESCALATION = 2


def escalation_level(stage: int) -> int:
    """The escalation level of a ladder stage: 1 for stage 2, 2 for stage 3...; 0 for the warning and the breach."""
    if stage < 0:
        raise ValueError(f"no alert stage {stage}")
    return max(0, stage - 1)


def escalation_stage(level: int) -> int:
    """The ladder stage of escalation ``level`` (1, 2, ...)."""
    if level < 1:
        raise ValueError(f"escalation levels start at 1, not {level}")
    return level + 1


def alert_kind(stage: int) -> AlertKind:
    """Which alert a ladder stage sends (an escalation's level: :func:`escalation_level`)."""
    if stage < 0:
        raise ValueError(f"no alert stage {stage}")
    if stage == Stage.WARNING:
        return AlertKind.WARNING
    if stage == Stage.BREACH:
        return AlertKind.OVERDUE
    return AlertKind.ESCALATION


@dataclass(frozen=True)
class Schedule:
    """A message's SLA: its target, its due time and its alert ladder, in time order."""

    target_seconds: int
    due_at: datetime
    stages: tuple[tuple[int, datetime], ...]  # (stage, when): warning (if any), breach, escalations


def schedule(
    created_at: datetime,
    policy: SlaPolicy,
    *,
    timezone: str = "UTC",
    channel: str | None = None,
    priority: Priority = Priority.NORMAL,
    wait: Wait = Wait.FIRST,
) -> Schedule:
    """The alert ladder for a message posted at ``created_at``, every offset counted in business time.

    The warning comes ``policy.warn_before(target)`` before due (none when that is 0 or the
    whole target), the breach at due, escalation level k at ``round(target * escalate_at[k-1])``.
    """
    target = target_seconds(policy, channel, priority, wait)
    warn_before = policy.warn_before(target)
    offsets: list[tuple[int, int]] = []  # (business seconds after created_at, stage)
    if 0 < warn_before < target:
        offsets.append((target - warn_before, Stage.WARNING))
    offsets.append((target, Stage.BREACH))
    offsets.extend(
        (round(target * multiple), escalation_stage(level)) for level, multiple in enumerate(policy.escalate_at, 1)
    )
    offsets.sort()
    clock = business_clock(policy, timezone)
    stages: list[tuple[int, datetime]] = []
    reached, at = 0, _utc(created_at)
    for offset, stage in offsets:  # every offset is > 0
        # Carry on from the previous stage rather than walk from created_at again; a zero step
        # keeps the previous instant (adding 0 at a closing time would jump to the next opening).
        if offset > reached:
            at = clock.add(at, offset - reached)
            reached = offset
        stages.append((int(stage), at))
    due_at = next(when for stage, when in stages if stage == Stage.BREACH)
    return Schedule(target_seconds=target, due_at=due_at, stages=tuple(stages))


def next_stage(plan: Schedule, after_stage: int | None) -> tuple[int, datetime] | None:
    """The stage that follows ``after_stage`` (None: the first), or None at the end of the ladder.

    A stage the schedule lacks (a warning turned off since it was sent) still orders by number.
    """
    for stage, when in plan.stages:
        if after_stage is None or stage > after_stage:
            return stage, when
    return None
