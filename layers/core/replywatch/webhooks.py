"""Meta webhooks (Facebook Pages and Instagram): the subscription handshake, signatures, and
events stored through the same idempotent write path as polled messages.

Meta retries a delivery until it gets a 200, so: a bad or missing signature is refused (401,
403) and nothing is read from it; events that are malformed or for no configured source are
logged by id and skipped, and the delivery still gets its 200; only a failure to store (or to
read the app secret), or an Instagram mention that Graph could not give for the moment, answers
503, for Meta to deliver again. Storing twice is harmless.

An entry is matched to the enabled sources whose ``page_id`` (object ``page``) or
``ig_user_id`` (object ``instagram``) option is the entry's id, one message per source.

What is stored, and what is left to the poller:

* Page comments (``feed``, item ``comment``, verb ``add``) and posts by others on the Page.
  A reply's parent is named; the parent's author comes from the stored parent, when it is
  stored, so a customer's reply to their own comment is known as a follow-up. The Page's own
  comment on its own post answers nobody and is skipped.
* Instagram comments (``comments``): parent is the comment replied to, or else the medium.
  Instagram sends no time with a comment: the entry's time (when Meta sent it) stands in.
* Messenger messages (``messaging``) are stored only when they name what they reply to
  (``reply_to``). A message without it does not say which message it follows, and the first
  write of a message is the one kept: storing it parentless would make every message of a
  burst a conversation of its own and leave the Page's answer unmatched. The poller reads
  them a poll later with their place in the conversation.
* Instagram @mentions (``mentions``) carry only a media id and a comment id: the comment is
  read from Graph with the account's token (``token_secret``) by
  :func:`replywatch.connectors.instagram.fetch_mention` and stored as a mention. The poller
  cannot find these (the medium is someone else's), so a mention Graph could not give for the
  moment (network, timeout, 5xx, a transient Graph error, or no time left for it in this
  delivery) makes the delivery answer 503 once everything else is stored: Meta delivers it
  again, and the mentions already stored are not read again. A mention that cannot be read at
  all (deleted, comments turned off), or while the account is throttled, its token refused or
  its secret unreadable, is logged by its ids and skipped with a 200: answering 503 would not
  bring it back, and Meta may disable an endpoint that keeps failing, for every account.
  Caption mentions (no comment id) are logged and left out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError

from replywatch.connectors.base import AuthFailed, ConnectorError, RateLimited
from replywatch.connectors.instagram import GraphUnavailable, fetch_mention
from replywatch.ingest import ingest
from replywatch.models import Message, MessageKind, Source, message_key
from replywatch.ports import MessageRepository, StateRepository

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-hub-signature-256"
OBJECTS = {"page": ("facebook", "page_id"), "instagram": ("instagram", "ig_user_id")}
VISITOR_POST_ITEMS = frozenset({"status", "post", "photo", "video"})
_EPOCH_MS_FROM = 10**11
_MALFORMED = (ValidationError, ValueError, TypeError, KeyError, AttributeError)
# Reading mentions from Graph: each request, and all of one delivery's. Meta waits seconds for the answer.
GRAPH_TIMEOUT = httpx.Timeout(3.0, connect=1.5)
MENTION_BUDGET_SECONDS = 5.0


# --- the app's credentials, the handshake and signatures ------------------------------------------


@dataclass(frozen=True)
class MetaApp:
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)

    @classmethod
    def from_secret(cls, text: str) -> MetaApp:
        """The Secrets Manager secret: ``{"app_secret": ..., "verify_token": ...}``."""
        document = json.loads(text)
        if not isinstance(document, dict) or not document.get("app_secret") or not document.get("verify_token"):
            raise ValueError("the Meta app secret needs app_secret and verify_token")
        return cls(app_secret=str(document["app_secret"]), verify_token=str(document["verify_token"]))


def verify_challenge(params: Mapping[str, str] | None, verify_token: str) -> str | None:
    """The GET handshake: the challenge to echo when Meta subscribes with our verify token."""
    params = params or {}
    if params.get("hub.mode") != "subscribe" or not verify_token:
        return None
    offered = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(offered.encode(), verify_token.encode()):
        return None
    return params.get("hub.challenge") or None


def verify_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>``: HMAC-SHA256 of the exact body with the app secret."""
    if not header or not app_secret:
        return False
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), digest.strip().lower().encode())


