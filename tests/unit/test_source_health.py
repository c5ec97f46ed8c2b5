"""Source health through the poller: one alert per incident to the brand's admins, budgets, host limits."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import httpx
import pytest

from replywatch.alerts import AlertContent
from replywatch.connectors import REGISTRY, AuthFailed, ConnectorError, Page, PollContext
from replywatch.connectors.base import BudgetExhausted, BudgetRule, Meter, PartlyFailed, daily_pacific, monthly_utc
from replywatch.health import Incident, open_incidents
from replywatch.models import Health, Message, MessageKind, Recipient, Source, SourceState, Usage
from replywatch.polling import Poller
from tests.support.memory import MemoryMessages, MemoryState, StaticSecrets

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Behaviour:
    """What the fake platform does on each poll, per source id."""

    outcome: dict[str, str] = field(default_factory=dict)  # ok | auth | error | silent | capped | partly
    reads: int = 30  # metered posts each poll reads


BEHAVIOUR = Behaviour()


class FakeConnector:
    platform: ClassVar[str] = "metered"
    default_base_url: ClassVar[str] = "https://metered.example"
    budget: ClassVar[BudgetRule | None] = BudgetRule(
        unit="posts read", option="monthly_read_budget", default_limit=100, period=monthly_utc
    )

    async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
        outcome = BEHAVIOUR.outcome.get(ctx.source.source_id, "ok")
        if outcome == "auth":
            raise AuthFailed("HTTP 401")
        if outcome == "error":
            raise ConnectorError("HTTP 503")
        if outcome == "capped":  # the platform's own cap, before our meter's
            raise BudgetExhausted(datetime(2026, 12, 1, tzinfo=UTC))
        assert ctx.meter is not None
        ctx.meter.require(1)
        spent = min(BEHAVIOUR.reads, ctx.meter.remaining)
        ctx.meter.spend(spent)
        messages = [] if outcome == "silent" else [message(ctx, f"{ctx.now:%H%M%S}")]
        yield Page(messages=messages, cursor={"since": f"{ctx.now:%H%M%S}"})
        if outcome == "partly":  # a stream the brand named is refused; the rest was read
            raise PartlyFailed("one stream refused")


def message(ctx: PollContext, platform_id: str) -> Message:
    return Message(
        brand=ctx.source.brand_id,
        platform="metered",
        source_id=ctx.source.source_id,
        platform_id=platform_id,
        author_id="a1",
        author_handle="@a",
        text="hello",
        created_at=ctx.now - timedelta(minutes=1),
        kind=MessageKind.MENTION,
    )


RECIPIENTS = [
    Recipient(
        brand_id="acme",
        recipient_id="admin",
        name="Admin",
        email="admin@acme.example",
        alert_kinds=frozenset({"source"}),
    ),
    Recipient(brand_id="acme", recipient_id="agent", name="Agent", email="agent@acme.example"),
]


class Outbox:
    def __init__(self) -> None:
        self.emails: list[tuple[str, AlertContent]] = []

    def send_email(self, to: str, content: AlertContent) -> None:
        self.emails.append((to, content))

    def send_sms(self, phone: str, text: str) -> None:
        raise AssertionError("no phone numbers in this test")


@pytest.fixture(autouse=True)
def fake_platform() -> Iterator[None]:
    REGISTRY["metered"] = FakeConnector()
    BEHAVIOUR.outcome.clear()
    BEHAVIOUR.reads = 30
    yield
    del REGISTRY["metered"]


def source(source_id: str, host: str = "metered.example", **options: str) -> Source:
    return Source(
        brand_id="acme",
        source_id=source_id,
        platform="metered",
        base_url=f"https://{host}",
        token_secret=f"replywatch/acme/{source_id}",
        options=options,
    )


def poll(poller: Poller, at: datetime) -> dict[str, str]:
    async def go() -> dict[str, str]:
        async with httpx.AsyncClient() as client:
            report = await poller.poll_all(client, at)
        return {item.source_id: item.health for item in report.sources}

    return asyncio.run(go())


def setup(*sources: Source) -> tuple[Poller, MemoryState, Outbox]:
    state, outbox = MemoryState(list(sources), RECIPIENTS), Outbox()
    poller = Poller(
        messages=MemoryMessages(),
        state=state,
        secrets=StaticSecrets("t"),  # type: ignore[arg-type]
        retention=timedelta(days=30),
        notifier=outbox,
    )
    return poller, state, outbox


def subjects(outbox: Outbox) -> list[tuple[str, str]]:
    return [(to, content.subject) for to, content in outbox.emails]


def test_an_auth_failure_alerts_the_admins_once_and_again_only_after_recovery() -> None:
    poller, state, outbox = setup(source("acme-x"))
    BEHAVIOUR.outcome["acme-x"] = "auth"
    for minute in range(5):
        assert poll(poller, NOW + timedelta(minutes=minute)) == {"acme-x": "auth_failed"}
    assert subjects(outbox) == [("admin@acme.example", "[ReplyWatch] Acme: metered source acme-x needs reconnecting")]
    assert state.state_of("acme-x").failing_since == NOW

    BEHAVIOUR.outcome["acme-x"] = "ok"
    poll(poller, NOW + timedelta(minutes=10))
    assert state.state_of("acme-x").failing_since is None and state.state_of("acme-x").notified == {}
    BEHAVIOUR.outcome["acme-x"] = "auth"
    poll(poller, NOW + timedelta(minutes=11))
    assert len(outbox.emails) == 2, "a new incident is a new alert"


def test_a_failing_source_alerts_once_after_the_threshold() -> None:
    poller, state, outbox = setup(source("acme-x"))
    BEHAVIOUR.outcome["acme-x"] = "error"
    for minute in range(0, 29):
        poll(poller, NOW + timedelta(minutes=minute))
    assert outbox.emails == [], "a short outage is not worth waking anyone"
    for minute in range(30, 40):
        poll(poller, NOW + timedelta(minutes=minute))
    assert subjects(outbox) == [("admin@acme.example", "[ReplyWatch] Acme: metered source acme-x is failing")]
    assert state.state_of("acme-x").last_error == "ConnectorError"


def test_a_silent_source_alerts_once_and_the_threshold_is_per_source() -> None:
    poller, state, outbox = setup(source("quiet", silent_after_hours="2"), source("never", silent_after_hours="0"))
    BEHAVIOUR.outcome.update(quiet="silent", never="silent")
    BEHAVIOUR.reads = 0
    for hour in range(5):
        poll(poller, NOW + timedelta(hours=hour))
    assert subjects(outbox) == [("admin@acme.example", "[ReplyWatch] Acme: metered source quiet has gone quiet")]
    assert state.state_of("quiet").last_inbound_at is None and state.state_of("quiet").watching_since == NOW


def test_a_metered_source_warns_at_80_percent_and_stops_at_the_cap_until_the_period_resets() -> None:
    poller, state, outbox = setup(source("acme-x"))  # 100 posts a month, 30 read each poll
    for minute in range(3):
        poll(poller, NOW + timedelta(minutes=minute))
    assert state.state_of("acme-x").usage == Usage(period="2026-11", used=90, limit=100)
    assert subjects(outbox) == [
        ("admin@acme.example", "[ReplyWatch] Acme: metered source acme-x has used most of its budget")
    ]
    assert poll(poller, NOW + timedelta(minutes=3)) == {"acme-x": "ok"}  # reads the last 10
    assert poll(poller, NOW + timedelta(minutes=4)) == {"acme-x": "budget_exhausted"}
    spent = state.state_of("acme-x")
    assert spent.usage is not None and spent.usage.used == 100
    assert spent.resume_after == datetime(2026, 12, 1, tzinfo=UTC)
    assert poll(poller, NOW + timedelta(days=2)) == {}, "not polled again before the month ends"
    assert [subject for _, subject in subjects(outbox)][-1].endswith("has run out of budget")
    assert poll(poller, datetime(2026, 12, 1, 0, 1, tzinfo=UTC)) == {"acme-x": "ok"}
    assert state.state_of("acme-x").usage == Usage(period="2026-12", used=30, limit=100)


def test_the_budget_limit_is_a_source_option() -> None:
    rule = FakeConnector.budget
    assert rule is not None
    meter = Meter.start(rule, source("a", monthly_read_budget="5000"), Usage(period="2026-11", used=7, limit=100), NOW)
    assert (meter.limit, meter.used, meter.remaining) == (5000, 7, 4993)
    assert Meter.start(rule, source("a"), Usage(period="2026-10", used=99, limit=100), NOW).used == 0


def test_youtube_style_days_end_at_pacific_midnight_or_later() -> None:
    assert daily_pacific(datetime(2026, 11, 23, 7, 59, tzinfo=UTC)) == (
        "2026-11-22",
        datetime(2026, 11, 23, 8, tzinfo=UTC),
    )
    assert daily_pacific(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))[0] == "2026-11-23"
    assert monthly_utc(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == ("2026-12", datetime(2027, 1, 1, tzinfo=UTC))


def test_incidents_are_derived_from_state_alone() -> None:
    failing = SourceState(health=Health.ERROR, failing_since=NOW - timedelta(minutes=31), watching_since=NOW)
    assert [found.incident for found in open_incidents(source("a"), failing, NOW)] == [Incident.FAILING]
    assert open_incidents(source("a"), failing, NOW - timedelta(minutes=2)) == []


def test_no_more_than_per_host_sources_are_polled_at_once_against_one_host() -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}

    class Slow(FakeConnector):
        async def pages(self, ctx: PollContext) -> AsyncIterator[Page]:
            host = ctx.source.base_url
            active[host] = active.get(host, 0) + 1
            peak[host] = max(peak.get(host, 0), active[host])
            await asyncio.sleep(0.01)
            active[host] -= 1
            yield Page(messages=[], cursor={})

    REGISTRY["metered"] = Slow()
    sources = [source(f"a{i}", "one.example") for i in range(12)] + [source(f"b{i}", "two.example") for i in range(12)]
    poller, _, _ = setup(*sources)
    poller.per_host, poller.concurrency = 3, 10
    assert len(poll(poller, NOW)) == 24
    assert peak == {"https://one.example": 3, "https://two.example": 3}


def test_a_failing_source_is_retried_less_often_the_longer_it_fails() -> None:
    poller, state, _ = setup(source("acme-x"))
    BEHAVIOUR.outcome["acme-x"] = "auth"
    polled = [minute for minute in range(0, 120) if poll(poller, NOW + timedelta(minutes=minute))]
    gaps = [later - earlier for earlier, later in itertools.pairwise(polled)]
    assert gaps[:3] == [1, 1, 1], "a passing failure is retried at once"
    assert max(gaps) == 15 and gaps == sorted(gaps), "then further apart, never more than 15 minutes"
    BEHAVIOUR.outcome["acme-x"] = "ok"
    resume = state.state_of("acme-x").resume_after
    assert resume is not None
    assert poll(poller, resume) == {"acme-x": "ok"}
    assert state.state_of("acme-x").resume_after is None


def test_a_source_failing_in_part_is_polled_every_run_and_its_admins_are_told_once() -> None:
    poller, state, outbox = setup(source("acme-x", monthly_read_budget="100000"))
    BEHAVIOUR.outcome["acme-x"] = "partly"
    polled = [minute for minute in range(0, 60) if poll(poller, NOW + timedelta(minutes=minute))]
    assert polled == list(range(60)), "what it does read is read every minute, not backed off"
    after = state.state_of("acme-x")
    assert after.health is Health.ERROR and after.last_error == "PartlyFailed"
    assert after.failing_since == NOW and after.resume_after is None
    assert len(poller.messages.keys) == 60  # type: ignore[attr-defined]
    assert [to for to, _ in subjects(outbox)] == ["admin@acme.example"], "one failing alert, to the admin"


def test_the_platforms_own_cap_alerts_that_polling_stopped_even_below_our_budget() -> None:
    poller, state, outbox = setup(source("acme-x"))
    BEHAVIOUR.outcome["acme-x"] = "capped"
    assert poll(poller, NOW) == {"acme-x": "budget_exhausted"}
    assert [subject for _, subject in subjects(outbox)] == [
        "[ReplyWatch] Acme: metered source acme-x has run out of budget"
    ]
    assert state.state_of("acme-x").resume_after == datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("hours", ["inf", "1e12", "nan", "-3", "soon"])
def test_odd_silence_thresholds_neither_crash_nor_alert_at_once(hours: str) -> None:
    poller, _, outbox = setup(source("acme-x", silent_after_hours=hours))
    BEHAVIOUR.outcome["acme-x"] = "silent"
    BEHAVIOUR.reads = 0
    assert poll(poller, NOW) == {"acme-x": "ok"}
    assert poll(poller, NOW + timedelta(hours=1)) == {"acme-x": "ok"}
    assert outbox.emails == []


def test_a_source_whose_alerts_cannot_be_sent_still_saves_its_state_and_others_are_polled() -> None:
    poller, state, _ = setup(source("broken"), source("fine"))
    BEHAVIOUR.outcome.update(broken="auth")

    def unreachable(brand_id: str) -> None:
        raise ConnectionError("state table unreachable")

    state.get_brand = unreachable  # type: ignore[method-assign]
    assert poll(poller, NOW) == {"broken": "auth_failed", "fine": "ok"}
    assert state.state_of("broken").failing_since == NOW, "the health is kept; the alert waits for the next poll"


def test_one_source_that_cannot_be_recorded_does_not_stop_the_others() -> None:
    poller, state, _ = setup(source("unsaved"), source("fine"))
    save = state.save_source_state

    def fails_for_one(changed: Source, new_state: SourceState) -> None:
        if changed.source_id == "unsaved":
            raise ConnectionError("throttled")
        save(changed, new_state)

    state.save_source_state = fails_for_one  # type: ignore[method-assign]
    assert poll(poller, NOW) == {"unsaved": "error", "fine": "ok"}
    assert state.state_of("fine").last_ok_at == NOW


def test_a_rate_limit_between_errors_does_not_end_the_failure() -> None:
    from replywatch.health import advance
    from replywatch.models import Health, SourceState

    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    ok = SourceState(last_ok_at=start - timedelta(hours=1))
    state = advance(
        ok, health=Health.ERROR, now=start, error="x", inbound=False, resume_after=None, usage=None, cursor={}
    )
    later = start + timedelta(minutes=25)
    limited = advance(
        state,
        health=Health.RATE_LIMITED,
        now=later,
        error=None,
        inbound=False,
        resume_after=later,
        usage=None,
        cursor={},
    )
    assert limited.failing_since == start and limited.last_ok_at == start - timedelta(hours=1)
    again = advance(
        limited,
        health=Health.ERROR,
        now=later + timedelta(minutes=20),
        error="x",
        inbound=False,
        resume_after=None,
        usage=None,
        cursor={},
    )
    assert again.failing_since == start, "one failure since 12:00, so one alert"
    fine = advance(
        again,
        health=Health.OK,
        now=later + timedelta(hours=1),
        error=None,
        inbound=False,
        resume_after=None,
        usage=None,
        cursor={},
    )
    assert fine.failing_since is None and fine.last_ok_at == later + timedelta(hours=1)
