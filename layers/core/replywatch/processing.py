"""What happens when a message is first stored (driven by the table's stream).

Conversations: a customer message opens a conversation, which is counted and has a due
time, unless it is a follow-up: a reply to the customer's own earlier message, posted
before the brand answered it. A follow-up joins that conversation (``opener_key``): it
is not counted again, and the brand's reply to any message of the conversation answers
it. A follow-up whose earlier message has not been processed yet waits in the pending
index; the sweep finishes it, and after the grace period counts it on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from replywatch import alerts, sla
from replywatch.classify import Classifier, priority_of
from replywatch.models import (
    AlertKind,
    Brand,
    Classification,
    Message,
    MessageRecord,
    MessageStatus,
    Sentiment,
    SlaPolicy,
    Wait,
)
from replywatch.ports import Conflict, MessageRepository, StateRepository, Triage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_THREAD_DEPTH = 50


class Place(Enum):
    OPENS = "opens"  # a conversation of its own: counted, due, alerted when overdue
    JOINS = "joins"  # a follow-up within an open conversation
    WAIT = "wait"  # a follow-up whose conversation is not known yet


@dataclass
class Processor:
    messages: MessageRepository
    state: StateRepository
    classifier: Classifier
    notifier: alerts.Notifier
    default_sla: SlaPolicy
    # Classifications made ahead for a whole stream batch (one provider call for many texts).
    _prepared: dict[str, Classification] = field(default_factory=dict, init=False, repr=False)

    def prepare(self, records: list[MessageRecord]) -> None:
        """Classify the customer messages of a batch in one call (a provider may batch them)."""
        inbound = [record for record in records if not record.from_brand and record.key not in self._prepared]
        if not inbound:
            return
        try:
            results = self.classifier.classify_many([record.text for record in inbound])
        except Exception as error:  # each message is classified on its own instead
            logger.warning("batch classification failed", extra={"error": type(error).__name__, "count": len(inbound)})
            return
        self._prepared.update(zip((record.key for record in inbound), results, strict=True))

    def _classify(self, record: MessageRecord) -> Classification:
        prepared = self._prepared.pop(record.key, None)
        return prepared if prepared is not None else self.classifier.classify(record.text)

    def on_new_message(self, record: MessageRecord, now: datetime, *, final: bool = False) -> None:
        """Idempotent: running it twice for the same record changes nothing the second time.

        ``final``: the sweep's last try; a follow-up whose conversation is still unknown is
        counted as a conversation of its own."""
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
        # The stream's image is as stored; a redelivery must see what processing has decided since.
        record = self.messages.get(record.key) or record
        classification = self._classify(record)
        policy = brand.policy(self.default_sla)
        priority = priority_of(record.text, classification, brand.priority_keywords)
        place = self._place(brand, record, final=final)
        wait = self._wait(record) if place is Place.OPENS else Wait.FIRST
        plan = sla.schedule(
            record.created_at, policy, timezone=brand.timezone, channel=record.platform, priority=priority, wait=wait
        )
        if place is Place.WAIT:
            # Its conversation's first message is not processed yet: it stays pending, the sweep retries.
            logger.info("follow-up waits for its conversation", extra={"message_key": record.key})
        elif place is Place.OPENS:
            triage = Triage(
                priority=priority,
                wait=wait,
                target_seconds=plan.target_seconds,
                # Imported history is counted like any message, but never alerted on or left waiting.
                alert=None if record.imported else sla.next_stage(plan, None),
                backlog=not record.imported,
            )
            counted = self.messages.count_inbound(
                record, due_at=plan.due_at, classification=classification, triage=triage
            )
            logger.info(
                "inbound message",
                extra={
                    "message_key": record.key,
                    "counted": counted,
                    "sentiment": classification.sentiment.value,
                    "intent": classification.intent.value,
                    "priority": priority.value,
                    "wait": wait.value,
                },
            )
            self._match_earliest_reply(brand, record.key, answers=record.key)
        if classification.sentiment is Sentiment.NEGATIVE and not record.imported:
            # Not only when just counted: a redelivery after a crash mid-send sends what is unsent.
            classified = record.model_copy(
                update={
                    "sentiment": classification.sentiment,
                    "sentiment_score": classification.score,
                    "intent": classification.intent,
                    "priority": priority,
                    "target_seconds": plan.target_seconds,
                    "due_at": plan.due_at,
                }
            )
            alerts.deliver(
                AlertKind.NEGATIVE,
                classified,
                brand,
                policy,
                self.state.list_recipients(brand.brand_id) if brand.enabled else [],  # paused: nobody
                claims=self.state,
                notifier=self.notifier,
                now=now,
                storm=self.state,
            )

    def _place(self, brand: Brand, record: MessageRecord, *, final: bool) -> Place:
        """Whether ``record`` opens a conversation, joins one (filed here), or must wait to know."""
        if record.counted:
            return Place.OPENS
        if record.opener_key is not None:
            return Place.JOINS
        if not is_follow_up(record):
            if _may_answer_a_reply(record) and not final and self.messages.get(record.parent_key or "") is None:
                # A reply to a reply not stored yet (the brand's reply may be polled after it): whether it
                # is a next-response wait is not known until the parent arrives or the sweep's last try.
                return Place.WAIT
            return Place.OPENS
        opener = self._opener(record)
        if isinstance(opener, _NotYet):
            return Place.WAIT  # its parent is a follow-up still being placed: after it, this one
        if opener is None:
            return Place.OPENS if final else Place.WAIT
        if opener.first_response_at is not None and opener.first_response_at <= record.created_at:
            return Place.OPENS  # the brand had answered: the customer is waiting again
        if not self.messages.fold(record, opener.key):
            return Place.OPENS  # counted on its own by an earlier run
        logger.info("follow-up joins its conversation", extra={"message_key": record.key, "opener": opener.key})
        self._match_earliest_reply(brand, record.key, answers=opener.key)
        return Place.JOINS

    def _wait(self, record: MessageRecord) -> Wait:
        """NEXT when the customer writes again after the brand's reply: in answer to it, or as a
        follow-up to their own message that the brand had answered already. Answering the
        brand's own post (no parent), or its reply to someone else, opens a conversation."""
        if record.counted:
            return record.wait or Wait.FIRST
        if record.parent_key is None:
            return Wait.FIRST
        parent = self.messages.get(record.parent_key)
        if parent is None:
            return Wait.FIRST
        if parent.from_brand:
            return Wait.NEXT if self._answered_them(parent, record) else Wait.FIRST
        opener = self.messages.get(parent.opener_key) if parent.opener_key else parent
        answered_at = opener.first_response_at if opener is not None else None
        if is_follow_up(record) and answered_at is not None and answered_at <= record.created_at:
            return Wait.NEXT
        return Wait.FIRST

    def _answered_them(self, reply: MessageRecord, record: MessageRecord) -> bool:
        """Whether the brand's ``reply`` answered ``record``'s author, climbing the brand's own
        posts (an answer in parts) to the customer's message they answer. The brand's own post
        answers nobody. When the message answered is not stored, the reply's parent author says;
        when nothing says, it did: most replies to a brand's answer are its customer's."""
        for _ in range(MAX_THREAD_DEPTH):
            if reply.parent_key is None:
                return False
            answered = self.messages.get(reply.parent_key)
            if answered is None:
                if reply.parent_by_brand:
                    return False
                return reply.parent_author_id is None or reply.parent_author_id == record.author_id
            if not answered.from_brand:
                return same_person(answered, record)
            reply = answered
        return True

    def _match_earliest_reply(self, brand: Brand, replied_to: str, *, answers: str) -> None:
        """Brand replies to ``replied_to`` stored before it was placed: the earliest answers ``answers``."""
        replies = self.messages.replies_to(replied_to)
        if replies:
            reply_key, replied_at = replies[0]
            self.match_reply(brand, answers, reply_key, replied_at)

    def _opener(self, record: MessageRecord) -> MessageRecord | _NotYet | None:
        """The message that opens the conversation ``record`` continues: its parent, when that opens
        one (counted or not yet), or the parent's opener. ``_NOT_YET`` while the parent is a follow-up
        not placed yet (each is placed after its parent, so a chain resolves from the top);
        None when the parent is not stored (it may never be: an old post, outside the window)."""
        if record.parent_key is None:
            return None
        parent = self.messages.get(record.parent_key)
        if parent is None or parent.from_brand:
            return None
        if parent.opener_key is not None:
            return self.messages.get(parent.opener_key)
        if parent.counted or not is_follow_up(parent):
            return parent
        return _NOT_YET

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
            if parent is not None and parent.opener_key is not None:
                # A follow-up: the reply answers the conversation it belongs to.
                parent_key = parent.opener_key
                parent = self.messages.get(parent_key)
            elif parent is not None and not parent.counted and is_follow_up(parent):
                return  # whether it opens a conversation is not known yet: its processing finds this reply
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


