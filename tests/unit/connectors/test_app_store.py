"""AppStoreConnector.pages() against an in-process fake of App Store Connect's customerReviews API.

The fake serves JSON:API documents shaped like tests/fixtures/app_store/customer_reviews.json
(Apple's documented example): ``sort=-createdDate``, ``include=response``,
``exists[publishedResponse]``, opaque ``cursor`` paging through ``links.next`` on Apple's own host,
the ``X-Rate-Limit`` header, and it checks the ES256 bearer JWT with the public key.
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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from replywatch.connectors import es256
from replywatch.connectors.app_store import AppStoreConnector
from replywatch.connectors.base import AuthFailed, ConnectorError, Page, RateLimited, SessionCache
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

FIXTURE = json.loads((Path(__file__).parents[2] / "fixtures" / "app_store" / "customer_reviews.json").read_text())
NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
BASE = "https://asc.test"
APPLE = "https://api.appstoreconnect.apple.com"
APP_ID = "682658836"
PATH = f"/v1/apps/{APP_ID}/customerReviews"
SOURCE = acme_source("app_store", "ios", BASE, app_id=APP_ID)
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PUBLIC = (KEY.public_key().public_numbers().x, KEY.public_key().public_numbers().y)
ISSUER = "57246542-96fe-1a63-e053-0824d011072a"
KEY_ID = "2X9R4HXF34"
SECRET = json.dumps({"issuer_id": ISSUER, "key_id": KEY_ID, "private_key": PEM})
WINDOW = NOW - timedelta(hours=24)


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


# --- fixtures in Apple's documented shapes ----------------------------------------------------------


def review(
    number: int,
    *,
    created: datetime,
    rating: int = 4,
    body: str | None = None,
    response: str | None = None,
    responded: datetime | None = None,
    state: str = "PUBLISHED",
) -> dict[str, Any]:
    """A review as the fake stores it: the API resource, and its response resource if any."""
    resource = copy.deepcopy(FIXTURE["data"][0])
    review_id = f"00000028-0000-0000-0000-{number:012d}"
    resource["id"] = review_id
    resource["attributes"].update(
        rating=rating,
        title=f"Title {number}",
        body=body if body is not None else f"review {number}",
        reviewerNickname=f"user{number}",
        createdDate=created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    )
    for name, link in resource["relationships"]["response"]["links"].items():
        resource["relationships"]["response"]["links"][name] = link.replace(FIXTURE["data"][0]["id"], review_id)
    resource["links"]["self"] = f"{APPLE}/v1/customerReviews/{review_id}"
    reply = None
    if response is not None:
        reply = copy.deepcopy(FIXTURE["included"][0])
        reply["id"] = f"{review_id}-r"
        reply["attributes"].update(
            responseBody=response,
            lastModifiedDate=(responded or created + timedelta(hours=1)).isoformat(),
            state=state,
        )
        reply["relationships"]["review"]["data"]["id"] = review_id
    return {"resource": resource, "response": reply, "sort": created}


def reviews(first: int, count: int, *, newest: float = 0.5, step: float = 0.1, **fields: Any) -> list[dict[str, Any]]:
    """``count`` reviews numbered upwards from ``first``, the highest number the newest."""
    return [
        review(first + offset, created=ago(newest + (count - 1 - offset) * step), **fields) for offset in range(count)
    ]


def review_id(number: int) -> str:
    return f"00000028-0000-0000-0000-{number:012d}"


# --- the fake server ----------------------------------------------------------------------------------


@dataclass
class FakeAppStore:
    items: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 20  # Apple honours limit (max 200); a smaller page here tests that links.next is followed
    scripted: list[Scripted] = field(default_factory=list)
    rate_remaining: int = 3500
    requests: list[httpx.Request] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    stale: set[str] = field(default_factory=set)
    served: int = 0
    now: datetime = NOW  # the fake's clock, for the token's expiry

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = scripted_answer(self.scripted, request)
        if answer is not None:
            return answer
        if not self.authorized(request):
            return httpx.Response(401, json=error(401, "NOT_AUTHORIZED", "Authentication credentials are missing"))
        if request.url.path != PATH:
            return httpx.Response(404, json=error(404, "NOT_FOUND", "The specified resource does not exist"))
        params = request.url.params
        cursor = params.get("cursor")
        if cursor in self.stale:
            return httpx.Response(400, json=error(400, "PARAMETER_ERROR.INVALID", "cursor is invalid"))
        listed = sorted(self.items, key=lambda item: (item["sort"], item["resource"]["id"]), reverse=True)
        assert params["sort"] == "-createdDate"
        if params.get("exists[publishedResponse]") == "true":
            listed = [
                item for item in listed if item["response"] and item["response"]["attributes"]["state"] == "PUBLISHED"
            ]
        offset = int(base64.b64decode(cursor).decode().split(":")[0]) if cursor else 0
        size = min(int(params.get("limit", "50")), 200, self.page_size)
        chunk = listed[offset : offset + size]
        data, included = [], []
        for item in chunk:
            resource = copy.deepcopy(item["resource"])
            if "response" in params.get("include", "").split(",") and item["response"] is not None:
                resource["relationships"]["response"]["data"] = {
                    "type": "customerReviewResponses",
                    "id": item["response"]["id"],
                }
                included.append(item["response"])
            else:
                resource["relationships"]["response"]["data"] = None
            data.append(resource)
        document: dict[str, Any] = {
            "data": data,
            "links": {"self": f"{APPLE}{PATH}"},
            "meta": {"paging": {"total": len(listed), "limit": size}},
        }
        if included:
            document["included"] = included
        if offset + size < len(listed):
            self.served += 1  # opaque and never the same twice, like Apple's
            token = base64.b64encode(f"{offset + size}:{self.served}".encode()).decode()
            document["links"]["next"] = f"{APPLE}{PATH}?cursor={token}&include=response&limit={size}&sort=-createdDate"
        return httpx.Response(200, json=document, headers=self.rate_headers())

    def rate_headers(self) -> dict[str, str]:
        self.rate_remaining = max(0, self.rate_remaining - 1)
        return {"X-Rate-Limit": f"user-hour-lim:3500;user-hour-rem:{self.rate_remaining};"}

    def authorized(self, request: httpx.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        token = header.removeprefix("Bearer ")
        self.tokens.append(token)
        try:
            head, claims, signature = token.split(".")
            decoded_head = json.loads(b64(head))
            decoded_claims = json.loads(b64(claims))
        except ValueError:
            return False
        return (
            es256.verify(PUBLIC, f"{head}.{claims}".encode(), b64(signature))
            and decoded_head == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
            and decoded_claims["iss"] == ISSUER
            and decoded_claims["aud"] == "appstoreconnect-v1"
            and 0 < decoded_claims["exp"] - decoded_claims["iat"] <= 20 * 60
            and decoded_claims["iat"] <= self.now.timestamp() < decoded_claims["exp"]
        )

    def listing_requests(self, *, answered: bool) -> list[httpx.Request]:
        return [
            request
            for request in self.requests
            if (request.url.params.get("exists[publishedResponse]") == "true") is answered
        ]


def published(response: dict[str, Any]) -> bool:
    return bool(response["attributes"]["state"] == "PUBLISHED")


def b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def error(status: int, code: str, detail: str) -> dict[str, Any]:
    return {"errors": [{"id": "a1b2c3", "status": str(status), "code": code, "title": code, "detail": detail}]}


def poll(
    fake: FakeAppStore,
    *,
    cursor: dict[str, str],
    max_pages: int = 10,
    now: datetime = NOW,
    secret: str = SECRET,
    sessions: SessionCache | None = None,
    source: Source = SOURCE,
) -> tuple[list[Page], ConnectorError | None]:
    fake.now = now

    return collect(
        AppStoreConnector(),
        fake.handle,
        source=source,
        secret=secret,
        now=now,
        cursor=cursor,
        max_pages=max_pages,
        backfill_from=now - timedelta(hours=24),
        sessions=sessions,
    )


def caught_up(fake: FakeAppStore) -> dict[str, str]:
    """The cursor after a first poll of ``fake``'s current reviews."""
    pages, failure = poll(fake, cursor={})
    assert failure is None
    fake.requests.clear()
    return pages[-1].cursor


