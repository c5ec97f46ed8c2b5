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


# --- time: a source that never finishes, and a run that runs out -------------------------------------


class SlowConnector:
    """``trickles``: one page, then a host that never finishes answering. ``slow``: one page
    after ``delay`` seconds (each call), then done."""

    platform: ClassVar[str] = "slow"
    default_base_url: ClassVar[str] = "https://slow.example"
    budget: ClassVar[BudgetRule | None] = None
    delay: float = 0.5

    def __init__(self) -> None:
        self.order: list[str] = []

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        self.order.append(ctx.source.source_id)
        if ctx.source.source_id == "trickles":
            yield Page(messages=[message(ctx.source, "t1")], cursor={"since": "t1"})
            await asyncio.sleep(3600)  # a response that arrives a byte at a time
            yield Page(messages=[message(ctx.source, "t2")], cursor={"since": "t2"})
        else:
            await asyncio.sleep(self.delay)
            yield Page(messages=[message(ctx.source, f"{ctx.source.source_id}-1")], cursor={"since": "1"})


@pytest.fixture
def slow_platform() -> Iterator[SlowConnector]:
    connector = SlowConnector()
    REGISTRY["slow"] = connector
    yield connector
    del REGISTRY["slow"]


def slow_source(source_id: str) -> Source:
    return source(source_id).model_copy(update={"platform": "slow", "base_url": "https://slow.example"})


def timed_poller(messages: MemoryMessages, state: MemoryState, **settings: float) -> Poller:
    return Poller(
        messages=messages,  # type: ignore[arg-type]
        state=state,  # type: ignore[arg-type]
        secrets=StaticSecrets("t"),  # type: ignore[arg-type]
        retention=timedelta(days=30),
        **settings,  # type: ignore[arg-type]
    )


def timed_run(poller: Poller, time_left: float | None = None) -> tuple[dict[str, str], int]:
    async def go() -> tuple[dict[str, str], int]:
        async with httpx.AsyncClient() as client:
            report = await poller.poll_all(client, NOW, time_left=time_left)
        return {item.source_id: item.health for item in report.sources}, report.deferred

    return asyncio.run(go())


def test_a_source_that_never_finishes_is_stopped_at_its_deadline_keeping_what_it_stored(
    slow_platform: SlowConnector,
) -> None:
    state = MemoryState([slow_source("trickles"), slow_source("fine")])
    messages = MemoryMessages()
    poller = timed_poller(messages, state, source_timeout=1.5)  # fine needs 0.5

    health, deferred = timed_run(poller)

    assert health == {"trickles": "error", "fine": "ok"} and deferred == 0
    assert state.state_of("trickles").last_error == "PollTimeout"
    assert state.state_of("trickles").cursor == {"since": "t1"}  # the page stored before it hung
    assert messages.keys == {"acme#fake#t1", "acme#fake#fine-1"}


class SlowSink(MemoryMessages):
    def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool:
        import time

        time.sleep(0.4)  # DynamoDB having a slow moment, past the source's deadline
        return super().put_new(message, ingested_at=ingested_at, expires_at=expires_at)


def test_a_page_being_stored_when_the_deadline_passes_is_stored_and_its_cursor_saved(
    slow_platform: SlowConnector,
) -> None:
    state = MemoryState([slow_source("trickles")])
    messages = SlowSink()
    poller = timed_poller(messages, state, source_timeout=0.2)

    health, _ = timed_run(poller)

    assert health == {"trickles": "error"}
    assert messages.keys == {"acme#fake#t1"}
    assert state.state_of("trickles").cursor == {"since": "t1"}


def test_sources_the_runs_time_does_not_cover_are_deferred_not_failed_and_go_first_next_run(
    slow_platform: SlowConnector,
) -> None:
    state = MemoryState([slow_source(name) for name in ("a", "b", "c")])
    messages = MemoryMessages()
    poller = timed_poller(messages, state, concurrency=1)

    # a takes 0.5 s; the run ends while b is under way; c's turn never comes.
    health, deferred = timed_run(poller, time_left=0.75)

    assert health == {"a": "ok", "b": "deferred", "c": "deferred"} and deferred == 2
    assert slow_platform.order == ["a", "b"]
    assert state.state_of("b") == SourceState() and state.state_of("c") == SourceState()  # no error recorded
    assert messages.keys == {"acme#fake#a-1"}

    slow_platform.order.clear()
    health, deferred = timed_run(poller)
    assert slow_platform.order == ["b", "c", "a"]  # polled longest ago (never) first
    assert health == {"a": "ok", "b": "ok", "c": "ok"} and deferred == 0
