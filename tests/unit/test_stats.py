"""Log-bucketed histograms, their quantiles and the stats summary."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replywatch.models import Intent, Sentiment, Wait
from replywatch.stats import (
    BINS,
    COUNTERS,
    INDUSTRY,
    RELATIVE_ACCURACY,
    ZERO_BUCKET,
    Aggregate,
    Backlog,
    StatsResponse,
    bucket_of,
    bucket_value,
    day_aggregate,
    distribution,
    exact_quantile,
    moved,
    overdue,
    quantile,
    received,
    resolved,
    responded,
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
def test_summarise_percentiles_come_from_the_merged_histogram(days: list[list[int]]) -> None:
    aggregates = [
        day_aggregate(
            date(2026, 11, 1 + index),
            "mention",
            received=len(values),
            responded=len(values),
            response_seconds_sum=sum(values),
            histogram=histogram_of(values),
        )
        for index, values in enumerate(days)
    ]
    union = [value for values in days for value in values]
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 30), aggregates, Backlog(), as_of=AS_OF)
    for got, q in (
        (result.first_response_p50_seconds, 0.5),
        (result.first_response_p90_seconds, 0.9),
        (result.first_response_p99_seconds, 0.99),
    ):
        exact = exact_quantile(union, q)
        assert got is not None and exact is not None
        # summarise rounds to 0.1 s on top of the histogram's 1 %
        assert abs(got - exact) <= RELATIVE_ACCURACY * exact + 0.05 + _SLACK


# --- summarise -----------------------------------------------------------------------------


def _two_days() -> list[Aggregate]:
    return [
        day_aggregate(
            date(2026, 11, 20),
            "mention",
            received=10,
            responded=8,
            response_seconds_sum=8 * 600,
            within_sla=6,
            sentiment_negative=2,
            overdue=1,
            histogram=histogram_of([600] * 8),
        ),
        day_aggregate(
            date(2026, 11, 21),
            "mention",
            received=6,
            responded=4,
            response_seconds_sum=4 * 1800,
            within_sla=3,
            sentiment_negative=1,
            overdue=2,
            histogram=histogram_of([1800] * 4),
        ),
    ]


def test_summarise_sums_the_days() -> None:
    result = summarise(
        "acme", date(2026, 11, 20), date(2026, 11, 21), _two_days(), Backlog(open=4, overdue=5), as_of=AS_OF
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
    assert result.sentiment.negative == 3
    assert result.overdue == 3, "breached in the range: the days' overdue counters, not the backlog"
    assert (result.backlog.open, result.backlog.overdue) == (4, 5)


def test_summarise_computes_rates_and_mean() -> None:
    result = summarise("acme", date(2026, 11, 20), date(2026, 11, 21), _two_days(), Backlog(), as_of=AS_OF)
    assert result.response_rate == 0.75  # 12 / 16
    assert result.first_response_mean_seconds == 1000.0  # (4800 + 7200) / 12
    assert result.within_sla_percent == 56.25  # 9 / 16
    assert result.first_response_p50_seconds == pytest.approx(600, rel=RELATIVE_ACCURACY)
    assert result.first_response_p90_seconds == pytest.approx(1800, rel=RELATIVE_ACCURACY)


def test_summarise_rounds_response_rate_and_percent() -> None:
    day = day_aggregate(
        date(2026, 11, 20),
        "mention",
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
    assert result.backlog.oldest_open_age_seconds == 2.5 * 3600


def test_summarise_oldest_open_age_is_never_negative() -> None:
    backlog = Backlog(open=1, oldest_open_at=datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC))
    result = summarise("acme", date(2026, 11, 23), date(2026, 11, 23), [], backlog, as_of=AS_OF)
    assert result.backlog.oldest_open_age_seconds == 0


def test_summarise_with_no_data_has_no_rates() -> None:
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 30), [], Backlog(), as_of=AS_OF)
    assert result.received == result.responded == 0
    assert result.response_rate is None
    assert result.first_response_mean_seconds is None
    assert result.first_response_p50_seconds is None
    assert result.first_response_p90_seconds is None
    assert result.first_response_p99_seconds is None
    assert result.within_sla_percent is None
    assert result.within_1h_percent is None
    assert result.within_24h_percent is None
    assert result.handled_rate is None
    assert result.next_response.mean_seconds is None
    assert result.next_response.within_sla_percent is None
    assert [b.count for b in result.distribution] == [0] * len(BINS)
    assert result.backlog.oldest_open_age_seconds is None


def test_summarise_received_but_unanswered_has_rate_zero_and_no_mean() -> None:
    day = day_aggregate(date(2026, 11, 20), "mention", received=5)
    result = summarise("acme", day.day, day.day, [day], Backlog(open=5), as_of=AS_OF)
    assert result.response_rate == 0.0
    assert result.within_sla_percent == 0.0
    assert result.within_1h_percent == result.within_24h_percent == 0.0
    assert result.handled_rate == 0.0
    assert result.first_response_mean_seconds is None
    assert result.first_response_p50_seconds is None


def test_stats_response_serialises_from_and_to_by_alias() -> None:
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 30), [], Backlog(), as_of=AS_OF)
    dumped = result.model_dump(mode="json", by_alias=True)
    assert dumped["from"] == "2026-11-01"
    assert dumped["to"] == "2026-11-30"
    assert StatsResponse.model_validate(dumped) == result


# --- figures recomputed from the messages ----------------------------------------------------------


@dataclass(frozen=True)
class Msg:
    """One customer message as the aggregates see it."""

    day: int
    channel: str
    wait: Wait | None
    sentiment: Sentiment
    intent: Intent
    seconds: int | None  # first response after that long; None: unanswered
    target: int  # its SLA target
    resolved: bool  # handled elsewhere (only when unanswered)
    overdue: bool  # passed its due time unanswered at some point

    @property
    def within_sla(self) -> bool:
        return self.seconds is not None and self.seconds <= self.target

    @property
    def next(self) -> bool:
        return self.wait is Wait.NEXT


CHANNELS = ("x", "mastodon")
_messages = st.builds(
    Msg,
    day=st.integers(min_value=0, max_value=3),
    channel=st.sampled_from(CHANNELS),
    wait=st.sampled_from([None, Wait.FIRST, Wait.NEXT]),
    sentiment=st.sampled_from(list(Sentiment)),
    intent=st.sampled_from(list(Intent)),
    seconds=st.one_of(st.none(), st.integers(min_value=0, max_value=3 * 86400)),
    target=st.sampled_from([900, 3600, 4 * 3600]),
    resolved=st.booleans(),
    overdue=st.booleans(),
).map(lambda m: m if m.seconds is None else replace(m, resolved=False))


def aggregates_of(history: list[Msg]) -> list[Aggregate]:
    """Day aggregates built the way the store builds them: one event delta at a time."""
    counters: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    histograms: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for m in history:
        slot = (m.day, m.channel)
        counters[slot].update(received(m.wait, m.sentiment, m.intent))
        if m.seconds is not None:
            added, histogram = responded(m.wait, m.seconds, m.within_sla)
            counters[slot].update(added)
            histograms[slot].update(histogram)
        if m.resolved:
            counters[slot].update(resolved(m.wait))
        if m.overdue:
            counters[slot].update(overdue(m.wait))
    return [
        day_aggregate(
            date(2026, 11, 1 + day), channel, histogram=histograms[(day, channel)], **counters[(day, channel)]
        )
        for day, channel in counters
    ]


def _close(got: float | None, exact: float | None) -> bool:
    """Within the histogram's 1 %, plus summarise's rounding to 0.1 s."""
    if exact is None:
        return got is None
    return got is not None and abs(got - exact) <= RELATIVE_ACCURACY * exact + 0.05 + _SLACK


def _percent_of(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


@settings(max_examples=150)
@given(st.lists(_messages, max_size=60), st.sampled_from([None, *CHANNELS]))
def test_summarise_equals_a_recomputation_from_the_messages(history: list[Msg], channel: str | None) -> None:
    result = summarise(
        "acme", date(2026, 11, 1), date(2026, 11, 4), aggregates_of(history), Backlog(), as_of=AS_OF, channel=channel
    )
    counted = [m for m in history if channel is None or m.channel == channel]
    # Conversations are the first waits; a next-response wait is reported apart, below, only.
    opened = [m for m in counted if not m.next]
    waits = [m.seconds for m in opened if m.seconds is not None]
    assert result.channel == channel
    assert result.received == len(opened)
    assert result.responded == len(waits)
    assert result.resolved == sum(m.resolved for m in opened)
    assert result.response_rate == (round(len(waits) / len(opened), 4) if opened else None)
    assert result.handled_rate == (round((len(waits) + result.resolved) / len(opened), 4) if opened else None)
    assert result.first_response_mean_seconds == (round(sum(waits) / len(waits), 2) if waits else None)
    assert _close(result.first_response_p50_seconds, exact_quantile(waits, 0.5))
    assert _close(result.first_response_p90_seconds, exact_quantile(waits, 0.9))
    assert _close(result.first_response_p99_seconds, exact_quantile(waits, 0.99))
    assert result.within_sla_percent == _percent_of(sum(m.within_sla for m in opened), len(opened))
    assert result.within_1h_percent == _percent_of(sum(s <= 3600 for s in waits), len(opened))
    assert result.within_24h_percent == _percent_of(sum(s <= 86400 for s in waits), len(opened))
    assert result.overdue == sum(m.overdue for m in opened)
    # Sentiment and intent count every customer message, next waits included.
    assert result.sentiment.model_dump() == {s.value: sum(m.sentiment is s for m in counted) for s in Sentiment}
    assert result.intent.model_dump() == {i.value: sum(m.intent is i for m in counted) for i in Intent}
    assert result.negative == result.sentiment.negative
    # Next-response waits are reported apart.
    following = [m for m in counted if m.next]
    next_waits = [m.seconds for m in following if m.seconds is not None]
    assert result.next_response.received == len(following)
    assert result.next_response.responded == len(next_waits)
    assert result.next_response.resolved == sum(m.resolved for m in following)
    assert result.next_response.overdue == sum(m.overdue for m in following)
    assert result.next_response.mean_seconds == (round(sum(next_waits) / len(next_waits), 2) if next_waits else None)
    assert result.next_response.within_sla_percent == _percent_of(sum(m.within_sla for m in following), len(following))
    assert sum(b.count for b in result.distribution) == result.responded


def test_next_response_waits_are_reported_apart_from_the_first_responses() -> None:
    history = [
        Msg(0, "x", Wait.FIRST, Sentiment.NEUTRAL, Intent.QUESTION, 600, 3600, False, False),
        Msg(0, "x", Wait.FIRST, Sentiment.NEUTRAL, Intent.QUESTION, 7200, 3600, False, True),
        Msg(0, "x", Wait.NEXT, Sentiment.NEGATIVE, Intent.COMPLAINT, 36000, 3600, False, True),
        Msg(0, "x", Wait.NEXT, Sentiment.NEUTRAL, Intent.OTHER, 60, 3600, False, False),
        Msg(0, "x", Wait.NEXT, Sentiment.NEUTRAL, Intent.OTHER, None, 3600, True, False),
    ]
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 1), aggregates_of(history), Backlog(), as_of=AS_OF)
    # the conversations and their first responses: the two first waits alone
    assert (result.received, result.responded, result.resolved, result.overdue) == (2, 2, 0, 1)
    assert result.first_response_mean_seconds == 3900.0  # (600 + 7200) / 2
    assert result.first_response_p50_seconds == pytest.approx(600, rel=RELATIVE_ACCURACY)
    assert result.first_response_p99_seconds == pytest.approx(7200, rel=RELATIVE_ACCURACY)
    assert result.within_sla_percent == result.within_1h_percent == 50.0
    assert sum(b.count for b in result.distribution) == 2
    assert result.next_response.model_dump() == {
        "received": 3,
        "responded": 2,
        "resolved": 1,
        "overdue": 1,
        "mean_seconds": 18030.0,  # (36000 + 60) / 2
        "within_sla_percent": 33.33,
    }
    # sentiment and intent count every customer message
    assert result.negative == 1
    assert result.intent.other == 2


def test_resolved_counts_towards_handled_but_not_responded() -> None:
    history = [
        Msg(0, "x", Wait.FIRST, Sentiment.NEUTRAL, Intent.QUESTION, 600, 3600, False, False),
        Msg(0, "x", Wait.FIRST, Sentiment.NEGATIVE, Intent.COMPLAINT, None, 3600, True, True),
        Msg(1, "x", Wait.FIRST, Sentiment.NEGATIVE, Intent.COMPLAINT, None, 3600, True, False),
        Msg(1, "x", Wait.FIRST, Sentiment.NEUTRAL, Intent.QUESTION, None, 3600, False, False),
    ]
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 2), aggregates_of(history), Backlog(), as_of=AS_OF)
    assert (result.received, result.responded, result.resolved) == (4, 1, 2)
    assert result.response_rate == 0.25
    assert result.handled_rate == 0.75
    assert result.within_sla_percent == 25.0, "a resolution is not a reply within the SLA"


def test_within_1h_and_24h_are_inclusive_shares_of_the_received() -> None:
    waits = [0, 3600, 3601, 86400, 86401]
    history = [Msg(0, "x", None, Sentiment.NEUTRAL, Intent.OTHER, s, 3600, False, False) for s in waits]
    history.append(Msg(0, "x", None, Sentiment.NEUTRAL, Intent.OTHER, None, 3600, False, False))
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 1), aggregates_of(history), Backlog(), as_of=AS_OF)
    assert result.received == 6
    assert result.within_1h_percent == 33.33  # 0 and 3600 of 6
    assert result.within_24h_percent == 66.67  # and 3601 and 86400
    assert result.within_sla_percent == 33.33


def test_summarise_counts_one_channel_only_when_asked() -> None:
    x = day_aggregate(
        date(2026, 11, 1),
        "x",
        histogram=histogram_of([60]),
        received=2,
        responded=1,
        response_seconds_sum=60,
        sentiment_negative=2,
    )
    mastodon = day_aggregate(
        date(2026, 11, 1),
        "mastodon",
        histogram=histogram_of([7200]),
        received=1,
        responded=1,
        response_seconds_sum=7200,
    )
    both = summarise("acme", date(2026, 11, 1), date(2026, 11, 1), [x, mastodon], Backlog(), as_of=AS_OF)
    only_x = summarise("acme", date(2026, 11, 1), date(2026, 11, 1), [x, mastodon], Backlog(), as_of=AS_OF, channel="x")
    assert (both.received, both.responded, both.negative) == (3, 2, 2)
    assert (only_x.received, only_x.responded, only_x.negative, only_x.channel) == (2, 1, 2, "x")
    assert only_x.first_response_mean_seconds == 60.0
    assert only_x.first_response_p99_seconds == pytest.approx(60, rel=RELATIVE_ACCURACY)
    none = summarise("acme", date(2026, 11, 1), date(2026, 11, 1), [x], Backlog(), as_of=AS_OF, channel="bluesky")
    assert none.received == 0 and none.response_rate is None


def test_summarise_names_its_time_zone_and_sets_the_industry_figures_beside() -> None:
    result = summarise("acme", date(2026, 11, 1), date(2026, 11, 1), [], Backlog(), as_of=AS_OF, tz="Asia/Kolkata")
    assert result.tz == "Asia/Kolkata"
    assert result.industry == INDUSTRY
    assert INDUSTRY.first_response_mean_seconds == 5 * 3600
    assert INDUSTRY.expect_answer_within_1h_percent == 40
    assert INDUSTRY.x_complaints_answered_within_24h_percent == 40
    assert INDUSTRY.sources


# --- the distribution --------------------------------------------------------------------------------


def test_bins_cover_zero_to_infinity_without_gaps() -> None:
    assert BINS[0][1] == 0 and BINS[-1][2] is None
    for (_, _, high), (_, low, _) in pairwise(BINS):
        assert high == low
    assert [label for label, _, _ in BINS] == ["< 5 min", "5–15 min", "15 min – 1 h", "1–4 h", "4–24 h", "≥ 24 h"]


def test_distribution_puts_each_time_in_its_bin() -> None:
    # one value well inside each bin, a zero, and two more in the last
    histogram = histogram_of([0, 60, 600, 1800, 7200, 36000, 172800, 2 * 86400, 40 * 86400])
    bins = distribution(histogram)
    assert [(b.label, b.from_seconds, b.to_seconds) for b in bins] == list(BINS)
    assert [b.count for b in bins] == [2, 1, 1, 1, 1, 3]


@given(st.lists(st.integers(min_value=0, max_value=10**7), max_size=200))
def test_distribution_adds_up_to_the_answered(values: list[int]) -> None:
    bins = distribution(histogram_of(values))
    assert sum(b.count for b in bins) == len(values)
    for b, (_, low, high) in zip(bins, BINS, strict=True):
        # a value lands in its own bin, or the one beside it when within 1 % of the edge
        lower = low * (1 - RELATIVE_ACCURACY)
        upper = math.inf if high is None else high * (1 + RELATIVE_ACCURACY)
        assert b.count <= sum(lower <= v < upper for v in values)


def test_summarise_distribution_adds_up_to_responded() -> None:
    result = summarise("acme", date(2026, 11, 20), date(2026, 11, 21), _two_days(), Backlog(), as_of=AS_OF)
    assert sum(b.count for b in result.distribution) == result.responded == 12
    assert [b.count for b in result.distribution] == [0, 8, 4, 0, 0, 0]


# --- what each event adds -------------------------------------------------------------------------------


def test_received_counts_the_message_its_sentiment_and_intent() -> None:
    assert received(Wait.FIRST, Sentiment.NEGATIVE, Intent.COMPLAINT) == {
        "received": 1,
        "sentiment_negative": 1,
        "intent_complaint": 1,
    }
    assert received(None, Sentiment.POSITIVE, Intent.PRAISE)["received"] == 1


def test_responded_counts_the_wait_and_its_bucket() -> None:
    counters, histogram = responded(Wait.FIRST, 3600, True)
    assert counters == {
        "responded": 1,
        "response_seconds_sum": 3600,
        "within_sla": 1,
        "within_1h": 1,
        "within_24h": 1,
    }
    assert histogram == {bucket_of(3600): 1}
    counters, histogram = responded(None, 86401, False, sign=-1)
    assert counters == {
        "responded": -1,
        "response_seconds_sum": -86401,
        "within_sla": 0,
        "within_1h": 0,
        "within_24h": 0,
    }
    assert histogram == {bucket_of(86401): -1}


def test_a_next_response_is_counted_under_next_only_and_not_in_the_distribution() -> None:
    first_counters, first_histogram = responded(Wait.FIRST, 120, True)
    counters, histogram = responded(Wait.NEXT, 120, True)
    assert counters == {f"next_{name}": amount for name, amount in first_counters.items()}
    assert first_histogram == {bucket_of(120): 1}
    assert histogram == {}
    assert moved(Wait.NEXT, 600, True, 120, True)[1] == {}
    assert received(Wait.NEXT, Sentiment.NEUTRAL, Intent.QUESTION) == {
        "next_received": 1,
        "sentiment_neutral": 1,
        "intent_question": 1,
    }
    assert overdue(Wait.NEXT) == {"next_overdue": 1}
    assert resolved(Wait.NEXT) == {"next_resolved": 1}
    assert overdue(Wait.FIRST) == overdue(None) == {"overdue": 1}
    assert resolved(None, sign=-1) == {"resolved": -1}


def test_every_counter_an_event_adds_is_a_known_counter() -> None:
    names: set[str] = set()
    for wait in (None, Wait.FIRST, Wait.NEXT):
        for sentiment in Sentiment:
            for intent in Intent:
                names |= set(received(wait, sentiment, intent))
        names |= set(responded(wait, 10, True)[0]) | set(overdue(wait)) | set(resolved(wait))
    assert names <= set(COUNTERS)


@given(
    st.lists(st.tuples(st.integers(min_value=0, max_value=10**6), st.booleans()), min_size=1, max_size=40),
    st.data(),
    st.sampled_from([None, Wait.FIRST, Wait.NEXT]),
)
def test_a_moved_reply_leaves_the_counts_of_the_new_values(
    replies: list[tuple[int, bool]], data: st.DataObject, wait: Wait | None
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(replies) - 1))
    old_seconds, old_within = replies[index]
    # an earlier reply: shorter, and possibly now within the SLA
    new_seconds = data.draw(st.integers(min_value=0, max_value=old_seconds))
    new_within = data.draw(st.booleans())

    def counted(values: list[tuple[int, bool]]) -> tuple[Counter[str], Counter[str]]:
        counters: Counter[str] = Counter()
        histogram: Counter[str] = Counter()
        for seconds, within in values:
            added, buckets = responded(wait, seconds, within)
            counters.update(added)
            histogram.update(buckets)
        return counters, histogram

    counters, histogram = counted(replies)
    change_counters, change_histogram = moved(wait, old_seconds, old_within, new_seconds, new_within)
    assert all(change_counters.values()) and all(change_histogram.values()), "no zero entries"
    counters.update(change_counters)
    histogram.update(change_histogram)

    after = [*replies[:index], (new_seconds, new_within), *replies[index + 1 :]]
    expected_counters, expected_histogram = counted(after)
    assert +counters == +expected_counters
    assert {k: v for k, v in histogram.items() if v} == dict(+expected_histogram)
    assert all(v >= 0 for v in histogram.values())
    first_responses = [] if wait is Wait.NEXT else [s for s, _ in after]  # next responses are not in it
    for q in (0.5, 0.9, 0.99):
        assert quantile(histogram, q) == quantile(histogram_of(first_responses), q)


def test_a_move_within_one_bucket_changes_only_the_sum() -> None:
    assert moved(Wait.FIRST, 1000, True, 1000, True) == ({}, {})
    assert bucket_of(1001) == bucket_of(1000)
    assert moved(Wait.FIRST, 1001, True, 1000, True) == ({"response_seconds_sum": -1}, {})
    counters, histogram = moved(Wait.FIRST, 7200, False, 600, True)
    assert counters == {"response_seconds_sum": -6600, "within_sla": 1, "within_1h": 1}
    assert histogram == {bucket_of(7200): -1, bucket_of(600): 1}
