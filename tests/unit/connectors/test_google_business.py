"""GoogleBusinessConnector.pages() against an in-process fake of the Business Profile API v4.

The fake serves ``accounts.locations.reviews.list`` shaped like
tests/fixtures/google_business/reviews.json (the documented Review / ListReviewsResponse):
``orderBy=updateTime desc``, ``pageSize`` (max 50), opaque ``pageToken``/``nextPageToken``, Google's
error bodies; and a token endpoint that trades the source's refresh token for access tokens.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from replywatch.connectors.base import AuthFailed, ConnectorError, Page, RateLimited, SessionCache
from replywatch.connectors.google_business import GoogleBusinessConnector
from replywatch.models import MessageKind, Source
from tests.support.connectors import (
    Scripted,
    acme_source,
    assert_logged_by_id_only,
    captured_logs,
    collect,
    malformed,
    platform_ids,
    scripted_answer,
)

FIXTURE = json.loads((Path(__file__).parents[2] / "fixtures" / "google_business" / "reviews.json").read_text())
NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
WINDOW = NOW - timedelta(hours=24)
LOCATION = "accounts/108234567890123456789/locations/4321987654321098765"
BASE = "https://gbp.test/v4"
PATH = f"/v4/{LOCATION}/reviews"
TOKEN_URL = "https://oauth.test/token"
SOURCE = acme_source("google_business", "soho", BASE, location=LOCATION, token_url=TOKEN_URL)
SECRET = json.dumps({"client_id": "1234.apps.googleusercontent.com", "client_secret": "cs", "refresh_token": "1//r"})


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- fixtures in the documented shapes -----------------------------------------------------------------


def review(
    number: int,
    *,
    created: datetime,
    updated: datetime | None = None,
    stars: str = "FOUR",
    comment: str | None = None,
    reply: str | None = None,
    replied: datetime | None = None,
    bump: bool = True,
) -> dict[str, Any]:
    """A review; ``bump=False``: a reply that leaves the review's updateTime as it was."""
    item = copy.deepcopy(FIXTURE["reviews"][0])
    review_id = f"AIe9_review{number:06d}"
    item.update(
        name=f"{LOCATION}/reviews/{review_id}",
        reviewId=review_id,
        starRating=stars,
        createTime=stamp(created),
        updateTime=stamp(max(updated or created, (replied if bump else None) or created)),
    )
    item["reviewer"]["displayName"] = f"Customer {number}"
    if comment is None:
        item["comment"] = f"review {number}"
    else:
        item["comment"] = comment
    if reply is None:
        del item["reviewReply"]
    else:
        item["reviewReply"] = {"comment": reply, "updateTime": stamp(replied or created)}
    return item


def reviews(first: int, count: int, *, newest: float = 0.5, step: float = 0.1) -> list[dict[str, Any]]:
    return [review(first + n, created=ago(newest + (count - 1 - n) * step)) for n in range(count)]


def rid(number: int) -> str:
    return f"AIe9_review{number:06d}"


