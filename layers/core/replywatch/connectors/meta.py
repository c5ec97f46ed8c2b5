"""Meta's Graph API (Facebook Pages, Instagram): what the two connectors share.

Errors. Graph says what went wrong in the JSON error body, whatever the HTTP status: a
throttled call may come back as 400 or 403, an expired token as 400. So the body is read
first (codes 4, 17, 32, 341, 613 and the 80000s are throttling, 190 an unusable token, 10
and 200-299 a missing permission, 100 with subcode 33 an object that does not exist) and the
status only when there is no Graph error.

Usage. Answers carry X-App-Usage, X-Page-Usage and X-Business-Use-Case-Usage: JSON with
percentages of the allowance spent (call_count, total_time, total_cputime) and, when
throttled, estimated_time_to_regain_access in minutes. At 95% a stream stops after the page
in hand and the source waits.

Scans. Neither Pages comments nor Instagram comments can be listed by time across an
account, so each stream scans a window of parents (posts, media, conversations) whose
answers embed their newest children, and reads the children that are new: created at or
after the stream's mark and not among the ids already taken at the mark. A parent with more
children than fit in its embedded page becomes a job (its own edge, from the embedded
page's ``after`` cursor). A scan may span several polls (``max_pages`` requests per stream
per poll): its position (the parent list's ``after`` cursor and the pending jobs, never a
``paging.next`` URL, which carries the token) is saved with every page. When a scan is
complete the mark moves to the scan's start less ``MARK_LAG``, so whatever was created or
became visible while the scan ran is read by the next one; the ids read at or after the new
mark are kept to skip them then. At most ``MAX_IDS`` of them, the newest, so that a busy
Page's cursor stays small (the source's state is one DynamoDB item, 400 KB at most): the mark
does not move for those forgotten, so the next scan reads them again (stored once, as ingest
is idempotent) and never passes over a child it has not read. A job whose parent was deleted
since it was listed (Graph: the object does not exist) is dropped: its children went with it,
and asking again would stall the stream on it for ever.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from pydantic import BaseModel, Field, ValidationError

from replywatch.connectors.base import AuthFailed, ConnectorError, Page, PollContext, RateLimited, bearer_token
from replywatch.connectors.http import Params, check, json_body, parse_retry_after
from replywatch.models import Message

logger = logging.getLogger(__name__)

THROTTLE_CODES = frozenset({4, 17, 32, 341, 613})
BUSINESS_USE_CASE_CODES = range(80000, 81000)  # 80001 Pages, 80002 Instagram, 80006 Messenger, ...
TOKEN_CODES = frozenset({102, 190})  # 190: OAuthException, the token expired, was revoked or is invalid
PERMISSION_CODES = frozenset({10, *range(200, 300)})
GONE = (100, 33)  # code, error_subcode: "Object with ID ... does not exist, cannot be loaded ..."
USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-page-usage")
USAGE_FIELDS = ("call_count", "total_time", "total_cputime")
NEAR_LIMIT_PERCENT = 95.0
THROTTLE_BACKOFF = timedelta(minutes=10)  # throttled, and Graph did not say for how long
MARK_LAG = timedelta(minutes=5)  # Graph's lists can trail its clock: re-read this much at the mark
PAGING_KEYS = frozenset({"after", "until", "__paging_token"})
WINDOW_OPTION = "post_window_days"
DEFAULT_WINDOW_DAYS = 14
MAX_IDS = 400  # ids kept per stream at the mark (and during a scan): beyond, the oldest are forgotten
INVALID = (ValidationError, TypeError, ValueError)  # what reading a malformed item raises


# --- requests and their errors -------------------------------------------------------------------


class ObjectGone(ConnectorError):
    """Graph says the object asked for does not exist (deleted, or never visible to this token)."""


async def graph_get(ctx: PollContext, path: str, params: list[tuple[str, str]]) -> tuple[dict[str, Any], httpx.Headers]:
    """GET ``{base_url}/{path}`` with the source's token: the JSON object and the headers.

    Graph's own error codes decide what a failure means; then the HTTP status."""
    token = bearer_token(ctx.secret)
    query: Params = list(params)
    try:
        response = await ctx.client.get(
            f"{ctx.source.base_url}/{path}", params=query, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as error:
        raise ConnectorError(type(error).__name__) from error
    raise_for_graph_error(response, ctx.now)
    check(response, ctx.now)
    body = json_body(response)
    if not isinstance(body, dict):
        raise ConnectorError("Graph answered with something other than a JSON object")
    return body, response.headers


def raise_for_graph_error(response: httpx.Response, now: datetime) -> None:
    """RateLimited, AuthFailed or ConnectorError for an answer whose body is a Graph error."""
    try:
        body = response.json()
    except ValueError:
        return
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return
    code = _int(error.get("code"))
    if code in THROTTLE_CODES or (code is not None and code in BUSINESS_USE_CASE_CODES):
        raise RateLimited(throttled_until(response.headers, now))
    if code in TOKEN_CODES:
        raise AuthFailed(f"Graph error {code}")
    if code in PERMISSION_CODES:
        raise AuthFailed(f"Graph permission error {code}")
    if (code, _int(error.get("error_subcode"))) == GONE:
        raise ObjectGone(f"Graph error {code}/{GONE[1]}: no such object (HTTP {response.status_code})")
    # Not the message: it may quote the request.
    raise ConnectorError(f"Graph error {code} (HTTP {response.status_code})")


def usage(headers: Mapping[str, str]) -> tuple[float, float]:
    """The highest share of any allowance spent (percent) and the longest wait Graph announced
    (minutes), over every usage header of an answer. Unreadable headers count as nothing."""
    highest, wait = 0.0, 0.0
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            document = json.loads(raw)
        except ValueError:
            continue
        for entry in _usage_entries(document):
            for key in USAGE_FIELDS:
                highest = max(highest, _number(entry.get(key)))
            wait = max(wait, _number(entry.get("estimated_time_to_regain_access")))
    return highest, wait


def near_limit(headers: Mapping[str, str]) -> bool:
    return usage(headers)[0] >= NEAR_LIMIT_PERCENT


def throttled_until(headers: Mapping[str, str], now: datetime) -> datetime:
    """When to call again: Graph's estimate of when access returns, else Retry-After, else a pause."""
    _, minutes = usage(headers)
    if minutes > 0:
        return now + timedelta(minutes=minutes)
    retry_after = headers.get("retry-after")
    if retry_after:
        moment = parse_retry_after(retry_after, now)
        if moment is not None and moment > now:
            return moment
    return now + THROTTLE_BACKOFF


def _usage_entries(document: Any) -> list[Mapping[str, Any]]:
    """X-App-Usage and X-Page-Usage are one object; X-Business-Use-Case-Usage maps business
    object ids to lists of objects, one per use case."""
    if not isinstance(document, dict):
        return []
    if any(key in document for key in (*USAGE_FIELDS, "estimated_time_to_regain_access")):
        return [document]
    found: list[Mapping[str, Any]] = []
    for value in document.values():
        values = value if isinstance(value, list) else [value]
        found.extend(entry for entry in values if isinstance(entry, dict))
    return found


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- answers ---------------------------------------------------------------------------------------


def items(connection: Any) -> list[Any]:
    """The ``data`` list of a Graph list (an answer or an embedded edge); nothing if absent."""
    if isinstance(connection, dict) and isinstance(connection.get("data"), list):
        return list(connection["data"])
    return []


def next_after(connection: Any) -> str | None:
    """Where the following page starts, as query parameters (``after=...``, or ``until=...`` and
    ``__paging_token=...`` for lists paged by time); None at the end, where ``paging.next`` is
    missing. Taken from ``paging.cursors.after`` and the ``next`` URL, leaving out everything
    else in that URL (its ``access_token`` above all): this is saved in the cursor."""
    if not isinstance(connection, dict):
        return None
    paging = connection.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    kept = [(key, value) for key, value in parse_qsl(urlsplit(str(paging["next"])).query) if key in PAGING_KEYS]
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if after:
        kept = [("after", str(after)), *((key, value) for key, value in kept if key != "after")]
    if not kept:
        logger.warning("a Graph list names a next page but no way to ask for it")
        return None
    return urlencode(kept)


def page_params(after: str) -> list[tuple[str, str]]:
    """The query parameters that ask for the page ``next_after`` named."""
    return parse_qsl(after) if after else []


def item_id(item: Any) -> str | None:
    if isinstance(item, dict) and item.get("id") is not None:
        return str(item["id"])
    return None


class GraphNode(BaseModel):
    """A Graph object, as far as every one goes: a non-empty id."""

    id: str = Field(min_length=1)


def skipped_malformed(platform: str, ctx: PollContext, item: Any, stream: str) -> None:
    """Log a malformed item by its id only (never its text), on the platform's connector logger."""
    logging.getLogger(f"replywatch.connectors.{platform}").warning(
        "skipped malformed %s item",
        platform,
        extra={"source_id": ctx.source.source_id, "item_id": item_id(item), "stream": stream},
    )


def window_start(ctx: PollContext) -> datetime:
    """The oldest parent (post, media) a scan looks at: ``post_window_days`` back from now."""
    try:
        days = int(ctx.option(WINDOW_OPTION, str(DEFAULT_WINDOW_DAYS)) or DEFAULT_WINDOW_DAYS)
    except ValueError:
        days = DEFAULT_WINDOW_DAYS
    return ctx.now - timedelta(days=max(1, days))


def required_option(ctx: PollContext, name: str) -> str:
    value = ctx.option(name)
    if not value:
        raise ConnectorError(f"the {ctx.source.platform} source {ctx.source.source_id} needs the {name} option")
    return value


# --- scans -----------------------------------------------------------------------------------------


@dataclass
class Job:
    """A parent's children beyond its embedded page: read ``path`` from ``after``."""

    path: str
    after: str
    context: dict[str, str] = field(default_factory=dict)

    def dump(self) -> list[Any]:
        return [self.path, self.after, self.context]

    @classmethod
    def load(cls, raw: Any) -> Job:
        path, after, context = raw
        return cls(path=str(path), after=str(after), context={str(k): str(v) for k, v in dict(context).items()})


@dataclass
class Step:
    """What one request gave: messages, further jobs, and the parent list's next cursor."""

    headers: Mapping[str, str]
    messages: list[Message] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    skipped: int = 0
    next_after: str | None = None  # listings only: None when the parent list is read

    def skip(self, platform: str, ctx: PollContext, item: Any, stream: str) -> None:
        """Count a malformed item, and log it by its id only."""
        self.skipped += 1
        skipped_malformed(platform, ctx, item, stream)


@dataclass
class Scan:
    """One stream's position: its mark, and the scan under way (if any)."""

    name: str
    mark: datetime
    taken: dict[str, None]  # ids read at or after the mark, newest first (an ordered set; MAX_IDS kept)
    known_counts: dict[str, int]  # children per parent when last read in full (see ``counts``)
    started: datetime | None = None
    after: str | None = ""  # "" the first page of the parent list, None: the list is read
    jobs: list[Job] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)  # ids at or after the next mark: their epoch seconds
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, cursor: Mapping[str, str], name: str, ctx: PollContext) -> Scan:
        default = ctx.backfill_from or ctx.now - timedelta(hours=24)
        mark = _moment(cursor.get(name)) or default
        taken = dict.fromkeys((cursor.get(f"{name}_ids") or "").split()[:MAX_IDS])
        counts = _counts(cursor.get(f"{name}_counts"))
        scan = cls(name=name, mark=mark, taken=taken, known_counts=counts)
        raw = cursor.get(f"{name}_scan")
        if raw:
            try:
                state = json.loads(raw)
                scan.started = _moment(state["started"])
                scan.after = state.get("after")
                scan.jobs = [Job.load(job) for job in state.get("jobs", [])]
                scan.seen = _seen(state.get("seen", {}), scan.next_mark)
                scan.counts = _counts(json.dumps(state.get("counts", {})))
            except (ValueError, KeyError, TypeError, OverflowError):
                logger.warning("unreadable scan position; starting the scan again", extra={"stream": name})
                scan.started, scan.after, scan.jobs, scan.seen, scan.counts = None, "", [], {}, {}
        return scan

    @property
    def next_mark(self) -> datetime:
        started = self.started or self.mark
        return max(self.mark, started - MARK_LAG)

    def is_new(self, child_id: str, created: datetime) -> bool:
        """Read this child now? Remembers the ids the next scan will meet again at its mark."""
        if created >= self.next_mark:
            self.seen[child_id] = int(created.timestamp())
        return created >= self.mark and child_id not in self.taken

    def finish(self) -> None:
        self.mark = self.next_mark
        self.taken = dict.fromkeys(_newest(self.seen))
        self.known_counts = dict(self.counts)
        self.started, self.after, self.jobs, self.seen, self.counts = None, "", [], {}, {}

    def save(self, cursor: dict[str, str]) -> None:
        name = self.name
        cursor[name] = self.mark.astimezone(UTC).isoformat()
        for key in (f"{name}_ids", f"{name}_scan", f"{name}_counts"):
            cursor.pop(key, None)
        if self.taken:
            cursor[f"{name}_ids"] = " ".join(self.taken)
        if self.known_counts:
            cursor[f"{name}_counts"] = json.dumps(self.known_counts, sort_keys=True, separators=(",", ":"))
        if self.started is not None:
            state = {
                "started": self.started.isoformat(),
                "after": self.after,
                "jobs": [job.dump() for job in self.jobs],
                "seen": {child_id: self.seen[child_id] for child_id in _newest(self.seen)},
                "counts": self.counts,
            }
            cursor[f"{name}_scan"] = json.dumps(state, separators=(",", ":"))


