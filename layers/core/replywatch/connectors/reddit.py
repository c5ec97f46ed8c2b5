"""Reddit: mentions of the brand's account, replies to its comments and posts, and its own replies.

Streams, each a newest-first listing read down to its high-water mark (see :mod:`newest_first`):

``mentions``         ``GET /message/mentions``: comments that name u/<brand> (kind mention).
``comment_replies``  ``GET /message/comments``: replies to the brand's comments (kind comment).
``post_replies``     ``GET /message/selfreply``: comments on the brand's posts (kind comment).
``brand_comments``   ``GET /user/<brand>/comments?sort=new``: the brand's replies (``from_brand``).
``search_<sub>``     with the ``subreddits`` option (comma list) and ``keywords`` (comma list), new posts
                     in each subreddit matching a keyword: ``GET /r/<sub>/search?restrict_sr=1&sort=new``;
                     with ``keywords`` only, all of Reddit (``search_all``); with ``subreddits`` only,
                     every new post there (``new_<sub>``, e.g. the brand's own community). Kind mention.

Ids are Reddit fullnames (``t1_…`` comments, ``t3_…`` posts) everywhere: ``platform_id`` is the item's
``name`` and ``parent_id`` its ``parent_id``, so the brand's reply points at exactly the key the message
it answers was stored under (bare ids of comments and posts can collide). Authors are usernames, which
Reddit never changes. The brand's username comes from ``GET /api/v1/me`` once and stays in the cursor.

Auth: the secret is JSON with ``client_id``, ``client_secret`` and ``refresh_token`` (an installed or
web app authorised with scopes identity, history, privatemessages, read); the access token is
refreshed at ``token_url`` with HTTP basic auth and kept in ``ctx.sessions``. Every request carries
a User-Agent (option ``user_agent``), as Reddit requires.

A subreddit that refuses (private, banned, quarantined: 403 or 404) stops only its own stream:
the others are read, and the poll then fails naming it, so the brand's admins hear of it once.

Rate limits: Reddit counts requests per 10-minute window and says so in ``X-Ratelimit-Remaining`` and
``X-Ratelimit-Reset`` (seconds until the window ends, not a time). The poll stops before the last
request of the window is spent and resumes when it ends; a 429 waits the same way.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ValidationError

from replywatch.connectors.base import (
    AuthFailed,
    BudgetRule,
    ConnectorError,
    Page,
    PartlyFailed,
    PollContext,
    RateLimited,
    credentials,
)
from replywatch.connectors.http import DEFAULT_BACKOFF, Params, check, json_body, parse_retry_after
from replywatch.connectors.newest_first import Fetched, Scan, scan_pages
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"  # noqa: S105 - an endpoint, not a secret
USER_AGENT = "replywatch/0.1 (by ReplyWatch)"
WEB = "https://www.reddit.com"
PAGE_SIZE = "100"  # Reddit's maximum
SETTLE = timedelta(minutes=5)  # inbox and profile listings: items that show up a moment late
SEARCH_SETTLE = timedelta(minutes=30)  # search is indexed with a delay
RESERVE = 1  # requests left in the window that the poll does not spend
USERNAME = "username"
DEFAULT_LIFETIME = timedelta(hours=1)
EXPIRY_MARGIN = timedelta(minutes=1)
_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
_THREAD = re.compile(r"/comments/([a-z0-9]+)/")


class _Data(BaseModel):
    """The fields used from a listing Thing's ``data`` (t1 comments and inbox comments, t3 posts)."""

    name: str
    author: str | None = None
    created_utc: float
    body: str = ""
    title: str = ""
    selftext: str = ""
    parent_id: str | None = None
    link_id: str | None = None
    link_author: str | None = None
    permalink: str | None = None
    context: str | None = None

    @property
    def created_at(self) -> datetime:
        if not math.isfinite(self.created_utc):
            raise ValueError("created_utc is not a time")
        return datetime.fromtimestamp(self.created_utc, tz=UTC)

    @property
    def handle(self) -> str:
        return f"u/{self.author or '[deleted]'}"

    @property
    def link(self) -> str | None:
        path = self.permalink or (self.context.split("?", 1)[0] if self.context else None)
        return f"{WEB}{path}" if path and path.startswith("/") else None

    @property
    def thread(self) -> str | None:
        if self.link_id:
            return self.link_id
        found = _THREAD.search(self.context or self.permalink or "")
        return f"t3_{found.group(1)}" if found else None


