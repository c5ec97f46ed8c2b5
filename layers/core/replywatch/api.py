"""The HTTP API: per-brand statistics, the message queue and the health of connected sources.

Built as a function of its dependencies so tests and the OpenAPI export can
create it without AWS. Every bad request is a 4xx with a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from replywatch.health import Incident, open_incidents
from replywatch.models import (
    SLUG_PATTERN,
    Brand,
    Health,
    MessageKind,
    MessageStatus,
    Sentiment,
    Source,
    SourceState,
    Usage,
)
from replywatch.stats import Backlog, DayAggregate, StatsResponse, summarise
from replywatch.store import InvalidPageToken, QueuePage

logger = logging.getLogger(__name__)

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 400
MAX_PAGE = 100


class QueueStatus(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    NEGATIVE = "negative"


class MessageView(BaseModel):
    key: Annotated[str, Field(description="platform#platform_id")]
    platform: str
    platform_id: str
    kind: MessageKind
    author_handle: str
    text: str
    permalink: str | None
    created_at: datetime
    status: MessageStatus | None
    due_at: datetime | None
    sentiment: Sentiment | None
    first_response_at: datetime | None
    rating: Annotated[int | None, Field(description="A review's star rating, 1-5")] = None


class MessagesPage(BaseModel):
    items: list[MessageView]
    next: Annotated[str | None, Field(description="Pass as ?next= for the following page")]


class StatsReader(Protocol):
    def day_aggregates(self, brand: str, first: date, last: date) -> list[DayAggregate]: ...

    def backlog(self, brand: str) -> Backlog: ...

    def queue(self, brand: str, status: str, *, limit: int, start: dict[str, Any] | None = None) -> QueuePage: ...


class BrandReader(Protocol):
    def get_brand(self, brand_id: str) -> Brand | None: ...

    def list_sources(self) -> list[tuple[Source, SourceState]]: ...


class IncidentView(BaseModel):
    incident: Incident
    since: Annotated[str, Field(description="When it began (a time), or the budget period")]


class SourceView(BaseModel):
    source_id: str
    platform: str
    base_url: str
    enabled: bool
    health: Health
    needs_reconnect: Annotated[bool, Field(description="The platform refused the credentials")]
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    failing_since: datetime | None
    last_inbound_at: Annotated[datetime | None, Field(description="Last time a customer message arrived")]
    resume_after: Annotated[datetime | None, Field(description="Rate limited or out of budget until then")]
    usage: Usage | None
    incidents: Annotated[list[IncidentView], Field(description="What needs attention now")]


class SourcesList(BaseModel):
    items: list[SourceView]


def create_app(messages: StatsReader, brands: BrandReader, clock: Callable[[], datetime]) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[str]:
        problems = [
            {"where": ".".join(str(part) for part in problem.get("loc", ())), "problem": problem.get("msg", "")}
            for problem in error.errors()
        ]
        return _error(400, "invalid request", problems)

    @app.exception_handler(BadRequestError)
    def _bad(error: BadRequestError) -> Response[str]:
        return _error(400, str(error.msg))

    @app.exception_handler(NotFoundError)
    def _missing(error: NotFoundError) -> Response[str]:
        return _error(404, str(error.msg) or "not found")

    def brand_or_404(brand_id: str) -> Brand:
        brand = brands.get_brand(brand_id)
        if brand is None:
            raise NotFoundError(f"no brand {brand_id!r} in this stack")
        return brand

    @app.get("/brands/<brand_id>/stats", summary="Response statistics for a brand over a range of days")
    def stats(
        brand_id: Annotated[str, Path(pattern=SLUG_PATTERN, description="The brand's id")],
        from_: Annotated[date | None, Query(alias="from", description="First day (UTC), YYYY-MM-DD")] = None,
        to: Annotated[date | None, Query(description="Last day (UTC), YYYY-MM-DD, inclusive")] = None,
    ) -> StatsResponse:
        brand = brand_or_404(brand_id)
        now = clock()
        last = to or now.date()
        try:
            first = from_ or last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        except OverflowError:
            raise BadRequestError("'to' is too early") from None
        if first > last:
            raise BadRequestError("'from' must not be after 'to'")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise BadRequestError(f"a range covers at most {MAX_RANGE_DAYS} days")
        return summarise(
            brand.brand_id,
            first,
            last,
            messages.day_aggregates(brand.brand_id, first, last),
            messages.backlog(brand.brand_id),
            as_of=now,
        )

    @app.get("/brands/<brand_id>/messages", summary="Open, overdue or negative messages, oldest first")
    def queue(
        brand_id: Annotated[str, Path(pattern=SLUG_PATTERN, description="The brand's id")],
        status: Annotated[QueueStatus, Query(description="open, overdue or negative")] = QueueStatus.OPEN,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = 50,
        next: Annotated[str | None, Query(description="Token from the previous page")] = None,
    ) -> MessagesPage:
        brand = brand_or_404(brand_id)
        try:
            page = messages.queue(brand.brand_id, status.value, limit=limit, start=_decode_token(next))
        except InvalidPageToken:
            raise BadRequestError("'next' is not a token this API gave out for this list") from None
        return MessagesPage(
            items=[MessageView.model_validate(record.model_dump() | {"key": record.key}) for record in page.messages],
            next=_encode_token(page.next_token),
        )

    @app.get("/brands/<brand_id>/sources", summary="The brand's connected accounts and their health")
    def sources(
        brand_id: Annotated[str, Path(pattern=SLUG_PATTERN, description="The brand's id")],
    ) -> SourcesList:
        brand = brand_or_404(brand_id)
        now = clock()
        items = []
        for source, state in brands.list_sources():
            if source.brand_id != brand.brand_id:
                continue
            incidents = [
                IncidentView(incident=found.incident, since=found.since) for found in open_incidents(source, state, now)
            ]
            items.append(
                SourceView(
                    source_id=source.source_id,
                    platform=source.platform,
                    base_url=source.base_url,
                    enabled=source.enabled,
                    health=state.health,
                    needs_reconnect=state.health is Health.AUTH_FAILED,
                    last_polled_at=state.last_polled_at,
                    last_ok_at=state.last_ok_at,
                    failing_since=state.failing_since,
                    last_inbound_at=state.last_inbound_at,
                    resume_after=state.resume_after,
                    usage=state.usage,
                    incidents=incidents,
                )
            )
        return SourcesList(items=sorted(items, key=lambda item: item.source_id))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=app.get_openapi_json_schema(title="ReplyWatch API", version="1"),
        )

    return app


def _error(status: int, message: str, details: list[dict[str, str]] | None = None) -> Response[str]:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def _decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequestError("'next' is not a token this API gave out") from None
    if not isinstance(key, dict):
        raise BadRequestError("'next' is not a token this API gave out")
    return key
