"""YouTube: comments on the brand's channel and its videos, and the brand's replies to them.

One stream, ``threads``: ``GET commentThreads?allThreadsRelatedToChannelId=<channel_id>&order=time``,
newest thread first, 100 a page. A thread's top-level comment is an inbound comment (unless the brand
wrote it); its replies are the brand's answers (``from_brand``, the author is the brand's channel) or
customers' follow-ups, each with ``parent_id`` the top-level comment. A thread that has more replies
than it carries (``snippet.totalReplyCount``) has them read with ``GET comments?parentId=<thread>``.

There is no "since" parameter: the stream is a newest-first scan down to a high-water mark on
``publishedAt`` (see :mod:`newest_first`). Threads are ordered by their top-level comment, so a reply
to an old thread would sit far down the list: each scan reads ``reply_window_hours`` (option, default
48) further back than the mark to find new replies on recent threads. Only comments published after
the mark are yielded; replies to threads older than that window are not seen.

Auth: Google OAuth with a refresh token (:mod:`google_oauth`). Quota: every list call costs a unit of
the channel's daily allowance (``daily_quota_units``, default 10,000), reset at midnight Pacific time;
Google's own ``quotaExceeded`` ends the poll until then, ``rateLimitExceeded`` for a minute or as told.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import AwareDatetime, BaseModel, ValidationError

from replywatch.connectors import google_oauth
from replywatch.connectors.base import (
    BudgetExhausted,
    BudgetRule,
    ConnectorError,
    Page,
    PollContext,
    RateLimited,
    daily_pacific,
)
from replywatch.connectors.http import check, json_body, retry_at
from replywatch.connectors.newest_first import Fetched, Scan, scan_pages
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

THREADS = "threads"
PAGE_SIZE = "100"  # the API's maximum for both list calls
UNITS_PER_CALL = 1  # commentThreads.list and comments.list
MAX_REPLY_PAGES = 20  # a thread's replies read at most (2,000): a runaway thread cannot drain the quota
SETTLE = timedelta(minutes=5)  # comments that show up in the listing a little after their publishedAt
DEFAULT_REPLY_WINDOW_HOURS = 48
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
WATCH_URL = "https://www.youtube.com/watch"


class _ChannelRef(BaseModel):
    value: str


class _CommentSnippet(BaseModel):
    authorDisplayName: str = ""
    authorChannelId: _ChannelRef
    textOriginal: str | None = None
    textDisplay: str = ""
    parentId: str | None = None
    videoId: str | None = None
    publishedAt: AwareDatetime


class _Comment(BaseModel):
    id: str
    snippet: _CommentSnippet

    @property
    def author(self) -> str:
        return self.snippet.authorChannelId.value

    @property
    def text(self) -> str:
        return (self.snippet.textOriginal or self.snippet.textDisplay).strip()


class _ThreadSnippet(BaseModel):
    videoId: str | None = None
    topLevelComment: _Comment
    totalReplyCount: int = 0


class _Replies(BaseModel):
    comments: list[Any] = []


class _Thread(BaseModel):
    id: str
    snippet: _ThreadSnippet
    replies: _Replies | None = None


class YouTubeConnector:
    platform: ClassVar[str] = "youtube"
    default_base_url: ClassVar[str] = "https://www.googleapis.com/youtube/v3"
    budget: ClassVar[BudgetRule | None] = BudgetRule(
        unit="quota units", option="daily_quota_units", default_limit=10_000, period=daily_pacific
    )

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        channel_id = ctx.option("channel_id")
        if not channel_id:
            raise ConnectorError("a YouTube source needs the channel_id option")
        cursor = dict(ctx.cursor)

        async def fetch(scan: Scan, token: str | None) -> Fetched:
            return await self._threads(ctx, channel_id, scan, token)

        async for page in scan_pages(ctx, cursor, THREADS, fetch, settle=SETTLE, window=_reply_window(ctx)):
            yield page

    async def _threads(self, ctx: PollContext, channel_id: str, scan: Scan, token: str | None) -> Fetched:
        params = [
            ("part", "snippet,replies"),
            ("allThreadsRelatedToChannelId", channel_id),
            ("order", "time"),
            ("maxResults", PAGE_SIZE),
            ("textFormat", "plainText"),
        ]
        try:
            body = await self._list(ctx, "commentThreads", [*params, *([("pageToken", token)] if token else [])])
        except _StalePageToken:
            # A page token from an earlier poll that Google no longer takes: scan again from the top.
            body = await self._list(ctx, "commentThreads", params)
        fetched = Fetched(next=_text(body.get("nextPageToken")))
        for item in _items(body):
            try:
                thread = _Thread.model_validate(item)
            except ValidationError:
                _skip(ctx, scan, fetched, item, _loose_published(item, "snippet", "topLevelComment"))
                continue
            included = thread.replies.comments if thread.replies else []
            known = [thread.snippet.topLevelComment.snippet.publishedAt]
            known += [moment for moment in map(_loose_published, included) if moment is not None]
            if max(known) < scan.floor:
                fetched.reached_floor = True  # this thread and every one after it are older than the scan
                continue
            if thread.snippet.totalReplyCount > len(included):
                included = await self._all_replies(ctx, thread.id)
            replies = []
            for reply in included:
                try:
                    replies.append(_Comment.model_validate(reply))
                except ValidationError:
                    _skip(ctx, scan, fetched, reply, _loose_published(reply))
            fetched.messages.extend(self._messages(ctx, channel_id, scan, thread, replies))
        return fetched

    def _messages(
        self, ctx: PollContext, channel_id: str, scan: Scan, thread: _Thread, replies: list[_Comment]
    ) -> list[Message]:
        top = thread.snippet.topLevelComment
        video_id = thread.snippet.videoId or top.snippet.videoId
        messages = []
        if top.author != channel_id and scan.is_new(top.id, top.snippet.publishedAt):
            messages.append(self._message(ctx, top, thread.id, video_id, from_brand=False))
            scan.taken(top.id, top.snippet.publishedAt)
        for reply in replies:
            if scan.is_new(reply.id, reply.snippet.publishedAt):
                from_brand = reply.author == channel_id
                messages.append(self._message(ctx, reply, thread.id, video_id, from_brand=from_brand, parent=top))
                scan.taken(reply.id, reply.snippet.publishedAt)
        return messages

    def _message(
        self,
        ctx: PollContext,
        comment: _Comment,
        thread_id: str,
        video_id: str | None,
        *,
        from_brand: bool,
        parent: _Comment | None = None,
    ) -> Message:
        return Message(
            brand=ctx.source.brand_id,
            platform=self.platform,
            source_id=ctx.source.source_id,
            platform_id=comment.id,
            thread_id=thread_id,
            parent_id=(comment.snippet.parentId or parent.id) if parent else None,
            parent_author_id=parent.author if parent else None,
            author_id=comment.author,
            author_handle=comment.snippet.authorDisplayName or comment.author,
            text=comment.text,
            permalink=f"{WATCH_URL}?{httpx.QueryParams({'v': video_id, 'lc': comment.id})}" if video_id else None,
            created_at=comment.snippet.publishedAt,
            kind=MessageKind.COMMENT,
            from_brand=from_brand,
        )

    async def _all_replies(self, ctx: PollContext, thread_id: str) -> list[Any]:
        """Every reply of a thread that has more than its commentThread carries."""
        replies: list[Any] = []
        token: str | None = None
        for _ in range(MAX_REPLY_PAGES):
            params = [("part", "snippet"), ("parentId", thread_id), ("maxResults", PAGE_SIZE)]
            params += [("textFormat", "plainText"), *([("pageToken", token)] if token else [])]
            body = await self._list(ctx, "comments", params)
            replies.extend(_items(body))
            token = _text(body.get("nextPageToken"))
            if token is None:
                break
        return replies

    async def _list(self, ctx: PollContext, resource: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        """One list call, within the quota, with Google's error reasons mapped first."""
        if ctx.meter is not None:
            ctx.meter.require(UNITS_PER_CALL)
        response = await google_oauth.request(ctx, "GET", f"{ctx.source.base_url}/{resource}", params=list(params))
        if ctx.meter is not None:
            ctx.meter.spend(UNITS_PER_CALL)
        _raise_for_google_error(response, ctx, paged=any(name == "pageToken" for name, _ in params))
        body = json_body(response)
        if not isinstance(body, dict):
            raise ConnectorError(f"YouTube {resource} answer is not an object")
        return body


