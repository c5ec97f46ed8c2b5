"""Google Business Profile: reviews of one location, and the owner's replies to them.

``GET /{location}/reviews?orderBy=updateTime desc&pageSize=50`` (Business Profile API v4;
``location`` is the source option, e.g. ``accounts/123/locations/456``), paged with
``pageToken``/``nextPageToken``. Each review becomes a ``review`` message (``starRating`` ONE..FIVE
as 1-5 stars; STAR_RATING_UNSPECIFIED as none; a rating-only review has no ``comment`` and empty
text); its ``reviewReply``, when present, becomes the brand's reply (``<reviewId>#reply``, parent
the review, created at the reply's ``updateTime``).

Two streams (see ``review_feed``). ``reviews`` walks from the top of the list down to the
high-water mark on ``updateTime``: new and edited reviews, and the owner's reply to an older review
IF replying bumps the review's ``updateTime`` (which brings it back to the top of this order; it
seems to, but Google's documentation does not say so). So as not to depend on that, ``replies``
sweeps the reviews updated within the last ``reply_window_days`` (option, default 30; and not
before the source was connected), a pass spread over polls as the page budget allows, sending the
``reviewReply`` entries updated since the previous pass began (less ``REPLY_MARGIN``): the answer
to a review read days ago is found within one pass even when the review does not move. Read
twice (walk and sweep), a review or reply is an idempotent write; a reply the walk has just sent
is not sent again by the sweep of the same poll. A review written before the source was
connected is not stored, even when an edit or a reply brings it back up. Reviews have no ids for
their authors: the reviewer's display name (or "anonymous") stands in.

Auth: ``google_oauth`` (a refresh token in the source's secret). Rate limits and refusals are
read by ``google_api.check_google``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel

from replywatch.connectors.base import BudgetRule, ConnectorError, Page, PollContext
from replywatch.connectors.google_api import list_reviews, listed_review_id
from replywatch.connectors.http import Params
from replywatch.connectors.review_feed import (
    Feed,
    Listing,
    Review,
    reply_message,
    review_message,
    sweep,
    walk,
    window_start,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 50  # the API's maximum
REVIEWS = "reviews"
REPLIES = "replies"
DEFAULT_REPLY_WINDOW_DAYS = 30
# A sweep also re-sends replies updated this long before the previous pass began, in case one
# shows in the list a while after its updateTime (repeats are idempotent writes).
REPLY_MARGIN = timedelta(hours=1)
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
            return await list_reviews(
                ctx,
                url,
                params,
                token_sent=bool(token),
                name="Google Business Profile",
                next_token_at=("nextPageToken",),
            )

        feed = Feed(
            platform=self.platform,
            fetch=fetch,
            parse=lambda item: self._parse(item, ctx, location),
            item_id=listed_review_id,
            logger=logger,
        )
        cursor = dict(ctx.cursor)
        sent: set[str] = set()
        async for page in walk(feed, ctx, cursor, REVIEWS, sent=sent):
            yield page
        stop = ctx.now - timedelta(days=_reply_window_days(ctx))
        since = window_start(ctx, cursor)
        if since is not None and since > stop:
            stop = since  # updated before the source was connected: written before it too, never stored
        async for page in sweep(feed, ctx, cursor, REPLIES, stop=stop, margin=REPLY_MARGIN, sent=sent):
            yield page

    def _parse(self, item: Any, ctx: PollContext, location: str) -> Review:
        review = _Review.model_validate(item)
        reviewer = review.reviewer
        author = reviewer.displayName if reviewer.displayName and not reviewer.isAnonymous else "anonymous"
        message = review_message(
            ctx,
            self.platform,
            review.reviewId,
            author=author,
            text=review.comment.strip(),
            created_at=review.createTime,
            rating=STARS.get(review.starRating or ""),
        )
        reply = None
        if review.reviewReply is not None:
            reply = reply_message(
                ctx,
                self.platform,
                review.reviewId,
                review_author=author,
                account=location,
                text=review.reviewReply.comment.strip(),
                created_at=review.reviewReply.updateTime,
            )
        return Review(
            review_id=review.reviewId,
            mark=review.updateTime,
            created=review.createTime,
            review=message,
            reply=reply,
        )


def _reply_window_days(ctx: PollContext) -> int:
    try:
        days = int(ctx.option("reply_window_days", str(DEFAULT_REPLY_WINDOW_DAYS)) or DEFAULT_REPLY_WINDOW_DAYS)
    except ValueError:
        days = DEFAULT_REPLY_WINDOW_DAYS
    return max(1, days)
