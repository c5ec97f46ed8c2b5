"""GooglePlayConnector.pages() against an in-process fake of the Play Developer API's reviews.list.

The fake serves reviews shaped like tests/fixtures/google_play/reviews.json (the documented Review,
Comment, UserComment, DeveloperComment and Timestamp, with int64 seconds as JSON strings), newest
user comment first, only those created or modified in the last week (as the API does), paged with
``token`` / ``tokenPagination.nextPageToken`` (``maxResults`` up to 100), Google's error bodies;
and a token endpoint that trades the source's refresh token for access tokens.
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

import httpx
import pytest

from replywatch.connectors.base import AuthFailed, ConnectorError, Page, RateLimited, SessionCache
from replywatch.connectors.google_play import GooglePlayConnector
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

FIXTURE = json.loads((Path(__file__).parents[2] / "fixtures" / "google_play" / "reviews.json").read_text())
NOW = datetime(2026, 11, 29, 13, 0, 0, tzinfo=UTC)
WINDOW = NOW - timedelta(hours=24)
PACKAGE = "com.acme.shop"
BASE = "https://play.test/androidpublisher/v3"
PATH = f"/androidpublisher/v3/applications/{PACKAGE}/reviews"
TOKEN_URL = "https://oauth.test/token"
SOURCE = acme_source("google_play", "android", BASE, package_name=PACKAGE, token_url=TOKEN_URL)
SECRET = json.dumps({"client_id": "1234.apps.googleusercontent.com", "client_secret": "cs", "refresh_token": "1//r"})


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def timestamp(moment: datetime) -> dict[str, Any]:
    return {"seconds": str(int(moment.timestamp())), "nanos": moment.microsecond * 1000}


# --- fixtures in the documented shapes -------------------------------------------------------------------


def review(
    number: int,
    *,
    written: datetime,
    stars: int = 4,
    text: str | None = None,
    reply: str | None = None,
    replied: datetime | None = None,
) -> dict[str, Any]:
    item = copy.deepcopy(FIXTURE["reviews"][0])
    item["reviewId"] = f"gp:review{number:06d}"
    item["authorName"] = f"Customer {number}"
    user = item["comments"][0]["userComment"]
    user.update(text=text if text is not None else f"review {number}", starRating=stars)
    user["lastModified"] = timestamp(written)
    if reply is None:
        del item["comments"][1]
    else:
        item["comments"][1]["developerComment"] = {"text": reply, "lastModified": timestamp(replied or written)}
    return item


def reviews(first: int, count: int, *, newest: float = 0.5, step: float = 0.1) -> list[dict[str, Any]]:
    return [review(first + n, written=ago(newest + (count - 1 - n) * step)) for n in range(count)]


def rid(number: int) -> str:
    return f"gp:review{number:06d}"


def written_at(item: dict[str, Any], hints: dict[str, datetime]) -> int:
    if item["reviewId"] in hints:  # where a deliberately broken review sits in the list
        return int(hints[item["reviewId"]].timestamp())
    return int(item["comments"][0]["userComment"]["lastModified"]["seconds"])


def google_error(code: int, status: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


# --- the fake -------------------------------------------------------------------------------------------------


@dataclass
class FakePlay:
    items: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 100
    scripted: list[Scripted] = field(default_factory=list)
    token_answers: list[httpx.Response] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    requests: list[httpx.Request] = field(default_factory=list)
    refreshes: int = 0
    stale: set[str] = field(default_factory=set)
    served: int = 0
    now: datetime = NOW
    hints: dict[str, datetime] = field(default_factory=dict)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == TOKEN_URL:
            self.refreshes += 1
            if self.token_answers:
                return self.token_answers.pop(0)
            access = f"ya29.play{self.refreshes}"
            self.valid_tokens.add(access)
            return httpx.Response(200, json={"access_token": access, "expires_in": 3599, "token_type": "Bearer"})
        answer = scripted_answer(self.scripted, request)
        if answer is not None:
            return answer
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.valid_tokens:
            return httpx.Response(401, json=google_error(401, "UNAUTHENTICATED", "Invalid Credentials"))
        if request.url.path != PATH:
            return httpx.Response(404, json=google_error(404, "NOT_FOUND", "Package not found"))
        token = request.url.params.get("token")
        if token in self.stale:
            return httpx.Response(400, json=google_error(400, "INVALID_ARGUMENT", "Invalid pagination token"))
        week_ago = (self.now - timedelta(days=7)).timestamp()
        listed = sorted(
            (item for item in self.items if written_at(item, self.hints) >= week_ago),
            key=lambda item: (written_at(item, self.hints), item["reviewId"]),
            reverse=True,
        )
        offset = int(base64.b64decode(token).decode().split(":")[0]) if token else 0
        size = min(int(request.url.params.get("maxResults", "10")), 100, self.page_size)
        body: dict[str, Any] = {}
        if listed[offset : offset + size]:
            body["reviews"] = listed[offset : offset + size]
        if offset + size < len(listed):
            self.served += 1
            body["tokenPagination"] = {
                "nextPageToken": base64.b64encode(f"{offset + size}:{self.served}".encode()).decode()
            }
        return httpx.Response(200, json=body)

    def api_requests(self) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == PATH]


def poll(
    fake: FakePlay,
    *,
    cursor: dict[str, str],
    max_pages: int = 10,
    now: datetime = NOW,
    sessions: SessionCache | None = None,
    source: Source = SOURCE,
) -> tuple[list[Page], ConnectorError | None]:
    fake.now = now

    return collect(
        GooglePlayConnector(),
        fake.handle,
        source=source,
        secret=SECRET,
        now=now,
        cursor=cursor,
        max_pages=max_pages,
        backfill_from=now - timedelta(hours=24),
        sessions=sessions,
    )


def caught_up(fake: FakePlay, *, now: datetime = NOW) -> dict[str, str]:
    pages, failure = poll(fake, cursor={}, now=now)
    assert failure is None
    fake.requests.clear()
    return pages[-1].cursor


@pytest.fixture
def play_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.google_play") as records:
        yield records


# --- what becomes a message -------------------------------------------------------------------------------------


def test_the_fixture_page_becomes_reviews_with_stars_and_the_developers_reply() -> None:
    fake = FakePlay(scripted=[httpx.Response(200, json=FIXTURE)])
    cursor = {"since": ago(48).isoformat(), "reviews": ago(40).isoformat(), "reviews_ids": "[]"}
    pages, failure = poll(fake, cursor=cursor, max_pages=1)
    assert failure is None
    crash, reply, praise = pages[0].messages
    assert crash.platform_id == "gp:AOqpTOE2vQx1cM8Yk3nHqLr5"
    assert crash.kind is MessageKind.REVIEW and crash.rating == 1 and crash.from_brand is False
    assert crash.author_handle == "Jane Bloggs"
    assert crash.created_at == datetime(2026, 11, 29, 10, 50, 0, 913000, tzinfo=UTC)
    assert crash.text == "Crashes every time I open the camera screen since the update."
    assert reply.from_brand is True
    assert reply.platform_id == "gp:AOqpTOE2vQx1cM8Yk3nHqLr5#reply"
    assert reply.parent_id == crash.platform_id and reply.thread_id == crash.platform_id
    assert reply.parent_author_id == crash.author_id
    assert reply.author_id == PACKAGE and reply.rating is None
    assert reply.created_at == datetime(2026, 11, 29, 11, 50, tzinfo=UTC)
    assert praise.rating == 5
    assert praise.text == "Great app\nLove the new dark mode."  # title and body, joined by a tab
    assert pages[0].cursor["reviews_token"] == FIXTURE["tokenPagination"]["nextPageToken"]


def test_requests_carry_max_results_the_token_and_the_translation_language() -> None:
    source = SOURCE.model_copy(update={"options": {**SOURCE.options, "translation_language": "en_GB"}})
    fake = FakePlay(items=reviews(1, 150, step=0.05))
    pages, failure = poll(fake, cursor={}, source=source)
    assert failure is None
    walked = fake.api_requests()[:2]
    assert [request.url.params.get("token") is None for request in walked] == [True, False]
    for request in fake.api_requests():
        assert str(request.url).startswith(f"{BASE}/applications/{PACKAGE}/reviews?")
        assert request.url.params["maxResults"] == "100"
        assert request.url.params["translationLanguage"] == "en_GB"
        assert request.headers["Authorization"] == "Bearer ya29.play1"
    assert len(platform_ids(pages, from_brand=False)) == 150


# --- paging -------------------------------------------------------------------------------------------------------


def test_pages_across_several_pages_without_duplicates_or_gaps() -> None:
    fake = FakePlay(items=reviews(1, 5, newest=30), page_size=10)
    cursor = caught_up(fake)
    fake.items += reviews(100, 45, newest=0.5, step=0.05)
    pages, failure = poll(fake, cursor=cursor, max_pages=10)
    assert failure is None
    got = platform_ids(pages, from_brand=False)
    assert sorted(got) == [rid(n) for n in range(100, 145)]
    assert pages[-1].cursor["reviews"] == ago(0.5).isoformat()


def test_the_page_bound_stops_a_walk_that_the_next_poll_finishes() -> None:
    fake = FakePlay(items=reviews(1, 3, newest=30), page_size=10)
    cursor = caught_up(fake)
    fake.items += reviews(100, 50, newest=1, step=0.01)
    first, failure = poll(fake, cursor=cursor, max_pages=3)
    assert failure is None
    assert len(platform_ids(first, from_brand=False)) == 30
    assert first[-1].cursor["reviews"] == cursor["reviews"] and first[-1].cursor["reviews_token"]
    assert len(fake.api_requests()) == 3 + 3  # the walk's three, then the sweep's three
    fake.items += reviews(500, 4, newest=0.2, step=0.01)
    later, failure = poll(fake, cursor=first[-1].cursor, max_pages=4)
    assert failure is None
    got = platform_ids(first, from_brand=False) + platform_ids(later, from_brand=False)
    assert set(got) == {rid(n) for n in [*range(100, 150), *range(500, 504)]}
    assert later[-1].cursor["reviews"] == ago(0.2).isoformat()


def test_each_stream_keeps_to_the_page_bound() -> None:
    fake = FakePlay(items=reviews(1, 200, newest=0.5, step=0.01), page_size=10)
    poll(fake, cursor={}, max_pages=3)
    assert len(fake.api_requests()) == 6  # three for the walk, three for the sweep


def test_a_refused_page_token_restarts_the_walk() -> None:
    fake = FakePlay(items=reviews(1, 3, newest=30), page_size=10)
    cursor = caught_up(fake)
    fake.items += reviews(100, 30, newest=1, step=0.01)
    first, _ = poll(fake, cursor=cursor, max_pages=1)
    fake.stale.add(first[-1].cursor["reviews_token"])
    later, failure = poll(fake, cursor=first[-1].cursor)
    assert failure is None
    assert set(platform_ids(first, from_brand=False) + platform_ids(later, from_brand=False)) == {
        rid(n) for n in range(100, 130)
    }


def test_a_new_source_reads_back_only_through_its_backfill_window() -> None:
    fake = FakePlay(items=reviews(1, 60, newest=0.5, step=1), page_size=10)
    pages, failure = poll(fake, cursor={})
    assert failure is None
    assert set(platform_ids(pages)) == {rid(n) for n in range(1, 61) if ago(0.5 + 60 - n) >= WINDOW}
    assert len(platform_ids(pages)) == 24
    assert pages[-1].cursor["since"] == WINDOW.isoformat()


def test_an_edited_review_comes_back_to_the_top_and_keeps_its_id() -> None:
    fake = FakePlay(items=[review(1, written=ago(5), stars=2), *reviews(10, 20, newest=1)])
    cursor = caught_up(fake)
    fake.items[0] = review(1, written=ago(0.1), stars=1, text="even worse now")
    pages, _ = poll(fake, cursor=cursor)
    assert platform_ids(pages, from_brand=False) == [rid(1)]  # the same review: its first version is kept


# --- the developer's replies ----------------------------------------------------------------------------------


def test_a_reply_to_a_review_read_earlier_is_found_by_the_sweep() -> None:
    fake = FakePlay(items=[review(1, written=ago(20), stars=1), *reviews(10, 25, newest=1)], page_size=10)
    cursor = caught_up(fake)
    # the developer answers the old review: the list's order does not change
    fake.items[0] = review(1, written=ago(20), stars=1, reply="Fixed in 4.2.2", replied=NOW + timedelta(minutes=3))
    pages, failure = poll(fake, cursor=cursor, now=NOW + timedelta(minutes=5))
    assert failure is None
    assert platform_ids(pages, from_brand=False) == []
    (reply,) = [message for page in pages for message in page.messages if message.from_brand]
    assert reply.platform_id == f"{rid(1)}#reply" and reply.parent_id == rid(1)
    assert reply.created_at == NOW + timedelta(minutes=3)


def test_a_sweep_across_polls_sends_each_reply_about_once() -> None:
    answered = [review(n, written=ago(n * 0.2), reply=f"thanks {n}", replied=ago(n * 0.2 - 0.05)) for n in range(1, 40)]
    fake = FakePlay(items=answered, page_size=10)
    first = caught_up(fake)  # the walk sent every review with its reply
    assert first["replies_floor"] == NOW.isoformat()
    sent_later: list[str] = []
    cursor = first
    for minutes in (5, 10, 15, 20, 60, 65, 70):  # sweeps of 4 pages, 2 pages a poll
        pages, failure = poll(fake, cursor=cursor, max_pages=2, now=NOW + timedelta(minutes=minutes))
        assert failure is None
        sent_later += platform_ids(pages, from_brand=True)
        cursor = pages[-1].cursor
    # only a reply within the margin (15 minutes) before a sweep's floor is sent again: the newest one
    # (written at 12:51) by the two sweeps whose floors are 13:00 and 13:05; none by later sweeps
    assert sent_later == [f"{rid(1)}#reply"] * 2


def test_a_reply_and_its_review_read_together_are_sent_once_in_a_poll() -> None:
    fake = FakePlay(items=[review(1, written=ago(2), reply="Thanks!", replied=ago(1))])
    pages, _ = poll(fake, cursor={})
    assert platform_ids(pages) == [rid(1), f"{rid(1)}#reply"]


def test_every_star_rating_is_kept() -> None:
    fake = FakePlay(items=[review(n, written=ago(n), stars=n) for n in range(1, 6)])
    pages, _ = poll(fake, cursor={})
    ratings = {message.platform_id: message.rating for page in pages for message in page.messages}
    assert ratings == {rid(n): n for n in range(1, 6)}


# --- malformed items -----------------------------------------------------------------------------------------

PRIVATE = "my email is dana@example.com and card ends 4242"


def test_malformed_reviews_are_logged_by_id_only_and_skipped(play_log: list[logging.LogRecord]) -> None:
    no_user = review(7, written=ago(1.5), text=PRIVATE, reply=PRIVATE)
    del no_user["comments"][0]
    bad_time = review(8, written=ago(1.6), text=PRIVATE)
    bad_time["comments"][0]["userComment"]["lastModified"] = {"seconds": "soon"}
    fake = FakePlay(items=[*reviews(1, 3, newest=1), no_user, bad_time], hints={rid(7): ago(1.5), rid(8): ago(1.6)})
    pages, failure = poll(fake, cursor={})
    assert failure is None
    assert sorted(platform_ids(pages, from_brand=False)) == [rid(1), rid(2), rid(3)]
    assert pages[0].skipped == 2
    skipped = malformed(play_log)
    assert {getattr(record, "item_id", None) for record in skipped} == {rid(7), rid(8)}
    assert_logged_by_id_only(play_log, "4242", "dana@")


# --- errors, limits and auth ------------------------------------------------------------------------------------


def test_429_raises_rate_limited_at_retry_after() -> None:
    limited = httpx.Response(
        429, headers={"Retry-After": "90"}, json=google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded")
    )
    fake = FakePlay(items=reviews(1, 30), page_size=10, scripted=[None, limited])
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited)
    assert failure.retry_at == NOW + timedelta(seconds=90)
    assert len(pages) == 1 and pages[0].cursor["reviews_token"]


def test_403_with_a_rate_limit_reason_is_rate_limited_not_a_refusal() -> None:
    body = google_error(
        403,
        "PERMISSION_DENIED",
        "Rate Limit Exceeded",
        errors=[{"message": "Rate Limit Exceeded", "domain": "usageLimits", "reason": "rateLimitExceeded"}],
    )
    pages, failure = poll(FakePlay(scripted=[httpx.Response(403, json=body)]), cursor={})
    assert isinstance(failure, RateLimited) and pages == []


def test_403_without_the_reply_to_reviews_permission_is_auth_failed() -> None:
    body = google_error(403, "PERMISSION_DENIED", "The current user has insufficient permissions")
    pages, failure = poll(FakePlay(scripted=[httpx.Response(403, json=body)]), cursor={})
    assert isinstance(failure, AuthFailed) and pages == []


def test_an_expired_access_token_is_refreshed_and_a_refused_fresh_one_is_auth_failed() -> None:
    sessions = SessionCache()
    fake = FakePlay(items=reviews(1, 3))
    cursor = poll(fake, cursor={}, sessions=sessions)[0][-1].cursor
    fake.valid_tokens.clear()
    fake.items += reviews(10, 2, newest=0.1)
    pages, failure = poll(fake, cursor=cursor, sessions=sessions)
    assert failure is None and sorted(platform_ids(pages, from_brand=False)) == [rid(10), rid(11)]
    assert fake.refreshes == 2
    unauthenticated = httpx.Response(401, json=google_error(401, "UNAUTHENTICATED", "Invalid Credentials"))
    fake.scripted = [unauthenticated, unauthenticated]
    pages, failure = poll(fake, cursor=cursor, sessions=sessions)
    assert isinstance(failure, AuthFailed) and pages == []


def test_a_revoked_refresh_token_is_auth_failed() -> None:
    revoked = httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token has been revoked."})
    fake = FakePlay(items=reviews(1, 3), token_answers=[revoked])
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, AuthFailed) and pages == [] and fake.api_requests() == []


def test_a_200_that_is_not_json_is_a_connector_error() -> None:
    pages, failure = poll(FakePlay(scripted=[httpx.Response(200, text="<html>oops</html>")]), cursor={})
    assert type(failure) is ConnectorError and pages == []


@pytest.mark.parametrize("package", ["", "com.acme/../x", "com..acme", "1com.acme"])
def test_a_missing_or_malformed_package_name_is_a_connector_error(package: str) -> None:
    source = SOURCE.model_copy(update={"options": {"package_name": package, "token_url": TOKEN_URL}})
    fake = FakePlay()
    pages, failure = poll(fake, cursor={}, source=source)
    assert type(failure) is ConnectorError and pages == [] and fake.requests == []
