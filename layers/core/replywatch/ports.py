"""What the domain needs from the outside world, as protocols.

The DynamoDB adapters in :mod:`replywatch.store` implement these; tests may
pass anything with the same methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from replywatch.models import Brand, Classification, Message, MessageRecord, Recipient, Source, SourceState


class Conflict(Exception):
    """A conditional write lost a race: re-read and decide again."""


class MessageSink(Protocol):
    """Where new messages go, polled or pushed: idempotent by key."""

    def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool: ...


class MessageRepository(MessageSink, Protocol):
    def get(self, key: str) -> MessageRecord | None: ...

    def replies_to(self, parent_key: str) -> list[tuple[str, datetime]]: ...

    def due_keys(self, brand: str, now: datetime) -> Iterator[str]: ...

    def pending_keys(self, brand: str, ingested_before: datetime) -> Iterator[str]: ...

    def settle(self, key: str) -> None: ...

    def fold(self, record: MessageRecord, opener_key: str) -> bool: ...

    def count_inbound(self, record: MessageRecord, *, due_at: datetime, classification: Classification) -> bool: ...

    def record_first_response(
        self,
        record: MessageRecord,
        *,
        reply_key: str,
        replied_at: datetime,
        seconds: int,
        within_sla: bool,
        previous_within_sla: bool,
    ) -> None: ...

    def mark_overdue(self, record: MessageRecord, *, now: datetime) -> bool: ...

    def forget(self, record: MessageRecord, *, now: datetime) -> bool: ...


class SourceRepository(Protocol):
    """What the poller reads and writes: sources, their state, and who to tell about them."""

    def get_brand(self, brand_id: str) -> Brand | None: ...

    def list_sources(self) -> list[tuple[Source, SourceState]]: ...

    def save_source_state(self, source: Source, state: SourceState) -> None: ...

    def list_recipients(self, brand_id: str) -> list[Recipient]: ...

    def claim_alert(self, message_key: str, slot: str, *, now: datetime, expires_at: datetime) -> bool: ...

    def release_alert(self, message_key: str, slot: str) -> None: ...


class StateRepository(SourceRepository, Protocol):
    def list_brands(self) -> list[Brand]: ...


class SecretReader(Protocol):
    def read(self, secret_name: str) -> str: ...
