"""Source health: what a poll's outcome means for a connected account, and when people are told.

Pure: the poller hands in the state before, the outcome and the time; it gets back the state
after and the incidents that are open. Each incident has a start, and the brand's admins hear
about an incident once (``SourceState.notified`` remembers the start they were told about).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from replywatch.models import Health, Source, SourceState, Usage

FAILING_AFTER = timedelta(minutes=30)
SILENT_AFTER = timedelta(days=7)
SILENT_OPTION = "silent_after_hours"  # per source; 0 turns the silence alert off
MAX_SILENT_HOURS = 24 * 366
BUDGET_WARN_AT = 0.8
# A failing source is retried less often the longer it fails (a quarter of its outage), at most
# this far apart: a revoked token is not hammered every minute, and a fixed one is seen soon.
MAX_RETRY_INTERVAL = timedelta(minutes=15)


class Incident(StrEnum):
    RECONNECT = "reconnect"  # the platform refused the credentials
    FAILING = "failing"  # every poll has failed for a while
    SILENT = "silent"  # no customer message for longer than usual
    BUDGET_WARNING = "budget_warning"  # 80% of a metered allowance is spent
    BUDGET_EXHAUSTED = "budget_exhausted"  # polling stopped until the allowance resets


FAILED = frozenset({Health.AUTH_FAILED, Health.ERROR})


def advance(
    before: SourceState,
    *,
    health: Health,
    now: datetime,
    error: str | None,
    inbound: bool,
    resume_after: datetime | None,
    usage: Usage | None,
    cursor: dict[str, str],
    partial: bool = False,
) -> SourceState:
    """The state after one poll; ``partial``: it failed after reading everything else, so it
    is not retried less often."""
    failed = health in FAILED
    # Held back (rate limit, read budget) says nothing of whether the source works: a failure
    # goes on being one, and its alert is not sent again when the next error comes.
    waiting = health in (Health.RATE_LIMITED, Health.BUDGET_EXHAUSTED)
    failing_since = (before.failing_since or now) if failed else before.failing_since if waiting else None
    if failed and not partial and resume_after is None and failing_since is not None:
        resume_after = now + min(MAX_RETRY_INTERVAL, (now - failing_since) / 4)
    return before.model_copy(
        update={
            "cursor": cursor,
            "health": health,
            "resume_after": resume_after,
            "last_polled_at": now,
            "last_error": error,
            "watching_since": before.watching_since or now,
            "last_ok_at": before.last_ok_at if failed or waiting else now,
            "failing_since": failing_since,
            "last_inbound_at": now if inbound else before.last_inbound_at,
            "usage": usage if usage is not None else before.usage,
        }
    )


@dataclass(frozen=True)
class OpenIncident:
    incident: Incident
    since: str  # identifies this occurrence: a time, or a budget period


def open_incidents(
    source: Source, state: SourceState, now: datetime, *, failing_after: timedelta = FAILING_AFTER
) -> list[OpenIncident]:
    found: list[OpenIncident] = []
    if state.health is Health.AUTH_FAILED and state.failing_since is not None:
        found.append(OpenIncident(Incident.RECONNECT, state.failing_since.isoformat()))
    elif state.failing_since is not None and now - state.failing_since >= failing_after:
        found.append(OpenIncident(Incident.FAILING, state.failing_since.isoformat()))
    silent_for = silent_after(source)
    quiet_since = state.last_inbound_at or state.watching_since
    if silent_for is not None and quiet_since is not None and now - quiet_since >= silent_for:
        found.append(OpenIncident(Incident.SILENT, quiet_since.isoformat()))
    usage = state.usage
    if state.health is Health.BUDGET_EXHAUSTED or (usage is not None and usage.limit > 0 and usage.used >= usage.limit):
        # Stopped by our meter, or by the platform's own cap (X's UsageCapExceeded) before it.
        found.append(OpenIncident(Incident.BUDGET_EXHAUSTED, usage.period if usage else _resumes(state)))
    elif usage is not None and usage.limit > 0 and usage.used >= BUDGET_WARN_AT * usage.limit:
        found.append(OpenIncident(Incident.BUDGET_WARNING, usage.period))
    return found


def _resumes(state: SourceState) -> str:
    return state.resume_after.isoformat() if state.resume_after else "unknown"


def silent_after(source: Source) -> timedelta | None:
    raw = source.options.get(SILENT_OPTION)
    if raw is None:
        return SILENT_AFTER
    try:
        hours = float(raw)
    except ValueError:
        return SILENT_AFTER
    if not hours > 0:  # 0 turns it off (and so does nan)
        return None
    return timedelta(hours=min(hours, MAX_SILENT_HOURS))


def to_notify(state: SourceState, incidents: list[OpenIncident]) -> list[OpenIncident]:
    """The open incidents nobody has been told about yet."""
    return [found for found in incidents if state.notified.get(found.incident.value) != found.since]


def remember(state: SourceState, incidents: list[OpenIncident], told: list[OpenIncident]) -> SourceState:
    """Keep what was told for incidents still open; a closed incident may alert again next time."""
    open_now = {found.incident.value: found.since for found in incidents}
    notified = {name: since for name, since in state.notified.items() if open_now.get(name) == since}
    notified.update({found.incident.value: found.since for found in told})
    return state.model_copy(update={"notified": notified})
