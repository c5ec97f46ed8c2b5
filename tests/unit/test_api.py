"""The HTTP API built by create_app() over in-memory readers: status codes, messages and shapes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from replywatch import docs
from replywatch.api import MAX_PAGE, MAX_RANGE_DAYS, RESOLVE_ATTEMPTS, message_id, message_key, openapi_document
from replywatch.models import MessageKind, MessageRecord, MessageStatus, Resolution
from replywatch.ports import Busy, Conflict
from replywatch.stats import Backlog, StatsResponse, Timeseries, bucket_of, day_aggregate, local_range
from replywatch.store import NotResolvable, QueuePage
from tests.support.apifakes import NOW, Answer, FakeBrands, FakeMessages, app_of, queued, request, slotted
from tests.support.aws import LambdaContext
from tests.support.events import rest_event

TODAY = NOW.date()
STATS = "/brands/acme/stats"
TIMESERIES = "/brands/acme/stats/timeseries"
MESSAGES = "/brands/acme/messages"
NEXT_KEY = {
    "pk": {"S": "acme#open"},
    "queue_sk": {"S": "2026-11-23T09:00:00+00:00#mastodon#9101"},
    "platform_key": {"S": "mastodon#9101"},
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def utc_days(brand: str, first: date, last: date) -> tuple[str, datetime, datetime]:
    """The aggregates() call for the UTC days ``first`` to ``last``."""
    return brand, *local_range(first, last, ZoneInfo("UTC"))


@pytest.fixture
def messages() -> FakeMessages:
    return FakeMessages(
        found=[
            day_aggregate(
                TODAY - timedelta(days=1),
                "mention",
                histogram={bucket_of(120): 1, bucket_of(300): 1, bucket_of(480): 1},
                received=4,
                responded=3,
                response_seconds_sum=900,
                within_sla=3,
                within_1h=3,
                within_24h=3,
                sentiment_negative=1,
                sentiment_neutral=3,
                intent_complaint=1,
                intent_question=3,
                overdue=1,
            ),
            day_aggregate(
                TODAY,
                "mention",
                histogram={bucket_of(7200): 1},
                received=4,
                responded=1,
                resolved=1,
                response_seconds_sum=7200,
                within_sla=0,
                within_24h=1,
                sentiment_neutral=4,
                intent_other=4,
            ),
        ],
        open_backlog=Backlog(open=4, overdue=2, oldest_open_at=NOW - timedelta(hours=3)),
        pages={
            None: QueuePage(messages=[queued("9101", 180), queued("9102", 150)], next_token=NEXT_KEY),
            json.dumps(NEXT_KEY, sort_keys=True): QueuePage(messages=[queued("9103", 20)], next_token=None),
        },
    )


def get(messages: FakeMessages, path: str, query: str = "") -> tuple[int, Any]:
    answer = request(app_of(messages), path, query)
    return answer.status, answer.body


def assert_bad_request(status: int, body: Any) -> None:
    assert status == 400, body
    assert isinstance(body, dict)
    assert isinstance(body.get("message"), str) and body["message"]


# --- not found and bad requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/brands/nobody/stats",
        "/brands/nobody/stats/timeseries",
        "/brands/nobody/messages",
        "/brands/nobody/sources",
    ],
)
def test_unknown_brand_is_404_with_a_message(messages: FakeMessages, path: str) -> None:
    status, body = get(messages, path)
    assert status == 404
    assert "nobody" in body["message"]
    assert messages.aggregate_calls == [] and messages.queue_calls == [] and messages.backlog_calls == []


@pytest.mark.parametrize("path", [STATS, TIMESERIES])
@pytest.mark.parametrize(
    "query",
    [
        "from=not-a-date",
        "to=yesterday",
        "from=2026-02-30",
        "from=2026-11-23T10:15:00",
        "to=2023-11-14T00:00:00",  # a midnight date-time: pydantic alone takes it as a day
        "to=1699920000",  # a Unix time: likewise
        "from=20261101",
    ],
)
def test_unparseable_dates_are_400_with_a_message(messages: FakeMessages, path: str, query: str) -> None:
    status, body = get(messages, path, query)
    assert_bad_request(status, body)
    assert messages.aggregate_calls == []


def test_validation_errors_say_which_parameter(messages: FakeMessages) -> None:
    _, body = get(messages, STATS, "from=not-a-date")
    assert [detail["where"] for detail in body["details"]] == ["query.from"]


@pytest.mark.parametrize("path", [STATS, TIMESERIES])
def test_from_after_to_is_400(messages: FakeMessages, path: str) -> None:
    status, body = get(messages, path, "from=2026-11-20&to=2026-11-10")
    assert_bad_request(status, body)
    assert "from" in body["message"]
    assert messages.aggregate_calls == []


@pytest.mark.parametrize("path", [STATS, TIMESERIES])
def test_a_range_over_the_maximum_is_400(messages: FakeMessages, path: str) -> None:
    first = date(2025, 1, 1)
    last = first + timedelta(days=MAX_RANGE_DAYS)  # MAX_RANGE_DAYS + 1 days, inclusive
    status, body = get(messages, path, f"from={first}&to={last}")
    assert_bad_request(status, body)
    assert str(MAX_RANGE_DAYS) in body["message"]
    assert messages.aggregate_calls == []


def test_a_range_of_exactly_the_maximum_is_allowed(messages: FakeMessages) -> None:
    first = date(2025, 1, 1)
    last = first + timedelta(days=MAX_RANGE_DAYS - 1)
    status, _ = get(messages, STATS, f"from={first}&to={last}")
    assert status == 200
    assert messages.aggregate_calls == [utc_days("acme", first, last)]


def test_from_far_in_the_past_without_to_is_400(messages: FakeMessages) -> None:
    status, body = get(messages, STATS, "from=0001-01-01")
    assert_bad_request(status, body)


def test_to_near_the_first_representable_day_is_400_not_500(messages: FakeMessages) -> None:
    # without 'from' the range starts 29 days before 'to', which is before date.min here
    status, body = get(messages, STATS, "to=0001-01-10")
    assert_bad_request(status, body)


@pytest.mark.parametrize("query", ["from=9999-12-31&to=9999-12-31", "to=9999-12-31"])
def test_the_last_representable_day_is_400_not_500(messages: FakeMessages, query: str) -> None:
    status, body = get(messages, STATS, query)
    assert_bad_request(status, body)


@pytest.mark.parametrize("path", [STATS, TIMESERIES])
@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "Europe/Atlantis", "utc/../etc", "../../etc/passwd", "", "x" * 65])
def test_an_unknown_time_zone_is_400(messages: FakeMessages, path: str, tz: str) -> None:
    status, body = get(messages, path, urlencode({"tz": tz, "from": "2026-11-01", "to": "2026-11-02"}))
    assert_bad_request(status, body)
    assert messages.aggregate_calls == []


def test_an_unknown_time_zone_is_named_in_the_message(messages: FakeMessages) -> None:
    _, body = get(messages, STATS, "tz=Mars/Olympus_Mons")
    assert "Mars/Olympus_Mons" in body["message"]


@pytest.mark.parametrize("channel", ["X", "two words", "x;drop", "9lives", "a" * 41])
def test_a_malformed_channel_is_400(messages: FakeMessages, channel: str) -> None:
    status, body = get(messages, STATS, urlencode({"channel": channel}))
    assert_bad_request(status, body)
    assert messages.backlog_calls == []


@pytest.mark.parametrize("query", ["status=bogus", "status=OPEN", "status=closed", "status="])
def test_unknown_queue_status_is_400(messages: FakeMessages, query: str) -> None:
    status, body = get(messages, MESSAGES, query)
    assert_bad_request(status, body)
    assert messages.queue_calls == []


@pytest.mark.parametrize("limit", ["0", str(MAX_PAGE + 1), "1000", "-5", "ten"])
def test_limit_out_of_range_is_400(messages: FakeMessages, limit: str) -> None:
    status, body = get(messages, MESSAGES, f"limit={limit}")
    assert_bad_request(status, body)
    assert messages.queue_calls == []


@pytest.mark.parametrize(
    "token",
    ["garbage", "!!!!", "_w==", "WzEsMiwzXQ==", "bnVsbA==", "eyJ1bmNsb3NlZCI6"],
    ids=["not-base64", "symbols", "not-utf8", "json-list", "json-null", "truncated-json"],
)
def test_a_next_token_the_api_never_gave_out_is_400(messages: FakeMessages, token: str) -> None:
    status, body = get(messages, MESSAGES, urlencode({"next": token}))
    assert_bad_request(status, body)
    assert "next" in body["message"]
    assert messages.queue_calls == []


def test_an_unknown_route_is_404_with_a_message(messages: FakeMessages) -> None:
    status, body = get(messages, "/brands/acme/nothing-here")
    assert status == 404
    assert body["message"]


# --- brands --------------------------------------------------------------------------------------------


def test_brands_lists_every_brand_in_the_stack_by_id(messages: FakeMessages) -> None:
    status, body = get(messages, "/brands")
    assert status == 200, body
    assert body == {
        "items": [
            {
                "brand_id": "acme",
                "name": "Acme",
                "timezone": "Europe/London",
                "enabled": True,
                "sla_first_response_seconds": 3600,
            },
            {
                "brand_id": "globex",
                "name": "Globex <Corp>",
                "timezone": "UTC",
                "enabled": False,
                "sla_first_response_seconds": None,
            },
            {
                "brand_id": "initech",
                "name": "Initech",
                "timezone": "Asia/Kolkata",
                "enabled": True,
                "sla_first_response_seconds": None,
            },
        ]
    }


def test_brands_of_an_empty_stack_is_an_empty_list(messages: FakeMessages) -> None:
    answer = request(app_of(messages, FakeBrands(brands=())), "/brands")
    assert (answer.status, answer.body) == (200, {"items": []})


# --- stats -------------------------------------------------------------------------------------------


def test_stats_has_every_field_of_the_response_model(messages: FakeMessages) -> None:
    status, body = get(messages, STATS, "from=2026-11-01&to=2026-11-23")
    assert status == 200, body
    expected = {info.alias or name for name, info in StatsResponse.model_fields.items()}
    assert set(body) == expected
    assert {"from", "to"} <= set(body)
    assert body["from"] == "2026-11-01"
    assert body["to"] == "2026-11-23"
    assert set(body["backlog"]) == {"open", "overdue", "oldest_open_at", "oldest_open_age_seconds"}
    assert [b["label"] for b in body["distribution"]] == [
        "< 5 min",
        "5–15 min",
        "15 min – 1 h",
        "1–4 h",
        "4–24 h",
        "≥ 24 h",
    ]
    assert body["distribution"][-1]["to_seconds"] is None


def test_stats_values_come_from_the_summary(messages: FakeMessages) -> None:
    _, body = get(messages, STATS, "from=2026-11-01&to=2026-11-23")
    assert body["brand"] == "acme"
    assert (body["tz"], body["channel"]) == ("UTC", None)
    assert datetime.fromisoformat(body["as_of"]) == NOW
    assert body["received"] == 8
    assert body["responded"] == 4
    assert body["resolved"] == 1
    assert body["response_rate"] == 0.5
    assert body["handled_rate"] == 0.625
    assert body["first_response_mean_seconds"] == 2025.0  # 8100 / 4
    assert body["within_sla_percent"] == 37.5  # 3 / 8
    assert body["within_1h_percent"] == 37.5
    assert body["within_24h_percent"] == 50.0
    assert body["first_response_p50_seconds"] == pytest.approx(300, rel=0.01)
    assert body["first_response_p90_seconds"] == pytest.approx(7200, rel=0.01)
    assert body["first_response_p99_seconds"] == pytest.approx(7200, rel=0.01)
    assert body["negative"] == 1
    assert body["sentiment"] == {"negative": 1, "neutral": 7, "positive": 0}
    assert body["intent"] == {"complaint": 1, "question": 3, "praise": 0, "other": 4}
    assert body["overdue"] == 1, "breached in the range"
    assert [b["count"] for b in body["distribution"]] == [1, 2, 0, 1, 0, 0]  # 120 | 300, 480 | 7200
    assert body["industry"]["first_response_mean_seconds"] == 18000
    assert body["industry"]["expect_answer_within_1h_percent"] == 40
    assert body["industry"]["x_complaints_answered_within_24h_percent"] == 40
    assert body["backlog"]["open"] == 4
    assert body["backlog"]["overdue"] == 2, "waiting now"
    assert datetime.fromisoformat(body["backlog"]["oldest_open_at"]) == NOW - timedelta(hours=3)
    assert body["backlog"]["oldest_open_age_seconds"] == 3 * 3600


def test_stats_default_range_is_the_last_30_days_ending_today(messages: FakeMessages) -> None:
    status, body = get(messages, STATS)
    assert status == 200
    assert messages.aggregate_calls == [utc_days("acme", TODAY - timedelta(days=29), TODAY)]
    assert (body["from"], body["to"]) == (str(TODAY - timedelta(days=29)), str(TODAY))


def test_stats_default_range_ends_today_in_the_time_zone_asked(messages: FakeMessages) -> None:
    # 12:00 UTC on the 23rd is already the 24th in Kiritimati (+14)
    status, body = get(messages, STATS, "tz=Pacific/Kiritimati")
    assert status == 200, body
    assert body["to"] == str(TODAY + timedelta(days=1))


def test_stats_with_only_to_ends_the_default_range_there(messages: FakeMessages) -> None:
    get(messages, STATS, "to=2026-06-30")
    assert messages.aggregate_calls == [utc_days("acme", date(2026, 6, 1), date(2026, 6, 30))]


def test_stats_for_a_single_day(messages: FakeMessages) -> None:
    status, _ = get(messages, STATS, "from=2026-11-23&to=2026-11-23")
    assert status == 200
    assert messages.aggregate_calls == [utc_days("acme", TODAY, TODAY)]


@pytest.mark.parametrize(
    ("tz", "first", "last", "reads"),
    [
        # Local midnight is 18:30 UTC: the UTC day, plus the 5 1/2 hours before it, minus those at its end.
        (
            "Asia/Kolkata",
            "2026-11-01",
            "2026-11-01",
            [
                (utc(2026, 11, 1), utc(2026, 11, 2)),
                (utc(2026, 10, 31, 18, 30), utc(2026, 11, 1)),
                (utc(2026, 11, 1, 18, 30), utc(2026, 11, 2)),
            ],
        ),
        (
            "Asia/Kathmandu",
            "2026-11-01",
            "2026-11-30",
            [
                (utc(2026, 11, 1), utc(2026, 12, 1)),
                (utc(2026, 10, 31, 18, 15), utc(2026, 11, 1)),
                (utc(2026, 11, 30, 18, 15), utc(2026, 12, 1)),
            ],
        ),
        # Local midnight is 03:30 UTC: the UTC day, minus the 3 1/2 hours at its start, plus the next day's.
        (
            "America/St_Johns",
            "2026-01-15",
            "2026-01-15",
            [
                (utc(2026, 1, 15), utc(2026, 1, 16)),
                (utc(2026, 1, 15), utc(2026, 1, 15, 3, 30)),
                (utc(2026, 1, 16), utc(2026, 1, 16, 3, 30)),
            ],
        ),
        # 23 hours: the UTC day minus its last hour; 25 hours: the UTC day plus the hour before it.
        (
            "Europe/London",
            "2026-03-29",
            "2026-03-29",
            [(utc(2026, 3, 29), utc(2026, 3, 30)), (utc(2026, 3, 29, 23), utc(2026, 3, 30))],
        ),
        (
            "Europe/London",
            "2026-10-25",
            "2026-10-25",
            [(utc(2026, 10, 25), utc(2026, 10, 26)), (utc(2026, 10, 24, 23), utc(2026, 10, 25))],
        ),
    ],
)
def test_stats_reads_whole_utc_days_and_the_hours_between_each_local_midnight_and_the_nearer_utc_one(
    messages: FakeMessages, tz: str, first: str, last: str, reads: list[tuple[datetime, datetime]]
) -> None:
    status, body = get(messages, STATS, urlencode({"tz": tz, "from": first, "to": last}))
    assert status == 200, body
    assert messages.aggregate_calls == [("acme", start, end) for start, end in reads]
    assert (body["tz"], body["from"], body["to"]) == (tz, first, last)


def test_stats_counts_messages_by_their_local_day() -> None:
    # 18:29 UTC is 23:59 in Kolkata; 18:30 UTC is already the next day there
    reader = FakeMessages(
        found=[
            *slotted(utc(2026, 10, 31, 18, 29), "x", received=1),
            *slotted(utc(2026, 10, 31, 18, 30), "x", received=2),
            *slotted(utc(2026, 11, 1, 9), "x", received=4),
            *slotted(utc(2026, 11, 1, 18, 29), "x", received=8),
            *slotted(utc(2026, 11, 1, 18, 30), "x", received=16),
        ]
    )
    _, kolkata = get(reader, STATS, "tz=Asia/Kolkata&from=2026-11-01&to=2026-11-01")
    assert kolkata["received"] == 2 + 4 + 8
    _, utc_day = get(reader, STATS, "from=2026-11-01&to=2026-11-01")
    assert utc_day["received"] == 4 + 8 + 16


def test_stats_channel_counts_one_channel_and_passes_to_the_backlog(messages: FakeMessages) -> None:
    messages.found.append(day_aggregate(TODAY, "x", received=5, sentiment_negative=5))
    status, body = get(messages, STATS, "channel=x")
    assert status == 200, body
    assert (body["channel"], body["received"], body["negative"]) == ("x", 5, 5)
    assert messages.backlog_calls == [("acme", "x")]
    _, everything = get(messages, STATS)
    assert everything["received"] == 13
    assert messages.backlog_calls[-1] == ("acme", None)


def test_stats_of_a_brand_with_nothing_yet(messages: FakeMessages) -> None:
    _, body = get(FakeMessages(), STATS)
    assert body["received"] == 0
    assert body["response_rate"] is None
    assert body["within_1h_percent"] is None
    assert body["first_response_p99_seconds"] is None
    assert body["backlog"] == {"open": 0, "overdue": 0, "oldest_open_at": None, "oldest_open_age_seconds": None}


# --- time series -----------------------------------------------------------------------------------------


def test_timeseries_by_day_has_one_point_per_day_empty_days_included(messages: FakeMessages) -> None:
    first = TODAY - timedelta(days=6)
    status, body = get(messages, TIMESERIES, f"from={first}&to={TODAY}")
    assert status == 200, body
    assert set(body) == {info.alias or name for name, info in Timeseries.model_fields.items()}
    assert messages.aggregate_calls == [utc_days("acme", first, TODAY)], "UTC days: the range in one read"
    assert (body["brand"], body["interval"], body["tz"], body["channel"]) == ("acme", "day", "UTC", None)
    days = [str(first + timedelta(days=n)) for n in range(7)]
    assert [(p["start"], p["end"]) for p in body["points"]] == [(day, day) for day in days]
    by_day = {p["start"]: p for p in body["points"]}
    yesterday, today = by_day[str(TODAY - timedelta(days=1))], by_day[str(TODAY)]
    assert (yesterday["received"], yesterday["responded"], yesterday["negative"], yesterday["overdue"]) == (4, 3, 1, 1)
    assert yesterday["response_rate"] == 0.75
    assert yesterday["first_response_p50_seconds"] == pytest.approx(300, rel=0.01)
    assert (today["received"], today["responded"], today["resolved"]) == (4, 1, 1)
    assert today["first_response_p90_seconds"] == pytest.approx(7200, rel=0.01)
    for day in days[:5]:
        empty = by_day[day]
        assert (empty["received"], empty["responded"], empty["overdue"], empty["negative"]) == (0, 0, 0, 0)
        assert empty["response_rate"] is None and empty["within_sla_percent"] is None
        assert empty["first_response_p50_seconds"] is None
    assert sum(p["received"] for p in body["points"]) == 8


def test_timeseries_by_week_has_iso_weeks_clipped_to_the_range() -> None:
    reader = FakeMessages(
        found=[
            *slotted(utc(2026, 11, 3, 23, 59), "x", received=1),  # Tuesday: before the range
            *slotted(utc(2026, 11, 4), "x", received=2),  # Wednesday: the first day
            *slotted(utc(2026, 11, 8, 23, 45), "x", received=4),  # Sunday
            *slotted(utc(2026, 11, 9), "x", received=8),  # Monday: the second week
            *slotted(utc(2026, 11, 20, 23, 59), "x", received=16),  # Friday: the last day
            *slotted(utc(2026, 11, 21), "x", received=32),  # after the range
        ]
    )
    status, body = get(reader, TIMESERIES, "from=2026-11-04&to=2026-11-20&interval=week")
    assert status == 200, body
    assert body["interval"] == "week"
    assert [(p["start"], p["end"], p["received"]) for p in body["points"]] == [
        ("2026-11-04", "2026-11-08", 2 + 4),
        ("2026-11-09", "2026-11-15", 8),
        ("2026-11-16", "2026-11-20", 16),
    ]


def test_timeseries_points_count_only_what_falls_inside_them_in_any_time_zone() -> None:
    # In Kolkata (+5:30) a local day runs 18:30 to 18:30 UTC: a point is its UTC day with the
    # 5 1/2 hours after 18:30 taken off and the day before's added; each message belongs to
    # exactly one point.
    moments = {
        utc(2026, 10, 31, 18, 30): 1,  # 1 Nov 00:00 local
        utc(2026, 11, 1, 0, 0): 2,  # 1 Nov 05:30
        utc(2026, 11, 1, 18, 29): 4,  # 1 Nov 23:59
        utc(2026, 11, 1, 18, 30): 8,  # 2 Nov 00:00
        utc(2026, 11, 2, 12, 0): 16,  # 2 Nov 17:30
        utc(2026, 11, 3, 18, 15): 32,  # 3 Nov 23:45
        utc(2026, 11, 3, 18, 30): 64,  # 4 Nov: after the range
        utc(2026, 10, 31, 18, 29): 128,  # 31 Oct: before the range
    }
    reader = FakeMessages(found=[a for moment, n in moments.items() for a in slotted(moment, "x", received=n)])
    status, body = get(reader, TIMESERIES, "tz=Asia/Kolkata&from=2026-11-01&to=2026-11-03")
    assert status == 200, body
    assert [call[1:] for call in reader.aggregate_calls] == [
        (utc(2026, 11, 1), utc(2026, 11, 4)),  # the whole UTC days, in one read
        (utc(2026, 10, 31, 18, 30), utc(2026, 11, 1)),  # then each edge's hours and quarters
        (utc(2026, 11, 1, 18, 30), utc(2026, 11, 2)),
        (utc(2026, 11, 2, 18, 30), utc(2026, 11, 3)),
        (utc(2026, 11, 3, 18, 30), utc(2026, 11, 4)),
    ], "whole UTC days once, and the few hours between each edge and its nearer UTC midnight"
    assert [(p["start"], p["received"]) for p in body["points"]] == [
        ("2026-11-01", 1 + 2 + 4),
        ("2026-11-02", 8 + 16),
        ("2026-11-03", 32),
    ]
    _, total = get(reader, STATS, "tz=Asia/Kolkata&from=2026-11-01&to=2026-11-03")
    assert total["received"] == sum(p["received"] for p in body["points"])


@pytest.mark.parametrize("tz", ["UTC", "Europe/London", "Asia/Kathmandu", "America/St_Johns"])
def test_timeseries_points_add_up_to_the_stats_of_the_range(tz: str) -> None:
    # a message every 7 hours 45 minutes across London's autumn change, each with its own count
    start = utc(2026, 10, 20, 0, 0)
    moments = [start + n * timedelta(hours=7, minutes=45) for n in range(40)]
    reader = FakeMessages(found=[a for n, moment in enumerate(moments) for a in slotted(moment, "x", received=2**n)])
    query = urlencode({"tz": tz, "from": "2026-10-21", "to": "2026-10-29"})
    _, series = get(reader, TIMESERIES, query)
    _, total = get(reader, STATS, query)
    zone = ZoneInfo(tz)
    for point in series["points"]:
        local = [n for n, moment in enumerate(moments) if moment.astimezone(zone).date().isoformat() == point["start"]]
        assert point["received"] == sum(2**n for n in local), point["start"]
    assert sum(p["received"] for p in series["points"]) == total["received"]


def test_timeseries_counts_one_channel_when_asked() -> None:
    reader = FakeMessages(
        found=[*slotted(utc(2026, 11, 1, 10), "x", received=1), *slotted(utc(2026, 11, 1, 11), "mastodon", received=2)]
    )
    _, body = get(reader, TIMESERIES, "from=2026-11-01&to=2026-11-01&channel=mastodon")
    assert body["channel"] == "mastodon"
    assert [p["received"] for p in body["points"]] == [2]


@pytest.mark.parametrize("interval", ["month", "DAY", "hour", ""])
def test_timeseries_unknown_interval_is_400(messages: FakeMessages, interval: str) -> None:
    status, body = get(messages, TIMESERIES, urlencode({"interval": interval}))
    assert_bad_request(status, body)
    assert messages.aggregate_calls == []


# --- the message queue --------------------------------------------------------------------------------


def test_messages_page_lists_items_and_an_opaque_next_token(messages: FakeMessages) -> None:
    status, body = get(messages, MESSAGES, "status=open&limit=2")
    assert status == 200, body
    assert [item["platform_id"] for item in body["items"]] == ["9101", "9102"]
    first = body["items"][0]
    assert first["key"] == "acme#mastodon#9101"
    assert first["status"] == "open"
    assert first["kind"] == "mention"
    assert first["permalink"] == "https://elsewhere.example/@dana/9101"
    assert datetime.fromisoformat(first["created_at"]) == NOW - timedelta(minutes=180)
    token = body["next"]
    assert isinstance(token, str) and token
    assert "acme#open" not in token and "{" not in token
    assert messages.queue_calls == [{"brand": "acme", "status": "open", "limit": 2, "start": None}]


def test_next_token_round_trips_into_the_start_key(messages: FakeMessages) -> None:
    _, first = get(messages, MESSAGES, "limit=2")
    status, second = get(messages, MESSAGES, urlencode({"limit": 2, "next": first["next"]}))
    assert status == 200, second
    assert messages.queue_calls[-1]["start"] == NEXT_KEY
    assert [item["platform_id"] for item in second["items"]] == ["9103"]
    assert second["next"] is None


def test_a_reviews_star_rating_is_shown_in_the_queue(messages: FakeMessages) -> None:
    review = queued("r1", 30).model_copy(update={"kind": MessageKind.REVIEW, "rating": 2})
    messages.pages[None] = QueuePage(messages=[review, queued("9101", 20)], next_token=None)
    status, body = get(messages, MESSAGES)
    assert status == 200, body
    assert [(item["kind"], item["rating"]) for item in body["items"]] == [("review", 2), ("mention", None)]


def test_messages_defaults_to_open_and_fifty(messages: FakeMessages) -> None:
    get(messages, MESSAGES)
    assert messages.queue_calls == [{"brand": "acme", "status": "open", "limit": 50, "start": None}]


@pytest.mark.parametrize("wanted", ["open", "overdue", "negative", "answered", "resolved"])
def test_messages_passes_the_status_through(messages: FakeMessages, wanted: str) -> None:
    status, _ = get(messages, MESSAGES, f"status={wanted}&limit={MAX_PAGE}")
    assert status == 200
    assert messages.queue_calls == [{"brand": "acme", "status": wanted, "limit": MAX_PAGE, "start": None}]


def test_a_resolved_message_shows_how_it_was_handled(messages: FakeMessages) -> None:
    handled = queued("9104", 300).model_copy(
        update={
            "status": MessageStatus.RESOLVED,
            "resolved_at": NOW - timedelta(minutes=5),
            "resolution": Resolution.PHONE,
        }
    )
    messages.pages[None] = QueuePage(messages=[handled], next_token=None)
    _, body = get(messages, MESSAGES, "status=resolved")
    (item,) = body["items"]
    assert (item["status"], item["resolution"]) == ("resolved", "phone")
    assert datetime.fromisoformat(item["resolved_at"]) == NOW - timedelta(minutes=5)


def test_each_message_has_an_id_that_round_trips_to_its_key(messages: FakeMessages) -> None:
    federated = queued("113/0#9", 10, network="mastodon.social")
    messages.pages[None] = QueuePage(messages=[federated, queued("9101", 20), queued("ünï", 5)], next_token=None)
    _, body = get(messages, MESSAGES)
    assert [item["key"] for item in body["items"]] == [
        "acme#mastodon@mastodon.social#113/0#9",
        "acme#mastodon#9101",
        "acme#mastodon#ünï",
    ]
    for item in body["items"]:
        assert item["id"] == message_id(item["key"])
        assert message_key("acme", item["id"]) == item["key"]
        assert all(c.isalnum() or c in "-_" for c in item["id"]), "safe in a URL path as it is"
        assert "acme" not in item["id"]


@pytest.mark.parametrize(
    "identifier",
    ["A", "____", "bm90LWEta2V5", "!!", ""],
    ids=["one-char", "not-utf8", "no-hash", "symbols", "empty"],
)
def test_message_key_refuses_what_message_id_never_gives(identifier: str) -> None:
    assert message_key("acme", identifier) is None


# --- resolve ---------------------------------------------------------------------------------------------


def resolve_path(key: str, brand: str = "acme") -> str:
    return f"/brands/{brand}/messages/{message_id(key)}/resolve"


@pytest.fixture
def waiting(messages: FakeMessages) -> FakeMessages:
    for record in (queued("9101", 90), queued("9102", 30).model_copy(update={"status": MessageStatus.ANSWERED})):
        messages.records[record.key] = record
    return messages


def post(messages: FakeMessages, path: str, body: Any) -> Answer:
    return request(app_of(messages), path, method="POST", body=body)


def test_resolve_marks_the_message_and_answers_what_it_did(waiting: FakeMessages) -> None:
    answer = post(waiting, resolve_path("acme#mastodon#9101"), {"reason": "phone", "note": "called back"})
    assert answer.status == 200, answer.text
    assert answer.body == {
        "id": message_id("acme#mastodon#9101"),
        "key": "acme#mastodon#9101",
        "status": "resolved",
        "resolved_at": answer.body["resolved_at"],
        "resolution": "phone",
    }
    assert datetime.fromisoformat(answer.body["resolved_at"]) == NOW
    assert waiting.resolve_calls == [
        {"key": "acme#mastodon#9101", "resolution": Resolution.PHONE, "note": "called back", "now": NOW}
    ]


@pytest.mark.parametrize("reason", [r.value for r in Resolution])
def test_resolve_takes_every_reason_and_no_note(waiting: FakeMessages, reason: str) -> None:
    answer = post(waiting, resolve_path("acme#mastodon#9101"), {"reason": reason})
    assert answer.status == 200, answer.text
    assert waiting.resolve_calls[-1]["note"] is None
    assert answer.body["resolution"] == reason


def test_resolve_a_note_of_500_characters_is_allowed(waiting: FakeMessages) -> None:
    answer = post(waiting, resolve_path("acme#mastodon#9101"), {"reason": "other", "note": "n" * 500})
    assert answer.status == 200, answer.text


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "carrier pigeon"},
        {"reason": "PHONE"},
        {"note": "no reason"},
        {"reason": "phone", "note": "n" * 501},
        {"reason": "phone", "note": 5},
        {},
        "not json",
        "[]",
    ],
    ids=["unknown-reason", "capital-reason", "no-reason", "long-note", "number-note", "empty", "not-json", "list"],
)
def test_resolve_with_a_bad_body_is_400(waiting: FakeMessages, body: Any) -> None:
    answer = post(waiting, resolve_path("acme#mastodon#9101"), body)
    assert_bad_request(answer.status, answer.body)
    assert waiting.resolve_calls == []


def test_resolve_without_a_body_is_400(waiting: FakeMessages) -> None:
    answer = request(app_of(waiting), resolve_path("acme#mastodon#9101"), method="POST")
    assert_bad_request(answer.status, answer.body)
    assert waiting.resolve_calls == []


@pytest.mark.parametrize(
    "path",
    [
        resolve_path("acme#mastodon#404"),  # no such message
        "/brands/acme/messages/bm90LWEta2V5/resolve",  # decodes to a string without '#'
        "/brands/acme/messages/____/resolve",  # not UTF-8
        "/brands/acme/messages/A/resolve",  # not base64
    ],
    ids=["unknown", "no-hash", "not-utf8", "not-base64"],
)
def test_resolve_an_unknown_or_malformed_message_id_is_404(waiting: FakeMessages, path: str) -> None:
    answer = post(waiting, path, {"reason": "phone"})
    assert answer.status == 404, answer.text
    assert answer.body["message"]
    assert waiting.resolve_calls == []


def test_resolve_for_an_unknown_brand_is_404(waiting: FakeMessages) -> None:
    answer = post(waiting, resolve_path("acme#mastodon#9101", brand="nobody"), {"reason": "phone"})
    assert answer.status == 404
    assert "nobody" in answer.body["message"]
    assert waiting.get_calls == [] and waiting.resolve_calls == []


def test_resolve_another_brands_message_through_this_brand_is_404(waiting: FakeMessages) -> None:
    other = queued("9101", 60).model_copy(update={"brand": "initech"})
    waiting.records[other.key] = other
    del waiting.records["acme#mastodon#9101"]
    # the same id under acme names acme#mastodon#9101, which does not exist
    answer = post(waiting, resolve_path(other.key), {"reason": "phone"})
    assert answer.status == 404
    assert waiting.get_calls == ["acme#mastodon#9101"]


def test_resolve_a_brands_own_reply_is_404(waiting: FakeMessages) -> None:
    reply = queued("9200", 10).model_copy(update={"from_brand": True, "status": None})
    waiting.records[reply.key] = reply
    answer = post(waiting, resolve_path(reply.key), {"reason": "phone"})
    assert answer.status == 404
    assert waiting.resolve_calls == []


@pytest.mark.parametrize("malformed", ["%2F%2F", "a.b", "x" * 701])
def test_resolve_an_id_outside_the_alphabet_is_400(waiting: FakeMessages, malformed: str) -> None:
    answer = post(waiting, f"/brands/acme/messages/{malformed}/resolve", {"reason": "phone"})
    assert answer.status == 400, answer.text
    assert answer.body["message"]


def test_resolve_an_answered_message_is_409(waiting: FakeMessages) -> None:
    answer = post(waiting, resolve_path("acme#mastodon#9102"), {"reason": "phone"})
    assert answer.status == 409, answer.text
    assert "answered" in answer.body["message"]


def test_resolve_when_the_store_refuses_is_409(waiting: FakeMessages) -> None:
    waiting.resolve_errors = [NotResolvable("acme#mastodon#9101")]
    answer = post(waiting, resolve_path("acme#mastodon#9101"), {"reason": "email"})
    assert answer.status == 409
    assert answer.body["message"]


def test_resolve_retries_when_the_message_changed_meanwhile(waiting: FakeMessages) -> None:
    waiting.resolve_errors = [Conflict()]
    answer = post(waiting, resolve_path("acme#mastodon#9101"), {"reason": "email"})
    assert answer.status == 200, answer.text
    assert waiting.get_calls == ["acme#mastodon#9101"] * 2, "read again before the second attempt"
    assert len(waiting.resolve_calls) == 2


def test_resolve_gives_up_with_409_after_repeated_conflicts(waiting: FakeMessages) -> None:
    waiting.resolve_errors = [Conflict() for _ in range(RESOLVE_ATTEMPTS)]
    answer = post(waiting, resolve_path("acme#mastodon#9101"), {"reason": "email"})
    assert answer.status == 409
    assert "try again" in answer.body["message"]
    assert len(waiting.resolve_calls) == RESOLVE_ATTEMPTS


def test_resolve_answered_meanwhile_is_409_after_the_reread(
    waiting: FakeMessages, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "acme#mastodon#9101"
    read = waiting.get

    def get_while_a_reply_lands(wanted: str) -> MessageRecord | None:
        found = read(wanted)
        waiting.records[key] = waiting.records[key].model_copy(update={"status": MessageStatus.ANSWERED})
        return found

    monkeypatch.setattr(waiting, "get", get_while_a_reply_lands)
    waiting.resolve_errors = [Conflict()]
    answer = post(waiting, resolve_path(key), {"reason": "phone"})
    assert answer.status == 409, answer.text
    assert "answered" in answer.body["message"]
    assert len(waiting.resolve_calls) == 2


# --- sources ------------------------------------------------------------------------------------------------


def test_sources_show_health_and_what_needs_attention(messages: FakeMessages) -> None:
    status, body = get(messages, "/brands/acme/sources")
    assert status == 200, body
    by_id = {item["source_id"]: item for item in body["items"]}
    assert sorted(by_id) == ["acme-help", "acme-x"], "only the brand's own sources"
    broken = by_id["acme-x"]
    assert broken["health"] == "auth_failed" and broken["needs_reconnect"] is True
    assert broken["usage"] == {"period": "2026-11", "used": 9000, "limit": 10000}
    assert {(item["incident"]) for item in broken["incidents"]} == {"reconnect", "budget_warning"}
    assert by_id["acme-help"]["incidents"] == [] and by_id["acme-help"]["needs_reconnect"] is False
    assert get(messages, "/brands/globex-nope/sources")[0] == 404


# --- OpenAPI and the docs page -----------------------------------------------------------------------------


def test_openapi_document_lists_the_routes(messages: FakeMessages) -> None:
    status, body = get(messages, "/openapi.json")
    assert status == 200
    assert set(body["paths"]) == {
        "/brands",
        "/brands/{brand_id}/stats",
        "/brands/{brand_id}/stats/timeseries",
        "/brands/{brand_id}/messages",
        "/brands/{brand_id}/messages/{message}/resolve",
        "/brands/{brand_id}/sources",
        "/dashboard/api/brands",
        "/dashboard/api/brands/{brand_id}/stats",
        "/dashboard/api/brands/{brand_id}/stats/timeseries",
    }
    assert "/openapi.json" not in body["paths"] and "/docs" not in body["paths"] and "/dashboard" not in body["paths"]


def test_served_openapi_is_openapi_document_of_the_app(messages: FakeMessages) -> None:
    app = app_of(messages)
    answer = request(app, "/openapi.json")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.text == openapi_document(app)
    assert answer.body == json.loads(openapi_document(app_of(FakeMessages(), api_keys=True)))


def test_openapi_has_no_422_answers(messages: FakeMessages) -> None:
    _, body = get(messages, "/openapi.json")
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], f"{method} {path}"
            assert "200" in operation["responses"], f"{method} {path}"
    schemas = body["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert "ErrorBody" in schemas


def test_openapi_dashboard_routes_take_the_key_and_the_others_iam(messages: FakeMessages) -> None:
    _, body = get(messages, "/openapi.json")
    assert body["security"] == [{"iam": []}]
    assert set(body["components"]["securitySchemes"]) == {"iam", "dashboardKey"}
    for path, operations in body["paths"].items():
        for operation in operations.values():
            if path.startswith("/dashboard/api"):
                assert operation["security"] == [{"dashboardKey": []}], path
            else:
                assert operation.get("security", body["security"]) == [{"iam": []}], path


def test_docs_is_an_html_page_of_every_route(messages: FakeMessages) -> None:
    answer = request(app_of(messages), "/docs")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert page.startswith("<!doctype html>")
    _, document = get(messages, "/openapi.json")
    for path in document["paths"]:
        assert f"<code>{path}</code>" in page
    assert "<script" not in page.lower() and "https://" not in page.split("</style>")[0], "no scripts, no CDN"
    # text from the document is escaped: "The brand's id" is a parameter's description
    assert "The brand&#x27;s id" in page
    assert "The brand's id" not in page


def test_docs_escapes_markup_in_the_document() -> None:
    hostile = "<script>alert(1)</script>"
    document = {
        "info": {"title": hostile, "version": '1"><img src=x>', "description": hostile},
        "paths": {
            "/a/{x}": {
                "get": {
                    "summary": hostile,
                    "description": hostile,
                    "security": [{hostile: []}],
                    "parameters": [
                        {"name": hostile, "in": "query", "description": hostile, "schema": {"enum": [hostile]}}
                    ],
                    "responses": {"200": {"description": hostile}},
                }
            }
        },
        "components": {"schemas": {hostile: {"description": hostile}}},
    }
    page = docs.render(document)
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;" in page


# --- every route declares the errors it gives ----------------------------------------------------------------


ERRORS = [
    ("GET", "/brands/{brand_id}/stats", "/brands/nobody/stats", "", None, 404),
    ("GET", "/brands/{brand_id}/stats", STATS, "from=2026-11-20&to=2026-11-10", None, 400),
    ("GET", "/brands/{brand_id}/stats", "/brands/Not_A_Slug!/stats", "", None, 400),
    ("GET", "/brands/{brand_id}/stats/timeseries", "/brands/nobody/stats/timeseries", "", None, 404),
    ("GET", "/brands/{brand_id}/stats/timeseries", TIMESERIES, "interval=year", None, 400),
    ("GET", "/brands/{brand_id}/messages", "/brands/nobody/messages", "", None, 404),
    ("GET", "/brands/{brand_id}/messages", MESSAGES, "limit=0", None, 400),
    (
        "POST",
        "/brands/{brand_id}/messages/{message}/resolve",
        resolve_path("acme#mastodon#404"),
        "",
        {"reason": "phone"},
        404,
    ),
    (
        "POST",
        "/brands/{brand_id}/messages/{message}/resolve",
        resolve_path("acme#mastodon#9101"),
        "",
        {"reason": "x"},
        400,
    ),
    (
        "POST",
        "/brands/{brand_id}/messages/{message}/resolve",
        resolve_path("acme#mastodon#9102"),
        "",
        {"reason": "phone"},
        409,
    ),
    ("GET", "/brands/{brand_id}/sources", "/brands/nobody/sources", "", None, 404),
    ("GET", "/brands/{brand_id}/sources", "/brands/NOPE/sources", "", None, 400),
    ("GET", "/dashboard/api/brands", "/dashboard/api/brands", "", None, 403),
    ("GET", "/dashboard/api/brands/{brand_id}/stats", "/dashboard/api/brands/acme/stats", "", None, 403),
    # the key is checked before the parameters: without keys on the stack, a malformed one is 403 too
    ("GET", "/dashboard/api/brands/{brand_id}/stats", "/dashboard/api/brands/acme/stats", "tz=../x", None, 403),
    (
        "GET",
        "/dashboard/api/brands/{brand_id}/stats/timeseries",
        "/dashboard/api/brands/acme/stats/timeseries",
        "",
        None,
        403,
    ),
]


@pytest.mark.parametrize(("method", "template", "path", "query", "body", "expected"), ERRORS)
def test_every_route_declares_the_errors_it_gives(
    waiting: FakeMessages, method: str, template: str, path: str, query: str, body: Any, expected: int
) -> None:
    app = app_of(waiting)
    answer = request(app, path, query, method=method, body=body)
    assert answer.status == expected, answer.text
    assert isinstance(answer.body["message"], str) and answer.body["message"]
    declared = json.loads(openapi_document(app))["paths"][template][method.lower()]["responses"]
    assert str(expected) in declared, f"{method} {template} answers {expected} without declaring it"
    assert declared[str(expected)]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_every_route_with_a_parameter_declares_400(messages: FakeMessages) -> None:
    _, body = get(messages, "/openapi.json")
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            if operation.get("parameters") or operation.get("requestBody"):
                assert "400" in operation["responses"], f"{method} {path}"
            if "{brand_id}" in path:
                assert "404" in operation["responses"], f"{method} {path}"
            if path.startswith("/dashboard/api"):
                assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"


def test_time_zone_offsets_of_the_past_are_refused_by_the_api_not_by_a_500(messages: FakeMessages) -> None:
    # every zone's midnight is on a quarter hour since 2000; the API refuses earlier years
    status, body = get(messages, STATS, "tz=Asia/Kolkata&from=1900-01-01&to=1900-01-02")
    assert_bad_request(status, body)
    assert messages.aggregate_calls == []


# --- odd requests: never a 5xx, and a message that says what is wrong ---------------------------------


@pytest.fixture
def one_waiting() -> FakeMessages:
    messages = FakeMessages()
    record = queued("9101", 60)
    messages.records[record.key] = record
    return messages


RESOLVE_9101 = f"/brands/acme/messages/{message_id('acme#mastodon#9101')}/resolve"


@pytest.mark.parametrize("body", ["[" * 20000, '{"reason":' * 20000])
def test_a_body_nested_too_deeply_for_the_json_parser_is_a_400(one_waiting: FakeMessages, body: str) -> None:
    answer = request(app_of(one_waiting), RESOLVE_9101, method="POST", body=body)
    assert answer.status == 400 and "nested too deeply" in answer.body["message"]
    assert one_waiting.resolve_calls == []


@pytest.mark.parametrize(
    ("path", "query", "where"),
    [
        ("/brands/acme/stats", "from=2026-11-01&from=2026-11-02", "query.from"),
        ("/brands/acme/stats", "tz=UTC&tz=UTC", "query.tz"),
        ("/brands/acme/messages", "status=open&status=open", "query.status"),
        ("/brands/acme/messages", "limit=5&limit=5", "query.limit"),
    ],
)
def test_a_parameter_given_twice_is_said_to_be_given_twice(path: str, query: str, where: str) -> None:
    answer = request(app_of(FakeMessages()), path, query)
    assert answer.status == 400
    assert {"where": where, "problem": "given more than once: give it once"} in answer.body["details"]


def _post_as(app: Any, media: str, body: str) -> dict[str, Any]:
    event = rest_event(RESOLVE_9101, "", "POST")
    event["headers"], event["multiValueHeaders"] = {"Content-Type": media}, {"Content-Type": [media]}
    event["body"] = body
    return app.resolve(event, LambdaContext())  # type: ignore[no-any-return]


@pytest.mark.parametrize("media", ["APPLICATION/JSON", "Application/Json; charset=UTF-8"])
def test_the_json_media_type_is_read_whatever_its_case(one_waiting: FakeMessages, media: str) -> None:
    response = _post_as(app_of(one_waiting), media, '{"reason": "phone"}')
    assert response["statusCode"] == 200, response["body"]
    assert [call["resolution"] for call in one_waiting.resolve_calls] == [Resolution.PHONE]


@pytest.mark.filterwarnings("ignore:Received multipart/form-data without base64 encoding")
@pytest.mark.parametrize(
    ("media", "body"),
    [("application/x-www-form-urlencoded", "reason=phone"), ("multipart/form-data; boundary=x", "--x--")],
)
def test_a_form_body_is_415_as_documented_not_a_400_about_its_fields(
    one_waiting: FakeMessages, media: str, body: str
) -> None:
    response = _post_as(app_of(one_waiting), media, body)
    assert response["statusCode"] == 415, response["body"]
    assert one_waiting.resolve_calls == []


@pytest.mark.parametrize("tz", ["localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/London"])
def test_zone_files_that_are_not_iana_zones_are_refused_as_tz(tz: str) -> None:
    answer = request(app_of(FakeMessages()), "/brands/acme/stats", urlencode({"tz": tz}))
    assert answer.status == 400 and "not an IANA time zone" in answer.body["message"]


def test_resolving_imported_history_or_a_follow_up_says_why_it_cannot_be() -> None:
    messages = FakeMessages()
    imported = queued("9200", 600).model_copy(update={"status": None, "imported": True, "counted": True})
    follow_up = queued("9201", 600).model_copy(
        update={"status": None, "counted": True, "opener_key": "acme#mastodon#9101"}
    )
    for record in (imported, follow_up):
        messages.records[record.key] = record
    app = app_of(messages)
    answer = request(
        app, f"/brands/acme/messages/{message_id(imported.key)}/resolve", method="POST", body={"reason": "phone"}
    )
    assert answer.status == 409 and "imported history" in answer.body["message"]
    answer = request(
        app, f"/brands/acme/messages/{message_id(follow_up.key)}/resolve", method="POST", body={"reason": "phone"}
    )
    assert answer.status == 409
    assert f"conversation opened by {message_id('acme#mastodon#9101')!r}" in answer.body["message"]


def test_counters_kept_busy_through_every_retry_are_a_503_to_retry_not_a_500(one_waiting: FakeMessages) -> None:
    one_waiting.resolve_errors.append(Busy())
    answer = request(app_of(one_waiting), RESOLVE_9101, method="POST", body={"reason": "phone"})
    assert answer.status == 503 and answer.headers["retry-after"] == "1"
    assert "try again" in answer.body["message"]
