"""Bluesky (AT Protocol): mentions, replies and quotes of the brand's account, and its replies.

Session: an app password (``identifier`` + ``password`` in the secret) opens a session with
``com.atproto.server.createSession``. The session lives in ``ctx.sessions`` only: polls reuse
it, an access token about to expire (its JWT ``exp``) or refused as expired is renewed with
``refreshSession``, and a new session is created only when the refresh is refused, because
createSession is limited to 30 per 5 minutes and 300 a day per account.

Inbound: ``app.bsky.notification.listNotifications`` (reasons mention, reply, quote). It is
newest first with no ``since``, so each stream is read as a *walk*: from the newest item
backwards until the walk reaches the stream's *floor* (everything older is read, or older than
a new source's backfill window). The brand's replies are read the same way from its own author
feed (``app.bsky.feed.getAuthorFeed`` with replies): its posts that reply to something.

Both feeds are ordered by the AppView's ``sortAt``, the earlier of the record's ``createdAt``
and when it was indexed, so a post whose client clock runs late is listed below newer ones.
The floor therefore stays ``LOOKBACK`` below the newest item read, and the items read above it
are remembered (``seen``: digests of their at:// URIs) so they are not read twice.

A walk cut short by the page budget saves the AppView's cursor and the walk's newest position;
the next poll finishes it before starting a new one, so nothing in between is skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ValidationError

from replywatch.connectors.base import (
    AuthFailed,
    BudgetRule,
    ConnectorError,
    Page,
    PollContext,
    RateLimited,
    credentials,
)
from replywatch.connectors.http import check, exhausted, json_body, retry_at
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

PAGE_LIMIT = 100  # the maximum of both listNotifications and getAuthorFeed
REASONS = ("mention", "reply", "quote")
NOTIFICATIONS = "notifications"
REPLIES = "replies"
DID = "did"  # the account the cursor belongs to
LOOKBACK = timedelta(minutes=10)
MAX_SEEN = 400  # remembered items per stream; beyond it the floor rises (duplicates possible, never gaps)
REFRESH_MARGIN = timedelta(minutes=1)  # renew an access token this long before it expires
UNKNOWN_REFRESH_LIFETIME = timedelta(days=1)  # how long to keep a session whose refresh JWT has no exp
WEB = "https://bsky.app"
RESET = "ratelimit-reset"
REMAINING = "ratelimit-remaining"

# Per-stream cursor fields (prefixed with the stream's name).
FLOOR = "_floor"  # ISO time: what sorts below it is read (or outside the backfill window)
SEEN = "_seen"  # items at or above the floor already read: "<sort ms>:<uri digest>,..."
NEXT = "_next"  # a walk in progress: the AppView cursor of its next page
TOP = "_top"  # a walk in progress: the newest position it has read


# --- payloads -----------------------------------------------------------------------------------


class _StrongRef(BaseModel):
    uri: str


class _ReplyRef(BaseModel):
    root: _StrongRef
    parent: _StrongRef


class _Post(BaseModel):
    """An ``app.bsky.feed.post`` record."""

    text: str
    createdAt: str
    reply: _ReplyRef | None = None
    facets: list[Any] = []


class _Author(BaseModel):
    did: str
    handle: str


class _Notification(BaseModel):
    uri: str
    reason: str
    author: _Author
    record: _Post
    indexedAt: str


class _PostView(BaseModel):
    uri: str
    author: _Author
    record: _Post
    indexedAt: str


@dataclass(frozen=True)
class _Session:
    access: str
    refresh: str
    did: str
    handle: str

    def as_dict(self) -> dict[str, str]:
        return {"accessJwt": self.access, "refreshJwt": self.refresh, "did": self.did, "handle": self.handle}

    @classmethod
    def from_body(cls, body: Any) -> _Session:
        if not isinstance(body, dict):
            raise ConnectorError("the session answer is not a JSON object")
        try:
            return cls(
                access=str(body["accessJwt"]),
                refresh=str(body["refreshJwt"]),
                did=str(body["did"]),
                handle=str(body["handle"]),
            )
        except KeyError as missing:
            raise ConnectorError(f"the session answer lacks {missing}") from None


def jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT, read without verifying it (the server does that)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError, OSError, binascii.Error):
        return None


class _Xrpc:
    """XRPC calls for one poll of one source, with its session (reused, refreshed, or created)."""

    def __init__(self, ctx: PollContext) -> None:
        self.ctx = ctx
        self.base = ctx.source.base_url
        self.session: _Session | None = None

    async def _post(self, nsid: str, *, token: str | None = None, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return await self.ctx.client.post(f"{self.base}/xrpc/{nsid}", headers=headers, json=body)
        except httpx.HTTPError as error:
            raise ConnectorError(type(error).__name__) from error

    async def _create(self) -> _Session:
        login = credentials(self.ctx.secret, "identifier", "password")
        response = await self._post(
            "com.atproto.server.createSession",
            body={"identifier": login["identifier"], "password": login["password"]},
        )
        if response.status_code == 429:
            raise RateLimited(retry_at(response.headers, self.ctx.now, RESET))
        if 400 <= response.status_code < 500:
            # Invalid password (AuthenticationRequired), a second factor required, a takedown...
            self.ctx.sessions.drop(self.ctx.session_key)
            raise AuthFailed(f"createSession refused: {_error_name(response)}")
        return self._keep(_Session.from_body(json_body(check(response, self.ctx.now, reset_header=RESET))))

    async def _refresh(self, session: _Session) -> _Session | None:
        """A renewed session, or None when the refresh token is refused (a new session is needed)."""
        response = await self._post("com.atproto.server.refreshSession", token=session.refresh)
        if response.status_code in (400, 401):
            if _error_name(response) == "AccountTakedown":
                raise AuthFailed("refreshSession refused: AccountTakedown")
            return None
        return self._keep(_Session.from_body(json_body(check(response, self.ctx.now, reset_header=RESET))))

    def _keep(self, session: _Session) -> _Session:
        expires_at = jwt_expiry(session.refresh) or self.ctx.now + UNKNOWN_REFRESH_LIFETIME
        self.ctx.sessions.put(self.ctx.session_key, session.as_dict(), expires_at)
        self.session = session
        return session

    async def _renew(self, session: _Session | None) -> _Session:
        if session is not None:
            renewed = await self._refresh(session)
            if renewed is not None:
                return renewed
        return await self._create()

    async def open(self) -> _Session:
        if self.session is not None:
            return self.session
        cached = self.ctx.sessions.get(self.ctx.session_key, self.ctx.now)
        if cached is None:
            return await self._create()
        session = _Session.from_body(cached)
        expires = jwt_expiry(session.access)
        if expires is not None and expires <= self.ctx.now + REFRESH_MARGIN:
            return await self._renew(session)
        self.session = session
        return session

    async def query(self, nsid: str, params: list[tuple[str, str]]) -> tuple[dict[str, Any], Mapping[str, str]]:
        """GET an ``app.bsky`` query; an access token refused as expired is renewed once."""
        session = await self.open()
        for attempt in range(2):
            try:
                response = await self.ctx.client.get(
                    f"{self.base}/xrpc/{nsid}",
                    params=tuple(params),
                    headers={"Authorization": f"Bearer {session.access}"},
                )
            except httpx.HTTPError as error:
                raise ConnectorError(type(error).__name__) from error
            if _expired(response):
                if attempt == 0:
                    session = await self._renew(session)
                    continue
                raise AuthFailed(f"{nsid} refused a fresh session: {_error_name(response)}")
            body = json_body(check(response, self.ctx.now, reset_header=RESET))
            if not isinstance(body, dict):
                raise ConnectorError(f"{nsid} answered with something other than a JSON object")
            return body, response.headers
        raise AssertionError("unreachable")  # pragma: no cover


def _error_name(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])[:64]
    return f"HTTP {response.status_code}"


def _expired(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code == 400 and _error_name(response) in ("ExpiredToken", "InvalidToken")


# --- times, positions and what has been read ------------------------------------------------------


def parse_time(value: object) -> datetime | None:
    """An AT Protocol datetime (RFC 3339 with a zone); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _digest(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


@dataclass
class _Seen:
    """Items read at or above the floor: URI digest -> sort position in epoch milliseconds."""

    entries: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> _Seen:
        entries: dict[str, int] = {}
        for part in (text or "").split(","):
            position, _, digest = part.partition(":")
            if digest and position.lstrip("-").isdigit():
                entries[digest] = int(position)
        return cls(entries)

    def dump(self) -> str:
        ordered = sorted(self.entries.items(), key=lambda entry: entry[1], reverse=True)
        return ",".join(f"{position}:{digest}" for digest, position in ordered)

    def __contains__(self, uri: str) -> bool:
        return _digest(uri) in self.entries

    def add(self, uri: str, at: datetime) -> None:
        self.entries[_digest(uri)] = _ms(at)

    def prune(self, floor: datetime) -> None:
        self.entries = {digest: at for digest, at in self.entries.items() if at >= _ms(floor)}

    def oldest(self) -> datetime | None:
        return _from_ms(min(self.entries.values())) if self.entries else None

    def keep_newest(self, count: int) -> None:
        ordered = sorted(self.entries.items(), key=lambda entry: entry[1], reverse=True)
        self.entries = dict(ordered[:count])


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


# --- streams ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    uri: str
    at: datetime  # the AppView's sort position


_Placer = Callable[[dict[str, Any], str], _Placed | None]
_Parser = Callable[[dict[str, Any], PollContext, str], Message | None]


@dataclass(frozen=True)
class _Stream:
    name: str
    nsid: str
    params: list[tuple[str, str]]
    items: str  # the answer's list
    place: _Placer  # raises ValueError when an item cannot be placed; None: not part of the order
    parse: _Parser  # raises on a malformed item; None: not a message


@dataclass
class _Fetched:
    headers: Mapping[str, str]
    messages: list[Message] = field(default_factory=list)
    skipped: int = 0

    def page(self, cursor: dict[str, str]) -> Page:
        return Page(messages=self.messages, cursor=dict(cursor), skipped=self.skipped)

    def raise_if_exhausted(self, ctx: PollContext) -> None:
        if exhausted(self.headers, REMAINING):
            raise RateLimited(retry_at(self.headers, ctx.now, RESET))


class BlueskyConnector:
    platform: ClassVar[str] = "bluesky"
    default_base_url: ClassVar[str] = "https://bsky.social"
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        xrpc = _Xrpc(ctx)
        session = await xrpc.open()
        cursor = dict(ctx.cursor)
        if cursor.get(DID) != session.did:
            cursor = {DID: session.did}  # another account than the cursor's: start afresh
        streams = [
            _Stream(
                NOTIFICATIONS,
                "app.bsky.notification.listNotifications",
                [("limit", str(PAGE_LIMIT)), ("priority", "false"), *(("reasons", reason) for reason in REASONS)],
                "notifications",
                _place_notification,
                self._inbound,
            ),
            _Stream(
                REPLIES,
                "app.bsky.feed.getAuthorFeed",
                [("actor", session.did), ("filter", "posts_with_replies"), ("limit", str(PAGE_LIMIT))],
                "feed",
                _place_feed_item,
                self._reply,
            ),
        ]
        for stream in streams:
            async for page in self._walks(ctx, xrpc, cursor, stream, session.did):
                yield page

    async def _walks(
        self, ctx: PollContext, xrpc: _Xrpc, cursor: dict[str, str], stream: _Stream, did: str
    ) -> AsyncIterator[Page]:
        """Within the stream's page budget: finish a walk left from an earlier poll, then walk
        from the newest item down to the floor."""
        name = stream.name
        lookback = _lookback(ctx)
        if name + FLOOR not in cursor:
            start = ctx.backfill_from if ctx.backfill_from is not None else ctx.now
            cursor[name + FLOOR] = iso(min(start, ctx.now))
            cursor[name + SEEN] = ""
        budget = ctx.max_pages
        resumed = name + NEXT in cursor
        while budget > 0:
            budget -= 1
            floor = parse_time(cursor[name + FLOOR]) or ctx.now
            seen = _Seen.load(cursor.get(name + SEEN))
            top = parse_time(cursor.get(name + TOP))
            after = cursor.get(name + NEXT)
            params = [*stream.params, *([("cursor", after)] if after else [])]
            body, headers = await xrpc.query(stream.nsid, params)
            items = body.get(stream.items)
            if not isinstance(items, list):
                raise ConnectorError(f"{stream.nsid} answered without a {stream.items} list")
            fetched = _Fetched(headers=headers)
            reached_floor = False
            for item in items:
                try:
                    if not isinstance(item, dict):
                        raise ValueError("not an object")
                    placed = stream.place(item, did)
                except ValueError:
                    self._skip(ctx, fetched, name, item)
                    continue
                if placed is None:
                    continue  # e.g. a repost: not in the order the feed is walked by
                if placed.at < floor:
                    reached_floor = True
                    continue
                if placed.uri in seen:
                    continue
                top = placed.at if top is None or placed.at > top else top
                if placed.at >= top - lookback and len(seen.entries) < MAX_SEEN:
                    seen.add(placed.uri, placed.at)
                try:
                    message = stream.parse(item, ctx, did)
                except (ValidationError, KeyError, TypeError, ValueError):
                    self._skip(ctx, fetched, name, item)
                    continue
                if message is not None:
                    fetched.messages.append(message)
            following = body.get("cursor")
            done = reached_floor or not isinstance(following, str) or not following or following == after
            if done:
                cursor.pop(name + NEXT, None)
                cursor.pop(name + TOP, None)
                if top is not None:
                    floor = max(floor, top - lookback)
                    seen.prune(floor)
                    if len(seen.entries) >= MAX_SEEN:
                        seen.keep_newest(MAX_SEEN)
                        floor = max(floor, seen.oldest() or floor)
                    cursor[name + FLOOR] = iso(floor)
            else:
                cursor[name + NEXT] = str(following)
                if top is not None:
                    cursor[name + TOP] = iso(top)
            cursor[name + SEEN] = seen.dump()
            yield fetched.page(cursor)
            fetched.raise_if_exhausted(ctx)
            if done:
                if not resumed:
                    break
                resumed = False  # the walk an earlier poll left is finished: now read what is new

    @staticmethod
    def _skip(ctx: PollContext, fetched: _Fetched, stream: str, item: object) -> None:
        fetched.skipped += 1
        logger.warning(
            "skipped malformed bluesky item",
            extra={"source_id": ctx.source.source_id, "item_id": _item_id(item), "stream": stream},
        )

    def _inbound(self, item: dict[str, Any], ctx: PollContext, did: str) -> Message | None:
        if item.get("reason") not in REASONS:
            return None  # a like, a follow...: not a post to answer
        notification = _Notification.model_validate(item)
        if notification.author.did == did:
            return None
        post = notification.record
        if notification.reason == "reply" and not _addressed(post, notification.author.did, did):
            return None  # one customer answering another further down a thread the brand is in
        return self._message(notification.uri, notification.author, post, notification.indexedAt, ctx, False, did)

    def _reply(self, item: dict[str, Any], ctx: PollContext, did: str) -> Message | None:
        if item.get("reason") is not None:
            return None  # a repost or a pin, not something the brand wrote there
        view = _PostView.model_validate(item["post"])
        if view.author.did != did or view.record.reply is None:
            return None
        return self._message(view.uri, view.author, view.record, view.indexedAt, ctx, True, did)

    def _message(
        self,
        uri: str,
        author: _Author,
        post: _Post,
        indexed_at: str,
        ctx: PollContext,
        from_brand: bool,
        did: str,
    ) -> Message:
        """``did``: the brand's account, to tell whether the post answers the brand."""
        repository, rkey = _split_uri(uri)
        indexed = parse_time(indexed_at)
        if indexed is None:
            raise ValueError("indexedAt is not a datetime")
        created = parse_time(post.createdAt)
        # A createdAt that is unreadable or later than the post was seen is the client's clock.
        created_at = created if created is not None and created <= indexed else indexed
        parent = post.reply.parent.uri if post.reply else None
        parent_by = _split_uri(parent)[0] if parent else None
        profile = author.handle if author.handle and author.handle != "handle.invalid" else author.did
        web = (ctx.option("web_url", WEB) or WEB).rstrip("/")
        return Message(
            brand=ctx.source.brand_id,
            platform=self.platform,
            source_id=ctx.source.source_id,
            platform_id=uri,
            thread_id=post.reply.root.uri if post.reply else uri,
            parent_id=parent,
            parent_author_id=parent_by,
            parent_by_brand=parent_by == did if parent_by else None,
            author_id=repository,  # the repository a record lives in is its author's
            author_handle=f"@{profile}",
            text=post.text,
            permalink=f"{web}/profile/{profile}/post/{rkey}",
            created_at=created_at,
            kind=MessageKind.MENTION,
            from_brand=from_brand,
        )


def _lookback(ctx: PollContext) -> timedelta:
    value = ctx.option("lookback_minutes")
    if value is not None and value.isdigit():
        return timedelta(minutes=min(int(value), 24 * 60))
    return LOOKBACK


def _split_uri(uri: str) -> tuple[str, str]:
    """``at://<did>/<collection>/<rkey>`` -> (did, rkey)."""
    if not uri.startswith("at://"):
        raise ValueError("not an at:// URI")
    parts = uri[len("at://") :].split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError("not a record URI")
    return parts[0], parts[2]


def _place_notification(item: dict[str, Any], did: str) -> _Placed:
    uri, at = item.get("uri"), parse_time(item.get("indexedAt"))
    if not isinstance(uri, str) or not uri or at is None:
        raise ValueError("a notification without uri or indexedAt")
    return _Placed(uri, at)


def _place_feed_item(item: dict[str, Any], did: str) -> _Placed | None:
    """Posts sort by the earlier of createdAt and indexedAt; reposts and pins are left out of the
    order (the AppView sorts a repost by its own time, which the feed does not show reliably)."""
    if item.get("reason") is not None:
        return None
    post = item.get("post")
    if not isinstance(post, dict):
        raise ValueError("a feed item without a post")
    uri, indexed = post.get("uri"), parse_time(post.get("indexedAt"))
    if not isinstance(uri, str) or not uri or indexed is None:
        raise ValueError("a post without uri or indexedAt")
    record = post.get("record")
    created = parse_time(record.get("createdAt")) if isinstance(record, dict) else None
    return _Placed(uri, min(indexed, created) if created is not None else indexed)


def _addressed(post: _Post, author: str, brand: str) -> bool:
    """A reply is for the brand when it answers the brand, continues the author's own message
    (a follow-up), or mentions the brand."""
    if post.reply is None:
        return True
    parent_author = _split_uri(post.reply.parent.uri)[0]
    if parent_author in (brand, author):
        return True
    return any(
        isinstance(feature, dict) and feature.get("did") == brand
        for facet in post.facets
        if isinstance(facet, dict)
        for feature in (facet.get("features") or [])
    )


def _item_id(item: object) -> str | None:
    if not isinstance(item, dict):
        return None
    post = item.get("post")
    uri = post.get("uri") if isinstance(post, dict) else item.get("uri")
    return uri[:300] if isinstance(uri, str) and uri else None
