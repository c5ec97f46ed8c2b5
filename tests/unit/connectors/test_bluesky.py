"""BlueskyConnector.pages() against an in-process fake of a PDS proxying to the AppView (httpx.MockTransport).

The fixtures (tests/fixtures/bluesky) follow the lexicons: createSession's output, a
listNotifications page (mention, reply, quote and a like), a getAuthorFeed page (the brand's
reply, a repost, a post). The fake pages the way the AppView does: notifications newest first
by ``indexedAt`` with the last item's ``indexedAt`` as the cursor (strictly older next time);
author feeds by the earlier of createdAt and indexedAt with a ``<ms>__<cid>`` cursor. It issues
JWTs with ``exp`` claims and refuses expired ones with ``400 ExpiredToken``, as a PDS does.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from replywatch.connectors import REGISTRY, connector_for
from replywatch.connectors.base import AuthFailed, ConnectorError, Page, RateLimited, SessionCache
from replywatch.connectors.bluesky import LOOKBACK, PAGE_LIMIT, BlueskyConnector, jwt_expiry
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
from tests.support.lexicon import BLUESKY_LEXICONS, Lexicons

NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
BASE = "https://pds.example"
SOURCE = acme_source("bluesky", "bsky", BASE)
PASSWORD = "abcd-efgh-ijkl-mnop"
SECRET = json.dumps({"identifier": "acme.bsky.social", "password": PASSWORD})
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bluesky"

BRAND = "did:plc:qivthlmhyfekbiqklot42xv4"
DANA = ("did:plc:fspaujmf3r2amwe2g4spaaty", "dana.bsky.social")
ELI = ("did:plc:e4bx7thkgbro5dv25id2tyv7", "eli.example.com")
FERN = ("did:plc:6cs5uf7a76r2ehbla7ewjvdf", "fern.bsky.social")
BRAND_POST = f"at://{BRAND}/app.bsky.feed.post/3mbgxw2ahgk2x"

CREATE = "com.atproto.server.createSession"
REFRESH = "com.atproto.server.refreshSession"
LIST = "app.bsky.notification.listNotifications"
FEED = "app.bsky.feed.getAuthorFeed"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


TEMPLATES = {item["reason"]: item for item in load("list_notifications.json")["notifications"]}
FEED_TEMPLATES = load("author_feed.json")["feed"]  # the brand's reply, a repost, the brand's post


# --- building items in the fixtures' shapes ---------------------------------------------------------

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid(at: datetime, clock: int = 0) -> str:
    """A record key the way PDSes mint them: microseconds since the epoch and a clock id, base32-sortable."""
    value = (int(at.timestamp() * 1_000_000) << 10) | (clock % 1024)
    return "".join(_TID_ALPHABET[(value >> (5 * shift)) & 31] for shift in range(12, -1, -1))


def cid(seed: str) -> str:
    return "bafyrei" + base64.b32encode(hashlib.sha256(seed.encode()).digest()).decode().lower().rstrip("=")[:52]


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post_uri(did: str, at: datetime, n: int = 0) -> str:
    return f"at://{did}/app.bsky.feed.post/{tid(at, n)}"


def notification(
    n: int,
    at: datetime,
    *,
    reason: str = "mention",
    author: tuple[str, str] = DANA,
    text: str | None = None,
    created_at: str | None = None,
    parent: str | None = None,
    root: str | None = None,
) -> dict[str, Any]:
    item = copy.deepcopy(TEMPLATES[reason])
    did, handle = author
    item["uri"] = post_uri(did, at, n) if reason != "like" else f"at://{did}/app.bsky.feed.like/{tid(at, n)}"
    item["cid"] = cid(item["uri"])
    item["author"].update(did=did, handle=handle)
    item["indexedAt"] = stamp(at)
    record = item["record"]
    record["createdAt"] = created_at if created_at is not None else stamp(at)
    if "text" in record:
        record["text"] = text if text is not None else f"question {n}"
    if parent is not None:
        record["reply"] = {
            "parent": {"uri": parent, "cid": cid(parent)},
            "root": {"uri": root or parent, "cid": cid(root or parent)},
        }
        item["reasonSubject"] = parent
    return item


def mentions(count: int, newest: datetime, *, step: timedelta = timedelta(minutes=1), first: int = 0) -> list[Any]:
    """``count`` mentions, one every ``step`` up to ``newest``; n counts up from the oldest."""
    return [notification(first + k, newest - (count - 1 - k) * step) for k in range(count)]


def feed_post(n: int, at: datetime, *, parent: str | None = None, text: str | None = None) -> dict[str, Any]:
    """The brand's own post in its author feed: a reply when ``parent`` is given."""
    item = copy.deepcopy(FEED_TEMPLATES[0] if parent else FEED_TEMPLATES[2])
    post = item["post"]
    post["uri"] = post_uri(BRAND, at, n)
    post["cid"] = cid(post["uri"])
    post["indexedAt"] = stamp(at)
    post["record"]["createdAt"] = stamp(at)
    post["record"]["text"] = text if text is not None else f"answer {n}"
    if parent is not None:
        post["record"]["reply"] = {
            "parent": {"uri": parent, "cid": cid(parent)},
            "root": {"uri": parent, "cid": cid(parent)},
        }
        for end in ("root", "parent"):
            item["reply"][end]["uri"] = parent
            item["reply"][end]["cid"] = cid(parent)
    return item


def repost(at: datetime) -> dict[str, Any]:
    item = copy.deepcopy(FEED_TEMPLATES[1])
    item["reason"]["indexedAt"] = stamp(at)
    item["reason"]["uri"] = f"at://{BRAND}/app.bsky.feed.repost/{tid(at)}"
    item["reason"]["cid"] = cid(item["reason"]["uri"])
    return item


