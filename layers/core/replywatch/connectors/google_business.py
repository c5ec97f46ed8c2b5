"""Google Business Profile: reviews of one location, and the owner's replies to them.

``GET /{location}/reviews?orderBy=updateTime desc&pageSize=50`` (Business Profile API v4;
``location`` is the source option, e.g. ``accounts/123/locations/456``), paged with
``pageToken``/``nextPageToken``. Each review becomes a ``review`` message (``starRating`` ONE..FIVE
as 1-5 stars; STAR_RATING_UNSPECIFIED as none; a rating-only review has no ``comment`` and empty
text); its ``reviewReply``, when present, becomes the brand's reply (``<reviewId>#reply``, parent
the review, created at the reply's ``updateTime``).

One stream (``review_feed.walk``) from the top of the list down to the high-water mark on
``updateTime``. Replying to a review updates it, which brings it back to the top of this order:
so the reply to a review read days ago is found by the next walk (the review itself, read again,
is an idempotent write). A review written before the source was connected is not stored, even
when an edit or a reply brings it back up. Reviews have no ids for their authors: the reviewer's
display name (or "anonymous") stands in.

Auth: ``google_oauth`` (a refresh token in the source's secret). Rate limits and refusals are
read by ``google_api.check_google``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel

from replywatch.connectors import google_oauth
from replywatch.connectors.base import BudgetRule, ConnectorError, Page, PollContext
from replywatch.connectors.google_api import check_google
from replywatch.connectors.http import Params, json_body
from replywatch.connectors.review_feed import Feed, Listing, Review, walk
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

PAGE_SIZE = 50  # the API's maximum
REVIEWS = "reviews"
STARS = {"ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5}
_LOCATION = re.compile(r"^accounts/[^/?#]+/locations/[^/?#]+$")


class _Reviewer(BaseModel):
    displayName: str | None = None
    profilePhotoUrl: str | None = None
    isAnonymous: bool = False


class _Reply(BaseModel):
    comment: str = ""
    updateTime: AwareDatetime


class _Review(BaseModel):
    name: str | None = None
    reviewId: str
    reviewer: _Reviewer = _Reviewer()
    starRating: str | None = None
    comment: str = ""
    createTime: AwareDatetime
    updateTime: AwareDatetime
    reviewReply: _Reply | None = None


class GoogleBusinessConnector:
    platform: ClassVar[str] = "google_business"
    default_base_url: ClassVar[str] = "https://mybusiness.googleapis.com/v4"
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        location = (ctx.option("location") or "").strip("/")
        if not _LOCATION.match(location):
            raise ConnectorError("the source's location option must read accounts/<id>/locations/<id>")
        url = f"{ctx.source.base_url}/{location}/reviews"

        async def fetch(token: str | None) -> Listing:
            params: Params = [("pageSize", str(PAGE_SIZE)), ("orderBy", "updateTime desc")]
            if token:
                params.append(("pageToken", token))
            response = check_google(
                await google_oauth.request(ctx, "GET", url, params=params), ctx.now, token_sent=bool(token)
            )
            body = json_body(response)
            if not isinstance(body, dict) or not isinstance(body.get("reviews", []), list):
                raise ConnectorError("Google Business Profile page is not a reviews list")
            token = body.get("nextPageToken")
            return Listing(
                items=list(body.get("reviews") or []),
                next_token=str(token) if token else None,
                headers=response.headers,
            )

        feed = Feed(
            platform=self.platform,
            fetch=fetch,
            parse=lambda item: self._parse(item, ctx, location),
            item_id=_item_id,
            logger=logger,
        )
        async for page in walk(feed, ctx, dict(ctx.cursor), REVIEWS):
            yield page

    def _parse(self, item: Any, ctx: PollContext, location: str) -> Review:
        review = _Review.model_validate(item)
        reviewer = review.reviewer
        author = reviewer.displayName if reviewer.displayName and not reviewer.isAnonymous else "anonymous"
        message = Message(
            brand=ctx.source.brand_id,
            platform=self.platform,
            source_id=ctx.source.source_id,
            platform_id=review.reviewId,
            thread_id=review.reviewId,
            author_id=author,
            author_handle=author,
            text=review.comment.strip(),
            created_at=review.createTime,
            kind=MessageKind.REVIEW,
            rating=STARS.get(review.starRating or ""),
        )
        reply = None
        if review.reviewReply is not None:
            reply = Message(
                brand=ctx.source.brand_id,
                platform=self.platform,
                source_id=ctx.source.source_id,
                platform_id=f"{review.reviewId}#reply",
                thread_id=review.reviewId,
                parent_id=review.reviewId,
                parent_author_id=author,
                author_id=location,
                author_handle=ctx.source.brand_id,
                text=review.reviewReply.comment.strip(),
                created_at=review.reviewReply.updateTime,
                kind=MessageKind.REVIEW,
                from_brand=True,
            )
        return Review(
            review_id=review.reviewId,
            mark=review.updateTime,
            created=review.createTime,
            review=message,
            reply=reply,
        )


def _item_id(item: object) -> str | None:
    if isinstance(item, dict) and item.get("reviewId") is not None:
        return str(item["reviewId"])
    return None
