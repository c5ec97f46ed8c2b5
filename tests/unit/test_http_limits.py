"""Rate-limit signals shared by the connectors (connectors/http.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from replywatch.connectors.http import DEFAULT_BACKOFF, exhausted, id_order, parse_reset, parse_retry_after, retry_at

NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
RESET = datetime(2026, 11, 23, 13, 25, 0, tzinfo=UTC)
RESET_EPOCH = int(RESET.timestamp())  # 1795440300


# --- parse_reset -----------------------------------------------------------------------------


def test_parse_reset_reads_epoch_seconds() -> None:
    assert parse_reset(str(RESET_EPOCH), NOW) == RESET


def test_parse_reset_reads_fractional_epoch_seconds() -> None:
    assert parse_reset(f"{RESET_EPOCH}.5", NOW) == RESET + timedelta(milliseconds=500)


def test_parse_reset_reads_epoch_milliseconds() -> None:
    assert parse_reset(f"{RESET_EPOCH}123", NOW) == RESET + timedelta(milliseconds=123)


def test_parse_reset_reads_mastodon_iso_time_with_z_and_microseconds() -> None:
    assert parse_reset("2026-11-23T13:25:00.019685Z", NOW) == RESET + timedelta(microseconds=19685)


def test_parse_reset_reads_iso_time_with_offset() -> None:
    moment = parse_reset("2026-11-23T14:25:00+01:00", NOW)
    assert moment == RESET
    assert moment is not None and moment.utcoffset() == timedelta(0)


def test_parse_reset_treats_naive_iso_time_as_utc() -> None:
    assert parse_reset("2026-11-23T13:25:00", NOW) == RESET


def test_parse_reset_reads_http_date() -> None:
    assert parse_reset("Mon, 23 Nov 2026 13:25:00 GMT", NOW) == RESET


def test_parse_reset_ignores_surrounding_whitespace() -> None:
    assert parse_reset(f"  {RESET_EPOCH} \t", NOW) == RESET


@pytest.mark.parametrize("value", ["", "   ", "soon", "tomorrow-ish", "2026-13-45T99:00:00Z", "Mon, 99 Foo 2026"])
def test_parse_reset_returns_none_for_garbage(value: str) -> None:
    assert parse_reset(value, NOW) is None


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e20", "99999999999999999999999"])
def test_parse_reset_returns_none_for_numbers_that_are_no_time(value: str) -> None:
    # A header the platform controls must never crash the poller.
    assert parse_reset(value, NOW) is None


# --- parse_retry_after -------------------------------------------------------------------------


def test_parse_retry_after_reads_delay_seconds() -> None:
    assert parse_retry_after("30", NOW) == NOW + timedelta(seconds=30)


def test_parse_retry_after_zero_is_now() -> None:
    assert parse_retry_after("0", NOW) == NOW


def test_parse_retry_after_reads_http_date() -> None:
    assert parse_retry_after("Mon, 23 Nov 2026 13:25:00 GMT", NOW) == RESET


def test_parse_retry_after_returns_none_for_garbage() -> None:
    assert parse_retry_after("in a bit", NOW) is None


# --- retry_at ------------------------------------------------------------------------------------


def test_retry_at_uses_retry_after_alone() -> None:
    assert retry_at(httpx.Headers({"Retry-After": "30"}), NOW) == NOW + timedelta(seconds=30)


def test_retry_at_uses_reset_header_alone() -> None:
    assert retry_at(httpx.Headers({"X-RateLimit-Reset": "2026-11-23T13:25:00.019685Z"}), NOW) == RESET + timedelta(
        microseconds=19685
    )


def test_retry_at_picks_the_later_reset_over_an_earlier_retry_after() -> None:
    headers = httpx.Headers({"Retry-After": "30", "X-RateLimit-Reset": str(RESET_EPOCH)})
    assert retry_at(headers, NOW) == RESET


def test_retry_at_picks_the_later_retry_after_over_an_earlier_reset() -> None:
    headers = httpx.Headers({"Retry-After": "3600", "X-RateLimit-Reset": str(RESET_EPOCH)})
    assert retry_at(headers, NOW) == NOW + timedelta(hours=1)


def test_retry_at_ignores_a_reset_in_the_past() -> None:
    headers = httpx.Headers({"Retry-After": "30", "X-RateLimit-Reset": "2026-11-23T12:00:00Z"})
    assert retry_at(headers, NOW) == NOW + timedelta(seconds=30)


def test_retry_at_reads_a_custom_reset_header() -> None:
    headers = httpx.Headers({"X-App-Usage-Reset": str(RESET_EPOCH), "X-RateLimit-Reset": "1"})
    assert retry_at(headers, NOW, reset_header="x-app-usage-reset") == RESET


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Retry-After": "0"},
        {"X-RateLimit-Reset": "2026-11-23T12:59:59Z"},
        {"X-RateLimit-Reset": str(RESET_EPOCH - 86400)},
        {"Retry-After": "whenever", "X-RateLimit-Reset": "nope"},
    ],
    ids=["none", "retry-after-now", "reset-past", "reset-epoch-past", "garbage"],
)
def test_retry_at_falls_back_to_default_backoff_without_a_future_signal(headers: dict[str, str]) -> None:
    assert retry_at(httpx.Headers(headers), NOW) == NOW + DEFAULT_BACKOFF


@pytest.mark.parametrize(
    "headers",
    [{"X-RateLimit-Reset": "nan"}, {"X-RateLimit-Reset": "1e20"}, {"Retry-After": "9" * 25}],
    ids=["reset-nan", "reset-huge", "retry-after-huge"],
)
def test_retry_at_falls_back_to_default_backoff_for_out_of_range_numbers(headers: dict[str, str]) -> None:
    assert retry_at(httpx.Headers(headers), NOW) == NOW + DEFAULT_BACKOFF


# --- exhausted -----------------------------------------------------------------------------------


def test_exhausted_when_remaining_is_zero() -> None:
    assert exhausted(httpx.Headers({"X-RateLimit-Remaining": "0"})) is True


def test_exhausted_tolerates_whitespace() -> None:
    assert exhausted(httpx.Headers({"X-RateLimit-Remaining": " 0 "})) is True


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-RateLimit-Remaining": "1"},
        {"X-RateLimit-Remaining": "299"},
        {"X-RateLimit-Remaining": "unknown"},
        {"X-RateLimit-Remaining": ""},
    ],
)
def test_not_exhausted_otherwise(headers: dict[str, str]) -> None:
    assert exhausted(httpx.Headers(headers)) is False


def test_exhausted_reads_a_custom_header() -> None:
    headers = httpx.Headers({"X-Calls-Left": "0", "X-RateLimit-Remaining": "10"})
    assert exhausted(headers, remaining_header="x-calls-left") is True
    assert exhausted(headers) is False


# --- id_order --------------------------------------------------------------------------------------


def test_id_order_compares_numeric_ids_numerically() -> None:
    assert max(["999", "1000", "998"], key=id_order) == "1000"
    assert sorted(["110", "99", "1000000000000000001", "2"], key=id_order) == ["2", "99", "110", "1000000000000000001"]