@pytest.fixture
def store_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.app_store") as records:
        yield records


# --- requests ---------------------------------------------------------------------------------------


def test_requests_go_to_the_sources_base_url_with_apples_parameters_and_a_valid_jwt() -> None:
    fake = FakeAppStore(items=reviews(1, 30))
    pages, failure = poll(fake, cursor={})
    assert failure is None
    assert fake.requests
    for request in fake.requests:
        assert str(request.url).startswith(f"{BASE}{PATH}?")  # never the host of links.next
        assert request.url.params["sort"] == "-createdDate"
        assert request.url.params["limit"] == "200"
        assert request.url.params["include"] == "response"
    assert len(platform_ids(pages, from_brand=False)) == 30


def test_the_fixture_page_parses_into_reviews_and_the_published_response() -> None:
    fake = FakeAppStore(scripted=[httpx.Response(200, json=FIXTURE)])
    old = {"since": ago(48).isoformat(), "reviews": ago(40).isoformat(), "reviews_ids": "[]"}
    pages, failure = poll(fake, cursor=old, max_pages=1)
    assert failure is None
    first, reply, second = pages[0].messages  # each review, then its reply
    assert first.platform_id == "00000028-b08c-0014-729e-fbd500000000"
    assert first.kind is MessageKind.REVIEW and first.rating == 2 and first.from_brand is False
    assert first.text == "Keeps logging me out\nSince the last update I have to sign in every time I open the app."
    assert first.author_handle == "Anne Johnson"
    assert first.created_at == datetime(2026, 11, 23, 12, 10, 34, tzinfo=UTC)
    assert second.rating == 5 and second.platform_id == "00000029-c18d-0023-8a1f-0cd600000000"
    assert reply.from_brand is True
    assert reply.platform_id == "00000028-b08c-0014-729e-fbd500000000#reply"
    assert reply.parent_id == first.platform_id
    assert reply.parent_author_id == first.author_id
    assert reply.thread_id == first.platform_id
    assert reply.author_id == APP_ID
    assert reply.rating is None
    assert reply.created_at == datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
    assert reply.text.startswith("Sorry about that!")
    # the next page is asked of our own host with Apple's cursor
    assert pages[0].cursor["reviews_token"] == "Mg.ADsWBl4"


