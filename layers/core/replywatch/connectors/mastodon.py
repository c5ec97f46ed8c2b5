"""Mastodon: mentions (and direct messages) to the brand's account, and its replies.

Inbound: ``GET /api/v1/notifications?types[]=mention`` paged forwards with
``min_id`` (each page is the items immediately newer than the cursor), so no
notification is skipped however many arrive between polls. A new source starts
at the newest page and reads backwards (``max_id``) through its backfill window
only, instead of walking the account's whole history. The brand's replies:
its own statuses (``GET /api/v1/accounts/{id}/statuses``) that carry an
``in_reply_to_id``. The next request is built from our own parameters (servers
differ in whether their Link headers keep ``types[]``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from replywatch.connectors.base import BudgetRule, ConnectorError, Page, PollContext, RateLimited, bearer_token
from replywatch.connectors.http import exhausted, get_json, id_order, json_body, retry_at
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

PAGE_LIMIT = 40  # Mastodon's maximum for both endpoints
NOTIFICATIONS = "notifications"
STATUSES = "statuses"
ACCOUNT = "account_id"
FIRST = "0"  # min_id=0: from the oldest item the server keeps
BACKFILL = "_backfill_max_id"  # a new source's read backwards through its window, still under way


class _Account(BaseModel):
    id: str
    acct: str


class _Status(BaseModel):
    id: str
    created_at: datetime
    content: str = ""
    url: str | None = None
    uri: str | None = None
    visibility: str = "public"
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    account: _Account


class _Notification(BaseModel):
    id: str
    type: str
    status: _Status | None = None


class _TextExtractor(HTMLParser):
    _BREAKS: ClassVar[frozenset[str]] = frozenset({"br", "p"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS and self.parts:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return "".join(extractor.parts).strip()


class MastodonConnector:
    platform: ClassVar[str] = "mastodon"
    default_base_url: ClassVar[str] = ""  # every instance is its own: the source names it
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        cursor = dict(ctx.cursor)
        base = ctx.source.base_url
        if ACCOUNT not in cursor:
            response = await get_json(
                ctx.client, f"{base}/api/v1/accounts/verify_credentials", token=bearer_token(ctx.secret), now=ctx.now
            )
            account = json_body(response)
            if not isinstance(account, dict) or not account.get("id"):
                raise ConnectorError("verify_credentials answered without an account id")
            cursor[ACCOUNT] = str(account["id"])
        own = cursor[ACCOUNT]
        streams: list[tuple[str, str, list[tuple[str, str]], _Parser]] = [
            (
                NOTIFICATIONS,
                f"{base}/api/v1/notifications",
                # 4.3+ filters private mentions from strangers by default: a customer's first DM
                [("types[]", "mention"), ("include_filtered", "true")],
                partial(self._inbound, own=own),
            ),
            (
                STATUSES,
                f"{base}/api/v1/accounts/{cursor[ACCOUNT]}/statuses",
                [("exclude_reblogs", "true")],
                partial(self._reply, own=own),
            ),
        ]
        for stream in streams:
            async for page in self._stream(ctx, cursor, *stream):
                yield page

    async def _stream(
        self,
        ctx: PollContext,
        cursor: dict[str, str],
        name: str,
        url: str,
        params: list[tuple[str, str]],
        parse: _Parser,
    ) -> AsyncIterator[Page]:
        """One stream, within its own page budget: first the newest page (first poll) or every
        page after the cursor (later polls), then the backfill window, read backwards."""
        budget = ctx.max_pages
        backfill = name + BACKFILL
        if name not in cursor:
            fetched = await self._fetch(
                ctx, url, [*params, ("limit", str(PAGE_LIMIT))], parse, name, window=ctx.backfill_from
            )
            budget -= 1
            cursor[name] = max(fetched.ids, key=id_order) if fetched.ids else FIRST
            if fetched.full and not fetched.reached_window_start:
                cursor[backfill] = min(fetched.ids, key=id_order)
            yield fetched.page(cursor)
            fetched.raise_if_exhausted(ctx)
        else:
            while budget > 0:
                budget -= 1
                fetched = await self._fetch(
                    ctx, url, [*params, ("min_id", cursor[name]), ("limit", str(PAGE_LIMIT))], parse, name
                )
                if fetched.ids:
                    cursor[name] = max(fetched.ids, key=id_order)
                yield fetched.page(cursor)
                fetched.raise_if_exhausted(ctx)
                if not fetched.full:
                    break
        while budget > 0 and backfill in cursor:
            budget -= 1
            fetched = await self._fetch(
                ctx,
                url,
                [*params, ("max_id", cursor[backfill]), ("limit", str(PAGE_LIMIT))],
                parse,
                name,
                window=ctx.backfill_from,
            )
            if fetched.full and not fetched.reached_window_start:
                cursor[backfill] = min(fetched.ids, key=id_order)
            else:
                del cursor[backfill]
            yield fetched.page(cursor)
            fetched.raise_if_exhausted(ctx)

    async def _fetch(
        self,
        ctx: PollContext,
        url: str,
        params: list[tuple[str, str]],
        parse: _Parser,
        name: str,
        *,
        window: datetime | None = None,
    ) -> _Fetched:
        """One page. ``window``: reading back as a new source, keep only what was posted since then
        (reading forwards from the cursor keeps everything, however long the source was down)."""
        response = await get_json(ctx.client, url, token=bearer_token(ctx.secret), now=ctx.now, params=list(params))
        items = json_body(response)
        if not isinstance(items, list):
            logger.warning("mastodon page is not a list", extra={"source_id": ctx.source.source_id})
            items = []
        fetched = _Fetched(headers=response.headers, full=len(items) >= PAGE_LIMIT)
        for item in items:
            if isinstance(item, dict) and "id" in item:
                fetched.ids.append(str(item["id"]))
                posted = _posted_at(item)
                if posted is not None and window is not None and posted < window:
                    fetched.reached_window_start = True
                    continue  # older than the window a new source reads back
            try:
                message = parse(item, ctx)
            except (ValidationError, KeyError, TypeError, ValueError):
                fetched.skipped += 1
                logger.warning(
                    "skipped malformed mastodon item",
                    extra={"source_id": ctx.source.source_id, "item_id": _item_id(item), "stream": name},
                )
                continue
            if message is not None:
                fetched.messages.append(message)
        if not fetched.ids:
            fetched.full = False
        fetched.messages = await self._with_roots(ctx, fetched.messages)
        return fetched

    async def _with_roots(self, ctx: PollContext, messages: list[Message]) -> list[Message]:
        """Mastodon names no thread root. A mention answering one of the brand's statuses that
        is not itself a reply (an announcement) answers no reply of the brand's: its parent is
        the thread's root, so it is counted at once instead of waiting for a parent that is never
        stored. One GET per such status and page; on any error the mention is left as it was
        (it waits, at most the sweep's grace), and no more are read in that page."""
        roots: dict[str, bool] = {}
        failed = False
        placed = []
        for message in messages:
            parent = message.parent_id
            if parent is None or message.from_brand or message.parent_by_brand is not True:
                placed.append(message)
                continue
            if parent not in roots and not failed:
                found = await self._is_root(ctx, parent)
                failed = found is None
                roots[parent] = bool(found)
            placed.append(message.model_copy(update={"thread_id": parent}) if roots.get(parent) else message)
        return placed

    async def _is_root(self, ctx: PollContext, status_id: str) -> bool | None:
        """Whether the status is not a reply; None when it could not be read."""
        url = f"{ctx.source.base_url}/api/v1/statuses/{status_id}"
        try:
            body = json_body(await get_json(ctx.client, url, token=bearer_token(ctx.secret), now=ctx.now))
        except ConnectorError as error:
            logger.info(
                "could not read the status a mention answers",
                extra={"source_id": ctx.source.source_id, "item_id": status_id, "error": type(error).__name__},
            )
            return None
        return isinstance(body, dict) and str(body.get("id")) == status_id and body.get("in_reply_to_id") is None

    def _inbound(self, item: dict[str, Any], ctx: PollContext, *, own: str) -> Message | None:
        notification = _Notification.model_validate(item)
        if notification.type != "mention" or notification.status is None:
            return None
        status = notification.status
        return self._message(status, ctx, own, from_brand=False)

    def _reply(self, item: dict[str, Any], ctx: PollContext, *, own: str) -> Message | None:
        status = _Status.model_validate(item)
        if status.in_reply_to_id is None:
            return None
        return self._message(status, ctx, own, from_brand=True)

    def _message(self, status: _Status, ctx: PollContext, own: str, *, from_brand: bool) -> Message:
        """``own``: the brand's account id, to tell whether the status answers the brand."""
        parent_by = status.in_reply_to_account_id
        return Message(
            brand=ctx.source.brand_id,
            platform=self.platform,
            source_id=ctx.source.source_id,
            platform_id=status.id,
            network=urlsplit(ctx.source.base_url).netloc,
            parent_id=status.in_reply_to_id,
            parent_author_id=parent_by,
            parent_by_brand=parent_by == own if status.in_reply_to_id and parent_by else None,
            author_id=status.account.id,
            author_handle=f"@{status.account.acct}",
            text=html_to_text(status.content),
            permalink=status.url or status.uri,
            created_at=status.created_at,
            kind=MessageKind.DM if status.visibility == "direct" else MessageKind.MENTION,
            from_brand=from_brand,
        )


_Parser = Callable[[dict[str, Any], PollContext], Message | None]


@dataclass
class _Fetched:
    headers: Mapping[str, str]
    full: bool
    ids: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    skipped: int = 0
    reached_window_start: bool = False

    def page(self, cursor: dict[str, str]) -> Page:
        return Page(messages=self.messages, cursor=dict(cursor), skipped=self.skipped)

    def raise_if_exhausted(self, ctx: PollContext) -> None:
        if exhausted(self.headers):
            raise RateLimited(retry_at(self.headers, ctx.now))


def _posted_at(item: dict[str, Any]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(item.get("created_at")))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _item_id(item: object) -> str | None:
    if isinstance(item, dict):
        value = item.get("id")
        return str(value) if value is not None else None
    return None
