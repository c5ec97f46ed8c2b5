"""A small X API v2 server for replays, benchmarks and tests (the project's own fake).

It serves, from an in-memory set of users and posts, the calls ReplyWatch makes:

* ``GET /2/users/me``: the user the bearer token belongs to (a user-context token;
  an app-only token is refused with 403, as X does);
* ``GET /2/users/{id}/mentions``: posts that mention the user;
* ``GET /2/users/{id}/tweets``: the user's own posts (``exclude=replies,retweets``).

Both timelines implement ``since_id``, ``until_id``, ``start_time``, ``end_time``,
``pagination_token`` (opaque base32hex tokens that page to older posts),
``max_results`` (5..100, default 10), newest first, ``meta`` (``result_count``,
``newest_id``, ``oldest_id``, ``next_token``), ``tweet.fields`` (``post.fields``, the
name in X's current OpenAPI document, is accepted too), ``expansions=author_id``
and ``in_reply_to_user_id`` into ``includes.users`` with ``user.fields``. Unknown
parameters or bad values are a 400 in X's problem shape; an unknown user a 200 with
a ``resource-not-found`` problem. Every answer carries ``x-rate-limit-*`` headers
(counted per token and endpoint over 15-minute windows; enforced when
``rate_limit`` is set), and ``post_cap`` makes it answer X's ``UsageCapExceeded``
429 once that many posts have been read. Several users (brands) share one server:
the bearer token selects the user of ``/2/users/me``, the path the timelines.

    api = XApi()
    api.add_user("1001", "acme", token="t-acme")
    api.add_post("1500000000000000000", author_id="2002", text="@acme help", created_at=..., mentions=["1001"])
    with FakeXServer(api, latency_ms=20) as server:
        ...  # server.base_url
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from infra.local.http_fake import HttpFake

DEFAULT_RESULTS, MIN_RESULTS, MAX_RESULTS = 10, 5, 100
WINDOW_SECONDS = 15 * 60
UNLIMITED = 1_000_000  # the x-rate-limit-limit reported when no limit is enforced

TWEET_FIELDS = frozenset(
    {"author_id", "conversation_id", "created_at", "edit_history_tweet_ids", "id", "in_reply_to_user_id"}
    | {"lang", "referenced_tweets", "text", "reply_settings", "possibly_sensitive", "source"}
)
USER_FIELDS = frozenset({"id", "name", "username", "created_at", "protected", "verified"})
EXPANSIONS = frozenset({"author_id", "in_reply_to_user_id"})
TIMELINE_PARAMS = frozenset(
    {"max_results", "pagination_token", "since_id", "until_id", "start_time", "end_time", "expansions"}
    | {"tweet.fields", "post.fields", "user.fields", "media.fields", "poll.fields", "place.fields"}
)
_ID = re.compile(r"^[0-9]{1,19}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
_PROBLEMS = "https://api.x.com/2/problems"  # as X's OpenAPI document names them

Answer = tuple[int, dict[str, Any], dict[str, str]]


def x_timestamp(moment: datetime) -> str:
    """How X writes ``created_at``: UTC, milliseconds, ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def snowflake_time(post_id: str | int) -> datetime:
    """When X created a post, from its id: ``(id >> 22) + 1288834974657`` ms since the epoch."""
    return datetime.fromtimestamp(((int(post_id) >> 22) + 1288834974657) / 1000, tz=UTC)


