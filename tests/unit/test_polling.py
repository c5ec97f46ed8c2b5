"""The poller with in-memory fakes: cursors, health, and one source's failure kept to itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import httpx
import pytest

from replywatch.connectors import REGISTRY, Page, PollContext, RateLimited
from replywatch.connectors.base import BudgetRule
from replywatch.models import Message, MessageKind, Source, SourceState
from replywatch.polling import Poller
from tests.support.memory import MemoryMessages, MemoryState, StaticSecrets

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def message(source: Source, platform_id: str) -> Message:
    return Message(
        brand=source.brand_id,
        platform="fake",
        source_id=source.source_id,
        platform_id=platform_id,
        author_id="a1",
        author_handle="@a",
        text="hello",
        created_at=NOW - timedelta(minutes=5),
        kind=MessageKind.MENTION,
    )


class FakeConnector:
    platform: ClassVar[str] = "fake"
    default_base_url: ClassVar[str] = "https://fake.example"
    budget: ClassVar[BudgetRule | None] = None

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        if ctx.source.source_id == "crashes":
            raise KeyError("a payload field the connector did not expect")
        if ctx.source.source_id == "limited":
            yield Page(messages=[message(ctx.source, "l1")], cursor={"since": "l1"})
            raise RateLimited(NOW + timedelta(minutes=15))
        yield Page(messages=[message(ctx.source, f"{ctx.source.source_id}-1")], cursor={"since": "1"})


@pytest.fixture
def fake_platform() -> Iterator[None]:
    REGISTRY["fake"] = FakeConnector()
    yield
    del REGISTRY["fake"]


def source(source_id: str) -> Source:
    return Source(
        brand_id="acme",
        source_id=source_id,
        platform="fake",
        base_url="https://fake.example",
        token_secret=f"replywatch/acme/{source_id}",
    )


def run(poller: Poller) -> dict[str, str]:
    async def go() -> dict[str, str]:
        async with httpx.AsyncClient() as client:
            report = await poller.poll_all(client, NOW)
        return {item.source_id: item.health for item in report.sources}

    return asyncio.run(go())


def test_a_crashing_source_is_marked_and_the_others_are_still_polled(fake_platform: None) -> None:
    state = MemoryState([source("crashes"), source("fine"), source("limited")])
    messages = MemoryMessages()
    poller = Poller(messages=messages, state=state, secrets=StaticSecrets("t"), retention=timedelta(days=30))  # type: ignore[arg-type]

    health = run(poller)

    assert health == {"crashes": "error", "fine": "ok", "limited": "rate_limited"}
    assert messages.keys == {"acme#fake#fine-1", "acme#fake#l1"}
    assert state.state_of("crashes").last_error == "KeyError"
    assert state.state_of("crashes").cursor == {}
    assert state.state_of("fine").cursor == {"since": "1"}
    # The page stored before the limit bit is covered by the cursor; polling waits for the reset.
    assert state.state_of("limited").cursor == {"since": "l1"}
    assert state.state_of("limited").resume_after == NOW + timedelta(minutes=15)


def test_a_rate_limited_source_is_not_polled_before_its_reset(fake_platform: None) -> None:
    state = MemoryState([source("limited")])
    state.save_source_state(source("limited"), SourceState(resume_after=NOW + timedelta(seconds=1)))
    messages = MemoryMessages()
    poller = Poller(messages=messages, state=state, secrets=StaticSecrets("t"), retention=timedelta(days=30))  # type: ignore[arg-type]

    assert run(poller) == {}
    assert messages.keys == set()


def test_a_paused_brands_sources_are_not_polled(fake_platform: None) -> None:
    globex = source("fine").model_copy(update={"brand_id": "globex", "token_secret": "replywatch/globex/fine"})
    state = MemoryState([source("fine"), globex])
    state.paused.add("globex")
    messages = MemoryMessages()
    poller = Poller(messages=messages, state=state, secrets=StaticSecrets("t"), retention=timedelta(days=30))  # type: ignore[arg-type]

    run(poller)

    assert messages.keys == {"acme#fake#fine-1"}
    assert state.states[("globex", "fine")] == SourceState()  # not touched
