"""X (Twitter) API v2: mentions of the brand's account, and its replies.

Inbound: ``GET /2/users/{id}/mentions``; the brand's replies: its own timeline
``GET /2/users/{id}/tweets`` (retweets excluded), keeping the posts that reply to
another. The brand's user id is the source's ``user_id`` option, or else it is
asked once (``GET /2/users/me``, which needs a user-context token) and kept in
the cursor.

Paging: X answers newest first and pages backwards (``meta.next_token``). A
*window* is everything newer than the stream's high-water mark (``since_id``),
or, before there is one, everything since a start time (the backfill window,
``start_time``). The mark can only move to the window's ``meta.newest_id`` once
the window's last page is stored: until then each page's cursor keeps the old
mark, the pending newest id and the token of the next (older) page, so a poll cut
short by its page budget, a rate limit or a crash resumes the window where it
stopped, and the next window starts right after it. Nothing is read twice unless
X refuses a saved pagination token: the window then restarts from the mark
(duplicates are harmless to ingest, and counted against the read budget).

Cost: X bills every post read. ``ctx.meter`` caps each page's ``max_results``
at what is left of the source's monthly budget; since X's smallest page is 5
posts, a source with fewer than 5 reads left stops rather than overspend.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ValidationError

from replywatch.connectors.base import (
    BudgetExhausted,
    BudgetRule,
    ConnectorError,
    Page,
    PollContext,
    RateLimited,
    bearer_token,
    monthly_utc,
)
from replywatch.connectors.http import Params, check, exhausted, id_order, json_body, retry_at
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

PAGE_MAX = 100
PAGE_MIN = 5  # X refuses max_results below 5
MENTIONS = "mentions"
TWEETS = "tweets"
USER = "user_id"
START = "_start"  # no high-water mark yet: the window starts at this time
NEXT = "_next"  # a window in progress: the token of its next (older) page
NEWEST = "_newest"  # a window in progress: its newest id, the mark once it is read
RESET_HEADER = "x-rate-limit-reset"
REMAINING_HEADER = "x-rate-limit-remaining"
TWEET_FIELDS = "created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets"
_NUMERIC_ID = re.compile(r"^[0-9]{1,19}$")


class _Reference(BaseModel):
    type: str
    id: str


class _Tweet(BaseModel):
    id: str
    text: str
    created_at: datetime
    author_id: str
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    referenced_tweets: list[_Reference] = []

    @property
    def replied_to(self) -> str | None:
        return next((ref.id for ref in self.referenced_tweets if ref.type == "replied_to"), None)


class _User(BaseModel):
    id: str
    username: str


def x_time(moment: datetime) -> str:
    """X's RFC 3339 timestamps, to the second (``start_time`` is inclusive)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class XConnector:
    platform: ClassVar[str] = "x"
    default_base_url: ClassVar[str] = "https://api.x.com"
    budget: ClassVar[BudgetRule | None] = BudgetRule(
        unit="posts read", option="monthly_read_budget", default_limit=10000, period=monthly_utc
    )

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        cursor = dict(ctx.cursor)
        token = bearer_token(ctx.secret)
        base = ctx.source.base_url
        user_id = ctx.option(USER) or cursor.get(USER)
        if not user_id:
            response = check(await _get(ctx, f"{base}/2/users/me", token, []), ctx.now, reset_header=RESET_HEADER)
            body = json_body(response)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or not data.get("id"):
                raise ConnectorError("X did not say whose token this is")
            user_id = cursor[USER] = str(data["id"])
        if not _NUMERIC_ID.match(user_id):
            raise ConnectorError("the source's X user id is not numeric")
        streams: tuple[tuple[str, str, list[tuple[str, str]], bool], ...] = (
            (MENTIONS, f"{base}/2/users/{user_id}/mentions", [], False),
            (TWEETS, f"{base}/2/users/{user_id}/tweets", [("exclude", "retweets")], True),
        )
        for name, url, extra, from_brand in streams:
            async for page in self._stream(ctx, cursor, token, user_id, name, url, extra, from_brand=from_brand):
                yield page

    async def _stream(
        self,
        ctx: PollContext,
        cursor: dict[str, str],
        token: str,
        user_id: str,
        name: str,
        url: str,
        extra: list[tuple[str, str]],
        *,
        from_brand: bool,
    ) -> AsyncIterator[Page]:
        """Read windows of one stream, newest page first, within its own page budget."""
        budget = ctx.max_pages
        while budget > 0:
            budget -= 1
            params: Params = [
                ("max_results", str(_page_size(ctx))),
                ("tweet.fields", TWEET_FIELDS),
                ("expansions", "author_id"),
                ("user.fields", "username"),
                *extra,
            ]
            if name in cursor:
                params.append(("since_id", cursor[name]))
            else:
                start = cursor.setdefault(name + START, x_time(ctx.backfill_from or ctx.now))
                params.append(("start_time", start))
            resumed = cursor.get(name + NEXT)
            if resumed:
                params.append(("pagination_token", resumed))
            response = await _get(ctx, url, token, params)
            if resumed and response.status_code == 400:
                # X no longer knows the saved token: read the window again from its start.
                logger.warning(
                    "x refused the saved page position: the window is read again",
                    extra={"source_id": ctx.source.source_id, "stream": name},
                )
                cursor.pop(name + NEXT, None)
                cursor.pop(name + NEWEST, None)
                continue
            check(response, ctx.now, reset_header=RESET_HEADER)
            body = json_body(response)
            if not isinstance(body, dict):
                raise ConnectorError("X answered with something other than an object")
            data, meta = body.get("data"), body.get("meta")
            _note_problems(ctx, name, body)
            if data is None and not isinstance(meta, dict):
                raise ConnectorError("X answered with problems and no posts")
            items: list[Any] = data if isinstance(data, list) else []
            if ctx.meter is not None:
                ctx.meter.spend(len(items))
            meta = meta if isinstance(meta, dict) else {}
            page = self._parse(ctx, items, _usernames(body), user_id, name, from_brand=from_brand)
            ids = [str(item["id"]) for item in items if isinstance(item, dict) and item.get("id")]
            if name + NEWEST not in cursor:  # the window's first page holds its newest post
                newest = meta.get("newest_id") or (max(ids, key=id_order) if ids else None)
                if newest:
                    cursor[name + NEWEST] = str(newest)
            next_token = meta.get("next_token") if ids else None
            if next_token:
                cursor[name + NEXT] = str(next_token)
            else:  # the window is read: its newest post is the mark
                cursor.pop(name + NEXT, None)
                newest = cursor.pop(name + NEWEST, None)
                if newest:
                    cursor[name] = newest
                    cursor.pop(name + START, None)
            yield Page(messages=page.messages, cursor=dict(cursor), skipped=page.skipped)
            if exhausted(response.headers, REMAINING_HEADER):
                raise RateLimited(retry_at(response.headers, ctx.now, RESET_HEADER))
            if not next_token:
                return

    def _parse(
        self,
        ctx: PollContext,
        items: list[Any],
        usernames: Mapping[str, str],
        user_id: str,
        name: str,
        *,
        from_brand: bool,
    ) -> Page:
        messages: list[Message] = []
        skipped = 0
        for item in items:
            try:
                tweet = _Tweet.model_validate(item)
                if from_brand and tweet.replied_to is None:
                    continue  # a post of its own, not a reply
                if not from_brand and tweet.author_id == user_id:
                    continue  # the brand mentioning itself: its replies come from its timeline
                messages.append(self._message(ctx, tweet, usernames, user_id, from_brand=from_brand))
            except (ValidationError, ValueError, TypeError):
                skipped += 1
                item_id = item.get("id") if isinstance(item, dict) else None
                logger.warning(
                    "skipped malformed x item",
                    extra={
                        "source_id": ctx.source.source_id,
                        "item_id": str(item_id) if item_id is not None else None,
                        "stream": name,
                    },
                )
        return Page(messages=messages, cursor={}, skipped=skipped)

    def _message(
        self, ctx: PollContext, tweet: _Tweet, usernames: Mapping[str, str], user_id: str, *, from_brand: bool
    ) -> Message:
        username = usernames.get(tweet.author_id)
        parent_by = tweet.in_reply_to_user_id if tweet.replied_to else None
        permalink = f"https://x.com/{username or 'i/web'}/status/{tweet.id}"
        return Message(
            brand=ctx.source.brand_id,
            platform=self.platform,
            source_id=ctx.source.source_id,
            platform_id=tweet.id,
            thread_id=tweet.conversation_id,
            parent_id=tweet.replied_to,
            parent_author_id=parent_by,
            parent_by_brand=parent_by == user_id if parent_by else None,
            author_id=tweet.author_id,
            author_handle=f"@{username}" if username else tweet.author_id,
            text=html.unescape(tweet.text),  # X escapes &, < and > in post text
            permalink=permalink,
            created_at=tweet.created_at,
            kind=MessageKind.MENTION,
            from_brand=from_brand,
        )


