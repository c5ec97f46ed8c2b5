"""Paging shared by the review sites: lists served newest first, one page token at a time.

Two kinds of stream, each within its own page budget (``ctx.max_pages`` requests a poll):

* ``walk``: from the top of the list down to the high-water mark (the newest sort time already
  read, with the ids listed at exactly that time). A walk cut short by the page budget saves its
  next page token and the newest time it saw ("top"); the next poll finishes it first, and only
  when a walk reaches the mark does the mark move up to its top, so a crash or a budget stop
  between pages neither loses nor rereads a review. A new source's first walk stops at the
  backfill window instead.
* ``sweep``: a pass over the whole list (or its recent part) for the brand's replies to reviews
  read earlier, for lists whose order a reply does not change (Google Play, App Store). A sweep
  also runs across polls. It sends the replies modified since the previous sweep began (less a
  margin), so any reply is sent by the first sweep that starts after it was written, at the
  latest, and each only about once. A reply seen unpublished (App Store's PENDING_PUBLISH) is
  remembered by review id and sent when a sweep finds it published, however old its date.
  The first sweep starts at that poll: the walk sends the replies already there with their reviews.

Page tokens that the platform no longer accepts (``StaleToken``) restart the walk or sweep from
the top; its floor is unchanged, so nothing is skipped. Writes are idempotent, so a review read
twice (a walk restarted, an edit) is harmless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from replywatch.connectors.base import ConnectorError, Page, PollContext
from replywatch.models import Message, MessageKind

SINCE = "since"  # the window a new source started with: nothing created before it is stored
PENDING = "pending_replies"  # review id -> review time, for replies seen written but not yet published
MAX_BOUNDARY_IDS = 50  # ids kept with a high-water mark (reviews sharing its exact time)
MAX_PENDING = 200
CLOCK_MARGIN = timedelta(minutes=15)  # by default a sweep also re-sends replies this much older than its floor


class StaleToken(ConnectorError):
    """The platform refused a page token we saved (expired, or from an older listing)."""


@dataclass(frozen=True)
class Review:
    """One listed review, parsed: where it sits in the list's order and what it becomes."""

    review_id: str
    mark: datetime  # the list's sort key
    created: datetime  # when the customer wrote it (what the backfill window is checked against)
    review: Message
    reply: Message | None = None  # the brand's published reply
    reply_pending: bool = False  # a reply written but not yet published


@dataclass(frozen=True)
class Listing:
    items: list[Any]
    next_token: str | None
    headers: Mapping[str, str] = field(default_factory=dict)


Fetch = Callable[[str | None], Awaitable[Listing]]
Parse = Callable[[Any], Review]  # raises (ValidationError, KeyError, TypeError, ValueError) when malformed
ItemId = Callable[[Any], str | None]
AfterPage = Callable[[Listing], None]  # e.g. raise RateLimited when the headers say the allowance is spent


@dataclass(frozen=True)
class Feed:
    """What a connector tells the streams about its platform."""

    platform: str
    fetch: Fetch
    parse: Parse
    item_id: ItemId
    logger: logging.Logger
    after_page: AfterPage | None = None


def review_message(
    ctx: PollContext,
    platform: str,
    review_id: str,
    *,
    author: str,
    text: str,
    created_at: datetime,
    rating: int | None,
) -> Message:
    """A customer's review, its own thread; reviews have no author ids, so the name shown stands in."""
    return Message(
        brand=ctx.source.brand_id,
        platform=platform,
        source_id=ctx.source.source_id,
        platform_id=review_id,
        thread_id=review_id,
        author_id=author,
        author_handle=author,
        text=text,
        created_at=created_at,
        kind=MessageKind.REVIEW,
        rating=rating,
    )


