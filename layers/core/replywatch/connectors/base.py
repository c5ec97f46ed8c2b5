"""The one interface every platform connector implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

import httpx

from replywatch.models import Message, Source


@dataclass(frozen=True)
class Page:
    """One durable step of a poll: store ``messages``, then save ``cursor``."""

    messages: list[Message]
    cursor: dict[str, str]
    skipped: int = 0  # malformed items, logged by id and left out


class ConnectorError(Exception):
    """A source could not be polled; the cursor stays where it was."""


class RateLimited(ConnectorError):
    def __init__(self, retry_at: datetime) -> None:
        super().__init__(f"rate limited until {retry_at.isoformat()}")
        self.retry_at = retry_at


class AuthFailed(ConnectorError):
    """The token was refused: someone has to reconnect the source."""


@dataclass(frozen=True)
class PollContext:
    source: Source
    token: str
    client: httpx.AsyncClient
    now: datetime
    cursor: dict[str, str] = field(default_factory=dict)
    max_pages: int = 10  # per stream
    backfill_from: datetime | None = None  # a new source reads back to here, no further


class Connector(Protocol):
    platform: ClassVar[str]

    def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        """Yield pages oldest-first; each page's cursor covers everything up to it."""
        ...