class _Refused(ConnectorError):
    """A subreddit's listing was refused: that subreddit's doing, not the token's."""


class SubredditRefused(PartlyFailed):
    """Subreddits in the ``subreddits`` option refused (private, banned, quarantined)."""


class _Thing(BaseModel):
    kind: str
    data: _Data


@dataclass(frozen=True)
class _Stream:
    name: str
    path: str
    params: tuple[tuple[str, str], ...]
    kind: str  # the Thing kind the stream holds: t1 comments or t3 posts
    role: str  # mention | reply_to_brand | brand | post
    settle: timedelta = SETTLE
    refused_means_auth: bool = True  # a 403 on a subreddit is that subreddit's doing, not the token's


class RedditConnector:
    platform: ClassVar[str] = "reddit"
    default_base_url: ClassVar[str] = "https://oauth.reddit.com"
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        cursor = dict(ctx.cursor)
        api = _Api(ctx)
        searches = _searches(ctx)  # a misconfigured option fails the poll before any request
        if not cursor.get(USERNAME):
            me = await api.get("/api/v1/me")
            name = me.get("name") if isinstance(me, dict) else None
            if not isinstance(name, str) or not name:
                raise ConnectorError("Reddit did not say which account the token is for")
            cursor[USERNAME] = name
        username = cursor[USERNAME]
        streams = [
            _Stream("mentions", "/message/mentions", (), "t1", "mention"),
            _Stream("comment_replies", "/message/comments", (), "t1", "reply_to_brand"),
            _Stream("post_replies", "/message/selfreply", (), "t1", "reply_to_brand"),
            _Stream("brand_comments", f"/user/{username}/comments", (("sort", "new"),), "t1", "brand"),
            *searches,
        ]
        refused: list[str] = []
        for stream in streams:

            async def fetch(scan: Scan, after: str | None, stream: _Stream = stream) -> Fetched:
                return await self._listing(ctx, api, stream, username, scan, after)

            try:
                async for page in scan_pages(ctx, cursor, stream.name, fetch, settle=stream.settle):
                    yield page
            except _Refused as error:
                logger.warning(
                    "subreddit refused; the other streams are read",
                    extra={"source_id": ctx.source.source_id, "stream": stream.name, "error": str(error)},
                )
                refused.append(stream.path)
        if refused:
            raise SubredditRefused(f"Reddit refused {', '.join(refused)}: check the subreddits option")

    async def _listing(
        self, ctx: PollContext, api: _Api, stream: _Stream, username: str, scan: Scan, after: str | None
    ) -> Fetched:
        params: Params = [*stream.params, ("limit", PAGE_SIZE), ("raw_json", "1")]
        if after:
            params.append(("after", after))
        body = await api.get(stream.path, params, refused_means_auth=stream.refused_means_auth)
        data = body.get("data") if isinstance(body, dict) else None
        children = data.get("children") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(children, list):
            raise ConnectorError(f"Reddit {stream.name} answer is not a listing")
        next_after = data.get("after")
        fetched = Fetched(next=next_after if isinstance(next_after, str) and next_after else None)
        # Reddit lists nothing after a fullname that was deleted: newest_first then starts again from the top.
        fetched.empty = not children
        for child in children:
            try:
                thing = _Thing.model_validate(child)
                created = thing.data.created_at
            except (ValidationError, ValueError, OverflowError, OSError):
                self._skip(ctx, stream, scan, fetched, child)
                continue
            if created < scan.floor:
                fetched.reached_floor = True  # newest first: the rest of the listing is older still
                continue
            if thing.kind != stream.kind or not scan.is_new(thing.data.name, created):
                continue
            try:
                message = self._message(ctx, stream, thing.data, username)
            except ValidationError:  # e.g. an empty fullname: a Message needs an id
                self._skip(ctx, stream, scan, fetched, child)
                continue
            scan.taken(thing.data.name, created)
            if message is not None:
                fetched.messages.append(message)
        return fetched

    @staticmethod
    def _skip(ctx: PollContext, stream: _Stream, scan: Scan, fetched: Fetched, child: object) -> None:
        """Count and log (by fullname only) a malformed item, once: a scan reads its newest few
        minutes again, so an item whose time can still be read is skipped silently when not new."""
        item_id, created = _loose(child)
        if item_id is not None and created is not None:
            if created < scan.floor or not scan.is_new(item_id, created):
                return
            scan.taken(item_id, created)
        fetched.skipped += 1
        logger.warning(
            "skipped malformed reddit item",
            extra={"source_id": ctx.source.source_id, "item_id": item_id, "stream": stream.name},
        )

    def _message(self, ctx: PollContext, stream: _Stream, item: _Data, username: str) -> Message | None:
        by_brand = (item.author or "").lower() == username.lower()
        if by_brand != (stream.role == "brand"):
            return None  # the brand's own posts in a search, or someone else's comment on its profile
        if stream.role == "post":
            text = "\n\n".join(part for part in (item.title.strip(), item.selftext.strip()) if part)
        else:
            text = item.body.strip()
        parent_author = None
        if stream.role == "reply_to_brand":
            parent_author = username  # Reddit files a comment here because it answers the brand
        elif stream.role == "brand" and item.parent_id and item.parent_id.startswith("t3_"):
            parent_author = item.link_author
        return Message(
            brand=ctx.source.brand_id,
            platform=self.platform,
            source_id=ctx.source.source_id,
            platform_id=item.name,
            thread_id=item.name if stream.role == "post" else item.thread,
            parent_id=None if stream.role == "post" else item.parent_id,
            parent_author_id=parent_author,
            author_id=item.author or "[deleted]",
            author_handle=item.handle,
            text=text,
            permalink=item.link,
            created_at=item.created_at,
            kind=MessageKind.COMMENT if stream.role in ("reply_to_brand", "brand") else MessageKind.MENTION,
            from_brand=by_brand,
        )