# --- paging -----------------------------------------------------------------------------------------


def test_pages_across_several_pages_without_duplicates_or_gaps() -> None:
    fake = FakeAppStore(items=reviews(1, 5, newest=30))
    cursor = caught_up(fake)
    fake.items += reviews(100, 65, newest=0.5, step=0.05)
    pages, failure = poll(fake, cursor=cursor)
    assert failure is None
    walked = fake.listing_requests(answered=False)
    assert len(walked) == 4  # 20 + 20 + 20 + 5, stopping at the first review already read
    assert walked[0].url.params.get("cursor") is None
    assert base64.b64decode(walked[1].url.params["cursor"]).startswith(b"20:")
    got = platform_ids(pages, from_brand=False)
    assert sorted(got) == sorted(review_id(n) for n in range(100, 165))
    assert len(got) == len(set(got))
    assert pages[-1].cursor["reviews"] == ago(0.5).isoformat()


def test_the_page_bound_stops_the_walk_and_the_next_poll_resumes_it_then_reads_whats_new() -> None:
    fake = FakeAppStore(items=reviews(1, 3, newest=30))
    cursor = caught_up(fake)
    high_water = cursor["reviews"]
    fake.items += reviews(100, 100, newest=1, step=0.01)
    first, failure = poll(fake, cursor=cursor, max_pages=2)
    assert failure is None
    assert len(fake.listing_requests(answered=False)) == 2
    middle = first[-1].cursor
    assert middle["reviews"] == high_water  # the mark moves only when the walk reaches it
    assert middle["reviews_token"] and middle["reviews_top"] == ago(1).isoformat()
    assert len(platform_ids(first, from_brand=False)) == 40

    fake.items += reviews(500, 7, newest=0.2, step=0.01)  # new meanwhile: they push the list down
    fake.requests.clear()
    later, failure = poll(fake, cursor=middle, max_pages=10)
    assert failure is None
    got = platform_ids(first, from_brand=False) + platform_ids(later, from_brand=False)
    expected = {review_id(n) for n in [*range(100, 200), *range(500, 507)]}
    assert set(got) == expected, "nothing lost"
    # the resumed walk may see a review twice where new ones shifted its page; storing is idempotent
    assert len(got) - len(expected) <= 7
    assert later[-1].cursor["reviews"] == ago(0.2).isoformat()
    assert "reviews_token" not in later[-1].cursor


