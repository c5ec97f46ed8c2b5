"""The Mastodon connector against a Mastodon server nobody on the team wrote.

``mastodon-mock`` (PyPI) runs a real HTTP server with its own idea of ids,
paging, HTML content and rate limits. Two customers mention the brand ~100
times (several pages of 40), the brand answers some of them, and the connector
must collect every mention and every reply exactly once: across pages, across
polls from a saved cursor, and across a rate limit or server error in the
middle of a poll.

The second half checks what the connector sends and reads against the
published Mastodon OpenAPI description, when ``../shared`` is present.
"""

from __future__ import annotations

import asyncio
import json
import re
import types
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Union, get_args, get_origin
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from boto3.dynamodb.types import TypeDeserializer
from mastodon_mock.config import SeedAccount, SeedConfig
from mastodon_mock.testing.server import MockServer
from pydantic import BaseModel

from replywatch.connectors import PollContext
from replywatch.connectors.base import Page
from replywatch.connectors.mastodon import PAGE_LIMIT, MastodonConnector, _Account, _Notification, _Status
from replywatch.models import Brand, Message, MessageKind, SlaPolicy, Source
from replywatch.polling import Poller
from replywatch.store import MessageStore, StateStore, iso
from tests.support import aws
from tests.support.template import ROOT

SPEC_PATH = ROOT.parent / "shared" / "specs" / "mastodon" / "openapi.json"

BRAND_TOKEN = "brand_tok"
CUSTOMERS = {"cust1": "c1_tok", "cust2": "c2_tok"}
SEED = SeedConfig(
    accounts=[
        SeedAccount(username="brand", access_token=BRAND_TOKEN),
        *(SeedAccount(username=name, access_token=token) for name, token in CUSTOMERS.items()),
    ]
)
SECRET_NAME = "replywatch/acme/mastodon-mock"
MENTIONS = 95  # three pages of 40
REPLY_EVERY = 7  # the brand answers every 7th mention ...
REPLY_LAG = 3  # ... after three more mentions have come in
DIRECT_AT = 14  # this mention is a direct message (and the brand answers it directly)
FOLLOW_UP_AT = 50  # this mention replies to the brand's first answer
ON_ANNOUNCEMENT_AT = 60  # this mention replies to the brand's announcement (a thread's root)

_deserializer = TypeDeserializer()


# --- the world on the mock server -----------------------------------------------------


@dataclass
class World:
    """What was posted to the mock, recorded as the test posted it (never via the connector)."""

    base_url: str
    brand_id: str
    account_ids: dict[str, str]
    mentions: list[str] = field(default_factory=list)  # customer status ids, oldest first
    number: dict[str, int] = field(default_factory=dict)  # mention status id -> its number in the text
    author: dict[str, str] = field(default_factory=dict)  # mention status id -> username
    mention_parent: dict[str, str] = field(default_factory=dict)  # mention id -> the status it replies to
    direct: set[str] = field(default_factory=set)
    replies: dict[str, str] = field(default_factory=dict)  # brand reply id -> parent status id
    brand_other: set[str] = field(default_factory=set)  # brand statuses that answer nobody
    notification_of: dict[str, str] = field(default_factory=dict)  # mention status id -> notification id

    def post(self, client: httpx.Client, username: str, body: dict[str, Any]) -> str:
        token = BRAND_TOKEN if username == "brand" else CUSTOMERS[username]
        response = client.post("/api/v1/statuses", json=body, headers=_auth(token))
        response.raise_for_status()
        return str(response.json()["id"])

    def mention(
        self, client: httpx.Client, username: str, *, direct: bool = False, in_reply_to: str | None = None
    ) -> str:
        number = len(self.mentions)
        body: dict[str, Any] = {"status": f"@brand question {number}: is my order on its way?"}
        if direct:
            body["visibility"] = "direct"
        if in_reply_to:
            body["in_reply_to_id"] = in_reply_to
        status_id = self.post(client, username, body)
        self.mentions.append(status_id)
        self.number[status_id] = number
        self.author[status_id] = username
        if direct:
            self.direct.add(status_id)
        if in_reply_to:
            self.mention_parent[status_id] = in_reply_to
        return status_id

    def answer(self, client: httpx.Client, parent: str) -> str:
        reply = self.post(
            client,
            "brand",
            {
                "status": f"@{self.author[parent]} we are on it",
                "in_reply_to_id": parent,
                "visibility": "direct" if parent in self.direct else "public",
            },
        )
        self.replies[reply] = parent
        return reply

    def more_mentions(self, client: httpx.Client, count: int) -> list[str]:
        new = [self.mention(client, "cust1" if index % 2 else "cust2") for index in range(count)]
        self.learn_notifications(client)
        return new

    def learn_notifications(self, client: httpx.Client) -> None:
        """Map every mention to its notification, paging backwards with max_id (not how the connector pages)."""
        max_id: str | None = None
        while True:
            params = {"limit": "40", **({"max_id": max_id} if max_id else {})}
            response = client.get("/api/v1/notifications", params=params, headers=_auth(BRAND_TOKEN))
            response.raise_for_status()
            items = response.json()
            if not items:
                break
            for item in items:
                if item["type"] == "mention":
                    self.notification_of[str(item["status"]["id"])] = str(item["id"])
            max_id = str(items[-1]["id"])
        missing = set(self.mentions) - set(self.notification_of)
        assert not missing, f"the mock did not notify the brand of {sorted(missing)}"

    def notification_order(self) -> list[str]:
        """Mention status ids in the order of their notifications (the order the connector pages in)."""
        return sorted(self.mentions, key=lambda status_id: _id_key(self.notification_of[status_id]))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _id_key(platform_id: str) -> tuple[int, str]:
    return len(platform_id), platform_id


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(seed=SEED) as running:
        yield running


