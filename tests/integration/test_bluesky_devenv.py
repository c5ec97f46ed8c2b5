"""The Bluesky connector against the reference servers: a real PDS proxying to a real AppView.

``@atproto/dev-env`` (infra/local/atproto, see tests/support/atproto.py) runs the PLC directory,
PDS and AppView nobody on the team wrote. Customers mention the brand, reply to its post (and
to each other), quote it; the brand answers. The real Poller, with in-memory repositories,
polls the source through the PDS with the brand's app password, and must store every message
addressed to the brand once, and the brand's replies with their parents, with one session
across polls. What the connector sends and what the servers answer is also checked against the
lexicons when ``../shared`` is present.

Needs infra/local/atproto/setup.sh (PostgreSQL, Redis, node_modules): skipped without it,
except in CI, where a missing piece fails.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from replywatch.connectors.base import SESSIONS, SessionCache
from replywatch.models import Message, MessageKind, Source, SourceState
from replywatch.polling import Poller, PollReport
from tests.support.atproto import SETUP, AtprotoNetwork, PostRef, XrpcClient, atproto_network, missing_requirements
from tests.support.lexicon import BLUESKY_LEXICONS, Lexicons
from tests.support.template import ROOT

CREATE = "/xrpc/com.atproto.server.createSession"
REFRESH = "/xrpc/com.atproto.server.refreshSession"


@pytest.fixture(scope="module")
def net() -> Iterator[AtprotoNetwork]:
    """A network of its own: the brand, two customers, and a second brand for the paging test."""
    reason = missing_requirements()
    if reason is not None:
        setup = SETUP.relative_to(ROOT)
        if os.environ.get("CI"):
            pytest.fail(f"Bluesky test network: {reason} (CI must run {setup} first)", pytrace=False)
        pytest.skip(f"Bluesky test network: {reason}; run `bash {setup}` (as root) to set it up")
    with atproto_network(accounts=("brand", "alice", "bob", "kettleworks")) as network:
        yield network


@pytest.fixture(scope="module")
def users(net: AtprotoNetwork) -> Iterator[dict[str, XrpcClient]]:
    clients = {name: XrpcClient.login(net.pds, net.accounts[name]) for name in ("brand", "alice", "bob", "kettleworks")}
    yield clients
    for client in clients.values():
        client.close()


class Messages:
    """The poller's message repository, in memory: idempotent by key like the real one."""

    def __init__(self) -> None:
        self.stored: dict[str, Message] = {}

    def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool:
        if message.key in self.stored:
            return False
        self.stored[message.key] = message
        return True


class State:
    """The poller's state repository for one source, in memory."""

    def __init__(self, source: Source) -> None:
        self.source, self.state = source, SourceState()

    def list_sources(self) -> list[tuple[Source, SourceState]]:
        return [(self.source, self.state)]

    def save_source_state(self, source: Source, state: SourceState) -> None:
        self.state = state


class Secret:
    def __init__(self, value: str) -> None:
        self.value = value

    def read(self, secret_name: str) -> str:
        return self.value


class Watch:
    """One source polled by the real Poller, with what it stored and every request it sent."""

    def __init__(self, net: AtprotoNetwork, account: str, *, password: str | None = None, max_pages: int = 10) -> None:
        login = net.accounts[account]
        self.source = Source(
            brand_id="acme",
            source_id=f"{account}-bsky",
            platform="bluesky",
            base_url=net.pds,
            token_secret=f"replywatch/acme/{account}-bsky",
        )
        self.secret = json.dumps({"identifier": login.handle, "password": password or login.password})
        self.messages = Messages()
        self.state = State(self.source)
        self.poller = Poller(
            messages=self.messages,  # type: ignore[arg-type]
            state=self.state,  # type: ignore[arg-type]
            secrets=Secret(self.secret),
            retention=timedelta(days=30),
            max_pages=max_pages,
        )
        self.requests: list[httpx.Request] = []

    def poll(self) -> PollReport:
        async def record(request: httpx.Request) -> None:
            self.requests.append(request)

        async def run() -> PollReport:
            async with httpx.AsyncClient(timeout=30, event_hooks={"request": [record]}) as client:
                return await self.poller.poll_all(client, datetime.now(UTC))

        return asyncio.run(run())

    @property
    def cursor(self) -> dict[str, str]:
        return self.state.state.cursor

    def stored(self) -> dict[str, Message]:
        return {message.platform_id: message for message in self.messages.stored.values()}

    def sent(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]