def google_error(code: int, status: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


# --- the fake -------------------------------------------------------------------------------------------


@dataclass
class FakeBusinessProfile:
    items: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 50
    scripted: list[Scripted] = field(default_factory=list)  # for the reviews endpoint
    token_answers: list[httpx.Response] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    requests: list[httpx.Request] = field(default_factory=list)
    refreshes: int = 0
    stale: set[str] = field(default_factory=set)
    served: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == TOKEN_URL:
            return self.token(request)
        answer = scripted_answer(self.scripted, request)
        if answer is not None:
            return answer
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.valid_tokens:
            return httpx.Response(
                401,
                json=google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
            )
        if request.url.path != PATH:
            return httpx.Response(404, json=google_error(404, "NOT_FOUND", "Requested entity was not found."))
        params = request.url.params
        assert params["orderBy"] == "updateTime desc"
        token = params.get("pageToken")
        if token in self.stale:
            return httpx.Response(400, json=google_error(400, "INVALID_ARGUMENT", "Invalid page token."))
        listed = sorted(self.items, key=lambda item: (item["updateTime"], item["reviewId"]), reverse=True)
        offset = int(base64.b64decode(token).decode().split(":")[0]) if token else 0
        size = min(int(params.get("pageSize", "10")), 50, self.page_size)
        body: dict[str, Any] = {"averageRating": 4.1, "totalReviewCount": len(listed)}
        if listed[offset : offset + size]:
            body["reviews"] = listed[offset : offset + size]
        if offset + size < len(listed):
            self.served += 1
            body["nextPageToken"] = base64.b64encode(f"{offset + size}:{self.served}".encode()).decode()
        return httpx.Response(200, json=body)

    def token(self, request: httpx.Request) -> httpx.Response:
        self.refreshes += 1
        if self.token_answers:
            return self.token_answers.pop(0)
        form = parse_qs(request.content.decode())
        assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["1//r"]
        access = f"ya29.token{self.refreshes}"
        self.valid_tokens.add(access)
        return httpx.Response(200, json={"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    def api_requests(self) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == PATH]


def poll(
    fake: FakeBusinessProfile,
    *,
    cursor: dict[str, str],
    max_pages: int = 10,
    now: datetime = NOW,
    sessions: SessionCache | None = None,
    source: Source = SOURCE,
) -> tuple[list[Page], ConnectorError | None]:
    return collect(
        GoogleBusinessConnector(),
        fake.handle,
        source=source,
        secret=SECRET,
        now=now,
        cursor=cursor,
        max_pages=max_pages,
        backfill_from=now - timedelta(hours=24),
        sessions=sessions,
    )


def caught_up(fake: FakeBusinessProfile) -> dict[str, str]:
    pages, failure = poll(fake, cursor={})
    assert failure is None
    fake.requests.clear()
    return pages[-1].cursor


@pytest.fixture
def gbp_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.google_business") as records:
        yield records


# --- what becomes a message -------------------------------------------------------------------------------


def test_the_fixture_page_becomes_reviews_with_stars_and_the_owners_reply() -> None:
    fake = FakeBusinessProfile(scripted=[httpx.Response(200, json=FIXTURE)])
    cursor = {"since": ago(48).isoformat(), "reviews": ago(40).isoformat(), "reviews_ids": "[]"}
    pages, failure = poll(fake, cursor=cursor, max_pages=1)
    assert failure is None
    answered, reply, rating_only, anonymous = pages[0].messages
    assert answered.platform_id == "AIe9_BGx4rYdOEpSj2kV1mQ7tZcNwLh3"
    assert answered.kind is MessageKind.REVIEW and answered.rating == 2 and not answered.from_brand
    assert answered.author_handle == "Priya Raman"
    assert answered.created_at == datetime(2026, 11, 23, 9, 14, 5, 123456, tzinfo=UTC)  # createTime
    assert answered.text.startswith("Waited 40 minutes")
    assert reply.from_brand is True
    assert reply.platform_id == "AIe9_BGx4rYdOEpSj2kV1mQ7tZcNwLh3#reply"
    assert reply.parent_id == answered.platform_id and reply.thread_id == answered.platform_id
    assert reply.parent_author_id == answered.author_id
    assert reply.author_id == LOCATION
    assert reply.created_at == datetime(2026, 11, 23, 11, 2, 41, 918273, tzinfo=UTC)
    assert reply.rating is None
    assert rating_only.rating == 5 and rating_only.text == ""
    assert anonymous.rating is None  # STAR_RATING_UNSPECIFIED
    assert anonymous.author_handle == "anonymous"
    assert pages[0].cursor["reviews_token"] == FIXTURE["nextPageToken"]


def test_requests_carry_the_documented_parameters_and_the_access_token() -> None:
    fake = FakeBusinessProfile(items=reviews(1, 120), page_size=50)
    pages, failure = poll(fake, cursor={})
    assert failure is None
    requests = fake.api_requests()
    assert len(requests) == 3 + 3  # the walk's three pages, then the reply sweep's three
    for request in requests:
        assert str(request.url).startswith(f"{BASE}/{LOCATION}/reviews?")
        assert request.url.params["pageSize"] == "50"
        assert request.url.params["orderBy"] == "updateTime desc"
        assert request.headers["Authorization"] == "Bearer ya29.token1"
    assert "pageToken" not in requests[0].url.params and requests[1].url.params["pageToken"]
    assert "pageToken" not in requests[3].url.params and requests[4].url.params["pageToken"]
    assert fake.refreshes == 1  # one refresh for the whole poll
    assert len(platform_ids(pages)) == 120


# --- paging -------------------------------------------------------------------------------------------------


def test_pages_across_several_pages_without_duplicates_or_gaps() -> None:
    fake = FakeBusinessProfile(items=reviews(1, 5, newest=30), page_size=10)
    cursor = caught_up(fake)
    fake.items += reviews(100, 45, newest=0.5, step=0.05)
    pages, failure = poll(fake, cursor=cursor)
    assert failure is None
    assert len(fake.api_requests()) == 5 + 5  # the walk, then the reply sweep over the same 45 reviews
    got = platform_ids(pages)
    assert sorted(got) == [rid(n) for n in range(100, 145)]
    assert pages[-1].cursor["reviews"] == ago(0.5).isoformat()
    assert "reviews_token" not in pages[-1].cursor


def test_the_page_bound_stops_a_walk_that_the_next_poll_finishes() -> None:
    fake = FakeBusinessProfile(items=reviews(1, 3, newest=30), page_size=10)
    cursor = caught_up(fake)
    fake.items += reviews(100, 50, newest=1, step=0.01)
    first, failure = poll(fake, cursor=cursor, max_pages=3)
    assert failure is None
    assert len(fake.api_requests()) == 3 + 3 and len(platform_ids(first)) == 30  # each stream within its bound
    assert first[-1].cursor["reviews"] == cursor["reviews"]  # the mark waits for the walk to reach it
    fake.items += reviews(500, 4, newest=0.2, step=0.01)
    later, failure = poll(fake, cursor=first[-1].cursor, max_pages=4)
    assert failure is None
    # three pages finish the walk (new reviews shifted it: a few are read twice), a fourth reads what is new;
    # the sweep's pass (six pages then: 50 new reviews and those before them) ends in three more
    assert len(fake.api_requests()) == (3 + 3) + (4 + 3)
    assert "replies_token" not in later[-1].cursor
    got = platform_ids(first) + platform_ids(later)
    assert set(got) == {rid(n) for n in [*range(100, 150), *range(500, 504)]}
    assert later[-1].cursor["reviews"] == ago(0.2).isoformat()
    assert "reviews_token" not in later[-1].cursor


def test_a_refused_page_token_restarts_the_walk() -> None:
    fake = FakeBusinessProfile(items=reviews(1, 3, newest=30), page_size=10)
    cursor = caught_up(fake)
    fake.items += reviews(100, 30, newest=1, step=0.01)
    first, _ = poll(fake, cursor=cursor, max_pages=1)
    fake.stale.add(first[-1].cursor["reviews_token"])
    later, failure = poll(fake, cursor=first[-1].cursor)
    assert failure is None
    assert set(platform_ids(first) + platform_ids(later)) == {rid(n) for n in range(100, 130)}


def test_a_new_source_reads_back_only_through_its_backfill_window() -> None:
    fake = FakeBusinessProfile(items=reviews(1, 60, newest=0.5, step=1), page_size=10)
    pages, failure = poll(fake, cursor={})
    assert failure is None
    assert set(platform_ids(pages)) == {rid(n) for n in range(1, 61) if ago(0.5 + 60 - n) >= WINDOW}
    assert len(platform_ids(pages)) == 24
    assert len(fake.api_requests()) == 3 + 3  # the third page crosses the window's start, for each stream
    assert pages[-1].cursor["since"] == WINDOW.isoformat()


# --- the owner's replies --------------------------------------------------------------------------------


def test_a_reply_to_a_review_read_earlier_brings_it_back_to_the_top_and_is_found() -> None:
    fake = FakeBusinessProfile(items=[review(1, created=ago(20), stars="ONE"), *reviews(10, 30, newest=1)])
    cursor = caught_up(fake)
    fake.items[0] = review(1, created=ago(20), stars="ONE", reply="We have called you.", replied=ago(0.1))
    pages, failure = poll(fake, cursor=cursor)
    assert failure is None
    (reply,) = [message for page in pages for message in page.messages if message.from_brand]
    assert reply.platform_id == f"{rid(1)}#reply" and reply.parent_id == rid(1)
    assert reply.created_at == ago(0.1)
    assert platform_ids(pages, from_brand=False) == [rid(1)]  # read again with it: the same review, stored once
    assert len(fake.api_requests()) == 1 + 1  # the walk sent the reply: the sweep does not send it again


def test_reviews_from_before_the_source_was_connected_stay_out_even_when_answered_now() -> None:
    fake = FakeBusinessProfile(items=[review(1, created=ago(100)), review(2, created=ago(2))])
    cursor = caught_up(fake)
    fake.items[0] = review(1, created=ago(100), reply="Thanks!", replied=ago(0.1))
    pages, failure = poll(fake, cursor=cursor)
    assert failure is None
    assert platform_ids(pages) == []
    assert pages[-1].cursor["reviews"] == ago(0.1).isoformat()


def test_a_reviews_rating_is_kept_for_every_star_value() -> None:
    fake = FakeBusinessProfile(
        items=[
            review(n, created=ago(n), stars=name) for n, name in enumerate(["ONE", "TWO", "THREE", "FOUR", "FIVE"], 1)
        ]
    )
    pages, _ = poll(fake, cursor={})
    assert {message.platform_id: message.rating for page in pages for message in page.messages} == {
        rid(n): n for n in range(1, 6)
    }


# --- malformed items ------------------------------------------------------------------------------------------

PRIVATE = "call me on +44 7700 900123, card ends 4242"


def test_malformed_reviews_are_logged_by_id_only_and_skipped(gbp_log: list[logging.LogRecord]) -> None:
    no_time = review(7, created=ago(1.5), comment=PRIVATE)
    del no_time["createTime"]
    bad_reviewer = review(8, created=ago(1.6), comment=PRIVATE)
    bad_reviewer["reviewer"] = "Priya"
    fake = FakeBusinessProfile(items=[*reviews(1, 3, newest=1), no_time, bad_reviewer])
    pages, failure = poll(fake, cursor={})
    assert failure is None
    assert sorted(platform_ids(pages)) == [rid(1), rid(2), rid(3)]
    assert pages[0].skipped == 2
    skipped = malformed(gbp_log)
    assert {getattr(record, "item_id", None) for record in skipped} == {rid(7), rid(8)}
    assert_logged_by_id_only(gbp_log, "4242", "7700")


# --- errors, limits and auth -----------------------------------------------------------------------------------


def test_429_raises_rate_limited_at_retry_after() -> None:
    fake = FakeBusinessProfile(
        items=reviews(1, 30),
        page_size=10,
        scripted=[
            None,
            httpx.Response(
                429,
                headers={"Retry-After": "45"},
                json=google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Requests'"),
            ),
        ],
    )
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited)
    assert failure.retry_at == NOW + timedelta(seconds=45)
    assert len(pages) == 1 and len(platform_ids(pages)) == 10


def test_403_resource_exhausted_is_rate_limited_at_googles_retry_delay() -> None:
    body = google_error(
        403,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded",
        details=[
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
        ],
    )
    fake = FakeBusinessProfile(scripted=[httpx.Response(403, json=body)])
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited)
    assert failure.retry_at == NOW + timedelta(seconds=37)
    assert pages == []


def test_403_rate_limit_exceeded_reason_is_rate_limited() -> None:
    body = google_error(
        403,
        "PERMISSION_DENIED",
        "Rate Limit Exceeded",
        errors=[{"reason": "rateLimitExceeded", "domain": "usageLimits"}],
    )
    pages, failure = poll(FakeBusinessProfile(scripted=[httpx.Response(403, json=body)]), cursor={})
    assert pages == []
    assert isinstance(failure, RateLimited)
    assert failure.retry_at == NOW + timedelta(minutes=1)


def test_403_permission_denied_is_auth_failed() -> None:
    body = google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
    pages, failure = poll(FakeBusinessProfile(scripted=[httpx.Response(403, json=body)]), cursor={})
    assert isinstance(failure, AuthFailed) and pages == []


def test_an_expired_access_token_is_refreshed_once_then_the_poll_goes_on() -> None:
    sessions = SessionCache()
    fake = FakeBusinessProfile(items=reviews(1, 3))
    caught = poll(fake, cursor={}, sessions=sessions)[0][-1].cursor
    fake.valid_tokens.clear()  # Google expired it early
    fake.items += reviews(10, 2, newest=0.1)
    pages, failure = poll(fake, cursor=caught, sessions=sessions)
    assert failure is None
    assert sorted(platform_ids(pages)) == [rid(10), rid(11)]
    assert fake.refreshes == 2


def test_a_token_refused_even_when_fresh_is_auth_failed() -> None:
    fake = FakeBusinessProfile(items=reviews(1, 3))
    fake.scripted = [
        httpx.Response(401, json=google_error(401, "UNAUTHENTICATED", "Request had invalid authentication"))
    ] * 2
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, AuthFailed)
    assert pages == []


