"""Every registered connector calls the source's base_url, never a host of its own.

One poll per platform against an unusual host (``https://proxy.example/prefix``, as for a proxy
or a local fake) through a transport that records every request and answers it with an empty page
in the platform's shape (or, for a path it does not know, a 401). Token endpoints come from the
``token_url`` option (``https://auth.proxy.example/token``); nothing else may be called.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from replywatch.connectors import REGISTRY
from replywatch.connectors.base import ConnectorError, Meter
from replywatch.models import Source
from tests.support.connectors import collect

NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)
BASE = "https://proxy.example/prefix"
API_HOST = "proxy.example"
TOKEN_URL = "https://auth.proxy.example/token"
TOKEN_HOST = "auth.proxy.example"
PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode()
)
# One secret that every connector can read its credentials from.
SECRET = json.dumps(
    {
        "access_token": "tok",
        "client_id": "client",
        "client_secret": "client-secret",
        "refresh_token": "refresh",
        "identifier": "brand.example",
        "password": "app-password",
        "issuer_id": "57246542-96fe-1a63-e053-0824d011072a",
        "key_id": "2X9R4HXF34",
        "private_key": PEM,
    }
)
# Every option a connector needs to make its first request.
OPTIONS = {
    "token_url": TOKEN_URL,
    "page_id": "1234567890",
    "ig_user_id": "17841400000000000",
    "subreddits": "acme",
    "keywords": "acme",
    "channel_id": "UC0000000000000000000000",
    "location": "accounts/1/locations/2",
    "package_name": "com.acme.app",
    "app_id": "682658836",
}

Answer = Callable[[httpx.Request], Any]  # the JSON body of a 200, or None for a 401


def _path(request: httpx.Request) -> str:
    return request.url.path.removeprefix("/prefix")


def _mastodon(request: httpx.Request) -> Any:
    return {"id": "1", "username": "acme", "acct": "acme"} if _path(request).endswith("/verify_credentials") else []


def _instagram(request: httpx.Request) -> Any:
    if _path(request) == f"/{OPTIONS['ig_user_id']}":
        return {"id": OPTIONS["ig_user_id"], "username": "acme"}
    return {"data": []}


def _reddit(request: httpx.Request) -> Any:
    if _path(request) == "/api/v1/me":
        return {"name": "acme"}
    return {"kind": "Listing", "data": {"children": [], "after": None, "before": None}}


def _bluesky(request: httpx.Request) -> Any:
    nsid = _path(request).removeprefix("/xrpc/")
    if nsid == "com.atproto.server.createSession":
        return {"accessJwt": "a.b.c", "refreshJwt": "a.b.c", "did": "did:plc:acme", "handle": "acme.example"}
    return {"notifications": [], "feed": []}


def _x(request: httpx.Request) -> Any:
    if _path(request) == "/2/users/me":
        return {"data": {"id": "2244994945", "username": "acme"}}
    return {"meta": {"result_count": 0}}


def _unauthorized(request: httpx.Request) -> Any:
    return None


ANSWERS: dict[str, Answer] = {
    "mastodon": _mastodon,
    "facebook": lambda request: {"data": []},
    "instagram": _instagram,
    "reddit": _reddit,
    "bluesky": _bluesky,
    "x": _x,
    "youtube": lambda request: {"kind": "youtube#commentThreadListResponse", "items": []},
    "google_business": lambda request: {"averageRating": 0, "totalReviewCount": 0},
    "google_play": lambda request: {},
    "app_store": lambda request: {"data": [], "links": {"self": f"{BASE}/v1"}},
}
PLATFORMS = sorted(REGISTRY)


def poll(platform: str) -> tuple[list[httpx.Request], ConnectorError | None]:
    connector = REGISTRY[platform]
    source = Source(
        brand_id="acme",
        source_id=f"acme-{platform.replace('_', '-')}",
        platform=platform,
        base_url=BASE,
        token_secret="replywatch/acme",
        options=OPTIONS,
    )
    answer = ANSWERS.get(platform, _unauthorized)
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if str(request.url) == TOKEN_URL:
            return httpx.Response(200, json={"access_token": "fresh", "expires_in": 3600, "token_type": "bearer"})
        body = answer(request) if request.url.host == API_HOST else None
        if body is None:
            return httpx.Response(401, json={"error": "unauthorized"})
        return httpx.Response(200, json=body)

    rule = connector.budget
    _, failure = collect(
        connector,
        handle,
        source=source,
        secret=SECRET,
        now=NOW,
        max_pages=2,
        backfill_from=NOW - timedelta(hours=24),
        meter=Meter.start(rule, source, None, NOW) if rule is not None else None,
    )
    return requests, failure


def test_every_registered_platform_is_covered() -> None:
    assert set(PLATFORMS) == set(REGISTRY)
    assert set(ANSWERS) <= set(REGISTRY)  # no answer left for a platform that is gone


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_poll_calls_only_the_sources_base_url_and_the_token_url(platform: str) -> None:
    requests, failure = poll(platform)
    api = [request for request in requests if request.url.host == API_HOST]
    assert api, f"{platform} made no request to the source's base_url ({failure!r})"
    assert {request.url.host for request in requests} <= {API_HOST, TOKEN_HOST}
    for request in api:
        assert request.url.scheme == "https"
        assert request.url.path.startswith("/prefix/"), request.url  # the base_url's path is kept too
    for request in requests:
        if request.url.host == TOKEN_HOST:
            assert str(request.url) == TOKEN_URL
    if platform in ANSWERS:  # an empty page in its own shape: the whole poll ran, and every request was checked
        assert failure is None, failure