@pytest.fixture(scope="module")
def world(server: MockServer) -> World:
    """~100 mentions from two customers, the brand's answers to some, and noise to filter out."""
    httpx.post(f"{server.base_url}/api/v1/_mock/reset").raise_for_status()
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        ids = {
            name: str(client.get("/api/v1/accounts/verify_credentials", headers=_auth(token)).json()["id"])
            for name, token in [("brand", BRAND_TOKEN), *CUSTOMERS.items()]
        }
        world = World(base_url=server.base_url, brand_id=ids["brand"], account_ids=ids)
        # Noise: a brand announcement (answers nobody), a favourite of it (a notification
        # that is not a mention) and a customer post that does not mention the brand.
        announcement = world.post(client, "brand", {"status": "Our spring plans are live!"})
        world.brand_other.add(announcement)
        client.post(f"/api/v1/statuses/{announcement}/favourite", headers=_auth(CUSTOMERS["cust2"])).raise_for_status()
        world.post(client, "cust1", {"status": "What a lovely day"})
        to_answer: list[str] = []
        for index in range(MENTIONS):
            username = "cust1" if index % 2 == 0 else "cust2"
            if index == FOLLOW_UP_AT:
                first_reply = next(iter(world.replies))
                world.mention(client, world.author[world.replies[first_reply]], in_reply_to=first_reply)
            elif index == ON_ANNOUNCEMENT_AT:
                world.mention(client, username, in_reply_to=announcement)
            else:
                status_id = world.mention(client, username, direct=index == DIRECT_AT)
                if index % REPLY_EVERY == 0:
                    to_answer.append(status_id)
            if index >= REPLY_LAG and to_answer and world.number[to_answer[0]] <= index - REPLY_LAG:
                world.answer(client, to_answer.pop(0))
        for parent in to_answer:
            world.answer(client, parent)
        world.learn_notifications(client)
    assert len(world.mentions) == MENTIONS and len(world.replies) >= 10
    return world


@pytest.fixture
def mock(server: MockServer, world: World) -> Iterator[World]:
    """The module's world, with no fault rules before or after the test."""
    httpx.delete(f"{server.base_url}/api/v1/_mock/faults").raise_for_status()
    yield world
    httpx.delete(f"{server.base_url}/api/v1/_mock/faults").raise_for_status()


# --- driving the connector ---------------------------------------------------------------


def source_for(world: World) -> Source:
    return Source(
        brand_id="acme",
        source_id="mastodon-mock",
        platform="mastodon",
        base_url=world.base_url,
        token_secret=SECRET_NAME,
    )


ResponseHook = Callable[[httpx.Response], Awaitable[None]]


