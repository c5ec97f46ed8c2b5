"""Instagram (a professional account, through the Graph API with Facebook Login): comments
and replies on the account's media, and the account's own replies. Needs the ``ig_user_id``
option and a token that may read the account's comments.

One stream, ``comments``: ``GET /{ig-user-id}/media`` for the media of the last
``post_window_days``, newest first, each with its comments embedded and each comment with its
replies. Graph does not promise an order for comments, so a medium with more comments (or a
comment with more replies) than are embedded is read through to the end
(``/{media-id}/comments``, ``/{comment-id}/replies``), unless its ``comments_count`` (which
counts replies too) is what it was when it was last read in full. A top-level comment's parent
is the medium, a reply's the comment it is under (Instagram threads one level deep).

The account's own comments are recognised by ``from.id`` or, as Graph may give the account a
scoped id there, by its username (the ``username`` option, or looked up once and kept in the
cursor). @mentions of the account in other people's media arrive only by webhook: the
webhook names the comment, and :func:`fetch_mention` reads it with the account's token.

How the stream pages, resumes and stops: :mod:`replywatch.connectors.meta`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import AwareDatetime, Field, ValidationError

from replywatch.connectors.base import (
    AuthFailed,
    BudgetRule,
    ConnectorError,
    Page,
    PollContext,
    RateLimited,
    bearer_token,
)
from replywatch.connectors.http import check, json_body
from replywatch.connectors.meta import (
    INVALID,
    PERMISSION_CODES,
    GraphNode,
    Job,
    Scan,
    Step,
    graph_get,
    items,
    next_after,
    page_params,
    raise_for_graph_error,
    required_option,
    run_scan,
    window_start,
)
from replywatch.models import Message, MessageKind, Source

PLATFORM = "instagram"
COMMENTS = "comments"
USERNAME = "username"  # the cursor key (and option) holding the account's username
EMBEDDED = 25  # media per page; comments embedded per medium; replies embedded per comment
CHUNK = 50  # comments or replies per page when a medium or comment is read on
REPLY_FIELDS = "id,text,timestamp,username,from,parent_id"
COMMENT_FIELDS = f"{REPLY_FIELDS},replies.limit({EMBEDDED}){{{REPLY_FIELDS}}}"
MEDIA_FIELDS = f"id,timestamp,permalink,comments_count,comments.limit({EMBEDDED}){{{COMMENT_FIELDS}}}"


class _User(GraphNode):
    username: str = ""


class _Comment(GraphNode):
    timestamp: AwareDatetime
    text: str = ""
    username: str = ""
    author: _User | None = Field(default=None, alias="from")
    parent_id: str | None = None


class _Media(GraphNode):
    timestamp: AwareDatetime
    permalink: str | None = None
    comments_count: int | None = None


class InstagramConnector:
    platform: ClassVar[str] = PLATFORM
    default_base_url: ClassVar[str] = "https://graph.facebook.com/v21.0"
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        ig_user_id = required_option(ctx, "ig_user_id")
        cursor = dict(ctx.cursor)
        username = ctx.option(USERNAME) or cursor.get(USERNAME)
        if not username:
            body, _ = await graph_get(ctx, ig_user_id, [("fields", "id,username")])
            username = str(body.get("username") or "")
            if username:
                cursor[USERNAME] = username
        async for page in run_scan(ctx, cursor, _MediaWalk(ig_user_id, username)):
            yield page


@dataclass
class _MediaWalk:
    ig_user_id: str
    username: str
    name: str = COMMENTS

    async def listing(self, ctx: PollContext, scan: Scan, after: str) -> Step:
        since = window_start(ctx)
        params = [("fields", MEDIA_FIELDS), ("limit", str(EMBEDDED))]
        params.extend(page_params(after))
        body, headers = await graph_get(ctx, f"{self.ig_user_id}/media", params)
        step = Step(headers=headers, next_after=next_after(body))
        for raw in items(body):
            try:
                media = _Media.model_validate(raw)
                comments = raw.get("comments")
                more = next_after(comments)
            except INVALID:
                step.skip(PLATFORM, ctx, raw, self.name)
                continue
            if media.timestamp < since:
                step.next_after = None  # newest first: the rest are older still
                break
            count = media.comments_count
            read_on = count is None or scan.known_counts.get(media.id) != count
            context = {"media": media.id, "permalink": media.permalink or ""}
            jobs = self._comments(ctx, scan, items(comments), context, step, read_on=read_on)
            if more and read_on:
                jobs.insert(0, Job(f"{media.id}/comments", more, context))
            if count is not None and (jobs or not read_on):
                scan.counts[media.id] = count  # read in full once these jobs are done
            step.jobs.extend(jobs)
        return step

    async def job(self, ctx: PollContext, scan: Scan, job: Job) -> Step:
        replies = job.path.endswith("/replies")
        fields = REPLY_FIELDS if replies else COMMENT_FIELDS
        params = [("fields", fields), ("limit", str(CHUNK)), *page_params(job.after)]
        body, headers = await graph_get(ctx, job.path, params)
        step = Step(headers=headers)
        if replies:
            self._replies(ctx, scan, items(body), job.context, step)
        else:
            step.jobs.extend(self._comments(ctx, scan, items(body), job.context, step, read_on=True))
        more = next_after(body)
        if more:
            step.jobs.insert(0, Job(job.path, more, job.context))
        return step

    def _comments(
        self, ctx: PollContext, scan: Scan, raws: list[Any], context: dict[str, str], step: Step, *, read_on: bool
    ) -> list[Job]:
        """Take the new comments of one page of a medium's comments, and their new replies."""
        jobs = []
        for raw in raws:
            # All of the item is read before any of it is taken: whether it is new or not (a scan
            # meets old comments again, for their replies), a malformed one is skipped.
            try:
                comment = _Comment.model_validate(raw)
                thread = {**context, "comment": comment.id, "comment_author": self._author_id(comment)}
                if self._is_brand(comment):
                    thread["comment_by_brand"] = "1"
                replies = raw.get("replies")
                more = next_after(replies)
                message = None
                if scan.is_new(comment.id, comment.timestamp):
                    # A top-level comment answers the medium, which is the account's.
                    message = self._message(ctx, comment, context, comment.parent_id or context["media"], True)
            except INVALID:
                step.skip(PLATFORM, ctx, raw, self.name)
                continue
            if message is not None:
                step.messages.append(message)
            self._replies(ctx, scan, items(replies), thread, step)
            if more and read_on:
                jobs.append(Job(f"{comment.id}/replies", more, thread))
        return jobs

    def _replies(self, ctx: PollContext, scan: Scan, raws: list[Any], context: dict[str, str], step: Step) -> None:
        for raw in raws:
            try:
                reply = _Comment.model_validate(raw)
                if not scan.is_new(reply.id, reply.timestamp):
                    continue
                parent = reply.parent_id or context["comment"]
                message = self._message(ctx, reply, context, parent, context.get("comment_by_brand") == "1")
            except INVALID:
                step.skip(PLATFORM, ctx, raw, self.name)
                continue
            if message is not None:
                step.messages.append(message)

    def _message(
        self, ctx: PollContext, comment: _Comment, context: dict[str, str], parent_id: str, parent_by_brand: bool
    ) -> Message | None:
        from_brand = self._is_brand(comment)
        if from_brand and parent_by_brand:
            return None  # the account on its own medium or comment: nobody is answered
        if parent_by_brand:
            parent_author: str | None = self.ig_user_id
        else:
            parent_author = context.get("comment_author") or None
        username = (comment.author.username if comment.author else "") or comment.username
        return Message(
            brand=ctx.source.brand_id,
            platform=PLATFORM,
            source_id=ctx.source.source_id,
            platform_id=comment.id,
            thread_id=context["media"],
            parent_id=parent_id,
            parent_author_id=parent_author,
            parent_by_brand=parent_by_brand,
            author_id=self._author_id(comment),
            author_handle=f"@{username}" if username else self._author_id(comment),
            text=comment.text,
            permalink=context.get("permalink") or None,
            created_at=comment.timestamp,
            kind=MessageKind.COMMENT,
            from_brand=from_brand,
        )

    def _author_id(self, comment: _Comment) -> str:
        if comment.author is not None:
            return comment.author.id
        if comment.username:
            return comment.username
        raise ValueError("a comment without an author")

    def _is_brand(self, comment: _Comment) -> bool:
        if comment.author is not None and comment.author.id == self.ig_user_id:
            return True
        username = (comment.author.username if comment.author else "") or comment.username
        return bool(self.username) and username.lower() == self.username.lower()