class _StalePageToken(ConnectorError):
    pass


def _raise_for_google_error(response: httpx.Response, ctx: PollContext, *, paged: bool) -> None:
    """Google says "quota spent" and "slow down" with a 403 and a reason: read those before ``check``
    (which takes every 403 for a refused token)."""
    if response.status_code < 400:
        return
    reasons = _reasons(response)
    if reasons & QUOTA_REASONS:
        raise BudgetExhausted(ctx.meter.resets_at if ctx.meter is not None else daily_pacific(ctx.now)[1])
    if reasons & RATE_REASONS:
        raise RateLimited(retry_at(response.headers, ctx.now))
    if response.status_code == 400 and paged:
        raise _StalePageToken("YouTube refused a page token")
    check(response, ctx.now)


def _reasons(response: httpx.Response) -> set[str]:
    try:
        body = response.json()
    except ValueError:
        return set()
    error = body.get("error") if isinstance(body, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    if not isinstance(errors, list):
        return set()
    return {str(entry.get("reason")) for entry in errors if isinstance(entry, dict)}


def _skip(ctx: PollContext, scan: Scan, fetched: Fetched, item: object, published: datetime | None) -> None:
    """Count and log (by id only) a malformed item, once: scans read recent threads again, so an
    item whose time can still be read is skipped silently when it is not new."""
    item_id = _item_id(item)
    if published is not None and item_id is not None:
        if not scan.is_new(item_id, published):
            return
        scan.taken(item_id, published)
    fetched.skipped += 1
    logger.warning(
        "skipped malformed youtube item",
        extra={"source_id": ctx.source.source_id, "item_id": item_id, "stream": THREADS},
    )


def _loose_published(item: object, *path: str) -> datetime | None:
    """A raw comment's publishedAt (``path`` leads from a thread to its top-level comment), if readable."""
    for key in path:
        item = item.get(key) if isinstance(item, dict) else None
    snippet = item.get("snippet") if isinstance(item, dict) else None
    value = snippet.get("publishedAt") if isinstance(snippet, dict) else None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _reply_window(ctx: PollContext) -> timedelta:
    try:
        hours = int(ctx.option("reply_window_hours") or DEFAULT_REPLY_WINDOW_HOURS)
    except ValueError:
        hours = DEFAULT_REPLY_WINDOW_HOURS
    return timedelta(hours=max(0, hours))


def _items(body: dict[str, Any]) -> list[Any]:
    items = body.get("items", [])
    if not isinstance(items, list):
        raise ConnectorError("YouTube list answer has no items list")
    return items


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _item_id(item: object) -> str | None:
    if isinstance(item, dict):
        value = item.get("id")
        return str(value) if isinstance(value, str | int) else None
    return None