# --- the fake PDS + AppView ----------------------------------------------------------------------------------


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(claims)}.c2lnbmF0dXJl"


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class FakeBluesky:
    notifications: list[Any] = field(default_factory=list)
    feed: list[Any] = field(default_factory=list)
    clock: datetime = NOW  # the server's time: JWTs expire by it
    access_ttl: timedelta = timedelta(hours=2)
    refresh_ttl: timedelta = timedelta(days=90)
    password: str = PASSWORD
    filter_reasons: bool = True  # False: a server that ignores ``reasons``
    scripted: dict[str, list[Scripted]] = field(default_factory=dict)  # nsid -> answers served first
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)  # every session handed out
    tokens: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # jwt -> (kind, expires)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        nsid = request.url.path.removeprefix("/xrpc/")
        answer = scripted_answer(self.scripted.get(nsid), request)
        if answer is not None:
            return answer
        if nsid == CREATE:
            return self.create(request)
        kind = "refresh" if nsid == REFRESH else "access"
        refused = self.refuse(request, kind)
        if refused is not None:
            return refused
        if nsid == REFRESH:
            del self.tokens[request.headers["Authorization"].removeprefix("Bearer ")]  # rotated: single use
            return self.issue()
        if nsid == LIST:
            return self.list_notifications(request)
        if nsid == FEED:
            return self.author_feed(request)
        return httpx.Response(501, json={"error": "MethodNotImplemented", "message": "Method Not Implemented"})

    def create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("identifier") not in ("acme.bsky.social", BRAND) or body.get("password") != self.password:
            return httpx.Response(
                401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
            )
        return self.issue()

    def issue(self) -> httpx.Response:
        number = len(self.sessions) + 1
        session = load("create_session.json")
        for kind, ttl in (("access", self.access_ttl), ("refresh", self.refresh_ttl)):
            expires = self.clock + ttl
            token = jwt({"scope": f"com.atproto.{kind}", "sub": BRAND, "exp": int(expires.timestamp()), "jti": number})
            session[f"{kind}Jwt"] = token
            self.tokens[token] = (kind, expires)
        self.sessions.append(session)
        return httpx.Response(200, json=session, headers=self.headers)

    def refuse(self, request: httpx.Request, kind: str) -> httpx.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        known = self.tokens.get(token)
        if known is None or known[0] != kind:
            return httpx.Response(400, json={"error": "InvalidToken", "message": "Token could not be verified"})
        if known[1] <= self.clock:
            return httpx.Response(400, json={"error": "ExpiredToken", "message": "Token has expired"})
        return None

    def list_notifications(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        reasons = params.get_list("reasons")
        ordered = sorted(self.notifications, key=lambda item: (parse(item["indexedAt"]), item["cid"]), reverse=True)
        if "cursor" in params:
            ordered = [item for item in ordered if parse(item["indexedAt"]) < parse(params["cursor"])]
        page = ordered[: int(params.get("limit", "50"))]
        body: dict[str, Any] = {"notifications": page, "priority": False}
        if page:
            body["cursor"] = page[-1]["indexedAt"]
        if reasons and self.filter_reasons:  # the AppView filters the page it read (pages may come back short)
            body["notifications"] = [item for item in page if item["reason"] in reasons]
        return httpx.Response(200, json=body, headers=self.headers)

    def author_feed(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("actor") != BRAND:
            return httpx.Response(400, json={"error": "InvalidRequest", "message": "Profile not found"})

        def key(item: dict[str, Any]) -> tuple[int, str]:
            if item.get("reason"):
                return int(parse(item["reason"]["indexedAt"]).timestamp() * 1000), item["reason"]["cid"]
            post = item["post"]
            at = min(parse(post["indexedAt"]), parse(post["record"]["createdAt"]))
            return int(at.timestamp() * 1000), post["cid"]

        ordered = sorted(self.feed, key=key, reverse=True)
        if "cursor" in params:
            ms, _, last = params["cursor"].partition("__")
            ordered = [item for item in ordered if key(item) < (int(ms), last)]
        page = ordered[: int(params.get("limit", "50"))]
        body: dict[str, Any] = {"feed": page}
        if page:
            body["cursor"] = "__".join(str(part) for part in key(page[-1]))
        return httpx.Response(200, json=body, headers=self.headers)

    def to(self, nsid: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == f"/xrpc/{nsid}"]


def poll(
    fake: FakeBluesky,
    *,
    cursor: dict[str, str],
    now: datetime = NOW,
    max_pages: int = 10,
    backfill_from: datetime | None = None,
    sessions: SessionCache | None = None,
    secret: str = SECRET,
    source: Source = SOURCE,
) -> tuple[list[Page], ConnectorError | None]:
    """Every page the connector yields, and the connector error that ended the poll (if any).
    The backfill window is the poller's default (24 hours) unless given."""
    fake.clock = now

    return collect(
        BlueskyConnector(),
        fake.handle,
        source=source,
        secret=secret,
        now=now,
        cursor=cursor,
        max_pages=max_pages,
        backfill_from=backfill_from or now - timedelta(hours=24),
        sessions=sessions,
    )


def inbound(pages: list[Page]) -> list[str]:
    return [message.platform_id for page in pages for message in page.messages if not message.from_brand]


def steady(floor: datetime) -> dict[str, str]:
    """The cursor of a source that has read everything up to ``floor``."""
    mark = stamp(floor)
    return {
        "did": BRAND,
        "notifications_floor": mark,
        "notifications_seen": "",
        "replies_floor": mark,
        "replies_seen": "",
    }


@pytest.fixture
def bluesky_log() -> Iterator[list[logging.LogRecord]]:
    with captured_logs("replywatch.connectors.bluesky") as records:
        yield records


def test_the_connector_is_registered() -> None:
    assert isinstance(connector_for("bluesky"), BlueskyConnector)
    assert REGISTRY["bluesky"].default_base_url == "https://bsky.social"


# --- the session ---------------------------------------------------------------------------------------------


def test_the_first_poll_opens_a_session_with_the_app_password_and_uses_its_access_token() -> None:
    fake = FakeBluesky(notifications=mentions(2, NOW - timedelta(minutes=5)))
    pages, error = poll(fake, cursor={})
    assert error is None
    assert fake.requests[0].url.path == f"/xrpc/{CREATE}"
    assert json.loads(fake.requests[0].content) == {"identifier": "acme.bsky.social", "password": PASSWORD}
    access = fake.sessions[0]["accessJwt"]
    assert {request.headers["Authorization"] for request in fake.requests[1:]} == {f"Bearer {access}"}
    assert len(inbound(pages)) == 2
    assert pages[-1].cursor["did"] == BRAND


def test_the_session_is_reused_across_polls() -> None:
    fake, sessions = FakeBluesky(notifications=mentions(3, NOW - timedelta(minutes=30))), SessionCache()
    cursor: dict[str, str] = {}
    for minutes in (0, 5, 10, 15):
        pages, error = poll(fake, cursor=cursor, now=NOW + timedelta(minutes=minutes), sessions=sessions)
        assert error is None
        cursor = pages[-1].cursor
    assert len(fake.to(CREATE)) == 1
    assert fake.to(REFRESH) == []


def test_an_access_token_about_to_expire_is_refreshed_before_it_is_used() -> None:
    fake, sessions = FakeBluesky(), SessionCache()
    first, _ = poll(fake, cursor={}, sessions=sessions)
    later = NOW + fake.access_ttl - timedelta(seconds=30)
    _, error = poll(fake, cursor=first[-1].cursor, now=later, sessions=sessions)
    assert error is None
    (refresh,) = fake.to(REFRESH)
    assert refresh.headers["Authorization"] == f"Bearer {fake.sessions[0]['refreshJwt']}"
    assert refresh.content == b""
    assert len(fake.to(CREATE)) == 1
    # no request went out with the old token after the refresh
    assert fake.to(LIST)[-1].headers["Authorization"] == f"Bearer {fake.sessions[1]['accessJwt']}"
    assert all(
        request.headers["Authorization"] != f"Bearer {fake.sessions[0]['accessJwt']}"
        for request in fake.requests[fake.requests.index(refresh) :]
    )


def test_an_access_token_refused_as_expired_is_refreshed_and_the_request_retried() -> None:
    fake = FakeBluesky(
        notifications=mentions(2, NOW - timedelta(minutes=5)),
        scripted={LIST: [httpx.Response(400, json={"error": "ExpiredToken", "message": "Token has expired"})]},
    )
    pages, error = poll(fake, cursor={})
    assert error is None
    assert len(fake.to(REFRESH)) == 1
    assert len(fake.to(CREATE)) == 1
    refused, retried = fake.to(LIST)[:2]
    assert retried.url == refused.url
    assert retried.headers["Authorization"] == f"Bearer {fake.sessions[1]['accessJwt']}"
    assert len(inbound(pages)) == 2


def test_a_401_is_answered_by_a_refresh_too() -> None:
    fake = FakeBluesky(
        notifications=mentions(1, NOW - timedelta(minutes=5)),
        scripted={LIST: [httpx.Response(401, json={"error": "AuthenticationRequired", "message": "Bad token"})]},
    )
    pages, error = poll(fake, cursor={})
    assert error is None
    assert len(fake.to(REFRESH)) == 1
    assert len(inbound(pages)) == 1


def test_a_refused_refresh_falls_back_to_a_new_session() -> None:
    fake, sessions = FakeBluesky(refresh_ttl=timedelta(hours=3)), SessionCache()
    first, _ = poll(fake, cursor={}, sessions=sessions)
    # Both tokens have expired by the server's clock, while the container still holds the session.
    sessions.put(SessionCache.key(SOURCE, SECRET), fake.sessions[0], NOW + timedelta(days=1))
    _, error = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(hours=4), sessions=sessions)
    assert error is None
    assert len(fake.to(REFRESH)) == 1
    assert len(fake.to(CREATE)) == 2
    assert fake.to(LIST)[-1].headers["Authorization"] == f"Bearer {fake.sessions[1]['accessJwt']}"


def test_an_expired_session_whose_password_was_revoked_raises_auth_failed() -> None:
    fake, sessions = FakeBluesky(), SessionCache()
    first, _ = poll(fake, cursor={}, sessions=sessions)
    fake.tokens.clear()  # the app password was revoked: its sessions with it
    fake.password = "a-new-app-password"
    pages, error = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=5), sessions=sessions)
    assert isinstance(error, AuthFailed)
    assert pages == []
    assert [request.url.path.removeprefix("/xrpc/") for request in fake.requests[-3:]] == [LIST, REFRESH, CREATE]
    assert sessions.get(SessionCache.key(SOURCE, SECRET), NOW) is None