# --- @mentions, read for the webhook ---------------------------------------------------------------

# Meta documents id, like_count, media, text and timestamp for ``mentioned_comment``; an IG Comment
# also has username, from and parent_id. Should Graph refuse one of those on this edge (error 100),
# the comment is asked for again without from and parent_id.
MENTION_FIELDS = "id,text,timestamp,username,from,media{id,permalink},parent_id"
MENTION_FIELDS_NARROW = "id,text,timestamp,username,media{id,permalink}"
TRANSIENT_CODES = frozenset({1, 2})  # "API Unknown", "API Service": Graph's own "retry later"
FIELD_ERROR_CODE = 100


class GraphUnavailable(ConnectorError):
    """Graph, or the way to it, failed for the moment (network, timeout, 5xx, a transient Graph
    error): the same request may well succeed later."""


class _FieldsRefused(ConnectorError):
    """Graph error 100 (invalid parameter), which is what an unknown field gets."""


class _MediaRef(GraphNode):
    permalink: str | None = None


class _MentionedComment(GraphNode):
    timestamp: AwareDatetime
    text: str = ""
    username: str = ""
    author: _User | None = Field(default=None, alias="from")
    media: _MediaRef | None = None
    parent_id: str | None = None


def fetch_mention(
    client: httpx.Client, source: Source, secret: str, *, media_id: str, comment_id: str, now: datetime
) -> Message | None:
    """The comment in which someone @mentioned the source's account, named by a ``mentions``
    webhook: ``GET {base_url}/{ig-user-id}?fields=mentioned_comment.comment_id({comment-id}){...}``
    with the account's token. A mention (the medium is someone else's): parent_id only when the
    comment replies to another comment. None for the account's own comment that answers nobody.

    Raises RateLimited and AuthFailed (the account is throttled, its token unusable: Graph's
    codes, as for polling), GraphUnavailable when the same call may succeed later, and
    ConnectorError when it will not (deleted, comments turned off, a permission error about
    this comment, an answer that is not a mentioned comment). Blocking, and as quick as ``client``'s timeout:
    the webhook answers Meta within seconds."""
    account = source.options.get("ig_user_id")
    if not account:
        raise ConnectorError(f"the instagram source {source.source_id} needs the ig_user_id option")
    token = bearer_token(secret)
    try:
        body = _mentioned_comment(client, source, account, token, comment_id, MENTION_FIELDS, now)
    except _FieldsRefused:
        body = _mentioned_comment(client, source, account, token, comment_id, MENTION_FIELDS_NARROW, now)
    return mention_message(source, body.get("mentioned_comment"), media_id=media_id, comment_id=comment_id)


