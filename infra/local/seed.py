"""Put the demo brand, its Mastodon source (token in Secrets Manager) and recipients into a stack."""

from __future__ import annotations

from typing import Any

from infra.local import scenario
from replywatch.cli import store_token
from replywatch.models import Brand, Recipient, SlaPolicy, Source
from replywatch.store import StateStore


def seed(state: StateStore, secrets: Any, mastodon_url: str) -> None:
    state.put_brand(
        Brand(
            brand_id=scenario.BRAND_ID,
            name=scenario.BRAND_NAME,
            sla=SlaPolicy(first_response_seconds=int(scenario.SLA.total_seconds())),
        )
    )
    store_token(secrets, scenario.SECRET_NAME, scenario.TOKEN)
    state.put_source(
        Source(
            brand_id=scenario.BRAND_ID,
            source_id=scenario.SOURCE_ID,
            platform="mastodon",
            base_url=mastodon_url,
            token_secret=scenario.SECRET_NAME,
        )
    )
    for recipient_id, name, email, phone, kinds in scenario.RECIPIENTS:
        state.put_recipient(
            Recipient(
                brand_id=scenario.BRAND_ID,
                recipient_id=recipient_id,
                name=name,
                email=email,
                phone=phone,
                alert_kinds=frozenset(kinds),
            )
        )
