"""YouTubeConnector.pages() against an in-process fake of the YouTube Data API v3 and Google's token
endpoint (httpx.MockTransport).

Fixtures (tests/fixtures/youtube) follow the documented commentThread / comment resources, list
responses, error bodies and the OAuth token response. The fake lists threads newest first by their
top-level comment, carries at most five replies in a thread (the rest through ``comments?parentId``),
and hands out page tokens that name the last thread served, as a continuation would.
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
from replywatch.connectors.base import (
    AuthFailed,
    BudgetExhausted,
    ConnectorError,
    Meter,
    RateLimited,
    SessionCache,
)
from replywatch.connectors.youtube import YouTubeConnector
from replywatch.models import MessageKind, Source
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

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "youtube"
NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
BASE = "https://youtube.test/youtube/v3"
TOKEN_URL = "https://oauth2.test/token"
CHANNEL = "UCacmeBrandChannel00000x"
DANA = "UCdanaCustomerChannel0001"
ERIK = "UCerikCustomerChannel0002"
OPTIONS = {"channel_id": CHANNEL, "token_url": TOKEN_URL}
SECRET = json.dumps(
    {"client_id": "cid.apps.googleusercontent.com", "client_secret": "not-a-real-secret", "refresh_token": "1//rt"}
)
INCLUDED_REPLIES = 5


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


THREAD = fixture("comment_thread.json")
REPLY = THREAD["replies"]["comments"][0]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def comment(
    comment_id: str,
    *,
    published: datetime,
    author: str = DANA,
    text: str = "hello",
    parent: str | None = None,
) -> dict[str, Any]:
    item = copy.deepcopy(REPLY)
    item["id"] = comment_id
    snippet = item["snippet"]
    snippet.update(textDisplay=text, textOriginal=text, publishedAt=iso(published), updatedAt=iso(published))
    snippet["authorChannelId"] = {"value": author}
    snippet["authorDisplayName"] = "@acme" if author == CHANNEL else f"@{author[2:6].lower()}"
    if parent is None:
        del snippet["parentId"]
    else:
        snippet["parentId"] = parent
    return item


def thread(
    thread_id: str,
    *,
    published: datetime,
    author: str = DANA,
    text: str = "question",
    replies: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A thread as the fake stores it: every reply (the fake serves at most five of them inline)."""
    item = copy.deepcopy(THREAD)
    item["id"] = thread_id
    item["snippet"]["topLevelComment"] = comment(thread_id, published=published, author=author, text=text)
    item["replies"] = {"comments": replies or []}
    item["snippet"]["totalReplyCount"] = len(replies or [])
    return item


def reply(thread_id: str, suffix: str, *, published: datetime, author: str = CHANNEL, text: str = "answer") -> dict:
    return comment(f"{thread_id}.{suffix}", published=published, author=author, text=text, parent=thread_id)


def threads_every(step: timedelta, count: int, *, newest: datetime, prefix: str = "Ugt") -> list[dict[str, Any]]:
    return [thread(f"{prefix}{n:04d}", published=newest - n * step, text=f"question {n}") for n in range(count)]


def token_for(thread_id: str) -> str:
    return base64.urlsafe_b64encode(f"after:{thread_id}".encode()).decode().rstrip("=")


def anchor(token: str) -> str | None:
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        return None
    return decoded.removeprefix("after:") if decoded.startswith("after:") else None


# --- the fake Google -----------------------------------------------------------------------------------------


