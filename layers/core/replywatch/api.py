"""The HTTP API: per-brand statistics, the message queue and the health of connected sources.

Built as a function of its dependencies so tests and the OpenAPI export can
create it without AWS. Every bad request is a 4xx with a message.

Two doors lead in. The routes under ``/brands`` are IAM-authorised by API Gateway.
The routes under ``/dashboard/api`` serve the same figures (never a message's text)
to a browser holding a read-only API key, checked here, and only when the stack
allows keys (``DashboardAccess``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    NotFoundError,
    ServiceError,
    UnauthorizedError,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, BeforeValidator, Field

from replywatch import apikeys, docs, stats
from replywatch.health import Incident, open_incidents
from replywatch.models import (
    SLUG_PATTERN,
    ApiKey,
    Brand,
    Health,
    Intent,
    MessageKind,
    MessageRecord,
    MessageStatus,
    Resolution,
    Sentiment,
    Source,
    SourceState,
    Usage,
)
from replywatch.ports import Busy, Conflict
from replywatch.stats import Aggregate, Backlog, Interval, StatsResponse, Timeseries
from replywatch.store import InvalidPageToken, NotResolvable, QueuePage

logger = logging.getLogger(__name__)

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 400
MAX_PAGE = 100


TITLE = "ReplyWatch API"
VERSION = "1"
CHANNEL_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
TZ_PATTERN = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$"
RESOLVE_ATTEMPTS = 3
DASHBOARD_API = "/dashboard/api/"  # the routes a read-only API key opens


class QueueStatus(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    NEGATIVE = "negative"
    ANSWERED = "answered"
    RESOLVED = "resolved"


class ErrorBody(BaseModel):
    message: str
    details: list[dict[str, str]] | None = None


def message_id(key: str) -> str:
    """A message's id in URLs: its key without the brand, base64url (platform ids may hold '/' or '#')."""
    _, _, rest = key.partition("#")
    return base64.urlsafe_b64encode(rest.encode()).decode().rstrip("=")


