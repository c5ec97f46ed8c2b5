"""Google Play: reviews of one app, and the developer's replies to them.

``GET /applications/{package_name}/reviews?maxResults=100`` (Play Developer API v3, "Reply to
Reviews"), paged with ``token`` / ``tokenPagination.nextPageToken``; ``translationLanguage`` when
the source sets the ``translation_language`` option. A review's ``userComment`` becomes a
``review`` message with its ``starRating``; its ``developerComment``, when present, becomes the
brand's reply (``<reviewId>#reply``, parent the review, created at its ``lastModified``).

What the API shows, and so what this connector can see:

* only reviews created or modified in the LAST WEEK. A new source therefore reads back at most a
  week, whatever its backfill window; a reply to a review older than a week is not seen (unless the
  customer edits the review, which brings it back into the list);
* only reviews with text (a bare star rating is not listed), and only production versions;
* the list is ordered by the user comment's last modification, newest first. A customer's edit
  brings a review back to the top (it keeps its id: the first version stored stays); the
  developer's reply does not move it.

Two streams (see ``review_feed``): ``reviews`` walks down from the top to the high-water mark on
the user comment's ``lastModified``; ``replies`` sweeps the whole (one week) list, a pass spread
over polls as the page budget allows, sending developer replies modified since the previous pass
began: the answer to a review read days ago is found within one pass.

Auth: ``google_oauth`` (a refresh token in the source's secret, for an account with the "Reply to
reviews" permission). Rate limits and refusals are read by ``google_api.check_google``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from replywatch.connectors.base import BudgetRule, ConnectorError, Page, PollContext
from replywatch.connectors.google_api import list_reviews, listed_review_id
from replywatch.connectors.http import Params
from replywatch.connectors.review_feed import Feed, Listing, Review, reply_message, review_message, sweep, walk

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # the documented maximum (default 10)
REVIEWS = "reviews"
REPLIES = "replies"


class _Timestamp(BaseModel):
    seconds: int
    nanos: int = 0

    @property
    def moment(self) -> datetime:
        try:
            return datetime.fromtimestamp(self.seconds, tz=UTC) + timedelta(microseconds=self.nanos // 1000)
        except (OverflowError, OSError) as error:
            raise ValueError("timestamp out of range") from error


class _UserComment(BaseModel):
    text: str = ""
    lastModified: _Timestamp
    starRating: int | None = None


class _DeveloperComment(BaseModel):
    text: str = ""
    lastModified: _Timestamp


class _Comment(BaseModel):
    userComment: _UserComment | None = None
    developerComment: _DeveloperComment | None = None


class _PlayReview(BaseModel):
    reviewId: str
    authorName: str | None = None
    comments: list[_Comment]


class GooglePlayConnector:
    platform: ClassVar[str] = "google_play"
    default_base_url: ClassVar[str] = "https://androidpublisher.googleapis.com/androidpublisher/v3"
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        package = (ctx.option("package_name") or "").strip()
        if not package or not all(part.isidentifier() for part in package.split(".")):
            raise ConnectorError("the source's package_name option is not an Android package name")
        url = f"{ctx.source.base_url}/applications/{package}/reviews"
        language = ctx.option("translation_language")

        async def fetch(token: str | None) -> Listing:
            params: Params = [("maxResults", str(PAGE_SIZE))]
            if language:
                params.append(("translationLanguage", language))
            if token:
                params.append(("token", token))
            return await list_reviews(
                ctx,
                url,
                params,
                token_sent=bool(token),
                name="Google Play",
                next_token_at=("tokenPagination", "nextPageToken"),
            )

        feed = Feed(
            platform=self.platform,
            fetch=fetch,
            parse=lambda item: self._parse(item, ctx, package),
            item_id=listed_review_id,
            logger=logger,
        )
        cursor = dict(ctx.cursor)
        sent: set[str] = set()
        async for page in walk(feed, ctx, cursor, REVIEWS, sent=sent):
            yield page
        async for page in sweep(feed, ctx, cursor, REPLIES, sent=sent):
            yield page

    def _parse(self, item: Any, ctx: PollContext, package: str) -> Review:
        review = _PlayReview.model_validate(item)
        users = [comment.userComment for comment in review.comments if comment.userComment is not None]
        developers = [comment.developerComment for comment in review.comments if comment.developerComment]
        if not users:
            raise ValueError("a review without the user's comment")
        user = max(users, key=lambda comment: comment.lastModified.moment)
        written = user.lastModified.moment
        author = review.authorName or "anonymous"
        rating = user.starRating if user.starRating is not None and 1 <= user.starRating <= 5 else None
        message = review_message(
            ctx,
            self.platform,
            review.reviewId,
            author=author,
            text=user.text.replace("\t", "\n", 1).strip(),  # a title and body come joined by a tab
            created_at=written,
            rating=rating,
        )
        reply = None
        if developers:
            developer = max(developers, key=lambda comment: comment.lastModified.moment)
            reply = reply_message(
                ctx,
                self.platform,
                review.reviewId,
                review_author=author,
                account=package,
                text=developer.text.strip(),
                created_at=developer.lastModified.moment,
            )
        return Review(review_id=review.reviewId, mark=written, created=written, review=message, reply=reply)
