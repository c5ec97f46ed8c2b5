"""Day, hour and quarter-hour slots: cover() and local_range() read any local range exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replywatch.stats import (
    SPAN,
    Aggregate,
    Level,
    SlotRange,
    between,
    bucket_of,
    cover,
    cut,
    local_range,
    merge,
    parse_slot,
    slot_label,
    slot_start,
    slots_of,
)

D, H, Q = Level.DAY, Level.HOUR, Level.QUARTER
QUARTER = timedelta(minutes=15)
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
MAX_RANGES = 7


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def spans(ranges: list[SlotRange]) -> list[tuple[datetime, datetime]]:
    """Each range as the [start, end) it stands for."""
    return [(r.first, r.last + SPAN[r.level]) for r in ranges]


def assert_tiles(ranges: list[SlotRange], start: datetime, end: datetime) -> None:
    """Disjoint, with nothing missing: laid end to end they run from start to end exactly."""
    assert len(ranges) <= MAX_RANGES
    for r in ranges:
        assert r.first <= r.last, r
        assert slot_start(r.first, r.level) == r.first and slot_start(r.last, r.level) == r.last, r
    ordered = sorted(spans(ranges))
    if start == end:
        assert ordered == []
        return
    assert ordered[0][0] == start
    assert ordered[-1][1] == end
    for (_, previous_end), (next_start, _) in pairwise(ordered):
        assert previous_end == next_start


quarter_instants = st.integers(min_value=0, max_value=3 * 366 * 96).map(lambda n: EPOCH + n * QUARTER)


@given(quarter_instants, st.integers(min_value=0, max_value=410 * 96))
def test_cover_tiles_any_quarter_aligned_range(start: datetime, quarters: int) -> None:
    end = start + quarters * QUARTER
    assert_tiles(cover(start, end), start, end)


@given(quarter_instants, st.integers(min_value=1, max_value=5 * 96), st.data())
def test_every_instant_in_the_range_is_read_exactly_once(start: datetime, quarters: int, data: st.DataObject) -> None:
    end = start + quarters * QUARTER
    ranges = cover(start, end)
    moment = start + timedelta(seconds=data.draw(st.integers(min_value=0, max_value=quarters * 900 - 1)))
    # a message at `moment` is counted in one slot of each level; exactly one of them is read
    read = [r for r in ranges for level, slot in slots_of(moment) if level is r.level and r.first <= slot <= r.last]
    assert len(read) == 1
    outside = end + timedelta(seconds=data.draw(st.integers(min_value=0, max_value=86400)))
    assert not [
        r for r in ranges for level, slot in slots_of(outside) if level is r.level and r.first <= slot <= r.last
    ]


def test_cover_uses_whole_days_then_hours_then_quarters() -> None:
    assert cover(utc(2026, 11, 1, 10, 15), utc(2026, 11, 4, 2, 45)) == [
        SlotRange(Q, utc(2026, 11, 1, 10, 15), utc(2026, 11, 1, 10, 45)),
        SlotRange(H, utc(2026, 11, 1, 11), utc(2026, 11, 1, 23)),
        SlotRange(D, utc(2026, 11, 2), utc(2026, 11, 3)),
        SlotRange(H, utc(2026, 11, 4, 0), utc(2026, 11, 4, 1)),
        SlotRange(Q, utc(2026, 11, 4, 2), utc(2026, 11, 4, 2, 30)),
    ]


def test_cover_of_whole_utc_days_is_one_range() -> None:
    assert cover(utc(2026, 11, 1), utc(2026, 12, 1)) == [SlotRange(D, utc(2026, 11, 1), utc(2026, 11, 30))]


def test_cover_of_an_empty_range_is_empty() -> None:
    assert cover(utc(2026, 11, 1, 10, 15), utc(2026, 11, 1, 10, 15)) == []


def test_cover_accepts_any_zone_for_the_same_instants() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    start, end = utc(2026, 10, 31, 18, 30), utc(2026, 11, 1, 18, 30)
    assert cover(start.astimezone(kolkata), end.astimezone(kolkata)) == cover(start, end)


@pytest.mark.parametrize(
    "start",
    [utc(2026, 11, 1, 10, 7), utc(2026, 11, 1, 10, 15, 1), utc(2026, 11, 1, 10, 15, 0) + timedelta(microseconds=1)],
)
def test_an_edge_off_the_quarter_hour_is_refused(start: datetime) -> None:
    with pytest.raises(ValueError, match="quarter hour"):
        cover(start, utc(2026, 11, 2))
    with pytest.raises(ValueError, match="quarter hour"):
        cover(utc(2026, 10, 1), start)


def test_a_zone_whose_midnight_is_off_the_quarter_hour_is_refused() -> None:
    # Kolkata's offset in 1900 (a local mean time, in seconds) puts midnight off the grid
    start, end = local_range(date(1900, 1, 1), date(1900, 1, 1), ZoneInfo("Asia/Kolkata"))
    assert slot_start(start, Q) != start
    with pytest.raises(ValueError):
        cover(start, end)


# --- local days -----------------------------------------------------------------------------------


def test_kolkata_day_is_three_ranges_from_half_past_six_utc() -> None:
    start, end = local_range(date(2026, 11, 1), date(2026, 11, 1), ZoneInfo("Asia/Kolkata"))
    assert (start, end) == (utc(2026, 10, 31, 18, 30), utc(2026, 11, 1, 18, 30))
    assert cover(start, end) == [
        SlotRange(Q, utc(2026, 10, 31, 18, 30), utc(2026, 10, 31, 18, 45)),
        SlotRange(H, utc(2026, 10, 31, 19), utc(2026, 11, 1, 17)),
        SlotRange(Q, utc(2026, 11, 1, 18), utc(2026, 11, 1, 18, 15)),
    ]


def test_kolkata_month_reads_whole_utc_days_in_the_middle() -> None:
    start, end = local_range(date(2026, 11, 1), date(2026, 11, 30), ZoneInfo("Asia/Kolkata"))
    assert cover(start, end) == [
        SlotRange(Q, utc(2026, 10, 31, 18, 30), utc(2026, 10, 31, 18, 45)),
        SlotRange(H, utc(2026, 10, 31, 19), utc(2026, 10, 31, 23)),
        SlotRange(D, utc(2026, 11, 1), utc(2026, 11, 29)),
        SlotRange(H, utc(2026, 11, 30, 0), utc(2026, 11, 30, 17)),
        SlotRange(Q, utc(2026, 11, 30, 18), utc(2026, 11, 30, 18, 15)),
    ]


def test_kathmandu_day_starts_at_a_quarter_past_six_utc() -> None:
    start, end = local_range(date(2026, 11, 1), date(2026, 11, 1), ZoneInfo("Asia/Kathmandu"))
    assert (start, end) == (utc(2026, 10, 31, 18, 15), utc(2026, 11, 1, 18, 15))
    assert cover(start, end) == [
        SlotRange(Q, utc(2026, 10, 31, 18, 15), utc(2026, 10, 31, 18, 45)),
        SlotRange(H, utc(2026, 10, 31, 19), utc(2026, 11, 1, 17)),
        SlotRange(Q, utc(2026, 11, 1, 18), utc(2026, 11, 1, 18)),
    ]


def test_st_johns_day_in_winter_starts_at_half_past_three_utc() -> None:
    start, end = local_range(date(2026, 1, 15), date(2026, 1, 15), ZoneInfo("America/St_Johns"))
    assert (start, end) == (utc(2026, 1, 15, 3, 30), utc(2026, 1, 16, 3, 30))
    assert cover(start, end) == [
        SlotRange(Q, utc(2026, 1, 15, 3, 30), utc(2026, 1, 15, 3, 45)),
        SlotRange(H, utc(2026, 1, 15, 4), utc(2026, 1, 16, 2)),
        SlotRange(Q, utc(2026, 1, 16, 3), utc(2026, 1, 16, 3, 15)),
    ]


def test_st_johns_day_the_clocks_go_back_lasts_25_hours() -> None:
    # Newfoundland leaves daylight time (-2:30 -> -3:30) on the first Sunday of November
    start, end = local_range(date(2026, 11, 1), date(2026, 11, 1), ZoneInfo("America/St_Johns"))
    assert (start, end) == (utc(2026, 11, 1, 2, 30), utc(2026, 11, 2, 3, 30))
    assert_tiles(cover(start, end), start, end)


def test_london_day_the_clocks_go_forward_lasts_23_hours() -> None:
    start, end = local_range(date(2026, 3, 29), date(2026, 3, 29), ZoneInfo("Europe/London"))
    assert (start, end) == (utc(2026, 3, 29), utc(2026, 3, 29, 23))
    assert cover(start, end) == [SlotRange(H, utc(2026, 3, 29, 0), utc(2026, 3, 29, 22))]


def test_london_day_the_clocks_go_back_lasts_25_hours() -> None:
    start, end = local_range(date(2026, 10, 25), date(2026, 10, 25), ZoneInfo("Europe/London"))
    assert (start, end) == (utc(2026, 10, 24, 23), utc(2026, 10, 26))
    assert cover(start, end) == [
        SlotRange(H, utc(2026, 10, 24, 23), utc(2026, 10, 24, 23)),
        SlotRange(D, utc(2026, 10, 25), utc(2026, 10, 25)),
    ]


def test_london_summer_across_both_changes() -> None:
    start, end = local_range(date(2026, 3, 1), date(2026, 10, 31), ZoneInfo("Europe/London"))
    assert (start, end) == (utc(2026, 3, 1), utc(2026, 11, 1))
    assert cover(start, end) == [SlotRange(D, utc(2026, 3, 1), utc(2026, 10, 31))]
    june = local_range(date(2026, 6, 1), date(2026, 6, 30), ZoneInfo("Europe/London"))
    assert june == (utc(2026, 5, 31, 23), utc(2026, 6, 30, 23))
    assert cover(*june) == [
        SlotRange(H, utc(2026, 5, 31, 23), utc(2026, 5, 31, 23)),
        SlotRange(D, utc(2026, 6, 1), utc(2026, 6, 29)),
        SlotRange(H, utc(2026, 6, 30, 0), utc(2026, 6, 30, 22)),
    ]


ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Europe/London", "Australia/Lord_Howe"]


@given(
    st.sampled_from(ZONES),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    st.integers(min_value=0, max_value=399),
)
def test_local_days_are_covered_exactly(zone: str, first: date, days: int) -> None:
    last = first + timedelta(days=days)
    start, end = local_range(first, last, ZoneInfo(zone))
    assert start.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime.combine(first, datetime.min.time())
    assert end.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime.combine(
        last + timedelta(days=1), datetime.min.time()
    )
    # the two ends' offsets differ by a daylight-saving shift at most (Lord Howe's is half an hour)
    assert abs(end - start - timedelta(days=days + 1)) <= timedelta(hours=1)
    assert_tiles(cover(start, end), start, end)


# --- slot names -----------------------------------------------------------------------------------


@given(quarter_instants, st.integers(min_value=0, max_value=899))
def test_a_slot_label_names_its_start(start: datetime, seconds: int) -> None:
    moment = start + timedelta(seconds=seconds)
    slots = dict(slots_of(moment))
    assert set(slots) == set(Level)
    for level, slot in slots.items():
        assert slot <= moment < slot + SPAN[level]
        assert parse_slot(slot_label(slot, level), level) == slot


def test_slot_labels_sort_within_a_level() -> None:
    assert slot_label(utc(2026, 11, 23, 10, 15), Q) == "2026-11-23T10:15"
    assert slot_label(utc(2026, 11, 23, 10), H) == "2026-11-23T10"
    assert slot_label(utc(2026, 11, 23), D) == "2026-11-23"
    labels = [slot_label(utc(2026, 11, 23, 9, 45) + n * QUARTER, Q) for n in range(10)]
    assert labels == sorted(labels)


# --- cuts: a series' edges against the nearer UTC midnight ------------------------------------------


def slot_aggregates(events: list[tuple[datetime, int]], part: SlotRange) -> list[Aggregate]:
    """What the store holds for ``part``'s slots: one aggregate per slot with events (each event
    counted in its day, hour and quarter, as the stream handler writes it)."""
    found = []
    starts = [part.first + n * SPAN[part.level] for n in range((part.last - part.first) // SPAN[part.level] + 1)]
    for start in starts:
        inside = [seconds for at, seconds in events if start <= at < start + SPAN[part.level]]
        if inside:
            histogram: dict[str, int] = {}
            for seconds in inside:
                histogram[bucket_of(seconds)] = histogram.get(bucket_of(seconds), 0) + 1
            found.append(
                Aggregate(
                    start=start, level=part.level, channel="x", counters={"received": len(inside)}, histogram=histogram
                )
            )
    return found


def read(events: list[tuple[datetime, int]], start: datetime, end: datetime) -> list[Aggregate]:
    return [a for part in cover(start, end) for a in slot_aggregates(events, part)] if start < end else []


def test_a_cut_goes_to_the_nearer_utc_midnight() -> None:
    kolkata = cut(utc(2026, 11, 22, 18, 30))  # local midnight in Asia/Kolkata
    assert (kolkata.day, kolkata.sign, kolkata.partial) == (
        utc(2026, 11, 23),
        -1,
        (utc(2026, 11, 22, 18, 30), utc(2026, 11, 23)),
    )
    new_york = cut(utc(2026, 11, 23, 5))
    assert (new_york.day, new_york.sign, new_york.partial) == (
        utc(2026, 11, 23),
        1,
        (utc(2026, 11, 23), utc(2026, 11, 23, 5)),
    )
    assert cut(utc(2026, 11, 23)).partial == (utc(2026, 11, 23), utc(2026, 11, 23))


@given(
    events=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10 * 96 - 1), st.integers(min_value=1, max_value=86400)),
        max_size=60,
    ),
    zone=st.sampled_from(
        ["UTC", "Asia/Kolkata", "America/New_York", "America/St_Johns", "Pacific/Chatham", "Asia/Kathmandu"]
    ),
    first=st.dates(min_value=date(2026, 3, 1), max_value=date(2026, 3, 10))
    | st.dates(min_value=date(2026, 10, 22), max_value=date(2026, 11, 3)),
    count=st.integers(min_value=1, max_value=6),
)
def test_between_two_cuts_adds_up_to_exactly_the_period(
    events: list[tuple[int, int]], zone: str, first: date, count: int
) -> None:
    # Events at quarter-hour resolution around the local days, DST changes included.
    base = local_range(first, first, ZoneInfo(zone))[0] - timedelta(days=2)
    placed = [(base + quarter * QUARTER, seconds) for quarter, seconds in events]
    days = [first + timedelta(days=n) for n in range(count)]
    cuts = [cut(local_range(day, day, ZoneInfo(zone))[0]) for day in days]
    cuts.append(cut(local_range(days[-1], days[-1], ZoneInfo(zone))[1]))
    whole = read(placed, cuts[0].day, cuts[-1].day)
    partials = {c.at: read(placed, *c.partial) for c in cuts}
    for index, day in enumerate(days):
        low, high = local_range(day, day, ZoneInfo(zone))
        got = merge(between(cuts[index], cuts[index + 1], whole, partials))
        expected = [seconds for at, seconds in placed if low <= at < high]
        assert got["received"] == len(expected)
        assert +got.histogram == Counter(bucket_of(seconds) for seconds in expected)
        assert all(count >= 0 for count in got.histogram.values())
