"""Platform connectors: one module each, one registry line each."""

from __future__ import annotations

from replywatch.connectors.app_store import AppStoreConnector
from replywatch.connectors.base import (
    AuthFailed,
    BudgetExhausted,
    Connector,
    ConnectorError,
    Page,
    PollContext,
    RateLimited,
)
from replywatch.connectors.bluesky import BlueskyConnector
from replywatch.connectors.facebook import FacebookConnector
from replywatch.connectors.google_business import GoogleBusinessConnector
from replywatch.connectors.google_play import GooglePlayConnector
from replywatch.connectors.instagram import InstagramConnector
from replywatch.connectors.mastodon import MastodonConnector
from replywatch.connectors.reddit import RedditConnector
from replywatch.connectors.x import XConnector
from replywatch.connectors.youtube import YouTubeConnector

REGISTRY: dict[str, Connector] = {
    MastodonConnector.platform: MastodonConnector(),
    FacebookConnector.platform: FacebookConnector(),
    InstagramConnector.platform: InstagramConnector(),
    RedditConnector.platform: RedditConnector(),
    BlueskyConnector.platform: BlueskyConnector(),
    XConnector.platform: XConnector(),
    YouTubeConnector.platform: YouTubeConnector(),
    GoogleBusinessConnector.platform: GoogleBusinessConnector(),
    GooglePlayConnector.platform: GooglePlayConnector(),
    AppStoreConnector.platform: AppStoreConnector(),
}


def connector_for(platform: str) -> Connector:
    try:
        return REGISTRY[platform]
    except KeyError:
        raise ConnectorError(f"no connector for platform {platform!r}") from None


__all__ = [
    "REGISTRY",
    "AuthFailed",
    "BudgetExhausted",
    "Connector",
    "ConnectorError",
    "Page",
    "PollContext",
    "RateLimited",
    "connector_for",
]