def is_follow_up(message: Message) -> bool:
    """A customer's reply to their own message (the platform names the parent's author)."""
    return (
        not message.from_brand
        and message.parent_id is not None
        and message.parent_author_id is not None
        and message.parent_author_id == message.author_id
    )


def same_person(one: Message, other: Message) -> bool:
    """The same author: by the platform's id, or by handle (case aside) where one side has no
    platform id (an imported message keeps the handle; Instagram names some authors by username)."""
    if one.author_id == other.author_id:
        return True
    return one.author_handle.lstrip("@").casefold() == other.author_handle.lstrip("@").casefold()


def _may_answer_a_reply(message: Message) -> bool:
    """Whether the message's parent may be a brand's reply, polled later than the message itself.

    A comment on a post (its parent is the thread's root: a Page's post, an Instagram medium, a
    tweet opening its conversation) answers no reply: that parent is never stored as one, and the
    comment is a first-response wait at once (Mastodon names no root: its connector reads the
    brand's status a mention answers to tell). So is a reply to someone else's message, when the
    connector can tell (``parent_by_brand`` False: X, Mastodon, Bluesky, Facebook, Instagram).
    Otherwise a missing parent may be the brand's reply.
    """
    if message.parent_id is None or message.parent_id == message.thread_id:
        return False
    return message.parent_by_brand is not False


class _NotYet:
    """The parent is a follow-up whose own conversation is not decided yet."""


_NOT_YET = _NotYet()
