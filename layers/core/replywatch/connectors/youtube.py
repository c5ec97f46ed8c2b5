"""YouTube: comments on the brand's channel and its videos, and the brand's replies to them.

One stream, ``threads``: ``GET commentThreads?allThreadsRelatedToChannelId=<channel_id>&order=time``,
newest thread first, 100 a page. A thread's top-level comment is an inbound comment (unless the brand
wrote it); its replies are the brand's answers (``from_brand``, the author is the brand's channel) or
customers' follow-ups, each with ``parent_id`` the top-level comment. A thread that has more replies
than it carries (``snippet.totalReplyCount``) has them read with ``GET comments?parentId=<thread>``, but
only when its count differs from the one the cursor keeps for it (``threads_replies``: the threads of the
reply window that were read through, ``id=count@newest reply``, dropped once older than the window): a
scan that finds nothing new makes no such calls. Reply pages count against the stream's ``max_pages``
like thread pages; a read-through the budget cuts short is kept in ``threads_reading`` and finished
first by the next poll, which then reads that thread page again (what was yielded is not offered twice).

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

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
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
from replywatch.connectors.newest_first import Fetched, LostPlace, Scan, scan_pages
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

THREADS = "threads"
REPLY_COUNTS = f"{THREADS}_replies"  # cursor: threads read through, id=count@epoch of the newest reply
READING = f"{THREADS}_reading"  # cursor: a read-through the page budget cut short (JSON)
MAX_THREADS_KEPT = 500  # reply counts kept at most (the newest): one forgotten is read through again
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
        replies = _ReplyState.load(cursor)

        async def fetch(scan: Scan, token: str | None) -> Fetched:
            fetched = await self._threads(ctx, channel_id, scan, token, replies)
            replies.save(cursor, scan.floor)
            return fetched

        async for page in scan_pages(ctx, cursor, THREADS, fetch, settle=SETTLE, window=_reply_window(ctx)):
            yield page

    async def _threads(
        self, ctx: PollContext, channel_id: str, scan: Scan, token: str | None, state: _ReplyState
    ) -> Fetched:
        fetched = Fetched()
        if state.reading is not None and not await self._read_on(ctx, channel_id, scan, state, fetched):
            fetched.cut_short = True  # the budget went on an earlier poll's read-through
            return fetched
        if not scan.take():
            fetched.cut_short = True
            return fetched
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
            fetched.lost = True  # a page token Google no longer takes: newest_first scans again from the top
            return fetched
        fetched.next = _text(body.get("nextPageToken"))
        items = _items(body)
        fetched.empty = not items
        for item in items:
            try:
                thread = _Thread.model_validate(item)
            except ValidationError:
                _skip(ctx, scan, fetched, _item_id(item), _loose_published(item, "snippet", "topLevelComment"))
                continue
            included = thread.replies.comments if thread.replies else []
            known = [thread.snippet.topLevelComment.snippet.publishedAt]
            known += [moment for moment in map(_loose_published, included) if moment is not None]
            if max(known) < scan.floor:
                fetched.reached_floor = True  # this thread and every one after it are older than the scan
                continue
            top = thread.snippet.topLevelComment
            video_id = thread.snippet.videoId or top.snippet.videoId
            if top.author != channel_id:
                self._add(ctx, scan, fetched, top, thread.id, video_id)
            count = thread.snippet.totalReplyCount
            if count > len(included) and state.counts.get(thread.id, (None, 0))[0] != count:
                newest = int(max(known).timestamp())
                state.reading = _Reading(thread.id, count, top.id, top.author, video_id, newest=newest)
                if not await self._read_on(ctx, channel_id, scan, state, fetched):
                    fetched.cut_short = True  # this page is read again next poll, after the rest of the replies
                    return fetched
                continue
            if count <= len(included):
                state.counts.pop(thread.id, None)  # every reply is in the thread itself
            for raw in included:
                try:
                    reply = _Comment.model_validate(raw)
                except ValidationError:
                    _skip(ctx, scan, fetched, _item_id(raw), _loose_published(raw))
                    continue
                self._add(
                    ctx, scan, fetched, reply, thread.id, video_id, parent=(top.id, top.author), channel=channel_id
                )
        return fetched

    async def _read_on(
        self, ctx: PollContext, channel_id: str, scan: Scan, state: _ReplyState, fetched: Fetched
    ) -> bool:
        """Read the pending thread's replies (``comments?parentId``) as far as the budget goes: True
        when they are all read (its count is then kept), False when the budget ran out first."""
        reading = state.reading
        if reading is None:
            return True
        refused = False
        while reading.pages < MAX_REPLY_PAGES:
            if not scan.take():
                return False
            params = [("part", "snippet"), ("parentId", reading.thread), ("maxResults", PAGE_SIZE)]
            params += [("textFormat", "plainText"), *([("pageToken", reading.token)] if reading.token else [])]
            try:
                body = await self._list(ctx, "comments", params)
            except _NotFound:
                state.reading = None  # the thread was deleted: nothing more to read
                return True
            except _StalePageToken:
                if refused:
                    raise
                refused, reading.token, reading.pages = True, None, 0  # read the thread's replies again
                continue
            reading.pages += 1
            for raw in _items(body):
                published = _loose_published(raw)
                if published is not None:
                    reading.newest = max(reading.newest, int(published.timestamp()))
                try:
                    reply = _Comment.model_validate(raw)
                except ValidationError:
                    _skip(ctx, scan, fetched, _item_id(raw), published)
                    continue
                parent = (reading.top, reading.author)
                self._add(ctx, scan, fetched, reply, reading.thread, reading.video, parent=parent, channel=channel_id)
                scan.remember(reply.id, reply.snippet.publishedAt)  # the thread page may be read again
            reading.token = _text(body.get("nextPageToken"))
            if reading.token is None:
                break
        state.counts[reading.thread] = (reading.count, reading.newest)
        state.reading = None
        return True

    def _add(
        self,
        ctx: PollContext,
        scan: Scan,
        fetched: Fetched,
        comment: _Comment,
        thread_id: str,
        video_id: str | None,
        *,
        parent: tuple[str, str] | None = None,
        channel: str | None = None,
    ) -> None:
        """Yield a comment that is new; one that makes no valid Message is skipped (logged by id)."""
        published = comment.snippet.publishedAt
        if not scan.is_new(comment.id, published):
            return
        try:
            message = self._message(
                ctx, comment, thread_id, video_id, from_brand=comment.author == channel, parent=parent
            )
        except ValidationError:  # e.g. an empty id
            _skip(ctx, scan, fetched, comment.id, published)
            return
        fetched.messages.append(message)
        scan.taken(comment.id, published)

    def _message(
        self,
        ctx: PollContext,
        comment: _Comment,
        thread_id: str,
        video_id: str | None,
        *,
        from_brand: bool,
        parent: tuple[str, str] | None = None,
    ) -> Message:
        """``parent``: the top-level comment's id and author, for a reply."""
        return Message(
            brand=ctx.source.brand_id,
            platform=self.platform,
            source_id=ctx.source.source_id,
            platform_id=comment.id,
            thread_id=thread_id,
            parent_id=(comment.snippet.parentId or parent[0]) if parent else None,
            parent_author_id=parent[1] if parent else None,
            author_id=comment.author,
            author_handle=comment.snippet.authorDisplayName or comment.author,
            text=comment.text,
            permalink=f"{WATCH_URL}?{httpx.QueryParams({'v': video_id, 'lc': comment.id})}" if video_id else None,
            created_at=comment.snippet.publishedAt,
            kind=MessageKind.COMMENT,
            from_brand=from_brand,
        )

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


