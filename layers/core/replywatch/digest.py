"""The daily digest: one email per brand with yesterday's figures against the seven days before.

The figures come from the pre-aggregated slot items, read as the API reads a range: the
days are the brand's local days (its IANA zone), each exact, from the whole UTC days and the
few hours and quarters between each local midnight and the nearer UTC one, whatever the
volume. "Yesterday" is the local day before the one in which the brand's digest hour comes.
Each recipient gets it once a day (a claim per day and recipient), however often the
function runs.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from replywatch import alerts
from replywatch.alerts import AlertContent, Delivery
from replywatch.models import AlertKind, Brand, Recipient
from replywatch.ports import AlertLedger
from replywatch.stats import Aggregate, Backlog, StatsResponse, local_cuts, read_periods, summarise

logger = logging.getLogger(__name__)

WEEK = 7


class StatsReader(Protocol):
    def aggregates(self, brand: str, start: datetime, end: datetime) -> list[Aggregate]: ...

    def backlog(self, brand: str) -> Backlog: ...


class DigestState(AlertLedger, Protocol):
    def list_brands(self) -> list[Brand]: ...

    def list_recipients(self, brand_id: str) -> list[Recipient]: ...


@dataclass(frozen=True)
class Digest:
    brand: Brand
    day: date
    yesterday: StatsResponse
    week: StatsResponse  # the seven days before ``day``


def digest_day(brand: Brand, now: datetime) -> date | None:
    """The day to report if the brand's digest hour has come today (local time), else None."""
    local = now.astimezone(ZoneInfo(brand.timezone))
    if local.hour < brand.digest_hour:
        return None
    return local.date() - timedelta(days=1)


def build(
    brand: Brand, day: date, yesterday: list[Aggregate], week: list[Aggregate], backlog: Backlog, as_of: datetime
) -> Digest:
    """``yesterday``: the aggregates of ``day``; ``week``: of the seven local days before it."""
    tz = brand.timezone
    return Digest(
        brand=brand,
        day=day,
        yesterday=summarise(brand.brand_id, day, day, yesterday, backlog, as_of, tz=tz),
        week=summarise(
            brand.brand_id, day - timedelta(days=WEEK), day - timedelta(days=1), week, backlog, as_of, tz=tz
        ),
    )


def _seconds(value: float | None) -> str:
    return "–" if value is None else alerts.duration(value)


def _percent(value: float | None, scale: float = 1.0) -> str:
    return "–" if value is None else f"{value * scale:.0f}%"


def _change(now: float | None, before: float | None, *, lower_is_better: bool) -> str:
    if now is None or before is None or before == 0:
        return ""
    delta = (now - before) / before
    if abs(delta) < 0.005:
        return "same"
    better = (delta < 0) == lower_is_better
    return f"{delta:+.0%} ({'better' if better else 'worse'})"


def rows(digest: Digest) -> list[tuple[str, str, str, str]]:
    """(figure, yesterday, the week before, change) for the table."""
    y, w = digest.yesterday, digest.week
    per_day = w.received / WEEK
    answered_per_day = w.responded / WEEK
    negative_per_day = w.negative / WEEK
    return [
        (
            "New conversations",
            str(y.received),
            f"{per_day:.1f} a day",
            _change(y.received, per_day, lower_is_better=False),
        ),
        (
            "Answered",
            str(y.responded),
            f"{answered_per_day:.1f} a day",
            _change(y.responded, answered_per_day, lower_is_better=False),
        ),
        (
            "Response rate",
            _percent(y.response_rate, 100),
            _percent(w.response_rate, 100),
            _change(y.response_rate, w.response_rate, lower_is_better=False),
        ),
        (
            "Median first response",
            _seconds(y.first_response_p50_seconds),
            _seconds(w.first_response_p50_seconds),
            _change(y.first_response_p50_seconds, w.first_response_p50_seconds, lower_is_better=True),
        ),
        (
            "90th percentile",
            _seconds(y.first_response_p90_seconds),
            _seconds(w.first_response_p90_seconds),
            _change(y.first_response_p90_seconds, w.first_response_p90_seconds, lower_is_better=True),
        ),
        (
            "Within SLA",
            _percent(y.within_sla_percent),
            _percent(w.within_sla_percent),
            _change(y.within_sla_percent, w.within_sla_percent, lower_is_better=False),
        ),
        (
            "Negative messages",
            str(y.negative),
            f"{negative_per_day:.1f} a day",
            _change(y.negative, negative_per_day, lower_is_better=True),
        ),
    ]


def render(digest: Digest) -> AlertContent:
    brand = digest.brand
    title = f"{brand.name}: {digest.day:%a %d %b} ({brand.timezone}) against the 7 days before"
    table = rows(digest)
    now = digest.yesterday.backlog
    backlog = f"Unanswered now: {now.open} ({now.overdue} past the SLA)"
    oldest = now.oldest_open_age_seconds
    if oldest is not None:
        backlog += f", the oldest waiting {alerts.duration(oldest)}"
    text = "\n".join(
        [
            title,
            "",
            *(f"{name}: {today} (before: {before}) {change}".rstrip() for name, today, before, change in table),
            "",
            backlog,
            "",
            "-- ReplyWatch",
        ]
    )
    header = "<tr><th align='left'></th><th>Yesterday</th><th>7 days before</th><th>Change</th></tr>"
    body_rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in table)
    body = (
        "<!doctype html><html><head><meta charset='utf-8'></head><body>"
        f"<h2>{html.escape(title)}</h2><table>{header}{body_rows}</table>"
        f"<p>{html.escape(backlog)}</p><p style='color:#666'>ReplyWatch daily digest</p></body></html>"
    )
    return AlertContent(
        subject=f"[ReplyWatch] {brand.name} daily digest, {digest.day:%d %b}", text=text, html=body, sms=""
    )


@dataclass
class DigestReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class DigestSender:
    stats: StatsReader
    state: DigestState
    notifier: alerts.Notifier

    def run(self, now: datetime) -> DigestReport:
        report = DigestReport()
        for brand in self.state.list_brands():
            if not brand.enabled:
                continue
            day = digest_day(brand, now)
            if day is None:
                continue
            recipients = [r for r in self.state.list_recipients(brand.brand_id) if r.wants(AlertKind.DIGEST)]
            if not recipients:
                continue
            try:
                delivery = self._send(brand, day, recipients, now)
            except Exception as error:  # the next run tries again; who got it is claimed
                logger.warning("digest not sent", extra={"brand_id": brand.brand_id, "error": type(error).__name__})
                report.failed.append(brand.brand_id)
                continue
            if delivery.sent:
                report.sent.append(brand.brand_id)
            if delivery.failed:
                report.failed.append(brand.brand_id)
        return report

    def _send(self, brand: Brand, day: date, recipients: list[Recipient], now: datetime) -> Delivery:
        days = [day - timedelta(days=WEEK - n) for n in range(WEEK + 1)]  # the week before, then yesterday
        periods = read_periods(
            local_cuts(days, day, ZoneInfo(brand.timezone)),
            lambda start, end: self.stats.aggregates(brand.brand_id, start, end),
        )
        week = [aggregate for period in periods[:WEEK] for aggregate in period]
        digest = build(brand, day, periods[WEEK], week, self.stats.backlog(brand.brand_id), now)
        return alerts.fan_out(
            AlertKind.DIGEST,
            f"DIGEST#{brand.brand_id}",
            f"digest#{day.isoformat()}",
            render(digest),
            recipients,
            claims=self.state,
            notifier=self.notifier,
            now=now,
            timezone=brand.timezone,
        )