# --- events ----------------------------------------------------------------------------------------


class _Person(BaseModel):
    id: str = Field(min_length=1)
    name: str = ""
    username: str = ""


class _FeedValue(BaseModel):
    item: str
    verb: str
    post_id: str = Field(min_length=1)
    comment_id: str | None = None
    parent_id: str | None = None
    author: _Person = Field(alias="from")
    message: str = ""
    created_time: float
    post: dict[str, Any] | None = None


class _Reference(BaseModel):
    mid: str = Field(min_length=1)


class _DirectMessage(BaseModel):
    mid: str = Field(min_length=1)
    text: str = ""
    is_echo: bool = False
    reply_to: _Reference | None = None


class _Messaging(BaseModel):
    sender: _Person
    recipient: _Person
    timestamp: float
    message: _DirectMessage


class _Media(BaseModel):
    id: str = Field(min_length=1)


class _MentionValue(BaseModel):
    media_id: str = Field(pattern=r"^[0-9]+$")
    comment_id: str | None = Field(default=None, pattern=r"^[0-9]+$")  # None: a caption mention


class _InstagramComment(BaseModel):
    id: str = Field(min_length=1)
    text: str = ""
    author: _Person = Field(alias="from")
    media: _Media
    parent_id: str | None = None


ParentAuthor = Callable[[Source, str], str | None]  # a stored parent's author id, by platform id


@dataclass(frozen=True)
class Mention:
    """An Instagram @mention in a comment: the comment is read from Graph, with the source's token."""

    source: Source
    entry_id: str
    media_id: str
    comment_id: str

    @property
    def ids(self) -> dict[str, str]:
        return {
            "source_id": self.source.source_id,
            "entry_id": self.entry_id,
            "media_id": self.media_id,
            "comment_id": self.comment_id,
        }


@dataclass
class Parsed:
    messages: list[Message] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)  # to read from Graph
    skipped: int = 0  # malformed, or for no configured source
    deferred: int = 0  # well formed, but left to the poller or not storable here
    retry: bool = False  # something Meta should deliver again: a mention Graph could not give yet


def parse(payload: Any, sources: Iterable[Source], parent_author: ParentAuthor) -> Parsed:
    """The messages in one delivery. Never raises for what the payload holds."""
    parsed = Parsed()
    kind = payload.get("object") if isinstance(payload, dict) else None
    if kind not in OBJECTS:
        logger.warning("meta webhook for an object we do not read", extra={"object": str(kind)[:40]})
        parsed.skipped += 1
        return parsed
    platform, option = OBJECTS[kind]
    configured = [source for source in sources if source.enabled and source.platform == platform]
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            parsed.skipped += 1
            logger.warning("skipped malformed meta webhook entry", extra={"entry_id": None})
            continue
        entry_id = str(entry.get("id") or "")
        changes = _list(entry.get("changes"))
        messaging = _list(entry.get("messaging"))
        matched = [source for source in configured if source.options.get(option) == entry_id]
        if not entry_id or not matched:
            parsed.skipped += len(changes) + len(messaging)
            logger.warning("meta webhook for no configured source", extra={"entry_id": entry_id, "object": kind})
            continue
        for source in matched:
            for change in changes:
                _take(
                    parsed, entry_id, change, partial(_change, platform, source, entry, change, parent_author, parsed)
                )
            for event in messaging:
                if platform == "facebook":
                    _take(parsed, entry_id, event, partial(_messenger, source, event, parent_author, parsed))
                else:
                    parsed.deferred += 1
                    logger.info("instagram messaging event not read here", extra={"entry_id": entry_id})
    return parsed


def _take(parsed: Parsed, entry_id: str, event: Any, read: Callable[[], Message | None]) -> None:
    try:
        message = read()
    except _MALFORMED:
        parsed.skipped += 1
        logger.warning(
            "skipped malformed meta webhook event", extra={"entry_id": entry_id, "event_id": _event_id(event)}
        )
        return
    if message is not None:
        parsed.messages.append(message)


