"""Validation at the edge of the domain: what a source may be configured with."""

from __future__ import annotations

import pytest

from replywatch.models import Source


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