def test_a_refused_saved_cursor_restarts_the_walk_from_the_top_without_losing_anything() -> None:
    fake = FakeAppStore(items=reviews(1, 3, newest=30))
    cursor = caught_up(fake)
    fake.items += reviews(100, 60, newest=1, step=0.01)
    first, _ = poll(fake, cursor=cursor, max_pages=1)
    fake.stale.add(first[-1].cursor["reviews_token"])
    later, failure = poll(fake, cursor=first[-1].cursor)
    assert failure is None
    assert set(platform_ids(first, from_brand=False) + platform_ids(later, from_brand=False)) == {
        review_id(n) for n in range(100, 160)
    }
    assert "reviews_token" not in later[-1].cursor


def test_an_empty_app_keeps_a_cursor_and_reads_new_reviews_next_time() -> None:
    fake = FakeAppStore()
    pages, failure = poll(fake, cursor={})
    assert failure is None
    assert platform_ids(pages) == []
    cursor = pages[-1].cursor
    assert cursor["reviews"] == WINDOW.isoformat()
    fake.items = reviews(1, 2)
    later, _ = poll(fake, cursor=cursor)
    assert sorted(platform_ids(later, from_brand=False)) == [review_id(1), review_id(2)]


def test_reviews_at_the_same_second_as_the_mark_are_not_lost_or_repeated() -> None:
    moment = ago(2)
    fake = FakeAppStore(items=[review(1, created=moment), review(2, created=moment)])
    cursor = caught_up(fake)
    fake.items.append(review(3, created=moment))  # listed later, with the same createdDate
    later, _ = poll(fake, cursor=cursor)
    assert platform_ids(later, from_brand=False) == [review_id(3)]
    again, _ = poll(fake, cursor=later[-1].cursor)
    assert platform_ids(again) == []


# --- the first poll ---------------------------------------------------------------------------------


def test_a_new_source_reads_back_only_through_its_backfill_window() -> None:
    fake = FakeAppStore(items=reviews(1, 60, newest=0.5, step=1))  # one an hour for 60 hours
    pages, failure = poll(fake, cursor={})
    assert failure is None
    got = platform_ids(pages, from_brand=False)
    inside = {review_id(n) for n in range(1, 61) if ago(0.5 + (60 - n)) >= WINDOW}
    assert set(got) == inside and len(got) == 24
    assert len(fake.listing_requests(answered=False)) == 2  # stops on the page that crosses the window
    assert pages[-1].cursor["since"] == WINDOW.isoformat()
    assert pages[-1].cursor["reviews"] == ago(0.5).isoformat()


# --- the brand's responses ----------------------------------------------------------------------------


def test_a_published_response_is_the_brands_reply_and_a_pending_one_is_not() -> None:
    fake = FakeAppStore(
        items=[
            review(1, created=ago(3), rating=1, response="We're on it", responded=ago(2)),
            review(2, created=ago(4), rating=3, response="Draft", responded=ago(1), state="PENDING_PUBLISH"),
        ]
    )
    pages, _ = poll(fake, cursor={})
    replies = [message for page in pages for message in page.messages if message.from_brand]
    assert [reply.platform_id for reply in replies] == [f"{review_id(1)}#reply"]
    assert replies[0].parent_id == review_id(1)
    assert replies[0].created_at == ago(2)
    ratings = {message.platform_id: message.rating for page in pages for message in page.messages}
    assert ratings[review_id(1)] == 1 and ratings[review_id(2)] == 3


