"""App Store: customer reviews of one app, and the developer's published responses.

``GET /v1/apps/{app_id}/customerReviews?sort=-createdDate&include=response`` (JSON:API), paged
with the ``cursor`` of ``links.next`` (the next request is built from our own parameters, so a
source's ``base_url`` is always the host called). Each review becomes a ``review`` message with
its stars; a PUBLISHED ``customerReviewResponses`` resource becomes the brand's reply
(``<review id>#reply``, parent the review). A response still PENDING_PUBLISH is not an answer yet.
A malformed response resource is logged by its id and left out; its review is kept, and the review
is remembered like a pending one, so the response is sent once a later sweep reads it whole.

Reviews are listed by creation date, and a response does not move its review, so two streams
(see ``review_feed``): ``reviews`` walks down from the newest review to the high-water mark; and
``responses`` sweeps the reviews that have a published response (``exists[publishedResponse]``)
created within the last ``reply_window_days`` (option, default 30), a pass spread over polls as
the page budget allows, sending the responses modified since the previous pass began. So the
brand's answer to a review read days ago is found within one pass.

Auth: a JWT signed ES256 with the team's App Store Connect API key (``es256``, pure Python), from
the secret's JSON ``issuer_id``, ``key_id`` and ``private_key`` (the .p8 text). A token lives 19
minutes (Apple refuses more than 20) and is reused from ``ctx.sessions`` until shortly before.
401 or 403 -> AuthFailed; 429 -> RateLimited; ``X-Rate-Limit: ...;user-hour-rem:0;`` after a
page -> the page is kept, then RateLimited. Apple counts requests over a ROLLING hour ("the
previous 60 minutes"), so when the allowance is spent and Apple names no time (no ``Retry-After``),
the source waits an hour: the top of the clock hour means nothing to a rolling window, and a minute
would only spend more refused requests; after an hour every request counted now has aged out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import AwareDatetime, BaseModel, ValidationError

from replywatch.connectors import es256
from replywatch.connectors.base import (
    AuthFailed,
    BudgetRule,
    ConnectorError,
    Page,
    PollContext,
    RateLimited,
    credentials,
)
from replywatch.connectors.http import Params, check, json_body, parse_reset, parse_retry_after
from replywatch.connectors.review_feed import (
    Feed,
    Listing,
    Review,
    StaleToken,
    reply_message,
    review_message,
    sweep,
    walk,
)
from replywatch.models import Message

logger = logging.getLogger(__name__)

PAGE_LIMIT = 200  # Apple's maximum for this endpoint
REVIEWS = "reviews"
RESPONSES = "responses"
DEFAULT_REPLY_WINDOW_DAYS = 30
# A response is published some time after it is written (PENDING_PUBLISH meanwhile) and may keep
# the date it was written: each sweep re-sends the responses of the day before its floor, so one
# published up to a day late between two sweeps is not missed (repeats are idempotent writes).
PUBLISH_DELAY = timedelta(hours=24)
TOKEN_LIFETIME = timedelta(minutes=19)
TOKEN_RENEW_BEFORE = timedelta(minutes=2)
AUDIENCE = "appstoreconnect-v1"
_REMAINING = re.compile(r"user-hour-rem:\s*(\d+)")
ROLLING_HOUR = timedelta(hours=1)  # the span Apple counts requests over


class _ReviewAttributes(BaseModel):
    rating: int
    title: str | None = None
    body: str | None = None
    reviewerNickname: str | None = None
    createdDate: AwareDatetime
    territory: str | None = None


class _CustomerReview(BaseModel):
    type: Literal["customerReviews"]
    id: str
    attributes: _ReviewAttributes


class _ResponseAttributes(BaseModel):
    responseBody: str = ""
    lastModifiedDate: AwareDatetime
    state: str


class _CustomerReviewResponse(BaseModel):
    type: Literal["customerReviewResponses"]
    id: str
    attributes: _ResponseAttributes


@dataclass(frozen=True)
class _Item:
    """A listed review with the response resource ``included`` for it, if any."""

    review: Any
    response: Any = None


class AppStoreConnector:
    platform: ClassVar[str] = "app_store"
    default_base_url: ClassVar[str] = "https://api.appstoreconnect.apple.com"
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        app_id = ctx.option("app_id")
        if not app_id:
            raise ConnectorError("the source has no app_id option")
        cursor = dict(ctx.cursor)
        sent: set[str] = set()
        async for page in walk(self._feed(ctx, app_id, answered_only=False), ctx, cursor, REVIEWS, sent=sent):
            yield page
        try:
            days = int(ctx.option("reply_window_days", str(DEFAULT_REPLY_WINDOW_DAYS)) or DEFAULT_REPLY_WINDOW_DAYS)
        except ValueError:
            days = DEFAULT_REPLY_WINDOW_DAYS
        stop = ctx.now - timedelta(days=max(1, days))
        feed = self._feed(ctx, app_id, answered_only=True)
        async for page in sweep(feed, ctx, cursor, RESPONSES, stop=stop, margin=PUBLISH_DELAY, sent=sent):
            yield page

    def _feed(self, ctx: PollContext, app_id: str, *, answered_only: bool) -> Feed:
        url = f"{ctx.source.base_url}/v1/apps/{app_id}/customerReviews"
        params: Params = [("sort", "-createdDate"), ("limit", str(PAGE_LIMIT)), ("include", "response")]
        if answered_only:
            params.append(("exists[publishedResponse]", "true"))

        async def fetch(token: str | None) -> Listing:
            sent = [*params, *([("cursor", token)] if token else [])]
            response = await self._get(ctx, url, sent, token=token)
            return _listing(json_body(response), response.headers)

        return Feed(
            platform=self.platform,
            fetch=fetch,
            parse=lambda item: self._parse(item, ctx, app_id),
            item_id=_item_id,
            logger=logger,
            after_page=lambda listing: _raise_if_exhausted(listing.headers, ctx.now),
        )

    async def _get(self, ctx: PollContext, url: str, params: Params, *, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token(ctx)}", "Accept": "application/json"}
        try:
            response = await ctx.client.get(url, params=params, headers=headers)
        except httpx.HTTPError as error:
            raise ConnectorError(type(error).__name__) from error
        if response.status_code == 400 and token:
            raise StaleToken("the saved page cursor was refused")
        if response.status_code in (401, 403):
            ctx.sessions.drop(ctx.session_key)
        if response.status_code == 429 and _allowance_spent(response.headers):
            raise RateLimited(_hour_retry_at(response.headers, ctx.now))
        return check(response, ctx.now)

    def _token(self, ctx: PollContext) -> str:
        session = ctx.sessions.get(ctx.session_key, ctx.now)
        if session and session.get("jwt"):
            return session["jwt"]
        fields = credentials(ctx.secret, "issuer_id", "key_id", "private_key")
        try:
            key = es256.SigningKey.from_pem(fields["private_key"])
        except ValueError:
            raise AuthFailed("the App Store Connect private key is unusable") from None
        issued = int(ctx.now.timestamp())
        token = key.jwt(
            {"alg": "ES256", "kid": fields["key_id"], "typ": "JWT"},
            {
                "iss": fields["issuer_id"],
                "iat": issued,
                "exp": issued + int(TOKEN_LIFETIME.total_seconds()),
                "aud": AUDIENCE,
            },
        )
        ctx.sessions.put(ctx.session_key, {"jwt": token}, ctx.now + TOKEN_LIFETIME - TOKEN_RENEW_BEFORE)
        return token

    def _parse(self, item: _Item, ctx: PollContext, app_id: str) -> Review:
        review = _CustomerReview.model_validate(item.review)
        attributes = review.attributes
        author = attributes.reviewerNickname or "anonymous"
        text = "\n".join(part for part in (attributes.title, attributes.body) if part)
        message = review_message(
            ctx,
            self.platform,
            review.id,
            author=author,
            text=text,
            created_at=attributes.createdDate,
            rating=attributes.rating,
        )
        reply: Message | None = None
        pending = False
        if item.response is not None:
            response = self._response(item.response, ctx)
            if response is None:
                pending = True  # looked for again by later sweeps, sent once it reads whole
            elif response.attributes.state == "PUBLISHED":
                reply = reply_message(
                    ctx,
                    self.platform,
                    review.id,
                    review_author=author,
                    account=app_id,
                    text=response.attributes.responseBody,
                    created_at=response.attributes.lastModifiedDate,
                )
            else:
                pending = True
        return Review(
            review_id=review.id,
            mark=attributes.createdDate,
            created=attributes.createdDate,
            review=message,
            reply=reply,
            reply_pending=pending,
        )

    def _response(self, resource: Any, ctx: PollContext) -> _CustomerReviewResponse | None:
        """The included response resource, or None (logged by id) when it is malformed: a broken
        response must not cost the customer's review."""
        try:
            return _CustomerReviewResponse.model_validate(resource)
        except ValidationError:
            response_id = resource.get("id") if isinstance(resource, dict) else None
            logger.warning(
                "skipped malformed %s item",
                self.platform,
                extra={
                    "source_id": ctx.source.source_id,
                    "item_id": str(response_id) if response_id is not None else None,
                    "item_type": "customerReviewResponses",
                },
            )
            return None