def test_a_token_still_refused_after_a_fresh_session_raises_auth_failed() -> None:
    refused = httpx.Response(401, json={"error": "AuthenticationRequired", "message": "Bad token"})
    fake = FakeBluesky(scripted={LIST: [refused, refused]})
    pages, error = poll(fake, cursor={})
    assert isinstance(error, AuthFailed)
    assert pages == []
    assert len(fake.to(LIST)) == 2


@pytest.mark.parametrize("secret", ["not json", "{}", json.dumps({"identifier": "acme.bsky.social"})])
def test_a_secret_without_an_app_password_raises_auth_failed_without_calling_out(secret: str) -> None:
    fake = FakeBluesky()
    pages, error = poll(fake, cursor={}, secret=secret)
    assert isinstance(error, AuthFailed)
    assert pages == []
    assert fake.requests == []


def test_create_session_rate_limited_raises_rate_limited_until_the_reset() -> None:
    reset = int((NOW + timedelta(minutes=4)).timestamp())
    fake = FakeBluesky(
        scripted={
            CREATE: [
                httpx.Response(
                    429,
                    json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                    headers={
                        "RateLimit-Limit": "30",
                        "RateLimit-Remaining": "0",
                        "RateLimit-Reset": str(reset),
                        "RateLimit-Policy": "30;w=300",
                    },
                )
            ]
        }
    )
    pages, error = poll(fake, cursor={})
    assert isinstance(error, RateLimited)
    assert error.retry_at == datetime.fromtimestamp(reset, tz=UTC)
    assert pages == []


def test_jwt_expiry_reads_the_exp_claim_and_tolerates_junk() -> None:
    session = load("create_session.json")
    assert jwt_expiry(session["accessJwt"]) == datetime(2026, 11, 23, 14, 13, 20, tzinfo=UTC)
    assert jwt_expiry(session["refreshJwt"]) == datetime(2027, 2, 21, 12, 13, 20, tzinfo=UTC)
    for junk in ("", "abc", "a.b.c", "a.e30.c", "a.eyJleHAiOiJzb29uIn0.c"):
        assert jwt_expiry(junk) is None


def test_session_tokens_reach_neither_the_cursor_nor_the_logs(bluesky_log: list[logging.LogRecord]) -> None:
    fake = FakeBluesky(notifications=mentions(3, NOW - timedelta(minutes=5)))
    fake.notifications[0]["record"] = "broken"  # make the connector log something
    pages, _ = poll(fake, cursor={})
    assert bluesky_log
    secrets = [fake.sessions[0]["accessJwt"], fake.sessions[0]["refreshJwt"], PASSWORD]
    for text in [json.dumps(page.cursor) for page in pages] + [repr(record.__dict__) for record in bluesky_log]:
        assert not any(secret in text for secret in secrets)


