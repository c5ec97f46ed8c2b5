"""Google API error answers, read the way Google writes them (Business Profile, Play Developer).

Google says "slow down" with 429, or with 403 and ``error.status`` RESOURCE_EXHAUSTED or a reason
such as ``rateLimitExceeded``; ``check`` in ``http`` would take every 403 for a refused token, so
these are read first. When to retry: ``Retry-After`` if sent, else the ``google.rpc.RetryInfo``
``retryDelay`` in the error's details, else a minute (both APIs count requests per minute).
401 or UNAUTHENTICATED -> AuthFailed (``google_oauth.request`` has already retried once with a
fresh token); other 403s (PERMISSION_DENIED: access to the location or app was withdrawn) too.
A 400 for a request that carried a saved page token -> StaleToken, so the stream starts afresh.

``list_reviews`` reads one page of either API's reviews list that way.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from replywatch.connectors import google_oauth
from replywatch.connectors.base import AuthFailed, ConnectorError, PollContext, RateLimited
from replywatch.connectors.http import DEFAULT_BACKOFF, Params, check, json_body, parse_retry_after
from replywatch.connectors.review_feed import Listing, StaleToken

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "RATE_LIMIT_EXCEEDED"})
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _reasons(error: dict[str, Any]) -> set[str]:
    found = set()
    for entry in [*(error.get("errors") or []), *(error.get("details") or [])]:
        if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
            found.add(entry["reason"])
    return found


def _retry_delay(error: dict[str, Any]) -> timedelta | None:
    for entry in error.get("details") or []:
        if isinstance(entry, dict) and str(entry.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(entry.get("retryDelay", "")))
            if match:
                return timedelta(seconds=float(match.group(1)))
    return None


def _when(response: httpx.Response, error: dict[str, Any], now: datetime) -> datetime:
    told = parse_retry_after(response.headers.get("retry-after", ""), now)
    if told is not None and told > now:
        return told
    delay = _retry_delay(error)
    return now + (delay if delay is not None and delay > timedelta(0) else DEFAULT_BACKOFF)


def check_google(response: httpx.Response, now: datetime, *, token_sent: bool = False) -> httpx.Response:
    """``response`` if it succeeded; otherwise the connector error Google's answer means."""
    if response.status_code < 400:
        return response
    error = _error(response)
    status = str(error.get("status", ""))
    if response.status_code == 429 or (
        response.status_code == 403 and (status == "RESOURCE_EXHAUSTED" or _reasons(error) & RATE_REASONS)
    ):
        raise RateLimited(_when(response, error, now))
    if response.status_code == 401 or status == "UNAUTHENTICATED":
        raise AuthFailed(f"HTTP {response.status_code}")
    if response.status_code == 400 and token_sent:
        raise StaleToken("the saved page token was refused")
    return check(response, now)


def listed_review_id(item: object) -> str | None:
    """A listed review's ``reviewId`` (what a malformed one is logged by), or None."""
    if isinstance(item, dict) and item.get("reviewId") is not None:
        return str(item["reviewId"])
    return None


async def list_reviews(
    ctx: PollContext, url: str, params: Params, *, token_sent: bool, name: str, next_token_at: tuple[str, ...]
) -> Listing:
    """One page of a Google reviews list (``reviews``, each API naming its next page token at its own
    ``next_token_at`` path in the body), through ``google_oauth`` and read by ``check_google``."""
    response = check_google(await google_oauth.request(ctx, "GET", url, params=params), ctx.now, token_sent=token_sent)
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("reviews", []), list):
        raise ConnectorError(f"{name} page is not a reviews list")
    following: Any = body
    for key in next_token_at:
        following = following.get(key) if isinstance(following, dict) else None
    return Listing(
        items=list(body.get("reviews") or []),
        next_token=str(following) if following else None,
        headers=response.headers,
    )
