"""Read-only API keys for dashboards: ``rwk_<key id>_<secret>``.

Pure: the caller stores :class:`~replywatch.models.ApiKey` (a digest of the secret,
never the secret) and looks it up by id. The secret has 256 bits of entropy, so a plain
SHA-256 digest is enough to make a stolen table useless for calling the API.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from replywatch.models import ApiKey

PREFIX = "rwk_"
_TOKEN = re.compile(r"^rwk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(name: str, brands: Iterable[str], now: datetime) -> tuple[str, ApiKey]:
    """A new key: the token to hand over (once) and the record to store."""
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    record = ApiKey(key_id=key_id, name=name, brands=frozenset(brands), secret_sha256=_digest(secret), created_at=now)
    return f"{PREFIX}{key_id}_{secret}", record


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer rwk_...`` header, if it has that form."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def verify(token: str | None, lookup: Callable[[str], ApiKey | None]) -> ApiKey | None:
    """The key a token belongs to, or None (unknown, malformed, revoked or wrong secret)."""
    if not token:
        return None
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    key_id, secret = match.groups()
    record = lookup(key_id)
    if record is None or not hmac.compare_digest(record.secret_sha256, _digest(secret)):
        return None
    return record