def test_a_revoked_refresh_token_is_auth_failed() -> None:
    fake = FakeBusinessProfile(
        items=reviews(1, 3),
        token_answers=[
            httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            )
        ],
    )
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, AuthFailed)
    assert pages == [] and fake.api_requests() == []


def test_a_200_that_is_not_json_is_a_connector_error() -> None:
    fake = FakeBusinessProfile(scripted=[httpx.Response(200, text="<html>Error 502</html>")])
    pages, failure = poll(fake, cursor={})
    assert type(failure) is ConnectorError and pages == []


@pytest.mark.parametrize("location", ["", "locations/456", "accounts/1/locations/2/../../x", "accounts/1"])
def test_a_missing_or_malformed_location_is_a_connector_error(location: str) -> None:
    source = SOURCE.model_copy(update={"options": {"location": location, "token_url": TOKEN_URL}})
    fake = FakeBusinessProfile()
    pages, failure = poll(fake, cursor={}, source=source)
    assert type(failure) is ConnectorError and pages == [] and fake.requests == []


# --- the reply sweep: replies that do not move their review ----------------------------------------------


def test_a_reply_that_leaves_its_reviews_update_time_is_found_by_the_sweep() -> None:
    fake = FakeBusinessProfile(items=[review(1, created=ago(20), stars="ONE"), *reviews(10, 30, newest=1)])
    cursor = caught_up(fake)
    fake.items[0] = review(1, created=ago(20), stars="ONE", reply="We have called you.", replied=ago(0.1), bump=False)
    assert fake.items[0]["updateTime"] == stamp(ago(20))  # the walk cannot see it: nothing moved
    pages, failure = poll(fake, cursor=cursor)
    assert failure is None
    (reply,) = [message for page in pages for message in page.messages if message.from_brand]
    assert reply.platform_id == f"{rid(1)}#reply" and reply.parent_id == rid(1)
    assert reply.created_at == ago(0.1) and reply.text == "We have called you."
    assert platform_ids(pages, from_brand=False) == []
    assert len(fake.api_requests()) == 2  # the walk's one page, the sweep's one page


