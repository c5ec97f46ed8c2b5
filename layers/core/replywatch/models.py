"""The domain's concepts, one pydantic model each.

Platform payloads are parsed into these at the edge (the connectors) and never
travel further. Nothing here talks to AWS or reads the clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"  # brand, source and recipient ids
_SLUG = re.compile(SLUG_PATTERN)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit")
    return value


Slug = Annotated[str, AfterValidator(_slug)]


class MessageKind(StrEnum):
    MENTION = "mention"
    COMMENT = "comment"
    DM = "dm"
    REVIEW = "review"


class Sentiment(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class MessageStatus(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    ANSWERED = "answered"


class Message(BaseModel):
    """A message normalised from any platform: a customer's or the brand's own."""

    model_config = ConfigDict(frozen=True)

    brand: Annotated[Slug, Field(description="The brand this message was polled for")]
    platform: Annotated[str, Field(description="Platform name, e.g. 'mastodon'")]
    source_id: Annotated[Slug, Field(description="The source (connected account) it came from")]
    platform_id: Annotated[str, Field(min_length=1, description="The platform's own id for the message")]
    network: Annotated[
        str | None,
        Field(description="For federated platforms, the server whose ids these are (e.g. mastodon.social)"),
    ] = None
    thread_id: Annotated[str | None, Field(description="The conversation/thread root id, when known")] = None
    parent_id: Annotated[str | None, Field(description="Platform id of the message this one replies to")] = None
    parent_author_id: Annotated[
        str | None,
        Field(description="Platform id of the parent's author, if known: a follow-up replies to its own"),
    ] = None
    author_id: Annotated[str, Field(description="The platform's id of the author")]
    author_handle: Annotated[str, Field(description="The author's handle, e.g. @alice@example.social")]
    text: Annotated[str, Field(description="Plain text of the message")]
    permalink: Annotated[str | None, Field(description="Public URL of the message")] = None
    created_at: Annotated[UtcDatetime, Field(description="When the author posted it (UTC)")]
    kind: Annotated[MessageKind, Field(description="mention, comment, dm or review")]
    from_brand: Annotated[bool, Field(description="True when the brand itself wrote it (a reply)")] = False
    rating: Annotated[int | None, Field(ge=1, le=5, description="A review's star rating, 1-5")] = None

    @property
    def key(self) -> str:
        """The idempotency key: one item per brand and (platform, platform id)."""
        return message_key(self.brand, self.platform, self.platform_id, self.network)

    @property
    def parent_key(self) -> str | None:
        if not self.parent_id:
            return None
        return message_key(self.brand, self.platform, self.parent_id, self.network)


def message_key(brand: str, platform: str, platform_id: str, network: str | None = None) -> str:
    """``acme#mastodon@mastodon.social#1130…``: scoped by brand (two brands may be mentioned
    in one post) and, on federated platforms, by server (ids are only unique per server)."""
    where = f"{platform}@{network}" if network else platform
    return f"{brand}#{where}#{platform_id}"


class SlaPolicy(BaseModel):
    """How fast a brand promises to answer. Business hours arrive in a later release."""

    model_config = ConfigDict(frozen=True)

    first_response_seconds: Annotated[
        int, Field(gt=0, le=30 * 86400, description="Target for the brand's first reply, in seconds")
    ]


class Brand(BaseModel):
    model_config = ConfigDict(frozen=True)

    brand_id: Annotated[Slug, Field(description="Short id used in URLs, e.g. 'acme'")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    sla: Annotated[SlaPolicy | None, Field(description="None: the stack's default SLA")] = None
    enabled: bool = True

    def policy(self, default: SlaPolicy) -> SlaPolicy:
        return self.sla or default


class Source(BaseModel):
    """A connected account on one platform, polled on a schedule."""

    model_config = ConfigDict(frozen=True)

    brand_id: Slug
    source_id: Slug
    platform: Annotated[str, Field(description="Connector name, e.g. 'mastodon'")]
    base_url: Annotated[str, Field(description="API base URL, e.g. the Mastodon instance")]
    token_secret: Annotated[
        str, Field(min_length=1, description="Name of the Secrets Manager secret holding the access token")
    ]
    enabled: bool = True
    backfill_hours: Annotated[
        int, Field(ge=0, le=30 * 24, description="How far back a new source reads messages that already exist")
    ] = 24
    options: Annotated[
        dict[str, str],
        Field(description="Platform settings, e.g. page_id, channel_id, subreddits, monthly_read_budget"),
    ] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not _safe_url(value):
            raise ValueError("base_url must be an https:// URL")
        return value.rstrip("/")

    @field_validator("options")
    @classmethod
    def _option_urls(cls, value: dict[str, str]) -> dict[str, str]:
        # Credentials travel to some of these (an OAuth token_url): the same rule as base_url.
        for name, url in value.items():
            if name.endswith("_url") and not _safe_url(url):
                raise ValueError(f"option {name} must be an https:// URL")
        return value


def _safe_url(value: str) -> bool:
    """Tokens travel to these URLs: plain http only to this machine (local fakes and tests)."""
    return value.startswith(("https://", "http://127.0.0.1", "http://localhost", "http://[::1]"))


class Usage(BaseModel):
    """A metered platform allowance (X posts read a month, YouTube quota units a day)."""

    period: Annotated[str, Field(description="The budget period this counts, e.g. 2026-11 or 2026-11-23")]
    used: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=0)]


class Health(StrEnum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"
    BUDGET_EXHAUSTED = "budget_exhausted"
    AUTH_FAILED = "auth_failed"
    ERROR = "error"


class SourceState(BaseModel):
    """What the poller remembers about a source between runs."""

    cursor: dict[str, str] = Field(default_factory=dict, description="Connector-defined high-water marks")
    resume_after: UtcDatetime | None = Field(default=None, description="Rate-limited: do not poll before this")
    health: Health = Field(default=Health.OK, description="How the last poll went")
    last_polled_at: UtcDatetime | None = None
    last_error: str | None = Field(default=None, description="Error class only; never a payload or token")
    watching_since: UtcDatetime | None = Field(default=None, description="First poll")
    last_ok_at: UtcDatetime | None = Field(default=None, description="Last poll that succeeded")
    failing_since: UtcDatetime | None = Field(default=None, description="First failed poll of the current run")
    last_inbound_at: UtcDatetime | None = Field(default=None, description="Last time a customer message arrived")
    usage: Usage | None = None
    notified: dict[str, str] = Field(
        default_factory=dict, description="Source alerts already sent: incident -> the incident's start"
    )


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Recipient(BaseModel):
    model_config = ConfigDict(frozen=True)

    brand_id: Slug
    recipient_id: Slug
    name: str
    email: Annotated[str | None, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None
    phone: Annotated[str | None, Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")] = None
    alert_kinds: frozenset[str] = frozenset({"overdue", "negative"})

    @property
    def channels(self) -> frozenset[Channel]:
        found = set()
        if self.email:
            found.add(Channel.EMAIL)
        if self.phone:
            found.add(Channel.SMS)
        return frozenset(found)


class AlertKind(StrEnum):
    OVERDUE = "overdue"
    NEGATIVE = "negative"
    SOURCE = "source"  # a connected account needs attention: the brand's admins take these


class Classification(BaseModel):
    model_config = ConfigDict(frozen=True)

    sentiment: Sentiment
    score: Annotated[float, Field(ge=-1.0, le=1.0, description="-1 most negative .. 1 most positive")]


class MessageRecord(Message):
    """A stored message with what the pipeline has learnt about it."""

    counted: bool = False  # a conversation's opening message, counted in the statistics
    opener_key: str | None = None  # a follow-up: the key of the conversation's opening message
    status: MessageStatus | None = None
    due_at: UtcDatetime | None = None
    sentiment: Sentiment | None = None
    sentiment_score: float | None = None
    first_response_at: UtcDatetime | None = None
    first_response_seconds: int | None = None
    responded_by: str | None = None
    overdue_at: UtcDatetime | None = None