@dataclass
class Capture:
    requests: list[httpx.Request] = field(default_factory=list)

    async def on_request(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def to(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]


def client_for(capture: Capture, on_response: ResponseHook | None = None) -> httpx.AsyncClient:
    hooks: dict[str, list[Any]] = {"request": [capture.on_request]}
    if on_response:
        hooks["response"] = [on_response]
    return httpx.AsyncClient(timeout=30, event_hooks=hooks)


def collect(world: World, cursor: dict[str, str], capture: Capture | None = None) -> list[Page]:
    capture = capture or Capture()

    async def run() -> list[Page]:
        async with client_for(capture) as client:
            ctx = PollContext(
                source=source_for(world), secret=BRAND_TOKEN, client=client, now=datetime.now(UTC), cursor=cursor
            )
            return [page async for page in MastodonConnector().pages(ctx)]

    return asyncio.run(run())


def fault_after_first_notifications_page(world: World, effect: dict[str, Any]) -> ResponseHook:
    """A response hook that arms a one-shot fault for the *next* notifications request."""
    armed = False

    async def hook(response: httpx.Response) -> None:
        nonlocal armed
        if armed or response.request.url.path != "/api/v1/notifications":
            return
        armed = True
        async with httpx.AsyncClient() as admin:
            rule = {"match": {"methods": ["GET"], "path": "/api/v1/notifications"}, "effect": effect, "count": 1}
            (await admin.post(f"{world.base_url}/api/v1/_mock/faults", json=rule)).raise_for_status()

    return hook


def inbound(pages: list[Page]) -> list[Message]:
    return [message for page in pages for message in page.messages if not message.from_brand]


def replies(pages: list[Page]) -> list[Message]:
    return [message for page in pages for message in page.messages if message.from_brand]


def min_ids(requests: list[httpx.Request]) -> list[str]:
    return [request.url.params["min_id"] for request in requests]


# --- the connector alone ---------------------------------------------------------------------


def test_pages_collect_every_mention_and_reply_exactly_once(mock: World) -> None:
    world = mock
    capture = Capture()
    pages = collect(world, {}, capture)

    notification_requests = capture.to("/api/v1/notifications")
    assert len(notification_requests) >= 3, "the mentions span several pages of 40"
    assert all(request.url.params["limit"] == str(PAGE_LIMIT) for request in notification_requests)
    assert all(request.url.params.get_list("types[]") == ["mention"] for request in notification_requests)
    # A new source: the newest page first, then backwards, each request just before the last page.
    first_request = notification_requests[0].url.params
    assert "min_id" not in first_request and "max_id" not in first_request
    notification_pages = pages[: len(notification_requests)]
    for request, previous in zip(notification_requests[1:], notification_pages, strict=False):
        ids = [world.notification_of[m.platform_id] for m in previous.messages]
        assert request.url.params["max_id"] == min(ids, key=_id_key)

    found = inbound(pages)
    ids = [message.platform_id for message in found]
    duplicates = [platform_id for platform_id, count in Counter(ids).items() if count > 1]
    assert not duplicates, f"collected twice: {duplicates}"
    assert set(ids) == set(world.mentions), (
        f"missing {sorted(set(world.mentions) - set(ids))}, unexpected {sorted(set(ids) - set(world.mentions))}"
    )
    # Pages come newest first: each page holds the notifications right before the previous page's.
    per_page = [[world.notification_of[m.platform_id] for m in page.messages if not m.from_brand] for page in pages]
    flat = [sorted(ids, key=_id_key) for ids in per_page if ids]
    assert [notification for ids in reversed(flat) for notification in ids] == [
        world.notification_of[status_id] for status_id in world.notification_order()
    ]
    assert [len(ids) for ids in flat][:2] == [PAGE_LIMIT, PAGE_LIMIT]

    for message in found:
        assert message.brand == "acme" and message.platform == "mastodon" and message.source_id == "mastodon-mock"
        assert f"question {world.number[message.platform_id]}:" in message.text, message.text
        assert "<" not in message.text, f"HTML left in {message.text!r}"
        assert message.author_handle == f"@{world.author[message.platform_id]}"
        assert message.author_id == world.account_ids[world.author[message.platform_id]]
        assert message.parent_id == world.mention_parent.get(message.platform_id)
        parent = message.parent_id
        if parent in world.brand_other:  # the announcement: read from the server, it is no reply
            assert (message.parent_by_brand, message.thread_id) == (True, parent), message.platform_id
        else:  # a reply of the brand's (the root is unknown), or no parent at all
            assert message.thread_id is None, message.platform_id
            assert message.parent_by_brand is (True if parent in world.replies else None), message.platform_id
        assert message.kind is (MessageKind.DM if message.platform_id in world.direct else MessageKind.MENTION)
        assert message.permalink and message.created_at.tzinfo is not None

    answers = replies(pages)
    assert Counter(message.platform_id for message in answers) == Counter(set(world.replies))
    assert {message.platform_id: message.parent_id for message in answers} == world.replies
    assert all(message.author_id == world.brand_id and message.author_handle == "@brand" for message in answers)
    assert not {message.platform_id for message in answers} & world.brand_other, "the announcement is no reply"
    assert sum(message.parent_id in world.brand_other for message in found) == 1

    cursor = pages[-1].cursor
    assert cursor["account_id"] == world.brand_id
    assert cursor["notifications"] == max(world.notification_of.values(), key=_id_key)
    assert cursor["statuses"] == max([*world.replies, *world.brand_other], key=_id_key)

    # Ten more mentions arrive; a poll from the saved cursor finds exactly those.
    with httpx.Client(base_url=world.base_url, timeout=30) as client:
        new = world.more_mentions(client, 10)
    capture = Capture()
    later = collect(world, cursor, capture)
    assert sorted((message.platform_id for message in inbound(later)), key=_id_key) == new
    assert replies(later) == []
    assert min_ids(capture.to("/api/v1/notifications"))[0] == cursor["notifications"]
    assert "/api/v1/accounts/verify_credentials" not in {request.url.path for request in capture.requests}


# --- through the Poller into DynamoDB (moto) ----------------------------------------------


class StaticSecrets:
    def read(self, secret_name: str) -> str:
        assert secret_name == SECRET_NAME
        return BRAND_TOKEN


@dataclass
class Stack:
    state: StateStore
    messages: MessageStore
    poller: Poller
    source: Source

    def poll(self, now: datetime, on_response: ResponseHook | None = None) -> Any:
        async def run() -> Any:
            async with client_for(Capture(), on_response) as client:
                return await self.poller.poll_all(client, now)

        return asyncio.run(run())

    def source_state(self) -> Any:
        [(source, state)] = self.state.list_sources()
        assert source.source_id == self.source.source_id
        return state


@pytest.fixture
def stack(aws_env: None, mock: World) -> Stack:
    dynamodb = boto3.client("dynamodb", region_name=aws.REGION)
    state = StateStore(dynamodb, aws.STATE_TABLE)
    messages = MessageStore(dynamodb, aws.MESSAGES_TABLE, aws.STATE_TABLE)
    state.put_brand(Brand(brand_id="acme", name="Acme", sla=SlaPolicy(first_response_seconds=3600)))
    source = source_for(mock)
    state.put_source(source)
    poller = Poller(messages=messages, state=state, secrets=StaticSecrets(), retention=timedelta(days=400))
    return Stack(state=state, messages=messages, poller=poller, source=source)


def stored_items() -> list[dict[str, Any]]:
    return [
        {key: _deserializer.deserialize(value) for key, value in item.items()}
        for item in aws.iter_table(aws.MESSAGES_TABLE)
    ]


def assert_stored_exactly(world: World, mentions: set[str], replies: dict[str, str] | None = None) -> None:
    replies = world.replies if replies is None else replies
    items = stored_items()
    by_pk = Counter(item["pk"] for item in items)
    by_platform_id = Counter(item["platform_id"] for item in items)
    assert max(by_pk.values(), default=1) == 1 and max(by_platform_id.values(), default=1) == 1
    customer = {item["platform_id"] for item in items if not item["from_brand"]}
    assert customer == mentions, f"missing {sorted(mentions - customer)}, unexpected {sorted(customer - mentions)}"
    brand = {item["platform_id"]: item for item in items if item["from_brand"]}
    assert {platform_id: item["parent_id"] for platform_id, item in brand.items()} == replies
    for platform_id, item in brand.items():
        network = urlsplit(world.base_url).netloc
        assert item["network"] == network
        assert item["pk"] == f"acme#mastodon@{network}#{platform_id}"
        assert item["parent_key"] == f"acme#mastodon@{network}#{replies[platform_id]}"


def test_poller_stores_every_message_once_and_resumes_from_its_cursor(stack: Stack, mock: World) -> None:
    world = mock
    now = datetime.now(UTC)
    report = stack.poll(now)
    [source_report] = report.sources
    assert source_report.health == "ok"
    assert source_report.pages >= 4, "three or more pages of mentions, then the brand's statuses"
    assert source_report.duplicates == 0
    assert source_report.stored == len(world.mentions) + len(world.replies)
    assert_stored_exactly(world, set(world.mentions))
    state = stack.source_state()
    assert state.health == "ok" and state.resume_after is None and state.last_polled_at == now
    assert state.cursor["notifications"] == max(world.notification_of.values(), key=_id_key)

    with httpx.Client(base_url=world.base_url, timeout=30) as client:
        new = world.more_mentions(client, 10)
    report = stack.poll(now + timedelta(minutes=1))
    assert report.stored == 10 and report.sources[0].duplicates == 0
    assert_stored_exactly(world, set(world.mentions))
    later = iso(now + timedelta(minutes=1))
    assert {item["platform_id"] for item in stored_items() if item["ingested_at"] == later} == set(new)

    assert stack.poll(now + timedelta(minutes=2)).stored == 0


def test_rate_limit_on_the_second_page_keeps_the_first_and_loses_nothing(stack: Stack, mock: World) -> None:
    world = mock
    now = datetime.now(UTC)
    reset = (now + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    hook = fault_after_first_notifications_page(
        world, {"type": "ratelimit", "headers": {"Retry-After": "1", "X-RateLimit-Reset": reset}}
    )
    report = stack.poll(now, hook)
    [source_report] = report.sources
    assert source_report.health == "rate_limited"
    assert source_report.pages == 1 and source_report.stored == PAGE_LIMIT

    order = world.notification_order()
    first_page = order[-PAGE_LIMIT:]  # a new source reads the newest page first
    assert_stored_exactly(world, set(first_page), replies={})
    state = stack.source_state()
    assert state.health == "rate_limited"
    assert state.cursor["notifications"] == world.notification_of[first_page[-1]]
    assert state.cursor["notifications_backfill_max_id"] == world.notification_of[first_page[0]], (
        "the read backwards resumes right before what is stored"
    )
    assert "statuses" not in state.cursor
    assert state.resume_after is not None and now < state.resume_after <= now + timedelta(seconds=2)

    # Not due again before the server said so.
    assert stack.poll(now).sources == []

    report = stack.poll(state.resume_after)
    [source_report] = report.sources
    assert source_report.health == "ok" and source_report.duplicates == 0
    assert source_report.stored == len(world.mentions) - PAGE_LIMIT + len(world.replies)
    assert_stored_exactly(world, set(world.mentions))
    state = stack.source_state()
    assert state.health == "ok" and state.resume_after is None and state.last_error is None


@pytest.mark.parametrize(
    "effect",
    [
        pytest.param({"type": "status", "status": 503}, id="503"),
        pytest.param({"type": "status", "status": 500}, id="500"),
        pytest.param({"type": "malformed"}, id="truncated-json-body"),
    ],
)
def test_server_trouble_on_the_second_page_is_a_source_error_and_loses_nothing(
    stack: Stack, mock: World, effect: dict[str, Any]
) -> None:
    world = mock
    now = datetime.now(UTC)
    source = stack.source

    async def first_poll() -> Any:
        async with client_for(Capture(), fault_after_first_notifications_page(world, effect)) as client:
            [(_, state)] = stack.state.list_sources()
            return await stack.poller.poll_source(source, state, client, now)

    # One source's bad answer must not escape poll_source: poll_all gathers every
    # source, and an exception there would fail (and cancel) the whole scheduled poll.
    report = asyncio.run(first_poll())
    assert report.health == "error"
    assert report.pages == 1 and report.stored == PAGE_LIMIT
    first_page = world.notification_order()[-PAGE_LIMIT:]
    assert_stored_exactly(world, set(first_page), replies={})
    state = stack.source_state()
    assert state.health == "error" and state.last_error
    assert state.cursor["notifications"] == world.notification_of[first_page[-1]]
    assert state.cursor["notifications_backfill_max_id"] == world.notification_of[first_page[0]]

    report = stack.poll(now + timedelta(minutes=1))
    assert report.sources[0].health == "ok" and report.sources[0].duplicates == 0
    assert_stored_exactly(world, set(world.mentions))


# --- the connector against the published API description --------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip("../shared/specs/mastodon/openapi.json not present (shared/ is only on developer and CI machines)")
    return json.loads(SPEC_PATH.read_text())


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref (local JSON pointers) until a schema without one."""
    seen = 0
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        merged = {key: value for key, value in schema.items() if key != "$ref"}
        schema = {**target, **{k: v for k, v in merged.items() if k not in target}}
        seen += 1
        assert seen < 20, f"$ref loop at {ref}"
    return schema


def json_types(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Every JSON type a schema admits (oneOf/anyOf included)."""
    schema = resolve(spec, schema)
    found: set[str] = set()
    for key in ("oneOf", "anyOf"):
        for option in schema.get(key, []):
            found |= json_types(spec, option)
    declared = schema.get("type")
    if isinstance(declared, str):
        found.add(declared)
    elif isinstance(declared, list):
        found.update(declared)
    if "properties" in schema:
        found.add("object")
    return found


def object_schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema behind a property (through $ref and a oneOf/anyOf with null)."""
    schema = resolve(spec, schema)
    if "properties" in schema:
        return schema
    options = [resolve(spec, option) for key in ("oneOf", "anyOf") for option in schema.get(key, [])]
    objects = [option for option in options if "properties" in option]
    assert len(objects) == 1, f"expected one object schema in {schema}"
    return objects[0]


def operation(spec: dict[str, Any], path: str, method: str = "get") -> tuple[str, dict[str, Any]]:
    """The spec path template a concrete request path falls under (most specific first)."""
    candidates = []
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method in item:
            candidates.append((template.count("{"), template))
    assert candidates, f"GET {path} is not in the Mastodon API description"
    template = min(candidates)[1]
    return template, spec["paths"][template][method]


def query_parameters(spec: dict[str, Any], template: str, op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    declared = [*spec["paths"][template].get("parameters", []), *op.get("parameters", [])]
    resolved = [resolve(spec, parameter) for parameter in declared]
    return {parameter["name"]: parameter for parameter in resolved if parameter.get("in") == "query"}


def documented_maximum(parameter: dict[str, Any], schema: dict[str, Any]) -> int | None:
    if "maximum" in schema:
        return int(schema["maximum"])
    found = re.search(r"\bMax (\d+)", parameter.get("description", "") + " " + schema.get("description", ""))
    return int(found.group(1)) if found else None


@pytest.fixture(scope="module")
def sent(server: MockServer, world: World) -> list[httpx.Request]:
    """Every request of two polls (from scratch, then from the saved cursor)."""
    httpx.delete(f"{server.base_url}/api/v1/_mock/faults").raise_for_status()
    capture = Capture()
    pages = collect(world, {}, capture)
    collect(world, pages[-1].cursor, capture)
    return capture.requests


def test_request_parameters_are_declared_by_the_api(spec: dict[str, Any], sent: list[httpx.Request]) -> None:
    used = {operation(spec, request.url.path)[0] for request in sent}
    assert {"/api/v1/notifications", "/api/v1/accounts/{id}/statuses"} <= used, used
    problems = []
    checked: set[tuple[str, str]] = set()
    for request in sent:
        template, op = operation(spec, request.url.path)
        declared = query_parameters(spec, template, op)
        sent_names = {name.removesuffix("[]") for name, _ in request.url.params.multi_items()}
        problems += [
            f"{template}: required {name} not sent"
            for name, parameter in declared.items()
            if parameter.get("required") and name not in sent_names
        ]
        for name, value in request.url.params.multi_items():
            base = name.removesuffix("[]")
            checked.add((template, name))
            if base not in declared:
                problems.append(f"{template}: {name} is not a declared parameter")
                continue
            schema = resolve(spec, declared[base].get("schema", {}))
            kinds = json_types(spec, schema)
            if name.endswith("[]") or "array" in kinds:
                if not name.endswith("[]") or "array" not in kinds:
                    problems.append(f"{template}: {name} vs declared type {sorted(kinds)}")
                    continue
                schema = resolve(spec, schema.get("items", {}))
                kinds = json_types(spec, schema)
            if "enum" in schema and value not in schema["enum"]:
                problems.append(f"{template}: {name}={value} not in {schema['enum']}")
            if "integer" in kinds:
                maximum = documented_maximum(declared[base], schema)
                if not value.isdigit() or (maximum is not None and int(value) > maximum):
                    problems.append(f"{template}: {name}={value} (max {maximum})")
            elif "boolean" in kinds and value not in ("true", "false"):
                problems.append(f"{template}: {name}={value} is not a boolean")
            elif "string" in kinds and base.endswith("_id") and not value.isdigit():
                problems.append(f"{template}: {name}={value} is not an id")
    assert not problems, "\n".join(problems)
    assert {("/api/v1/notifications", name) for name in ("types[]", "min_id", "limit")} <= checked
    assert {("/api/v1/accounts/{id}/statuses", name) for name in ("exclude_reblogs", "min_id", "limit")} <= checked


# What the connector reads, as the brief names it; the models below must not read more than the spec has.
READS = {
    "Notification": ("id", "type", "status"),
    "Status": ("id", "created_at", "content", "url", "uri", "visibility", "in_reply_to_id", "account"),
    "Account": ("id", "acct"),
}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    models = [option for option in options if isinstance(option, type) and issubclass(option, BaseModel)]
    return models[0] if models else None


def _accepted_types(annotation: Any) -> set[str]:
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    accepted = set()
    for option in options:
        if option is type(None):
            accepted.add("null")
        elif option in (str, datetime):
            accepted.add("string")
        elif option is bool:
            accepted.add("boolean")
        elif option is int:
            accepted.add("integer")
        elif isinstance(option, type) and issubclass(option, BaseModel):
            accepted.add("object")
    return accepted


def check_model(spec: dict[str, Any], model: type[BaseModel], schema: dict[str, Any], where: str) -> list[str]:
    """Every field the connector's model reads is in the schema, typed compatibly, and present when required."""
    schema = object_schema(spec, schema)
    properties, required = schema.get("properties", {}), set(schema.get("required", []))
    problems = []
    for name, info in model.model_fields.items():
        path = f"{where}.{name}"
        if name not in properties:
            problems.append(f"{path} is not in the API description")
            continue
        if info.is_required() and name not in required:
            problems.append(f"{path} is required by the connector but optional in the API")
        served = json_types(spec, properties[name])
        unexpected = served - _accepted_types(info.annotation)
        if unexpected:
            problems.append(f"{path}: the API may send {sorted(unexpected)}, the connector cannot read it")
        nested = _model_of(info.annotation)
        if nested is not None:
            problems += check_model(spec, nested, properties[name], path)
    return problems


def test_response_fields_the_connector_reads_are_in_the_api(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name, fields in READS.items():
        missing = [field_name for field_name in fields if field_name not in schemas[name]["properties"]]
        assert not missing, f"{name} lacks {missing}"
    for name, model in (("Notification", _Notification), ("Status", _Status), ("Account", _Account)):
        assert set(READS[name]) <= set(model.model_fields), f"the connector no longer reads {name} as expected"

    def response_item(path: str) -> dict[str, Any]:
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        content = resolve(spec, content)
        return content["items"] if content.get("type") == "array" else content

    problems = check_model(spec, _Notification, response_item("/api/v1/notifications"), "Notification")
    problems += check_model(spec, _Status, response_item("/api/v1/accounts/{id}/statuses"), "Status")
    assert not problems, "\n".join(problems)

    # verify_credentials: the connector reads the brand's own account id.
    credential = object_schema(spec, response_item("/api/v1/accounts/verify_credentials"))
    assert "id" in credential["required"] and json_types(spec, credential["properties"]["id"]) == {"string"}
    # The values the connector compares against are values the API uses.
    notification_type = resolve(spec, schemas["Notification"]["properties"]["type"])
    assert "mention" in notification_type["enum"]
    visibility = resolve(spec, schemas["Status"]["properties"]["visibility"])
    assert "direct" in visibility["enum"]
