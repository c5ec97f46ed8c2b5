"""The domain's concepts, one pydantic model each.

Platform payloads are parsed into these at the edge (the connectors) and never
travel further. Nothing here talks to AWS or reads the clock.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

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
    ANSWERED = "answered"  # the brand replied publicly
    RESOLVED = "resolved"  # handled elsewhere (phone, e-mail, private message), recorded through the API


class Resolution(StrEnum):
    """Where a message was handled when the brand did not answer it publicly."""

    PHONE = "phone"
    EMAIL = "email"
    PRIVATE_MESSAGE = "private_message"
    IN_PERSON = "in_person"
    NO_REPLY_NEEDED = "no_reply_needed"
    OTHER = "other"


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
    parent_by_brand: Annotated[
        bool | None,
        Field(
            description="Whether the parent was written by the brand's own account, when the platform says"
            " (None: not known). A parent by someone else is never the brand's reply, so nothing waits for it."
        ),
    ] = None
    author_id: Annotated[str, Field(description="The platform's id of the author")]
    author_handle: Annotated[str, Field(description="The author's handle, e.g. @alice@example.social")]
    text: Annotated[str, Field(description="Plain text of the message")]
    permalink: Annotated[str | None, Field(description="Public URL of the message")] = None
    created_at: Annotated[UtcDatetime, Field(description="When the author posted it (UTC)")]
    kind: Annotated[MessageKind, Field(description="mention, comment, dm or review")]
    from_brand: Annotated[bool, Field(description="True when the brand itself wrote it (a reply)")] = False
    rating: Annotated[int | None, Field(ge=1, le=5, description="A review's star rating, 1-5")] = None
    imported: Annotated[
        bool,
        Field(description="Loaded from history by `replywatch import`: counted in statistics, never alerted on"),
    ] = False

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


class Priority(StrEnum):
    """A negative message, a complaint or a brand keyword ("refund", "lawyer") is HIGH."""

    NORMAL = "normal"
    HIGH = "high"


class Wait(StrEnum):
    """Which promise a customer's message waits on."""

    FIRST = "first"  # a new conversation: the first-response target
    NEXT = "next"  # the customer wrote again after the brand's reply: the next-response target


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-(([01][0-9]|2[0-3]):([0-5][0-9])|24:00)$")


def _spans(value: list[str]) -> list[str]:
    minutes = []
    for span in value:
        match = _SPAN.match(span)
        if not match:
            raise ValueError(f"{span!r}: opening hours are written HH:MM-HH:MM, e.g. 09:00-17:30")
        start = int(match.group(1)) * 60 + int(match.group(2))
        end = 24 * 60 if match.group(3) == "24:00" else int(match.group(4)) * 60 + int(match.group(5))
        if end <= start:
            raise ValueError(f"{span!r}: closes before it opens (split a span that crosses midnight in two days)")
        minutes.append((start, end))
    minutes.sort()
    for (_, end), (start, _) in pairwise(minutes):
        if start < end:
            raise ValueError("opening hours of one day overlap")
    return value


Spans = Annotated[list[str], AfterValidator(_spans)]


def _default_week() -> dict[str, list[str]]:
    return {day: ["09:00-17:00"] for day in WEEKDAYS[:5]}


class BusinessHours(BaseModel):
    """When the brand's team answers, in the brand's time zone (``Brand.timezone``).

    Due times count only these hours: a message that arrives on Friday evening with a
    one-hour target is due one hour after opening on Monday (or Tuesday, if Monday is a
    public holiday)."""

    model_config = ConfigDict(frozen=True)

    weekly: Annotated[
        dict[str, Spans],
        Field(description="Opening hours per weekday (mon..sun), e.g. {'mon': ['09:00-12:00', '13:00-17:00']}"),
    ] = Field(default_factory=_default_week)
    holidays_country: Annotated[
        str | None, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166 country for public holidays, e.g. GB")
    ] = None
    holidays_subdivision: Annotated[
        str | None, Field(description="Subdivision for regional holidays, e.g. SCT (GB) or BY (DE)")
    ] = None
    closed_dates: Annotated[frozenset[date], Field(description="Other days the team is closed (company holidays)")] = (
        frozenset()
    )

    @field_validator("weekly")
    @classmethod
    def _weekdays(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"weekdays are mon, tue, wed, thu, fri, sat, sun; not {sorted(unknown)}")
        if not any(value.values()):
            raise ValueError("business hours must open on at least one weekday")
        return value

    @model_validator(mode="after")
    def _known_calendar(self) -> BusinessHours:
        if self.holidays_subdivision and not self.holidays_country:
            raise ValueError("holidays_subdivision needs holidays_country")
        return self