def test_a_response_to_an_old_review_is_found_by_the_sweep() -> None:
    fake = FakeAppStore(items=[review(1, created=ago(6), rating=1), *reviews(10, 30, newest=1)])
    cursor = caught_up(fake)
    # hours later the brand answers the 1-star review; it does not move in the list
    fake.items[0] = review(1, created=ago(6), rating=1, response="Fixed in 4.2", responded=ago(0.1))
    pages, failure = poll(fake, cursor=cursor)
    assert failure is None
    (reply,) = [message for page in pages for message in page.messages if message.from_brand]
    assert reply.platform_id == f"{review_id(1)}#reply" and reply.parent_id == review_id(1)
    assert platform_ids(pages, from_brand=False) == []  # nothing new to walk
    sweep_requests = fake.listing_requests(answered=True)
    assert len(sweep_requests) == 1


def test_a_sweep_resends_a_day_of_replies_before_its_floor_and_nothing_older() -> None:
    fake = FakeAppStore(
        items=[review(1, created=ago(20), response="old answer", responded=ago(19)), review(2, created=ago(10))]
    )
    cursor = caught_up(fake)  # the walk sent both reviews and the first reply
    assert cursor["responses_floor"] == NOW.isoformat()
    # within a day of the floor a reply is sent again, in case it was published late (idempotent)
    soon, failure = poll(fake, cursor=cursor, now=NOW + timedelta(hours=6))
    assert failure is None
    assert platform_ids(soon, from_brand=True) == [f"{review_id(1)}#reply"]
    day_later = NOW + timedelta(hours=30)
    quiet, _ = poll(fake, cursor=soon[-1].cursor, now=day_later)
    assert platform_ids(quiet, from_brand=True) == []
    # the brand answers the second review, which stays where it was in the list
    fake.items[1] = review(2, created=ago(10), response="new", responded=day_later + timedelta(minutes=1))
    later, failure = poll(fake, cursor=quiet[-1].cursor, now=day_later + timedelta(minutes=10))
    assert failure is None
    assert platform_ids(later, from_brand=False) == []
    assert platform_ids(later, from_brand=True) == [f"{review_id(2)}#reply"]


def test_a_response_seen_pending_is_sent_when_published_however_late() -> None:
    fake = FakeAppStore(
        items=[review(1, created=ago(10), response="Sorry!", responded=ago(3), state="PENDING_PUBLISH")]
    )
    cursor = caught_up(fake)
    assert platform_ids(poll(fake, cursor={})[0], from_brand=True) == []  # not an answer yet
    for day in (1, 2):  # sweeps go by while it waits; their floors pass its date
        pages, failure = poll(fake, cursor=cursor, now=NOW + timedelta(days=day))
        assert failure is None and platform_ids(pages) == []
        cursor = pages[-1].cursor
    assert review_id(1) in cursor["pending_replies"]
    # published days later, keeping the date it was written
    fake.items[0]["response"]["attributes"]["state"] = "PUBLISHED"
    pages, _ = poll(fake, cursor=cursor, now=NOW + timedelta(days=3))
    assert platform_ids(pages, from_brand=True) == [f"{review_id(1)}#reply"]
    assert "pending_replies" not in pages[-1].cursor


def test_the_sweep_is_bounded_by_pages_resumes_and_stops_at_the_reply_window() -> None:
    answered = [
        review(n, created=ago(1 + n * 0.5), response=f"thanks {n}", responded=NOW - timedelta(minutes=1))
        for n in range(1, 70)
    ]
    fake = FakeAppStore(items=answered)
    # a source connected long ago, caught up with its reviews: only the sweep has work
    cursor = {
        "since": ago(24 * 60).isoformat(),
        "reviews": ago(1.5).isoformat(),
        "reviews_ids": json.dumps([review_id(1)]),
        "responses_floor": (NOW - timedelta(hours=1)).isoformat(),
    }
    source = SOURCE.model_copy(update={"options": {"app_id": APP_ID, "reply_window_days": "1"}})
    first, failure = poll(fake, cursor=cursor, max_pages=2, source=source)
    assert failure is None
    assert len(fake.listing_requests(answered=True)) == 2
    assert first[-1].cursor["responses_token"]
    fake.requests.clear()
    later, _ = poll(fake, cursor=first[-1].cursor, max_pages=2, source=source)
    got = platform_ids(first, from_brand=True) + platform_ids(later, from_brand=True)
    within_a_day = {f"{review_id(n)}#reply" for n in range(1, 70) if ago(1 + n * 0.5) >= ago(24)}
    assert set(got) == within_a_day and len(got) == len(within_a_day)
    assert "responses_token" not in later[-1].cursor


