"""The one interface every platform connector implements, and what it is given."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, Protocol

import httpx

from replywatch.models import Message, Source, Usage


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


class BudgetExhausted(RateLimited):
    """The source's metered allowance for this period is spent: poll again when it resets."""


class PartlyFailed(ConnectorError):
    """Raised after every other stream was read: one stream (a subreddit the brand named, say)
    failed. The source counts as failing, and its admins hear of it, but it is not polled less
    often: what it does read goes on being read every run."""


class AuthFailed(ConnectorError):
    """The token was refused (or the secret is unusable): someone has to reconnect the source."""


# --- the secret ---------------------------------------------------------------------------------


def bearer_token(secret: str) -> str:
    """The access token in a secret that is either the bare token or JSON with ``access_token``."""
    text = secret.strip()
    if text.startswith("{"):
        fields = credentials(text)
        text = fields.get("access_token") or fields.get("token") or ""
    if not text:
        raise AuthFailed("the secret holds no token")
    return text


def credentials(secret: str, *required: str) -> dict[str, str]:
    """A JSON secret's fields; AuthFailed (reconnect) when it is not JSON or lacks one of ``required``."""
    try:
        document = json.loads(secret)
    except ValueError:
        raise AuthFailed("the secret is not JSON") from None
    if not isinstance(document, dict):
        raise AuthFailed("the secret is not a JSON object")
    missing = [name for name in required if not document.get(name)]
    if missing:
        raise AuthFailed(f"the secret lacks {', '.join(missing)}")
    return {str(key): str(value) for key, value in document.items() if value is not None}


# --- sessions -----------------------------------------------------------------------------------


class SessionCache:
    """Short-lived platform sessions (OAuth access tokens, Bluesky JWTs) kept per container.

    Keyed by source and a digest of the secret, so a rotated secret never reuses an old
    session. Never persisted: sessions are credentials, and credentials live in Secrets Manager.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[dict[str, str], datetime]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(source: Source, secret: str) -> str:
        digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
        return f"{source.brand_id}#{source.source_id}#{digest}"

    def get(self, key: str, now: datetime) -> dict[str, str] | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[1] <= now:
            return None
        return dict(entry[0])

    def put(self, key: str, session: dict[str, str], expires_at: datetime) -> None:
        with self._lock:
            self._entries[key] = (dict(session), expires_at)

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


SESSIONS = SessionCache()


# --- metered allowances -------------------------------------------------------------------------


def monthly_utc(now: datetime) -> tuple[str, datetime]:
    """Calendar months in UTC (X's billing month)."""
    now = now.astimezone(UTC)
    following = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return f"{now:%Y-%m}", following


# Google resets YouTube quotas at midnight Pacific time. A fixed UTC-8 day ends at or after that
# midnight all year (an hour after it in summer), so the budget never resets early.
_PACIFIC_STANDARD = timezone(timedelta(hours=-8))


def daily_pacific(now: datetime) -> tuple[str, datetime]:
    local = now.astimezone(_PACIFIC_STANDARD)
    midnight = datetime(local.year, local.month, local.day, tzinfo=_PACIFIC_STANDARD)
    return f"{local:%Y-%m-%d}", (midnight + timedelta(days=1)).astimezone(UTC)


@dataclass(frozen=True)
class BudgetRule:
    """How a platform meters a source: ``option`` in the source's options sets the limit."""

    unit: str  # what is counted, for people: "posts read", "quota units"
    option: str
    default_limit: int
    period: Callable[[datetime], tuple[str, datetime]]
    warn_at: float = 0.8  # the share of the budget at which the brand's admins are told


@dataclass
class Meter:
    """A source's allowance for the current period. Connectors call ``require`` before spending
    and ``spend`` after; the poller saves ``usage`` with every page."""

    rule: BudgetRule
    period: str
    resets_at: datetime
    limit: int
    used: int = 0

    @classmethod
    def start(cls, rule: BudgetRule, source: Source, previous: Usage | None, now: datetime) -> Meter:
        period, resets_at = rule.period(now)
        try:
            limit = int(source.options.get(rule.option, rule.default_limit))
        except ValueError:
            limit = rule.default_limit
        used = previous.used if previous is not None and previous.period == period else 0
        return cls(rule=rule, period=period, resets_at=resets_at, limit=max(0, limit), used=used)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def require(self, units: int = 1) -> None:
        if self.remaining < units:
            raise BudgetExhausted(self.resets_at)

    def spend(self, units: int) -> None:
        self.used += max(0, units)

    @property
    def usage(self) -> Usage:
        return Usage(period=self.period, used=self.used, limit=self.limit)


# --- the interface ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollContext:
    source: Source
    secret: str  # the text of the source's secret: a bare token or JSON credentials
    client: httpx.AsyncClient
    now: datetime
    cursor: dict[str, str] = field(default_factory=dict)
    max_pages: int = 10  # per stream
    backfill_from: datetime | None = None  # a new source reads back to here, no further
    meter: Meter | None = None  # set when the connector has a ``budget``
    sessions: SessionCache = SESSIONS

    def option(self, name: str, default: str | None = None) -> str | None:
        value = self.source.options.get(name)
        return value if value else default

    @property
    def session_key(self) -> str:
        return SessionCache.key(self.source, self.secret)


class Connector(Protocol):
    platform: ClassVar[str]
    default_base_url: ClassVar[str]
    budget: ClassVar[BudgetRule | None]

    def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        """Yield pages; each page's cursor covers everything stored up to it."""
        ...


JSONObject = dict[str, Any]
