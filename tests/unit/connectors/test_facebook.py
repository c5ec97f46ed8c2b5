"""FacebookConnector.pages() against an in-process fake of the Graph API (httpx.MockTransport).

Fixtures (tests/fixtures/facebook) follow Graph's documented answers: the Page feed with
embedded comments (``filter(stream)``, so replies carry ``parent``), Page conversations with
embedded messages, and Graph's error bodies. The fake pages the feed by time (``until`` and
``__paging_token``) and everything else by cursor, and puts the access token in every
``paging.next`` URL, as Graph does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from replywatch.connectors.base import AuthFailed, ConnectorError, Page, RateLimited
from replywatch.connectors.facebook import FacebookConnector
from replywatch.models import MessageKind, Source
from tests.support.connectors import (
    acme_source,
    assert_logged_by_id_only,
    captured_logs,
    collect,
    malformed,
    messages,
    platform_ids,
)
from tests.unit.connectors.graph_fake import (
    BASE,
    LEAKY_TOKEN,
    TOKEN,
    FakeGraph,
    cursor_page,
    decode_cursor,
    embedded_limit,
    encode_cursor,
    fixture,
    graph_error,
    graph_time,
    no_such_object,
    parse_graph_time,
)

NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
PAGE_ID = "1000001"
PAGE = {"name": "Acme", "id": PAGE_ID}
DANA = {"name": "Dana Smith", "id": "5550001"}
SAM = {"name": "Sam Lee", "id": "5550002"}
ROBIN = {"name": "Robin Park", "email": "7770001@facebook.com", "id": "7770001"}
FEED = f"{PAGE_ID}/feed"
CONVERSATIONS = f"{PAGE_ID}/conversations"
SOURCE = acme_source("facebook", "facebook", BASE, page_id=PAGE_ID)
SECRET_TEXT = "my card number ends 4242 and I live at 1 Elm Row"


# --- fixtures in Graph's documented shapes -----------------------------------------------------------


def post(post_id: str, created: datetime, *, author: dict[str, str] = PAGE, comments: list[Any] | None = None) -> dict:
    return {
        "id": f"{PAGE_ID}_{post_id}",
        "created_time": graph_time(created),
        "message": f"post {post_id}",
        "permalink_url": f"https://www.facebook.com/{PAGE_ID}/posts/{post_id}",
        "from": author,
        "comments": comments or [],
    }


def comment(
    comment_id: str, created: datetime, *, author: dict[str, str] = DANA, parent: dict[str, Any] | None = None
) -> dict:
    item: dict[str, Any] = {
        "id": comment_id,
        "created_time": graph_time(created),
        "message": f"comment {comment_id}",
        "permalink_url": f"https://www.facebook.com/{PAGE_ID}/posts/1?comment_id={comment_id}",
        "from": author,
    }
    if parent is not None:
        item["parent"] = {"id": parent["id"], "from": parent["from"]}
    return item


def dm(mid: str, created: datetime, author: dict[str, str]) -> dict:
    other = PAGE if author["id"] != PAGE_ID else ROBIN
    return {
        "id": mid,
        "created_time": graph_time(created),
        "message": f"message {mid}",
        "from": author,
        "to": {"data": [other]},
    }


def conversation(conversation_id: str, messages: list[dict]) -> dict:
    return {"id": conversation_id, "messages": messages}


def newest_first(items: list[dict], key: str = "created_time") -> list[dict]:
    return sorted(items, key=lambda item: parse_graph_time(item[key]), reverse=True)


# --- the fake Page ------------------------------------------------------------------------------------


@dataclass
class FakePage(FakeGraph):
    posts: list[dict] = field(default_factory=list)
    conversations: list[dict] = field(default_factory=list)

    def route(self, path: str, request: httpx.Request) -> dict[str, Any] | httpx.Response | None:
        params = request.url.params
        if path == FEED:
            return self.feed(request)
        if path.endswith("/comments"):
            assert params["filter"] == "stream" and params["order"] == "reverse_chronological"
            found = [p for p in self.posts if p["id"] == path.removesuffix("/comments")]
            if not found:
                return no_such_object(path.removesuffix("/comments"))
            comments = newest_first(found[0]["comments"])
            return cursor_page(comments, self.start(request), int(params["limit"]), f"{BASE}/{path}?filter=stream")
        if path == CONVERSATIONS:
            assert params["platform"] == "messenger"
            listed = []
            for item in self.conversations:
                messages = newest_first(item["messages"])
                listed.append(
                    {
                        "id": item["id"],
                        "updated_time": messages[0]["created_time"],
                        "messages": cursor_page(
                            messages, 0, embedded_limit(params["fields"], "messages"), f"{BASE}/{item['id']}/messages"
                        ),
                    }
                )
            listed = newest_first(listed, "updated_time")
            return cursor_page(listed, self.start(request), int(params["limit"]), f"{BASE}/{path}?platform=messenger")
        return None

    def feed(self, request: httpx.Request) -> dict[str, Any]:
        """The Page feed, newest first, from ``since``, paged by time like Graph's."""
        params = request.url.params
        fields = params["fields"]
        assert "comments.filter(stream).order(reverse_chronological)" in fields
        since = int(params.get("since", "0"))
        posts = newest_first([p for p in self.posts if parse_graph_time(p["created_time"]).timestamp() >= since])
        token = params.get("__paging_token")
        if token and decode_cursor(token) is None:  # a fixture's token: past the end of what the fake holds
            return {"data": []}
        start = 0
        if token:  # paged by time, as Graph does: a post deleted meanwhile moves nothing
            until = int(params["until"])
            start = sum(1 for p in posts if parse_graph_time(p["created_time"]).timestamp() >= until)
        limit = int(params["limit"])
        chunk = posts[start : start + limit]
        data = []
        for item in chunk:
            rendered = {key: value for key, value in item.items() if key != "comments"}
            if item["comments"]:
                rendered["comments"] = cursor_page(
                    newest_first(item["comments"]),
                    0,
                    embedded_limit(fields, "comments"),
                    f"{BASE}/{item['id']}/comments?filter=stream",
                )
            data.append(rendered)
        page: dict[str, Any] = {"data": data}
        if start + len(chunk) < len(posts):
            until = int(parse_graph_time(chunk[-1]["created_time"]).timestamp())
            query = {"limit": limit, "access_token": LEAKY_TOKEN, "until": until}
            page["paging"] = {
                "previous": f"{BASE}/{FEED}?" + urlencode({**query, "__previous": 1}),
                "next": f"{BASE}/{FEED}?" + urlencode({**query, "__paging_token": encode_cursor(start + len(chunk))}),
            }
        return page


