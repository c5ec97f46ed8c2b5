"""What happens when a message is first stored (driven by the table's stream)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from replywatch import alerts, sla
from replywatch.classify import Classifier
from replywatch.models import AlertKind, Brand, MessageRecord, MessageStatus, Sentiment, SlaPolicy
from replywatch.ports import Conflict, MessageRepository, StateRepository

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass
class Processor:
    messages: MessageRepository
    state: StateRepository
    classifier: Classifier
    notifier: alerts.Notifier
    default_sla: SlaPolicy

    def on_new_message(self, record: MessageRecord, now: datetime) -> None:
        """Idempotent: running it twice for the same record changes nothing the second time."""
        brand = self.state.get_brand(record.brand)
        if brand is None:
            logger.warning("message for an unknown brand", extra={"message_key": record.key})
            self.messages.settle(record.key)
            return
        if record.from_brand:
            if record.parent_key:
                self.match_reply(brand, record.parent_key, record.key, record.created_at)
            self.messages.settle(record.key)  # a customer message is settled when it is counted
            return
        classification = self.classifier.classify(record.text)
        due_at = sla.first_response_due(record.created_at, brand.policy(self.default_sla))
        counted = self.messages.count_inbound(record, due_at=due_at, classification=classification)
        logger.info(
            "inbound message",
            extra={"message_key": record.key, "counted": counted, "sentiment": classification.sentiment.value},
        )
        replies = self.messages.replies_to(record.key)
        if replies:
            reply_key, replied_at = replies[0]
            self.match_reply(brand, record.key, reply_key, replied_at)
        if classification.sentiment is Sentiment.NEGATIVE:
            # Not only when just counted: a redelivery after a crash mid-send sends what is unsent.
            classified = record.model_copy(
                update={
                    "sentiment": classification.sentiment,
                    "sentiment_score": classification.score,
                    "due_at": due_at,
                }
            )
            alerts.deliver(
                AlertKind.NEGATIVE,
                classified,
                brand,
                brand.policy(self.default_sla),
                self.state.list_recipients(brand.brand_id),
                claims=self.state,
                notifier=self.notifier,
                now=now,
            )

    def on_removed(self, record: MessageRecord, now: datetime) -> None:
        """A stored message expired (TTL) or was deleted: if it was waiting, it waits no more."""
        if record.counted and record.status in (MessageStatus.OPEN, MessageStatus.OVERDUE):
            forgotten = self.messages.forget(record, now=now)
            logger.info("message removed from the backlog", extra={"message_key": record.key, "first": forgotten})

    def match_reply(self, brand: Brand, parent_key: str, reply_key: str, replied_at: datetime) -> None:
        """Record the brand's reply as the parent's first response if it is the earliest."""
        policy = brand.policy(self.default_sla)
        for _ in range(MAX_ATTEMPTS):
            parent = self.messages.get(parent_key)
            if parent is None or parent.from_brand or parent.brand != brand.brand_id:
                # The parent is not stored yet (its own processing will find this reply),
                # or the brand replied to itself.
                return
            if parent.first_response_at is not None and parent.first_response_at <= replied_at:
                return
            previous = parent.first_response_at
            # The due time fixed when it was counted, so a later SLA change cannot skew the sums.
            due_at = parent.due_at or sla.first_response_due(parent.created_at, policy)
            try:
                self.messages.record_first_response(
                    parent,
                    reply_key=reply_key,
                    replied_at=replied_at,
                    seconds=sla.response_seconds(parent.created_at, replied_at),
                    within_sla=replied_at <= due_at,
                    previous_within_sla=previous is not None and previous <= due_at,
                )
            except Conflict:
                continue
            logger.info("first response recorded", extra={"message_key": parent_key, "reply_key": reply_key})
            return
        raise Conflict(f"could not record the response to {parent_key} after {MAX_ATTEMPTS} attempts")
