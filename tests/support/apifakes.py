"""In-memory readers for replywatch.api.create_app, and requests against the app it builds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from replywatch import stats
from replywatch.api import create_app
from replywatch.models import (
    ApiKey,
    Brand,
    Health,
    MessageKind,
    MessageRecord,
    MessageStatus,
    Resolution,
    Sentiment,
    SlaPolicy,
    Source,
    SourceState,
    Usage,
)
from replywatch.stats import Aggregate, Backlog
from replywatch.store import NotResolvable, QueuePage
from tests.support.aws import LambdaContext
from tests.support.events import rest_event

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def queued(platform_id: str, minutes_ago: int, *, network: str | None = None) -> MessageRecord:
    created = NOW - timedelta(minutes=minutes_ago)
    return MessageRecord(
        brand="acme",
        platform="mastodon",
        network=network,
        source_id="acme-social",
        platform_id=platform_id,
        author_id="7",
        author_handle="@dana@elsewhere.example",
        text=f"question {platform_id}",
        permalink=f"https://elsewhere.example/@dana/{platform_id}",
        created_at=created,
        kind=MessageKind.MENTION,
        status=MessageStatus.OPEN,
        due_at=created + timedelta(hours=1),
        sentiment=Sentiment.NEUTRAL,
        counted=True,
    )


def slotted(
    moment: datetime, channel: str, histogram: Mapping[str, int] | None = None, **counters: int
) -> list[Aggregate]:
    """What the store keeps for events at ``moment``: the same counts in its day, hour and quarter."""
    return [
        Aggregate(start=start, level=level, channel=channel, counters=dict(counters), histogram=dict(histogram or {}))
        for level, start in stats.slots_of(moment)
    ]


@dataclass
class FakeMessages:
    """A StatsReader over aggregates in all three slot levels (as the store keeps them), that
    answers each range with the slots of :func:`stats.cover`, and remembers how it was asked."""

    found: list[Aggregate] = field(default_factory=list)
    open_backlog: Backlog = field(default_factory=Backlog)
    pages: dict[str | None, QueuePage] = field(default_factory=dict)  # keyed by json of the start key
    records: dict[str, MessageRecord] = field(default_factory=dict)
    resolve_errors: list[Exception] = field(default_factory=list)  # raised by resolve(), one per call, first first
    aggregate_calls: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    backlog_calls: list[tuple[str, str | None]] = field(default_factory=list)
    queue_calls: list[dict[str, Any]] = field(default_factory=list)
    get_calls: list[str] = field(default_factory=list)
    resolve_calls: list[dict[str, Any]] = field(default_factory=list)

    def aggregates(self, brand: str, start: datetime, end: datetime) -> list[Aggregate]:
        self.aggregate_calls.append((brand, start, end))
        return [
            aggregate
            for part in stats.cover(start, end)
            for aggregate in self.found
            if aggregate.level is part.level and part.first <= aggregate.start <= part.last
        ]

    def backlog(self, brand: str, channel: str | None = None) -> Backlog:
        self.backlog_calls.append((brand, channel))
        return self.open_backlog

    def queue(self, brand: str, status: str, *, limit: int, start: dict[str, Any] | None = None) -> QueuePage:
        self.queue_calls.append({"brand": brand, "status": status, "limit": limit, "start": start})
        key = json.dumps(start, sort_keys=True) if start is not None else None
        return self.pages.get(key, QueuePage(messages=[], next_token=None))

    def get(self, key: str) -> MessageRecord | None:
        self.get_calls.append(key)
        return self.records.get(key)

    def resolve(self, record: MessageRecord, *, resolution: Resolution, note: str | None, now: datetime) -> None:
        self.resolve_calls.append({"key": record.key, "resolution": resolution, "note": note, "now": now})
        if self.resolve_errors:
            raise self.resolve_errors.pop(0)
        if record.status not in (MessageStatus.OPEN, MessageStatus.OVERDUE):
            raise NotResolvable(record.key)


def _source(brand_id: str, source_id: str) -> Source:
    return Source(
        brand_id=brand_id,
        source_id=source_id,
        platform="x",
        base_url="https://api.x.com",
        token_secret=f"replywatch/{brand_id}/{source_id}",
    )


BRANDS = (
    Brand(brand_id="acme", name="Acme", timezone="Europe/London", sla=SlaPolicy(first_response_seconds=3600)),
    Brand(brand_id="globex", name="Globex <Corp>", enabled=False),
    Brand(brand_id="initech", name="Initech", timezone="Asia/Kolkata"),
)


@dataclass
class FakeBrands:
    brands: tuple[Brand, ...] = BRANDS
    keys: dict[str, ApiKey] = field(default_factory=dict)

    def get_brand(self, brand_id: str) -> Brand | None:
        return next((brand for brand in self.brands if brand.brand_id == brand_id), None)

    def list_brands(self) -> list[Brand]:
        return list(reversed(self.brands))

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self.keys.get(key_id)

    def list_sources(self) -> list[tuple[Source, SourceState]]:
        return [
            (
                _source("acme", "acme-x"),
                SourceState(
                    health=Health.AUTH_FAILED,
                    failing_since=NOW - timedelta(hours=2),
                    last_ok_at=NOW - timedelta(hours=2, minutes=1),
                    usage=Usage(period="2026-11", used=9000, limit=10000),
                ),
            ),
            (_source("acme", "acme-help"), SourceState(last_ok_at=NOW, last_inbound_at=NOW - timedelta(hours=1))),
            (_source("globex", "globex-x"), SourceState()),
        ]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def body(self) -> Any:
        return json.loads(self.text)


def request(
    app: APIGatewayRestResolver,
    path: str,
    query: str = "",
    *,
    method: str = "GET",
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    event = rest_event(path, query, method)
    if headers:
        event["headers"] = {**event["headers"], **headers}
        event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["headers"]["Content-Type"] = "application/json"
    response = app.resolve(event, LambdaContext())  # type: ignore[arg-type]
    answer_headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        answer_headers.setdefault(name.lower(), ", ".join(values))
    return Answer(response["statusCode"], answer_headers, response["body"])


def app_of(
    messages: FakeMessages, brands: FakeBrands | None = None, *, api_keys: bool = False
) -> APIGatewayRestResolver:
    return create_app(messages=messages, brands=brands or FakeBrands(), clock=lambda: NOW, api_keys=api_keys)