def reply_message(
    ctx: PollContext,
    platform: str,
    review_id: str,
    *,
    review_author: str,
    account: str,
    text: str,
    created_at: datetime,
) -> Message:
    """The brand's reply to a review (``<review id>#reply``), by the reviewed ``account`` (location, app)."""
    return Message(
        brand=ctx.source.brand_id,
        platform=platform,
        source_id=ctx.source.source_id,
        platform_id=f"{review_id}#reply",
        thread_id=review_id,
        parent_id=review_id,
        parent_author_id=review_author,
        author_id=account,
        author_handle=ctx.source.brand_id,
        text=text,
        created_at=created_at,
        kind=MessageKind.REVIEW,
        from_brand=True,
    )


def iso(moment: datetime) -> str:
    return moment.isoformat()


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _ids(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    try:
        loaded = json.loads(value)
    except ValueError:
        return frozenset()
    return frozenset(str(item) for item in loaded) if isinstance(loaded, list) else frozenset()


def _dump_ids(ids: set[str]) -> str:
    return json.dumps(sorted(ids)[:MAX_BOUNDARY_IDS], separators=(",", ":"))


def _pending(cursor: dict[str, str]) -> dict[str, str]:
    try:
        loaded = json.loads(cursor.get(PENDING) or "{}")
    except ValueError:
        return {}
    return {str(key): str(value) for key, value in loaded.items()} if isinstance(loaded, dict) else {}


def _note_pending(cursor: dict[str, str], pending: dict[str, str], *, stop: datetime | None = None) -> None:
    if stop is not None:
        pending = {key: value for key, value in pending.items() if (_time(value) or stop) >= stop}
    if pending:
        newest = sorted(pending.items(), key=lambda entry: entry[1], reverse=True)[:MAX_PENDING]
        cursor[PENDING] = json.dumps(dict(newest), separators=(",", ":"))
    else:
        cursor.pop(PENDING, None)


def window_start(ctx: PollContext, cursor: dict[str, str]) -> datetime | None:
    """The source's window: set on its first poll from ``ctx.backfill_from``, kept after."""
    if SINCE not in cursor:
        cursor[SINCE] = iso(ctx.backfill_from) if ctx.backfill_from is not None else ""
    return _time(cursor[SINCE])


def _parse_page(feed: Feed, ctx: PollContext, listing: Listing, stream: str) -> tuple[list[Review], int]:
    parsed: list[Review] = []
    skipped = 0
    for item in listing.items:
        try:
            parsed.append(feed.parse(item))
        except (ValidationError, KeyError, TypeError, ValueError, AttributeError):
            skipped += 1
            feed.logger.warning(
                "skipped malformed %s item",
                feed.platform,
                extra={"source_id": ctx.source.source_id, "item_id": feed.item_id(item), "stream": stream},
            )
    return parsed, skipped


@dataclass
class _Top:
    """The newest sort time a walk has seen, and the ids listed at exactly that time."""

    time: datetime | None = None
    ids: set[str] = field(default_factory=set)

    def see(self, review: Review) -> None:
        if self.time is None or review.mark > self.time:
            self.time, self.ids = review.mark, {review.review_id}
        elif review.mark == self.time:
            self.ids.add(review.review_id)


async def walk(
    feed: Feed, ctx: PollContext, cursor: dict[str, str], name: str, *, sent: set[str] | None = None
) -> AsyncIterator[Page]:
    """New and updated reviews, newest first, down to the high-water mark (see the module doc).
    The platform ids of the replies it yields are added to ``sent``."""
    since = window_start(ctx, cursor)
    token_key, top_key, top_ids_key, ids_key = f"{name}_token", f"{name}_top", f"{name}_top_ids", f"{name}_ids"
    budget = ctx.max_pages
    while budget > 0:
        token = cursor.get(token_key)
        resumed = token is not None
        floor = _time(cursor.get(name)) or since
        floor_ids = _ids(cursor.get(ids_key)) if name in cursor else frozenset()
        top = _Top(_time(cursor.get(top_key)), set(_ids(cursor.get(top_ids_key)))) if resumed else _Top()
        done = False
        while budget > 0 and not done:
            budget -= 1
            try:
                listing = await feed.fetch(token)
            except StaleToken:
                if token is None:
                    raise
                for key in (token_key, top_key, top_ids_key):
                    cursor.pop(key, None)
                token, resumed, top = None, False, _Top()
                continue
            parsed, skipped = _parse_page(feed, ctx, listing, name)
            messages: list[Message] = []
            reached = False
            pending = _pending(cursor)
            for review in parsed:
                if floor is not None and review.mark < floor:
                    reached = True
                    continue
                if floor is not None and review.mark == floor and review.review_id in floor_ids:
                    continue
                top.see(review)
                if since is not None and review.created < since:
                    continue  # written before the source was connected (an old review edited or answered)
                messages.append(review.review)
                if review.reply is not None:
                    messages.append(review.reply)
                    pending.pop(review.review_id, None)
                    if sent is not None:
                        sent.add(review.reply.platform_id)
                elif review.reply_pending:
                    pending[review.review_id] = iso(review.created)
            _note_pending(cursor, pending)
            done = reached or not listing.next_token or not listing.items
            if done:
                if top.time is not None:
                    same = top.time == floor  # reviews at the old mark's very time: keep the ids read before
                    cursor[name], cursor[ids_key] = iso(top.time), _dump_ids(top.ids | floor_ids if same else top.ids)
                elif name not in cursor:
                    cursor[name], cursor[ids_key] = cursor[SINCE], "[]"
                for key in (token_key, top_key, top_ids_key):
                    cursor.pop(key, None)
            else:
                cursor[token_key] = str(listing.next_token)
                if top.time is not None:
                    cursor[top_key], cursor[top_ids_key] = iso(top.time), _dump_ids(top.ids)
            yield Page(messages=messages, cursor=dict(cursor), skipped=skipped)
            if feed.after_page is not None:
                feed.after_page(listing)
            token = listing.next_token
        if not (done and resumed):
            break  # a finished walk that was resumed is followed by a fresh one, budget allowing


async def sweep(
    feed: Feed,
    ctx: PollContext,
    cursor: dict[str, str],
    name: str,
    *,
    stop: datetime | None = None,
    margin: timedelta = CLOCK_MARGIN,
    sent: frozenset[str] | set[str] = frozenset(),
) -> AsyncIterator[Page]:
    """The brand's replies to reviews already read, over the list down to ``stop`` (see the module
    doc). Replies in ``sent`` (just yielded by the walk) are not sent again."""
    since = window_start(ctx, cursor)
    token_key, started_key, floor_key = f"{name}_token", f"{name}_started", f"{name}_floor"
    token = cursor.get(token_key)
    if token is None:
        cursor[started_key] = iso(ctx.now)
    started = _time(cursor.get(started_key)) or ctx.now
    floor = _time(cursor.get(floor_key)) or started
    budget = ctx.max_pages
    while budget > 0:
        budget -= 1
        try:
            listing = await feed.fetch(token)
        except StaleToken:
            if token is None:
                raise
            cursor.pop(token_key, None)
            token = None  # keep the sweep's start: anything newer is still caught
            continue
        parsed, skipped = _parse_page(feed, ctx, listing, name)
        messages: list[Message] = []
        reached = False
        pending = _pending(cursor)
        for review in parsed:
            if stop is not None and review.mark < stop:
                reached = True
                continue
            if since is not None and review.created < since:
                continue
            reply = review.reply
            if reply is None:
                if review.reply_pending:
                    pending[review.review_id] = iso(review.created)
                continue
            was_pending = pending.pop(review.review_id, None) is not None
            if reply.platform_id not in sent and (was_pending or reply.created_at >= floor - margin):
                messages.append(reply)
        done = reached or not listing.next_token or not listing.items
        if done:
            cursor[floor_key] = iso(started)
            cursor.pop(started_key, None)
            cursor.pop(token_key, None)
            _note_pending(cursor, pending, stop=stop)
        else:
            cursor[token_key] = str(listing.next_token)
            _note_pending(cursor, pending)
        yield Page(messages=messages, cursor=dict(cursor), skipped=skipped)
        if feed.after_page is not None:
            feed.after_page(listing)
        if done:
            break
        token = listing.next_token