# --- malformed items ------------------------------------------------------------------------------------

PRIVATE = "my card number ends 4242 and I live at 1 Elm Row"


def test_a_malformed_review_is_logged_by_id_only_and_skipped(store_log: list[logging.LogRecord]) -> None:
    good = reviews(1, 3, newest=1)
    broken = review(9, created=ago(1.05), body=PRIVATE)
    del broken["resource"]["attributes"]["createdDate"]
    out_of_range = review(8, created=ago(1.06), body=PRIVATE, rating=7)
    fake = FakeAppStore(items=[*good, broken, out_of_range])
    pages, failure = poll(fake, cursor={})
    assert failure is None
    assert sorted(platform_ids(pages, from_brand=False)) == [review_id(n) for n in (1, 2, 3)]
    assert pages[0].skipped == 2
    skipped = malformed(store_log)
    assert {getattr(record, "item_id", None) for record in skipped} == {review_id(8), review_id(9)}
    assert all(getattr(record, "source_id", None) == "acme-ios" for record in skipped)
    assert_logged_by_id_only(store_log, "4242", "Elm Row", "BEGIN")


# --- errors, limits and auth -------------------------------------------------------------------------


def test_429_raises_rate_limited_at_retry_after_keeping_pages_already_read() -> None:
    fake = FakeAppStore(items=reviews(1, 50))
    fake.scripted = [
        None,
        httpx.Response(429, headers={"Retry-After": "120"}, json=error(429, "RATE_LIMIT_EXCEEDED", "x")),
    ]
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited)
    assert failure.retry_at == NOW + timedelta(seconds=120)
    assert len(pages) == 1 and len(platform_ids(pages)) == 20
    assert pages[0].cursor["reviews_token"]


def test_an_exhausted_hourly_allowance_keeps_the_page_then_raises_rate_limited() -> None:
    fake = FakeAppStore(items=reviews(1, 50), rate_remaining=1)  # this request uses the last one
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited)
    assert failure.retry_at > NOW
    assert len(pages) == 1 and len(fake.requests) == 1


def test_401_raises_auth_failed_and_forgets_the_cached_token() -> None:
    sessions = SessionCache()
    fake = FakeAppStore(items=reviews(1, 2))
    poll(fake, cursor={}, sessions=sessions)
    assert len(set(fake.tokens)) == 1
    fake.scripted = [httpx.Response(401, json=error(401, "NOT_AUTHORIZED", "expired"))]
    pages, failure = poll(fake, cursor={}, sessions=sessions)
    assert isinstance(failure, AuthFailed)
    assert pages == []
    assert sessions.get(SessionCache.key(SOURCE, SECRET), NOW) is None


def test_the_jwt_is_reused_until_shortly_before_it_expires() -> None:
    sessions = SessionCache()
    fake = FakeAppStore(items=reviews(1, 2))
    poll(fake, cursor={}, sessions=sessions)
    poll(fake, cursor={}, sessions=sessions, now=NOW + timedelta(minutes=10))
    assert len(set(fake.tokens)) == 1
    poll(fake, cursor={}, sessions=sessions, now=NOW + timedelta(minutes=18))
    assert len(set(fake.tokens)) == 2
    claims = json.loads(b64(fake.tokens[-1].split(".")[1]))
    assert claims["exp"] - claims["iat"] <= 20 * 60
    assert claims["iat"] == int((NOW + timedelta(minutes=18)).timestamp())


