"""MastodonConnector.pages() against an in-process fake of the Mastodon REST API (httpx.MockTransport).

The fixtures follow the documented Mastodon entities (Notification, Status, Account). The fake
answers ``min_id`` the way Mastodon does: the ``limit`` items immediately newer than ``min_id``,
newest first. It does not filter by ``types[]`` (like a server that ignores the parameter), so
the connector's own filtering is what is tested.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from replywatch.connectors.base import AuthFailed, ConnectorError, Page, RateLimited
from replywatch.connectors.mastodon import MastodonConnector
from replywatch.models import MessageKind
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
from tests.support.connectors import messages as all_messages

NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
BASE = "https://social.example"
SOURCE = acme_source("mastodon", "social", BASE)
NOTIFICATIONS_PATH = "/api/v1/notifications"
VERIFY_PATH = "/api/v1/accounts/verify_credentials"
BRAND_ID = "109000000000000001"
STATUSES_PATH = f"/api/v1/accounts/{BRAND_ID}/statuses"
STATUS_PATH = "/api/v1/statuses/"  # one status by id
KNOWN = {"account_id": BRAND_ID}  # a cursor from an earlier poll
FORWARD = {**KNOWN, "notifications": "0", "statuses": "0"}  # read everything forwards from the start


# --- fixtures in Mastodon's documented shapes ---------------------------------------------------------


def account(account_id: str, acct: str) -> dict[str, Any]:
    username = acct.split("@", 1)[0]
    domain = acct.split("@", 1)[1] if "@" in acct else "social.example"
    return {
        "id": account_id,
        "username": username,
        "acct": acct,
        "display_name": username.title(),
        "locked": False,
        "bot": False,
        "created_at": "2024-03-01T00:00:00.000Z",
        "note": "",
        "url": f"https://{domain}/@{username}",
        "avatar": f"https://{domain}/avatars/{account_id}.png",
        "followers_count": 12,
        "following_count": 30,
        "statuses_count": 145,
        "emojis": [],
        "fields": [],
    }


BRAND = account(BRAND_ID, "acme")
CUSTOMER = account("109555", "dana@elsewhere.example")


def status(
    status_id: str,
    *,
    author: dict[str, Any] = CUSTOMER,
    content: str = "<p>hello</p>",
    created_at: str = "2026-11-23T12:00:00.000Z",
    visibility: str = "public",
    in_reply_to_id: str | None = None,
    in_reply_to_account_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": status_id,
        "created_at": created_at,
        "in_reply_to_id": in_reply_to_id,
        "in_reply_to_account_id": in_reply_to_account_id,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": visibility,
        "language": "en",
        "uri": f"{author['url'].rsplit('/@', 1)[0]}/users/{author['username']}/statuses/{status_id}",
        "url": f"{author['url']}/{status_id}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "content": content,
        "reblog": None,
        "account": author,
        "media_attachments": [],
        "mentions": [{"id": BRAND_ID, "username": "acme", "acct": "acme", "url": f"{BASE}/@acme"}],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def notification(
    notification_id: str, kind: str = "mention", *, with_status: dict[str, Any] | None = None, **status_fields: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": notification_id,
        "type": kind,
        "created_at": "2026-11-23T12:00:01.000Z",
        "account": CUSTOMER,
    }
    if kind != "follow":
        item["status"] = with_status or status(f"9{notification_id}", **status_fields)
    return item


def mentions(first: int, count: int) -> list[dict[str, Any]]:
    return [notification(str(first + offset), content=f"<p>question {first + offset}</p>") for offset in range(count)]


# --- the fake server -------------------------------------------------------------------------------


@dataclass
class FakeMastodon:
    notifications: list[Any] = field(default_factory=list)
    statuses: list[Any] = field(default_factory=list)
    # path -> responses served in order before normal service (None: serve normally this time)
    scripted: dict[str, list[Scripted]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = scripted_answer(self.scripted.get(request.url.path), request)
        if answer is not None:
            return answer
        if request.headers.get("Authorization") != "Bearer t":
            return httpx.Response(401, json={"error": "The access token is invalid"})
        if request.url.path == VERIFY_PATH:
            return httpx.Response(200, json=BRAND, headers=self.headers)
        if request.url.path == NOTIFICATIONS_PATH:
            return httpx.Response(200, json=self.page(self.notifications, request), headers=self.headers)
        if request.url.path == STATUSES_PATH:
            return httpx.Response(200, json=self.page(self.statuses, request), headers=self.headers)
        if request.url.path.startswith(STATUS_PATH):
            wanted = request.url.path.removeprefix(STATUS_PATH)
            for item in self.statuses:
                if item["id"] == wanted:
                    return httpx.Response(200, json=item, headers=self.headers)
        return httpx.Response(404, json={"error": "Record not found"})

    @staticmethod
    def page(items: list[dict[str, Any]], request: httpx.Request) -> list[dict[str, Any]]:
        """Mastodon's paging, newest first: min_id gives the items just after it, max_id those
        before it, neither the newest."""
        limit = int(request.url.params.get("limit", "20"))
        ordered = sorted(items, key=lambda item: int(item["id"]))
        if "min_id" in request.url.params:
            min_id = int(request.url.params["min_id"])
            return list(reversed([item for item in ordered if int(item["id"]) > min_id][:limit]))
        if "max_id" in request.url.params:
            ordered = [item for item in ordered if int(item["id"]) < int(request.url.params["max_id"])]
        return list(reversed(ordered))[:limit]

    def requests_to(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]


def poll(
    fake: FakeMastodon,
    *,
    cursor: dict[str, str],
    max_pages: int = 10,
    now: datetime = NOW,
    backfill_from: datetime | None = None,
) -> tuple[list[Page], ConnectorError | None]:
    """Every page the connector yields, and the connector error that ended the poll (if any)."""
    return collect(
        MastodonConnector(),
        fake.handle,
        source=SOURCE,
        secret="t",
        now=now,
        cursor=cursor,
        max_pages=max_pages,
        backfill_from=backfill_from,
    )


@pytest.fixture
def mastodon_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.mastodon") as records:
        yield records


# --- the brand's account ------------------------------------------------------------------------------


def test_verify_credentials_is_called_when_the_cursor_has_no_account_and_is_cached() -> None:
    fake = FakeMastodon(notifications=mentions(200, 2))
    pages, error = poll(fake, cursor={})
    assert error is None
    assert fake.requests[0].url.path == VERIFY_PATH
    assert fake.requests[0].headers["Authorization"] == "Bearer t"
    assert all(page.cursor["account_id"] == BRAND_ID for page in pages)
    # the brand's own statuses are read from the account verify_credentials named
    assert len(fake.requests_to(STATUSES_PATH)) == 1


def test_verify_credentials_is_not_called_when_the_cursor_knows_the_account() -> None:
    fake = FakeMastodon(notifications=mentions(200, 2))
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert error is None
    assert fake.requests_to(VERIFY_PATH) == []
    assert pages[-1].cursor["account_id"] == BRAND_ID


def test_the_callers_cursor_is_not_modified() -> None:
    cursor: dict[str, str] = {}
    poll(FakeMastodon(notifications=mentions(200, 2)), cursor=cursor)
    assert cursor == {}


# --- paging forwards -------------------------------------------------------------------------------------


def test_pages_forward_with_min_id_across_three_pages() -> None:
    fake = FakeMastodon(notifications=mentions(980, 85))  # ids 980..1064
    pages, error = poll(fake, cursor=dict(FORWARD))
    assert error is None

    sent_min_ids = [request.url.params["min_id"] for request in fake.requests_to(NOTIFICATIONS_PATH)]
    assert sent_min_ids == ["0", "1019", "1059"]
    assert len(pages) == 4  # three of notifications, then one (empty) of the brand's statuses
    notification_pages = pages[:3]
    assert [len(page.messages) for page in notification_pages] == [40, 40, 5]
    assert sorted(platform_ids(notification_pages), key=int) == [f"9{n}" for n in range(980, 1065)]


def test_each_page_cursor_is_the_numerically_largest_id_so_far() -> None:
    fake = FakeMastodon(notifications=mentions(980, 85))
    pages, _ = poll(fake, cursor=dict(FORWARD))
    # page 1 holds 980..1019: "999" is the largest string but 1019 the largest id
    assert [page.cursor["notifications"] for page in pages[:3]] == ["1019", "1059", "1064"]
    assert all(page.cursor["account_id"] == BRAND_ID for page in pages)


def test_polling_resumes_from_the_saved_cursor() -> None:
    fake = FakeMastodon(notifications=mentions(100, 10))
    pages, _ = poll(fake, cursor={**KNOWN, "notifications": "105"})
    assert fake.requests_to(NOTIFICATIONS_PATH)[0].url.params["min_id"] == "105"
    assert platform_ids(pages) == [f"9{n}" for n in (109, 108, 107, 106)]


def test_every_notifications_request_carries_type_min_id_and_limit() -> None:
    fake = FakeMastodon(notifications=mentions(980, 85))
    poll(fake, cursor=dict(FORWARD))
    requests = fake.requests_to(NOTIFICATIONS_PATH)
    assert len(requests) == 3
    for request in requests:
        assert request.url.params.get_list("types[]") == ["mention"]
        # 4.3+ filters strangers' private mentions unless asked: a customer's first DM is one
        assert request.url.params["include_filtered"] == "true"
        assert request.url.params["min_id"]
        assert request.url.params["limit"] == "40"
        assert request.headers["Authorization"] == "Bearer t"


def test_statuses_request_carries_min_id_and_limit() -> None:
    fake = FakeMastodon(statuses=[status("301", author=BRAND, in_reply_to_id="9001")])
    poll(fake, cursor={**KNOWN, "statuses": "300"})
    (request,) = fake.requests_to(STATUSES_PATH)
    assert request.url.params["min_id"] == "300"
    assert request.url.params["limit"] == "40"


def test_max_pages_bounds_the_requests_of_each_stream() -> None:
    fake = FakeMastodon(
        notifications=mentions(1000, 200), statuses=[status("301", author=BRAND, in_reply_to_id="9001")]
    )
    pages, error = poll(fake, cursor=dict(FORWARD), max_pages=2)
    assert error is None
    assert len(fake.requests_to(NOTIFICATIONS_PATH)) == 2
    assert pages[1].cursor["notifications"] == "1079"
    # A long backlog of mentions does not starve the brand's replies: they have their own budget.
    assert len(fake.requests_to(STATUSES_PATH)) == 1
    assert [message.platform_id for message in pages[-1].messages] == ["301"]


def test_empty_server_yields_one_empty_page_per_stream_and_keeps_the_cursor() -> None:
    fake = FakeMastodon()
    pages, error = poll(fake, cursor={**KNOWN, "notifications": "77"})
    assert error is None
    assert [page.messages for page in pages] == [[], []]
    # Nothing exists yet on the statuses stream, so it will read forwards from the start.
    assert pages[-1].cursor == {**KNOWN, "notifications": "77", "statuses": "0"}


# --- what becomes a message -----------------------------------------------------------------------------


def test_a_mention_becomes_a_customer_message() -> None:
    fake = FakeMastodon(notifications=[notification("500", created_at="2026-11-23T11:58:30.250Z")])
    pages, _ = poll(fake, cursor=dict(KNOWN))
    (message,) = pages[0].messages
    assert message.brand == "acme"
    assert message.platform == "mastodon"
    assert message.source_id == "acme-social"
    assert message.platform_id == "9500"
    assert message.author_id == "109555"
    assert message.author_handle == "@dana@elsewhere.example"
    assert message.permalink == "https://elsewhere.example/@dana/9500"
    assert message.created_at == datetime(2026, 11, 23, 11, 58, 30, 250000, tzinfo=UTC)
    assert message.kind is MessageKind.MENTION
    assert message.from_brand is False
    assert message.parent_id is None and message.parent_by_brand is None


@pytest.mark.parametrize(("parent_author", "by_brand"), [(BRAND_ID, True), ("109777", False)])
def test_a_mention_in_reply_says_whether_it_answers_the_brand(parent_author: str, by_brand: bool) -> None:
    item = notification("501", in_reply_to_id="1201", in_reply_to_account_id=parent_author)
    pages, _ = poll(FakeMastodon(notifications=[item]), cursor=dict(KNOWN))
    (message,) = pages[0].messages
    assert (message.parent_id, message.parent_author_id, message.parent_by_brand) == ("1201", parent_author, by_brand)


def test_non_mention_notifications_are_ignored_but_the_cursor_moves_past_them() -> None:
    brand_post = status("8800", author=BRAND, content="<p>Our autumn sale starts today</p>")
    fake = FakeMastodon(
        notifications=[
            notification("601"),
            notification("602", "favourite", with_status=brand_post),
            notification("603", "follow"),
            notification("604", "reblog", with_status=brand_post),
            notification("605", "poll", with_status=brand_post),
            notification("606"),
        ]
    )
    pages, _ = poll(fake, cursor=dict(KNOWN))
    assert platform_ids(pages) == ["9606", "9601"]
    assert pages[0].skipped == 0
    assert pages[0].cursor["notifications"] == "606"


def test_html_content_becomes_plain_text() -> None:
    content = (
        '<p><span class="h-card"><a href="https://social.example/@acme" class="u-url mention">'
        "@<span>acme</span></a></span> my order &amp; my refund?</p>"
        "<p>Second line<br />third line &lt;3 &#39;quoted&#39; caf&eacute;</p>"
    )
    fake = FakeMastodon(notifications=[notification("700", content=content)])
    pages, _ = poll(fake, cursor=dict(KNOWN))
    (message,) = pages[0].messages
    assert message.text == "@acme my order & my refund?\nSecond line\nthird line <3 'quoted' café"


def test_direct_visibility_makes_a_dm() -> None:
    fake = FakeMastodon(notifications=[notification("801", visibility="direct"), notification("802")])
    pages, _ = poll(fake, cursor=dict(KNOWN))
    kinds = {message.platform_id: message.kind for message in pages[0].messages}
    assert kinds == {"9801": MessageKind.DM, "9802": MessageKind.MENTION}


def test_permalink_falls_back_to_uri_when_url_is_missing() -> None:
    item = notification("850")
    item["status"]["url"] = None
    pages, _ = poll(FakeMastodon(notifications=[item]), cursor=dict(KNOWN))
    assert pages[0].messages[0].permalink == "https://elsewhere.example/users/dana/statuses/9850"


ANNOUNCEMENT = status("1202", author=BRAND, content="<p>Our autumn sale starts today</p>")
BRAND_REPLY = status(
    "1201", author=BRAND, content="<p>@dana on its way</p>", in_reply_to_id="9500", in_reply_to_account_id="109555"
)


def test_a_mention_answering_a_brand_announcement_has_it_as_its_thread_root() -> None:
    # Mastodon names no thread root: the connector reads the brand's status once to tell that it
    # is not a reply, so the mention is counted at once (it answers no reply of the brand's).
    fake = FakeMastodon(
        notifications=[
            notification("601", in_reply_to_id="1202", in_reply_to_account_id=BRAND_ID),
            notification("602", in_reply_to_id="1202", in_reply_to_account_id=BRAND_ID),
            notification("603", in_reply_to_id="1201", in_reply_to_account_id=BRAND_ID),
            notification("604", in_reply_to_id="777", in_reply_to_account_id="109777"),  # someone else's
        ],
        statuses=[ANNOUNCEMENT, BRAND_REPLY],
    )
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert error is None
    found = {m.platform_id: m for m in all_messages(pages) if not m.from_brand}
    assert (found["9601"].thread_id, found["9602"].thread_id) == ("1202", "1202")
    assert found["9603"].thread_id is None, "answers a reply of the brand's: its thread root is unknown"
    assert found["9604"].thread_id is None and found["9604"].parent_by_brand is False
    looked_up = [r.url.path for r in fake.requests if r.url.path.startswith(STATUS_PATH)]
    assert sorted(looked_up) == [STATUS_PATH + "1201", STATUS_PATH + "1202"], "once per status, only the brand's"


@pytest.mark.parametrize("answer", [httpx.Response(500), httpx.Response(429, headers={"Retry-After": "60"})])
def test_a_status_that_cannot_be_read_leaves_the_mention_waiting_and_the_poll_going(answer: httpx.Response) -> None:
    fake = FakeMastodon(
        notifications=[  # the newest first: 612's status fails, then 611's is not read in this page
            notification("611", in_reply_to_id="1204", in_reply_to_account_id=BRAND_ID),
            notification("612", in_reply_to_id="1202", in_reply_to_account_id=BRAND_ID),
        ],
        statuses=[ANNOUNCEMENT, status("1204", author=BRAND, content="<p>We are open on Sunday</p>")],
        scripted={STATUS_PATH + "1202": [answer]},
    )
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert error is None
    found = {m.platform_id: m for m in all_messages(pages)}
    assert found["9611"].thread_id is None and found["9612"].thread_id is None
    assert [r.url.path for r in fake.requests if r.url.path.startswith(STATUS_PATH)] == [STATUS_PATH + "1202"]


def test_brand_replies_become_brand_messages_with_their_parent() -> None:
    fake = FakeMastodon(
        statuses=[
            status(
                "1201",
                author=BRAND,
                content="<p>@dana sorry! A refund is on its way.</p>",
                in_reply_to_id="9500",
                in_reply_to_account_id="109555",
            ),
            status("1202", author=BRAND, content="<p>Our autumn sale starts today</p>"),  # not a reply
        ]
    )
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert error is None
    (reply,) = [message for page in pages for message in page.messages]
    assert reply.platform_id == "1201"
    assert reply.from_brand is True
    assert reply.parent_id == "9500"
    assert reply.network == urlsplit(SOURCE.base_url).netloc
    assert reply.parent_key == f"acme#mastodon@{reply.network}#9500"
    assert reply.author_handle == "@acme"
    assert reply.text == "@dana sorry! A refund is on its way."
    assert pages[-1].cursor["statuses"] == "1202"


# --- malformed items --------------------------------------------------------------------------------------


SECRET_TEXT = "my card number ends 4242 and my address is 1 Elm Row"


def test_malformed_items_are_skipped_counted_and_logged_by_id_only(mastodon_log: list[logging.LogRecord]) -> None:
    no_created_at = notification("903", content=f"<p>{SECRET_TEXT}</p>")
    del no_created_at["status"]["created_at"]
    bad_account = notification("904", content=f"<p>{SECRET_TEXT}</p>")
    bad_account["status"]["account"] = "dana"
    fake = FakeMastodon(
        scripted={
            NOTIFICATIONS_PATH: [
                httpx.Response(
                    200,
                    json=[
                        notification("905"),
                        bad_account,
                        no_created_at,
                        "not a notification",
                        None,
                        notification("902"),
                    ],
                )
            ]
        }
    )
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert error is None
    first = pages[0]
    assert platform_ids([first]) == ["9905", "9902"]
    assert first.skipped == 4
    assert first.cursor["notifications"] == "905"

    skipped = malformed(mastodon_log)
    assert len(skipped) == 4
    assert {getattr(record, "item_id", "absent") for record in skipped} == {"903", "904", None}
    assert_logged_by_id_only(mastodon_log, "4242", "Elm Row")


def test_a_malformed_newest_item_still_advances_the_cursor() -> None:
    broken = notification("999")
    del broken["status"]["created_at"]
    fake = FakeMastodon(scripted={NOTIFICATIONS_PATH: [httpx.Response(200, json=[broken, notification("998")])]})
    pages, _ = poll(fake, cursor=dict(KNOWN))
    assert pages[0].skipped == 1
    assert pages[0].cursor["notifications"] == "999"


# --- errors and rate limits -----------------------------------------------------------------------------


def test_429_with_retry_after_raises_rate_limited_and_yields_nothing_for_that_request() -> None:
    fake = FakeMastodon(
        notifications=mentions(1000, 60),
        scripted={NOTIFICATIONS_PATH: [None, httpx.Response(429, headers={"Retry-After": "30"})]},
    )
    pages, error = poll(fake, cursor=dict(FORWARD))
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(seconds=30)
    assert len(pages) == 1  # the page before the 429 only
    assert pages[0].cursor["notifications"] == "1039"
    assert len(fake.requests_to(NOTIFICATIONS_PATH)) == 2
    assert fake.requests_to(STATUSES_PATH) == []


def test_429_with_only_a_mastodon_reset_header_retries_at_that_time() -> None:
    reset = {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "2026-11-23T13:25:00.019685Z",
    }
    fake = FakeMastodon(
        scripted={NOTIFICATIONS_PATH: [httpx.Response(429, headers=reset, json={"error": "Too many requests"})]}
    )
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert isinstance(error, RateLimited)
    assert error.retry_at == datetime(2026, 11, 23, 13, 25, 0, 19685, tzinfo=UTC)
    assert pages == []


def test_401_raises_auth_failed() -> None:
    fake = FakeMastodon(scripted={NOTIFICATIONS_PATH: [httpx.Response(401, json={"error": "invalid token"})]})
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert isinstance(error, AuthFailed)
    assert pages == []


def test_401_on_verify_credentials_raises_auth_failed() -> None:
    fake = FakeMastodon(scripted={VERIFY_PATH: [httpx.Response(401, json={"error": "invalid token"})]})
    pages, error = poll(fake, cursor={})
    assert isinstance(error, AuthFailed)
    assert pages == []
    assert fake.requests_to(NOTIFICATIONS_PATH) == []


def test_a_server_error_raises_connector_error() -> None:
    fake = FakeMastodon(scripted={NOTIFICATIONS_PATH: [httpx.Response(503, text="maintenance")]})
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert type(error) is ConnectorError
    assert pages == []


def test_a_200_page_that_is_not_json_raises_connector_error() -> None:
    # e.g. a proxy's HTML maintenance page; anything but a ConnectorError escapes the poller's handling
    fake = FakeMastodon(
        scripted={
            NOTIFICATIONS_PATH: [
                httpx.Response(200, text="<html><body>Back soon</body></html>", headers={"Content-Type": "text/html"})
            ]
        }
    )
    pages, error = poll(fake, cursor=dict(KNOWN))
    assert isinstance(error, ConnectorError)
    assert pages == []


def test_exhausted_rate_limit_yields_the_page_then_raises_rate_limited() -> None:
    fake = FakeMastodon(
        notifications=mentions(1000, 60),
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-23T13:25:00.000000Z"},
    )
    pages, error = poll(fake, cursor=dict(FORWARD))
    assert len(pages) == 1
    assert len(pages[0].messages) == 40
    assert pages[0].cursor["notifications"] == "1039"
    assert isinstance(error, RateLimited)
    assert error.retry_at == datetime(2026, 11, 23, 13, 25, tzinfo=UTC)
    assert len(fake.requests) == 1


# --- a new source: the newest page, then backwards through the backfill window ----------------------


def hours_ago(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def aged_mentions(first: int, count: int, *, newest_hours_ago: float = 0.5, step_hours: float = 0.25) -> list[dict]:
    """``count`` mentions, ids upwards from ``first``, the highest id the newest."""
    items = []
    for offset in range(count):
        age = newest_hours_ago + (count - 1 - offset) * step_hours
        items.append(
            notification(str(first + offset), content=f"<p>question {first + offset}</p>", created_at=hours_ago(age))
        )
        items[-1]["created_at"] = hours_ago(age)
    return items


def test_a_new_source_reads_the_newest_page_then_backwards_until_the_window_starts() -> None:
    # 100 mentions, one every 15 minutes: 25 hours of history; the window is the last 24 hours.
    fake = FakeMastodon(notifications=aged_mentions(5000, 100))
    pages, error = poll(fake, cursor=dict(KNOWN), backfill_from=NOW - timedelta(hours=24))
    assert error is None

    requests = fake.requests_to(NOTIFICATIONS_PATH)
    assert "min_id" not in requests[0].url.params and "max_id" not in requests[0].url.params
    assert [request.url.params["max_id"] for request in requests[1:]] == ["5060", "5020"]
    collected = sorted(int(platform_id[1:]) for platform_id in platform_ids(pages[:3]))
    inside = [
        int(item["id"])
        for item in fake.notifications
        if datetime.fromisoformat(item["created_at"]) >= NOW - timedelta(hours=24)
    ]
    assert collected == sorted(inside) and len(inside) < 100
    # Done: later polls go forwards from the newest mention, and no backfill is left.
    assert pages[-1].cursor["notifications"] == "5099"
    assert not any(key.endswith("_backfill_max_id") for key in pages[-1].cursor)


def test_a_backfill_cut_short_by_the_budget_resumes_after_reading_what_is_new() -> None:
    fake = FakeMastodon(notifications=aged_mentions(5000, 100, step_hours=0.1))  # all within 24 h
    first, _ = poll(fake, cursor=dict(KNOWN), max_pages=2, backfill_from=NOW - timedelta(hours=24))
    cursor = first[-1].cursor
    assert cursor["notifications"] == "5099"
    assert cursor["notifications_backfill_max_id"] == "5020"
    assert len(platform_ids(first)) == 80

    fake.notifications += mentions(6000, 3)  # new mentions meanwhile
    fake.requests.clear()
    later, _ = poll(fake, cursor=dict(cursor), backfill_from=NOW - timedelta(hours=24))
    requests = fake.requests_to(NOTIFICATIONS_PATH)
    assert requests[0].url.params["min_id"] == "5099"
    assert requests[1].url.params["max_id"] == "5020"
    got = platform_ids(first) + platform_ids(later)
    assert sorted(got) == sorted({*got}) and len(got) == 103, "every mention once, none twice"
    assert "notifications_backfill_max_id" not in later[-1].cursor


def test_after_an_outage_longer_than_the_window_nothing_is_skipped() -> None:
    # The source was polled before (cursor 4999); it then could not be polled for two days.
    fake = FakeMastodon(notifications=aged_mentions(5000, 3, newest_hours_ago=47))
    cursor = {**KNOWN, "notifications": "4999", "statuses": "0"}
    pages, error = poll(fake, cursor=cursor, backfill_from=NOW - timedelta(hours=24))
    assert error is None
    assert sorted(platform_ids(pages)) == ["95000", "95001", "95002"], "the window is for new sources only"
    assert pages[-1].cursor["notifications"] == "5002"


def test_a_verify_credentials_answer_without_an_id_is_a_connector_error() -> None:
    fake = FakeMastodon(scripted={VERIFY_PATH: [httpx.Response(200, json={"username": "acme"})]})
    pages, error = poll(fake, cursor={})
    assert pages == [] and type(error) is ConnectorError


def test_a_new_source_stores_nothing_older_than_its_window() -> None:
    fake = FakeMastodon(notifications=aged_mentions(7000, 10, newest_hours_ago=30))
    pages, _ = poll(fake, cursor=dict(KNOWN), backfill_from=NOW - timedelta(hours=24))
    assert platform_ids(pages) == []
    assert pages[-1].cursor["notifications"] == "7009"
