"""SLA arithmetic in business time: opening hours, holidays, DST, overrides and the alert ladder.

Every case uses fixed instants; 2026-11-20 is a Friday. DST changes in 2026: Europe/London
on 2026-03-29 and 2026-10-25, America/New_York on 2026-03-08 and 2026-11-01 (all Sundays).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replywatch.models import WEEKDAYS, AlertKind, BusinessHours, Priority, SlaOverride, SlaPolicy, Wait
from replywatch.sla import (
    BusinessClock,
    Stage,
    alert_kind,
    business_clock,
    escalation_level,
    escalation_stage,
    first_response_due,
    next_stage,
    schedule,
    target_seconds,
    within_sla,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600

OFFICE = BusinessHours()  # Monday to Friday, 09:00-17:00
LUNCH_BREAK = BusinessHours(weekly={day: ["09:00-12:00", "13:00-17:00"] for day in WEEKDAYS[:5]})
EVERY_DAY_9_TO_5 = BusinessHours(weekly={day: ["09:00-17:00"] for day in WEEKDAYS})
ALL_DAY_LOCAL = BusinessHours(weekly={day: ["00:00-24:00"] for day in WEEKDAYS})


def clock(hours: BusinessHours | None, timezone: str = "Europe/London") -> BusinessClock:
    return business_clock(SlaPolicy(first_response_seconds=HOUR, business_hours=hours), timezone)


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=LONDON)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


# --- around the clock -------------------------------------------------------------------------


def test_around_the_clock_the_due_time_is_created_plus_target_with_a_warning_at_80_percent_and_escalation_at_2x() -> (
    None
):
    created = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    plan = schedule(created, SlaPolicy(first_response_seconds=HOUR), timezone="Europe/London")
    assert plan.target_seconds == HOUR
    assert plan.due_at == datetime(2026, 11, 20, 17, 30, tzinfo=UTC)
    assert plan.stages == (
        (Stage.WARNING, datetime(2026, 11, 20, 17, 18, tzinfo=UTC)),
        (Stage.BREACH, datetime(2026, 11, 20, 17, 30, tzinfo=UTC)),
        (Stage.ESCALATION, datetime(2026, 11, 20, 18, 30, tzinfo=UTC)),
    )


def test_around_the_clock_counts_weekends_nights_and_dst_changes_in_real_seconds() -> None:
    around = clock(None)
    saturday = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert around.add(saturday, 10 * HOUR) == datetime(2026, 3, 29, 9, 0, tzinfo=UTC)
    assert around.elapsed(saturday, datetime(2026, 3, 29, 9, 0, 30, tzinfo=UTC)) == 10 * HOUR + 30
    assert around.is_open(saturday)


def test_first_response_due_keeps_its_old_meaning_without_business_hours() -> None:
    created = london(2026, 7, 4, 22, 0)  # a Saturday night, 21:00 UTC
    due = first_response_due(created, SlaPolicy(first_response_seconds=HOUR), timezone="Europe/London")
    assert due == datetime(2026, 7, 4, 22, 0, tzinfo=UTC)
    assert due.tzinfo is UTC


def test_instants_without_a_time_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clock(OFFICE).add(datetime(2026, 11, 20, 9, 0), HOUR)


# --- opening hours ----------------------------------------------------------------------------


def test_a_message_late_on_friday_is_due_on_monday_morning() -> None:
    due = clock(OFFICE).add(london(2026, 11, 20, 16, 30), HOUR)
    assert due == london(2026, 11, 23, 9, 30)
    assert due.tzinfo is UTC


def test_a_message_late_on_a_summer_friday_is_due_on_monday_morning_local_time() -> None:
    due = clock(OFFICE).add(london(2026, 6, 12, 16, 30), HOUR)  # 15:30 UTC
    assert due == datetime(2026, 6, 15, 8, 30, tzinfo=UTC)  # 09:30 BST


def test_first_response_due_honours_the_brands_business_hours_and_time_zone() -> None:
    policy = SlaPolicy(first_response_seconds=HOUR, business_hours=OFFICE)
    due = first_response_due(london(2026, 11, 20, 16, 30), policy, timezone="Europe/London")
    assert due == london(2026, 11, 23, 9, 30)
    assert within_sla(london(2026, 11, 20, 16, 30), london(2026, 11, 23, 9, 0), policy, timezone="Europe/London")
    assert not within_sla(london(2026, 11, 20, 16, 30), london(2026, 11, 23, 9, 31), policy, timezone="Europe/London")


def test_a_message_at_3am_on_tuesday_counts_from_the_9am_opening() -> None:
    assert clock(OFFICE).add(london(2026, 11, 24, 3, 0), HOUR) == london(2026, 11, 24, 10, 0)


def test_a_message_on_saturday_counts_from_mondays_opening() -> None:
    office = clock(OFFICE)
    saturday = london(2026, 11, 21, 14, 0)
    assert not office.is_open(saturday)
    assert office.add(saturday, 0) == london(2026, 11, 23, 9, 0)
    assert office.add(saturday, HOUR) == london(2026, 11, 23, 10, 0)
    assert office.elapsed(saturday, london(2026, 11, 23, 10, 0)) == HOUR


def test_a_message_arriving_after_closing_counts_from_the_next_mornings_opening() -> None:
    office = clock(OFFICE)
    evening = london(2026, 11, 24, 19, 45)
    assert not office.is_open(evening)
    assert office.add(evening, 30 * 60) == london(2026, 11, 25, 9, 30)
    assert office.elapsed(evening, london(2026, 11, 25, 9, 0)) == 0


def test_adding_nothing_while_open_is_the_same_instant() -> None:
    moment = london(2026, 11, 24, 11, 17, 3)
    assert clock(OFFICE).is_open(moment)
    assert clock(OFFICE).add(moment, 0) == moment


def test_a_target_running_out_at_closing_time_is_due_at_closing_not_the_next_morning() -> None:
    office = clock(OFFICE)
    assert office.add(london(2026, 11, 20, 16, 0), HOUR) == london(2026, 11, 20, 17, 0)
    assert not office.is_open(london(2026, 11, 20, 17, 0))  # opening hours are [opens, closes)
    assert office.is_open(london(2026, 11, 20, 9, 0))


def test_split_spans_skip_the_lunch_break() -> None:
    lunch = clock(LUNCH_BREAK)
    assert lunch.add(london(2026, 11, 23, 11, 30), HOUR) == london(2026, 11, 23, 13, 30)
    assert lunch.add(london(2026, 11, 23, 12, 15), HOUR) == london(2026, 11, 23, 14, 0)
    assert lunch.add(london(2026, 11, 23, 16, 30), 4 * HOUR) == london(2026, 11, 24, 13, 30)  # 0.5 + 3 + 0.5 h
    assert lunch.elapsed(london(2026, 11, 23, 11, 0), london(2026, 11, 23, 14, 0)) == 2 * HOUR
    assert not lunch.is_open(london(2026, 11, 23, 12, 30))


def test_elapsed_counts_only_business_seconds_across_a_weekend() -> None:
    office = clock(OFFICE)
    assert office.elapsed(london(2026, 11, 20, 16, 0), london(2026, 11, 23, 10, 0)) == 2 * HOUR
    assert office.elapsed(london(2026, 11, 16, 9, 0), london(2026, 11, 23, 9, 0)) == 5 * 8 * HOUR


def test_elapsed_is_zero_when_the_end_is_not_after_the_start() -> None:
    office = clock(OFFICE)
    assert office.elapsed(london(2026, 11, 24, 12, 0), london(2026, 11, 24, 12, 0)) == 0
    assert office.elapsed(london(2026, 11, 24, 12, 0), london(2026, 11, 24, 11, 0)) == 0


# --- holidays and closed dates ------------------------------------------------------------------


def test_christmas_and_the_observed_boxing_day_are_skipped_in_england() -> None:
    english = clock(BusinessHours(holidays_country="GB", holidays_subdivision="ENG"))
    # Fri 25 Christmas, Sat 26 Boxing Day, Mon 28 Boxing Day (observed): due Tuesday.
    assert english.add(london(2026, 12, 24, 16, 30), HOUR) == london(2026, 12, 29, 9, 30)
    assert english.is_closed_day(date(2026, 12, 28))


def test_a_bank_holiday_monday_is_skipped() -> None:
    english = clock(BusinessHours(holidays_country="GB", holidays_subdivision="ENG"))
    # Monday 2026-08-31 is the late summer bank holiday in England.
    assert english.add(london(2026, 8, 28, 16, 30), HOUR) == london(2026, 9, 1, 9, 30)


def test_st_andrews_day_closes_scotland_but_not_england() -> None:
    friday = london(2026, 11, 27, 16, 30)  # Monday 2026-11-30 is St Andrew's Day
    scottish = clock(BusinessHours(holidays_country="GB", holidays_subdivision="SCT"))
    english = clock(BusinessHours(holidays_country="GB", holidays_subdivision="ENG"))
    assert scottish.add(friday, HOUR) == london(2026, 12, 1, 9, 30)
    assert english.add(friday, HOUR) == london(2026, 11, 30, 9, 30)
    assert scottish.is_closed_day(date(2026, 11, 30))
    assert not english.is_closed_day(date(2026, 11, 30))


def test_a_closed_date_is_skipped() -> None:
    company_day = clock(BusinessHours(closed_dates=frozenset({date(2026, 11, 23)})))
    assert company_day.add(london(2026, 11, 20, 16, 30), HOUR) == london(2026, 11, 24, 9, 30)
    assert company_day.elapsed(london(2026, 11, 20, 16, 0), london(2026, 11, 24, 10, 0)) == 2 * HOUR


def test_an_unknown_holiday_country_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no public holiday calendar"):
        clock(BusinessHours(holidays_country="ZZ")).add(london(2026, 11, 20, 16, 30), HOUR)


def test_a_calendar_closed_for_years_raises_instead_of_looping() -> None:
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=n) for n in range(5 * 53))
    never = clock(BusinessHours(weekly={"mon": ["09:00-17:00"]}, closed_dates=mondays))
    with pytest.raises(ValueError, match="do not open"):
        never.add(london(2026, 1, 1, 12, 0), HOUR)


# --- daylight saving time -----------------------------------------------------------------------

CHANGE_DAYS = [
    pytest.param("Europe/London", date(2026, 3, 29), 23, id="london-spring-forward"),
    pytest.param("Europe/London", date(2026, 10, 25), 25, id="london-fall-back"),
    pytest.param("America/New_York", date(2026, 3, 8), 23, id="new-york-spring-forward"),
    pytest.param("America/New_York", date(2026, 11, 1), 25, id="new-york-fall-back"),
]


@pytest.mark.parametrize(("timezone", "day", "hours"), CHANGE_DAYS)
def test_a_whole_local_day_open_is_23_or_25_real_hours_on_a_change_day(timezone: str, day: date, hours: int) -> None:
    zone = ZoneInfo(timezone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    next_midnight = datetime.combine(day + timedelta(days=1), midnight.timetz())
    assert clock(ALL_DAY_LOCAL, timezone).elapsed(midnight, next_midnight) == hours * HOUR


@pytest.mark.parametrize(("timezone", "day", "hours"), CHANGE_DAYS)
def test_a_9_to_5_day_is_8_real_hours_on_a_change_day(timezone: str, day: date, hours: int) -> None:
    zone = ZoneInfo(timezone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    next_midnight = datetime.combine(day + timedelta(days=1), midnight.timetz())
    assert clock(EVERY_DAY_9_TO_5, timezone).elapsed(midnight, next_midnight) == 8 * HOUR


@pytest.mark.parametrize(
    ("timezone", "created", "due"),
    [
        ("Europe/London", datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 12, 0, tzinfo=UTC)),
        ("Europe/London", datetime(2026, 10, 24, 12, 0, tzinfo=UTC), datetime(2026, 10, 25, 12, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 3, 7, 12, 0, tzinfo=UTC), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 10, 31, 12, 0, tzinfo=UTC), datetime(2026, 11, 1, 12, 0, tzinfo=UTC)),
    ],
)
def test_all_day_local_hours_count_a_target_across_the_change_in_real_seconds(
    timezone: str, created: datetime, due: datetime
) -> None:
    all_day = clock(ALL_DAY_LOCAL, timezone)
    assert all_day.add(created, 24 * HOUR) == due
    assert all_day.elapsed(created, due) == 24 * HOUR


def test_all_day_local_hours_from_noon_to_noon_across_the_change_are_23_and_25_hours() -> None:
    all_day = clock(ALL_DAY_LOCAL)
    assert all_day.elapsed(london(2026, 3, 28, 12, 0), london(2026, 3, 29, 12, 0)) == 23 * HOUR
    assert all_day.elapsed(london(2026, 10, 24, 12, 0), london(2026, 10, 25, 12, 0)) == 25 * HOUR
    new_york_all_day = clock(ALL_DAY_LOCAL, "America/New_York")
    assert new_york_all_day.elapsed(new_york(2026, 3, 7, 12, 0), new_york(2026, 3, 8, 12, 0)) == 23 * HOUR
    assert new_york_all_day.elapsed(new_york(2026, 10, 31, 12, 0), new_york(2026, 11, 1, 12, 0)) == 25 * HOUR


@pytest.mark.parametrize(
    ("timezone", "created", "due"),
    [
        # Saturday 16:00 local + 2 h: 1 h on Saturday, 1 h from Sunday's 09:00 opening, after the change.
        ("Europe/London", datetime(2026, 3, 21, 16, 0, tzinfo=UTC), datetime(2026, 3, 22, 10, 0, tzinfo=UTC)),
        ("Europe/London", datetime(2026, 3, 28, 16, 0, tzinfo=UTC), datetime(2026, 3, 29, 9, 0, tzinfo=UTC)),
        ("Europe/London", datetime(2026, 10, 24, 15, 0, tzinfo=UTC), datetime(2026, 10, 25, 10, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 3, 7, 21, 0, tzinfo=UTC), datetime(2026, 3, 8, 14, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2026, 10, 31, 20, 0, tzinfo=UTC), datetime(2026, 11, 1, 15, 0, tzinfo=UTC)),
    ],
    ids=["london-winter", "london-spring-forward", "london-fall-back", "new-york-spring", "new-york-fall"],
)
def test_with_9_to_5_the_utc_due_time_shifts_by_the_offset_change(
    timezone: str, created: datetime, due: datetime
) -> None:
    zone = ZoneInfo(timezone)
    assert created.astimezone(zone).hour == 16
    assert due.astimezone(zone).hour == 10
    assert clock(EVERY_DAY_9_TO_5, timezone).add(created, 2 * HOUR) == due
    assert clock(EVERY_DAY_9_TO_5, timezone).elapsed(created, due) == 2 * HOUR


def test_an_opening_inside_the_spring_forward_gap_opens_when_the_clock_jumps() -> None:
    # 02:30 does not exist in New York on 2026-03-08: the clock jumps from 02:00 EST to 03:00 EDT (07:00 UTC).
    gap = clock(BusinessHours(weekly={"sun": ["02:30-05:00"]}), "America/New_York")
    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    assert gap.add(saturday, 0) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert gap.add(saturday, HOUR) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    assert not gap.is_open(datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC))
    assert gap.is_open(datetime(2026, 3, 8, 7, 0, tzinfo=UTC))
    assert gap.elapsed(saturday, datetime(2026, 3, 9, tzinfo=UTC)) == 2 * HOUR  # 03:00-05:00 EDT


def test_a_closing_inside_the_spring_forward_gap_closes_when_the_clock_jumps() -> None:
    gap = clock(BusinessHours(weekly={"sun": ["00:00-02:30"]}), "America/New_York")
    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    assert gap.add(saturday, 2 * HOUR) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert gap.add(saturday, 2 * HOUR + 1) == datetime(2026, 3, 15, 4, 0, 1, tzinfo=UTC)  # next Sunday, EDT
    london_gap = clock(BusinessHours(weekly={"sun": ["01:30-03:00"]}))  # 01:00 GMT jumps to 02:00 BST
    assert london_gap.add(datetime(2026, 3, 28, tzinfo=UTC), 0) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert london_gap.elapsed(datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC)) == HOUR


def test_an_ambiguous_fall_back_boundary_is_its_first_occurrence() -> None:
    # 01:30 happens twice in New York on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST).
    repeat = clock(BusinessHours(weekly={"sun": ["01:30-03:00"]}), "America/New_York")
    saturday = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    assert repeat.add(saturday, 0) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert repeat.add(saturday, int(2.5 * HOUR)) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)  # 03:00 EST
    london_repeat = clock(BusinessHours(weekly={"sun": ["01:30-02:00"]}))
    assert london_repeat.elapsed(datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)) == int(
        1.5 * HOUR
    )


# --- add and elapsed are inverses ---------------------------------------------------------------

PROPERTY_CLOCKS = {
    "london-lunch-holidays": business_clock(
        SlaPolicy(
            first_response_seconds=HOUR,
            business_hours=BusinessHours(
                weekly={**LUNCH_BREAK.weekly, "sat": ["10:00-14:00"]},
                holidays_country="GB",
                holidays_subdivision="ENG",
                closed_dates=frozenset({date(2026, 11, 23), date(2027, 3, 1)}),
            ),
        ),
        "Europe/London",
    ),
    "new-york-9-to-5": business_clock(
        SlaPolicy(first_response_seconds=HOUR, business_hours=EVERY_DAY_9_TO_5), "America/New_York"
    ),
    "new-york-all-day": business_clock(
        SlaPolicy(first_response_seconds=HOUR, business_hours=ALL_DAY_LOCAL), "America/New_York"
    ),
    "gaps-and-repeats": business_clock(
        SlaPolicy(
            first_response_seconds=HOUR,
            business_hours=BusinessHours(weekly={"sun": ["00:00-01:30", "02:30-03:00"], "wed": ["23:00-24:00"]}),
        ),
        "America/New_York",
    ),
}
INSTANTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
BUSINESS_SECONDS = st.integers(min_value=0, max_value=10 * 86400)


@pytest.mark.parametrize("name", sorted(PROPERTY_CLOCKS))
@settings(max_examples=150, deadline=None)
@given(start=INSTANTS, seconds=BUSINESS_SECONDS, more=st.integers(min_value=0, max_value=86400))
def test_elapsed_is_the_inverse_of_add_and_add_is_monotonic(
    name: str, start: datetime, seconds: int, more: int
) -> None:
    business = PROPERTY_CLOCKS[name]
    due = business.add(start, seconds)
    assert due >= start
    assert business.elapsed(start, due) == seconds
    assert business.add(start, seconds + more) >= due
    opening = business.add(start, 0)
    assert business.is_open(opening)
    assert (opening == start) is business.is_open(start)


# --- targets: next response, channel and priority overrides -----------------------------------------

OVERRIDDEN = SlaPolicy(
    first_response_seconds=HOUR,
    next_response_seconds=30 * 60,
    overrides=(
        SlaOverride(channel="x", first_response_seconds=15 * 60),
        SlaOverride(priority=Priority.HIGH, first_response_seconds=20 * 60, next_response_seconds=10 * 60),
        SlaOverride(channel="x", priority=Priority.HIGH, first_response_seconds=5 * 60),
    ),
)
POSTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_a_message_after_the_brands_reply_waits_on_the_next_response_target() -> None:
    plan = schedule(POSTED, OVERRIDDEN, wait=Wait.NEXT)
    assert plan.target_seconds == 30 * 60
    assert plan.due_at == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


def test_next_response_in_business_hours_counts_from_the_next_opening() -> None:
    policy = SlaPolicy(first_response_seconds=4 * HOUR, next_response_seconds=30 * 60, business_hours=OFFICE)
    due = first_response_due(london(2026, 11, 20, 16, 45), policy, timezone="Europe/London", wait=Wait.NEXT)
    assert due == london(2026, 11, 23, 9, 15)


@pytest.mark.parametrize(
    ("channel", "priority", "wait", "target"),
    [
        (None, Priority.NORMAL, Wait.FIRST, HOUR),  # no channel: the x override never applies
        ("mastodon", Priority.NORMAL, Wait.FIRST, HOUR),
        ("x", Priority.NORMAL, Wait.FIRST, 15 * 60),
        (None, Priority.HIGH, Wait.FIRST, 20 * 60),
        ("mastodon", Priority.HIGH, Wait.FIRST, 20 * 60),
        ("mastodon", Priority.HIGH, Wait.NEXT, 10 * 60),
        ("x", Priority.HIGH, Wait.FIRST, 5 * 60),  # channel and priority: the most specific wins
    ],
)
def test_overrides_by_channel_and_priority_most_specific_wins(
    channel: str | None, priority: Priority, wait: Wait, target: int
) -> None:
    assert target_seconds(OVERRIDDEN, channel, priority, wait) == target
    plan = schedule(POSTED, OVERRIDDEN, channel=channel, priority=priority, wait=wait)
    assert plan.target_seconds == target
    assert plan.due_at == POSTED + timedelta(seconds=target)


def test_a_high_priority_message_gets_the_shorter_target_in_business_time() -> None:
    policy = OVERRIDDEN.model_copy(update={"business_hours": OFFICE})
    created = london(2026, 11, 20, 16, 50)
    assert first_response_due(created, policy, timezone="Europe/London") == london(2026, 11, 23, 9, 50)
    due = first_response_due(created, policy, timezone="Europe/London", priority=Priority.HIGH)
    assert due == london(2026, 11, 23, 9, 10)


# --- the alert ladder -------------------------------------------------------------------------


def test_stage_names_and_escalation_levels() -> None:
    assert (Stage.WARNING, Stage.BREACH, Stage.ESCALATION) == (0, 1, 2)
    assert [escalation_level(stage) for stage in range(5)] == [0, 0, 1, 2, 3]
    assert [escalation_stage(level) for level in (1, 2, 3)] == [2, 3, 4]
    assert [alert_kind(stage) for stage in range(4)] == [
        AlertKind.WARNING,
        AlertKind.OVERDUE,
        AlertKind.ESCALATION,
        AlertKind.ESCALATION,
    ]
    with pytest.raises(ValueError):
        escalation_level(-1)
    with pytest.raises(ValueError):
        escalation_stage(0)


def test_stages_are_in_time_order_with_one_escalation_per_multiple() -> None:
    policy = SlaPolicy(first_response_seconds=1000, warn_before_seconds=100, escalate_at=(2.5, 4.0))
    plan = schedule(POSTED, policy)
    assert plan.stages == (
        (Stage.WARNING, POSTED + timedelta(seconds=900)),
        (Stage.BREACH, POSTED + timedelta(seconds=1000)),
        (2, POSTED + timedelta(seconds=2500)),
        (3, POSTED + timedelta(seconds=4000)),
    )
    assert [when for _, when in plan.stages] == sorted(when for _, when in plan.stages)


def test_stages_in_business_hours_straddle_the_weekend() -> None:
    policy = SlaPolicy(first_response_seconds=2 * HOUR, business_hours=OFFICE)
    plan = schedule(london(2026, 11, 20, 16, 0), policy, timezone="Europe/London")
    assert plan.due_at == london(2026, 11, 23, 10, 0)
    assert plan.stages == (
        (Stage.WARNING, london(2026, 11, 23, 9, 36)),  # 96 min: 60 on Friday, 36 on Monday
        (Stage.BREACH, london(2026, 11, 23, 10, 0)),
        (Stage.ESCALATION, london(2026, 11, 23, 12, 0)),
    )


def test_a_breach_at_closing_time_stays_at_closing_time_and_escalation_counts_on_from_there() -> None:
    policy = SlaPolicy(first_response_seconds=HOUR, warn_before_seconds=0, business_hours=OFFICE)
    plan = schedule(london(2026, 11, 20, 16, 0), policy, timezone="Europe/London")
    assert plan.stages == ((Stage.BREACH, london(2026, 11, 20, 17, 0)), (Stage.ESCALATION, london(2026, 11, 23, 10, 0)))


def test_no_warning_when_warn_before_is_zero() -> None:
    plan = schedule(POSTED, SlaPolicy(first_response_seconds=HOUR, warn_before_seconds=0))
    assert [stage for stage, _ in plan.stages] == [Stage.BREACH, Stage.ESCALATION]


def test_no_warning_when_warn_before_covers_the_whole_target() -> None:
    plan = schedule(POSTED, SlaPolicy(first_response_seconds=HOUR, warn_before_seconds=HOUR))
    assert [stage for stage, _ in plan.stages] == [Stage.BREACH, Stage.ESCALATION]


def test_no_escalation_without_multiples() -> None:
    plan = schedule(POSTED, SlaPolicy(first_response_seconds=HOUR, escalate_at=()))
    assert [stage for stage, _ in plan.stages] == [Stage.WARNING, Stage.BREACH]


def test_next_stage_walks_the_ladder_to_the_end() -> None:
    plan = schedule(POSTED, SlaPolicy(first_response_seconds=HOUR, escalate_at=(2.0, 3.0)))
    assert next_stage(plan, None) == (Stage.WARNING, POSTED + timedelta(minutes=48))
    assert next_stage(plan, Stage.WARNING) == (Stage.BREACH, POSTED + timedelta(hours=1))
    assert next_stage(plan, Stage.BREACH) == (2, POSTED + timedelta(hours=2))
    assert next_stage(plan, 2) == (3, POSTED + timedelta(hours=3))
    assert next_stage(plan, 3) is None


def test_next_stage_after_a_stage_the_schedule_lacks_goes_by_number() -> None:
    plan = schedule(POSTED, SlaPolicy(first_response_seconds=HOUR, warn_before_seconds=0))
    assert next_stage(plan, None) == (Stage.BREACH, POSTED + timedelta(hours=1))
    assert next_stage(plan, Stage.WARNING) == (Stage.BREACH, POSTED + timedelta(hours=1))
    assert next_stage(plan, 5) is None