def mention_message(source: Source, raw: Any, *, media_id: str, comment_id: str) -> Message | None:
    """A ``mentioned_comment`` object as a Message (kind mention); ConnectorError if it is not one."""
    try:
        comment = _MentionedComment.model_validate(raw)
    except ValidationError as error:
        raise ConnectorError("malformed mentioned_comment") from error
    if comment.id != comment_id:
        raise ConnectorError("Graph answered with another comment than the one mentioned")
    username = (comment.author.username if comment.author else "") or comment.username
    author_id = comment.author.id if comment.author else username
    if not author_id:
        raise ConnectorError("a mentioned comment without an author")
    account = source.options.get("ig_user_id", "")
    own_username = source.options.get(USERNAME, "")
    from_brand = (comment.author is not None and comment.author.id == account) or (
        bool(own_username) and username.lower() == own_username.lower()
    )
    if from_brand and not comment.parent_id:
        return None  # the account mentioning itself answers nobody
    media = comment.media
    permalink = media.permalink if media is not None and media.permalink else None
    try:
        return Message(
            brand=source.brand_id,
            platform=PLATFORM,
            source_id=source.source_id,
            platform_id=comment.id,
            thread_id=media.id if media is not None else media_id,
            parent_id=comment.parent_id or None,
            author_id=author_id,
            author_handle=f"@{username}" if username else author_id,
            text=comment.text,
            permalink=permalink if permalink and permalink.startswith("https://") else None,
            created_at=comment.timestamp,
            kind=MessageKind.MENTION,
            from_brand=from_brand,
        )
    except ValidationError as error:
        raise ConnectorError("malformed mentioned_comment") from error


def _mentioned_comment(
    client: httpx.Client, source: Source, account: str, token: str, comment_id: str, fields: str, now: datetime
) -> dict[str, Any]:
    params = {"fields": f"mentioned_comment.comment_id({comment_id}){{{fields}}}"}
    try:
        response = client.get(
            f"{source.base_url}/{account}", params=params, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as error:  # timeouts and connection failures
        raise GraphUnavailable(type(error).__name__) from error
    code, transient = _graph_error(response)
    if code == FIELD_ERROR_CODE and not transient:
        raise _FieldsRefused(f"Graph error {code} (HTTP {response.status_code})")
    if code in PERMISSION_CODES:
        # About this comment (its medium's settings or owner), not the whole account as for
        # polling: the account's other mentions are still read.
        raise ConnectorError(f"Graph permission error {code} (HTTP {response.status_code})")
    try:
        raise_for_graph_error(response, now)
    except (RateLimited, AuthFailed):
        raise
    except ConnectorError as error:
        if transient or code in TRANSIENT_CODES:
            raise GraphUnavailable(str(error)) from error
        raise
    if response.status_code >= 500:
        raise GraphUnavailable(f"HTTP {response.status_code}")
    check(response, now)
    body = json_body(response)
    if not isinstance(body, dict):
        raise ConnectorError("Graph answered with something other than a JSON object")
    return body


def _graph_error(response: httpx.Response) -> tuple[int | None, bool]:
    """The code of a Graph error body, and whether Graph marks it transient (``is_transient``)."""
    try:
        body = response.json()
    except ValueError:
        return None, False
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, False
    try:
        code: int | None = int(error.get("code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        code = None
    return code, error.get("is_transient") is True