def _escape(text: str) -> str:
    """X escapes these three in post text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class User:
    id: str
    username: str
    name: str
    created_at: datetime = datetime(2010, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Post:
    id: str
    author_id: str
    text: str
    created_at: datetime
    conversation_id: str
    in_reply_to_user_id: str | None = None
    references: tuple[tuple[str, str], ...] = ()  # (replied_to | quoted | retweeted, post id)
    mentions: frozenset[str] = frozenset()  # ids of the users it mentions

    @property
    def number(self) -> int:
        return int(self.id)

    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.references}


@dataclass
class _Timeline:
    ids: list[int] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)

    def insert(self, post: Post) -> None:
        at = bisect.bisect(self.ids, post.number)
        self.ids.insert(at, post.number)
        self.posts.insert(at, post)

    def newest_first(self, *, above: int | None, below: int | None) -> Iterator[Post]:
        """Posts with ``above < id < below``, newest first."""
        low = 0 if above is None else bisect.bisect_right(self.ids, above)
        high = len(self.ids) if below is None else bisect.bisect_left(self.ids, below)
        for index in range(high - 1, low - 1, -1):
            yield self.posts[index]


class _BadRequest(Exception):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


def _token_for(post_id: int) -> str:
    return base64.b32hexencode(str(post_id).encode()).decode().rstrip("=").lower()


def _older_than(token: str) -> int:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        value = base64.b32hexdecode(padded).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _BadRequest("pagination_token", "The `pagination_token` query parameter value is not valid") from None
    if not _ID.match(value):
        raise _BadRequest("pagination_token", "The `pagination_token` query parameter value is not valid")
    return int(value)


def _time_param(name: str, value: str) -> datetime:
    if not _TIME.match(value):
        raise _BadRequest(name, f"Invalid '{name}':'{value}'. '{name}' must be a valid RFC3339 date-time")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class XApi:
    """The data and the answers, independent of any transport."""

    rate_limit: int | None = None  # requests per token and endpoint per 15 minutes
    post_cap: int | None = None  # posts read, all tokens together, before UsageCapExceeded
    clock: Callable[[], float] = time.time
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str | None] = field(default_factory=dict)  # token -> user id (None: app-only)
    posts_read: int = 0
    requests: list[str] = field(default_factory=list)  # path?query of every request, in order
    # Each user's timelines, oldest first, with their ids for bisection: user id -> (ids, posts)
    _authored: dict[str, _Timeline] = field(default_factory=dict)
    _mentioning: dict[str, _Timeline] = field(default_factory=dict)
    _by_id: dict[str, Post] = field(default_factory=dict)
    _windows: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- the data ---------------------------------------------------------------------------------

    def add_user(self, user_id: str, username: str, *, token: str | None = None, name: str | None = None) -> User:
        user = User(id=user_id, username=username, name=name or username)
        with self._lock:
            self.users[user_id] = user
            if token is not None:
                self.tokens[token] = user_id
        return user

    def add_app_token(self, token: str) -> None:
        """An app-only bearer token: reads any timeline, but has no ``/2/users/me``."""
        with self._lock:
            self.tokens[token] = None

    def add_post(
        self,
        post_id: str,
        *,
        author_id: str,
        text: str,
        created_at: datetime | None = None,
        reply_to: str | None = None,
        in_reply_to_user_id: str | None = None,
        conversation_id: str | None = None,
        mentions: Iterable[str] = (),
        references: Iterable[tuple[str, str]] = (),
    ) -> Post:
        """Add a post; ``reply_to`` names its parent post (its author and conversation are
        taken from the parent when it is known and they are not given)."""
        refs = list(references)
        parent = None
        if reply_to is not None:
            refs.insert(0, ("replied_to", reply_to))
            parent = self._by_id.get(reply_to)
            if in_reply_to_user_id is None and parent is not None:
                in_reply_to_user_id = parent.author_id
            if conversation_id is None and parent is not None:
                conversation_id = parent.conversation_id
        post = Post(
            id=str(post_id),
            author_id=author_id,
            text=text,
            created_at=created_at or snowflake_time(post_id),
            conversation_id=conversation_id or str(post_id),
            in_reply_to_user_id=in_reply_to_user_id,
            references=tuple(refs),
            mentions=frozenset(mentions),
        )
        with self._lock:
            if post.id in self._by_id:
                raise ValueError(f"post {post.id} exists")
            self._authored.setdefault(post.author_id, _Timeline()).insert(post)
            for user_id in post.mentions:
                self._mentioning.setdefault(user_id, _Timeline()).insert(post)
            self._by_id[post.id] = post
        return post

    def post(self, post_id: str) -> Post | None:
        return self._by_id.get(post_id)

    # --- the answers ------------------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: Mapping[str, str]) -> Answer:
        """Status, JSON body and headers for one request (``target``: path and query)."""
        url = urlsplit(target)
        with self._lock:
            self.requests.append(target)
        authorization = next((value for key, value in headers.items() if key.lower() == "authorization"), "")
        token = authorization[7:] if authorization.startswith("Bearer ") else None
        if token is None or token not in self.tokens:
            return 401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}, {}
        if method != "GET":
            return 405, _problem("about:blank", "Method Not Allowed", f"{method} is not supported here", 405), {}
        parts = url.path.rstrip("/").split("/")
        if parts[:3] == ["", "2", "users"] and len(parts) == 4 and parts[3] == "me":
            endpoint = "/2/users/me"
        elif parts[:3] == ["", "2", "users"] and len(parts) == 5 and parts[4] in ("mentions", "tweets"):
            endpoint = f"/2/users/:id/{parts[4]}"
        else:
            return 404, _problem("about:blank", "Not Found Error", "Sorry, that page does not exist", 404), {}
        limited, limit_headers = self._count_request(token, endpoint)
        if limited:
            body = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
            return 429, body, limit_headers
        query = parse_qsl(url.query, keep_blank_values=True)
        try:
            if endpoint == "/2/users/me":
                return (*self._me(token, query), limit_headers)
            status, body = self._timeline(parts[3], parts[4], query)
        except _BadRequest as bad:
            return 400, _invalid(bad), limit_headers
        return status, body, limit_headers

    def _count_request(self, token: str, endpoint: str) -> tuple[bool, dict[str, str]]:
        now = int(self.clock())
        limit = self.rate_limit if self.rate_limit is not None else UNLIMITED
        with self._lock:
            start, used = self._windows.get((token, endpoint), (now, 0))
            if now >= start + WINDOW_SECONDS:
                start, used = now, 0
            limited = used >= limit
            if not limited:
                used += 1
            self._windows[(token, endpoint)] = (start, used)
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(0, limit - used)),
            "x-rate-limit-reset": str(start + WINDOW_SECONDS),
        }
        return limited, headers

    def _me(self, token: str, query: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        user_id = self.tokens[token]
        if user_id is None:
            return 403, {
                "title": "Unsupported Authentication",
                "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
                "type": f"{_PROBLEMS}/unsupported-authentication",
                "status": 403,
            }
        params = _params(query, {"user.fields", "expansions", "tweet.fields", "post.fields"})
        return 200, {"data": self._user(self.users[user_id], _fields(params, "user.fields", USER_FIELDS))}

    def _timeline(self, user_id: str, kind: str, query: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        params = _params(query, TIMELINE_PARAMS | ({"exclude"} if kind == "tweets" else set()))
        if not _ID.match(user_id):
            raise _BadRequest("id", f"The `id` query parameter value [{user_id}] does not match ^[0-9]{{1,19}}$")
        max_results = _integer(params, "max_results", DEFAULT_RESULTS, MIN_RESULTS, MAX_RESULTS)
        since_id = _id(params, "since_id")
        until_id = _id(params, "until_id")
        start = _time_param("start_time", params["start_time"]) if "start_time" in params else None
        end = _time_param("end_time", params["end_time"]) if "end_time" in params else None
        older_than = _older_than(params["pagination_token"]) if "pagination_token" in params else None
        excluded = set(params.get("exclude", "").split(",")) - {""}
        if excluded - {"replies", "retweets"}:
            raise _BadRequest("exclude", "The `exclude` query parameter value is not one of [replies,retweets]")
        tweet_fields = _fields(params, "tweet.fields", TWEET_FIELDS) | _fields(params, "post.fields", TWEET_FIELDS)
        user_fields = _fields(params, "user.fields", USER_FIELDS)
        expansions = _fields(params, "expansions", None)
        if user_id not in self.users:
            return 200, {"errors": [_not_found(user_id)]}

        def wanted(post: Post) -> bool:
            if kind == "tweets" and (
                ("replies" in excluded and "replied_to" in post.kinds())
                or ("retweets" in excluded and "retweeted" in post.kinds())
            ):
                return False
            return (start is None or post.created_at >= start) and (end is None or post.created_at <= end)

        bounds = [bound for bound in (until_id, older_than) if bound is not None]
        below = min(bounds) if bounds else None
        with self._lock:
            timeline = (self._mentioning if kind == "mentions" else self._authored).get(user_id, _Timeline())
            chosen: list[Post] = []
            more = False
            for post in timeline.newest_first(above=since_id, below=below):
                if wanted(post):
                    if len(chosen) == max_results:
                        more = True
                        break
                    chosen.append(post)
            capped = self.post_cap is not None and chosen and self.posts_read + len(chosen) > self.post_cap
            if not capped:
                self.posts_read += len(chosen)
        if capped:
            return 429, {
                "account_id": "1",
                "product_name": "fake",
                "title": "UsageCapExceeded",
                "period": "Monthly",
                "scope": "Product",
                "detail": "Usage cap exceeded: Monthly product cap",
                "type": f"{_PROBLEMS}/usage-capped",
            }
        body: dict[str, Any] = {}
        meta: dict[str, Any] = {"result_count": len(chosen)}
        if chosen:
            body["data"] = [self._post(post, tweet_fields) for post in chosen]
            meta["newest_id"], meta["oldest_id"] = chosen[0].id, chosen[-1].id
            if more:
                meta["next_token"] = _token_for(chosen[-1].number)
            users: dict[str, User] = {}
            for post in chosen:
                if "author_id" in expansions and post.author_id in self.users:
                    users.setdefault(post.author_id, self.users[post.author_id])
                if "in_reply_to_user_id" in expansions and post.in_reply_to_user_id in self.users:
                    users.setdefault(post.in_reply_to_user_id, self.users[post.in_reply_to_user_id])
            if users:
                body["includes"] = {"users": [self._user(user, user_fields) for user in users.values()]}
        body["meta"] = meta
        return 200, body

    @staticmethod
    def _post(post: Post, fields: set[str]) -> dict[str, Any]:
        item: dict[str, Any] = {"id": post.id, "text": _escape(post.text), "edit_history_tweet_ids": [post.id]}
        if "author_id" in fields:
            item["author_id"] = post.author_id
        if "created_at" in fields:
            item["created_at"] = x_timestamp(post.created_at)
        if "conversation_id" in fields:
            item["conversation_id"] = post.conversation_id
        if "in_reply_to_user_id" in fields and post.in_reply_to_user_id is not None:
            item["in_reply_to_user_id"] = post.in_reply_to_user_id
        if "referenced_tweets" in fields and post.references:
            item["referenced_tweets"] = [{"type": kind, "id": ref} for kind, ref in post.references]
        if "lang" in fields:
            item["lang"] = "en"
        return item

    @staticmethod
    def _user(user: User, fields: set[str]) -> dict[str, Any]:
        item: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "created_at" in fields:
            item["created_at"] = x_timestamp(user.created_at)
        if "protected" in fields:
            item["protected"] = False
        if "verified" in fields:
            item["verified"] = False
        return item

    # --- transports -------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """This API in-process, for an ``httpx`` client (no sockets)."""

        def handle(request: httpx.Request) -> httpx.Response:
            target = request.url.raw_path.decode()
            status, body, headers = self.answer(request.method, target, request.headers)
            return httpx.Response(status, json=body, headers=headers)

        return httpx.MockTransport(handle)


def _problem(kind: str, title: str, detail: str, status: int) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": kind, "status": status}


def _invalid(bad: _BadRequest) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {bad.parameter: []}, "message": bad.message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": f"{_PROBLEMS}/invalid-request",
    }


def _not_found(user_id: str) -> dict[str, Any]:
    return {
        "value": user_id,
        "detail": f"Could not find user with id: [{user_id}].",
        "title": "Not Found Error",
        "resource_type": "user",
        "parameter": "id",
        "resource_id": user_id,
        "type": f"{_PROBLEMS}/resource-not-found",
    }


def _params(query: list[tuple[str, str]], allowed: set[str] | frozenset[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in query:
        if name not in allowed:
            raise _BadRequest(name, f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]")
        if name in found:
            raise _BadRequest(name, f"Duplicate parameters are not allowed: the `{name}` query parameter")
        found[name] = value
    return found


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    if name not in params:
        return default
    value = params[name]
    if not value.isdigit() or not low <= int(value) <= high:
        raise _BadRequest(name, f"The `{name}` query parameter value [{value}] is not between {low} and {high}")
    return int(value)


def _id(params: Mapping[str, str], name: str) -> int | None:
    if name not in params:
        return None
    if not _ID.match(params[name]):
        raise _BadRequest(name, f"The `{name}` query parameter value [{params[name]}] does not match ^[0-9]{{1,19}}$")
    return int(params[name])


def _fields(params: Mapping[str, str], name: str, allowed: frozenset[str] | None) -> set[str]:
    if name not in params:
        return set()
    values = params[name].split(",")
    if not all(values) or (allowed is not None and not set(values) <= allowed):
        raise _BadRequest(name, f"The `{name}` query parameter value [{params[name]}] is not supported here")
    return set(values)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 2048  # a benchmark opens a thousand connections at once


class FakeXServer(HttpFake):
    """``api`` over real HTTP/1.1 (keep-alive) on 127.0.0.1, in a background thread."""

    server_class = _Server
    thread_name = "fake-x"

    def __init__(self, api: XApi, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0) -> None:
        self.api = api
        self.latency_ms = latency_ms
        self.in_flight = 0
        self.most_in_flight = 0  # how many requests were ever being answered at once
        self._counting = threading.Lock()
        super().__init__(host=host, port=port)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._answer("GET")

            def _answer(self, method: str) -> None:
                with server._counting:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    if server.latency_ms:
                        time.sleep(server.latency_ms / 1000)
                    status, body, headers = server.api.answer(method, self.path, dict(self.headers.items()))
                finally:
                    with server._counting:
                        server.in_flight -= 1
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
