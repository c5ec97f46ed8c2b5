"""XConnector.pages() against the project's fake X API v2 (infra/local/fake_x.py) in-process.

The fake pages the way X does (newest first, opaque ``next_token`` to older posts, ``since_id``,
``start_time``, ``meta``); scripted answers stand in for what it does not produce by itself.
Fixtures in tests/fixtures/x/ are in X's documented shapes; test_x_spec.py checks them, the
fake's answers and the connector's requests against X's OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.fake_x import FakeXServer, XApi
from replywatch.connectors.base import (
    AuthFailed,
    BudgetExhausted,
    ConnectorError,
    Meter,
    Page,
    RateLimited,
)
from replywatch.connectors.x import XConnector
from replywatch.models import MessageKind, Source, SourceState
from replywatch.polling import Poller
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
from tests.support.memory import MemoryMessages, MemoryState, StaticSecrets

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parents[2] / "fixtures" / "x"
BRAND_ID = "3300000001"
TOKEN = "t-acme"
SOURCE = acme_source("x", "x", "https://api.x.com")
MENTIONS_PATH = f"/2/users/{BRAND_ID}/mentions"
TWEETS_PATH = f"/2/users/{BRAND_ID}/tweets"
ME_PATH = "/2/users/me"
_TWEPOCH_MS = 1288834974657


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def snowflake(moment: datetime, sequence: int = 0) -> str:
    """An X id for a post created at ``moment``: ids grow with time."""
    return str(((int(moment.timestamp() * 1000) - _TWEPOCH_MS) << 22) + sequence)


MARK = snowflake(NOW - timedelta(days=3))  # a high-water mark from an earlier poll
KNOWN = {"user_id": BRAND_ID, "mentions": MARK, "tweets": MARK}


def world() -> XApi:
    api = XApi()
    api.add_user(BRAND_ID, "AcmeSupport", token=TOKEN, name="Acme Support")
    for n in range(1, 6):
        api.add_user(f"44000000{n:02d}", f"customer{n}")
    return api


def add_mentions(api: XApi, count: int, *, newest: datetime = NOW - timedelta(minutes=1), step: timedelta) -> list[str]:
    """``count`` mentions of the brand, one every ``step`` up to ``newest``; their ids, oldest first."""
    ids = []
    for index in range(count):
        moment = newest - (count - 1 - index) * step
        post_id = snowflake(moment, index % 4096)
        author = f"44000000{index % 5 + 1:02d}"
        api.add_post(
            post_id, author_id=author, text=f"@AcmeSupport question {index}", created_at=moment, mentions=[BRAND_ID]
        )
        ids.append(post_id)
    return ids


@dataclass
class Harness:
    api: XApi = field(default_factory=world)
    # path -> answers served in order before the fake answers (None: let the fake answer this one)
    scripted: dict[str, list[Scripted]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = scripted_answer(self.scripted.get(request.url.path), request)
        if answer is not None:
            return answer
        status, body, headers = self.api.answer(request.method, request.url.raw_path.decode(), request.headers)
        return httpx.Response(status, json=body, headers=headers)

    def requests_to(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]


def poll(
    harness: Harness,
    *,
    cursor: dict[str, str],
    max_pages: int = 10,
    backfill_from: datetime | None = None,
    meter: Meter | None = None,
    source: Source = SOURCE,
    secret: str = TOKEN,
) -> tuple[list[Page], ConnectorError | None]:
    """Every page the connector yields, and the connector error that ended the poll (if any)."""

    return collect(
        XConnector(),
        harness.handle,
        source=source,
        secret=secret,
        now=NOW,
        cursor=cursor,
        max_pages=max_pages,
        backfill_from=backfill_from,
        meter=meter,
    )


def created(api: XApi, post_id: str) -> datetime:
    post = api.post(post_id)
    assert post is not None
    return post.created_at


@pytest.fixture
def x_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.x") as records:
        yield records


# --- paging and the cursor ----------------------------------------------------------------------------


def test_a_later_poll_reads_every_page_since_the_mark_once() -> None:
    harness = Harness()
    ids = add_mentions(harness.api, 250, step=timedelta(minutes=1))
    pages, error = poll(harness, cursor=dict(KNOWN))
    assert error is None
    got = platform_ids(pages)
    assert sorted(got) == sorted(ids) and len(got) == len(set(got)) == 250, "no duplicates, no gaps"
    requests = harness.requests_to(MENTIONS_PATH)
    assert len(requests) == 3
    assert [r.url.params["since_id"] for r in requests] == [MARK] * 3
    assert "pagination_token" not in requests[0].url.params
    assert requests[1].url.params["pagination_token"] and requests[2].url.params["pagination_token"]
    assert all(r.url.params["max_results"] == "100" for r in requests)
    # Newest first: the mark may only move once the whole window is stored.
    mention_pages = pages[:3]
    assert [page.cursor["mentions"] for page in mention_pages] == [MARK, MARK, ids[-1]]
    assert mention_pages[0].cursor["mentions_newest"] == ids[-1]
    assert mention_pages[0].cursor["mentions_next"]
    assert "mentions_next" not in mention_pages[2].cursor and "mentions_newest" not in mention_pages[2].cursor


def test_the_page_budget_ends_a_window_mid_way_and_the_next_poll_resumes_it() -> None:
    harness = Harness()
    ids = add_mentions(harness.api, 250, newest=NOW - timedelta(hours=1), step=timedelta(minutes=1))
    first, error = poll(harness, cursor=dict(KNOWN), max_pages=2)
    assert error is None
    assert len(harness.requests_to(MENTIONS_PATH)) == 2
    cursor = first[-1].cursor
    assert cursor["mentions"] == MARK, "the window is not read to its end: the mark stays"
    assert cursor["mentions_newest"] == ids[-1]
    # The replies stream has its own budget: a backlog of mentions does not starve it.
    assert len(harness.requests_to(TWEETS_PATH)) == 1

    later = add_mentions(harness.api, 7, newest=NOW, step=timedelta(seconds=30))  # arrive meanwhile
    harness.requests.clear()
    second, _ = poll(harness, cursor=dict(cursor), max_pages=2)
    resumed = harness.requests_to(MENTIONS_PATH)[0]
    assert resumed.url.params["pagination_token"] == cursor["mentions_next"]
    assert resumed.url.params["since_id"] == MARK
    assert second[0].cursor["mentions"] == ids[-1], "the window is read: the mark is its newest post"

    harness.requests.clear()
    third, _ = poll(harness, cursor=dict(second[-1].cursor))
    assert harness.requests_to(MENTIONS_PATH)[0].url.params["since_id"] == ids[-1]
    got = platform_ids(first) + platform_ids(second) + platform_ids(third)
    assert sorted(got) == sorted(ids + later) and len(got) == len(set(got)), "every mention once, none twice"
    assert third[0].cursor["mentions"] == later[-1]


def test_polling_page_by_page_while_posts_keep_arriving_reads_each_post_once() -> None:
    """A crash after any page leaves a cursor that covers exactly what was stored: resume from each."""
    harness = Harness()
    expected = add_mentions(harness.api, 120, newest=NOW - timedelta(hours=2), step=timedelta(seconds=20))
    cursor, got = dict(KNOWN), []
    for round_ in range(12):
        expected += add_mentions(
            harness.api, 9, newest=NOW - timedelta(minutes=100 - round_), step=timedelta(seconds=1)
        )
        pages, error = poll(harness, cursor=cursor, max_pages=1)
        assert error is None
        got += platform_ids(pages)
        cursor = pages[-1].cursor
    while True:
        pages, _ = poll(harness, cursor=cursor, max_pages=1)
        got += platform_ids(pages)
        if pages[-1].cursor == cursor:
            break
        cursor = pages[-1].cursor
    assert sorted(got) == sorted(expected) and len(got) == len(set(got))


def test_a_refused_pagination_token_restarts_the_window_from_the_mark() -> None:
    harness = Harness()
    ids = add_mentions(harness.api, 30, step=timedelta(minutes=1))
    refused = httpx.Response(400, json={"title": "Invalid Request", "type": "about:blank"})
    harness.scripted[MENTIONS_PATH] = [refused]
    stale = {**KNOWN, "mentions_next": "0123456789abcdefghijkl", "mentions_newest": ids[10]}
    pages, error = poll(harness, cursor=stale)
    assert error is None
    assert sorted(platform_ids(pages)) == sorted(ids)
    assert pages[0].cursor["mentions"] == ids[-1]
    assert "pagination_token" not in harness.requests_to(MENTIONS_PATH)[1].url.params


# --- the first poll: the backfill window ------------------------------------------------------------------


def test_the_first_poll_reads_back_only_through_the_backfill_window() -> None:
    harness = Harness()
    ids = add_mentions(harness.api, 60, step=timedelta(hours=1))  # 60 hours of mentions
    pages, error = poll(harness, cursor={}, backfill_from=NOW - timedelta(hours=24))
    assert error is None
    (request,) = harness.requests_to(MENTIONS_PATH)
    assert request.url.params["start_time"] == "2026-11-22T13:00:00Z"
    assert "since_id" not in request.url.params
    window = [i for i in ids if created(harness.api, i) >= NOW - timedelta(hours=24)]
    assert 0 < len(window) < len(ids)
    assert sorted(platform_ids(pages)) == sorted(window)
    assert pages[-1].cursor["mentions"] == ids[-1]
    assert "mentions_start" not in pages[-1].cursor


def test_a_first_poll_that_finds_nothing_keeps_the_window_start_for_the_next() -> None:
    harness = Harness()
    pages, _ = poll(harness, cursor={}, backfill_from=NOW - timedelta(hours=24))
    assert "mentions" not in pages[-1].cursor
    assert pages[-1].cursor["mentions_start"] == "2026-11-22T13:00:00Z"

    ids = add_mentions(harness.api, 3, step=timedelta(minutes=5))
    harness.requests.clear()
    later, _ = poll(harness, cursor=dict(pages[-1].cursor), backfill_from=NOW - timedelta(hours=1))
    assert harness.requests_to(MENTIONS_PATH)[0].url.params["start_time"] == "2026-11-22T13:00:00Z"
    assert sorted(platform_ids(later)) == sorted(ids)
    assert later[0].cursor["mentions"] == ids[-1]


def test_a_backfill_cut_short_resumes_with_the_same_window() -> None:
    harness = Harness()
    ids = add_mentions(harness.api, 150, step=timedelta(minutes=5))
    first, _ = poll(harness, cursor={}, max_pages=1, backfill_from=NOW - timedelta(days=2))
    cursor = first[0].cursor
    assert cursor["mentions_start"] == "2026-11-21T13:00:00Z" and cursor["mentions_next"]
    harness.requests.clear()
    second, _ = poll(harness, cursor=dict(cursor), backfill_from=NOW - timedelta(days=2))
    request = harness.requests_to(MENTIONS_PATH)[0]
    assert request.url.params["start_time"] == "2026-11-21T13:00:00Z"
    assert request.url.params["pagination_token"] == cursor["mentions_next"]
    got = platform_ids(first[:1]) + platform_ids(second[:1])
    assert sorted(got) == sorted(ids) and second[0].cursor["mentions"] == ids[-1]


def test_the_brand_user_id_is_asked_once_and_kept() -> None:
    harness = Harness()
    pages, error = poll(harness, cursor={}, backfill_from=NOW - timedelta(hours=1))
    assert error is None
    assert len(harness.requests_to(ME_PATH)) == 1
    assert all(page.cursor["user_id"] == BRAND_ID for page in pages)
    harness.requests.clear()
    poll(harness, cursor=dict(pages[-1].cursor))
    assert harness.requests_to(ME_PATH) == []


def test_the_user_id_option_needs_no_user_token() -> None:
    harness = Harness()
    harness.api.add_app_token("app-only")
    source = SOURCE.model_copy(update={"options": {"user_id": BRAND_ID}})
    pages, error = poll(harness, cursor={}, source=source, secret="app-only", backfill_from=NOW - timedelta(hours=1))
    assert error is None
    assert harness.requests_to(ME_PATH) == []
    assert "user_id" not in pages[-1].cursor
    assert len(harness.requests_to(MENTIONS_PATH)) == 1


def test_an_app_only_token_without_the_user_id_option_must_be_reconnected() -> None:
    harness = Harness()
    harness.api.add_app_token("app-only")
    pages, error = poll(harness, cursor={}, secret="app-only")
    assert isinstance(error, AuthFailed)
    assert pages == []


# --- what becomes a message -----------------------------------------------------------------------------


def test_mentions_become_customer_messages() -> None:
    harness = Harness(scripted={MENTIONS_PATH: [httpx.Response(200, json=fixture("mentions_page"))]})
    harness.scripted[MENTIONS_PATH].append(httpx.Response(200, json=fixture("empty_page")))
    pages, error = poll(harness, cursor=dict(KNOWN))
    assert error is None
    follow_up, reply_to_brand, opener = pages[0].messages
    assert opener.platform == "x" and opener.brand == "acme" and opener.source_id == "acme-x"
    assert opener.platform_id == "1861000000000000100"
    assert opener.author_id == "4400000001"
    assert opener.author_handle == "@dana_k"
    assert opener.permalink == "https://x.com/dana_k/status/1861000000000000100"
    assert opener.created_at == datetime(2026, 11, 22, 11, 20, tzinfo=UTC)
    assert opener.kind is MessageKind.MENTION and opener.from_brand is False
    assert opener.parent_id is None and opener.parent_author_id is None and opener.parent_by_brand is None
    assert opener.thread_id == "1861000000000000100"
    assert opener.network is None
    # A follow-up: the customer replies to their own post.
    assert follow_up.parent_id == "1861000000000000100"
    assert follow_up.parent_author_id == follow_up.author_id == "4400000001"
    assert follow_up.parent_by_brand is False
    assert follow_up.text == "@AcmeSupport still nothing & it's been a day <sigh>"
    # A reply to the brand's answer: a new question, not a follow-up.
    assert reply_to_brand.parent_author_id == BRAND_ID != reply_to_brand.author_id
    assert reply_to_brand.parent_by_brand is True
    assert reply_to_brand.thread_id == "1860990000000000000"
    assert pages[0].cursor["mentions_next"] == fixture("mentions_page")["meta"]["next_token"]


def test_the_brands_replies_are_detected_from_its_timeline() -> None:
    harness = Harness(scripted={TWEETS_PATH: [httpx.Response(200, json=fixture("brand_timeline"))]})
    pages, error = poll(harness, cursor=dict(KNOWN))
    assert error is None
    (reply,) = [message for page in pages for message in page.messages]
    assert reply.platform_id == "1861000000000000400"
    assert reply.from_brand is True
    assert reply.parent_id == "1861000000000000300"
    assert reply.parent_author_id == "4400000001"
    assert reply.parent_key == "acme#x#1861000000000000300"
    assert reply.thread_id == "1861000000000000100"
    assert reply.author_handle == "@AcmeSupport"
    assert pages[-1].cursor["tweets"] == "1861000000000000500"
    (request,) = harness.requests_to(TWEETS_PATH)
    assert request.url.params["exclude"] == "retweets"  # X bills every post read: skip what is never a reply
    assert request.url.params["since_id"] == MARK


def test_the_fake_serves_the_brands_replies_with_their_parents() -> None:
    harness = Harness()
    (question,) = add_mentions(harness.api, 1, newest=NOW - timedelta(minutes=30), step=timedelta(minutes=1))
    answer_id = snowflake(NOW - timedelta(minutes=10))
    harness.api.add_post(answer_id, author_id=BRAND_ID, text="@customer1 on it", reply_to=question)
    harness.api.add_post(snowflake(NOW - timedelta(minutes=5)), author_id=BRAND_ID, text="News!")
    pages, _ = poll(harness, cursor=dict(KNOWN))
    replies = [message for message in pages[-1].messages if message.from_brand]
    assert [(r.platform_id, r.parent_id, r.parent_author_id) for r in replies] == [(answer_id, question, "4400000001")]


def test_the_brands_own_posts_in_its_mentions_are_left_to_its_timeline() -> None:
    harness = Harness()
    own = snowflake(NOW - timedelta(seconds=30))  # the newest post in its mentions
    harness.api.add_post(own, author_id=BRAND_ID, text="@AcmeSupport note to self", mentions=[BRAND_ID])
    ids = add_mentions(harness.api, 2, step=timedelta(minutes=1))
    pages, _ = poll(harness, cursor=dict(KNOWN))
    assert sorted(platform_ids(pages[:1])) == sorted(ids)
    assert pages[0].cursor["mentions"] == own


# --- malformed items and problems -----------------------------------------------------------------------

SECRET_TEXT = "my card number ends 4242 and my address is 1 Elm Row"


def test_malformed_items_are_skipped_counted_and_logged_by_id_only(x_log: list[logging.LogRecord]) -> None:
    page = fixture("mentions_page")
    page["meta"].pop("next_token")
    no_created_at = {**page["data"][0], "id": "1861000000000000290", "text": SECRET_TEXT}
    del no_created_at["created_at"]
    bad_references = {**page["data"][1], "id": "1861000000000000250", "text": SECRET_TEXT, "referenced_tweets": "x"}
    page["data"][1:1] = [no_created_at, bad_references, "not a post", None]
    harness = Harness(scripted={MENTIONS_PATH: [httpx.Response(200, json=page)]})
    pages, error = poll(harness, cursor=dict(KNOWN))
    assert error is None
    assert platform_ids(pages[:1]) == ["1861000000000000300", "1861000000000000200", "1861000000000000100"]
    assert pages[0].skipped == 4
    assert pages[0].cursor["mentions"] == "1861000000000000300"
    skipped = malformed(x_log)
    assert {getattr(record, "item_id", "absent") for record in skipped} == {
        "1861000000000000290",
        "1861000000000000250",
        None,
    }
    assert len(skipped) == 4
    assert_logged_by_id_only(x_log, "4242", "Elm Row")


def test_problems_beside_the_data_do_not_stop_the_page(x_log: list[logging.LogRecord]) -> None:
    harness = Harness(scripted={MENTIONS_PATH: [httpx.Response(200, json=fixture("partial_errors"))]})
    pages, error = poll(harness, cursor=dict(KNOWN))
    assert error is None
    (message,) = pages[0].messages
    assert message.author_handle == "4400000003"  # the author could not be expanded: its id stands in
    assert message.permalink == "https://x.com/i/web/status/1861000000000000700"
    assert any(getattr(record, "types", None) == ["resource-not-found"] for record in x_log)


def test_problems_without_data_are_a_connector_error() -> None:
    harness = Harness(scripted={MENTIONS_PATH: [httpx.Response(200, json=fixture("user_not_found"))]})
    pages, error = poll(harness, cursor=dict(KNOWN))
    assert type(error) is ConnectorError
    assert pages == []


def test_an_empty_answer_keeps_the_mark() -> None:
    pages, error = poll(Harness(), cursor=dict(KNOWN))
    assert error is None
    assert [page.messages for page in pages] == [[], []]
    assert pages[-1].cursor == KNOWN


def test_a_page_that_is_not_json_is_a_connector_error() -> None:
    html = httpx.Response(200, text="<html>Over capacity</html>", headers={"Content-Type": "text/html"})
    pages, error = poll(Harness(scripted={MENTIONS_PATH: [html]}), cursor=dict(KNOWN))
    assert isinstance(error, ConnectorError)
    assert pages == []


# --- rate limits, refusals ------------------------------------------------------------------------------


def test_429_raises_rate_limited_until_the_x_reset_time() -> None:
    reset = int((NOW + timedelta(minutes=12)).timestamp())
    limited = httpx.Response(
        429,
        json=fixture("too_many_requests"),
        headers={"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    harness = Harness(scripted={MENTIONS_PATH: [None, limited]})
    add_mentions(harness.api, 150, step=timedelta(minutes=1))
    pages, error = poll(harness, cursor=dict(KNOWN))
    assert isinstance(error, RateLimited) and not isinstance(error, BudgetExhausted)
    assert error.retry_at == NOW + timedelta(minutes=12)
    assert len(pages) == 1, "the page before the 429 only"
    assert pages[0].cursor["mentions"] == MARK and pages[0].cursor["mentions_next"]
    assert harness.requests_to(TWEETS_PATH) == []


def test_an_exhausted_window_yields_the_page_then_waits_for_the_reset() -> None:
    harness = Harness()
    harness.api.rate_limit = 1
    harness.api.clock = lambda: NOW.timestamp()
    add_mentions(harness.api, 150, step=timedelta(minutes=1))
    pages, error = poll(harness, cursor=dict(KNOWN))
    assert len(pages) == 1 and len(pages[0].messages) == 100
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(minutes=15)
    assert len(harness.requests) == 1


def test_401_means_reconnect() -> None:
    pages, error = poll(Harness(), cursor=dict(KNOWN), secret="expired-token")
    assert isinstance(error, AuthFailed)
    assert pages == []


def test_401_on_users_me_means_reconnect() -> None:
    unauthorized = httpx.Response(401, json=fixture("unauthorized"))
    harness = Harness(scripted={ME_PATH: [unauthorized]})
    pages, error = poll(harness, cursor={})
    assert isinstance(error, AuthFailed)
    assert pages == [] and harness.requests_to(MENTIONS_PATH) == []


def test_a_server_error_is_a_connector_error() -> None:
    pages, error = poll(Harness(scripted={MENTIONS_PATH: [httpx.Response(503, text="")]}), cursor=dict(KNOWN))
    assert type(error) is ConnectorError
    assert pages == []


# --- the read budget --------------------------------------------------------------------------------------


def meter(limit: int, used: int = 0) -> Meter:
    source = SOURCE.model_copy(update={"options": {"monthly_read_budget": str(limit)}})
    budget = XConnector.budget
    assert budget is not None
    found = Meter.start(budget, source, None, NOW)
    found.used = used
    return found


def test_reads_stop_at_the_monthly_budget_and_are_counted() -> None:
    harness = Harness()
    add_mentions(harness.api, 300, step=timedelta(minutes=1))
    spent = meter(230)
    pages, error = poll(harness, cursor=dict(KNOWN), meter=spent)
    assert isinstance(error, BudgetExhausted)
    assert error.retry_at == datetime(2026, 12, 1, tzinfo=UTC)
    sizes = [request.url.params["max_results"] for request in harness.requests_to(MENTIONS_PATH)]
    assert sizes == ["100", "100", "30"], "the last page asks only for what the budget has left"
    assert spent.used == 230 == len(platform_ids(pages)) == harness.api.posts_read
    assert harness.requests_to(TWEETS_PATH) == []


def test_fewer_reads_left_than_xs_smallest_page_stops_rather_than_overspend() -> None:
    harness = Harness()
    add_mentions(harness.api, 20, step=timedelta(minutes=1))
    spent = meter(100, used=96)
    pages, error = poll(harness, cursor=dict(KNOWN), meter=spent)
    assert isinstance(error, BudgetExhausted)
    assert pages == [] and harness.requests == []
    assert spent.used == 96


def test_xs_own_monthly_cap_is_a_spent_budget() -> None:
    capped = httpx.Response(429, json=fixture("usage_capped"), headers={"x-rate-limit-remaining": "39999"})
    pages, error = poll(Harness(scripted={MENTIONS_PATH: [capped]}), cursor=dict(KNOWN))
    assert isinstance(error, BudgetExhausted)
    assert error.retry_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert pages == []


def test_the_poller_stops_the_source_at_its_budget_and_keeps_the_usage() -> None:
    harness = Harness()
    add_mentions(harness.api, 300, step=timedelta(minutes=1))
    source = SOURCE.model_copy(update={"options": {"monthly_read_budget": "150"}})
    state = MemoryState([source])
    state.save_source_state(source, SourceState(cursor=dict(KNOWN)))
    messages = MemoryMessages()
    poller = Poller(messages=messages, state=state, secrets=StaticSecrets(TOKEN), retention=timedelta(days=30))  # type: ignore[arg-type]

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(harness.handle)) as client:
            await poller.poll_all(client, NOW)

    asyncio.run(run())
    assert len(messages.keys) == 150
    saved = state.state_of("acme-x")
    assert saved.health.value == "budget_exhausted"
    assert saved.resume_after == datetime(2026, 12, 1, tzinfo=UTC)
    assert saved.usage is not None
    assert (saved.usage.period, saved.usage.used, saved.usage.limit) == ("2026-11", 150, 150)
    assert saved.cursor["mentions"] == MARK and saved.cursor["mentions_next"]


# --- the fake over real HTTP -----------------------------------------------------------------------------


def test_the_fake_server_answers_concurrent_clients_with_its_latency() -> None:
    api = world()
    add_mentions(api, 30, step=timedelta(minutes=1))
    with FakeXServer(api, latency_ms=200) as server:

        async def fetch_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                return await asyncio.gather(*(c.get(MENTIONS_PATH, params={"max_results": "5"}) for _ in range(40)))

        responses = asyncio.run(fetch_all())
    assert {response.status_code for response in responses} == {200}
    assert all(response.json()["meta"]["result_count"] == 5 for response in responses)
    assert int(responses[0].headers["x-rate-limit-remaining"]) > 0
    assert server.most_in_flight > 1, "requests are answered side by side, not one after another"