class SlaOverride(BaseModel):
    """A different target for one channel (platform), one priority, or both."""

    model_config = ConfigDict(frozen=True)

    channel: Annotated[str | None, Field(description="Platform, e.g. 'x'; None: every channel")] = None
    priority: Annotated[Priority | None, Field(description="None: every priority")] = None
    first_response_seconds: Annotated[int | None, Field(gt=0, le=30 * 86400)] = None
    next_response_seconds: Annotated[int | None, Field(gt=0, le=30 * 86400)] = None

    @model_validator(mode="after")
    def _says_something(self) -> SlaOverride:
        if self.channel is None and self.priority is None:
            raise ValueError("an override names a channel, a priority or both")
        if self.first_response_seconds is None and self.next_response_seconds is None:
            raise ValueError("an override sets first_response_seconds, next_response_seconds or both")
        return self

    def matches(self, channel: str, priority: Priority) -> bool:
        return self.channel in (None, channel) and self.priority in (None, priority)


class SlaPolicy(BaseModel):
    """How fast a brand promises to answer, and whom to tell as the promise comes due."""

    model_config = ConfigDict(frozen=True)

    first_response_seconds: Annotated[
        int, Field(gt=0, le=30 * 86400, description="Target for the brand's first reply, in seconds")
    ]
    next_response_seconds: Annotated[
        int | None,
        Field(gt=0, le=30 * 86400, description="Target when the customer writes again after a reply; None: same"),
    ] = None
    business_hours: Annotated[BusinessHours | None, Field(description="None: the clock runs around the clock")] = None
    warn_before_seconds: Annotated[
        int | None,
        Field(ge=0, le=30 * 86400, description="Warn this long before due; None: a fifth of the target; 0: never"),
    ] = None
    escalate_at: Annotated[
        tuple[float, ...],
        Field(description="Escalation levels, as multiples of the target: (2.0,) escalates once at twice the target"),
    ] = (2.0,)
    overrides: Annotated[
        tuple[SlaOverride, ...], Field(description="Most specific wins: channel and priority, then either")
    ] = ()

    @field_validator("escalate_at")
    @classmethod
    def _rising(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not all(math.isfinite(multiple) for multiple in value) or any(multiple > 100 for multiple in value):
            # Infinity is stored as null and would break reading the brand back; 1e8 overflows the clock.
            raise ValueError("escalation multiples are at most 100 times the target")
        if any(multiple <= 1 for multiple in value) or list(value) != sorted(set(value)):
            raise ValueError("escalation multiples are above 1 and rising, e.g. [2, 4]")
        if len(value) > 5:
            raise ValueError("at most 5 escalation levels")
        return value

    def target_seconds(self, channel: str, priority: Priority, wait: Wait = Wait.FIRST) -> int:
        """The target for a message: the most specific override that sets it, else the policy's."""
        ranked = sorted(
            (o for o in self.overrides if o.matches(channel, priority)),
            key=lambda o: (o.channel is not None) + (o.priority is not None),
            reverse=True,
        )
        for override in ranked:
            if wait is Wait.NEXT and override.next_response_seconds is not None:
                return override.next_response_seconds
            if override.first_response_seconds is not None and (
                wait is Wait.FIRST or self.next_response_seconds is None
            ):
                return override.first_response_seconds
        if wait is Wait.NEXT and self.next_response_seconds is not None:
            return self.next_response_seconds
        return self.first_response_seconds

    def warn_before(self, target_seconds: int) -> int:
        return target_seconds // 5 if self.warn_before_seconds is None else self.warn_before_seconds


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone, e.g. Europe/London") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_timezone)]


class StormControl(BaseModel):
    """More than ``limit`` message alerts within ``window_minutes`` become one summary."""

    model_config = ConfigDict(frozen=True)

    limit: Annotated[int, Field(ge=1, le=1000)] = 10
    window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15


class Brand(BaseModel):
    model_config = ConfigDict(frozen=True)

    brand_id: Annotated[Slug, Field(description="Short id used in URLs, e.g. 'acme'")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    sla: Annotated[SlaPolicy | None, Field(description="None: the stack's default SLA")] = None
    enabled: bool = True
    timezone: Annotated[
        TimeZoneName, Field(description="IANA zone for business hours, quiet hours and the daily digest")
    ] = "UTC"
    priority_keywords: Annotated[
        tuple[str, ...], Field(description="Words that make a message HIGH priority, e.g. refund, cancel, lawyer")
    ] = ()
    storm: StormControl = Field(default_factory=StormControl)
    digest_hour: Annotated[int, Field(ge=0, le=23, description="Local hour the daily digest goes out")] = 8

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


class AlertKind(StrEnum):
    WARNING = "warning"  # the due time is near
    OVERDUE = "overdue"  # the due time has passed: the breach alert
    ESCALATION = "escalation"  # still unanswered at a multiple of the target (levels 1, 2, ...)
    NEGATIVE = "negative"
    SUMMARY = "summary"  # storm control: many alerts in a short window, told once
    DIGEST = "digest"  # the daily email
    SOURCE = "source"  # a connected account needs attention: the brand's admins take these


MESSAGE_ALERTS = frozenset({AlertKind.WARNING, AlertKind.OVERDUE, AlertKind.ESCALATION, AlertKind.NEGATIVE})
_KIND_NAME = re.compile(r"^(warning|overdue|negative|summary|digest|source|escalation(-[1-5])?)$")


def _kinds(value: frozenset[str]) -> frozenset[str]:
    for name in value:
        if not _KIND_NAME.match(name):
            raise ValueError(
                f"{name!r}: alert kinds are warning, overdue, escalation (every level) or escalation-N,"
                " negative, summary, digest and source"
            )
    return value


AlertKinds = Annotated[frozenset[str], AfterValidator(_kinds)]


def _quiet(value: str) -> str:
    match = re.match(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$", value)
    if not match or match.group(1, 2) == match.group(3, 4):
        raise ValueError("quiet hours are written HH:MM-HH:MM, e.g. 22:00-07:00")
    return value


class Recipient(BaseModel):
    """Someone who receives alerts: which kinds, on which channels, and when not to text them."""

    model_config = ConfigDict(frozen=True)

    brand_id: Slug
    recipient_id: Slug
    name: str
    email: Annotated[str | None, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None
    phone: Annotated[str | None, Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")] = None
    alert_kinds: Annotated[
        AlertKinds,
        Field(description="What they receive: warning, overdue, escalation[-N], negative, summary, digest, source"),
    ] = frozenset({"overdue", "negative"})
    sms_kinds: Annotated[
        AlertKinds | None, Field(description="Kinds also sent by SMS (None: all they receive but the digest)")
    ] = None
    quiet_hours: Annotated[
        str | None, Field(description="No SMS between these local times, e.g. 22:00-07:00; held until they end")
    ] = None
    timezone: Annotated[TimeZoneName | None, Field(description="For quiet hours; None: the brand's")] = None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        return None if value is None else _quiet(value)

    @property
    def channels(self) -> frozenset[Channel]:
        found = set()
        if self.email:
            found.add(Channel.EMAIL)
        if self.phone:
            found.add(Channel.SMS)
        return frozenset(found)

    def wants(self, kind: AlertKind, level: int = 0) -> frozenset[Channel]:
        """The channels this recipient takes an alert of ``kind`` (an escalation's ``level``) on."""
        names = {kind.value} if kind is not AlertKind.ESCALATION else {"escalation", f"escalation-{level}"}
        if not names & self.alert_kinds:
            return frozenset()
        channels = set()
        if self.email:
            channels.add(Channel.EMAIL)
        if self.phone and kind is not AlertKind.DIGEST:
            sms = self.sms_kinds if self.sms_kinds is not None else self.alert_kinds
            if names & sms:
                channels.add(Channel.SMS)
        return frozenset(channels)


class Intent(StrEnum):
    COMPLAINT = "complaint"
    QUESTION = "question"
    PRAISE = "praise"
    OTHER = "other"


class Classification(BaseModel):
    model_config = ConfigDict(frozen=True)

    sentiment: Sentiment
    score: Annotated[float, Field(ge=-1.0, le=1.0, description="-1 most negative .. 1 most positive")]
    intent: Intent = Intent.OTHER
    language: Annotated[str | None, Field(description="ISO 639-1 code when the provider detected it")] = None


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
    intent: Intent | None = None
    priority: Priority | None = None
    wait: Wait | None = None  # None on messages stored before waits were told apart: FIRST
    target_seconds: int | None = None  # the SLA target this message was given
    alert_at: UtcDatetime | None = None  # when its next SLA alert (warning, breach, escalation) is due
    alert_stage: int | None = None  # which: see sla.Stage
    resolved_at: UtcDatetime | None = None  # handled elsewhere: see Resolution
    resolution: Resolution | None = None


class ApiKey(BaseModel):
    """A read-only key for dashboards. The table keeps a SHA-256 digest of its secret part,
    never the key itself: the key is shown once, when it is created."""

    model_config = ConfigDict(frozen=True)

    key_id: Annotated[str, Field(pattern=r"^[a-z0-9]{12}$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    brands: Annotated[frozenset[Slug], Field(min_length=1, description="The brands it may read")]
    secret_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    created_at: UtcDatetime
