"""The sweep: find open messages whose due time has come, alert, flag them overdue.

It also finishes what the stream did not: a message still pending a few minutes
after it was stored (its stream record ran out of retries, or was lost) is
processed here, through the same idempotent path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from replywatch import alerts, sla
from replywatch.models import AlertKind, MessageStatus, SlaPolicy
from replywatch.ports import MessageRepository, StateRepository
from replywatch.processing import Processor

# The stream normally processes a message within seconds; after this, the sweep does it.
PENDING_GRACE = timedelta(minutes=5)

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    flagged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    alerts_failed: int = 0


@dataclass
class Sweeper:
    messages: MessageRepository
    state: StateRepository
    notifier: alerts.Notifier
    default_sla: SlaPolicy
    processor: Processor

    def sweep(self, now: datetime) -> SweepReport:
        """Alert first, then flag: a crash in between means the next sweep retries the
        flag, and the alert claims stop a second alert. A recipient who cannot be
        reached does not stop the flag."""
        report = SweepReport()
        for brand in self.state.list_brands():
            self._recover(brand.brand_id, now, report)
            recipients = None
            for key in self.messages.due_keys(brand.brand_id, now):
                record = self.messages.get(key)
                if (
                    record is None
                    or record.status is not MessageStatus.OPEN
                    or record.first_response_at
                    or record.due_at is None
                    or not sla.is_overdue(record.due_at, now)
                ):
                    continue  # answered or flagged since the index was read
                if recipients is None:
                    recipients = self.state.list_recipients(brand.brand_id)
                try:
                    delivery = alerts.deliver(
                        AlertKind.OVERDUE,
                        record,
                        brand,
                        brand.policy(self.default_sla),
                        recipients,
                        claims=self.state,
                        notifier=self.notifier,
                        now=now,
                    )
                    report.alerts_failed += delivery.failed
                    flagged = self.messages.mark_overdue(record, now=now)
                except Exception as error:  # storage trouble: the next sweep retries; sent alerts stay claimed
                    logger.warning("could not flag overdue", extra={"message_key": key, "error": type(error).__name__})
                    report.failed.append(key)
                    continue
                if flagged:
                    report.flagged.append(key)
        logger.info(
            "sweep done",
            extra={"flagged": len(report.flagged), "failed": len(report.failed), "recovered": len(report.recovered)},
        )
        return report

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