@dataclass
class FakeGoogle:
    threads: list[dict[str, Any]] = field(default_factory=list)
    scripted: dict[str, list[Scripted]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    issued: int = 0
    revoked: bool = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = scripted_answer(self.scripted.get(request.url.path), request)
        if answer is not None:
            return answer
        if str(request.url) == TOKEN_URL:
            return self.token(request)
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.valid_tokens:
            return httpx.Response(401, json=fixture("invalid_credentials.json"))
        if request.url.path.endswith("/commentThreads"):
            return self.comment_threads(request)
        if request.url.path.endswith("/comments"):
            return self.comments(request)
        return httpx.Response(404, json={"error": {"code": 404, "message": "Not Found", "errors": []}})

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        if self.revoked or form.get("refresh_token") != "1//rt" or form.get("grant_type") != "refresh_token":
            return httpx.Response(400, json=fixture("invalid_grant.json"))
        self.issued += 1
        body = fixture("token.json")
        body["access_token"] = f"ya29.{self.issued}"
        self.valid_tokens.add(body["access_token"])
        return httpx.Response(200, json=body)

    def comment_threads(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert params["allThreadsRelatedToChannelId"] == CHANNEL
        ordered = sorted(
            self.threads, key=lambda item: item["snippet"]["topLevelComment"]["snippet"]["publishedAt"], reverse=True
        )
        start = 0
        if "pageToken" in params:
            ids = [item["id"] for item in ordered]
            after = anchor(params["pageToken"])
            if after not in ids:
                return httpx.Response(400, json={"error": {"code": 400, "message": "Invalid page token", "errors": []}})
            start = ids.index(after) + 1
        size = int(params.get("maxResults", "20"))
        served = [self.inline(item) for item in ordered[start : start + size]]
        body = fixture("comment_thread_list.json")
        body["items"] = served
        body["pageInfo"] = {"totalResults": len(served), "resultsPerPage": size}
        if start + size < len(ordered):
            body["nextPageToken"] = token_for(served[-1]["id"])
        else:
            del body["nextPageToken"]
        return httpx.Response(200, json=body)

    @staticmethod
    def inline(item: dict[str, Any]) -> dict[str, Any]:
        served = copy.deepcopy(item)
        served["replies"]["comments"] = served["replies"]["comments"][:INCLUDED_REPLIES]
        if not served["replies"]["comments"]:
            del served["replies"]
        return served

    def comments(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        found = [item for item in self.threads if item["id"] == params["parentId"]]
        if not found:
            body = {"error": {"code": 404, "message": "not found", "errors": [{"reason": "commentNotFound"}]}}
            return httpx.Response(404, json=body)
        replies = found[0]["replies"]["comments"]
        start = int(params.get("pageToken", "0"))
        size = int(params.get("maxResults", "20"))
        body = fixture("comment_list.json")
        body["items"] = replies[start : start + size]
        if start + size < len(replies):
            body["nextPageToken"] = str(start + size)
        else:
            del body["nextPageToken"]
        return httpx.Response(200, json=body)

    def api_requests(self, resource: str = "commentThreads") -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == f"/youtube/v3/{resource}"]

    def token_requests(self) -> list[httpx.Request]:
        return [request for request in self.requests if str(request.url) == TOKEN_URL]


def poll(
    fake: FakeGoogle,
    *,
    cursor: dict[str, str] | None = None,
    max_pages: int = 10,
    now: datetime = NOW,
    backfill_from: datetime | None = NOW - timedelta(hours=24),
    sessions: SessionCache | None = None,
    secret: str = SECRET,
    options: dict[str, str] | None = None,
    meter: Meter | None = None,
) -> Poll:
    source = acme_source("youtube", "youtube", BASE, **(OPTIONS if options is None else options))
    assert YouTubeConnector.budget is not None
    meter = meter or Meter.start(YouTubeConnector.budget, source, None, now)

    pages, error = collect(
        YouTubeConnector(),
        fake.handle,
        source=source,
        secret=secret,
        now=now,
        cursor=cursor,
        max_pages=max_pages,
        backfill_from=backfill_from,
        meter=meter,
        sessions=sessions,
    )
    return Poll(pages, error, meter)


@pytest.fixture
def youtube_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.youtube") as records:
        yield records


# --- registration and settings ----------------------------------------------------------------------------------


def test_the_connector_is_registered_with_a_daily_pacific_quota() -> None:
    assert isinstance(REGISTRY["youtube"], YouTubeConnector)
    budget = YouTubeConnector.budget
    assert budget is not None
    assert (budget.unit, budget.option, budget.default_limit) == ("quota units", "daily_quota_units", 10_000)
    # 13:00 UTC on 23 Nov is 05:00 in California: the quota resets at the coming Pacific midnight
    assert budget.period(NOW) == ("2026-11-23", datetime(2026, 11, 24, 8, 0, tzinfo=UTC))


def test_a_source_without_channel_id_fails_before_any_request() -> None:
    fake = FakeGoogle()
    result = poll(fake, options={"token_url": TOKEN_URL})
    assert type(result.error) is ConnectorError
    assert "channel_id" in str(result.error)
    assert fake.requests == []


def test_the_callers_cursor_is_not_modified() -> None:
    cursor: dict[str, str] = {}
    poll(FakeGoogle(threads=threads_every(timedelta(minutes=1), 3, newest=NOW - timedelta(minutes=10))), cursor=cursor)
    assert cursor == {}


# --- paging ---------------------------------------------------------------------------------------------------


def test_pages_through_every_thread_once_with_the_documented_parameters() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 250, newest=NOW - timedelta(minutes=10)))
    result = poll(fake)
    assert result.error is None

    requests = fake.api_requests()
    assert len(requests) == 3
    for request in requests:
        params = request.url.params
        assert params["part"] == "snippet,replies"
        assert params["allThreadsRelatedToChannelId"] == CHANNEL
        assert params["order"] == "time"
        assert params["maxResults"] == "100"
        assert params["textFormat"] == "plainText"
        assert request.headers["Authorization"] == "Bearer ya29.1"
    assert "pageToken" not in requests[0].url.params
    assert [request.url.params["pageToken"] for request in requests[1:]] == [token_for("Ugt0099"), token_for("Ugt0199")]
    assert [len(page.messages) for page in result.pages] == [100, 100, 50]
    assert result.ids == [f"Ugt{n:04d}" for n in range(250)]  # newest first, none twice, none missing
    assert result.meter.used == 3