# --- walking the notifications -----------------------------------------------------------------------------


def test_pages_backwards_over_several_pages_with_no_duplicates_and_no_gaps() -> None:
    fake = FakeBluesky(notifications=mentions(250, NOW - timedelta(minutes=1), step=timedelta(seconds=30)))
    pages, error = poll(fake, cursor={})
    assert error is None
    requests = fake.to(LIST)
    assert len(requests) == 4  # 100 + 100 + 50, then the end of the account's history
    assert "cursor" not in requests[0].url.params
    assert [request.url.params["cursor"] for request in requests[1:]] == [
        fake.notifications[150]["indexedAt"],
        fake.notifications[50]["indexedAt"],
        fake.notifications[0]["indexedAt"],
    ]
    got = inbound(pages)
    assert len(got) == len(set(got)) == 250
    assert set(got) == {item["uri"] for item in fake.notifications}


def test_every_notifications_request_carries_limit_priority_and_reasons() -> None:
    fake = FakeBluesky(notifications=mentions(150, NOW - timedelta(minutes=1), step=timedelta(seconds=30)))
    poll(fake, cursor={})
    for request in fake.to(LIST):
        assert request.url.params["limit"] == str(PAGE_LIMIT) == "100"
        assert request.url.params["priority"] == "false"  # all notifications, not only from follows
        assert request.url.params.get_list("reasons") == ["mention", "reply", "quote"]


def test_a_quiet_poll_costs_one_request_per_stream_and_keeps_the_cursor() -> None:
    old = NOW - timedelta(hours=30)  # an account with history: older items end each walk on its first page
    fake = FakeBluesky(
        notifications=[*mentions(5, NOW - timedelta(hours=2)), *mentions(5, old, first=50)],
        feed=[feed_post(1, NOW - timedelta(hours=3)), feed_post(2, old)],
    )
    first, _ = poll(fake, cursor={})
    fake.requests.clear()
    later, error = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=5))
    assert error is None
    assert len(fake.to(LIST)) == 1 and len(fake.to(FEED)) == 1
    assert platform_ids(later) == []
    assert later[-1].cursor == first[-1].cursor


def test_new_mentions_are_read_once_across_polls() -> None:
    fake = FakeBluesky(notifications=mentions(30, NOW - timedelta(minutes=1)))
    seen: list[str] = []
    cursor: dict[str, str] = {}
    for round_ in range(4):
        now = NOW + timedelta(minutes=3 * round_)
        fake.notifications += mentions(
            7, now - timedelta(seconds=5), step=timedelta(seconds=20), first=100 * (round_ + 1)
        )
        pages, error = poll(fake, cursor=cursor, now=now)
        assert error is None
        seen += inbound(pages)
        cursor = pages[-1].cursor
    assert len(seen) == len(set(seen)) == 30 + 4 * 7


def test_the_page_bound_stops_a_walk_and_the_next_polls_finish_it_then_read_what_is_new() -> None:
    fake = FakeBluesky(notifications=mentions(350, NOW - timedelta(minutes=1), step=timedelta(seconds=10)))
    first, error = poll(fake, cursor=steady(NOW - timedelta(hours=2)), max_pages=2)
    assert error is None
    assert len(fake.to(LIST)) == 2
    assert len(inbound(first)) == 200
    cursor = first[-1].cursor
    assert cursor["notifications_next"] == fake.notifications[150]["indexedAt"]
    assert cursor["notifications_top"].startswith(fake.notifications[-1]["indexedAt"][:19])
    # The brand's replies have a budget of their own.
    assert len(fake.to(FEED)) == 1

    later = NOW + timedelta(minutes=10)
    fake.notifications += mentions(20, later - timedelta(seconds=10), step=timedelta(seconds=10), first=1000)
    fake.requests.clear()
    second, error = poll(fake, cursor=cursor, now=later, max_pages=2)
    assert error is None
    requests = fake.to(LIST)
    # the walk left behind resumes where it stopped (the budget runs out before its end) ...
    assert requests[0].url.params["cursor"] == fake.notifications[150]["indexedAt"]
    assert requests[1].url.params["cursor"] == fake.notifications[50]["indexedAt"]
    assert inbound(second) == [item["uri"] for item in reversed(fake.notifications[:150])]
    fake.requests.clear()
    third, error = poll(fake, cursor=second[-1].cursor, now=later + timedelta(minutes=1), max_pages=2)
    assert error is None
    requests = fake.to(LIST)
    assert requests[0].url.params["cursor"] == fake.notifications[0]["indexedAt"]  # ... ends here ...
    assert "cursor" not in requests[1].url.params  # ... and, in the same poll, a walk from the newest
    assert len(inbound(third)) == 20
    got = inbound(first) + inbound(second) + inbound(third)
    assert len(got) == len(set(got)) == 370, "every mention once, none twice"
    assert "notifications_next" not in third[-1].cursor


def test_a_crash_after_any_page_resumes_from_that_page_without_gaps_or_duplicates() -> None:
    fake = FakeBluesky(notifications=mentions(320, NOW - timedelta(minutes=1), step=timedelta(seconds=10)))
    pages, _ = poll(fake, cursor=steady(NOW - timedelta(hours=2)))
    notification_pages = [page for page in pages if page.messages and not page.messages[0].from_brand]
    assert len(notification_pages) == 4
    for crashed_after in range(len(notification_pages)):
        stored = inbound(notification_pages[: crashed_after + 1])
        rest, error = poll(fake, cursor=notification_pages[crashed_after].cursor, now=NOW + timedelta(minutes=1))
        assert error is None
        got = stored + inbound(rest)
        assert len(got) == len(set(got)) == 320, f"after page {crashed_after}"


def test_a_page_filtered_down_to_nothing_does_not_end_the_walk() -> None:
    likes = [notification(k, NOW - timedelta(minutes=2, seconds=k), reason="like") for k in range(150)]
    fake = FakeBluesky(notifications=[*likes, *mentions(3, NOW - timedelta(hours=1))])
    pages, error = poll(fake, cursor=steady(NOW - timedelta(hours=2)))
    assert error is None
    assert len(fake.to(LIST)) >= 2
    assert len(inbound(pages)) == 3


