"""The HTTP API built by create_app() over in-memory readers: status codes, messages and shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from replywatch.api import MAX_PAGE, MAX_RANGE_DAYS, create_app
from replywatch.models import (
    Brand,
    Health,
    MessageKind,
    MessageRecord,
    MessageStatus,
    Sentiment,
    Source,
    SourceState,
    Usage,
)
from replywatch.stats import Backlog, DayAggregate, StatsResponse, bucket_of
from replywatch.store import QueuePage
from tests.support.aws import LambdaContext
from tests.support.events import rest_event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
STATS = "/brands/acme/stats"
MESSAGES = "/brands/acme/messages"
NEXT_KEY = {
    "pk": {"S": "acme#open"},
    "queue_sk": {"S": "2026-11-23T09:00:00+00:00#mastodon#9101"},
    "platform_key": {"S": "mastodon#9101"},
}


def queued(platform_id: str, minutes_ago: int) -> MessageRecord:
    created = NOW - timedelta(minutes=minutes_ago)
    return MessageRecord(
        brand="acme",
        platform="mastodon",
        source_id="acme-social",
        platform_id=platform_id,
        author_id="7",
        author_handle="@dana@elsewhere.example",
        text=f"question {platform_id}",
        permalink=f"https://elsewhere.example/@dana/{platform_id}",
        created_at=created,
        kind=MessageKind.MENTION,
        status=MessageStatus.OPEN,
        due_at=created + timedelta(hours=1),
        sentiment=Sentiment.NEUTRAL,
    )


@dataclass
class FakeMessages:
    """A StatsReader that remembers how it was asked."""

    days: list[DayAggregate] = field(default_factory=list)
    open_backlog: Backlog = field(default_factory=Backlog)
    pages: dict[str | None, QueuePage] = field(default_factory=dict)  # keyed by json of the start key
    aggregate_calls: list[tuple[str, date, date]] = field(default_factory=list)
    queue_calls: list[dict[str, Any]] = field(default_factory=list)

    def day_aggregates(self, brand: str, first: date, last: date) -> list[DayAggregate]:
        self.aggregate_calls.append((brand, first, last))
        return self.days

    def backlog(self, brand: str) -> Backlog:
        return self.open_backlog

    def queue(self, brand: str, status: str, *, limit: int, start: dict[str, Any] | None = None) -> QueuePage:
        self.queue_calls.append({"brand": brand, "status": status, "limit": limit, "start": start})
        key = json.dumps(start, sort_keys=True) if start is not None else None
        return self.pages.get(key, QueuePage(messages=[], next_token=None))


def _source(brand_id: str, source_id: str) -> Source:
    return Source(
        brand_id=brand_id,
        source_id=source_id,
        platform="x",
        base_url="https://api.x.com",
        token_secret=f"replywatch/{brand_id}/{source_id}",
    )


class FakeBrands:
    def get_brand(self, brand_id: str) -> Brand | None:
        return Brand(brand_id="acme", name="Acme") if brand_id == "acme" else None

    def list_sources(self) -> list[tuple[Source, SourceState]]:
        return [
            (
                _source("acme", "acme-x"),
                SourceState(
                    health=Health.AUTH_FAILED,
                    failing_since=NOW - timedelta(hours=2),
                    last_ok_at=NOW - timedelta(hours=2, minutes=1),
                    usage=Usage(period="2026-11", used=9000, limit=10000),
                ),
            ),
            (_source("acme", "acme-help"), SourceState(last_ok_at=NOW, last_inbound_at=NOW - timedelta(hours=1))),
            (_source("globex", "globex-x"), SourceState()),
        ]


@pytest.fixture
def messages() -> FakeMessages:
    return FakeMessages(
        days=[
            DayAggregate(
                day=TODAY - timedelta(days=1),
                channel="mention",
                received=4,
                responded=3,
                response_seconds_sum=900,
                within_sla=3,
                negative=1,
                histogram={bucket_of(120): 1, bucket_of(300): 1, bucket_of(480): 1},
            ),
            DayAggregate(
                day=TODAY,
                channel="mention",
                received=4,
                responded=1,
                response_seconds_sum=7200,
                within_sla=0,
                histogram={bucket_of(7200): 1},
            ),
        ],
        open_backlog=Backlog(open=4, overdue=2, oldest_open_at=NOW - timedelta(hours=3)),
        pages={
            None: QueuePage(messages=[queued("9101", 180), queued("9102", 150)], next_token=NEXT_KEY),
            json.dumps(NEXT_KEY, sort_keys=True): QueuePage(messages=[queued("9103", 20)], next_token=None),
        },
    )


def get(messages: FakeMessages, path: str, query: str = "") -> tuple[int, Any]:
    app = create_app(messages=messages, brands=FakeBrands(), clock=lambda: NOW)
    response = app.resolve(rest_event(path, query), LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def assert_bad_request(status: int, body: Any) -> None:
    assert status == 400, body
    assert isinstance(body, dict)
    assert isinstance(body.get("message"), str) and body["message"]


# --- not found and bad requests --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/brands/globex/stats", "/brands/globex/messages"])
def test_unknown_brand_is_404_with_a_message(messages: FakeMessages, path: str) -> None:
    status, body = get(messages, path)
    assert status == 404
    assert "globex" in body["message"]
    assert messages.aggregate_calls == [] and messages.queue_calls == []


@pytest.mark.parametrize("query", ["from=not-a-date", "to=yesterday", "from=2026-02-30", "from=2026-11-23T10:15:00"])
def test_unparseable_dates_are_400_with_a_message(messages: FakeMessages, query: str) -> None:
    status, body = get(messages, STATS, query)
    assert_bad_request(status, body)
    assert messages.aggregate_calls == []


def test_validation_errors_say_which_parameter(messages: FakeMessages) -> None:
    _, body = get(messages, STATS, "from=not-a-date")
    assert [detail["where"] for detail in body["details"]] == ["query.from"]


def test_from_after_to_is_400(messages: FakeMessages) -> None:
    status, body = get(messages, STATS, "from=2026-11-20&to=2026-11-10")
    assert_bad_request(status, body)
    assert "from" in body["message"]


def test_a_range_over_the_maximum_is_400(messages: FakeMessages) -> None:
    first = date(2025, 1, 1)
    last = first + timedelta(days=MAX_RANGE_DAYS)  # MAX_RANGE_DAYS + 1 days, inclusive
    status, body = get(messages, STATS, f"from={first}&to={last}")
    assert_bad_request(status, body)
    assert str(MAX_RANGE_DAYS) in body["message"]


def test_a_range_of_exactly_the_maximum_is_allowed(messages: FakeMessages) -> None:
    first = date(2025, 1, 1)
    last = first + timedelta(days=MAX_RANGE_DAYS - 1)
    status, _ = get(messages, STATS, f"from={first}&to={last}")
    assert status == 200
    assert messages.aggregate_calls == [("acme", first, last)]


def test_from_far_in_the_past_without_to_is_400(messages: FakeMessages) -> None:
    status, body = get(messages, STATS, "from=0001-01-01")
    assert_bad_request(status, body)


def test_to_near_the_first_representable_day_is_400_not_500(messages: FakeMessages) -> None:
    # without 'from' the range starts 29 days before 'to', which is before date.min here
    status, body = get(messages, STATS, "to=0001-01-10")
    assert_bad_request(status, body)


@pytest.mark.parametrize("query", ["status=bogus", "status=OPEN", "status=answered"])
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


# --- stats -------------------------------------------------------------------------------------------


def test_stats_has_every_field_of_the_response_model(messages: FakeMessages) -> None:
    status, body = get(messages, STATS, "from=2026-11-01&to=2026-11-23")
    assert status == 200, body
    expected = {info.alias or name for name, info in StatsResponse.model_fields.items()}
    assert set(body) == expected
    assert {"from", "to"} <= set(body)
    assert body["from"] == "2026-11-01"
    assert body["to"] == "2026-11-23"


def test_stats_values_come_from_the_summary(messages: FakeMessages) -> None:
    _, body = get(messages, STATS, "from=2026-11-01&to=2026-11-23")
    assert body["brand"] == "acme"
    assert datetime.fromisoformat(body["as_of"]) == NOW
    assert body["received"] == 8
    assert body["responded"] == 4
    assert body["response_rate"] == 0.5
    assert body["first_response_mean_seconds"] == 2025.0  # 8100 / 4
    assert body["within_sla_percent"] == 37.5  # 3 / 8
    assert body["first_response_median_seconds"] == pytest.approx(300, rel=0.01)
    assert body["first_response_p90_seconds"] == pytest.approx(7200, rel=0.01)
    assert body["negative"] == 1
    assert body["open"] == 4
    assert body["overdue"] == 2
    assert body["oldest_open_age_seconds"] == 3 * 3600


def test_stats_default_range_is_the_last_30_days_ending_today(messages: FakeMessages) -> None:
    status, body = get(messages, STATS)
    assert status == 200
    assert messages.aggregate_calls == [("acme", TODAY - timedelta(days=29), TODAY)]
    assert (body["from"], body["to"]) == (str(TODAY - timedelta(days=29)), str(TODAY))


def test_stats_with_only_to_ends_the_default_range_there(messages: FakeMessages) -> None:
    get(messages, STATS, "to=2026-06-30")
    assert messages.aggregate_calls == [("acme", date(2026, 6, 1), date(2026, 6, 30))]


def test_stats_for_a_single_day(messages: FakeMessages) -> None:
    status, _ = get(messages, STATS, "from=2026-11-23&to=2026-11-23")
    assert status == 200
    assert messages.aggregate_calls == [("acme", TODAY, TODAY)]


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


@pytest.mark.parametrize("wanted", ["open", "overdue", "negative"])
def test_messages_passes_the_status_through(messages: FakeMessages, wanted: str) -> None:
    status, _ = get(messages, MESSAGES, f"status={wanted}&limit={MAX_PAGE}")
    assert status == 200
    assert messages.queue_calls == [{"brand": "acme", "status": wanted, "limit": MAX_PAGE, "start": None}]


# --- OpenAPI -------------------------------------------------------------------------------------------


def test_openapi_document_lists_the_routes(messages: FakeMessages) -> None:
    status, body = get(messages, "/openapi.json")
    assert status == 200
    assert "/brands/{brand_id}/stats" in body["paths"]
    assert "/brands/{brand_id}/messages" in body["paths"]
    assert "/openapi.json" not in body["paths"]


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