def test_a_second_poll_reads_nothing_twice_and_sees_what_is_new() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 120, newest=NOW - timedelta(minutes=10)))
    first = poll(fake)
    assert len(first.ids) == 120
    fake.threads.append(thread("UgtNEW1", published=NOW + timedelta(minutes=2)))
    # posted a moment before the first poll but listed only after it (it settles in the next scan)
    fake.threads.append(thread("UgtLATE", published=NOW - timedelta(minutes=1)))

    second = poll(fake, cursor=first.cursor, now=NOW + timedelta(minutes=5))
    assert second.error is None
    assert sorted(second.ids) == ["UgtLATE", "UgtNEW1"]

    third = poll(fake, cursor=second.cursor, now=NOW + timedelta(minutes=10))
    assert third.ids == []


def test_each_page_cursor_covers_only_the_pages_yielded() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 250, newest=NOW - timedelta(minutes=10)))
    result = poll(fake)
    first, second, last = (page.cursor for page in result.pages)
    assert first["threads_next"] == token_for("Ugt0099")
    assert second["threads_next"] == token_for("Ugt0199")
    # until the scan reaches the old mark, the mark stays where it was: a crash re-reads from the token
    assert first["threads"] == second["threads"] == (NOW - timedelta(hours=24)).isoformat()
    assert "threads_next" not in last and "threads_start" not in last
    assert last["threads"] == (NOW - timedelta(minutes=5)).isoformat()


def test_the_page_bound_stops_the_scan_and_the_next_poll_resumes_it() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 250, newest=NOW - timedelta(minutes=10)))
    first = poll(fake, max_pages=2)
    assert first.error is None
    assert len(fake.api_requests()) == 2
    assert len(first.ids) == 200
    assert first.cursor["threads_next"] == token_for("Ugt0199")
    assert first.cursor["threads_start"] == NOW.isoformat()

    fake.threads += [thread(f"UgtNEW{n}", published=NOW + timedelta(minutes=n)) for n in (1, 2, 3)]
    fake.requests.clear()
    second = poll(fake, cursor=first.cursor, max_pages=2, now=NOW + timedelta(minutes=5))
    requests = fake.api_requests()
    assert len(requests) == 2
    assert requests[0].url.params["pageToken"] == token_for("Ugt0199")  # the carried-over scan first
    assert "pageToken" not in requests[1].url.params  # then a new one from the top
    got = first.ids + second.ids
    assert len(got) == len(set(got)) == 253, "every comment once, none twice"


def test_a_page_token_google_no_longer_takes_restarts_the_scan_from_the_top() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 3, newest=NOW - timedelta(minutes=10)))
    cursor = {
        "threads": (NOW - timedelta(hours=1)).isoformat(),
        "threads_next": "c3RhbGU",
        "threads_start": (NOW - timedelta(minutes=20)).isoformat(),
    }
    result = poll(fake, cursor=cursor)
    assert result.error is None
    requests = fake.api_requests()
    assert requests[0].url.params["pageToken"] == "c3RhbGU"
    assert "pageToken" not in requests[1].url.params
    assert result.ids == ["Ugt0000", "Ugt0001", "Ugt0002"]
    assert "threads_next" not in result.cursor


# --- the first poll: its backfill window only ---------------------------------------------------------------


def test_a_new_source_reads_its_backfill_window_and_stops_paging_below_the_reply_window() -> None:
    # a thread every 30 minutes for 150 hours; backfill 24 h, replies looked for 48 h further back
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=30), 300, newest=NOW - timedelta(minutes=10)))
    result = poll(fake, backfill_from=NOW - timedelta(hours=24))
    assert result.error is None
    inside = [
        item["id"]
        for item in fake.threads
        if datetime.fromisoformat(item["snippet"]["topLevelComment"]["snippet"]["publishedAt"])
        >= NOW - timedelta(hours=24)
    ]
    assert result.ids == inside and 0 < len(inside) < 300
    assert len(fake.api_requests()) == 2  # the third page is older than 24 + 48 hours: not requested