def test_a_server_that_ignores_reasons_yields_only_mentions_replies_and_quotes() -> None:
    fake = FakeBluesky(
        filter_reasons=False,
        notifications=[
            notification(1, NOW - timedelta(minutes=1), reason="like"),
            notification(2, NOW - timedelta(minutes=2), reason="mention"),
            notification(3, NOW - timedelta(minutes=3), reason="reply", parent=BRAND_POST),
            notification(4, NOW - timedelta(minutes=4), reason="quote"),
        ],
    )
    follow = copy.deepcopy(fake.notifications[0])
    follow.update(
        reason="follow",
        uri=f"at://{DANA[0]}/app.bsky.graph.follow/{tid(NOW)}",
        indexedAt=stamp(NOW - timedelta(seconds=5)),
    )
    follow["record"] = {
        "$type": "app.bsky.graph.follow",
        "subject": BRAND,
        "createdAt": stamp(NOW - timedelta(seconds=5)),
    }
    fake.notifications.append(follow)
    pages, error = poll(fake, cursor={})
    assert error is None
    assert inbound(pages) == [item["uri"] for item in fake.notifications[1:4]]
    assert sum(page.skipped for page in pages) == 0


# --- the floor: late (backdated) posts and ties -------------------------------------------------------------


def test_a_backdated_post_within_the_lookback_is_read_and_what_was_read_is_not_read_again() -> None:
    fake = FakeBluesky(notifications=mentions(5, NOW - timedelta(minutes=1)))
    first, _ = poll(fake, cursor={})
    # A client whose clock runs four minutes late: the AppView sorts its post four minutes back.
    late = notification(77, NOW - timedelta(minutes=4, seconds=30))
    fake.notifications.append(late)
    second, error = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=2))
    assert error is None
    assert inbound(second) == [late["uri"]]
    third, _ = poll(fake, cursor=second[-1].cursor, now=NOW + timedelta(minutes=4))
    assert inbound(third) == []


def test_a_post_at_the_same_instant_as_the_newest_read_is_not_lost() -> None:
    at = NOW - timedelta(minutes=1)
    fake = FakeBluesky(notifications=[notification(1, at)])
    first, _ = poll(fake, cursor={})
    tie = notification(2, at, author=ELI)
    fake.notifications.append(tie)
    second, _ = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=1))
    assert inbound(second) == [tie["uri"]]


def test_the_floor_trails_the_newest_item_by_the_lookback() -> None:
    fake = FakeBluesky(notifications=mentions(3, NOW - timedelta(minutes=1)))
    pages, _ = poll(fake, cursor={})
    floor = datetime.fromisoformat(pages[-1].cursor["notifications_floor"].replace("Z", "+00:00"))
    assert floor == NOW - timedelta(minutes=1) - LOOKBACK
    assert len(pages[-1].cursor["notifications_seen"].split(",")) == 3


def test_the_seen_list_stays_bounded_when_hundreds_of_posts_fall_within_the_lookback() -> None:
    fake = FakeBluesky(notifications=mentions(900, NOW - timedelta(seconds=1), step=timedelta(milliseconds=500)))
    pages, error = poll(fake, cursor={})
    assert error is None
    cursor = pages[-1].cursor
    assert len(cursor["notifications_seen"].split(",")) <= 400
    assert len(json.dumps(cursor)) < 16_000
    fake.notifications += mentions(3, NOW + timedelta(seconds=30), first=5000)
    later, _ = poll(fake, cursor=cursor, now=NOW + timedelta(minutes=1))
    got = inbound(pages) + inbound(later)
    assert len(set(got)) == 903  # nothing skipped (a few may be read twice at the bound; the store keeps one)


# --- the first poll: back to the backfill window -----------------------------------------------------------


def test_the_first_poll_reads_back_only_to_the_backfill_window() -> None:
    window = NOW - timedelta(hours=24)
    fake = FakeBluesky(
        notifications=mentions(100, NOW - timedelta(minutes=10), step=timedelta(minutes=20)),  # 33 hours back
        feed=[
            feed_post(1, NOW - timedelta(hours=30), parent=post_uri(DANA[0], NOW - timedelta(hours=31))),
            feed_post(2, NOW - timedelta(hours=2), parent=post_uri(DANA[0], NOW - timedelta(hours=3))),
        ],
    )
    pages, error = poll(fake, cursor={}, backfill_from=window)
    assert error is None
    inside = {item["uri"] for item in fake.notifications if parse(item["indexedAt"]) >= window}
    assert set(inbound(pages)) == inside and 0 < len(inside) < 100
    assert len(fake.to(LIST)) == 1  # the first page already reached the window's start
    replies = [message for page in pages for message in page.messages if message.from_brand]
    assert [reply.platform_id for reply in replies] == [fake.feed[1]["post"]["uri"]]


def test_a_first_poll_backfill_cut_short_by_the_budget_is_finished_later() -> None:
    fake = FakeBluesky(notifications=mentions(330, NOW - timedelta(minutes=1), step=timedelta(minutes=4)))  # 22 hours
    first, _ = poll(fake, cursor={}, max_pages=2)
    assert "notifications_next" in first[-1].cursor
    second, error = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=5), max_pages=2)
    assert error is None
    got = inbound(first) + inbound(second)
    assert len(got) == len(set(got)) == 330


def test_a_cursor_of_another_account_starts_afresh_within_the_backfill_window() -> None:
    fake = FakeBluesky(notifications=mentions(4, NOW - timedelta(hours=3), step=timedelta(hours=1)))
    stale = {**steady(NOW - timedelta(minutes=1)), "did": "did:plc:someoneelseentirelyxyz"}
    pages, error = poll(fake, cursor=stale)
    assert error is None
    assert len(inbound(pages)) == 4
    assert pages[-1].cursor["did"] == BRAND


def test_the_callers_cursor_is_not_modified() -> None:
    cursor = steady(NOW - timedelta(hours=1))
    before = dict(cursor)
    poll(FakeBluesky(notifications=mentions(3, NOW - timedelta(minutes=3))), cursor=cursor)
    assert cursor == before


# --- what becomes a message --------------------------------------------------------------------------------


def fixture_page() -> FakeBluesky:
    return FakeBluesky(
        notifications=load("list_notifications.json")["notifications"], feed=load("author_feed.json")["feed"]
    )