def _listing(document: Any, headers: Mapping[str, str]) -> Listing:
    if not isinstance(document, dict) or not isinstance(document.get("data", []), list):
        raise ConnectorError("App Store page is not a JSON:API document")
    responses: dict[str, Any] = {}
    for resource in document.get("included") or []:
        if isinstance(resource, dict) and resource.get("type") == "customerReviewResponses" and "id" in resource:
            responses[str(resource["id"])] = resource
    items = []
    for resource in document.get("data") or []:
        linked = None
        relationships = resource.get("relationships") if isinstance(resource, dict) else None
        relation = relationships.get("response") if isinstance(relationships, dict) else None
        data = relation.get("data") if isinstance(relation, dict) else None
        if isinstance(data, dict) and data.get("id") is not None:
            linked = responses.get(str(data["id"]))
        items.append(_Item(resource, linked))
    links = document.get("links")
    link = links.get("next") if isinstance(links, dict) else None
    return Listing(items=items, next_token=_next_cursor(link), headers=headers)


def _next_cursor(link: object) -> str | None:
    if not isinstance(link, str) or not link:
        return None
    values = parse_qs(urlsplit(link).query).get("cursor")
    return values[0] if values else None


def _allowance_spent(headers: Mapping[str, str]) -> bool:
    match = _REMAINING.search(headers.get("x-rate-limit", ""))
    return bool(match and int(match.group(1)) == 0)


def _hour_retry_at(headers: Mapping[str, str], now: datetime) -> datetime:
    """When to try again with the hourly allowance spent: the time Apple names, else an hour on
    (a rolling hour: by then every request counted now has aged out; see the module doc)."""
    told = [
        parse_retry_after(headers.get("retry-after", ""), now),
        parse_reset(headers.get("x-ratelimit-reset", ""), now),
    ]
    found = [moment for moment in told if moment is not None and moment > now]
    return max(found) if found else now + ROLLING_HOUR


def _raise_if_exhausted(headers: Mapping[str, str], now: datetime) -> None:
    if _allowance_spent(headers):
        raise RateLimited(_hour_retry_at(headers, now))


def _item_id(item: object) -> str | None:
    raw = item.review if isinstance(item, _Item) else item
    if isinstance(raw, dict) and raw.get("id") is not None:
        return str(raw["id"])
    return None
