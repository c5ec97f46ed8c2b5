"""HTTP helpers shared by connectors: rate-limit signals and error mapping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from replywatch.connectors.base import AuthFailed, ConnectorError, RateLimited

Params = list[tuple[str, str | int | float | bool | None]]

# When a platform says "slow down" but not until when, wait this long.
DEFAULT_BACKOFF = timedelta(minutes=1)
# Epoch values above this are milliseconds.
_EPOCH_MS_FROM = 10**11


def parse_reset(value: str, now: datetime) -> datetime | None:
    """Read a reset header that may be an epoch (s or ms), an ISO time or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(number) or number < 0:
            return None
        if number > _EPOCH_MS_FROM:
            number /= 1000
        try:
            return datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_retry_after(value: str, now: datetime) -> datetime | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110)."""
    value = value.strip()
    if value.isdigit():
        try:
            return now + timedelta(seconds=int(value))
        except OverflowError:
            return None
    return parse_reset(value, now)


def retry_at(headers: Mapping[str, str], now: datetime, reset_header: str = "x-ratelimit-reset") -> datetime:
    """When to try again after a rate-limit response, from the platform's own signals."""
    candidates = []
    if "retry-after" in headers:
        candidates.append(parse_retry_after(headers["retry-after"], now))
    if reset_header in headers:
        candidates.append(parse_reset(headers[reset_header], now))
    found = [moment for moment in candidates if moment is not None and moment > now]
    return max(found) if found else now + DEFAULT_BACKOFF


def exhausted(headers: Mapping[str, str], remaining_header: str = "x-ratelimit-remaining") -> bool:
    value = headers.get(remaining_header)
    return value is not None and value.strip().isdigit() and int(value) == 0


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    data: Mapping[str, str] | None = None,
    json: Any = None,
    reset_header: str = "x-ratelimit-reset",
) -> httpx.Response:
    """One request, with transport failures, refusals and rate limits mapped to connector errors."""
    try:
        response = await client.request(method, url, params=params, headers=headers, data=data, json=json)
    except httpx.HTTPError as error:
        raise ConnectorError(type(error).__name__) from error
    return check(response, now, reset_header=reset_header)


def check(response: httpx.Response, now: datetime, *, reset_header: str = "x-ratelimit-reset") -> httpx.Response:
    """The generic meaning of an HTTP status: 401/403 reconnect, 429 wait, other errors retry later."""
    if response.status_code in (401, 403):
        raise AuthFailed(f"HTTP {response.status_code}")
    if response.status_code == 429:
        raise RateLimited(retry_at(response.headers, now, reset_header))
    if response.status_code >= 400:
        raise ConnectorError(f"HTTP {response.status_code}")
    return response


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    token: str,
    now: datetime,
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    reset_header: str = "x-ratelimit-reset",
) -> httpx.Response:
    """GET with a bearer token, mapping auth and rate-limit answers to connector errors."""
    return await send(
        client,
        "GET",
        url,
        now=now,
        params=params,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        reset_header=reset_header,
    )


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON of a 2xx answer; a page that is not JSON is the platform's fault, not ours."""
    try:
        return response.json()
    except ValueError as error:
        raise ConnectorError(f"HTTP {response.status_code} with a body that is not JSON") from error


def id_order(platform_id: str) -> tuple[int, str]:
    """Order snowflake-style numeric string ids numerically, others lexically."""
    return (len(platform_id), platform_id) if platform_id.isdigit() else (0, platform_id)
