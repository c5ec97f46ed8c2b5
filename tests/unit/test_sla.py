"""SLA arithmetic: due times, response durations and the SLA boundary, with fixed instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from replywatch.models import SlaPolicy
from replywatch.sla import first_response_due, is_overdue, response_seconds, within_sla

POSTED = datetime(2026, 11, 23, 9, 15, 0, tzinfo=UTC)
ONE_HOUR = SlaPolicy(first_response_seconds=3600)


def test_first_response_due_is_posted_time_plus_the_policy_target() -> None:
    assert first_response_due(POSTED, ONE_HOUR) == datetime(2026, 11, 23, 10, 15, 0, tzinfo=UTC)


def test_first_response_due_crosses_midnight() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert first_response_due(late, ONE_HOUR) == datetime(2027, 1, 1, 0, 30, tzinfo=UTC)


def test_first_response_due_for_a_multi_day_policy() -> None:
    two_days = SlaPolicy(first_response_seconds=2 * 86400)
    assert first_response_due(POSTED, two_days) == POSTED + timedelta(days=2)


def test_response_seconds_counts_whole_seconds() -> None:
    assert response_seconds(POSTED, POSTED + timedelta(minutes=12, seconds=5)) == 725


def test_response_seconds_truncates_fractions() -> None:
    assert response_seconds(POSTED, POSTED + timedelta(seconds=90, milliseconds=900)) == 90


def test_response_seconds_is_zero_for_an_instant_reply() -> None:
    assert response_seconds(POSTED, POSTED) == 0


@pytest.mark.parametrize("early", [timedelta(milliseconds=1), timedelta(seconds=2), timedelta(hours=3)])
def test_response_seconds_is_never_negative_when_reply_is_stamped_before_message(early: timedelta) -> None:
    assert response_seconds(POSTED, POSTED - early) == 0


def test_response_seconds_compares_instants_across_time_zones() -> None:
    berlin = timezone(timedelta(hours=1))
    replied = datetime(2026, 11, 23, 10, 45, 0, tzinfo=berlin)  # 09:45 UTC
    assert response_seconds(POSTED, replied) == 30 * 60


def test_reply_exactly_at_due_time_is_within_sla() -> None:
    assert within_sla(POSTED, POSTED + timedelta(seconds=3600), ONE_HOUR) is True


def test_reply_one_microsecond_after_due_time_is_outside_sla() -> None:
    assert within_sla(POSTED, POSTED + timedelta(seconds=3600, microseconds=1), ONE_HOUR) is False


def test_quick_reply_is_within_sla() -> None:
    assert within_sla(POSTED, POSTED + timedelta(minutes=5), ONE_HOUR) is True


def test_not_overdue_before_due_time() -> None:
    due = first_response_due(POSTED, ONE_HOUR)
    assert is_overdue(due, due - timedelta(microseconds=1)) is False


def test_overdue_after_due_time() -> None:
    due = first_response_due(POSTED, ONE_HOUR)
    assert is_overdue(due, due + timedelta(seconds=1)) is True


def test_not_overdue_long_before_due_time() -> None:
    assert is_overdue(POSTED + timedelta(hours=1), POSTED) is False


def test_a_reply_exactly_at_the_due_time_is_on_time_and_the_message_not_yet_overdue() -> None:
    due = first_response_due(POSTED, ONE_HOUR)
    assert within_sla(POSTED, due, ONE_HOUR) is True
    assert is_overdue(due, due) is False
