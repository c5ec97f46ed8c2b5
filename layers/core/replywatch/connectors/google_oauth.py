"""Google OAuth 2.0 for connectors of Google APIs (YouTube, Google Business Profile, Google Play).

A Google source is connected once, offline: its Secrets Manager secret is JSON holding the OAuth
client and the refresh token the account's owner granted::

    {"client_id": "...apps.googleusercontent.com", "client_secret": "...", "refresh_token": "1//..."}

Each poll trades the refresh token for a short-lived access token at Google's token endpoint
(``ctx.option("token_url", TOKEN_URL)``, so tests and fakes can point elsewhere) and keeps it in
``ctx.sessions`` until shortly before it expires, so a container refreshes about once an hour, not
once a poll. Nothing here is persisted or logged.

Use :func:`request` for every API call::

    response = await google_oauth.request(ctx, "GET", f"{ctx.source.base_url}/...", params=[...])
    check(response, ctx.now)  # or the API's own error mapping first: the status is not interpreted

It sends the cached (or a fresh) access token; a 401 drops the token and retries once with a newly
refreshed one, and a second 401 is :class:`AuthFailed`. Every other status, 403 included, comes back
to the caller, because Google APIs say "quota spent" and "slow down" with a 403 and a reason in the
body that only the caller can weigh. Refresh failures map as: ``invalid_grant`` (revoked or expired
refresh token), ``invalid_client`` and every other 400/401 from the token endpoint -> AuthFailed
(someone must reconnect); 429 -> RateLimited; 5xx, transport errors, an answer that is not JSON or
has no access token -> ConnectorError.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from replywatch.connectors.base import AuthFailed, ConnectorError, PollContext, credentials
from replywatch.connectors.http import Params, check, json_body

TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - an endpoint, not a secret
DEFAULT_LIFETIME = timedelta(hours=1)  # Google's access tokens last an hour when it does not say
EXPIRY_MARGIN = timedelta(minutes=1)  # refresh this long before Google's expiry, not after it
_SESSION_TOKEN = "access_token"  # noqa: S105 - the session field name


async def access_token(ctx: PollContext, *, refresh: bool = False) -> str:
    """The source's access token: the cached one, or (``refresh`` or none cached) a new one."""
    if not refresh:
        cached = ctx.sessions.get(ctx.session_key, ctx.now)
        if cached and cached.get(_SESSION_TOKEN):
            return cached[_SESSION_TOKEN]
    fields = credentials(ctx.secret, "client_id", "client_secret", "refresh_token")
    try:
        response = await ctx.client.post(
            ctx.option("token_url", TOKEN_URL) or TOKEN_URL,
            data={
                "grant_type": "refresh_token",
                "client_id": fields["client_id"],
                "client_secret": fields["client_secret"],
                "refresh_token": fields["refresh_token"],
            },
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as error:
        raise ConnectorError(f"Google token refresh failed: {type(error).__name__}") from error
    if response.status_code in (400, 401):
        # The error code only: it names the problem (invalid_grant, invalid_client) and holds no secret.
        raise AuthFailed(f"Google refused the refresh token: {_oauth_error(response) or response.status_code}")
    body = json_body(check(response, ctx.now))
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ConnectorError("Google's token answer holds no access token")
    lifetime = _lifetime(body.get("expires_in"))
    ctx.sessions.put(ctx.session_key, {_SESSION_TOKEN: token}, ctx.now + max(lifetime - EXPIRY_MARGIN, timedelta(0)))
    return token


def forget(ctx: PollContext) -> None:
    """Drop the source's cached access token (Google refused it)."""
    ctx.sessions.drop(ctx.session_key)


async def request(
    ctx: PollContext,
    method: str,
    url: str,
    *,
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
) -> httpx.Response:
    """Call a Google API with the source's access token; any status but 401 is the caller's to map."""
    for attempt in range(2):
        token = await access_token(ctx, refresh=attempt > 0)
        try:
            response = await ctx.client.request(
                method,
                url,
                params=params,
                json=json,
                headers={**(headers or {}), "Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            raise ConnectorError(type(error).__name__) from error
        if response.status_code != 401:
            return response
        forget(ctx)
    raise AuthFailed("Google refused a freshly refreshed access token")


def _oauth_error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and error.replace("_", "").isalnum() else None


def _lifetime(expires_in: object) -> timedelta:
    try:
        seconds = int(str(expires_in))
    except ValueError:
        return DEFAULT_LIFETIME
    return timedelta(seconds=seconds) if seconds > 0 else DEFAULT_LIFETIME
