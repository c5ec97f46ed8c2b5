"""What the demo scenario must produce, computed from its definition alone (no product code)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from infra.local import scenario


@dataclass(frozen=True)
class Expected:
    received: int
    responded: int
    response_seconds: list[int]
    within_sla: int
    negative: int
    open: int
    overdue: int
    oldest_open_at: datetime
    # (recipient id, channel, kind, author) for every alert that must be sent, once each
    alerts: frozenset[tuple[str, str, str, str]]

    @property
    def mean(self) -> float:
        return sum(self.response_seconds) / len(self.response_seconds)

    def nearest_rank(self, q: float) -> int:
        ordered = sorted(self.response_seconds)
        return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def expected(now: datetime, swept_at: datetime) -> Expected:
    """``now``: the scenario's reference instant; ``swept_at``: when the sweep ran."""
    mentions = scenario.MENTIONS
    answered = [m for m in mentions if m.reply_after is not None]
    unanswered = [m for m in mentions if m.reply_after is None]
    overdue = [m for m in unanswered if scenario.posted_at(m, now) + scenario.SLA <= swept_at]
    alerts = set()
    for recipient_id, _name, email, phone, kinds in scenario.RECIPIENTS:
        channels = [c for c, present in (("email", email), ("sms", phone)) if present]
        for kind, group in (("negative", [m for m in mentions if m.negative]), ("overdue", overdue)):
            if kind in kinds:
                alerts.update((recipient_id, channel, kind, m.author) for m in group for channel in channels)
    return Expected(
        received=len(mentions),
        responded=len(answered),
        response_seconds=[int(m.reply_after.total_seconds()) for m in answered if m.reply_after],
        within_sla=sum(1 for m in answered if m.reply_after and m.reply_after <= scenario.SLA),
        negative=sum(1 for m in mentions if m.negative),
        open=len(unanswered),
        overdue=len(overdue),
        oldest_open_at=min(scenario.posted_at(m, now) for m in unanswered),
        alerts=frozenset(alerts),
    )


def alert_keys(emails: list[tuple[str, str]], sms: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(recipient id, channel, kind, author) of each sent alert, from (to, subject) and (phone, text)."""
    by_email = {email: rid for rid, _n, email, _p, _k in scenario.RECIPIENTS if email}
    by_phone = {phone: rid for rid, _n, _e, phone, _k in scenario.RECIPIENTS if phone}

    def kind(text: str) -> str:
        return "overdue" if "past the sla" in text.lower() else "negative"

    found = [(by_email[to], "email", kind(subject), subject.rsplit("@", 1)[1]) for to, subject in emails]
    found += [(by_phone[phone], "sms", kind(text), text.split(" @", 1)[1].split(",", 1)[0]) for phone, text in sms]
    return found


def assert_stats_match(stats: dict, want: Expected) -> None:
    """The stats API's answer against the scenario: exact, but for sketch percentiles (1%)."""
    assert stats["received"] == want.received
    assert stats["responded"] == want.responded
    assert stats["response_rate"] == round(want.responded / want.received, 4)
    assert stats["first_response_mean_seconds"] == round(want.mean, 2)
    assert stats["within_sla_percent"] == round(100 * want.within_sla / want.received, 2)
    assert stats["negative"] == want.negative
    assert stats["backlog"]["open"] == want.open
    assert stats["backlog"]["overdue"] == want.overdue
    as_of = datetime.fromisoformat(stats["as_of"])
    assert stats["backlog"]["oldest_open_age_seconds"] == int((as_of - want.oldest_open_at).total_seconds())
    for name, q in (
        ("first_response_p50_seconds", 0.5),
        ("first_response_p90_seconds", 0.9),
        ("first_response_p99_seconds", 0.99),
    ):
        exact = want.nearest_rank(q)
        assert abs(stats[name] - exact) <= 0.01 * exact + 0.05, (name, stats[name], exact)