def _change(
    platform: str, source: Source, entry: dict[str, Any], change: Any, parent_author: ParentAuthor, parsed: Parsed
) -> Message | None:
    field_name, value = change["field"], change["value"]
    if not isinstance(value, dict):
        raise TypeError("the change has no value object")
    if platform == "facebook" and field_name == "feed":
        return _feed(source, _FeedValue.model_validate(value), parent_author)
    if platform == "instagram" and field_name == "comments":
        return _instagram_comment(source, entry, _InstagramComment.model_validate(value), parent_author)
    if platform == "instagram" and field_name == "mentions":
        mention = _MentionValue.model_validate(value)
        if mention.comment_id is None:
            parsed.deferred += 1
            logger.info(
                "instagram caption mention not read",
                extra={"entry_id": str(entry.get("id")), "media_id": mention.media_id},
            )
            return None
        parsed.mentions.append(Mention(source, str(entry["id"]), mention.media_id, mention.comment_id))
        return None
    return None  # a field we do not read (reactions, live comments, story insights, ...)


def _feed(source: Source, value: _FeedValue, parent_author: ParentAuthor) -> Message | None:
    page_id = source.options["page_id"]
    if value.verb != "add":
        return None  # edits and removals: the first version stays
    from_brand = value.author.id == page_id
    if value.item in VISITOR_POST_ITEMS:
        if from_brand:
            return None  # the Page's own post
        return _message(
            source,
            platform_id=value.post_id,
            thread_id=value.post_id,
            author=value.author,
            handle=value.author.name or value.author.id,
            text=value.message,
            created=_epoch(value.created_time),
            kind=MessageKind.MENTION,
            permalink=_permalink(value.post),
        )
    if value.item != "comment":
        return None
    if not value.comment_id:
        raise ValueError("a comment without comment_id")
    parent_id = value.parent_id or value.post_id
    parent_by = parent_author(source, parent_id)
    if from_brand and (parent_by == page_id or (parent_id == value.post_id and parent_by is None)):
        return None  # the Page on its own comment or (as far as we know) its own post
    return _message(
        source,
        platform_id=value.comment_id,
        thread_id=value.post_id,
        parent_id=parent_id,
        parent_author_id=parent_by,
        author=value.author,
        handle=value.author.name or value.author.id,
        text=value.message,
        created=_epoch(value.created_time),
        kind=MessageKind.COMMENT,
        from_brand=from_brand,
        permalink=_permalink(value.post),
    )


def _messenger(source: Source, event: Any, parent_author: ParentAuthor, parsed: Parsed) -> Message | None:
    if not isinstance(event, dict) or "message" not in event:
        return None  # deliveries, reads, postbacks, reactions
    messaging = _Messaging.model_validate(event)
    page_id = source.options["page_id"]
    message = messaging.message
    from_brand = message.is_echo or messaging.sender.id == page_id
    if message.reply_to is None:
        parsed.deferred += 1
        logger.info("messenger message left to the poller", extra={"event_id": message.mid})
        return None
    parent_by = parent_author(source, message.reply_to.mid)
    if from_brand and parent_by == page_id:
        return None
    return _message(
        source,
        platform_id=message.mid,
        parent_id=message.reply_to.mid,
        parent_author_id=parent_by,
        author=messaging.sender,
        handle=messaging.sender.name or messaging.sender.id,
        text=message.text,
        created=_epoch(messaging.timestamp),
        kind=MessageKind.DM,
        from_brand=from_brand,
    )


def _instagram_comment(
    source: Source, entry: dict[str, Any], value: _InstagramComment, parent_author: ParentAuthor
) -> Message | None:
    account = source.options["ig_user_id"]
    username = source.options.get("username", "")
    from_brand = value.author.id == account or (bool(username) and value.author.username.lower() == username.lower())
    if value.parent_id:
        parent_id, parent_by = value.parent_id, parent_author(source, value.parent_id)
    else:
        parent_id, parent_by = value.media.id, account  # the account's own medium
    if from_brand and parent_by == account:
        return None
    return _message(
        source,
        platform_id=value.id,
        thread_id=value.media.id,
        parent_id=parent_id,
        parent_author_id=parent_by,
        author=value.author,
        handle=f"@{value.author.username}" if value.author.username else value.author.id,
        text=value.text,
        created=_epoch(float(entry["time"])),
        kind=MessageKind.COMMENT,
        from_brand=from_brand,
    )


