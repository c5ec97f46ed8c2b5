"""Mastodon: mentions (and direct messages) to the brand's account, and its replies.

Inbound: ``GET /api/v1/notifications?types[]=mention`` paged forwards with
``min_id`` (each page is the items immediately newer than the cursor), so no
notification is skipped however many arrive between polls. The brand's replies:
its own statuses (``GET /api/v1/accounts/{id}/statuses``) that carry an
``in_reply_to_id``. The next request is built from our own parameters (servers
differ in whether their Link headers keep ``types[]``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from replywatch.connectors.base import Page, PollContext, RateLimited
from replywatch.connectors.http import exhausted, get_json, id_order, json_body, retry_at
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

PAGE_LIMIT = 40  # Mastodon's maximum for both endpoints
NOTIFICATIONS = "notifications"
STATUSES = "statuses"
ACCOUNT = "account_id"
FIRST = "0"  # min_id=0: start from the oldest item the server keeps


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

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        cursor = dict(ctx.cursor)
        base = ctx.source.base_url
        if ACCOUNT not in cursor:
            response = await get_json(
                ctx.client, f"{base}/api/v1/accounts/verify_credentials", token=ctx.token, now=ctx.now
            )
            cursor[ACCOUNT] = str(json_body(response)["id"])
        streams: list[
            tuple[str, str, list[tuple[str, str]], Callable[[dict[str, Any], PollContext], Message | None]]
        ] = [
            (NOTIFICATIONS, f"{base}/api/v1/notifications", [("types[]", "mention")], self._inbound),
            (
                STATUSES,
                f"{base}/api/v1/accounts/{cursor[ACCOUNT]}/statuses",
                [("exclude_reblogs", "true")],
                self._reply,
            ),
        ]
        budget = ctx.max_pages
        for name, url, params, parse in streams:
            while budget > 0:
                budget -= 1
                min_id = cursor.get(name, FIRST)
                response = await get_json(
                    ctx.client,
                    url,
                    token=ctx.token,
                    now=ctx.now,
                    params=[*params, ("min_id", min_id), ("limit", str(PAGE_LIMIT))],
                )
                items = json_body(response)
                if not isinstance(items, list):
                    logger.warning("mastodon page is not a list", extra={"source_id": ctx.source.source_id})
                    items = []
                ids = [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]
                messages, skipped = [], 0
                for item in items:
                    try:
                        message = parse(item, ctx)
                    except (ValidationError, KeyError, TypeError, ValueError):
                        skipped += 1
                        logger.warning(
                            "skipped malformed mastodon item",
                            extra={"source_id": ctx.source.source_id, "item_id": _item_id(item), "stream": name},
                        )
                        continue
                    if message is not None:
                        messages.append(message)
                if ids:
                    cursor[name] = max(ids, key=id_order)
                yield Page(messages=messages, cursor=dict(cursor), skipped=skipped)
                if exhausted(response.headers):
                    raise RateLimited(retry_at(response.headers, ctx.now))
                if not ids or len(items) < PAGE_LIMIT:
                    break

    def _inbound(self, item: dict[str, Any], ctx: PollContext) -> Message | None:
        notification = _Notification.model_validate(item)
        if notification.type != "mention" or notification.status is None:
            return None
        status = notification.status
        return self._message(status, ctx, from_brand=False)

    def _reply(self, item: dict[str, Any], ctx: PollContext) -> Message | None:
        status = _Status.model_validate(item)
        if status.in_reply_to_id is None:
            return None
        return self._message(status, ctx, from_brand=True)

    def _message(self, status: _Status, ctx: PollContext, *, from_brand: bool) -> Message:
        return Message(
            brand=ctx.source.brand_id,
            platform=self.platform,
            source_id=ctx.source.source_id,
            platform_id=status.id,
            network=urlsplit(ctx.source.base_url).netloc,
            parent_id=status.in_reply_to_id,
            author_id=status.account.id,
            author_handle=f"@{status.account.acct}",
            text=html_to_text(status.content),
            permalink=status.url or status.uri,
            created_at=status.created_at,
            kind=MessageKind.DM if status.visibility == "direct" else MessageKind.MENTION,
            from_brand=from_brand,
        )


def _item_id(item: object) -> str | None:
    if isinstance(item, dict):
        value = item.get("id")
        return str(value) if value is not None else None
    return None