def test_an_old_threads_new_reply_inside_the_reply_window_is_read_but_not_the_thread() -> None:
    old = thread(
        "UgtOLD",
        published=NOW - timedelta(hours=30),
        replies=[reply("UgtOLD", "r1", published=NOW - timedelta(hours=2), author=DANA, text="still waiting")],
    )
    fake = FakeGoogle(threads=[old])
    result = poll(fake, backfill_from=NOW - timedelta(hours=24))
    (message,) = [message for page in result.pages for message in page.messages]
    assert message.platform_id == "UgtOLD.r1"
    assert message.parent_id == "UgtOLD"
    assert message.parent_author_id == message.author_id == DANA  # a follow-up to her own comment


def test_a_reply_to_an_old_thread_arriving_later_is_read_by_a_later_poll() -> None:
    old = thread("UgtOLD", published=NOW - timedelta(hours=20))
    fake = FakeGoogle(threads=[old, *threads_every(timedelta(minutes=1), 5, newest=NOW - timedelta(minutes=10))])
    first = poll(fake)
    assert "UgtOLD" in first.ids
    old["replies"]["comments"].append(reply("UgtOLD", "late", published=NOW + timedelta(minutes=7)))
    old["snippet"]["totalReplyCount"] = 1
    second = poll(fake, cursor=first.cursor, now=NOW + timedelta(minutes=10))
    assert second.ids == ["UgtOLD.late"]
    (answer,) = second.pages[0].messages
    assert answer.from_brand is True


# --- what becomes a message ------------------------------------------------------------------------------------


def test_a_customer_comment_becomes_an_inbound_comment() -> None:
    fake = FakeGoogle(threads=[thread("UgtQ1", published=NOW - timedelta(minutes=30), text="Where is my order?")])
    result = poll(fake)
    (message,) = result.pages[0].messages
    assert message.brand == "acme"
    assert message.platform == "youtube"
    assert message.source_id == "acme-youtube"
    assert message.platform_id == "UgtQ1"
    assert message.thread_id == "UgtQ1"
    assert message.parent_id is None
    assert message.author_id == DANA
    assert message.author_handle == "@dana"
    assert message.text == "Where is my order?"
    assert message.created_at == NOW - timedelta(minutes=30)
    assert message.kind is MessageKind.COMMENT
    assert message.from_brand is False
    assert message.permalink == "https://www.youtube.com/watch?v=vid-autumn-01&lc=UgtQ1"


def test_the_documented_fixture_thread_gives_the_comment_and_the_brands_reply() -> None:
    fake = FakeGoogle(threads=[THREAD])
    result = poll(fake)
    question, answer = result.pages[0].messages
    assert question.platform_id == "UgxCustomerQuestion0001AaABAg"
    assert question.text == "Where is my order? It is two weeks late."
    assert answer.platform_id == "UgxCustomerQuestion0001AaABAg.9zBrandReply01"
    assert answer.from_brand is True
    assert answer.parent_id == question.platform_id
    assert answer.parent_key == question.key
    assert answer.parent_author_id == "UCdanaCustomerChannel0001"
    assert answer.author_handle == "@acme"


def test_brand_replies_and_customer_follow_ups_in_a_thread() -> None:
    start = NOW - timedelta(hours=3)
    fake = FakeGoogle(
        threads=[
            thread(
                "UgtQ",
                published=start,
                replies=[
                    reply("UgtQ", "a", published=start + timedelta(minutes=5), author=CHANNEL, text="On it!"),
                    reply("UgtQ", "b", published=start + timedelta(minutes=9), author=DANA, text="thanks, and..."),
                    reply("UgtQ", "c", published=start + timedelta(minutes=12), author=ERIK, text="same here"),
                ],
            ),
            # the brand's own comment under its video is not a customer's message; answers to it are
            thread(
                "UgtB",
                published=start - timedelta(minutes=1),
                author=CHANNEL,
                text="New colours are out!",
                replies=[reply("UgtB", "x", published=start, author=ERIK, text="when in blue?")],
            ),
        ]
    )
    result = poll(fake)
    messages = {message.platform_id: message for page in result.pages for message in page.messages}
    assert set(messages) == {"UgtQ", "UgtQ.a", "UgtQ.b", "UgtQ.c", "UgtB.x"}
    brand = messages["UgtQ.a"]
    assert (brand.from_brand, brand.parent_id, brand.thread_id, brand.author_id) == (True, "UgtQ", "UgtQ", CHANNEL)
    follow_up = messages["UgtQ.b"]
    assert follow_up.from_brand is False
    assert follow_up.parent_author_id == follow_up.author_id == DANA
    other = messages["UgtQ.c"]
    assert (other.from_brand, other.parent_author_id, other.author_id) == (False, DANA, ERIK)
    on_brand_post = messages["UgtB.x"]
    assert (on_brand_post.from_brand, on_brand_post.parent_id, on_brand_post.parent_author_id) == (
        False,
        "UgtB",
        CHANNEL,
    )
    assert on_brand_post.permalink == "https://www.youtube.com/watch?v=vid-autumn-01&lc=UgtB.x"


