"""What the domain needs from the outside world, as protocols.

The DynamoDB adapters in :mod:`replywatch.store` implement these; tests may
pass anything with the same methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from replywatch.models import (
    AlertKind,
    Brand,
    Classification,
    Message,
    MessageRecord,
    Priority,
    Recipient,
    Source,
    SourceState,
    StormControl,
    Wait,
)


class Conflict(Exception):
    """A conditional write lost a race: re-read and decide again."""


class Busy(Exception):
    """Other writers kept a shared item (a day's or the backlog's counters) busy through every
    retry: nothing was written; try again a moment later."""


@dataclass(frozen=True)
class Triage:
    """What processing decided about a customer message beyond its sentiment."""

    priority: Priority = Priority.NORMAL
    wait: Wait = Wait.FIRST
    target_seconds: int | None = None
    alert: tuple[int, datetime] | None = None  # the first stage of its alert ladder, and when
    # False for imported history: counted in the statistics, but not a live open message
    # (no open/overdue status, not on the queue, not in the backlog totals).
    backlog: bool = True


@dataclass(frozen=True)
class HeldSms:
    """An SMS kept back during its recipient's quiet hours."""

    brand_id: str
    release_at: datetime
    subject_key: str  # the message (or source, or storm window) it is about
    slot: str  # its claim: sent at most once
    recipient_id: str
    text: str
    attempts: int = 0


@dataclass(frozen=True)
class StormWindow:
    """A brand's alerts within one storm-control window."""

    brand_id: str
    start: datetime
    end: datetime
    suppressed: dict[str, int] = field(default_factory=dict)  # kind -> alerts folded into the summary


class AlertClaims(Protocol):
    def claim_alert(self, message_key: str, slot: str, *, now: datetime, expires_at: datetime) -> bool: ...

    def release_alert(self, message_key: str, slot: str) -> None: ...


class AlertLedger(AlertClaims, Protocol):
    """Claims, plus SMS held for quiet hours."""

    def hold_sms(self, held: HeldSms, *, expires_at: datetime) -> None: ...


class StormLedger(Protocol):
    def admit_alert(self, brand_id: str, event_id: str, kind: AlertKind, *, now: datetime, storm: StormControl) -> bool:
        """True: send it; False: over the limit, folded into the window's summary. The same
        ``event_id`` gets the same answer every time."""
        ...

    def storm_windows(self, brand_id: str, *, ended_by: datetime) -> list[StormWindow]: ...

    def close_storm_window(self, window: StormWindow) -> bool: ...

    def held_sms(self, brand_id: str, now: datetime) -> list[HeldSms]: ...

    def drop_held(self, held: HeldSms, *, retry: bool) -> None: ...


class MessageSink(Protocol):
    """Where new messages go, polled or pushed: idempotent by key."""

    def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool: ...


class MessageRepository(MessageSink, Protocol):
    def get(self, key: str) -> MessageRecord | None: ...

    def replies_to(self, parent_key: str) -> list[tuple[str, datetime]]: ...

    def alert_keys(self, brand: str, now: datetime) -> Iterator[str]: ...

    def next_alert_at(self, brand: str, after: datetime, until: datetime) -> datetime | None: ...

    def pending_keys(self, brand: str, ingested_before: datetime) -> Iterator[str]: ...

    def settle(self, key: str) -> None: ...

    def fold(self, record: MessageRecord, opener_key: str) -> bool: ...

    def count_inbound(
        self, record: MessageRecord, *, due_at: datetime, classification: Classification, triage: Triage | None = None
    ) -> bool: ...

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

    def advance_alert(
        self,
        record: MessageRecord,
        *,
        after: int,
        following: tuple[int, datetime] | None,
        overdue: bool,
        now: datetime,
        due_at: datetime | None = None,
    ) -> bool: ...

    def forget(self, record: MessageRecord, *, now: datetime) -> bool: ...


class SourceRepository(Protocol):
    """What the poller reads and writes: sources, their state, and who to tell about them."""

    def get_brand(self, brand_id: str) -> Brand | None: ...

    def list_sources(self) -> list[tuple[Source, SourceState]]: ...

    def save_source_state(self, source: Source, state: SourceState) -> None: ...

    def list_recipients(self, brand_id: str) -> list[Recipient]: ...

    def claim_alert(self, message_key: str, slot: str, *, now: datetime, expires_at: datetime) -> bool: ...

    def release_alert(self, message_key: str, slot: str) -> None: ...

    def hold_sms(self, held: HeldSms, *, expires_at: datetime) -> None: ...


class StateRepository(SourceRepository, StormLedger, Protocol):
    def list_brands(self) -> list[Brand]: ...


class SecretReader(Protocol):
    def read(self, secret_name: str) -> str: ...
