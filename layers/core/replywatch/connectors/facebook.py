"""Facebook Pages: comments on the Page's posts, posts by others on the Page, Messenger
conversations, and the Page's own replies in each. Needs a Page access token and the
``page_id`` option.

Comments (stream ``comments``): the Page's feed (``GET /{page-id}/feed``) for the posts of the
last ``post_window_days`` (``since``), newest first, each with its newest comments embedded
(``filter(stream)``: replies too, each naming its ``parent``; ``order(reverse_chronological)``).
A post whose embedded page of comments is new to its end is read on through
``/{post-id}/comments``. A comment's parent is the comment it answers (``parent``) or else the
post; the Page's comments are its replies. Comments on older posts arrive by webhook.

Conversations (stream ``messages``): ``GET /{page-id}/conversations?platform=messenger``, most
recently active first, each with its latest messages (Graph details only the 20 most recent),
until a conversation quiet since the mark. A message's parent is the message before it, so a
customer's second message is a follow-up to their first and the Page's answer replies to what
it answered.

How the two streams page, resume and stop: :mod:`replywatch.connectors.meta`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import AwareDatetime, Field

from replywatch.connectors.base import BudgetRule, Page, PollContext
from replywatch.connectors.meta import (
    INVALID,
    GraphNode,
    Job,
    Scan,
    Step,
    graph_get,
    items,
    next_after,
    page_params,
    required_option,
    run_scan,
    window_start,
)
from replywatch.models import Message, MessageKind

logger = logging.getLogger(__name__)

PLATFORM = "facebook"
COMMENTS = "comments"
MESSAGES = "messages"
EMBEDDED = 25  # posts or conversations per page, comments embedded per post
CHUNK = 100  # comments per page when a post's comments are read on
MESSAGE_LIMIT = 20  # Graph details only the 20 most recent messages of a conversation
COMMENT_FIELDS = "id,message,created_time,permalink_url,from,parent{id,from}"
FEED_FIELDS = (
    "id,created_time,message,permalink_url,from,"
    f"comments.filter(stream).order(reverse_chronological).limit({EMBEDDED}){{{COMMENT_FIELDS}}}"
)
CONVERSATION_FIELDS = f"id,updated_time,messages.limit({MESSAGE_LIMIT}){{id,message,created_time,from}}"


class _Author(GraphNode):
    name: str = ""


class _Parent(GraphNode):
    author: _Author | None = Field(default=None, alias="from")


class _Comment(GraphNode):
    created_time: AwareDatetime
    message: str = ""
    permalink_url: str | None = None
    author: _Author = Field(alias="from")
    parent: _Parent | None = None


class _Post(GraphNode):
    created_time: AwareDatetime
    message: str = ""
    permalink_url: str | None = None
    author: _Author | None = Field(default=None, alias="from")


class _Conversation(GraphNode):
    updated_time: AwareDatetime


class _DirectMessage(GraphNode):
    created_time: AwareDatetime
    message: str = ""
    author: _Author = Field(alias="from")


class FacebookConnector:
    platform: ClassVar[str] = PLATFORM
    default_base_url: ClassVar[str] = "https://graph.facebook.com/v21.0"
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        page_id = required_option(ctx, "page_id")
        cursor = dict(ctx.cursor)
        for walk in (_Feed(page_id), _Conversations(page_id)):
            async for page in run_scan(ctx, cursor, walk):
                yield page


def _handle(author: _Author) -> str:
    return author.name or author.id


@dataclass
class _Feed:
    page_id: str
    name: str = COMMENTS

    async def listing(self, ctx: PollContext, scan: Scan, after: str) -> Step:
        since = window_start(ctx)
        params = [("fields", FEED_FIELDS), ("limit", str(EMBEDDED)), ("since", str(int(since.timestamp())))]
        params.extend(page_params(after))
        body, headers = await graph_get(ctx, f"{self.page_id}/feed", params)
        step = Step(headers=headers, next_after=next_after(body))
        for raw in items(body):
            try:
                post = _Post.model_validate(raw)
            except INVALID:
                step.skip(PLATFORM, ctx, raw, self.name)
                continue
            if post.created_time < since:
                step.next_after = None  # newest first: the rest are older still
                break
            author = post.author.id if post.author else self.page_id
            if author != self.page_id and scan.is_new(post.id, post.created_time):
                step.messages.append(self._visitor_post(ctx, post))
            context = {"post": post.id, "post_author": author}
            comments = raw.get("comments")
            oldest = self._comments(ctx, scan, items(comments), context, step)
            more = next_after(comments)
            if more and oldest is not None and oldest >= scan.mark:
                step.jobs.append(Job(f"{post.id}/comments", more, context))
        return step

    async def job(self, ctx: PollContext, scan: Scan, job: Job) -> Step:
        params = [
            ("fields", COMMENT_FIELDS),
            ("filter", "stream"),
            ("order", "reverse_chronological"),
            ("limit", str(CHUNK)),
            *page_params(job.after),
        ]
        body, headers = await graph_get(ctx, job.path, params)
        step = Step(headers=headers)
        oldest = self._comments(ctx, scan, items(body), job.context, step)
        more = next_after(body)
        if more and oldest is not None and oldest >= scan.mark:
            step.jobs.append(Job(job.path, more, job.context))
        return step

    def _comments(
        self, ctx: PollContext, scan: Scan, raws: list[Any], context: dict[str, str], step: Step
    ) -> datetime | None:
        """Take the new comments of one page of a post's comments; the oldest one's time."""
        oldest: datetime | None = None
        for raw in raws:
            try:
                comment = _Comment.model_validate(raw)
                oldest = comment.created_time if oldest is None else min(oldest, comment.created_time)
                if not scan.is_new(comment.id, comment.created_time):
                    continue
                message = self._comment(ctx, comment, context)
            except INVALID:
                step.skip(PLATFORM, ctx, raw, self.name)
                continue
            if message is not None:
                step.messages.append(message)
        return oldest

    def _comment(self, ctx: PollContext, comment: _Comment, context: dict[str, str]) -> Message | None:
        if comment.parent is not None:
            parent_id = comment.parent.id
            parent_author = comment.parent.author.id if comment.parent.author else None
        else:
            parent_id, parent_author = context["post"], context.get("post_author")
        from_brand = comment.author.id == self.page_id
        if from_brand and parent_author == self.page_id:
            return None  # the Page on its own post or comment: nobody is answered
        return Message(
            brand=ctx.source.brand_id,
            platform=PLATFORM,
            source_id=ctx.source.source_id,
            platform_id=comment.id,
            thread_id=context["post"],
            parent_id=parent_id,
            parent_author_id=parent_author,
            parent_by_brand=parent_author == self.page_id if parent_author else None,
            author_id=comment.author.id,
            author_handle=_handle(comment.author),
            text=comment.message,
            permalink=comment.permalink_url,
            created_at=comment.created_time,
            kind=MessageKind.COMMENT,
            from_brand=from_brand,
        )

    def _visitor_post(self, ctx: PollContext, post: _Post) -> Message:
        assert post.author is not None
        return Message(
            brand=ctx.source.brand_id,
            platform=PLATFORM,
            source_id=ctx.source.source_id,
            platform_id=post.id,
            thread_id=post.id,
            author_id=post.author.id,
            author_handle=_handle(post.author),
            text=post.message,
            permalink=post.permalink_url,
            created_at=post.created_time,
            kind=MessageKind.MENTION,
        )


@dataclass
class _Conversations:
    page_id: str
    name: str = MESSAGES

    async def listing(self, ctx: PollContext, scan: Scan, after: str) -> Step:
        params = [("platform", "messenger"), ("fields", CONVERSATION_FIELDS), ("limit", str(EMBEDDED))]
        params.extend(page_params(after))
        body, headers = await graph_get(ctx, f"{self.page_id}/conversations", params)
        step = Step(headers=headers, next_after=next_after(body))
        for raw in items(body):
            try:
                conversation = _Conversation.model_validate(raw)
            except INVALID:
                step.skip(PLATFORM, ctx, raw, self.name)
                continue
            if conversation.updated_time < scan.mark:
                step.next_after = None  # most recently active first: the rest are quieter still
                break
            self._messages(ctx, scan, conversation.id, raw.get("messages"), step)
        return step

    async def job(self, ctx: PollContext, scan: Scan, job: Job) -> Step:
        return Step(headers={})  # conversations never leave jobs: Graph details 20 messages only

    def _messages(self, ctx: PollContext, scan: Scan, conversation_id: str, connection: Any, step: Step) -> None:
        parsed: list[_DirectMessage] = []
        for raw in items(connection):
            try:
                parsed.append(_DirectMessage.model_validate(raw))
            except INVALID:
                step.skip(PLATFORM, ctx, raw, self.name)
        parsed.sort(key=lambda message: message.created_time, reverse=True)  # stable: Graph's order on ties
        for index, message in enumerate(parsed):
            if not scan.is_new(message.id, message.created_time):
                continue
            older = parsed[index + 1] if index + 1 < len(parsed) else None
            if older is None and next_after(connection):
                logger.info(
                    "conversation has more new messages than Graph details",
                    extra={"source_id": ctx.source.source_id, "item_id": message.id},
                )
            from_brand = message.author.id == self.page_id
            if from_brand and older is None:
                continue  # the Page wrote first: nothing to answer
            try:
                step.messages.append(
                    Message(
                        brand=ctx.source.brand_id,
                        platform=PLATFORM,
                        source_id=ctx.source.source_id,
                        platform_id=message.id,
                        thread_id=conversation_id,
                        parent_id=older.id if older else None,
                        parent_author_id=older.author.id if older else None,
                        parent_by_brand=older.author.id == self.page_id if older else None,
                        author_id=message.author.id,
                        author_handle=_handle(message.author),
                        text=message.message,
                        created_at=message.created_time,
                        kind=MessageKind.DM,
                        from_brand=from_brand,
                    )
                )
            except INVALID:
                step.skip(PLATFORM, ctx, {"id": message.id}, self.name)