class Walk(Protocol):
    """One stream of a connector: how to read a page of its parents, and a job."""

    name: str

    async def listing(self, ctx: PollContext, scan: Scan, after: str) -> Step: ...

    async def job(self, ctx: PollContext, scan: Scan, job: Job) -> Step: ...


async def run_scan(ctx: PollContext, cursor: dict[str, str], walk: Walk) -> AsyncIterator[Page]:
    """Yield one Page per request of ``walk``'s stream, at most ``ctx.max_pages`` of them.

    Jobs first (the children of parents already read), then the next page of parents. Each
    page's cursor holds the scan's position after it; ``cursor`` is updated in place."""
    scan = Scan.load(cursor, walk.name, ctx)
    if scan.started is not None and scan.after is None and not scan.jobs:
        scan.finish()  # nothing left of it (a position saved by an older version)
    if scan.started is None:
        scan.started = ctx.now
    for _ in range(ctx.max_pages):
        if scan.jobs:
            job = scan.jobs.pop(0)
            try:
                step = await walk.job(ctx, scan, job)
            except ObjectGone:
                # The parent was deleted after it was listed: nothing of it is left to read.
                logger.info(
                    "parent gone: its further children are not read",
                    extra={"source_id": ctx.source.source_id, "item_id": job.path.split("/")[0], "stream": walk.name},
                )
                step = Step(headers={})
        else:
            try:
                step = await walk.listing(ctx, scan, scan.after or "")
            except ObjectGone as gone:  # the Page or account itself: its id option is wrong
                raise ConnectorError(f"the {walk.name} list's owner does not exist for this token") from gone
            scan.after = step.next_after
        scan.jobs[:0] = step.jobs
        complete = not scan.jobs and scan.after is None
        if complete:
            scan.finish()
        scan.save(cursor)
        yield Page(messages=step.messages, cursor=dict(cursor), skipped=step.skipped)
        if near_limit(step.headers):
            raise RateLimited(throttled_until(step.headers, ctx.now))
        if complete:
            return


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _newest(seen: Mapping[str, int]) -> list[str]:
    """The ``MAX_IDS`` newest ids of ``seen``, newest first (ties by id, so any order of reading
    keeps the same ones). What is left out may be read twice, never passed over."""
    return sorted(seen, key=lambda child_id: (seen[child_id], child_id), reverse=True)[:MAX_IDS]


def _seen(raw: Any, fallback: datetime) -> dict[str, int]:
    """A saved position's ids with their times; a bare list of ids (saved before the times were)
    counts as at ``fallback``, the oldest they can be."""
    if isinstance(raw, list):
        return {str(child_id): int(fallback.timestamp()) for child_id in raw}
    return {str(child_id): int(at) for child_id, at in dict(raw).items()}


def _counts(raw: str | None) -> dict[str, int]:
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {str(key): int(value) for key, value in document.items() if isinstance(value, int)}