def poll(
    fake: FakePage,
    *,
    cursor: dict[str, str] | None = None,
    max_pages: int = 10,
    now: datetime = NOW,
    backfill_from: datetime | None = NOW - timedelta(hours=24),
    source: Source = SOURCE,
    secret: str = TOKEN,
) -> tuple[list[Page], ConnectorError | None]:
    return collect(
        FacebookConnector(),
        fake.handle,
        source=source,
        secret=secret,
        now=now,
        cursor=dict(cursor or {}),
        max_pages=max_pages,
        backfill_from=backfill_from,
    )


@pytest.fixture
def facebook_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.facebook", "replywatch.connectors.meta") as records:
        yield records


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


# --- documented answers become messages ------------------------------------------------------------


def test_a_documented_feed_answer_becomes_comments_replies_and_a_post_by_a_visitor() -> None:
    fake = FakePage(scripted={FEED: [httpx.Response(200, json=fixture("facebook", "feed.json"))]})
    pages, error = poll(fake)
    assert error is None
    found = {message.platform_id: message for message in messages(pages)}
    # The Page's own comment on its own post answers nobody and is left out.
    assert set(found) == {"1000001_2002", "2002_3101", "2001_3001", "2001_3002", "2001_3003", "2001_3004"}

    visitor = found["1000001_2002"]
    assert visitor.kind is MessageKind.MENTION and visitor.from_brand is False
    assert (visitor.author_id, visitor.author_handle) == ("5550002", "Sam Lee")
    assert visitor.permalink == "https://www.facebook.com/1000001/posts/2002"

    answer_to_visitor = found["2002_3101"]
    assert answer_to_visitor.from_brand is True
    assert (answer_to_visitor.parent_id, answer_to_visitor.parent_author_id) == ("1000001_2002", "5550002")
    assert answer_to_visitor.parent_by_brand is False

    opener = found["2001_3001"]
    assert opener.kind is MessageKind.COMMENT and opener.from_brand is False
    assert opener.brand == "acme" and opener.platform == "facebook" and opener.source_id == "acme-facebook"
    assert (opener.parent_id, opener.parent_author_id, opener.thread_id) == ("1000001_2001", PAGE_ID, "1000001_2001")
    assert opener.parent_by_brand is True
    assert opener.text == "My order arrived broken"
    assert opener.created_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert opener.permalink == "https://www.facebook.com/1000001/posts/2001?comment_id=3001"

    follow_up = found["2001_3002"]  # Dana replying to her own comment before the Page answered
    assert (follow_up.parent_id, follow_up.parent_author_id, follow_up.author_id) == (
        "2001_3001",
        DANA["id"],
        "5550001",
    )

    reply = found["2001_3003"]
    assert reply.from_brand is True and reply.parent_id == "2001_3001" and reply.author_id == PAGE_ID
    assert reply.parent_key == "acme#facebook#2001_3001"