def test_a_mention_becomes_a_customer_message() -> None:
    pages, error = poll(fixture_page(), cursor={})
    assert error is None
    mention = next(
        message for page in pages for message in page.messages if message.platform_id.endswith("3mbgzqyvb4k2c")
    )
    assert mention.brand == "acme"
    assert mention.platform == "bluesky"
    assert mention.source_id == "acme-bsky"
    assert mention.platform_id == f"at://{DANA[0]}/app.bsky.feed.post/3mbgzqyvb4k2c"
    assert mention.author_id == DANA[0]
    assert mention.author_handle == "@dana.bsky.social"
    assert mention.text == "@acme.bsky.social where is my order? It was due on Monday."
    assert mention.permalink == "https://bsky.app/profile/dana.bsky.social/post/3mbgzqyvb4k2c"
    assert mention.created_at == datetime(2026, 11, 23, 11, 58, 30, 250000, tzinfo=UTC)
    assert mention.kind is MessageKind.MENTION
    assert mention.from_brand is False
    assert mention.parent_id is None and mention.parent_author_id is None
    assert mention.thread_id == mention.platform_id
    assert mention.network is None


def test_a_reply_to_the_brand_names_its_parent_the_parents_author_and_the_thread() -> None:
    pages, _ = poll(fixture_page(), cursor={})
    reply = next(message for page in pages for message in page.messages if message.author_id == ELI[0])
    assert reply.parent_id == BRAND_POST
    assert reply.parent_author_id == BRAND and reply.parent_by_brand is True
    assert reply.thread_id == BRAND_POST
    assert reply.author_handle == "@eli.example.com"
    assert reply.created_at == datetime(2026, 11, 23, 11, 57, 5, tzinfo=UTC)


def test_a_quote_is_a_message_of_its_own_thread() -> None:
    pages, _ = poll(fixture_page(), cursor={})
    quote = next(message for page in pages for message in page.messages if message.author_id == FERN[0])
    assert quote.text == "Last time their sale prices were higher than before the sale."
    assert quote.parent_id is None
    assert quote.thread_id == quote.platform_id
    assert quote.kind is MessageKind.MENTION


def test_the_fixture_page_yields_three_inbound_messages_and_the_brands_reply() -> None:
    pages, error = poll(fixture_page(), cursor={})
    assert error is None
    assert len(inbound(pages)) == 3  # the like is not a message
    assert sum(page.skipped for page in pages) == 0


def test_replies_further_down_a_thread_count_only_when_they_are_for_the_brand() -> None:
    dana_reply = post_uri(DANA[0], NOW - timedelta(hours=1), 9)  # Dana answering the brand's post
    for_eli = notification(
        1, NOW - timedelta(minutes=4), reason="reply", author=ELI, parent=dana_reply, root=BRAND_POST
    )
    follow_up = notification(
        2, NOW - timedelta(minutes=3), reason="reply", author=DANA, parent=dana_reply, root=BRAND_POST
    )
    naming_brand = notification(
        3, NOW - timedelta(minutes=2), reason="reply", author=FERN, parent=dana_reply, root=BRAND_POST
    )
    naming_brand["record"]["facets"] = [
        {
            "index": {"byteStart": 0, "byteEnd": 17},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BRAND}],
        }
    ]
    pages, error = poll(FakeBluesky(notifications=[for_eli, follow_up, naming_brand]), cursor={})
    assert error is None
    got = {message.platform_id: message for page in pages for message in page.messages}
    assert set(got) == {follow_up["uri"], naming_brand["uri"]}  # Eli answers Dana, not the brand
    assert got[follow_up["uri"]].parent_author_id == got[follow_up["uri"]].author_id == DANA[0]
    assert got[follow_up["uri"]].thread_id == BRAND_POST


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2026-11-23T12:58:00+01:00", datetime(2026, 11, 23, 11, 58, tzinfo=UTC)),  # any zone, made UTC
        ("2026-11-23T11:58:00", NOW - timedelta(minutes=1)),  # no zone: invalid
        ("last tuesday", NOW - timedelta(minutes=1)),
        ("2026-11-23T14:00:00.000Z", NOW - timedelta(minutes=1)),  # after it was indexed: the client's clock
    ],
)
def test_created_at_falls_back_to_indexed_at_when_it_is_not_a_valid_time(created_at: str, expected: datetime) -> None:
    fake = FakeBluesky(notifications=[notification(1, NOW - timedelta(minutes=1), created_at=created_at)])
    pages, _ = poll(fake, cursor={})
    (message,) = [message for page in pages for message in page.messages]
    assert message.created_at == expected


def test_the_permalink_uses_the_did_when_the_handle_is_invalid() -> None:
    item = notification(1, NOW - timedelta(minutes=1))
    item["author"]["handle"] = "handle.invalid"
    pages, _ = poll(FakeBluesky(notifications=[item]), cursor={})
    (message,) = [message for page in pages for message in page.messages]
    assert message.permalink == f"https://bsky.app/profile/{DANA[0]}/post/{item['uri'].rsplit('/', 1)[1]}"
    assert message.author_handle == f"@{DANA[0]}"


# --- the brand's replies ---------------------------------------------------------------------------------


def test_the_brands_replies_are_brand_messages_with_their_parent() -> None:
    pages, error = poll(fixture_page(), cursor={})
    assert error is None
    (reply,) = [message for page in pages for message in page.messages if message.from_brand]
    assert reply.platform_id == f"at://{BRAND}/app.bsky.feed.post/3mbh2a4kdyc2j"
    assert reply.parent_id == f"at://{DANA[0]}/app.bsky.feed.post/3mbgzqyvb4k2c"
    assert reply.parent_author_id == DANA[0] and reply.parent_by_brand is False
    assert reply.author_id == BRAND
    assert reply.author_handle == "@acme.bsky.social"
    assert reply.text == "Sorry Dana! It ships today; you will get a tracking link by email."
    # the brand's reply answers the mention: same key space
    mention = next(message for page in pages for message in page.messages if message.platform_id == reply.parent_id)
    assert reply.parent_key == mention.key


def test_the_author_feed_request_names_the_brand_and_includes_replies() -> None:
    fake = fixture_page()
    poll(fake, cursor={})
    requests = fake.to(FEED)
    assert len(requests) == 2  # the page, then the end of the brand's (short) history
    assert requests[1].url.params["cursor"] == load("author_feed.json")["cursor"]
    for request in requests:
        assert request.url.params["actor"] == BRAND
        assert request.url.params["filter"] == "posts_with_replies"
        assert request.url.params["limit"] == "100"
        assert "includePins" not in request.url.params