def test_a_thread_with_more_replies_than_it_carries_has_them_all_read() -> None:
    start = NOW - timedelta(hours=2)
    replies = [reply("UgtBIG", f"r{n}", published=start + timedelta(minutes=n), author=DANA) for n in range(1, 8)]
    replies.append(reply("UgtBIG", "r8", published=start + timedelta(minutes=30), author=CHANNEL, text="Fixed!"))
    fake = FakeGoogle(threads=[thread("UgtBIG", published=start, replies=replies)])
    result = poll(fake)
    (request,) = fake.api_requests("comments")
    assert request.url.params["parentId"] == "UgtBIG"
    assert request.url.params["part"] == "snippet"
    assert request.url.params["textFormat"] == "plainText"
    assert result.ids == ["UgtBIG", *[f"UgtBIG.r{n}" for n in range(1, 9)]]
    brand = result.pages[0].messages[-1]
    assert (brand.platform_id, brand.from_brand, brand.parent_id) == ("UgtBIG.r8", True, "UgtBIG")
    assert result.meter.used == 2  # the thread list and the replies


def test_an_idle_poll_does_not_read_a_threads_replies_again() -> None:
    start = NOW - timedelta(hours=2)
    replies = [reply("UgtBIG", f"r{n}", published=start + timedelta(minutes=n), author=DANA) for n in range(1, 9)]
    fake = FakeGoogle(threads=[thread("UgtBIG", published=start, replies=replies)])
    first = poll(fake)
    assert len(fake.api_requests("comments")) == 1

    fake.requests.clear()
    second = poll(fake, cursor=first.cursor, now=NOW + timedelta(minutes=5))
    assert second.error is None and second.ids == []
    assert fake.api_requests("comments") == []  # the count has not changed: nothing to read through
    assert len(fake.api_requests()) == 1
    assert second.meter.used == 1
    newest = int((start + timedelta(minutes=8)).timestamp())
    assert first.cursor["threads_replies"] == second.cursor["threads_replies"] == f"UgtBIG=8@{newest}"


def test_a_changed_reply_count_is_read_through_exactly_once() -> None:
    start = NOW - timedelta(hours=2)
    replies = [reply("UgtBIG", f"r{n}", published=start + timedelta(minutes=n), author=DANA) for n in range(1, 9)]
    big = thread("UgtBIG", published=start, replies=replies)
    fake = FakeGoogle(threads=[big])
    first = poll(fake)
    big["replies"]["comments"].append(reply("UgtBIG", "late", published=NOW + timedelta(minutes=2), text="Fixed"))
    big["snippet"]["totalReplyCount"] = 9

    fake.requests.clear()
    second = poll(fake, cursor=first.cursor, now=NOW + timedelta(minutes=5))
    assert second.ids == ["UgtBIG.late"]
    assert second.pages[0].messages[0].from_brand is True
    assert [request.url.params["parentId"] for request in fake.api_requests("comments")] == ["UgtBIG"]

    fake.requests.clear()
    third = poll(fake, cursor=second.cursor, now=NOW + timedelta(minutes=10))
    assert third.ids == []
    assert fake.api_requests("comments") == []


def test_reply_counts_are_kept_only_for_threads_inside_the_reply_window() -> None:
    start = NOW - timedelta(hours=2)
    replies = [reply("UgtBIG", f"r{n}", published=start + timedelta(minutes=n), author=DANA) for n in range(1, 9)]
    fake = FakeGoogle(threads=[thread("UgtBIG", published=start, replies=replies)])
    cursor = poll(fake).cursor
    assert "UgtBIG=" in cursor["threads_replies"]
    for days in (3, 4):  # the mark moves on; the window (48 h) behind it leaves the thread out
        cursor = poll(fake, cursor=cursor, now=NOW + timedelta(days=days)).cursor
    assert "threads_replies" not in cursor