def test_the_feed_is_followed_by_until_and_paging_token_and_no_cursor_keeps_the_token() -> None:
    fake = FakePage(scripted={FEED: [httpx.Response(200, json=fixture("facebook", "feed.json"))]})
    pages, error = poll(fake)
    assert error is None
    second = fake.requests_to(FEED)[1]
    assert second.url.params["until"] == "1763888400"
    assert second.url.params["__paging_token"] == "enc_AdDnext"
    assert "access_token" not in second.url.params
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}" for request in fake.requests)
    for page in pages:
        assert "EAAGm0PX4ZCpsBAFakeToken" not in repr(page.cursor)


def test_a_documented_conversation_becomes_dms_each_answering_the_one_before() -> None:
    fake = FakePage(scripted={CONVERSATIONS: [httpx.Response(200, json=fixture("facebook", "conversations.json"))]})
    pages, error = poll(fake)
    assert error is None
    found = {message.platform_id: message for message in messages(pages)}
    assert set(found) == {"m_Ab1", "m_Ab2", "m_Ab3"}
    first, second, answer = found["m_Ab1"], found["m_Ab2"], found["m_Ab3"]
    assert first.kind is MessageKind.DM and first.parent_id is None and first.thread_id == "t_10160000000000001"
    assert (first.author_id, first.author_handle, first.text) == ("7770001", "Robin Park", "Where is my parcel?")
    # The second is Robin's follow-up to the first; the Page's answer replies to the latest.
    assert (second.parent_id, second.parent_author_id, second.author_id) == ("m_Ab1", "7770001", "7770001")
    assert (answer.parent_id, answer.from_brand, answer.author_id) == ("m_Ab2", True, PAGE_ID)
    assert "email" not in repr(answer.model_dump()) and "@facebook.com" not in repr(answer.model_dump())


def test_the_pages_own_first_message_in_a_conversation_answers_nobody() -> None:
    fake = FakePage(
        conversations=[conversation("t_1", [dm("m_1", ago(30), PAGE), dm("m_2", ago(20), ROBIN)])],
    )
    pages, _ = poll(fake)
    (message,) = messages(pages)
    assert message.platform_id == "m_2" and message.parent_id == "m_1" and message.parent_author_id == PAGE_ID
    assert message.parent_by_brand is True


# --- paging, bounds and resuming -------------------------------------------------------------------------


def busy_page() -> FakePage:
    """60 posts over ten hours, two comments each (one a Page reply), one post with 60 more
    comments than it embeds; 30 conversations of three messages."""
    posts = []
    for n in range(60):
        created = ago(600 - n * 10)
        question = comment(f"{n}_1", created + timedelta(minutes=1))
        answer = comment(f"{n}_2", created + timedelta(minutes=2), author=PAGE, parent=question)
        posts.append(post(str(2000 + n), created, comments=[question, answer]))
    posts[55]["comments"] += [comment(f"55_x{k}", ago(45 - k / 2)) for k in range(60)]  # on the first feed page
    conversations = [
        conversation(
            f"t_{n}",
            [
                dm(f"m_{n}_a", ago(500 - n), ROBIN),
                dm(f"m_{n}_b", ago(499 - n), ROBIN),
                dm(f"m_{n}_c", ago(498 - n), PAGE),
            ],
        )
        for n in range(30)
    ]
    return FakePage(posts=posts, conversations=conversations)


def everything(fake: FakePage) -> set[str]:
    comments = {item["id"] for p in fake.posts for item in p["comments"]}
    return comments | {item["id"] for c in fake.conversations for item in c["messages"]}