def _message(
    source: Source,
    *,
    platform_id: str,
    author: _Person,
    handle: str,
    text: str,
    created: datetime,
    kind: MessageKind,
    thread_id: str | None = None,
    parent_id: str | None = None,
    parent_author_id: str | None = None,
    from_brand: bool = False,
    permalink: str | None = None,
) -> Message:
    return Message(
        brand=source.brand_id,
        platform=source.platform,
        source_id=source.source_id,
        platform_id=platform_id,
        thread_id=thread_id,
        parent_id=parent_id,
        parent_author_id=parent_author_id,
        author_id=author.id,
        author_handle=handle,
        text=text,
        permalink=permalink,
        created_at=created,
        kind=kind,
        from_brand=from_brand,
    )


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _epoch(value: float) -> datetime:
    """Meta's times: seconds in changes, milliseconds in messaging. ValueError for a time no
    datetime holds: the platform's time_t refuses it with OverflowError or OSError, which must
    not pass for a failure to store (only the event is malformed)."""
    try:
        return datetime.fromtimestamp(value / 1000 if value > _EPOCH_MS_FROM else value, tz=UTC)
    except (OverflowError, OSError) as error:
        raise ValueError("a time out of range") from error


def _permalink(post: dict[str, Any] | None) -> str | None:
    link = post.get("permalink_url") if isinstance(post, dict) else None
    return str(link) if isinstance(link, str) and link.startswith("https://") else None


def _event_id(event: Any) -> str | None:
    if not isinstance(event, dict):
        return None
    value = event.get("value") if isinstance(event.get("value"), dict) else event.get("message")
    if isinstance(value, dict):
        for key in ("comment_id", "id", "mid", "post_id"):
            if value.get(key):
                return str(value[key])
    return None


def stored_parent_author(messages: MessageRepository) -> ParentAuthor:
    """The author of a parent already stored for the source's brand, if it is."""

    def lookup(source: Source, parent_id: str) -> str | None:
        record = messages.get(message_key(source.brand_id, source.platform, parent_id))
        return record.author_id if record is not None else None

    return lookup


# --- Instagram @mentions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MentionReader:
    """How the endpoint reads Instagram @mentions: a source's secret (its token) by name, an HTTP
    client with a short timeout (``GRAPH_TIMEOUT``), and the time one delivery may spend on them."""

    secret: Callable[[str], str]
    client: httpx.Client
    budget_seconds: float = MENTION_BUDGET_SECONDS
    clock: Callable[[], float] = time.monotonic


def read_mentions(
    parsed: Parsed, reader: MentionReader, messages: MessageRepository, parent_author: ParentAuthor, now: datetime
) -> None:
    """Read each mention of ``parsed`` from Graph into ``parsed.messages``; set ``parsed.retry``
    when one could not be read for the moment. Mentions already stored are not read again."""
    deadline = reader.clock() + reader.budget_seconds
    given_up: set[tuple[str, str]] = set()  # sources throttled, refused or without a readable secret
    for mention in parsed.mentions:
        source, ids = mention.source, mention.ids
        if messages.get(message_key(source.brand_id, source.platform, mention.comment_id)) is not None:
            continue  # an earlier delivery of it was stored
        if (source.brand_id, source.source_id) in given_up:
            parsed.skipped += 1
            logger.warning("instagram mention skipped: its source cannot be read now", extra=ids)
            continue
        if parsed.retry or reader.clock() >= deadline:
            # Graph failed for the moment, or the time for mentions is spent: Meta delivers them again.
            parsed.retry = True
            logger.warning("instagram mention left for Meta's next delivery", extra=ids)
            continue
        message = _read_mention(mention, reader, now, parsed, given_up)
        if message is None:
            continue
        if message.parent_id:
            message = message.model_copy(update={"parent_author_id": parent_author(source, message.parent_id)})
        parsed.messages.append(message)