def test_reply_pages_count_against_the_page_budget_and_the_next_poll_finishes_them() -> None:
    start = NOW - timedelta(hours=7)
    replies = [
        reply("UgtBIG", f"r{n:03d}", published=start + timedelta(minutes=n), author=DANA if n % 2 else CHANNEL)
        for n in range(1, 351)
    ]
    fake = FakeGoogle(
        threads=[
            thread("UgtNEWER", published=NOW - timedelta(minutes=20)),
            thread("UgtBIG", published=start, replies=replies),
            thread("UgtOLDER", published=start - timedelta(minutes=30)),
        ]
    )
    expected = {"UgtNEWER", "UgtBIG", "UgtOLDER", *(item["id"] for item in replies)}

    first = poll(fake, max_pages=3)
    assert first.error is None
    assert len(fake.requests) - len(fake.token_requests()) == 3  # 1 thread page + 2 of the 4 reply pages
    assert first.meter.used == 3
    assert first.ids == ["UgtNEWER", "UgtBIG", *(item["id"] for item in replies[:200])]
    assert first.cursor["threads"] == (NOW - timedelta(hours=24)).isoformat()  # the scan has not moved on
    assert "threads_reading" in first.cursor

    fake.requests.clear()
    second = poll(fake, cursor=first.cursor, max_pages=3, now=NOW + timedelta(minutes=5))
    assert second.error is None
    assert [request.url.path.rsplit("/", 1)[1] for request in fake.api_requests("comments") + fake.api_requests()] == [
        "comments",
        "comments",
        "commentThreads",
    ]
    assert [request.url.params["pageToken"] for request in fake.api_requests("comments")] == ["200", "300"]
    got = first.ids + second.ids
    assert len(got) == len(set(got)), "nothing offered twice"
    assert set(got) == expected, "every reply read"
    assert "threads_reading" not in second.cursor
    assert second.cursor["threads"] == NOW.isoformat()  # the scan finished: the mark moves on

    fake.requests.clear()
    idle = poll(fake, cursor=second.cursor, max_pages=3, now=NOW + timedelta(minutes=10))
    assert idle.ids == [] and fake.api_requests("comments") == []


def test_a_read_through_cut_short_by_the_budget_makes_progress_with_one_page_a_poll() -> None:
    start = NOW - timedelta(hours=7)
    replies = [reply("UgtBIG", f"r{n:03d}", published=start + timedelta(minutes=n), author=DANA) for n in range(1, 251)]
    fake = FakeGoogle(threads=[thread("UgtBIG", published=start, replies=replies)])
    got: list[str] = []
    cursor: dict[str, str] = {}
    for n in range(6):
        fake.requests.clear()
        result = poll(fake, cursor=cursor, max_pages=1, now=NOW + n * timedelta(minutes=5))
        assert result.error is None
        assert len(fake.requests) - len(fake.token_requests()) == 1
        got += result.ids
        cursor = result.cursor
    assert len(got) == len(set(got)) == 251


def test_a_pending_read_through_of_a_deleted_thread_is_dropped() -> None:
    start = NOW - timedelta(hours=7)
    replies = [reply("UgtBIG", f"r{n:03d}", published=start + timedelta(minutes=n), author=DANA) for n in range(1, 251)]
    fake = FakeGoogle(
        threads=[
            thread("UgtNEW", published=NOW - timedelta(minutes=20)),
            thread("UgtBIG", published=start, replies=replies),
        ]
    )
    first = poll(fake, max_pages=2)
    assert "threads_reading" in first.cursor
    fake.threads = [item for item in fake.threads if item["id"] != "UgtBIG"]
    second = poll(fake, cursor=first.cursor, now=NOW + timedelta(minutes=5))
    assert second.error is None
    assert "threads_reading" not in second.cursor
    assert second.cursor["threads"] == NOW.isoformat()


# --- malformed items ----------------------------------------------------------------------------------------------

SECRET_TEXT = "my card number ends 4242 and my address is 1 Elm Row"


def test_malformed_items_are_skipped_counted_and_logged_by_id_only(youtube_log: list[logging.LogRecord]) -> None:
    start = NOW - timedelta(hours=1)
    no_author = thread("UgtBAD", published=start, text=SECRET_TEXT)
    del no_author["snippet"]["topLevelComment"]["snippet"]["authorChannelId"]
    bad_reply = reply("UgtOK", "bad", published=start + timedelta(minutes=3), author=DANA, text=SECRET_TEXT)
    bad_reply["snippet"]["authorChannelId"] = "UCnotAnObject"
    good = thread(
        "UgtOK",
        published=start - timedelta(minutes=1),
        replies=[bad_reply, reply("UgtOK", "fine", published=start + timedelta(minutes=4))],
    )
    fake = FakeGoogle(threads=[thread("UgtFIRST", published=start + timedelta(minutes=1)), no_author, good])

    def with_junk(request: httpx.Request) -> httpx.Response:
        response = fake.comment_threads(request)
        body = response.json()
        body["items"].append("not a thread")
        return httpx.Response(200, json=body)

    fake.scripted["/youtube/v3/commentThreads"] = [with_junk]
    result = poll(fake)
    assert result.error is None
    assert result.ids == ["UgtFIRST", "UgtOK", "UgtOK.fine"]
    assert result.pages[0].skipped == 3

    skipped = malformed(youtube_log)
    assert {getattr(record, "item_id", "absent") for record in skipped} == {"UgtBAD", "UgtOK.bad", None}
    assert_logged_by_id_only(youtube_log, "4242", "Elm Row")

    # the next scan reads those threads again, but a skipped comment is reported once
    youtube_log.clear()
    again = poll(fake, cursor=result.cursor, now=NOW + timedelta(minutes=10))
    assert again.ids == []
    assert sum(page.skipped for page in again.pages) == 0
    assert malformed(youtube_log) == []


