"""RedditConnector.pages() against an in-process fake of Reddit's OAuth API (httpx.MockTransport).

Fixtures (tests/fixtures/reddit) follow Reddit's documented JSON: Listings of Things (t1 inbox
comments with ``type``/``context``, t1 profile comments with ``link_id``/``permalink``, t3 posts), the
account from ``/api/v1/me``, the token endpoint's answers and error bodies. The fake serves each
listing newest first, pages with ``after`` fullnames, and counts requests against a rate-limit window
reported the way Reddit does (decimal counts; the reset in seconds, not a time).
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

from replywatch.connectors import REGISTRY
from replywatch.connectors.base import AuthFailed, ConnectorError, PartlyFailed, RateLimited, SessionCache
from replywatch.connectors.reddit import RedditConnector, SubredditRefused
from replywatch.models import MessageKind
from tests.support.connectors import (
    Poll,
    Scripted,
    acme_source,
    assert_logged_by_id_only,
    captured_logs,
    collect,
    malformed,
    scripted_answer,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reddit"
NOW = datetime(2025, 11, 23, 13, 0, 0, tzinfo=UTC)
BASE = "https://oauth.reddit.test"
TOKEN_URL = "https://www.reddit.test/api/v1/access_token"
BRAND = "acme_support"
SECRET = json.dumps({"client_id": "app-id", "client_secret": "not-a-real-secret", "refresh_token": "rt-1"})
OPTIONS = {"token_url": TOKEN_URL}
MENTIONS, REPLIES, POST_REPLIES = "/message/mentions", "/message/comments", "/message/selfreply"
BRAND_COMMENTS = f"/user/{BRAND}/comments"
INBOX = (MENTIONS, REPLIES, POST_REPLIES, BRAND_COMMENTS)
KNOWN = {"username": BRAND}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def thing(template: str, name: str, *, created: datetime, **fields: Any) -> dict[str, Any]:
    item = copy.deepcopy(fixture(template))
    item["data"].update(name=name, id=name.split("_", 1)[1], created=created.timestamp(), **fields)
    item["data"]["created_utc"] = created.timestamp()
    return item


def mention(name: str, *, created: datetime, **fields: Any) -> dict[str, Any]:
    return thing("username_mention.json", name, created=created, **fields)


def mentions_every(step: timedelta, count: int, *, newest: datetime) -> list[dict[str, Any]]:
    return [mention(f"t1_m{n:04d}", created=newest - n * step, body=f"question {n}") for n in range(count)]


# --- the fake Reddit -------------------------------------------------------------------------------------------


@dataclass
class FakeReddit:
    listings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scripted: dict[str, list[Scripted]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    issued: int = 0
    revoked: bool = False
    remaining: float = 600.0
    reset_seconds: int = 240

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers.get("User-Agent"), "Reddit requires a User-Agent"
        answer = scripted_answer(self.scripted.get(request.url.path), request)
        if answer is not None:
            return answer
        if str(request.url) == TOKEN_URL:
            return self.token(request)
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.valid_tokens:
            return httpx.Response(401, json=fixture("unauthorized.json"), headers={"www-authenticate": "Bearer"})
        self.remaining = max(0.0, self.remaining - 1)
        headers = {
            "x-ratelimit-used": f"{600 - self.remaining:.1f}",
            "x-ratelimit-remaining": f"{self.remaining:.1f}",
            "x-ratelimit-reset": str(self.reset_seconds),
        }
        if request.url.path == "/api/v1/me":
            return httpx.Response(200, json=fixture("me.json"), headers=headers)
        if request.url.path in self.listings or request.url.path in INBOX:
            return httpx.Response(200, json=self.listing(request), headers=headers)
        return httpx.Response(404, json={"message": "Not Found", "error": 404}, headers=headers)

    def token(self, request: httpx.Request) -> httpx.Response:
        expected = "Basic " + base64.b64encode(b"app-id:not-a-real-secret").decode()
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        if request.headers.get("Authorization") != expected:
            return httpx.Response(401, json=fixture("unauthorized.json"))
        if self.revoked or form != {"grant_type": "refresh_token", "refresh_token": "rt-1"}:
            return httpx.Response(400, json=fixture("invalid_grant.json"))
        self.issued += 1
        body = fixture("token.json")
        body["access_token"] = f"access-{self.issued}"
        self.valid_tokens.add(body["access_token"])
        return httpx.Response(200, json=body)

    def listing(self, request: httpx.Request) -> dict[str, Any]:
        items = sorted(
            self.listings.get(request.url.path, []), key=lambda item: item["data"]["created_utc"], reverse=True
        )
        start = 0
        if "after" in request.url.params:
            names = [item["data"]["name"] for item in items]
            # Reddit lists nothing after a fullname that is no longer in the listing (deleted, removed)
            after = request.url.params["after"]
            start = names.index(after) + 1 if after in names else len(items)
        size = int(request.url.params.get("limit", "25"))
        served = items[start : start + size]
        body = fixture("listing.json")
        body["data"]["children"] = served
        body["data"]["dist"] = len(served)
        body["data"]["after"] = served[-1]["data"]["name"] if start + size < len(items) else None
        return body

    def requests_to(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]

    def token_requests(self) -> list[httpx.Request]:
        return [request for request in self.requests if str(request.url) == TOKEN_URL]


def poll(
    fake: FakeReddit,
    *,
    cursor: dict[str, str] | None = None,
    max_pages: int = 10,
    now: datetime = NOW,
    backfill_from: datetime | None = NOW - timedelta(hours=24),
    sessions: SessionCache | None = None,
    secret: str = SECRET,
    options: dict[str, str] | None = None,
) -> Poll:
    source = acme_source("reddit", "reddit", BASE, **(OPTIONS if options is None else {**OPTIONS, **options}))

    pages, error = collect(
        RedditConnector(),
        fake.handle,
        source=source,
        secret=secret,
        now=now,
        cursor=dict(KNOWN) if cursor is None else cursor,
        max_pages=max_pages,
        backfill_from=backfill_from,
        sessions=sessions,
    )
    return Poll(pages, error)


@pytest.fixture
def reddit_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.reddit") as records:
        yield records


# --- registration, the account, the streams --------------------------------------------------------------------


def test_the_connector_is_registered_unmetered() -> None:
    assert isinstance(REGISTRY["reddit"], RedditConnector)
    assert RedditConnector.budget is None
    assert RedditConnector.default_base_url == "https://oauth.reddit.com"


def test_the_account_is_looked_up_once_and_kept_in_the_cursor() -> None:
    fake = FakeReddit()
    first = poll(fake, cursor={})
    assert first.error is None
    assert fake.requests[1].url.path == "/api/v1/me"  # after the token refresh
    assert all(page.cursor["username"] == BRAND for page in first.pages)
    assert len(fake.requests_to(BRAND_COMMENTS)) == 1

    fake.requests.clear()
    poll(fake, cursor=first.cursor)
    assert fake.requests_to("/api/v1/me") == []


def test_every_stream_is_read_with_a_user_agent_and_raw_json() -> None:
    fake = FakeReddit()
    result = poll(fake, options={"user_agent": "web:acme-replywatch:1.0 (by /u/acme_support)"})
    assert result.error is None
    assert [request.url.path for request in fake.requests[1:]] == list(INBOX)
    for request in fake.requests[1:]:
        assert request.headers["User-Agent"] == "web:acme-replywatch:1.0 (by /u/acme_support)"
        assert request.headers["Authorization"] == "Bearer access-1"
        assert request.url.params["limit"] == "100"
        assert request.url.params["raw_json"] == "1"
    assert fake.requests_to(BRAND_COMMENTS)[0].url.params["sort"] == "new"
    assert fake.requests[0].headers["User-Agent"] == "web:acme-replywatch:1.0 (by /u/acme_support)"


def test_the_default_user_agent_names_the_product() -> None:
    fake = FakeReddit()
    poll(fake)
    assert {request.headers["User-Agent"] for request in fake.requests} == {"replywatch/0.1 (by ReplyWatch)"}


def test_the_callers_cursor_is_not_modified() -> None:
    cursor = dict(KNOWN)
    poll(FakeReddit(listings={MENTIONS: mentions_every(timedelta(minutes=1), 3, newest=NOW)}), cursor=cursor)
    assert cursor == KNOWN


# --- paging ------------------------------------------------------------------------------------------------------


def test_pages_through_a_listing_with_after_once_each() -> None:
    fake = FakeReddit(
        listings={MENTIONS: mentions_every(timedelta(minutes=1), 250, newest=NOW - timedelta(minutes=10))}
    )
    result = poll(fake)
    assert result.error is None
    requests = fake.requests_to(MENTIONS)
    assert [request.url.params.get("after") for request in requests] == [None, "t1_m0099", "t1_m0199"]
    mention_pages = result.pages[:3]
    assert [len(page.messages) for page in mention_pages] == [100, 100, 50]
    assert result.ids == [f"t1_m{n:04d}" for n in range(250)]
    assert mention_pages[0].cursor["mentions_next"] == "t1_m0099"
    assert mention_pages[0].cursor["mentions"] == (NOW - timedelta(hours=24)).isoformat()
    assert "mentions_next" not in mention_pages[2].cursor
    assert mention_pages[2].cursor["mentions"] == (NOW - timedelta(minutes=5)).isoformat()


def test_a_second_poll_reads_nothing_twice_and_sees_late_and_new_items() -> None:
    fake = FakeReddit(listings={MENTIONS: mentions_every(timedelta(minutes=1), 30, newest=NOW - timedelta(minutes=1))})
    first = poll(fake)
    assert len(first.ids) == 30
    fake.listings[MENTIONS] += [
        mention("t1_new", created=NOW + timedelta(minutes=3)),
        mention("t1_late", created=NOW - timedelta(minutes=2)),  # posted before the poll, listed after it
    ]
    second = poll(fake, cursor=first.cursor, now=NOW + timedelta(minutes=5))
    assert sorted(second.ids) == ["t1_late", "t1_new"]
    third = poll(fake, cursor=second.cursor, now=NOW + timedelta(minutes=10))
    assert third.ids == []
    assert len(fake.requests_to(MENTIONS)) == 3  # one page a poll once caught up


def test_the_page_bound_stops_a_stream_and_the_next_poll_resumes_it() -> None:
    fake = FakeReddit(
        listings={MENTIONS: mentions_every(timedelta(minutes=1), 250, newest=NOW - timedelta(minutes=10))}
    )
    first = poll(fake, max_pages=2)
    assert first.error is None
    assert len(fake.requests_to(MENTIONS)) == 2
    assert first.cursor["mentions_next"] == "t1_m0199"
    assert len(fake.requests_to(BRAND_COMMENTS)) == 1  # the other streams still get their turn

    fake.listings[MENTIONS] += [mention(f"t1_new{n}", created=NOW + timedelta(minutes=n)) for n in (1, 2)]
    fake.requests.clear()
    second = poll(fake, cursor=first.cursor, max_pages=2, now=NOW + timedelta(minutes=5))
    requests = fake.requests_to(MENTIONS)
    assert [request.url.params.get("after") for request in requests] == ["t1_m0199", None]
    got = first.ids + second.ids
    assert len(got) == len(set(got)) == 252, "every mention once, none twice"


def test_a_carried_over_after_whose_item_was_deleted_starts_again_from_the_top_without_a_gap() -> None:
    fake = FakeReddit(
        listings={MENTIONS: mentions_every(timedelta(minutes=1), 250, newest=NOW - timedelta(minutes=10))}
    )
    first = poll(fake, max_pages=2)
    assert first.cursor["mentions_next"] == "t1_m0199"
    fake.listings[MENTIONS] = [item for item in fake.listings[MENTIONS] if item["data"]["name"] != "t1_m0199"]

    fake.requests.clear()
    second = poll(fake, cursor=first.cursor, max_pages=2, now=NOW + timedelta(minutes=5))
    assert second.error is None
    assert [request.url.params.get("after") for request in fake.requests_to(MENTIONS)] == ["t1_m0199", None]
    mention_cursor = [page.cursor for page in second.pages if "mentions" in page.cursor][-1]
    assert mention_cursor["mentions"] == first.cursor["mentions"]  # the mark has not moved past the lost place

    got = set(first.ids) | set(second.ids)
    cursor = second.cursor
    for n in range(2, 5):
        later = poll(fake, cursor=cursor, max_pages=2, now=NOW + n * timedelta(minutes=5))
        got |= set(later.ids)
        cursor = later.cursor
    assert {f"t1_m{n:04d}" for n in range(250) if n != 199} <= got, "nothing between the old mark and the scan lost"


def test_an_empty_page_within_a_poll_is_the_listings_end() -> None:
    fake = FakeReddit(
        listings={MENTIONS: mentions_every(timedelta(minutes=1), 100, newest=NOW - timedelta(minutes=10))}
    )

    def full_page_then_more(request: httpx.Request) -> httpx.Response:
        body = fake.listing(request)
        body["data"]["after"] = "t1_m0099"  # Reddit may offer one more page that turns out empty
        return httpx.Response(200, json=body)

    fake.scripted[MENTIONS] = [full_page_then_more]
    result = poll(fake)
    assert [request.url.params.get("after") for request in fake.requests_to(MENTIONS)] == [None, "t1_m0099"]
    assert len(result.ids) == 100
    assert "mentions_next" not in result.cursor
    assert result.cursor["mentions"] == (NOW - timedelta(minutes=5)).isoformat()


def test_a_new_source_reads_back_through_its_backfill_window_only() -> None:
    # one mention every 10 minutes for 50 hours; the window is the last 24 hours
    fake = FakeReddit(
        listings={MENTIONS: mentions_every(timedelta(minutes=10), 300, newest=NOW - timedelta(minutes=1))}
    )
    result = poll(fake, backfill_from=NOW - timedelta(hours=24))
    inside = [
        item["data"]["name"]
        for item in fake.listings[MENTIONS]
        if item["data"]["created_utc"] >= (NOW - timedelta(hours=24)).timestamp()
    ]
    assert result.ids == inside and 0 < len(inside) < 300
    assert len(fake.requests_to(MENTIONS)) == 2  # the page that crosses the window's start is the last


# --- what becomes a message ------------------------------------------------------------------------------------


def test_a_mention_becomes_an_inbound_mention() -> None:
    fake = FakeReddit(listings={MENTIONS: [fixture("username_mention.json")]})
    (message,) = poll(fake).pages[0].messages
    assert message.brand == "acme"
    assert message.platform == "reddit"
    assert message.source_id == "acme-reddit"
    assert message.platform_id == "t1_lq7m0cd"
    assert message.parent_id == "t3_1p9zz9x"
    assert message.parent_author_id is None
    assert message.thread_id == "t3_1p9zz9x"
    assert message.author_id == "erik_l"
    assert message.author_handle == "u/erik_l"
    assert message.text == "u/acme_support my widget stopped charging after the update"
    assert message.permalink == "https://www.reddit.com/r/gadgets/comments/1p9zz9x/widget_owners_firmware_21/lq7m0cd/"
    assert message.created_at == datetime(2025, 11, 23, 12, 0, tzinfo=UTC)
    assert message.kind is MessageKind.MENTION
    assert message.from_brand is False


def test_replies_to_the_brand_and_the_brands_reply_match_by_fullname() -> None:
    fake = FakeReddit(
        listings={REPLIES: [fixture("comment_reply.json")], BRAND_COMMENTS: [fixture("user_comment.json")]}
    )
    result = poll(fake)
    messages = {message.platform_id: message for page in result.pages for message in page.messages}
    question, answer = messages["t1_lq7k2ab"], messages["t1_lq7n5ef"]
    assert question.kind is MessageKind.COMMENT
    assert question.from_brand is False
    assert question.text == "Still no tracking number & the chat bot just loops."
    assert question.parent_id == "t1_lq7j9zz"
    assert question.parent_author_id == BRAND  # Reddit lists it because it answers the brand
    assert question.thread_id == "t3_1p2q3r4"
    assert answer.from_brand is True
    assert answer.parent_id == question.platform_id
    assert answer.parent_key == question.key
    assert answer.thread_id == "t3_1p2q3r4"
    assert answer.author_id == BRAND
    assert answer.permalink == ("https://www.reddit.com/r/acme/comments/1p2q3r4/autumn_launch_ask_us_anything/lq7n5ef/")


def test_a_brand_reply_to_a_post_names_the_posts_author() -> None:
    on_post = thing(
        "user_comment.json",
        "t1_br1",
        created=NOW - timedelta(minutes=20),
        parent_id="t3_1pa1b2c",
        link_id="t3_1pa1b2c",
        link_author="fran_p",
    )
    fake = FakeReddit(listings={BRAND_COMMENTS: [on_post]})
    (answer,) = [message for page in poll(fake).pages for message in page.messages]
    assert (answer.parent_id, answer.parent_author_id, answer.from_brand) == ("t3_1pa1b2c", "fran_p", True)


def test_comments_on_the_brands_posts_are_inbound_comments() -> None:
    post_reply = thing(
        "comment_reply.json",
        "t1_pr1",
        created=NOW - timedelta(minutes=15),
        type="post_reply",
        subject="post reply",
        parent_id="t3_1p2q3r4",
        body="When does it ship to Canada?",
    )
    fake = FakeReddit(listings={POST_REPLIES: [post_reply]})
    (message,) = [message for page in poll(fake).pages for message in page.messages]
    assert (message.platform_id, message.parent_id, message.parent_author_id) == ("t1_pr1", "t3_1p2q3r4", BRAND)
    assert message.kind is MessageKind.COMMENT


# --- subreddit and keyword watching ----------------------------------------------------------------------------


def test_keywords_in_subreddits_search_each_for_new_posts() -> None:
    own = thing("link.json", "t3_own", created=NOW - timedelta(minutes=5), author=BRAND, title="Acme news")
    fake = FakeReddit(listings={"/r/gadgets/search": [fixture("link.json"), own]})
    result = poll(fake, options={"subreddits": "r/gadgets", "keywords": "acme, acme widgets"})
    assert result.error is None
    (request,) = fake.requests_to("/r/gadgets/search")
    params = request.url.params
    assert params["q"] == 'acme OR "acme widgets"'
    assert (params["restrict_sr"], params["sort"], params["type"]) == ("1", "new", "link")
    (post,) = result.pages[-1].messages  # the brand's own post is not a customer's
    assert post.platform_id == "t3_1pa1b2c"
    assert post.thread_id == "t3_1pa1b2c"
    assert post.parent_id is None
    assert post.kind is MessageKind.MENTION
    assert post.text == (
        "Acme Widget X flickering out of the box\n\nBought it last week, screen flickers constantly. Anyone else?"
    )
    assert (
        post.permalink == "https://www.reddit.com/r/gadgets/comments/1pa1b2c/acme_widget_x_flickering_out_of_the_box/"
    )
    assert "search_gadgets" in result.cursor


def test_subreddits_alone_watch_every_new_post_and_keywords_alone_search_all_of_reddit() -> None:
    fake = FakeReddit(listings={"/r/AcmeOwners/new": [fixture("link.json")], "/search": []})
    result = poll(fake, options={"subreddits": "AcmeOwners"})
    assert result.ids == ["t3_1pa1b2c"]
    assert "new_acmeowners" in result.cursor

    fake.requests.clear()
    poll(fake, options={"keywords": "acme"})
    (request,) = fake.requests_to("/search")
    assert request.url.params["q"] == "acme"
    assert "restrict_sr" not in request.url.params


def test_a_subreddit_option_that_names_no_subreddit_fails_before_any_request() -> None:
    fake = FakeReddit()
    result = poll(fake, options={"subreddits": "gadgets, ../api/v1/me"})
    assert type(result.error) is ConnectorError
    assert fake.requests == []


def test_a_private_subreddit_is_a_connector_error_not_a_refused_token() -> None:
    fake = FakeReddit(scripted={"/r/secret/search": [httpx.Response(403, json=fixture("forbidden.json"))]})
    result = poll(fake, options={"subreddits": "secret", "keywords": "acme"})
    assert isinstance(result.error, SubredditRefused) and "/r/secret/search" in str(result.error)
    assert not isinstance(result.error, AuthFailed)
    assert len(result.pages) == 4  # the inbox streams before it were read and kept


def test_a_refused_subreddit_stops_only_its_own_stream_and_the_poll_then_names_it() -> None:
    fake = FakeReddit(
        listings={"/r/gadgets/search": [fixture("link.json")]},
        scripted={"/r/secret/search": [httpx.Response(403, json=fixture("forbidden.json"))]},
    )
    # private (403) and banned (404: the fake knows no /r/gone) come before a subreddit that answers
    result = poll(fake, options={"subreddits": "secret, gone, gadgets", "keywords": "acme"})

    assert isinstance(result.error, PartlyFailed), "the source is not retried less often for it"
    assert "/r/secret/search" in str(result.error) and "/r/gone/search" in str(result.error)
    assert "/r/gadgets" not in str(result.error)
    assert result.ids[-1] == "t3_1pa1b2c", "the subreddit after the refused ones was still read"
    assert "search_gadgets" in result.cursor and "search_secret" not in result.cursor


# --- malformed items -----------------------------------------------------------------------------------------------

SECRET_TEXT = "my card number ends 4242 and my address is 1 Elm Row"


def test_malformed_items_are_skipped_counted_and_logged_by_id_only(reddit_log: list[logging.LogRecord]) -> None:
    no_time = mention("t1_bad1", created=NOW - timedelta(minutes=3), body=SECRET_TEXT)
    del no_time["data"]["created_utc"]
    bad_author = mention("t1_bad2", created=NOW - timedelta(minutes=4), body=SECRET_TEXT, author={"name": "x"})
    fake = FakeReddit(
        listings={
            MENTIONS: [
                mention("t1_ok1", created=NOW - timedelta(minutes=2)),
                bad_author,
                mention("t1_ok2", created=NOW - timedelta(minutes=6)),
            ]
        }
    )

    def with_junk(request: httpx.Request) -> httpx.Response:
        body = fake.listing(request)
        body["data"]["children"][1:1] = [no_time, "not a thing"]
        return httpx.Response(200, json=body)

    fake.scripted[MENTIONS] = [with_junk]
    result = poll(fake)
    assert result.error is None
    assert result.ids == ["t1_ok1", "t1_ok2"]
    assert result.pages[0].skipped == 3
    skipped = malformed(reddit_log)
    assert {getattr(record, "item_id", "absent") for record in skipped} == {"t1_bad1", "t1_bad2", None}
    assert_logged_by_id_only(reddit_log, "4242", "Elm Row")

    # re-read in the next scan (it is within the settle margin): counted once
    reddit_log.clear()
    again = poll(fake, cursor=result.cursor, now=NOW + timedelta(minutes=1))
    assert again.ids == []
    assert sum(page.skipped for page in again.pages) == 0


def test_an_item_that_makes_no_valid_message_is_skipped_by_id(reddit_log: list[logging.LogRecord]) -> None:
    no_name = mention("t1_gone", created=NOW - timedelta(minutes=3), body=SECRET_TEXT)
    no_name["data"]["name"] = ""
    fake = FakeReddit(
        listings={
            MENTIONS: [
                mention("t1_ok1", created=NOW - timedelta(minutes=2)),
                no_name,
                mention("t1_ok2", created=NOW - timedelta(minutes=6)),
            ]
        }
    )
    result = poll(fake)
    assert result.error is None
    assert result.ids == ["t1_ok1", "t1_ok2"]
    assert result.pages[0].skipped == 1
    (skipped,) = malformed(reddit_log)
    assert getattr(skipped, "item_id", "absent") == ""
    assert_logged_by_id_only(reddit_log, "4242", "Elm Row")
    again = poll(fake, cursor=result.cursor, now=NOW + timedelta(minutes=10))
    assert again.error is None and again.ids == []


def test_a_200_page_that_is_not_json_raises_connector_error() -> None:
    fake = FakeReddit(scripted={MENTIONS: [httpx.Response(200, text="<html>we took too long</html>")]})
    result = poll(fake)
    assert type(result.error) is ConnectorError
    assert result.pages == []


# --- rate limits ------------------------------------------------------------------------------------------------


def test_the_poll_stops_before_the_window_is_spent_and_waits_the_reset_in_seconds() -> None:
    fake = FakeReddit(
        listings={MENTIONS: mentions_every(timedelta(minutes=1), 250, newest=NOW - timedelta(minutes=10))},
        remaining=3.0,
        reset_seconds=317,
    )
    result = poll(fake)
    assert isinstance(result.error, RateLimited)
    assert result.error.retry_at == NOW + timedelta(seconds=317)  # seconds from now, not an epoch
    assert len(fake.requests_to(MENTIONS)) == 2
    assert fake.remaining == 1.0  # one request left unspent
    assert len(result.ids) == 200  # both pages read are kept
    assert result.cursor["mentions_next"] == "t1_m0199"


def test_429_waits_for_the_windows_reset() -> None:
    fake = FakeReddit(
        scripted={
            MENTIONS: [
                httpx.Response(
                    429,
                    json=fixture("too_many_requests.json"),
                    headers={"x-ratelimit-remaining": "0.0", "x-ratelimit-used": "600", "x-ratelimit-reset": "37"},
                )
            ]
        }
    )
    result = poll(fake)
    assert type(result.error) is RateLimited
    assert result.error.retry_at == NOW + timedelta(seconds=37)


# --- OAuth --------------------------------------------------------------------------------------------------------


def test_the_access_token_is_refreshed_once_with_basic_auth_and_reused_by_the_next_poll() -> None:
    fake = FakeReddit(listings={MENTIONS: mentions_every(timedelta(minutes=1), 3, newest=NOW)})
    sessions = SessionCache()
    first = poll(fake, sessions=sessions)
    second = poll(fake, cursor=first.cursor, sessions=sessions, now=NOW + timedelta(minutes=5))
    assert first.error is None and second.error is None
    (refresh,) = fake.token_requests()
    assert refresh.method == "POST"
    assert refresh.headers["Authorization"] == "Basic " + base64.b64encode(b"app-id:not-a-real-secret").decode()
    assert parse_qs(refresh.content.decode()) == {"grant_type": ["refresh_token"], "refresh_token": ["rt-1"]}
    assert {request.headers["Authorization"] for request in fake.requests if request not in fake.token_requests()} == {
        "Bearer access-1"
    }


def test_an_expired_access_token_is_refreshed_once_and_the_request_retried() -> None:
    fake = FakeReddit(listings={MENTIONS: mentions_every(timedelta(minutes=1), 3, newest=NOW)})
    sessions = SessionCache()
    first = poll(fake, sessions=sessions)
    fake.valid_tokens.clear()  # expired
    second = poll(fake, cursor=first.cursor, sessions=sessions, now=NOW + timedelta(minutes=5))
    assert second.error is None
    assert len(fake.token_requests()) == 2
    mentions_auth = [request.headers["Authorization"] for request in fake.requests_to(MENTIONS)]
    assert mentions_auth == ["Bearer access-1", "Bearer access-1", "Bearer access-2"]


def test_an_access_token_refused_after_a_refresh_is_auth_failed() -> None:
    refused = httpx.Response(401, json=fixture("unauthorized.json"))
    fake = FakeReddit(scripted={MENTIONS: [refused, refused]})
    sessions = SessionCache()
    result = poll(fake, sessions=sessions)
    assert isinstance(result.error, AuthFailed)
    assert len(fake.requests_to(MENTIONS)) == 2
    assert len(fake.token_requests()) == 2
    # nothing refused stays cached: the next poll starts with a fresh token
    poll(fake, sessions=sessions, now=NOW + timedelta(minutes=5))
    assert len(fake.token_requests()) == 3


def test_a_revoked_refresh_token_is_auth_failed() -> None:
    fake = FakeReddit(revoked=True)
    result = poll(fake)
    assert isinstance(result.error, AuthFailed)
    assert len(fake.requests) == 1  # the refresh only


def test_invalid_grant_in_a_200_answer_is_auth_failed() -> None:
    fake = FakeReddit(scripted={"/api/v1/access_token": [httpx.Response(200, json=fixture("invalid_grant.json"))]})
    result = poll(fake)
    assert isinstance(result.error, AuthFailed)
    assert "invalid_grant" in str(result.error)


@pytest.mark.parametrize(
    "secret",
    [
        json.dumps({"client_id": "app-id", "client_secret": "s"}),
        json.dumps({"client_id": "app-id", "refresh_token": "rt-1"}),
        "a-bare-token",
    ],
    ids=["no refresh_token", "no client_secret", "not JSON"],
)
def test_a_secret_without_the_oauth_fields_is_auth_failed_before_any_request(secret: str) -> None:
    fake = FakeReddit()
    result = poll(fake, secret=secret)
    assert isinstance(result.error, AuthFailed)
    assert fake.requests == []