class _Api:
    """Authorised requests to the Reddit API, watching its rate-limit window."""

    def __init__(self, ctx: PollContext) -> None:
        self.ctx = ctx
        self.user_agent = ctx.option("user_agent", USER_AGENT) or USER_AGENT
        self.remaining: float | None = None
        self.resets_at: datetime | None = None

    async def get(self, path: str, params: Params | None = None, *, refused_means_auth: bool = True) -> Any:
        ctx = self.ctx
        if self.remaining is not None and self.remaining <= RESERVE:
            raise RateLimited(self.resets_at or ctx.now + DEFAULT_BACKOFF)
        for attempt in range(2):
            token = await self._token(refresh=attempt > 0)
            try:
                response = await ctx.client.get(
                    f"{ctx.source.base_url}{path}",
                    params=params,
                    headers={"Authorization": f"Bearer {token}", "User-Agent": self.user_agent},
                )
            except httpx.HTTPError as error:
                raise ConnectorError(type(error).__name__) from error
            self._note(response.headers)
            if response.status_code != 401:
                break
            ctx.sessions.drop(ctx.session_key)
        else:
            raise AuthFailed("Reddit refused a freshly refreshed access token")
        if response.status_code == 429:
            raise RateLimited(_retry_at(response.headers, ctx.now))
        if response.status_code in (403, 404) and not refused_means_auth:
            raise _Refused(f"HTTP {response.status_code}")
        return json_body(check(response, ctx.now))

    def _note(self, headers: Mapping[str, str]) -> None:
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if remaining is not None:
            self.remaining = remaining
        if reset is not None:
            self.resets_at = self.ctx.now + timedelta(seconds=reset)

    async def _token(self, *, refresh: bool) -> str:
        ctx = self.ctx
        if not refresh:
            cached = ctx.sessions.get(ctx.session_key, ctx.now)
            if cached and cached.get("access_token"):
                return cached["access_token"]
        fields = credentials(ctx.secret, "client_id", "client_secret", "refresh_token")
        try:
            response = await ctx.client.post(
                ctx.option("token_url", TOKEN_URL) or TOKEN_URL,
                data={"grant_type": "refresh_token", "refresh_token": fields["refresh_token"]},
                auth=(fields["client_id"], fields["client_secret"]),
                headers={"User-Agent": self.user_agent},
            )
        except httpx.HTTPError as error:
            raise ConnectorError(f"Reddit token refresh failed: {type(error).__name__}") from error
        if response.status_code in (400, 401, 403):
            raise AuthFailed(f"Reddit refused the refresh token: HTTP {response.status_code}")
        if response.status_code == 429:
            raise RateLimited(_retry_at(response.headers, ctx.now))
        body = json_body(check(response, ctx.now))
        if not isinstance(body, dict):
            raise ConnectorError("Reddit's token answer is not an object")
        if body.get("error"):
            # Reddit may say invalid_grant with a 200: the refresh token was revoked
            raise AuthFailed(f"Reddit refused the refresh token: {_code(body.get('error'))}")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ConnectorError("Reddit's token answer holds no access token")
        seconds = _number(str(body.get("expires_in")))
        lifetime = timedelta(seconds=seconds) if seconds else DEFAULT_LIFETIME
        ctx.sessions.put(
            ctx.session_key, {"access_token": token}, ctx.now + max(lifetime - EXPIRY_MARGIN, timedelta(0))
        )
        return token