def message_key(brand: str, identifier: str) -> str | None:
    try:
        rest = base64.urlsafe_b64decode(identifier + "=" * (-len(identifier) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return f"{brand}#{rest}" if "#" in rest else None


class MessageView(BaseModel):
    id: Annotated[str, Field(description="The message's id in this API (for /resolve)")]
    key: Annotated[str, Field(description="brand#platform#platform_id")]
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
    intent: Intent | None = None
    resolved_at: datetime | None = None
    resolution: Resolution | None = None
    rating: Annotated[int | None, Field(description="A review's star rating, 1-5")] = None


class MessagesPage(BaseModel):
    items: list[MessageView]
    next: Annotated[str | None, Field(description="Pass as ?next= for the following page")]


class StatsReader(Protocol):
    def aggregates(self, brand: str, start: datetime, end: datetime) -> list[Aggregate]: ...

    def backlog(self, brand: str, channel: str | None = None) -> Backlog: ...

    def queue(self, brand: str, status: str, *, limit: int, start: dict[str, Any] | None = None) -> QueuePage: ...

    def get(self, key: str) -> MessageRecord | None: ...

    def resolve(self, record: MessageRecord, *, resolution: Resolution, note: str | None, now: datetime) -> None: ...


class BrandReader(Protocol):
    def get_brand(self, brand_id: str) -> Brand | None: ...

    def list_brands(self) -> list[Brand]: ...

    def list_sources(self) -> list[tuple[Source, SourceState]]: ...

    def get_api_key(self, key_id: str) -> ApiKey | None: ...


class BrandView(BaseModel):
    brand_id: str
    name: str
    timezone: str
    enabled: bool
    sla_first_response_seconds: Annotated[int | None, Field(description="None: the stack's default")]


class BrandsList(BaseModel):
    items: list[BrandView]


class ResolveRequest(BaseModel):
    reason: Annotated[Resolution, Field(description="Where it was handled")]
    note: Annotated[str | None, Field(max_length=500, description="For the team; never shown on dashboards")] = None


class Resolved(BaseModel):
    id: str
    key: str
    status: MessageStatus
    resolved_at: datetime
    resolution: Resolution


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


def _day(value: Any) -> Any:
    """Only YYYY-MM-DD: pydantic alone also takes a Unix time (?to=1699920000) or a midnight date-time."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_day)]

# Parameters shared by the routes.
From = Annotated[Day | None, Query(alias="from", description="First day, YYYY-MM-DD, in `tz`")]
To = Annotated[Day | None, Query(description="Last day, YYYY-MM-DD, inclusive, in `tz`; default today")]
Tz = Annotated[str, Query(pattern=TZ_PATTERN, max_length=64, description="IANA time zone the days are in")]
ChannelQuery = Annotated[str | None, Query(pattern=CHANNEL_PATTERN, description="One platform, e.g. x")]
BrandPath = Annotated[str, Path(pattern=SLUG_PATTERN, description="The brand's id")]
IntervalQuery = Annotated[Interval, Query(description="day or week (ISO weeks, Monday first)")]


def _responses(model: type[BaseModel], *codes: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for the answers a route may give: ``model`` with 200, or an error."""
    meaning = {
        400: "Invalid request",
        401: "No valid API key",
        403: "Not allowed",
        404: "Unknown brand or message",
        409: "Answered or resolved already, or not waiting in the queue",
        415: "The body is not JSON",
        503: "Busy with other writes: try again (Retry-After)",
    }
    answers: dict[int, OpenAPIResponse] = {
        200: {"description": "Successful Response", "content": {"application/json": {"model": model}}}
    }
    for code in codes:
        answers[code] = {"description": meaning[code], "content": {"application/json": {"model": ErrorBody}}}
    return answers


def _dashboard_brand(event: Any) -> str | None:
    """The brand a dashboard route asks for: the path segment after ``/dashboard/api/brands/``."""
    found = (event.path_parameters or {}).get("brand_id")
    if found is not None:
        return str(found)
    _, marker, rest = event.path.partition(DASHBOARD_API + "brands/")
    return (rest.split("/", 1)[0] or None) if marker else None


class _Resolver(APIGatewayRestResolver):
    """Powertools' REST resolver, told that a media type is case-insensitive (RFC 9110 8.3.1):
    it matches ``application/json`` as written, and refused ``Application/JSON``."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        headers = event.get("headers")
        if isinstance(headers, dict):
            event = {**event, "headers": {name: _media_lowered(name, value) for name, value in headers.items()}}
        multi = event.get("multiValueHeaders")
        if isinstance(multi, dict):
            lowered = {
                name: [_media_lowered(name, v) for v in values] if isinstance(values, list) else values
                for name, values in multi.items()
            }
            event = {**event, "multiValueHeaders": lowered}
        return super().resolve(event, context)


def _media_lowered(name: Any, value: Any) -> Any:
    if not (isinstance(name, str) and name.lower() == "content-type" and isinstance(value, str)):
        return value
    media, sep, parameters = value.partition(";")
    return media.strip().lower() + sep + parameters


@functools.cache
def _zones() -> frozenset[str]:
    """The IANA zones (not ``localtime``, ``posixrules``, ``Factory`` or the ``right/`` and ``posix/`` copies)."""
    # The system's zone files also hold a link to the host's own zone and a placeholder.
    return frozenset(available_timezones() - {"localtime", "Factory", "posixrules"}) | {"UTC"}


def create_app(
    messages: StatsReader,
    brands: BrandReader,
    clock: Callable[[], datetime],
    *,
    api_keys: bool = False,
) -> APIGatewayRestResolver:
    """The API. ``api_keys``: the stack lets read-only keys open the dashboard routes."""
    app = _Resolver(enable_validation=True)
    app.configure_openapi(
        title=TITLE,
        version=VERSION,
        description=__doc__,
        security_schemes={
            "iam": APIKey(
                name="Authorization",
                in_=APIKeyIn.header,
                description="AWS Signature Version 4 (IAM): requests signed for execute-api",
            ),
            "dashboardKey": HTTPBearer(description="A read-only API key, rwk_..., from `replywatch api-key create`"),
        },
        security=[{"iam": []}],
    )

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[str]:
        if app.current_event.resource.startswith(DASHBOARD_API):
            # The key first: a caller without one, or with one for other brands, learns nothing of
            # what the parameters should be.
            try:
                key = key_holder()
            except ServiceError as refused:
                return _error(refused.status_code, str(refused.msg))
            brand_id = _dashboard_brand(app.current_event)
            if brand_id is not None and brand_id not in key.brands:
                return _error(403, f"this key may not read brand {brand_id!r}")
        if _form_body(app.current_event.headers.get("content-type", "")):
            return _error(415, "send the body as application/json")  # Powertools parsed it as a form
        problems = [
            {"where": ".".join(str(part) for part in problem.get("loc", ())), "problem": _problem(problem)}
            for problem in error.errors()
        ]
        return _error(400, "invalid request", problems)

    @app.exception_handler(RecursionError)
    def _too_deep(_: RecursionError) -> Response[str]:
        # json.loads gives up on a body nested some thousand levels deep; Powertools lets it through.
        return _error(400, "the body is not JSON this API reads: it is nested too deeply")

    @app.exception_handler(Busy)
    def _busy(_: Busy) -> Response[str]:
        response = _error(503, "the brand's figures are being updated by many writes at once: try again")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(RequestUnsupportedContentType)
    def _not_json(_: RequestUnsupportedContentType) -> Response[str]:
        return _error(415, "send the body as application/json")

    @app.exception_handler(ValueError)
    def _unparsable(error: ValueError) -> Response[str]:
        # Powertools' body parser raises a bare ValueError for multipart/form-data without a boundary.
        if app.current_event.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return _error(415, "send the body as application/json")
        raise error

    @app.exception_handler(ServiceError)
    def _service(error: ServiceError) -> Response[str]:
        return _error(error.status_code, str(error.msg) or "request refused")

    @app.not_found
    def _not_found(error: NotFoundError) -> Response[str]:
        # Powertools sends both here: a path no route matches (a bare NotFoundError) and every
        # NotFoundError a route raises (with its own message, e.g. the unknown brand).
        message = str(error.msg)
        return _error(404, "no such route" if message == str(NotFoundError().msg) else message)

    def brand_or_404(brand_id: str) -> Brand:
        brand = brands.get_brand(brand_id)
        if brand is None:
            raise NotFoundError(f"no brand {brand_id!r} in this stack")
        return brand

    def key_holder() -> ApiKey:
        if not api_keys:
            raise ServiceError(403, "this stack does not accept API keys (DashboardAccess is iam-only)")
        token = apikeys.bearer(app.current_event.headers.get("authorization"))
        key = apikeys.verify(token, brands.get_api_key)
        if key is None:
            raise UnauthorizedError("a valid read-only API key is needed: Authorization: Bearer rwk_...")
        return key

    def readable_brand(brand_id: str) -> Brand:
        key = key_holder()
        if brand_id not in key.brands:
            raise ServiceError(403, f"this key may not read brand {brand_id!r}")
        return brand_or_404(brand_id)

    def days(first: date | None, last: date | None, tz: str) -> tuple[date, date, ZoneInfo]:
        try:
            if tz not in _zones():
                raise ZoneInfoNotFoundError(tz)
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRequestError(f"'tz' is not an IANA time zone: {tz!r}") from None
        last = last or clock().astimezone(zone).date()
        try:
            first = first or last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
            if last.year >= 9999:
                raise OverflowError
        except OverflowError:
            raise BadRequestError("the range is outside the supported dates") from None
        if first > last:
            raise BadRequestError("'from' must not be after 'to'")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise BadRequestError(f"a range covers at most {MAX_RANGE_DAYS} days")
        if first.year < 2000:
            raise BadRequestError("'from' must be in the year 2000 or later")
        return first, last, zone

    def read(brand: Brand, cuts: list[stats.Cut], zone: ZoneInfo) -> list[list[Aggregate]]:
        """The aggregates of each period between consecutive ``cuts`` (:func:`stats.read_periods`)."""
        try:
            return stats.read_periods(cuts, functools.partial(messages.aggregates, brand.brand_id))
        except stats.OffQuarter:
            raise BadRequestError(f"time zone {zone.key!r} has an offset that is not on a quarter hour") from None

    def stats_of(brand: Brand, first: date | None, last: date | None, tz: str, channel: str | None) -> StatsResponse:
        first, last, zone = days(first, last, tz)
        (aggregates,) = read(brand, [stats.cut(edge) for edge in stats.local_range(first, last, zone)], zone)
        return stats.summarise(
            brand.brand_id,
            first,
            last,
            aggregates,
            messages.backlog(brand.brand_id, channel),
            as_of=clock(),
            tz=zone.key,
            channel=channel,
        )

    def timeseries_of(
        brand: Brand, first: date | None, last: date | None, tz: str, channel: str | None, interval: Interval
    ) -> Timeseries:
        first, last, zone = days(first, last, tz)
        periods = list(stats.periods(first, last, interval))
        cuts = stats.local_cuts([start for start, _ in periods], last, zone)
        points = [
            stats.point(start, end, aggregates, channel)
            for (start, end), aggregates in zip(periods, read(brand, cuts, zone), strict=True)
        ]
        return Timeseries.model_validate(
            {
                "brand": brand.brand_id,
                "from": first,
                "to": last,
                "tz": zone.key,
                "channel": channel,
                "interval": interval,
                "points": points,
            }
        )

    def brand_view(brand: Brand) -> BrandView:
        return BrandView(
            brand_id=brand.brand_id,
            name=brand.name,
            timezone=brand.timezone,
            enabled=brand.enabled,
            sla_first_response_seconds=brand.sla.first_response_seconds if brand.sla else None,
        )

    # --- IAM routes -------------------------------------------------------------------------

    @app.get("/brands", summary="The brands in this stack", responses=_responses(BrandsList))
    def list_brands() -> BrandsList:
        return BrandsList(items=[brand_view(b) for b in sorted(brands.list_brands(), key=lambda b: b.brand_id)])

    @app.get(
        "/brands/<brand_id>/stats",
        summary="Response statistics for a brand over a range of days",
        responses=_responses(StatsResponse, 400, 404),
    )
    def brand_stats(
        brand_id: BrandPath, from_: From = None, to: To = None, tz: Tz = "UTC", channel: ChannelQuery = None
    ) -> StatsResponse:
        return stats_of(brand_or_404(brand_id), from_, to, tz, channel)

    @app.get(
        "/brands/<brand_id>/stats/timeseries",
        summary="Response figures per day or per week",
        responses=_responses(Timeseries, 400, 404),
    )
    def brand_timeseries(
        brand_id: BrandPath,
        from_: From = None,
        to: To = None,
        tz: Tz = "UTC",
        channel: ChannelQuery = None,
        interval: IntervalQuery = Interval.DAY,
    ) -> Timeseries:
        return timeseries_of(brand_or_404(brand_id), from_, to, tz, channel, interval)

    @app.get(
        "/brands/<brand_id>/messages",
        summary="Open, overdue, negative, answered or resolved messages, oldest first",
        responses=_responses(MessagesPage, 400, 404),
    )
    def queue(
        brand_id: BrandPath,
        status: Annotated[QueueStatus, Query(description="open, overdue, negative, answered or resolved")] = (
            QueueStatus.OPEN
        ),
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = 50,
        next: Annotated[str | None, Query(max_length=2048, description="Token from the previous page")] = None,
    ) -> MessagesPage:
        brand = brand_or_404(brand_id)
        try:
            page = messages.queue(brand.brand_id, status.value, limit=limit, start=_decode_token(next))
        except InvalidPageToken:
            raise BadRequestError("'next' is not a token this API gave out for this list") from None
        return MessagesPage(
            items=[
                MessageView.model_validate(record.model_dump() | {"key": record.key, "id": message_id(record.key)})
                for record in page.messages
            ],
            next=_encode_token(page.next_token),
        )

    @app.post(
        "/brands/<brand_id>/messages/<message>/resolve",
        summary="Mark a message as handled elsewhere (phone, e-mail, private message)",
        description="It leaves the queue and the alert ladder, and is counted as resolved, apart from public replies.",
        responses=_responses(Resolved, 400, 404, 409, 415, 503),
    )
    def resolve(
        brand_id: BrandPath,
        message: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,700}$", description="The message's `id`")],
        body: ResolveRequest,
    ) -> Resolved:
        brand = brand_or_404(brand_id)
        key = message_key(brand.brand_id, message)
        for _ in range(RESOLVE_ATTEMPTS):
            record = messages.get(key) if key else None
            if record is None or record.from_brand:
                raise NotFoundError(f"no message {message!r} for brand {brand.brand_id!r}")
            now = clock()
            try:
                messages.resolve(record, resolution=body.reason, note=body.note, now=now)
            except NotResolvable:
                raise ServiceError(409, f"the message cannot be resolved: {_unresolvable(record)}") from None
            except Conflict:
                continue
            logger.info("message resolved", extra={"message_key": record.key, "resolution": body.reason.value})
            return Resolved(
                id=message, key=record.key, status=MessageStatus.RESOLVED, resolved_at=now, resolution=body.reason
            )
        raise ServiceError(409, "the message changed while it was being resolved: try again")

    @app.get(
        "/brands/<brand_id>/sources",
        summary="The brand's connected accounts and their health",
        responses=_responses(SourcesList, 400, 404),
    )
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

    @app.get("/openapi.json", summary="This document", include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document())

    @app.get("/docs", summary="This document as a page to read", include_in_schema=False)
    def docs_page() -> Response[str]:
        return Response(
            status_code=200, content_type="text/html; charset=utf-8", body=docs.render(json.loads(document()))
        )

    def document() -> str:
        return openapi_document(app)

    # --- read-only dashboard routes (API key) --------------------------------------------------

    @app.get(
        "/dashboard", summary="The dashboard page (holds no data: it asks the API with a key)", include_in_schema=False
    )
    def dashboard() -> Response[str]:
        from replywatch.web import dashboard_html

        return Response(
            status_code=200,
            content_type="text/html; charset=utf-8",
            body=dashboard_html(),
            headers={"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"},
        )

    @app.get(
        "/dashboard/api/brands",
        summary="The brands this key may read",
        responses=_responses(BrandsList, 401, 403),
        security=[{"dashboardKey": []}],
    )
    def dashboard_brands() -> BrandsList:
        key = key_holder()
        readable = [b for b in brands.list_brands() if b.brand_id in key.brands]
        return BrandsList(items=[brand_view(b) for b in sorted(readable, key=lambda b: b.brand_id)])

    @app.get(
        "/dashboard/api/brands/<brand_id>/stats",
        summary="Response statistics, for a read-only API key",
        responses=_responses(StatsResponse, 400, 401, 403, 404),
        security=[{"dashboardKey": []}],
    )
    def dashboard_stats(
        brand_id: BrandPath, from_: From = None, to: To = None, tz: Tz = "UTC", channel: ChannelQuery = None
    ) -> StatsResponse:
        return stats_of(readable_brand(brand_id), from_, to, tz, channel)

    @app.get(
        "/dashboard/api/brands/<brand_id>/stats/timeseries",
        summary="Response figures per day or per week, for a read-only API key",
        responses=_responses(Timeseries, 400, 401, 403, 404),
        security=[{"dashboardKey": []}],
    )
    def dashboard_timeseries(
        brand_id: BrandPath,
        from_: From = None,
        to: To = None,
        tz: Tz = "UTC",
        channel: ChannelQuery = None,
        interval: IntervalQuery = Interval.DAY,
    ) -> Timeseries:
        return timeseries_of(readable_brand(brand_id), from_, to, tz, channel, interval)

    return app


def openapi_document(app: APIGatewayRestResolver) -> str:
    """The OpenAPI document, as committed in docs/openapi.json. Validation errors are answered
    400 here (with ``ErrorBody``), so the resolver's generic 422 entries are left out."""
    document = json.loads(app.get_openapi_json_schema())
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _unresolvable(record: MessageRecord) -> str:
    """Why a customer message is not waiting to be resolved, for the person who asked."""
    if record.imported:
        return "it is imported history, which never waits in the queue"
    if record.opener_key is not None:
        return f"it is a follow-up in the conversation opened by {message_id(record.opener_key)!r}: resolve that one"
    if record.status is not None:
        return f"it is {record.status.value}"
    return "it is not yet processed (try again in a moment)"


def _form_body(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/x-www-form-urlencoded", "multipart/form-data")


def _problem(problem: Any) -> str:
    """Pydantic's message, except for a query parameter given more than once (its input is a
    list, and the message would say each value is wrong)."""
    location = problem.get("loc", ())
    if location and location[0] == "query" and isinstance(problem.get("input"), list):
        return "given more than once: give it once"
    return str(problem.get("msg", ""))


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