def test_a_comment_that_makes_no_valid_message_is_skipped_by_id(youtube_log: list[logging.LogRecord]) -> None:
    start = NOW - timedelta(hours=1)
    empty_top = thread("UgtEMPTY", published=start, text=SECRET_TEXT)
    empty_top["snippet"]["topLevelComment"]["id"] = ""
    empty_reply = reply("UgtOK", "x", published=start + timedelta(minutes=2), author=DANA, text=SECRET_TEXT)
    empty_reply["id"] = ""
    good = thread(
        "UgtOK",
        published=start - timedelta(minutes=1),
        replies=[empty_reply, reply("UgtOK", "fine", published=start + timedelta(minutes=3))],
    )
    big_replies = [reply("UgtBIG", f"r{n}", published=start + timedelta(minutes=n), author=DANA) for n in range(1, 8)]
    big_replies[6]["id"] = ""  # read through comments?parentId
    big_replies[6]["snippet"]["textOriginal"] = SECRET_TEXT
    big = thread("UgtBIG", published=start - timedelta(minutes=2), replies=big_replies)
    fake = FakeGoogle(threads=[thread("UgtFIRST", published=start + timedelta(minutes=5)), empty_top, good, big])
    result = poll(fake)
    assert result.error is None
    assert result.ids == ["UgtFIRST", "UgtOK", "UgtOK.fine", "UgtBIG", *[f"UgtBIG.r{n}" for n in range(1, 7)]]
    assert result.pages[0].skipped == 3
    skipped = malformed(youtube_log)
    assert [getattr(record, "item_id", "absent") for record in skipped] == ["", "", ""]
    assert_logged_by_id_only(youtube_log, "4242", "Elm Row")


def test_a_page_token_refused_twice_in_one_poll_is_a_connector_error() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 150, newest=NOW - timedelta(minutes=10)))
    refused = httpx.Response(400, json={"error": {"code": 400, "message": "Invalid page token", "errors": []}})
    fake.scripted["/youtube/v3/commentThreads"] = [refused, None, refused]
    cursor = {"threads": (NOW - timedelta(hours=24)).isoformat(), "threads_next": "c3RhbGU"}
    result = poll(fake, cursor=cursor)
    assert isinstance(result.error, ConnectorError)
    assert len(result.ids) == 100  # the restarted scan's first page is kept
    assert result.cursor["threads"] == cursor["threads"]  # and the mark has not moved


def test_a_200_page_that_is_not_json_raises_connector_error() -> None:
    fake = FakeGoogle(scripted={"/youtube/v3/commentThreads": [httpx.Response(200, text="<html>maintenance</html>")]})
    result = poll(fake)
    assert type(result.error) is ConnectorError
    assert result.pages == []


def test_a_server_error_raises_connector_error() -> None:
    fake = FakeGoogle(scripted={"/youtube/v3/commentThreads": [httpx.Response(503, text="backend error")]})
    result = poll(fake)
    assert type(result.error) is ConnectorError


# --- quota and rate limits -------------------------------------------------------------------------------------


def test_quota_exceeded_is_budget_exhausted_until_pacific_midnight() -> None:
    fake = FakeGoogle(
        threads=threads_every(timedelta(minutes=1), 150, newest=NOW - timedelta(minutes=10)),
        scripted={"/youtube/v3/commentThreads": [None, httpx.Response(403, json=fixture("quota_exceeded.json"))]},
    )
    result = poll(fake)
    assert isinstance(result.error, BudgetExhausted)
    assert result.error.retry_at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert len(result.pages) == 1 and len(result.ids) == 100  # the page before it is kept


def test_rate_limit_exceeded_is_rate_limited_with_googles_retry_after() -> None:
    fake = FakeGoogle(
        scripted={
            "/youtube/v3/commentThreads": [
                httpx.Response(403, json=fixture("rate_limit_exceeded.json"), headers={"Retry-After": "120"})
            ]
        }
    )
    result = poll(fake)
    assert type(result.error) is RateLimited
    assert result.error.retry_at == NOW + timedelta(seconds=120)
    assert result.pages == []


def test_429_is_rate_limited_with_a_default_backoff() -> None:
    fake = FakeGoogle(scripted={"/youtube/v3/commentThreads": [httpx.Response(429, json={"error": {"code": 429}})]})
    result = poll(fake)
    assert type(result.error) is RateLimited
    assert result.error.retry_at == NOW + timedelta(minutes=1)


def test_another_403_means_the_grant_is_refused() -> None:
    fake = FakeGoogle(scripted={"/youtube/v3/commentThreads": [httpx.Response(403, json=fixture("forbidden.json"))]})
    assert isinstance(poll(fake).error, AuthFailed)