def test_every_comment_and_message_is_read_once_across_feed_pages_comment_pages_and_conversation_pages() -> None:
    fake = busy_page()
    pages, error = poll(fake)
    assert error is None
    got = platform_ids(pages)
    assert len(got) == len(set(got)), "no message twice"
    assert set(got) == everything(fake), "no message missed"

    assert len(fake.requests_to(FEED)) == 3  # 60 posts, 25 a page
    (more_comments,) = fake.requests_to(f"{PAGE_ID}_2055/comments")
    assert more_comments.url.params["limit"] == "100" and more_comments.url.params["after"]
    assert len(fake.requests_to(CONVERSATIONS)) == 2
    for request in fake.requests:
        assert "access_token" not in request.url.params
    assert len(pages) == 3 + 1 + 2  # one page per request
    assert all(LEAKY_TOKEN not in repr(page.cursor) for page in pages)


def test_the_page_bound_holds_per_stream_and_the_next_poll_resumes_where_it_stopped() -> None:
    fake = busy_page()
    first, error = poll(fake, max_pages=2)
    assert error is None
    assert len(fake.requests_to(FEED)) == 1  # the first feed page, then the post it left to read on
    assert len(fake.requests_to(f"{PAGE_ID}_2055/comments")) == 1
    assert len(fake.requests_to(CONVERSATIONS)) == 2  # its own budget: not starved by the feed
    cursor = first[-1].cursor
    assert "comments_scan" in cursor and "messages_scan" not in cursor

    fake.requests.clear()
    second, error = poll(fake, cursor=cursor, max_pages=2)
    assert error is None
    assert [request.url.params.get("__paging_token") is not None for request in fake.requests_to(FEED)] == [True, True]
    got = platform_ids(first) + platform_ids(second)
    assert len(got) == len(set(got)) and set(got) == everything(fake)
    assert "comments_scan" not in second[-1].cursor


def test_a_later_poll_reads_what_is_new_and_nothing_twice() -> None:
    fake = busy_page()
    first, _ = poll(fake)
    cursor = first[-1].cursor
    assert cursor["comments"] == (NOW - timedelta(minutes=5)).isoformat()

    old_post = fake.posts[0]
    fake.posts[0]["comments"].append(comment("0_late", NOW + timedelta(minutes=1), parent=old_post["comments"][0]))
    # Created before the first poll began but not yet listed then: Graph's lists can trail.
    fake.posts[30]["comments"].append(comment("30_trailing", NOW - timedelta(minutes=2)))
    fake.conversations[3]["messages"].append(dm("m_3_d", NOW + timedelta(minutes=1), ROBIN))

    later, error = poll(fake, cursor=cursor, now=NOW + timedelta(minutes=2))
    assert error is None
    found = {message.platform_id: message for message in messages(later)}
    assert set(found) == {"0_late", "30_trailing", "m_3_d"}
    assert found["m_3_d"].parent_id == "m_3_c" and found["m_3_d"].parent_author_id == PAGE_ID
    assert found["0_late"].parent_id == "0_1"


def test_comments_at_the_mark_are_not_read_again() -> None:
    fake = FakePage(posts=[post("2000", ago(60), comments=[comment("c_1", ago(2)), comment("c_2", ago(1))])])
    first, _ = poll(fake)
    assert sorted(platform_ids(first)) == ["c_1", "c_2"]
    assert set(first[-1].cursor["comments_ids"].split()) == {"c_1", "c_2"}
    again, _ = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=1))
    assert platform_ids(again) == []
    # Still remembered: they remain within the next mark's reach.
    assert set(again[-1].cursor["comments_ids"].split()) == {"c_1", "c_2"}


def test_a_conversation_quiet_since_the_mark_ends_the_listing() -> None:
    fake = FakePage(
        conversations=[conversation(f"t_{n}", [dm(f"m_{n}", ago(60 * 24 * 3 - n), ROBIN)]) for n in range(40)]
        + [conversation("t_new", [dm("m_new", ago(3), ROBIN)])]
    )
    pages, error = poll(fake)
    assert error is None
    assert platform_ids(pages) == ["m_new"]
    assert len(fake.requests_to(CONVERSATIONS)) == 1  # the rest have been quiet for days


def test_the_callers_cursor_is_not_modified() -> None:
    cursor: dict[str, str] = {}
    poll(busy_page(), cursor=cursor)
    assert cursor == {}


