"""In-memory stand-ins for the poller's repositories (benchmarks and fast tests), thread-safe."""

from __future__ import annotations

import threading
from datetime import datetime

from replywatch.models import Brand, Message, Recipient, Source, SourceState


class MemoryMessages:
    def __init__(self) -> None:
        self.stored: dict[str, Message] = {}
        self._lock = threading.Lock()

    def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool:
        with self._lock:
            if message.key in self.stored:
                return False
            self.stored[message.key] = message
            return True

    @property
    def keys(self) -> set[str]:
        """The keys of the messages stored so far."""
        with self._lock:
            return set(self.stored)


class MemoryState:
    def __init__(self, sources: list[Source], recipients: list[Recipient] | None = None) -> None:
        self.sources = sources
        self.states = {(source.brand_id, source.source_id): SourceState() for source in sources}
        self.recipients = recipients or []
        self.claims: set[tuple[str, str]] = set()
        self.paused: set[str] = set()  # brands whose enabled is false
        self._lock = threading.Lock()

    def state_of(self, source_id: str) -> SourceState:
        """The saved state of the one source with this id (whichever its brand)."""
        (state,) = [state for (_, known), state in self.states.items() if known == source_id]
        return state

    def list_sources(self) -> list[tuple[Source, SourceState]]:
        return [(source, self.states[(source.brand_id, source.source_id)]) for source in self.sources]

    def save_source_state(self, source: Source, state: SourceState) -> None:
        with self._lock:
            self.states[(source.brand_id, source.source_id)] = state

    def get_brand(self, brand_id: str) -> Brand | None:
        return Brand(brand_id=brand_id, name=brand_id.title(), enabled=brand_id not in self.paused)

    def list_recipients(self, brand_id: str) -> list[Recipient]:
        return [recipient for recipient in self.recipients if recipient.brand_id == brand_id]

    def claim_alert(self, message_key: str, slot: str, *, now: datetime, expires_at: datetime) -> bool:
        with self._lock:
            if (message_key, slot) in self.claims:
                return False
            self.claims.add((message_key, slot))
            return True

    def release_alert(self, message_key: str, slot: str) -> None:
        with self._lock:
            self.claims.discard((message_key, slot))


class StaticSecrets:
    def __init__(self, value: str = "token") -> None:
        self.value = value

    def read(self, secret_name: str) -> str:
        return self.value