@pytest.mark.parametrize(
    "secret",
    [
        "not json",
        json.dumps({"issuer_id": ISSUER, "key_id": KEY_ID}),
        json.dumps({"issuer_id": ISSUER, "key_id": KEY_ID, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA"}),
    ],
)
def test_an_unusable_secret_is_auth_failed_before_any_request(secret: str) -> None:
    fake = FakeAppStore(items=reviews(1, 2))
    pages, failure = poll(fake, cursor={}, secret=secret)
    assert isinstance(failure, AuthFailed)
    assert pages == [] and fake.requests == []
    assert "AAAA" not in str(failure)


def test_a_200_that_is_not_json_is_a_connector_error() -> None:
    fake = FakeAppStore(scripted=[httpx.Response(200, text="<html>maintenance</html>")])
    pages, failure = poll(fake, cursor={})
    assert type(failure) is ConnectorError
    assert pages == []


def test_a_missing_app_id_is_a_connector_error() -> None:
    source = SOURCE.model_copy(update={"options": {}})
    pages, failure = poll(FakeAppStore(), cursor={}, source=source)
    assert type(failure) is ConnectorError and pages == []


# --- reviewer follow-ups: a broken response resource, and the hourly allowance ----------------------------


def test_a_malformed_response_costs_only_the_response_and_is_sent_once_it_reads_whole(
    store_log: list[logging.LogRecord],
) -> None:
    broken = review(1, created=ago(3), rating=1, response=PRIVATE, responded=ago(2))
    del broken["response"]["attributes"]["lastModifiedDate"]
    fine = review(2, created=ago(4), rating=5, response="Thank you!", responded=ago(2))
    fake = FakeAppStore(items=[broken, fine])
    pages, failure = poll(fake, cursor={})
    assert failure is None
    assert sorted(platform_ids(pages, from_brand=False)) == [review_id(1), review_id(2)]  # the review is kept
    assert platform_ids(pages, from_brand=True) == [f"{review_id(2)}#reply"]
    skipped = malformed(store_log)
    assert skipped and {getattr(record, "item_id", None) for record in skipped} == {f"{review_id(1)}-r"}
    assert all(getattr(record, "source_id", None) == "acme-ios" for record in skipped)
    assert_logged_by_id_only(store_log, "4242", "Elm Row")
    # sweeps go by while it stays broken, their floors passing its date; then Apple serves it whole
    later, failure = poll(fake, cursor=pages[-1].cursor, now=NOW + timedelta(days=2))
    assert failure is None and f"{review_id(1)}#reply" not in platform_ids(later, from_brand=True)
    fake.items[0]["response"]["attributes"]["lastModifiedDate"] = ago(2).isoformat()
    fixed, failure = poll(fake, cursor=later[-1].cursor, now=NOW + timedelta(days=3))
    assert failure is None
    assert platform_ids(fixed, from_brand=True) == [f"{review_id(1)}#reply"]


SPENT = {"X-Rate-Limit": "user-hour-lim:3500;user-hour-rem:0;"}
EMPTY = {"data": [], "links": {"self": f"{APPLE}{PATH}"}, "meta": {"paging": {"total": 0, "limit": 200}}}


def test_a_spent_hourly_allowance_without_a_retry_time_waits_the_rolling_hour() -> None:
    fake = FakeAppStore(items=reviews(1, 50), rate_remaining=1)
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited)
    assert failure.retry_at == NOW + timedelta(hours=1)  # not a minute: the allowance is counted per hour
    assert len(pages) == 1 and len(platform_ids(pages)) == 20


def test_a_spent_hourly_allowance_waits_until_the_time_apple_names() -> None:
    fake = FakeAppStore(scripted=[httpx.Response(200, json=EMPTY, headers={**SPENT, "Retry-After": "600"})])
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited)
    assert failure.retry_at == NOW + timedelta(minutes=10)
    assert len(pages) == 1


def test_429_with_the_hourly_allowance_spent_waits_the_rolling_hour_and_other_429s_a_minute() -> None:
    refused = error(429, "RATE_LIMIT_EXCEEDED", "The request rate limit has been reached.")
    fake = FakeAppStore(scripted=[httpx.Response(429, json=refused, headers=SPENT)])
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited) and pages == []
    assert failure.retry_at == NOW + timedelta(hours=1)
    left = {"X-Rate-Limit": "user-hour-lim:3500;user-hour-rem:3121;"}
    fake = FakeAppStore(scripted=[httpx.Response(429, json=refused, headers=left)])
    pages, failure = poll(fake, cursor={})
    assert isinstance(failure, RateLimited) and pages == []
    assert failure.retry_at == NOW + timedelta(minutes=1)