def test_the_brands_replies_are_paged_and_read_once_across_polls() -> None:
    parents = [post_uri(DANA[0], NOW - timedelta(hours=5, minutes=k), k) for k in range(150)]
    fake = FakeBluesky(
        feed=[
            *(feed_post(k, NOW - timedelta(hours=4, minutes=k), parent=parent) for k, parent in enumerate(parents)),
            *(repost(NOW - timedelta(hours=2, minutes=k)) for k in range(30)),
            *(feed_post(1000 + k, NOW - timedelta(hours=3, minutes=k)) for k in range(30)),
        ]
    )
    first, error = poll(fake, cursor={})
    assert error is None
    fake.feed.append(feed_post(2000, NOW + timedelta(minutes=1), parent=parents[0]))
    second, _ = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=2))
    got = platform_ids(first) + platform_ids(second)
    assert len(got) == len(set(got)) == 151
    # 210 items: three pages and the end of the history, then one page reaching the floor
    assert len(fake.to(FEED)) == 4 + 1


# --- malformed items ---------------------------------------------------------------------------------------


SECRET_TEXT = "my card number ends 4242 and my address is 1 Elm Row"


def test_malformed_items_are_skipped_counted_and_logged_by_uri_only(bluesky_log: list[logging.LogRecord]) -> None:
    good = mentions(3, NOW - timedelta(minutes=1))
    no_record_text = notification(10, NOW - timedelta(minutes=5), text=SECRET_TEXT)
    del no_record_text["record"]["text"]
    no_author = notification(11, NOW - timedelta(minutes=6), text=SECRET_TEXT)
    no_author["author"] = "dana"
    bad_uri = notification(12, NOW - timedelta(minutes=7), text=SECRET_TEXT)
    bad_uri["uri"] = "https://example.com/not-an-at-uri"
    no_time = notification(13, NOW - timedelta(minutes=8), text=SECRET_TEXT)
    no_time["indexedAt"] = "yesterday"
    page = {
        "notifications": [*good, no_record_text, no_author, bad_uri, no_time, "a string", None],
        "cursor": stamp(NOW - timedelta(hours=30)),
    }
    fake = FakeBluesky(
        scripted={LIST: [httpx.Response(200, json=page), httpx.Response(200, json={"notifications": []})]}
    )
    pages, error = poll(fake, cursor={})
    assert error is None
    first = pages[0]
    assert {message.platform_id for message in first.messages} == {item["uri"] for item in good}
    assert first.skipped == 6
    skipped = malformed(bluesky_log)
    assert len(skipped) == 6
    assert {getattr(record, "item_id", "absent") for record in skipped} == {
        no_record_text["uri"],
        no_author["uri"],
        "https://example.com/not-an-at-uri",
        no_time["uri"],
        None,
    }
    assert_logged_by_id_only(bluesky_log, "4242", "Elm Row")


def test_a_malformed_item_still_counts_as_read() -> None:
    broken = notification(1, NOW - timedelta(minutes=1))
    broken["record"]["createdAt"] = 12
    fake = FakeBluesky(notifications=[broken])
    first, _ = poll(fake, cursor={})
    assert first[0].skipped == 1
    second, _ = poll(fake, cursor=first[-1].cursor, now=NOW + timedelta(minutes=1))
    assert sum(page.skipped for page in second) == 0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html><body>Back soon</body></html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, json=[]),
        httpx.Response(200, json={"cursor": "2026-11-23T12:00:00.000Z"}),
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(400, json={"error": "InvalidRequest", "message": "Input/limit must be <= 100"}),
    ],
)
def test_an_unusable_page_raises_connector_error_and_yields_nothing(answer: httpx.Response) -> None:
    fake = FakeBluesky(notifications=mentions(2, NOW), scripted={LIST: [answer]})
    pages, error = poll(fake, cursor=steady(NOW - timedelta(hours=1)))
    assert type(error) is ConnectorError
    assert pages == []


# --- rate limits -------------------------------------------------------------------------------------------


def limits(remaining: int, reset: datetime) -> dict[str, str]:
    return {
        "RateLimit-Limit": "3000",
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(int(reset.timestamp())),
        "RateLimit-Policy": "3000;w=300",
    }


def test_429_raises_rate_limited_until_the_ratelimit_reset() -> None:
    reset = NOW + timedelta(minutes=3, seconds=20)
    fake = FakeBluesky(
        notifications=mentions(250, NOW - timedelta(minutes=1), step=timedelta(seconds=10)),
        scripted={
            LIST: [
                None,
                httpx.Response(
                    429, json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, headers=limits(0, reset)
                ),
            ]
        },
    )
    pages, error = poll(fake, cursor=steady(NOW - timedelta(hours=2)))
    assert isinstance(error, RateLimited)
    assert error.retry_at == reset
    assert len(pages) == 1 and len(pages[0].messages) == 100  # the page before the 429 only
    assert pages[0].cursor["notifications_next"] == fake.notifications[150]["indexedAt"]
    assert fake.to(FEED) == []


def test_no_remaining_requests_yields_the_page_then_stops_until_the_reset() -> None:
    reset = NOW + timedelta(minutes=2)
    fake = FakeBluesky(
        notifications=mentions(250, NOW - timedelta(minutes=1), step=timedelta(seconds=10)), headers=limits(0, reset)
    )
    pages, error = poll(fake, cursor=steady(NOW - timedelta(hours=2)))
    assert isinstance(error, RateLimited)
    assert error.retry_at == reset
    assert len(pages) == 1 and len(pages[0].messages) == 100
    assert len(fake.to(LIST)) == 1


def test_remaining_requests_let_the_poll_go_on() -> None:
    fake = FakeBluesky(
        notifications=mentions(150, NOW - timedelta(minutes=1), step=timedelta(seconds=10)),
        headers=limits(2500, NOW + timedelta(minutes=5)),
    )
    pages, error = poll(fake, cursor=steady(NOW - timedelta(hours=2)))
    assert error is None
    assert len(inbound(pages)) == 150


# --- the lexicons (../shared/specs/bluesky-lexicons) ----------------------------------------------------


