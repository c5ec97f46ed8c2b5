"""Validation at the edge of the domain: what a source may be configured with."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from replywatch.models import SlaPolicy, Source


def source(**options: str) -> Source:
    return Source(
        brand_id="acme",
        source_id="acme-yt",
        platform="youtube",
        base_url="https://www.googleapis.com/youtube/v3",
        token_secret="replywatch/acme/acme-yt",
        options=options,
    )


@pytest.mark.parametrize("url", ["http://evil.example/token", "ftp://x", "token.example"])
def test_url_options_must_be_https_like_the_base_url(url: str) -> None:
    with pytest.raises(ValueError, match="token_url must be an https"):
        source(token_url=url)


def test_https_and_loopback_url_options_are_accepted() -> None:
    assert source(token_url="https://oauth2.example/token").options["token_url"] == "https://oauth2.example/token"
    assert source(token_url="http://127.0.0.1:9000/token").options["token_url"].startswith("http://127.0.0.1")
    assert source(channel_id="UC123").options == {"channel_id": "UC123"}


@pytest.mark.parametrize("multiples", [[2, float("inf")], [float("nan")], [2, 100000000]])
def test_escalation_multiples_are_finite_and_at_most_100(multiples: list[float]) -> None:
    # Infinity was stored as null (the brand could no longer be read back) and 1e8 overflowed the clock.
    with pytest.raises(ValidationError, match="at most 100 times"):
        SlaPolicy(first_response_seconds=3600, escalate_at=tuple(multiples))
    assert SlaPolicy(first_response_seconds=3600, escalate_at=(2, 24, 100)).escalate_at == (2, 24, 100)
    with pytest.raises(ValidationError):
        SlaPolicy.model_validate_json('{"first_response_seconds": 3600, "escalate_at": [2, Infinity]}')
