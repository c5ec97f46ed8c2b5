"""The sweep, every minute: move unanswered messages up their alert ladder, send storm
summaries and SMS held for quiet hours, and finish what the stream did not.

The ladder of a message (see :mod:`replywatch.sla`): a warning before the due time, the
breach at it (the message becomes overdue), then escalation levels. The ``alerts`` index
holds each unanswered message under the time of its next stage, so a sweep reads only what
is due. Alert first, then advance: a crash in between means the next sweep sends again,
and the per-recipient claims make that a no-op. Two sweeps racing both try; one advances.

It also finishes what the stream did not: a message still pending a few minutes after it
was stored (its stream record ran out of retries, or was lost) is processed here, through
the same idempotent path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from replywatch import alerts, sla
from replywatch.models import AlertKind, Brand, MessageRecord, MessageStatus, Priority, Recipient, SlaPolicy, Wait
from replywatch.ports import HeldSms, MessageRepository, StateRepository
from replywatch.processing import Processor

# The stream normally processes a message within seconds; after this, the sweep does it.
PENDING_GRACE = timedelta(minutes=5)
# Stages due this soon after a scheduled sweep are waited for, not left to the next run: with
# runs a minute apart, nothing is flagged more than a minute late as long as a sweep takes less.
LOOKAHEAD = timedelta(seconds=10)

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    flagged: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    summaries: int = 0
    held_sent: int = 0
    alerts_failed: int = 0

    def add(self, other: SweepReport) -> None:
        """Fold a follow-up sweep of the same invocation into this report."""
        for name in ("flagged", "warned", "escalated", "failed", "recovered"):
            getattr(self, name).extend(getattr(other, name))
        self.summaries += other.summaries
        self.held_sent += other.held_sent
        self.alerts_failed += other.alerts_failed


def alerts_to_send(due: list[int]) -> list[int]:
    """Of the stages that have come due since the last sweep (ascending), the ones worth
    sending: a warning only if its breach has not come too; the breach always; of several
    escalation levels only the highest."""
    if not due:
        return []
    if due[-1] == sla.Stage.WARNING:
        return [int(sla.Stage.WARNING)]
    chosen: list[int] = [sla.Stage.BREACH] if sla.Stage.BREACH in due else []
    if due[-1] > sla.Stage.BREACH:
        chosen.append(due[-1])
    return chosen


def kind_of(stage: int) -> tuple[AlertKind, int]:
    """The alert a ladder stage sends, and its escalation level (0 for the warning and the breach)."""
    return sla.alert_kind(stage), sla.escalation_level(stage)


def message_plan(record: MessageRecord, brand: Brand, policy: SlaPolicy) -> sla.Schedule:
    """The message's ladder: the target it was given when counted (a later change of the
    target does not move it), today's business hours and holidays, warning and escalation
    settings. Until the breach has passed, the sweep stores the due time it gives."""
    if record.target_seconds is not None:
        policy = policy.model_copy(
            update={"first_response_seconds": record.target_seconds, "next_response_seconds": None, "overrides": ()}
        )
    return sla.schedule(
        record.created_at,
        policy,
        timezone=brand.timezone,
        channel=record.platform,
        priority=record.priority or Priority.NORMAL,
        wait=record.wait or Wait.FIRST,
    )


@dataclass
class Sweeper:
    messages: MessageRepository
    state: StateRepository
    notifier: alerts.Notifier
    default_sla: SlaPolicy
    processor: Processor

    def sweep(self, now: datetime) -> SweepReport:
        report = SweepReport()
        for brand in self.state.list_brands():
            self._recover(brand.brand_id, now, report)
            # A paused brand's messages still climb their ladder (its statistics stay right),
            # but nobody is alerted.
            recipients = self.state.list_recipients(brand.brand_id) if brand.enabled else []
            policy = brand.policy(self.default_sla)
            for key in self.messages.alert_keys(brand.brand_id, now):
                try:
                    self._climb(key, brand, policy, recipients, now, report)
                except Exception as error:  # storage trouble: the next sweep retries; sent alerts stay claimed
                    logger.warning("could not alert", extra={"message_key": key, "error": type(error).__name__})
                    report.failed.append(key)
            self._summarise(brand, recipients, now, report)
            self._release_held(brand, recipients, now, report)
        logger.info(
            "sweep done",
            extra={
                "flagged": len(report.flagged),
                "warned": len(report.warned),
                "escalated": len(report.escalated),
                "summaries": report.summaries,
                "failed": len(report.failed),
                "recovered": len(report.recovered),
            },
        )
        return report

    def next_due(self, after: datetime, until: datetime) -> datetime | None:
        """The earliest alert stage of any brand coming due in (after, until]: the sweep handler
        waits for it rather than leave it to the next scheduled run a minute later."""
        found = [
            at
            for brand in self.state.list_brands()
            if (at := self.messages.next_alert_at(brand.brand_id, after, until)) is not None
        ]
        return min(found) if found else None

    def _climb(
        self,
        key: str,
        brand: Brand,
        policy: SlaPolicy,
        recipients: list[Recipient],
        now: datetime,
        report: SweepReport,
    ) -> None:
        record = self.messages.get(key)
        if (
            record is None
            or record.status not in (MessageStatus.OPEN, MessageStatus.OVERDUE)
            or record.first_response_at is not None
            or record.alert_stage is None
            or record.alert_at is None
            or record.alert_at > now
        ):
            return  # answered or moved on since the index was read
        current = record.alert_stage
        plan = message_plan(record, brand, policy)
        # Until its breach has passed, the due time follows the brand's business hours and
        # holidays as they are now, and is stored so, so "overdue" and "within SLA" agree.
        due_at = plan.due_at if current <= sla.Stage.BREACH and plan.due_at != record.due_at else None
        if due_at is not None:
            record = record.model_copy(update={"due_at": due_at})
        due = [stage for stage, at in plan.stages if stage >= current and at <= now]
        last = due[-1] if due else current - 1
        following = sla.next_stage(plan, last)
        for stage in alerts_to_send(due):
            kind, level = kind_of(stage)
            delivery = alerts.deliver(
                kind,
                record,
                brand,
                policy,
                recipients,
                claims=self.state,
                notifier=self.notifier,
                now=now,
                level=level,
                storm=self.state,
            )
            report.alerts_failed += delivery.failed
        passed_breach = bool(due) and due[-1] >= sla.Stage.BREACH
        moved = self.messages.advance_alert(
            record, after=current, following=following, overdue=passed_breach, now=now, due_at=due_at
        )
        if not moved:
            return
        if passed_breach and record.status is MessageStatus.OPEN:
            report.flagged.append(key)
        elif due and due[-1] == sla.Stage.WARNING:
            report.warned.append(key)
        elif due and due[-1] > sla.Stage.BREACH:
            report.escalated.append(key)

    def _summarise(self, brand: Brand, recipients: list[Recipient], now: datetime, report: SweepReport) -> None:
        """Storm control: one summary for each window that held alerts back, once it has ended."""
        for window in self.state.storm_windows(brand.brand_id, ended_by=now):
            try:
                delivery = alerts.send_summary(
                    window, brand, recipients, claims=self.state, notifier=self.notifier, now=now
                )
                report.alerts_failed += delivery.failed
                if delivery.failed == 0 and self.state.close_storm_window(window):
                    report.summaries += 1
            except Exception as error:  # tried again next sweep; sent copies stay claimed
                logger.warning("could not send a storm summary", extra={"error": type(error).__name__})

    def _release_held(self, brand: Brand, recipients: list[Recipient], now: datetime, report: SweepReport) -> None:
        def still_wanted(held: HeldSms) -> bool:
            if held.subject_key.startswith(("SOURCE#", "STORM#")):
                return True
            record = self.messages.get(held.subject_key)
            return record is not None and record.first_response_at is None

        def text_now(held: HeldSms) -> str | None:
            found = alerts.held_alert(held.slot)
            record = None if held.subject_key.startswith(("SOURCE#", "STORM#")) else self.messages.get(held.subject_key)
            if found is None or record is None:
                return None
            kind, level = found
            return alerts.render(kind, record, brand, brand.policy(self.default_sla), now, level=level).sms

        try:
            delivery = alerts.release_held(
                self.state,
                self.notifier,
                recipients,
                brand.brand_id,
                now,
                still_wanted=still_wanted,
                text_now=text_now,
            )
        except Exception as error:  # tried again next sweep
            logger.warning("could not release held SMS", extra={"error": type(error).__name__})
            return
        report.held_sent += delivery.sent
        report.alerts_failed += delivery.failed

    def _recover(self, brand_id: str, now: datetime, report: SweepReport) -> None:
        for key in self.messages.pending_keys(brand_id, now - PENDING_GRACE):
            record = self.messages.get(key)
            if record is None:
                continue
            try:
                self.processor.on_new_message(record, now, final=True)
            except Exception as error:  # tried again next sweep
                logger.warning("could not recover message", extra={"message_key": key, "error": type(error).__name__})
                report.failed.append(key)
                continue
            logger.info("recovered a message the stream did not process", extra={"message_key": key})
            report.recovered.append(key)