def _searches(ctx: PollContext) -> list[_Stream]:
    subreddits = [name.strip().removeprefix("r/").removeprefix("/r/") for name in _split(ctx.option("subreddits"))]
    for name in subreddits:
        if not _SUBREDDIT.match(name):
            raise ConnectorError(f"the subreddits option names {name[:30]!r}, which is not a subreddit")
    keywords = _split(ctx.option("keywords"))
    query = " OR ".join(f'"{word}"' if " " in word else word for word in (k.replace('"', "") for k in keywords))
    search = (("q", query), ("sort", "new"), ("type", "link"))
    streams = []
    for name in subreddits:
        key = name.lower()
        if keywords:
            path, params = f"/r/{name}/search", (*search, ("restrict_sr", "1"))
            streams.append(_Stream(f"search_{key}", path, params, "t3", "post", SEARCH_SETTLE, False))
        else:
            streams.append(_Stream(f"new_{key}", f"/r/{name}/new", (), "t3", "post", SETTLE, False))
    if keywords and not subreddits:
        streams.append(_Stream("search_all", "/search", search, "t3", "post", SEARCH_SETTLE, False))
    return streams


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _retry_at(headers: Mapping[str, str], now: datetime) -> datetime:
    """Reddit's X-Ratelimit-Reset counts seconds to the window's end (http.retry_at would read an epoch)."""
    candidates: list[datetime | None] = []
    reset = _number(headers.get("x-ratelimit-reset"))
    if reset is not None:
        candidates.append(now + timedelta(seconds=reset))
    if "retry-after" in headers:
        candidates.append(parse_retry_after(headers["retry-after"], now))
    found = [moment for moment in candidates if moment is not None and moment > now]
    return max(found) if found else now + DEFAULT_BACKOFF


def _number(value: str | None) -> float | None:
    """Reddit sends counts as decimals ("598.0")."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and 0 <= number < 10**7 else None


def _code(value: object) -> str:
    text = str(value)
    return text if text.replace("_", "").isalnum() and len(text) < 40 else "error"


def _loose(item: object) -> tuple[str | None, datetime | None]:
    """A raw Thing's fullname and time, as far as they can be read."""
    data = item.get("data") if isinstance(item, dict) else None
    name = data.get("name") if isinstance(data, dict) else None
    created = data.get("created_utc") if isinstance(data, dict) else None
    try:
        moment = datetime.fromtimestamp(float(created), tz=UTC) if isinstance(created, int | float) else None
    except (ValueError, OverflowError, OSError):
        moment = None
    return (name if isinstance(name, str) else None), moment