def test_mentions_replies_quotes_and_the_brands_answers_are_collected_once(
    net: AtprotoNetwork, users: dict[str, XrpcClient]
) -> None:
    brand, alice, bob = users["brand"], users["alice"], users["bob"]
    announcement = brand.create_post("Our autumn sale starts today.")
    net.process_all()  # a reply indexed before its parent would miss its notification

    mention = alice.create_post(f"@{brand.handle} where is my order?", mentions={brand.handle: brand.did})
    reply = bob.create_post("Does the sale include kettles?", reply_to=announcement)
    quote = alice.create_post("Last year's sale prices were higher than before the sale.", quote=announcement)
    net.process_all()
    between_customers = alice.create_post("Bob, they do, I bought one.", reply_to=reply, root=announcement)
    follow_up = bob.create_post("And the blue ones?", reply_to=reply, root=announcement)
    net.process_all()

    watch = Watch(net, "brand")
    report = watch.poll()
    assert [source.health for source in report.sources] == ["ok"]
    stored = watch.stored()
    assert set(stored) == {mention.uri, reply.uri, quote.uri, follow_up.uri}  # not Alice answering Bob
    assert between_customers.uri not in stored

    got = stored[mention.uri]
    assert (got.author_id, got.author_handle, got.kind) == (alice.did, "@alice.test", MessageKind.MENTION)
    assert got.text == f"@{brand.handle} where is my order?"
    assert got.parent_id is None and got.thread_id == mention.uri
    assert got.permalink == f"https://bsky.app/profile/alice.test/post/{mention.uri.rsplit('/', 1)[1]}"
    assert abs(got.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    got = stored[reply.uri]
    assert (got.parent_id, got.parent_author_id, got.thread_id) == (announcement.uri, brand.did, announcement.uri)
    got = stored[follow_up.uri]
    assert (got.parent_id, got.parent_author_id, got.author_id) == (reply.uri, bob.did, bob.did)  # a follow-up
    assert stored[quote.uri].parent_id is None

    # The brand answers two of them; the next poll finds its replies, and nothing twice.
    answer_mention = brand.create_post("Sorry! It ships today.", reply_to=mention)
    answer_reply = brand.create_post("Yes, all kettles.", reply_to=reply, root=announcement)
    net.process_all()
    report = watch.poll()
    assert report.sources[0].duplicates == 0
    answers = {uri: message for uri, message in watch.stored().items() if message.from_brand}
    assert set(answers) == {answer_mention.uri, answer_reply.uri}  # not the announcement: it answers nobody
    assert answers[answer_mention.uri].parent_key == stored[mention.uri].key
    assert answers[answer_reply.uri].parent_id == reply.uri
    assert answers[answer_reply.uri].author_handle == "@brand.test"

    # Quiet polls store nothing and keep one session throughout.
    watch.poll()
    assert len(watch.stored()) == 6
    assert len(watch.sent(CREATE)) == 1
    assert watch.sent(REFRESH) == []
    assert watch.cursor["did"] == brand.did


def test_many_mentions_are_paged_within_the_budget_and_finished_by_the_next_poll(
    net: AtprotoNetwork, users: dict[str, XrpcClient]
) -> None:
    shop, alice, bob = users["kettleworks"], users["alice"], users["bob"]
    posted: list[PostRef] = []
    for number in range(130):
        author = alice if number % 2 else bob
        posted.append(author.create_post(f"@{shop.handle} question {number}", mentions={shop.handle: shop.did}))
    net.process_all(timeout=60)

    watch = Watch(net, "kettleworks", max_pages=1)
    first = watch.poll()
    assert first.sources[0].stored == 100
    assert "notifications_next" in watch.cursor  # the walk goes on next time
    later = [bob.create_post(f"@{shop.handle} one more", mentions={shop.handle: shop.did})]
    net.process_all()
    # One page a poll: the walk's other 30, the end of the history, then a new walk for what came meanwhile.
    for _ in range(3):
        watch.poll()
    stored = watch.stored()
    assert set(stored) == {post.uri for post in posted + later}
    assert len(watch.sent(CREATE)) == 1
    listed = [request for request in watch.requests if request.url.path.endswith("listNotifications")]
    assert all(request.url.params["limit"] == "100" for request in listed)


def test_a_refused_access_token_is_refreshed_without_a_new_session(
    net: AtprotoNetwork, users: dict[str, XrpcClient]
) -> None:
    watch = Watch(net, "brand")
    watch.poll()
    key = SessionCache.key(watch.source, watch.secret)
    session = SESSIONS.get(key, datetime.now(UTC))
    assert session is not None
    # The PDS refuses a refresh token where an access token belongs, as it refuses an expired one.
    SESSIONS.put(key, {**session, "accessJwt": session["refreshJwt"]}, datetime.now(UTC) + timedelta(days=1))
    created_before = len(watch.sent(CREATE))
    report = watch.poll()
    assert [source.health for source in report.sources] == ["ok"]
    assert len(watch.sent(REFRESH)) == 1
    assert len(watch.sent(CREATE)) == created_before
    renewed = SESSIONS.get(key, datetime.now(UTC))
    assert renewed is not None and renewed["accessJwt"] != session["refreshJwt"]


def test_a_wrong_app_password_marks_the_source_for_reconnection(net: AtprotoNetwork) -> None:
    watch = Watch(net, "brand", password="wxyz-wxyz-wxyz-wxyz")
    report = watch.poll()
    assert [source.health for source in report.sources] == ["auth_failed"]
    assert watch.messages.stored == {}


@pytest.mark.skipif(not BLUESKY_LEXICONS.is_dir(), reason="../shared/specs/bluesky-lexicons is absent")
def test_what_the_connector_sends_and_the_servers_answer_match_the_lexicons(
    net: AtprotoNetwork, users: dict[str, XrpcClient]
) -> None:
    lexicons = Lexicons()
    watch = Watch(net, "brand")
    watch.poll()
    queries = [request for request in watch.requests if request.method == "GET"]
    assert {request.url.path for request in queries} == {
        "/xrpc/app.bsky.notification.listNotifications",
        "/xrpc/app.bsky.feed.getAuthorFeed",
    }
    for request in queries:
        nsid = request.url.path.removeprefix("/xrpc/")
        assert lexicons.check_params(nsid, list(request.url.params.multi_items())) == []
        # the same request, answered by the real servers
        answer = users["brand"].call(nsid, **{name: request.url.params.get_list(name) for name in request.url.params})
        assert lexicons.check_output(nsid, answer) == [], nsid
    for request in watch.sent(CREATE):
        assert lexicons.check_input("com.atproto.server.createSession", json.loads(request.content)) == []