def _page_size(ctx: PollContext) -> int:
    if ctx.meter is None:
        return PAGE_MAX
    ctx.meter.require(PAGE_MIN)
    return min(PAGE_MAX, ctx.meter.remaining)


async def _get(ctx: PollContext, url: str, token: str, params: Params) -> httpx.Response:
    """One GET; transport failures are connector errors, and X's monthly usage cap is a spent budget."""
    try:
        response = await ctx.client.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as error:
        raise ConnectorError(type(error).__name__) from error
    if response.status_code == 429 and _usage_capped(response):
        raise BudgetExhausted(monthly_utc(ctx.now)[1])
    return response


def _usage_capped(response: httpx.Response) -> bool:
    """X's answer when the project's monthly post cap is spent (not a 15-minute rate limit)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and (
        body.get("title") == "UsageCapExceeded" or str(body.get("type", "")).endswith("/usage-capped")
    )


def _usernames(body: Mapping[str, Any]) -> dict[str, str]:
    includes = body.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    found = {}
    for item in users if isinstance(users, list) else []:
        try:
            user = _User.model_validate(item)
        except ValidationError:
            continue
        found[user.id] = user.username
    return found


def _note_problems(ctx: PollContext, name: str, body: Mapping[str, Any]) -> None:
    """X reports partial failures (a deleted parent, a suspended author) beside the data."""
    problems = body.get("errors")
    if isinstance(problems, list) and problems:
        kinds = sorted({str(p.get("type", "")).rsplit("/", 1)[-1] for p in problems if isinstance(p, dict)})
        logger.info(
            "x answered with problems",
            extra={"source_id": ctx.source.source_id, "stream": name, "count": len(problems), "types": kinds},
        )