class _StalePageToken(LostPlace):
    pass


class _NotFound(ConnectorError):
    pass


@dataclass
class _Reading:
    """A thread whose replies are being read through (kept in the cursor when the budget cuts it short)."""

    thread: str
    count: int  # its totalReplyCount when the read-through began
    top: str  # the top-level comment's id and author: every reply's parent
    author: str
    video: str | None
    token: str | None = None  # the next page of replies
    pages: int = 0
    newest: int = 0  # epoch seconds of the newest comment seen in the thread


@dataclass
class _ReplyState:
    """Reply counts of the threads read through (thread id -> (count, newest epoch)) and a pending read."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    reading: _Reading | None = None

    @classmethod
    def load(cls, cursor: dict[str, str]) -> _ReplyState:
        counts: dict[str, tuple[int, int]] = {}
        for entry in cursor.get(REPLY_COUNTS, "").split(","):
            thread_id, _, rest = entry.rpartition("=")
            count, _, newest = rest.partition("@")
            if thread_id and count.isdigit() and newest.lstrip("-").isdigit():
                counts[thread_id] = (int(count), int(newest))
        return cls(counts=counts, reading=_load_reading(cursor.get(READING)))

    def save(self, cursor: dict[str, str], floor: datetime) -> None:
        """Into the cursor, keeping only threads the scan still reads (their newest comment is not
        older than its floor) and at most the newest ``MAX_THREADS_KEPT``."""
        oldest = int(floor.timestamp())
        kept = sorted(((key, value) for key, value in self.counts.items() if value[1] >= oldest), key=_newest)
        self.counts = dict(kept[-MAX_THREADS_KEPT:])
        _put(cursor, REPLY_COUNTS, ",".join(f"{key}={count}@{newest}" for key, (count, newest) in self.counts.items()))
        _put(cursor, READING, json.dumps(asdict(self.reading), separators=(",", ":")) if self.reading else None)


def _newest(entry: tuple[str, tuple[int, int]]) -> int:
    return entry[1][1]


def _load_reading(value: str | None) -> _Reading | None:
    if not value:
        return None
    try:
        reading = _Reading(**json.loads(value))
    except (ValueError, TypeError):
        return None
    texts = (reading.thread, reading.top, reading.author)
    fields_ok = all(isinstance(text, str) for text in texts) and isinstance(reading.video, str | None)
    numbers_ok = all(isinstance(number, int) for number in (reading.count, reading.pages, reading.newest))
    return reading if fields_ok and numbers_ok and reading.thread else None


def _put(cursor: dict[str, str], key: str, value: str | None) -> None:
    if value:
        cursor[key] = value
    else:
        cursor.pop(key, None)


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
    if response.status_code == 404:
        raise _NotFound("YouTube: HTTP 404")
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


def _skip(ctx: PollContext, scan: Scan, fetched: Fetched, item_id: str | None, published: datetime | None) -> None:
    """Count and log (by id only) a malformed item, once: scans read recent threads again, so an
    item whose time can still be read is skipped silently when it is not new."""
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
