"""Log-bucketed histograms, their quantiles and the stats summary."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replywatch.stats import (
    RELATIVE_ACCURACY,
    ZERO_BUCKET,
    Backlog,
    DayAggregate,
    StatsResponse,
    bucket_of,
    bucket_value,
    exact_quantile,
    quantile,
    summarise,
)

# Float rounding only; the bound itself is RELATIVE_ACCURACY.
_SLACK = 1e-9
AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def histogram_of(values: list[int]) -> dict[str, int]:
    return dict(Counter(bucket_of(value) for value in values))


def relative_error(approx: float, exact: float) -> float:
    return 0.0 if approx == exact else abs(approx - exact) / abs(exact)


# --- buckets -------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**8))
def test_bucket_value_is_within_one_percent_of_every_value_in_the_bucket(seconds: int) -> None:
    value = bucket_value(bucket_of(seconds))
    if seconds == 0:
        assert value == 0.0
    else:
        assert relative_error(value, seconds) <= RELATIVE_ACCURACY + _SLACK


@pytest.mark.parametrize("seconds", [1, 2, 59, 60, 61, 3599, 3600, 86400, 30 * 86400, 10**8])
def test_bucket_value_accuracy_at_familiar_durations(seconds: int) -> None:
    assert relative_error(bucket_value(bucket_of(seconds)), seconds) <= RELATIVE_ACCURACY + _SLACK


def test_zero_has_its_own_bucket() -> None:
    assert bucket_of(0) == ZERO_BUCKET
    assert bucket_value(ZERO_BUCKET) == 0.0
    assert bucket_of(1) != ZERO_BUCKET


def test_negative_durations_are_rejected() -> None:
    with pytest.raises(ValueError, match="never negative"):
        bucket_of(-1)


@given(st.integers(min_value=0, max_value=10**8), st.integers(min_value=0, max_value=10**8))
def test_buckets_preserve_order(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert bucket_value(bucket_of(low)) <= bucket_value(bucket_of(high))


# --- quantiles -----------------------------------------------------------------------------


@given(
    st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=300),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_quantile_is_within_one_percent_of_the_exact_nearest_rank(values: list[int], q: float) -> None:
    approx = quantile(histogram_of(values), q)
    exact = exact_quantile(values, q)
    assert approx is not None and exact is not None
    assert relative_error(approx, exact) <= RELATIVE_ACCURACY + _SLACK


def test_exact_quantile_is_nearest_rank() -> None:
    values = [50, 10, 40, 20, 30]
    assert exact_quantile(values, 0.0) == 10
    assert exact_quantile(values, 0.5) == 30
    assert exact_quantile(values, 0.9) == 50
    assert exact_quantile(values, 1.0) == 50
    assert exact_quantile([], 0.5) is None


def test_quantile_of_all_zero_responses_is_zero() -> None:
    assert quantile(histogram_of([0, 0, 0]), 0.9) == 0.0


def test_quantile_of_empty_histogram_is_none() -> None:
    assert quantile({}, 0.5) is None
    assert quantile({"412": 0}, 0.5) is None


@pytest.mark.parametrize("q", [-0.01, 1.01, -1.0, 2.0, math.nan])
def test_quantile_outside_zero_to_one_raises(q: float) -> None:
    with pytest.raises(ValueError, match="q must be within"):
        quantile({"412": 3}, q)


def test_quantile_bounds_are_accepted() -> None:
    histogram = histogram_of([10, 1000])
    assert quantile(histogram, 0.0) == pytest.approx(10, rel=RELATIVE_ACCURACY)
    assert quantile(histogram, 1.0) == pytest.approx(1000, rel=RELATIVE_ACCURACY)


# --- merging days ------------------------------------------------------------------------


@given(st.lists(st.lists(st.integers(min_value=0, max_value=10**7), max_size=50), min_size=1, max_size=8))
def test_merging_daily_histograms_equals_histogram_of_the_union(days: list[list[int]]) -> None:
    merged: Counter[str] = Counter()
    for values in days:
        merged.update(histogram_of(values))
    union = [value for values in days for value in values]
    assert dict(merged) == histogram_of(union)
    for q in (0.0, 0.5, 0.9, 1.0):
        assert quantile(merged, q) == quantile(histogram_of(union), q)


@given(st.lists(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30), min_size=1, max_size=5))
def test_summarise_median_and_p90_come_from_the_merged_histogram(days: list[list[int]]) -> None:
    aggregates = [
        DayAggregate(
            day=date(2026, 11, 1 + index),
            channel="mention",
            received=len(values),
            responded=len(values),
            response_seconds_sum=sum(values),
            histogram=histogram_of(values),
        )
        for index, values in enumerate(days)
    ]
    union = [value for values in days for value in values]
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 30), aggregates, Backlog(), as_of=AS_OF)
    for got, q in ((result.first_response_median_seconds, 0.5), (result.first_response_p90_seconds, 0.9)):
        exact = exact_quantile(union, q)
        assert got is not None and exact is not None
        # summarise rounds to 0.1 s on top of the histogram's 1 %
        assert abs(got - exact) <= RELATIVE_ACCURACY * exact + 0.05 + _SLACK


# --- summarise -----------------------------------------------------------------------------


def _two_days() -> list[DayAggregate]:
    return [
        DayAggregate(
            day=date(2026, 11, 20),
            channel="mention",
            received=10,
            responded=8,
            response_seconds_sum=8 * 600,
            within_sla=6,
            negative=2,
            overdue=1,
            histogram=histogram_of([600] * 8),
        ),
        DayAggregate(
            day=date(2026, 11, 21),
            channel="mention",
            received=6,
            responded=4,
            response_seconds_sum=4 * 1800,
            within_sla=3,
            negative=1,
            overdue=2,
            histogram=histogram_of([1800] * 4),
        ),
    ]


def test_summarise_sums_the_days() -> None:
    result = summarise(
        "acme", date(2026, 11, 20), date(2026, 11, 21), _two_days(), Backlog(open=4, overdue=3), as_of=AS_OF
    )
    assert (result.brand, result.from_day, result.to_day, result.as_of) == (
        "acme",
        date(2026, 11, 20),
        date(2026, 11, 21),
        AS_OF,
    )
    assert result.received == 16
    assert result.responded == 12
    assert result.negative == 3
    assert result.open == 4
    assert result.overdue == 3


def test_summarise_computes_rates_and_mean() -> None:
    result = summarise("acme", date(2026, 11, 20), date(2026, 11, 21), _two_days(), Backlog(), as_of=AS_OF)
    assert result.response_rate == 0.75  # 12 / 16
    assert result.first_response_mean_seconds == 1000.0  # (4800 + 7200) / 12
    assert result.within_sla_percent == 56.25  # 9 / 16
    assert result.first_response_median_seconds == pytest.approx(600, rel=RELATIVE_ACCURACY)
    assert result.first_response_p90_seconds == pytest.approx(1800, rel=RELATIVE_ACCURACY)


def test_summarise_rounds_response_rate_and_percent() -> None:
    day = DayAggregate(
        day=date(2026, 11, 20),
        channel="mention",
        received=3,
        responded=1,
        within_sla=1,
        response_seconds_sum=10,
        histogram=histogram_of([10]),
    )
    result = summarise("acme", day.day, day.day, [day], Backlog(), as_of=AS_OF)
    assert result.response_rate == 0.3333
    assert result.within_sla_percent == 33.33


def test_summarise_oldest_open_age_is_seconds_since_oldest_open_message() -> None:
    backlog = Backlog(open=2, overdue=1, oldest_open_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    result = summarise("acme", date(2026, 11, 23), date(2026, 11, 23), [], backlog, as_of=AS_OF)
    assert result.oldest_open_age_seconds == 2.5 * 3600


def test_summarise_oldest_open_age_is_never_negative() -> None:
    backlog = Backlog(open=1, oldest_open_at=datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC))
    result = summarise("acme", date(2026, 11, 23), date(2026, 11, 23), [], backlog, as_of=AS_OF)
    assert result.oldest_open_age_seconds == 0


def test_summarise_with_no_data_has_no_rates() -> None:
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 30), [], Backlog(), as_of=AS_OF)
    assert result.received == result.responded == 0
    assert result.response_rate is None
    assert result.first_response_mean_seconds is None
    assert result.first_response_median_seconds is None
    assert result.first_response_p90_seconds is None
    assert result.within_sla_percent is None
    assert result.oldest_open_age_seconds is None


def test_summarise_received_but_unanswered_has_rate_zero_and_no_mean() -> None:
    day = DayAggregate(day=date(2026, 11, 20), channel="mention", received=5)
    result = summarise("acme", day.day, day.day, [day], Backlog(open=5), as_of=AS_OF)
    assert result.response_rate == 0.0
    assert result.within_sla_percent == 0.0
    assert result.first_response_mean_seconds is None
    assert result.first_response_median_seconds is None


def test_stats_response_serialises_from_and_to_by_alias() -> None:
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 30), [], Backlog(), as_of=AS_OF)
    dumped = result.model_dump(mode="json", by_alias=True)
    assert dumped["from"] == "2026-11-01"
    assert dumped["to"] == "2026-11-30"
    assert StatsResponse.model_validate(dumped) == result