def test_the_reply_sweep_spreads_a_pass_over_polls_and_sends_replies_updated_since_the_last_pass() -> None:
    def answered(number: int, reply: str, replied: datetime) -> dict[str, Any]:
        return review(number, created=ago(2 + number * 4), reply=reply, replied=replied, bump=False)

    fake = FakeBusinessProfile(items=[review(n, created=ago(2 + n * 4)) for n in range(1, 61)], page_size=5)
    fake.items[4] = answered(5, "an old answer", ago(30))
    # a source connected long ago and caught up with its reviews; its last reply pass began an hour ago
    cursor = {
        "since": ago(24 * 60).isoformat(),
        "reviews": ago(6).isoformat(),
        "reviews_ids": json.dumps([rid(1)]),
        "replies_floor": ago(1).isoformat(),
    }
    source = SOURCE.model_copy(update={"options": {**SOURCE.options, "reply_window_days": "3"}})
    first, failure = poll(fake, cursor=cursor, max_pages=2, source=source)
    assert failure is None and platform_ids(first) == []
    assert len(fake.api_requests()) == 1 + 2  # the walk finds nothing new; the sweep reads its two pages
    assert first[-1].cursor["replies_token"] and first[-1].cursor["replies_started"] == NOW.isoformat()
    # the owner answers a review the sweep has passed, one it has not reached, and one outside the window
    answered_at = NOW + timedelta(minutes=5)
    for number in (3, 15, 30):
        fake.items[number - 1] = answered(number, f"answer {number}", answered_at)
    fake.requests.clear()
    second, failure = poll(fake, cursor=first[-1].cursor, max_pages=2, now=NOW + timedelta(minutes=10), source=source)
    assert failure is None
    assert platform_ids(second) == [
        f"{rid(15)}#reply"
    ]  # the pass goes on where it stopped and ends at the window (3 days)
    assert len(fake.api_requests()) == 1 + 2
    assert "replies_token" not in second[-1].cursor and second[-1].cursor["replies_floor"] == NOW.isoformat()
    third, failure = poll(fake, cursor=second[-1].cursor, max_pages=2, now=NOW + timedelta(minutes=20), source=source)
    assert failure is None
    assert platform_ids(third) == [f"{rid(3)}#reply"]  # the next pass finds the one behind the last; not the old answer
    (reply,) = [message for page in third for message in page.messages]
    assert reply.parent_id == rid(3) and reply.from_brand and reply.created_at == answered_at