def test_the_meter_is_required_before_each_call_and_spent_after() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 250, newest=NOW - timedelta(minutes=10)))
    options = {**OPTIONS, "daily_quota_units": "9"}
    source = Source(
        brand_id="acme", source_id="acme-youtube", platform="youtube", base_url=BASE, token_secret="s", options=options
    )
    assert YouTubeConnector.budget is not None
    meter = Meter.start(YouTubeConnector.budget, source, None, NOW)
    meter.used = 7  # earlier polls today
    result = poll(fake, options=options, meter=meter)
    assert isinstance(result.error, BudgetExhausted)
    assert result.error.retry_at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert len(fake.api_requests()) == 2  # the third call is not made
    assert len(result.pages) == 2
    assert meter.used == 9


# --- OAuth ---------------------------------------------------------------------------------------------------------


def test_the_access_token_is_refreshed_once_and_reused_by_the_next_poll() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 3, newest=NOW - timedelta(minutes=10)))
    sessions = SessionCache()
    first = poll(fake, sessions=sessions)
    second = poll(fake, cursor=first.cursor, sessions=sessions, now=NOW + timedelta(minutes=5))
    assert first.error is None and second.error is None
    (refresh,) = fake.token_requests()
    form = {key: values[0] for key, values in parse_qs(refresh.content.decode()).items()}
    assert form == {
        "grant_type": "refresh_token",
        "client_id": "cid.apps.googleusercontent.com",
        "client_secret": "not-a-real-secret",
        "refresh_token": "1//rt",
    }
    assert {request.headers["Authorization"] for request in fake.api_requests()} == {"Bearer ya29.1"}


def test_the_access_token_is_refreshed_again_once_it_expires() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 3, newest=NOW - timedelta(minutes=10)))
    sessions = SessionCache()
    first = poll(fake, sessions=sessions)
    poll(fake, cursor=first.cursor, sessions=sessions, now=NOW + timedelta(seconds=3599))
    assert len(fake.token_requests()) == 2  # refreshed a little before Google's expiry


def test_a_refused_access_token_is_dropped_refreshed_once_and_the_call_retried() -> None:
    fake = FakeGoogle(threads=threads_every(timedelta(minutes=1), 3, newest=NOW - timedelta(minutes=10)))
    sessions = SessionCache()
    first = poll(fake, sessions=sessions)
    fake.valid_tokens.clear()  # Google expired it early
    second = poll(fake, cursor=first.cursor, sessions=sessions, now=NOW + timedelta(minutes=5))
    assert second.error is None
    assert len(fake.token_requests()) == 2
    assert [request.headers["Authorization"] for request in fake.api_requests()] == [
        "Bearer ya29.1",
        "Bearer ya29.1",
        "Bearer ya29.2",
    ]


def test_an_access_token_refused_after_a_refresh_is_auth_failed() -> None:
    fake = FakeGoogle(
        scripted={
            "/youtube/v3/commentThreads": [
                httpx.Response(401, json=fixture("invalid_credentials.json")),
                httpx.Response(401, json=fixture("invalid_credentials.json")),
            ]
        }
    )
    sessions = SessionCache()
    result = poll(fake, sessions=sessions)
    assert isinstance(result.error, AuthFailed)
    assert len(fake.api_requests()) == 2
    assert len(fake.token_requests()) == 2
    # nothing refused stays cached: the next poll starts with a fresh token
    poll(fake, sessions=sessions, now=NOW + timedelta(minutes=5))
    assert len(fake.token_requests()) == 3


def test_a_revoked_refresh_token_is_auth_failed() -> None:
    fake = FakeGoogle(revoked=True)
    result = poll(fake)
    assert isinstance(result.error, AuthFailed)
    assert "invalid_grant" in str(result.error)
    assert fake.api_requests() == []


@pytest.mark.parametrize(
    "secret",
    [
        json.dumps({"client_id": "cid", "client_secret": "cs"}),
        json.dumps({"client_id": "cid", "refresh_token": "1//rt"}),
        "ya29.a-bare-access-token",
    ],
    ids=["no refresh_token", "no client_secret", "not JSON"],
)
def test_a_secret_without_the_oauth_fields_is_auth_failed_before_any_request(secret: str) -> None:
    fake = FakeGoogle()
    result = poll(fake, secret=secret)
    assert isinstance(result.error, AuthFailed)
    assert fake.requests == []


def test_a_token_endpoint_outage_is_a_connector_error_not_a_refusal() -> None:
    fake = FakeGoogle(scripted={"/token": [httpx.Response(503, text="unavailable")]})
    result = poll(fake)
    assert type(result.error) is ConnectorError