# --- the first poll ------------------------------------------------------------------------------------


def test_the_first_poll_reads_back_only_to_the_backfill_window_and_posts_of_the_post_window() -> None:
    fake = FakePage(
        posts=[
            post("2001", ago(60 * 30), comments=[comment("old", ago(60 * 25)), comment("recent", ago(60 * 23))]),
            post("2002", NOW - timedelta(days=20), comments=[comment("on_an_old_post", ago(10))]),
        ],
        conversations=[conversation("t_1", [dm("m_old", ago(60 * 26), ROBIN), dm("m_recent", ago(30), ROBIN)])],
    )
    pages, error = poll(fake, backfill_from=NOW - timedelta(hours=24))
    assert error is None
    assert sorted(platform_ids(pages)) == ["m_recent", "recent"]
    assert fake.requests_to(FEED)[0].url.params["since"] == str(int((NOW - timedelta(days=14)).timestamp()))
    # the recent message still names the older one it follows
    (recent_dm,) = [message for message in messages(pages) if message.platform_id == "m_recent"]
    assert recent_dm.parent_id == "m_old"

    wider = Source.model_validate(SOURCE.model_dump() | {"options": {"page_id": PAGE_ID, "post_window_days": "30"}})
    fake.requests.clear()
    pages, _ = poll(fake, source=wider)
    assert "on_an_old_post" in platform_ids(pages)


def test_a_source_without_page_id_is_a_connector_error_naming_the_option() -> None:
    no_page = Source.model_validate(SOURCE.model_dump() | {"options": {}})
    pages, error = poll(FakePage(), source=no_page)
    assert type(error) is ConnectorError and "page_id" in str(error)
    assert pages == []


# --- throttling and errors -------------------------------------------------------------------------------


USAGE = fixture("facebook", "usage_headers.json")


def test_page_throttling_on_http_400_waits_as_long_as_the_business_use_case_header_says() -> None:
    throttled = httpx.Response(
        400, json=fixture("facebook", "error_page_throttled.json"), headers=USAGE["business_use_case_throttled"]
    )
    fake = busy_page()
    fake.scripted = {FEED: [None, throttled]}
    pages, error = poll(fake)
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(minutes=17)
    # The pages before the throttled request are kept: the first feed page and the post it read on.
    assert len(pages) == 2 and all(page.messages for page in pages)
    assert pages[-1].cursor["comments_scan"]
    assert fake.requests_to(CONVERSATIONS) == []


def test_business_use_case_throttling_on_http_403_is_a_rate_limit_not_a_refused_token() -> None:
    fake = FakePage(
        scripted={FEED: [httpx.Response(403, json=fixture("facebook", "error_business_use_case_throttled.json"))]}
    )
    pages, error = poll(fake)
    assert isinstance(error, RateLimited) and not isinstance(error, AuthFailed)
    assert error.retry_at == NOW + timedelta(minutes=10)  # no estimate given: a ten-minute pause
    assert pages == []


@pytest.mark.parametrize("code", [4, 17, 613])
def test_other_throttling_codes_are_rate_limits(code: int) -> None:
    fake = FakePage(scripted={CONVERSATIONS: [graph_error(code, f"(#{code}) limit reached", status=400)]})
    _, error = poll(fake)
    assert isinstance(error, RateLimited)


def test_usage_at_95_percent_keeps_the_page_then_pauses_the_source() -> None:
    fake = busy_page()
    fake.headers = USAGE["app_near_limit"]
    pages, error = poll(fake)
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(minutes=10)
    assert len(pages) == 1 and len(pages[0].messages) > 0
    assert len(fake.requests) == 1


def test_comfortable_usage_does_not_stop_the_poll() -> None:
    fake = busy_page()
    fake.headers = USAGE["page_comfortable"]
    _, error = poll(fake)
    assert error is None


def test_an_expired_token_on_http_400_is_auth_failed() -> None:
    fake = FakePage(scripted={FEED: [httpx.Response(400, json=fixture("facebook", "error_expired_token.json"))]})
    pages, error = poll(fake)
    assert isinstance(error, AuthFailed)
    assert pages == []


def test_a_token_graph_refuses_is_auth_failed() -> None:
    pages, error = poll(busy_page(), secret="not-the-token", backfill_from=None)
    assert isinstance(error, AuthFailed) and pages == []


