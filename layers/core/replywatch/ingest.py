"""The one write path for new messages, polled or pushed by a webhook: idempotent by key."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from replywatch.models import Message
from replywatch.ports import MessageSink


def ingest(messages: MessageSink, batch: Iterable[Message], *, now: datetime, retention: timedelta) -> int:
    """Store each message not already stored; returns how many were new."""
    stored = 0
    for message in batch:
        if messages.put_new(message, ingested_at=now, expires_at=message.created_at + retention):
            stored += 1
    return stored