needs_lexicons = pytest.mark.skipif(
    not BLUESKY_LEXICONS.is_dir(), reason="../shared/specs/bluesky-lexicons is absent: lexicon checks need it"
)


@pytest.fixture(scope="module")
def lexicons() -> Lexicons:
    return Lexicons()


def params_of(request: httpx.Request) -> list[tuple[str, str]]:
    return list(request.url.params.multi_items())


@needs_lexicons
def test_every_request_the_connector_sends_matches_its_lexicon(lexicons: Lexicons) -> None:
    fake = FakeBluesky(
        notifications=mentions(150, NOW - timedelta(minutes=1), step=timedelta(seconds=10)),
        feed=[feed_post(k, NOW - timedelta(minutes=k), parent=BRAND_POST) for k in range(120)],
        scripted={LIST: [httpx.Response(400, json={"error": "ExpiredToken", "message": "Token has expired"})]},
    )
    poll(fake, cursor={})
    sent = {request.url.path.removeprefix("/xrpc/") for request in fake.requests}
    assert sent == {CREATE, REFRESH, LIST, FEED}
    for request in fake.requests:
        nsid = request.url.path.removeprefix("/xrpc/")
        kind = lexicons.main(nsid)["type"]
        if kind == "query":
            assert request.method == "GET"
            assert lexicons.check_params(nsid, params_of(request)) == [], nsid
        else:
            assert request.method == "POST"
            assert params_of(request) == []
            assert lexicons.check_input(nsid, json.loads(request.content) if request.content else None) == [], nsid
    assert any("cursor" in request.url.params for request in fake.to(LIST))
    assert any("cursor" in request.url.params for request in fake.to(FEED))


@needs_lexicons
def test_the_fixtures_and_the_fakes_answers_match_the_lexicons(lexicons: Lexicons) -> None:
    assert lexicons.check_output(CREATE, load("create_session.json")) == []
    assert lexicons.check_output(LIST, load("list_notifications.json")) == []
    assert lexicons.check_output(FEED, load("author_feed.json")) == []
    fake = FakeBluesky(
        notifications=[
            *mentions(3, NOW - timedelta(minutes=1)),
            notification(7, NOW - timedelta(minutes=9), reason="reply", parent=BRAND_POST),
            notification(8, NOW - timedelta(minutes=8), reason="quote"),
        ],
        feed=[feed_post(1, NOW, parent=BRAND_POST), feed_post(2, NOW - timedelta(minutes=1)), repost(NOW)],
    )
    with httpx.Client(transport=httpx.MockTransport(fake.handle), base_url=BASE) as client:
        session = client.post(f"/xrpc/{CREATE}", json={"identifier": "acme.bsky.social", "password": PASSWORD}).json()
        assert lexicons.check_output(CREATE, session) == []
        auth = {"Authorization": f"Bearer {session['accessJwt']}"}
        assert (
            lexicons.check_output(
                REFRESH,
                client.post(f"/xrpc/{REFRESH}", headers={"Authorization": f"Bearer {session['refreshJwt']}"}).json(),
            )
            == []
        )
        session = fake.sessions[-1]
        auth = {"Authorization": f"Bearer {session['accessJwt']}"}
        listed = client.get(f"/xrpc/{LIST}", params={"limit": 100}, headers=auth).json()
        assert len(listed["notifications"]) == 5
        assert lexicons.check_output(LIST, listed) == []
        feed = client.get(f"/xrpc/{FEED}", params={"actor": BRAND, "limit": 100}, headers=auth).json()
        assert len(feed["feed"]) == 3
        assert lexicons.check_output(FEED, feed) == []
    # the records inside were checked as app.bsky.feed.post (the notification's record is `unknown` with a $type)
    broken = load("list_notifications.json")
    del broken["notifications"][0]["record"]["createdAt"]
    assert lexicons.check_output(LIST, broken) == ["output.notifications[0].record: required field 'createdAt' missing"]


@needs_lexicons
def test_the_lexicon_checker_catches_what_it_should(lexicons: Lexicons) -> None:
    assert lexicons.check_params(FEED, [("limit", "100")]) == [f"{FEED}: required parameter 'actor' missing"]
    assert lexicons.check_params(FEED, [("actor", BRAND), ("limit", "101")]) == [f"{FEED}: limit: above 100"]
    assert lexicons.check_params(FEED, [("actor", BRAND), ("filter", "posts_and_replies")]) == [
        f"{FEED}: filter: 'posts_and_replies' is not a known value"
    ]
    assert lexicons.check_params(LIST, [("since", "x")]) == [f"{LIST}: unknown parameter 'since'"]
    assert lexicons.check_params(LIST, [("priority", "no")]) == [f"{LIST}: priority='no' is not true or false"]
    assert lexicons.check_params(LIST, [("limit", "5"), ("limit", "6")]) == [
        f"{LIST}: limit is not an array but was sent 2 times"
    ]
    assert lexicons.check_params(FEED, [("actor", "not an identifier")]) == [
        f"{FEED}: actor: 'not an identifier' is not a at-identifier"
    ]
    assert lexicons.check_input(CREATE, {"identifier": "acme.bsky.social"}) == [
        "input: required field 'password' missing"
    ]
    assert lexicons.check_input(REFRESH, {"anything": 1}) == [f"{REFRESH} takes no input"]

    page = load("list_notifications.json")
    page["notifications"][0]["indexedAt"] = "23/11/2026"
    page["notifications"][1]["isRead"] = "no"
    del page["notifications"][2]["author"]["handle"]
    assert lexicons.check_output(LIST, page) == [
        "output.notifications[0].indexedAt: '23/11/2026' is not a datetime",
        "output.notifications[1].isRead: expected a boolean, got str",
        "output.notifications[2].author: required field 'handle' missing",
    ]
    feed = load("author_feed.json")
    feed["feed"][0]["reply"]["parent"]["$type"] = "app.bsky.feed.defs#notFoundPost"  # a union member, checked as that
    feed["feed"][1]["reason"]["by"]["did"] = "acme"
    assert lexicons.check_output(FEED, feed) == [
        "output.feed[0].reply.parent: required field 'notFound' missing",
        "output.feed[1].reason.by.did: 'acme' is not a did",
    ]
    # references to lexicons outside the folder are noted, not failed
    assert "app.bsky.embed.record" in lexicons.unresolved or "com.atproto.label.defs#label" in lexicons.unresolved