def test_a_missing_permission_is_auth_failed() -> None:
    fake = FakePage(scripted={FEED: [httpx.Response(403, json=fixture("facebook", "error_missing_permission.json"))]})
    _, error = poll(fake)
    assert isinstance(error, AuthFailed)


def test_an_unknown_page_and_server_errors_are_connector_errors() -> None:
    for answer in (
        httpx.Response(400, json=fixture("facebook", "error_unknown_object.json")),
        httpx.Response(500, text="Internal Server Error"),
        httpx.Response(200, text="<html>maintenance</html>", headers={"Content-Type": "text/html"}),
    ):
        _, error = poll(FakePage(scripted={FEED: [answer]}))
        assert type(error) is ConnectorError, answer


# --- malformed items ---------------------------------------------------------------------------------------


def test_malformed_items_are_skipped_counted_and_logged_by_id_only(facebook_log: list[logging.LogRecord]) -> None:
    good = comment("c_good", ago(10))
    no_time = comment("c_no_time", ago(9))
    del no_time["created_time"]
    no_time["message"] = SECRET_TEXT
    bad_author = comment("c_bad_author", ago(8))
    bad_author["from"] = SECRET_TEXT
    feed = {
        "data": [
            {
                **post("2001", ago(60)),
                "comments": {"data": [good, no_time, bad_author, "not a comment"]},
            },
            {"message": SECRET_TEXT, "created_time": graph_time(ago(61))},  # a post without an id
        ]
    }
    broken_dm = dm("m_broken", ago(5), ROBIN)
    broken_dm["message"] = SECRET_TEXT
    del broken_dm["from"]
    fake = FakePage(
        scripted={FEED: [httpx.Response(200, json=feed)]},
        conversations=[conversation("t_1", [dm("m_ok", ago(6), ROBIN), broken_dm])],
    )
    pages, error = poll(fake)
    assert error is None
    assert sorted(platform_ids(pages)) == ["c_good", "m_ok"]
    assert sum(page.skipped for page in pages) == 5

    skipped = malformed(facebook_log)
    assert [record.getMessage() for record in skipped] == ["skipped malformed facebook item"] * 5
    assert {getattr(record, "item_id", "absent") for record in skipped} == {
        "c_no_time",
        "c_bad_author",
        "m_broken",
        None,
    }
    assert_logged_by_id_only(facebook_log, "4242", "Elm Row")


def test_one_request_a_poll_still_reads_everything_once_jobs_included() -> None:
    fake = busy_page()
    cursor: dict[str, str] = {}
    got: list[str] = []
    for _ in range(20):
        pages, error = poll(fake, cursor=cursor, max_pages=1)
        assert error is None
        got += platform_ids(pages)
        cursor = pages[-1].cursor
        if "comments_scan" not in cursor and "messages_scan" not in cursor:
            break
    assert len(got) == len(set(got)) and set(got) == everything(fake)
    # Four comment requests: three feed pages and the post read on.
    assert len(fake.requests) - len(fake.requests_to(CONVERSATIONS)) == 4


# --- deleted parents ------------------------------------------------------------------------------------


def test_a_post_deleted_while_its_comments_are_read_on_is_dropped_and_the_stream_goes_on() -> None:
    fake = busy_page()
    first, error = poll(fake, max_pages=1)  # the first feed page, leaving the busy post's comments to read on
    assert error is None and f"{PAGE_ID}_2055/comments" in first[-1].cursor["comments_scan"]

    fake.posts = [p for p in fake.posts if p["id"] != f"{PAGE_ID}_2055"]  # deleted before the next poll
    fake.requests.clear()
    second, error = poll(fake, cursor=first[-1].cursor)
    assert error is None, "a deleted post must not fail the poll (it would fail every poll after)"
    assert len(fake.requests_to(f"{PAGE_ID}_2055/comments")) == 1
    assert "comments_scan" not in second[-1].cursor, "the scan finished without the deleted post"
    got = platform_ids(first) + platform_ids(second)
    assert everything(fake) <= set(got), "every other post's comments and every conversation still read"

    fake.requests.clear()
    poll(fake, cursor=second[-1].cursor)
    assert fake.requests_to(f"{PAGE_ID}_2055/comments") == []


def test_a_page_that_does_not_exist_is_an_error_not_a_dropped_job() -> None:
    fake = FakePage(scripted={FEED: [no_such_object(PAGE_ID)]})
    _, error = poll(fake)
    assert type(error) is ConnectorError
