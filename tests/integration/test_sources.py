"""Sources keep their cursor while they read the same account, and start afresh when they don't."""

from __future__ import annotations

import boto3

from replywatch.models import Source, SourceState
from replywatch.store import StateStore
from tests.support import aws


def source(**changes: object) -> Source:
    fields: dict[str, object] = {
        "brand_id": "acme",
        "source_id": "main",
        "platform": "mastodon",
        "base_url": "https://one.example",
        "token_secret": "replywatch/acme/main",
    }
    return Source.model_validate(fields | changes)


def test_reconfiguring_a_source_keeps_its_cursor_only_while_it_reads_the_same_account(aws_env: None) -> None:
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    assert state.put_source(source()) is True
    state.save_source_state(source(), SourceState(cursor={"account_id": "7", "notifications": "900"}))

    # Disabling it, or changing its backfill window, is the same account: the cursor stays.
    assert state.put_source(source(enabled=False, backfill_hours=2)) is False
    [(stored, kept)] = state.list_sources()
    assert stored.enabled is False and kept.cursor["notifications"] == "900"

    # Another instance: its ids mean nothing here, so the cursor and account id go.
    assert state.put_source(source(base_url="https://two.example")) is True
    [(stored, fresh)] = state.list_sources()
    assert stored.base_url == "https://two.example" and fresh.cursor == {}


def test_a_poll_finishing_after_the_source_was_repointed_does_not_bring_back_its_old_state(aws_env: None) -> None:
    state = StateStore(boto3.client("dynamodb", region_name=aws.REGION), aws.STATE_TABLE)
    polled = source()
    state.put_source(polled)
    state.put_source(source(base_url="https://two.example"))  # reconnected while the poll ran
    state.save_source_state(polled, SourceState(cursor={"account_id": "7", "notifications": "900"}))
    [(stored, fresh)] = state.list_sources()
    assert stored.base_url == "https://two.example" and fresh.cursor == {}