def _read_mention(
    mention: Mention, reader: MentionReader, now: datetime, parsed: Parsed, given_up: set[tuple[str, str]]
) -> Message | None:
    source, ids = mention.source, mention.ids
    try:
        secret = reader.secret(source.token_secret)
    except Exception as error:  # missing, refused or empty: someone has to fix the source
        given_up.add((source.brand_id, source.source_id))
        parsed.skipped += 1
        logger.error(
            "instagram mention not read: the source's secret is unreadable",
            extra={**ids, "error": type(error).__name__},
        )
        return None
    try:
        return fetch_mention(
            reader.client, source, secret, media_id=mention.media_id, comment_id=mention.comment_id, now=now
        )
    except GraphUnavailable as error:
        parsed.retry = True
        logger.warning(
            "instagram mention not read for now; Meta delivers it again", extra={**ids, "error": type(error).__name__}
        )
    except RateLimited as limited:
        given_up.add((source.brand_id, source.source_id))
        parsed.skipped += 1
        logger.warning(
            "instagram mention not read: Graph throttles the account",
            extra={**ids, "retry_at": limited.retry_at.isoformat()},
        )
    except AuthFailed as error:
        given_up.add((source.brand_id, source.source_id))
        parsed.skipped += 1
        logger.warning(
            "instagram mention not read: the token was refused", extra={**ids, "error": type(error).__name__}
        )
    except ConnectorError as error:
        parsed.skipped += 1
        logger.warning("instagram mention not read", extra={**ids, "error": type(error).__name__})
    return None


# --- HTTP ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    params: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = "text/plain"


def request_from_api_gateway(event: Mapping[str, Any]) -> Request:
    """An API Gateway (REST, proxy) event; the body exactly as Meta sent it, for the signature."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            body = b"\x00not base64"  # cannot match any signature
    else:
        body = raw.encode("utf-8")
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    params = {str(name): str(value) for name, value in (event.get("queryStringParameters") or {}).items()}
    return Request(method=str(event.get("httpMethod") or "").upper(), params=params, headers=headers, body=body)


def handle(
    request: Request,
    *,
    app: Callable[[], MetaApp],
    state: StateRepository,
    messages: MessageRepository,
    now: datetime,
    retention: timedelta,
    mentions: MentionReader | None = None,
) -> Reply:
    try:
        credentials = app()
    except Exception as error:
        logger.error("meta app secret unreadable", extra={"error": type(error).__name__})
        return Reply(503, "unavailable")
    if request.method == "GET":
        challenge = verify_challenge(request.params, credentials.verify_token)
        if challenge is None:
            logger.warning("meta webhook verification refused")
            return Reply(403, "forbidden")
        return Reply(200, challenge)
    if request.method != "POST":
        return Reply(405, "method not allowed")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        logger.warning("meta webhook without a signature")
        return Reply(401, "signature required")
    if not verify_signature(request.body, signature, credentials.app_secret):
        logger.warning("meta webhook with a bad signature")
        return Reply(403, "bad signature")
    try:
        payload = json.loads(request.body)
    except ValueError:
        logger.warning("meta webhook body is not JSON")
        return Reply(200, "ignored")
    try:
        sources = [source for source, _state in state.list_sources()]
        parent_author = stored_parent_author(messages)
        parsed = parse(payload, sources, parent_author)
        if parsed.mentions and mentions is not None:
            read_mentions(parsed, mentions, messages, parent_author, now)
        elif parsed.mentions:
            parsed.deferred += len(parsed.mentions)
            logger.warning(
                "instagram mentions not read: no way to read them here", extra={"count": len(parsed.mentions)}
            )
        stored = ingest(messages, parsed.messages, now=now, retention=retention)
    except Exception as error:  # storage failed: Meta delivers again, and storing is idempotent
        logger.error("meta webhook not stored", extra={"error": type(error).__name__})
        return Reply(503, "try again")
    logger.info(
        "meta webhook received",
        extra={
            "messages": len(parsed.messages),
            "mentions": len(parsed.mentions),
            "stored": stored,
            "skipped": parsed.skipped,
            "deferred": parsed.deferred,
            "retry": parsed.retry,
        },
    )
    if parsed.retry:
        return Reply(503, "try again")  # what could be stored is; Meta delivers again for the rest
    return Reply(200, "ok")


def api_gateway_response(reply: Reply) -> dict[str, Any]:
    return {
        "statusCode": reply.status,
        "headers": {"Content-Type": reply.content_type},
        "body": reply.body,
        "isBase64Encoded": False,
    }
