"""The only module that talks to DynamoDB.

Two tables (see docs/table-design.md):

* **messages** (with a stream): one item per (platform, platform id), plus
  sparse indexes for the sweep (``due``), the work queue (``queue``),
  negative messages (``flags``) and brand replies by parent (``replies``).
* **state**: brands, sources with their cursors, recipients, pre-aggregated
  statistics and alert markers.

Every counter change is written in one transaction with a condition on the
message item it accounts for, so a record delivered twice, a retried batch or
two concurrent handlers can never count a message twice.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from replywatch import audit, stats
from replywatch.models import (
    AlertKind,
    ApiKey,
    Brand,
    Classification,
    Intent,
    Message,
    MessageRecord,
    MessageStatus,
    Recipient,
    Resolution,
    Sentiment,
    Source,
    SourceState,
    StormControl,
    Wait,
)
from replywatch.ports import Busy, Conflict, HeldSms, StormWindow, Triage
from replywatch.stats import Aggregate, Backlog, Level

logger = logging.getLogger(__name__)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

ALERTS_INDEX = "alerts"
QUEUE_INDEX = "queue"
FLAGS_INDEX = "flags"
REPLIES_INDEX = "replies"
PENDING_INDEX = "pending"

BRANDS_PK = "BRANDS"
SOURCES_PK = "SOURCES"
TOTALS_SK = "TOTALS"
LEASES_PK = "LEASES"
API_KEYS_PK = "APIKEYS"
HISTOGRAM_PREFIX = "h_"
WRITES = "writes"  # on live-backlog (TOTALS) items: the writes made to it
AUDIT_SEGMENTS = 4  # parallel scan segments of an audit
REPAIR_ADDS = 50  # histogram buckets added by one repair update (expressions stay under 4 KB)
TRANSACTION_ATTEMPTS = 5
TRANSACTION_BACKOFF_SECONDS = 0.02

_MESSAGE_FIELDS = frozenset(MessageRecord.model_fields)


def iso(moment: datetime) -> str:
    """Fixed-width UTC text that sorts like time (used for index sort keys)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{key}": _serializer.serialize(value) for key, value in values.items()}


def _cancelled_by_condition(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    return any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons)


def _cancelled_by_contention(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":
        return True
    reasons = error.response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "TransactionConflict" for reason in reasons
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _put_once(client: Any, table: str, item: Mapping[str, Any]) -> bool:
    """PutItem unless an item with that key exists. False: it existed, nothing changed."""
    try:
        client.put_item(TableName=table, Item=_serialize(item), ConditionExpression="attribute_not_exists(pk)")
    except ClientError as error:
        if _cancelled_by_condition(error):
            return False
        raise
    return True


def _query_all(client: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item a Query matches, following LastEvaluatedKey, deserialised."""
    request = dict(request)
    while True:
        response = client.query(**request)
        for item in response.get("Items", []):
            yield _deserialize(item)
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _is_page_token(start: Mapping[str, Any], names: set[str], partition: str, value: str) -> bool:
    """A LastEvaluatedKey of this index and partition: only string key attributes, nothing else."""
    strings = all(isinstance(v, dict) and set(v) == {"S"} and _key_string(v["S"]) for v in start.values())
    return set(start) == names and strings and start[partition] == {"S": value}


def _key_string(value: Any) -> bool:
    """A string DynamoDB takes as a key: 1 to 1,024 bytes of UTF-8 (a lone surrogate has none)."""
    if not isinstance(value, str):
        return False
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return 0 < size <= 1024


def window_start(moment: datetime, minutes: int) -> datetime:
    """The start of the storm-control window ``moment`` falls in (windows are aligned to the epoch)."""
    width = minutes * 60
    return datetime.fromtimestamp(int(moment.timestamp()) // width * width, tz=UTC)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class NotResolvable(Exception):
    """The message was answered or resolved already (or is not a customer's message)."""


class InvalidPageToken(ValueError):
    """A pagination token that this list did not give out."""


@dataclass(frozen=True)
class QueuePage:
    messages: list[MessageRecord]
    next_token: dict[str, Any] | None


class MessageStore:
    """Messages and the statistics that follow from them."""

    def __init__(self, client: Any, messages_table: str, state_table: str) -> None:
        self._client = client
        self._messages = messages_table
        self._state = state_table

    # --- writing what the poller found -------------------------------------------------

    def put_new(self, message: Message, *, ingested_at: datetime, expires_at: datetime) -> bool:
        """Store a message once. Returns False (and changes nothing) when it is already there."""
        item = message.model_dump(mode="json")
        item.update(
            pk=message.key,
            created_at=iso(message.created_at),
            parent_key=message.parent_key if message.from_brand else None,
            ingested_at=iso(ingested_at),
            expires_at=int(expires_at.timestamp()),
            # In the sparse `pending` index until processed, so a lost stream record is noticed.
            pending_pk=message.brand,
        )
        return _put_once(self._client, self._messages, item)

    # --- reading ---------------------------------------------------------------------------

    def get(self, key: str) -> MessageRecord | None:
        response = self._client.get_item(TableName=self._messages, Key={"pk": {"S": key}}, ConsistentRead=True)
        item = response.get("Item")
        return self._record(_deserialize(item)) if item else None

    @staticmethod
    def _record(item: Mapping[str, Any]) -> MessageRecord:
        return MessageRecord.model_validate(
            {key: _plain(value) for key, value in item.items() if key in _MESSAGE_FIELDS}
        )

    def replies_to(self, parent_key: str) -> list[tuple[str, datetime]]:
        """Brand replies already stored for a message, earliest first."""
        found = []
        for item in self._query(REPLIES_INDEX, "parent_key", parent_key):
            found.append((item["pk"], datetime.fromisoformat(item["created_at"])))
        return sorted(found, key=lambda pair: pair[1])

    def pending_keys(self, brand: str, ingested_before: datetime) -> Iterator[str]:
        """Messages stored before then whose processing never finished (the sparse ``pending`` index)."""
        for item in self._query(PENDING_INDEX, "pending_pk", brand, sort=("ingested_at", "<", iso(ingested_before))):
            yield item["pk"]

    def settle(self, key: str) -> None:
        """Take a processed message out of the ``pending`` index."""
        try:
            self._client.update_item(
                TableName=self._messages,
                Key={"pk": {"S": key}},
                UpdateExpression="REMOVE pending_pk",
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise

    def fold(self, record: MessageRecord, opener_key: str) -> bool:
        """File a customer's follow-up under the conversation it continues: not counted on its own.

        False: it was counted as a conversation of its own first (a redelivery), and stays so."""
        try:
            self._client.update_item(
                TableName=self._messages,
                Key={"pk": {"S": record.key}},
                UpdateExpression="SET opener_key = :opener REMOVE pending_pk",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(counted)",
                ExpressionAttributeValues=_values(opener=opener_key),
            )
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise
            return False
        return True

    def alert_keys(self, brand: str, now: datetime) -> Iterator[str]:
        """Unanswered messages of a brand whose next SLA alert is due (the sparse ``alerts`` index)."""
        for item in self._query(ALERTS_INDEX, "alert_pk", brand, sort=("alert_at", "<=", iso(now))):
            yield item["pk"]

    def next_alert_at(self, brand: str, after: datetime, until: datetime) -> datetime | None:
        """The earliest next-stage time of a brand's messages in (after, until], if any."""
        response = self._client.query(
            TableName=self._messages,
            IndexName=ALERTS_INDEX,
            KeyConditionExpression="alert_pk = :k AND alert_at BETWEEN :after AND :until",
            ExpressionAttributeValues=_values(k=brand, after=iso(after + timedelta(microseconds=1)), until=iso(until)),
            Limit=1,
        )
        items = response.get("Items", [])
        return datetime.fromisoformat(items[0]["alert_at"]["S"]) if items else None

    def queue(self, brand: str, status: str, *, limit: int, start: dict[str, Any] | None = None) -> QueuePage:
        if status == "negative":
            index, key_name, key = FLAGS_INDEX, "flag_pk", f"{brand}#negative"
        else:
            index, key_name, key = QUEUE_INDEX, "queue_pk", f"{brand}#{status}"
        request: dict[str, Any] = {
            "TableName": self._messages,
            "IndexName": index,
            "KeyConditionExpression": "#k = :k",
            "ExpressionAttributeNames": {"#k": key_name},
            "ExpressionAttributeValues": _values(k=key),
            "Limit": limit,
            "ScanIndexForward": True,
        }
        if start:
            if not _is_page_token(start, {"pk", key_name, "created_at"}, key_name, key):
                raise InvalidPageToken()
            request["ExclusiveStartKey"] = start
        response = self._client.query(**request)
        return QueuePage(
            messages=[self._record(_deserialize(item)) for item in response.get("Items", [])],
            next_token=response.get("LastEvaluatedKey"),
        )

    def oldest_open_at(self, brand: str, channel: str | None = None) -> datetime | None:
        """When the oldest waiting message was posted: the head of the queue index. For one
        channel, the first of that channel from the head (reads the other channels' older
        waiting messages on the way)."""
        oldest = []
        for status in (MessageStatus.OVERDUE, MessageStatus.OPEN):
            request: dict[str, Any] = {
                "TableName": self._messages,
                "IndexName": QUEUE_INDEX,
                "KeyConditionExpression": "queue_pk = :k",
                "ExpressionAttributeValues": _values(k=f"{brand}#{status.value}"),
                "ScanIndexForward": True,
            }
            if channel is None:
                request["Limit"] = 1
                items = self._client.query(**request).get("Items", [])[:1]
            else:
                request["FilterExpression"] = "platform = :channel"
                request["ExpressionAttributeValues"] |= _values(channel=channel)
                items = list(itertools.islice(_query_all(self._client, request), 1))
                items = [_serialize(item) for item in items]
            for item in items:
                oldest.append(datetime.fromisoformat(item["created_at"]["S"]))
        return min(oldest) if oldest else None

    def _query(
        self, index: str, key_name: str, key: str, sort: tuple[str, str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        condition = "#k = :k"
        names = {"#k": key_name}
        values = _values(k=key)
        if sort:
            condition += f" AND #s {sort[1]} :s"
            names["#s"] = sort[0]
            values.update(_values(s=sort[2]))
        request: dict[str, Any] = {
            "TableName": self._messages,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        yield from _query_all(self._client, request)

    # --- state changes, each exactly once ---------------------------------------------------

    def count_inbound(
        self,
        record: MessageRecord,
        *,
        due_at: datetime,
        classification: Classification,
        triage: Triage | None = None,
    ) -> bool:
        """Count a new customer message and put it on the queue (and on the alert ladder,
        at ``triage.alert``); if the brand's reply was matched before it was counted, count it
        as answered, its response with it. False: it was counted already (or joined a
        conversation). ``record`` is the item as just read; a concurrent change is re-read."""
        triage = triage or Triage()
        for _ in range(TRANSACTION_ATTEMPTS):
            try:
                self._transact(self._count(record, due_at, classification, triage))
                return True
            except Conflict:
                fresh = self.get(record.key)
                if fresh is None or fresh.counted or fresh.opener_key is not None:
                    return False
                record = fresh
        raise Conflict(f"could not count {record.key}")

    def _count(
        self, record: MessageRecord, due_at: datetime, classification: Classification, triage: Triage
    ) -> list[dict[str, Any]]:
        counters = stats.received(triage.wait, classification.sentiment, classification.intent)
        sets = [
            "counted = :true",
            "due_at = :due",
            "sentiment = :sentiment",
            "sentiment_score = :score",
            "intent = :intent",
            "priority = :priority",
            "#wait = :wait",
        ]
        values = _values(
            true=True,
            due=iso(due_at),
            sentiment=classification.sentiment.value,
            score=Decimal(str(classification.score)),
            intent=classification.intent.value,
            priority=triage.priority.value,
            wait=triage.wait.value,
        )
        names = {"#status": "status", "#wait": "wait"}
        if triage.target_seconds is not None:
            sets.append("target_seconds = :target")
            values.update(_values(target=triage.target_seconds))
        if classification.sentiment is Sentiment.NEGATIVE:
            sets.append("flag_pk = :flag")
            values.update(_values(flag=f"{record.brand}#negative"))
        condition = "attribute_not_exists(counted) AND attribute_not_exists(opener_key)"
        if record.first_response_at is not None:
            # The reply was matched first: the response is counted now, with the message.
            seconds = record.first_response_seconds or 0
            answered, histogram = stats.responded(triage.wait, seconds, record.first_response_at <= due_at)
            values |= _values(answered_at=iso(record.first_response_at))
            return [
                self._message_update(
                    record.key,
                    "SET " + ", ".join(sets) + " REMOVE pending_pk",
                    values,
                    condition + " AND first_response_at = :answered_at",
                    names=names,
                ),
                *self._aggregate_updates(record, Counter(counters) + Counter(answered), histogram),
            ]
        if triage.backlog:  # imported history is counted, but never waits in the live backlog
            sets += ["#status = :open", "queue_pk = :queue"]
            values |= _values(open=MessageStatus.OPEN.value, queue=f"{record.brand}#{MessageStatus.OPEN.value}")
        if triage.alert is not None:
            sets += ["alert_pk = :brand", "alert_at = :alert_at", "alert_stage = :alert_stage"]
            values |= _values(brand=record.brand, alert_at=iso(triage.alert[1]), alert_stage=triage.alert[0])
        return [
            self._message_update(
                record.key,
                "SET " + ", ".join(sets) + " REMOVE pending_pk",
                values,
                condition + " AND attribute_not_exists(first_response_at)",
                names=names,
            ),
            *self._aggregate_updates(record, counters),
            *([self._totals_update(record, open=1)] if triage.backlog else []),
        ]

    def record_first_response(
        self,
        record: MessageRecord,
        *,
        reply_key: str,
        replied_at: datetime,
        seconds: int,
        within_sla: bool,
        previous_within_sla: bool,
    ) -> None:
        """Set (or move earlier) a message's first response, with its statistics once the
        message is counted (counting an answered message counts its response).

        ``record`` is the item as just read; the write is conditioned on it being
        unchanged, so a concurrent change raises :class:`Conflict` and the caller re-reads.
        """
        names = {"#status": "status"}
        values = _values(at=iso(replied_at), secs=seconds, by=reply_key)
        counted = "attribute_not_exists(counted)"
        if record.counted:
            counted = "counted = :true"
            values |= _values(true=True)
        if record.first_response_at is None:
            old_status = record.status
            if old_status is None:
                status_condition = "attribute_not_exists(#status)"
            else:
                status_condition = "#status = :old_status"
                values.update(_values(old_status=old_status.value))
            values.update(
                _values(answered=MessageStatus.ANSWERED.value, queue=f"{record.brand}#{MessageStatus.ANSWERED.value}")
            )
            items = [
                self._message_update(
                    record.key,
                    "SET first_response_at = :at, first_response_seconds = :secs, responded_by = :by, "
                    "#status = :answered, queue_pk = :queue REMOVE alert_pk, alert_at, alert_stage",
                    values,
                    f"{counted} AND attribute_not_exists(first_response_at) AND {status_condition}",
                    names=names,
                )
            ]
            if record.counted:
                counters, histogram = stats.responded(record.wait, seconds, within_sla)
                if old_status is MessageStatus.RESOLVED:
                    # Answered in public after all: it counts as answered, no longer as resolved.
                    counters |= stats.resolved(record.wait, sign=-1)
                items += self._aggregate_updates(record, counters, histogram)
            if old_status in (MessageStatus.OPEN, MessageStatus.OVERDUE):
                items.append(
                    self._totals_update(record, open=-1, overdue=-1 if old_status is MessageStatus.OVERDUE else 0)
                )
            self._transact(items)
            return
        old_seconds = record.first_response_seconds or 0
        values.update(_values(old_at=iso(record.first_response_at)))
        items = [
            self._message_update(
                record.key,
                "SET first_response_at = :at, first_response_seconds = :secs, responded_by = :by",
                values,
                f"{counted} AND first_response_at = :old_at",
            )
        ]
        if record.counted:
            counters, histogram = stats.moved(record.wait, old_seconds, previous_within_sla, seconds, within_sla)
            items += self._aggregate_updates(record, counters, histogram)
        self._transact(items)

    def resolve(self, record: MessageRecord, *, resolution: Resolution, note: str | None, now: datetime) -> None:
        """Mark a waiting message as handled elsewhere (phone, e-mail, DM), once: off the queue
        and the alert ladder, counted as resolved rather than answered.

        Raises :class:`NotResolvable` when it was answered or resolved already, and
        :class:`Conflict` when it changed since ``record`` was read (re-read and retry)."""
        if (
            not record.counted
            or record.first_response_at is not None
            or record.status not in (MessageStatus.OPEN, MessageStatus.OVERDUE)
        ):
            raise NotResolvable(record.key)
        values = _values(
            resolved=MessageStatus.RESOLVED.value,
            old_status=record.status.value,
            at=iso(now),
            resolution=resolution.value,
            queue=f"{record.brand}#{MessageStatus.RESOLVED.value}",
        )
        sets = "#status = :resolved, resolved_at = :at, resolution = :resolution, queue_pk = :queue"
        removes = " REMOVE alert_pk, alert_at, alert_stage"
        if note:
            values |= _values(note=note)
            sets += ", resolution_note = :note"
        self._transact(
            [
                self._message_update(
                    record.key,
                    f"SET {sets}{removes}",
                    values,
                    "#status = :old_status AND attribute_not_exists(first_response_at)",
                    names={"#status": "status"},
                ),
                *self._aggregate_updates(record, stats.resolved(record.wait)),
                self._totals_update(record, open=-1, overdue=-1 if record.status is MessageStatus.OVERDUE else 0),
            ]
        )

    def advance_alert(
        self,
        record: MessageRecord,
        *,
        after: int,
        following: tuple[int, datetime] | None,
        overdue: bool,
        now: datetime,
        due_at: datetime | None = None,
    ) -> bool:
        """Move an unanswered message up its alert ladder, once: from stage ``after`` to
        ``following`` (None: off the ladder). ``overdue``: the breach was passed, so an open
        message becomes overdue in the same step (with its counters). ``due_at``: its due time
        worked out again (business hours or holidays changed since it was counted).

        False when it was answered, or another sweep moved it, meanwhile."""
        sets, removes = [], []
        values = _values(after=after, open=MessageStatus.OPEN.value, overdue=MessageStatus.OVERDUE.value)
        if due_at is not None:
            sets.append("due_at = :due")
            values |= _values(due=iso(due_at))
        if following is None:
            removes += ["alert_pk", "alert_at", "alert_stage"]
        else:
            sets += ["alert_at = :next_at", "alert_stage = :next_stage"]
            values |= _values(next_at=iso(following[1]), next_stage=following[0])
        condition = "alert_stage = :after AND attribute_not_exists(first_response_at) AND #status IN (:open, :overdue)"
        flag = overdue and record.status is MessageStatus.OPEN
        if flag:
            sets += ["#status = :overdue", "overdue_at = :now", "queue_pk = :queue"]
            values |= _values(now=iso(now), queue=f"{record.brand}#{MessageStatus.OVERDUE.value}")
            condition += " AND #status = :open"
        expression = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
        items = [self._message_update(record.key, expression.strip(), values, condition, names={"#status": "status"})]
        if flag:
            items += [
                *self._aggregate_updates(record, stats.overdue(record.wait)),
                self._totals_update(record, overdue=1),
            ]
        try:
            self._transact(items)
        except Conflict:
            return False
        return True

    def forget(self, record: MessageRecord, *, now: datetime) -> bool:
        """Take a removed, unanswered message out of the live backlog, once (a marker
        guards the decrement against a redelivered REMOVE record)."""
        marker = _serialize(
            {
                "pk": f"REMOVED#{record.key}",
                "sk": "REMOVED",
                "expires_at": int(now.timestamp()) + 30 * 86400,  # outlives the stream's 24 h retention
            }
        )
        overdue = -1 if record.status is MessageStatus.OVERDUE else 0
        try:
            self._transact(
                [
                    {
                        "Put": {
                            "TableName": self._state,
                            "Item": marker,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    self._totals_update(record, open=-1, overdue=overdue),
                ]
            )
        except Conflict:
            return False
        return True

    # --- aggregates -------------------------------------------------------------------------

    def day_aggregates(self, brand: str, first: date, last: date) -> list[Aggregate]:
        """The UTC-day aggregates from ``first`` to ``last`` inclusive."""
        start = datetime.combine(first, datetime.min.time(), UTC)
        return self._aggregates(brand, stats.SlotRange(Level.DAY, start, start + timedelta(days=(last - first).days)))

    def aggregates(self, brand: str, start: datetime, end: datetime) -> list[Aggregate]:
        """Every aggregate whose slot lies in [start, end), each instant counted once: whole
        days, then hours and quarters at the edges (see :func:`stats.cover`). The items read
        depend on the range and the channels, never on the number of messages."""
        return [aggregate for part in stats.cover(start, end) for aggregate in self._aggregates(brand, part)]

    def _aggregates(self, brand: str, part: stats.SlotRange, *, consistent: bool = False) -> list[Aggregate]:
        prefix = part.level.value
        request: dict[str, Any] = {
            "ConsistentRead": consistent,
            "TableName": self._state,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": _values(
                pk=f"BRAND#{brand}",
                first=f"{prefix}#{stats.slot_label(part.first, part.level)}#",
                last=f"{prefix}#{stats.slot_label(part.last, part.level)}#~",
            ),
        }
        found = []
        for item in _query_all(self._client, request):
            _, label, channel = item["sk"].split("#", 2)
            counters = {name: int(item[name]) for name in stats.COUNTERS if int(item.get(name, 0))}
            histogram = {
                name[len(HISTOGRAM_PREFIX) :]: int(count)
                for name, count in item.items()
                if name.startswith(HISTOGRAM_PREFIX) and int(count)
            }
            found.append(
                Aggregate(
                    start=stats.parse_slot(label, part.level),
                    level=part.level,
                    channel=channel,
                    counters=counters,
                    histogram=histogram,
                )
            )
        return found

    def backlog(self, brand: str, channel: str | None = None) -> Backlog:
        """The live backlog: per-channel totals added up, and the oldest waiting message."""
        request: dict[str, Any] = {
            "TableName": self._state,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :totals)",
            "ExpressionAttributeValues": _values(pk=f"BRAND#{brand}", totals=TOTALS_SK),
            "ConsistentRead": True,
        }
        open_ = overdue = 0
        for item in _query_all(self._client, request):
            if channel is not None and item["sk"] != f"{TOTALS_SK}#{channel}":
                continue
            open_ += int(item.get("open", 0))
            overdue += int(item.get("overdue", 0))
        return Backlog(open=open_, overdue=overdue, oldest_open_at=self.oldest_open_at(brand, channel))

    # --- auditing ---------------------------------------------------------------------------

    def tally(self, brand: str, start: datetime, end: datetime) -> audit.Tally:
        """What every stored message of a brand adds up to (:class:`audit.Tally`): a strongly
        consistent parallel scan that reads only the counted state of each message, never its
        text, and keeps none of them."""

        def segment(number: int) -> audit.Tally:
            names = {f"#{name}": name for name in _AUDITED}
            request: dict[str, Any] = {
                "TableName": self._messages,
                "FilterExpression": "#brand = :brand",
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names | {"#brand": "brand"},
                "ExpressionAttributeValues": _values(brand=brand),
                "ConsistentRead": True,
                "Segment": number,
                "TotalSegments": AUDIT_SEGMENTS,
            }
            tally = audit.Tally(start, end)
            while True:
                response = self._client.scan(**request)
                for item in response.get("Items", []):
                    tally.add(_state(_deserialize(item)))
                if "LastEvaluatedKey" not in response:
                    return tally
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

        with ThreadPoolExecutor(AUDIT_SEGMENTS) as pool:
            parts = list(pool.map(segment, range(AUDIT_SEGMENTS)))
        return functools.reduce(audit.Tally.merge, parts[1:], parts[0])

    def slot_items(self, brand: str, start: datetime, end: datetime) -> dict[audit.SlotKey, Aggregate]:
        """Every day, hour and quarter-hour aggregate item of [start, end) (whole UTC days), read
        strongly consistently, by (level, slot start, channel)."""
        found = {}
        for level in Level:
            part = stats.SlotRange(level, start, end - stats.SPAN[level])
            for aggregate in self._aggregates(brand, part, consistent=True):
                found[(level, aggregate.start, aggregate.channel)] = aggregate
        return found

    def backlog_items(self, brand: str) -> dict[str, audit.Stored]:
        """The live-backlog item of each channel, with its write count, read strongly consistently."""
        request: dict[str, Any] = {
            "TableName": self._state,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :totals)",
            "ExpressionAttributeValues": _values(pk=f"BRAND#{brand}", totals=f"{TOTALS_SK}#"),
            "ConsistentRead": True,
        }
        found = {}
        for item in _query_all(self._client, request):
            counts = {name: int(item[name]) for name in ("open", "overdue") if int(item.get(name, 0))}
            found[item["sk"].split("#", 1)[1]] = audit.Stored(counts, int(item.get(WRITES, 0)))
        return found

    def repair_slot(self, brand: str, drift: audit.SlotDrift) -> audit.Repair:
        """Add the drift to the item, on condition its counters are still as read (histogram
        buckets first, in parts, the counters last). Not done, or done in part, when it was
        written since: audit again (the drift left is then worked out afresh)."""
        sk = f"{drift.level.value}#{stats.slot_label(drift.start, drift.level)}#{drift.channel}"
        key = _serialize({"pk": f"BRAND#{brand}", "sk": sk})
        still, names, values = [], {}, {}
        for position, name in enumerate(stats.COUNTERS):
            names[f"#c{position}"] = name
            values[f":c{position}"] = {"N": str(drift.stored[name])}
            if drift.stored[name]:
                still.append(f"#c{position} = :c{position}")
            else:
                still.append(f"(attribute_not_exists(#c{position}) OR #c{position} = :c{position})")
        buckets = [(HISTOGRAM_PREFIX + bucket, amount) for bucket, amount in drift.histogram.items()]
        parts = [buckets[i : i + REPAIR_ADDS] for i in range(0, len(buckets), REPAIR_ADDS)]
        applied = 0
        for part in [*parts, list(drift.counters.items())]:
            if not part:
                continue
            adds = {f"#a{i}": name for i, (name, _) in enumerate(part)}
            amounts = {f":a{i}": {"N": str(amount)} for i, (_, amount) in enumerate(part)}
            try:
                self._client.update_item(
                    TableName=self._state,
                    Key=key,
                    UpdateExpression="ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(part))),
                    ConditionExpression=" AND ".join(still),
                    ExpressionAttributeNames=names | adds,
                    ExpressionAttributeValues=values | amounts,
                )
            except ClientError as error:
                if not _cancelled_by_condition(error):
                    raise
                return audit.Repair.PARTLY if applied else audit.Repair.WRITTEN_SINCE
            applied += 1
        return audit.Repair.DONE

    # --- building blocks --------------------------------------------------------------------

    def _message_update(
        self,
        key: str,
        expression: str,
        values: dict[str, Any],
        condition: str,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self._messages,
            "Key": {"pk": {"S": key}},
            "UpdateExpression": expression,
            "ConditionExpression": f"attribute_exists(pk) AND {condition}",
            "ExpressionAttributeValues": values,
        }
        used = {name: path for name, path in (names or {}).items() if name in expression or name in condition}
        if used:
            update["ExpressionAttributeNames"] = used
        return {"Update": update}

    def _aggregate_updates(
        self, record: MessageRecord, counters: Mapping[str, int], histogram: Mapping[str, int] | None = None
    ) -> list[dict[str, Any]]:
        """``ADD`` the change to the message's day, hour and quarter-hour aggregates."""
        adds, names, values = [], {}, {}
        for position, (name, amount) in enumerate(
            [*counters.items(), *((HISTOGRAM_PREFIX + b, n) for b, n in (histogram or {}).items())]
        ):
            if amount == 0:
                continue
            names[f"#a{position}"] = name
            values[f":a{position}"] = {"N": str(amount)}
            adds.append(f"#a{position} :a{position}")
        if not adds:
            return []
        return [
            {
                "Update": {
                    "TableName": self._state,
                    "Key": _serialize(
                        {
                            "pk": f"BRAND#{record.brand}",
                            "sk": f"{level.value}#{stats.slot_label(start, level)}#{record.platform}",
                        }
                    ),
                    "UpdateExpression": "ADD " + ", ".join(adds),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
            for level, start in stats.slots_of(record.created_at)
        ]

    def _totals_update(self, record: MessageRecord, **counters: int) -> dict[str, Any]:
        """``ADD`` to the live backlog of the message's brand and channel."""
        present = {name: amount for name, amount in counters.items() if amount}
        present[WRITES] = 1  # how many writes made the item: an audit tells a still item by it
        return {
            "Update": {
                "TableName": self._state,
                "Key": _serialize({"pk": f"BRAND#{record.brand}", "sk": f"{TOTALS_SK}#{record.platform}"}),
                "UpdateExpression": "ADD " + ", ".join(f"#{name} :{name}" for name in present),
                "ExpressionAttributeNames": {f"#{name}": name for name in present},
                "ExpressionAttributeValues": {f":{name}": {"N": str(amount)} for name, amount in present.items()},
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        _transact(self._client, items)


class StateStore:
    """Brands, sources, recipients and alert markers."""

    def __init__(self, client: Any, state_table: str) -> None:
        self._client = client
        self._table = state_table

    def put_brand(self, brand: Brand) -> None:
        # Floats (escalation multiples) travel as Decimal: DynamoDB numbers are exact.
        config = json.loads(brand.model_dump_json(), parse_float=Decimal)
        self._put({"pk": BRANDS_PK, "sk": brand.brand_id, **config})

    def get_brand(self, brand_id: str) -> Brand | None:
        item = self._get(BRANDS_PK, brand_id)
        return Brand.model_validate(item) if item else None

    def list_brands(self) -> list[Brand]:
        return [Brand.model_validate(item) for item in self._query(BRANDS_PK)]

    def put_source(self, source: Source) -> bool:
        """Create or reconfigure a source. Its cursor and health are kept while it still reads
        the same account (base URL and token secret); otherwise they start afresh.

        Returns True when the source starts afresh."""
        config = source.model_dump(mode="json")
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": _serialize({"pk": SOURCES_PK, "sk": f"{source.brand_id}#{source.source_id}"}),
            "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in config),
            "ExpressionAttributeNames": {f"#{name}": name for name in config},
            "ExpressionAttributeValues": _values(**config),
        }
        try:
            self._client.update_item(
                **request,
                ConditionExpression="attribute_exists(pk) AND #base_url = :base_url AND #token_secret = :token_secret",
            )
            return False
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise
        request["UpdateExpression"] += " REMOVE #state"
        request["ExpressionAttributeNames"]["#state"] = "state"
        self._client.update_item(**request)
        return True

    def list_sources(self) -> list[tuple[Source, SourceState]]:
        found = []
        for item in self._query(SOURCES_PK):
            source = Source.model_validate(item)
            state = SourceState.model_validate(item.get("state") or {})
            found.append((source, state))
        return found

    def save_source_state(self, source: Source, state: SourceState) -> None:
        """Save what a poll learnt, unless the source was removed or pointed at another account
        (base URL or secret) meanwhile: that source starts afresh, not with this one's cursor."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_serialize({"pk": SOURCES_PK, "sk": f"{source.brand_id}#{source.source_id}"}),
                UpdateExpression="SET #state = :state",
                ConditionExpression="attribute_exists(pk) AND #base_url = :base_url AND #token_secret = :token_secret",
                ExpressionAttributeNames={"#state": "state", "#base_url": "base_url", "#token_secret": "token_secret"},
                ExpressionAttributeValues=_values(
                    state=state.model_dump(mode="json", exclude_none=True),
                    base_url=source.base_url,
                    token_secret=source.token_secret,
                ),
            )
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise
            logger.info("source changed during its poll; state not saved", extra={"source_id": source.source_id})

    def put_recipient(self, recipient: Recipient) -> None:
        item = recipient.model_dump(mode="json")
        item["alert_kinds"] = sorted(recipient.alert_kinds)
        if recipient.sms_kinds is not None:
            item["sms_kinds"] = sorted(recipient.sms_kinds)
        self._put({"pk": f"BRAND#{recipient.brand_id}", "sk": f"RECIPIENT#{recipient.recipient_id}", **item})

    def list_recipients(self, brand_id: str) -> list[Recipient]:
        return [Recipient.model_validate(item) for item in self._query(f"BRAND#{brand_id}", "RECIPIENT#")]

    def remove_recipient(self, brand_id: str, recipient_id: str) -> bool:
        """No more alerts to them. False: there was no such recipient."""
        return self._delete(f"BRAND#{brand_id}", f"RECIPIENT#{recipient_id}") is not None

    def remove_source(self, brand_id: str, source_id: str) -> Source | None:
        """Stop polling an account (its messages stay). The source as it was, or None."""
        item = self._delete(SOURCES_PK, f"{brand_id}#{source_id}")
        if item is None:
            return None
        return Source.model_validate({name: value for name, value in item.items() if name in Source.model_fields})

    def remove_brand(self, brand_id: str) -> bool:
        """Forget the brand itself (after its sources, recipients and keys). False: it was not there."""
        return self._delete(BRANDS_PK, brand_id) is not None

    # --- dashboard keys (a digest of the secret only: see replywatch.apikeys) -------------------

    def put_api_key(self, key: ApiKey) -> None:
        item = key.model_dump(mode="json")
        item["brands"] = sorted(key.brands)
        self._put({"pk": API_KEYS_PK, "sk": key.key_id, **item})

    def get_api_key(self, key_id: str) -> ApiKey | None:
        item = self._get(API_KEYS_PK, key_id)
        return ApiKey.model_validate(item) if item else None

    def list_api_keys(self) -> list[ApiKey]:
        return [ApiKey.model_validate(item) for item in self._query(API_KEYS_PK)]

    def delete_api_key(self, key_id: str) -> bool:
        """Revoke a key. False: there was no such key."""
        response = self._client.delete_item(
            TableName=self._table, Key=_serialize({"pk": API_KEYS_PK, "sk": key_id}), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    def take_lease(self, name: str, owner: str, *, now: datetime, until: datetime) -> bool:
        """Hold ``name`` (one poll at a time, one audit of a brand at a time) until ``until`` or
        until given up. False: another owner holds it and its time has not run out (a holder that
        crashed loses it then)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_serialize(
                    {
                        "pk": LEASES_PK,
                        "sk": name,
                        "owner": owner,
                        "held_until": iso(until),
                        "expires_at": int(until.timestamp()) + 86400,  # TTL: long after it ran out
                    }
                ),
                ConditionExpression="attribute_not_exists(pk) OR held_until < :now",
                ExpressionAttributeValues=_values(now=iso(now)),
            )
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise
            return False
        return True

    def give_up_lease(self, name: str, owner: str) -> None:
        """Give the lease up, if this owner still holds it (not one that took it after it ran out)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_serialize({"pk": LEASES_PK, "sk": name}),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues=_values(owner=owner),
            )
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise

    def claim_alert(self, message_key: str, slot: str, *, now: datetime, expires_at: datetime) -> bool:
        """Take the right to send one alert (``slot``: kind, level, recipient, channel).

        False: it was taken, and the alert sent, before."""
        claim = {
            "pk": f"ALERT#{message_key}",
            "sk": slot,
            "claimed_at": iso(now),
            "expires_at": int(expires_at.timestamp()),
        }
        return _put_once(self._client, self._table, claim)

    def release_alert(self, message_key: str, slot: str) -> None:
        """Give the claim back when sending failed, so a retry can send it."""
        self._client.delete_item(TableName=self._table, Key=_serialize({"pk": f"ALERT#{message_key}", "sk": slot}))

    # --- quiet hours: SMS held until they end ---------------------------------------------------

    def hold_sms(self, held: HeldSms, *, expires_at: datetime) -> None:
        """Keep an SMS for later. Its claim is already taken, so it is held once."""
        self._put(
            {
                "pk": f"HELD#{held.brand_id}",
                "sk": f"{iso(held.release_at)}#{held.subject_key}#{held.slot}",
                "subject_key": held.subject_key,
                "slot": held.slot,
                "recipient_id": held.recipient_id,
                "text": held.text,
                "attempts": held.attempts,
                "expires_at": int(expires_at.timestamp()),
            }
        )

    def held_sms(self, brand_id: str, now: datetime) -> list[HeldSms]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk <= :now",
            "ExpressionAttributeValues": _values(pk=f"HELD#{brand_id}", now=iso(now) + "~"),
        }
        return [
            HeldSms(
                brand_id=brand_id,
                release_at=datetime.strptime(item["sk"][:27], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
                subject_key=item["subject_key"],
                slot=item["slot"],
                recipient_id=item["recipient_id"],
                text=item["text"],
                attempts=int(item.get("attempts", 0)),
            )
            for item in _query_all(self._client, request)
        ]

    def drop_held(self, held: HeldSms, *, retry: bool) -> None:
        """Sent (or no longer wanted): delete it. ``retry``: sending failed, try again next sweep."""
        key = _serialize(
            {"pk": f"HELD#{held.brand_id}", "sk": f"{iso(held.release_at)}#{held.subject_key}#{held.slot}"}
        )
        if retry:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="ADD attempts :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=_values(one=1),
            )
        else:
            self._client.delete_item(TableName=self._table, Key=key)

    # --- storm control --------------------------------------------------------------------------

    def admit_alert(self, brand_id: str, event_id: str, kind: AlertKind, *, now: datetime, storm: StormControl) -> bool:
        """Let an alert through while its brand's window has sent fewer than ``storm.limit``.

        The window item lists the events it let through (at most ``limit``); events over the
        limit are counted per kind once each (a marker per event), for the summary."""
        start = window_start(now, storm.window_minutes)
        key = _serialize({"pk": f"BRAND#{brand_id}", "sk": f"STORM#{iso(start)}"})
        expires = int((start + timedelta(days=2)).timestamp())
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="ADD admitted :event SET window_minutes = :minutes, expires_at = :expires",
                ConditionExpression="attribute_not_exists(admitted) OR (size(admitted) < :limit"
                " AND NOT contains(admitted, :id))",
                ExpressionAttributeValues=_values(
                    event={event_id}, id=event_id, limit=storm.limit, minutes=storm.window_minutes, expires=expires
                ),
            )
            return True
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise
        window = self._get(f"BRAND#{brand_id}", f"STORM#{iso(start)}") or {}
        if event_id in set(window.get("admitted") or ()):
            return True  # let through before: a retry sends what it has not sent
        # Over the limit: counted once for the summary.
        with contextlib.suppress(Conflict):  # counted by an earlier try
            _transact(
                self._client,
                [
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _serialize(
                                {"pk": f"STORMED#{brand_id}#{event_id}", "sk": "STORMED", "expires_at": expires}
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": key,
                            "UpdateExpression": "ADD #kind :one, suppressed :one",
                            "ExpressionAttributeNames": {"#kind": f"k_{kind.value}"},
                            "ExpressionAttributeValues": _values(one=1),
                        }
                    },
                ],
            )
        return False

    def storm_windows(self, brand_id: str, *, ended_by: datetime) -> list[StormWindow]:
        """Windows with alerts folded into a summary not sent yet, that have ended by then."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "FilterExpression": "suppressed > :zero AND attribute_not_exists(summarized)",
            "ExpressionAttributeValues": _values(
                pk=f"BRAND#{brand_id}",
                first=f"STORM#{iso(ended_by - timedelta(days=1))}",
                last=f"STORM#{iso(ended_by)}",
                zero=0,
            ),
        }
        found = []
        for item in _query_all(self._client, request):
            start = datetime.strptime(item["sk"][len("STORM#") :], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            end = start + timedelta(minutes=int(item.get("window_minutes", 0)))
            if end > ended_by:
                continue
            suppressed = {name[2:]: int(count) for name, count in item.items() if name.startswith("k_") and int(count)}
            found.append(StormWindow(brand_id=brand_id, start=start, end=end, suppressed=suppressed))
        return found

    def close_storm_window(self, window: StormWindow) -> bool:
        """Mark a window's summary sent. False: another sweep did."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_serialize({"pk": f"BRAND#{window.brand_id}", "sk": f"STORM#{iso(window.start)}"}),
                UpdateExpression="SET summarized = :true",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(summarized)",
                ExpressionAttributeValues=_values(true=True),
            )
        except ClientError as error:
            if not _cancelled_by_condition(error):
                raise
            return False
        return True

    def _put(self, item: dict[str, Any]) -> None:
        self._client.put_item(TableName=self._table, Item=_serialize(item))

    def _delete(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.delete_item(
            TableName=self._table, Key=_serialize({"pk": pk, "sk": sk}), ReturnValues="ALL_OLD"
        )
        old = response.get("Attributes")
        return _plain_tree(_deserialize(old)) if old else None

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key=_serialize({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        item = response.get("Item")
        return _plain_tree(_deserialize(item)) if item else None

    def _query(self, pk: str, prefix: str | None = None) -> Iterator[dict[str, Any]]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values = _values(pk=pk, **({"prefix": prefix} if prefix else {}))
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        for item in _query_all(self._client, request):
            yield _plain_tree(item)


def _transact(client: Any, items: list[dict[str, Any]]) -> None:
    """All or nothing. A failed condition is a :class:`Conflict`; a clash with another
    transaction on a shared item (a day or totals counter) is retried, conditions and all."""
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            client.transact_write_items(TransactItems=items)
            return
        except ClientError as error:
            if _cancelled_by_condition(error):
                raise Conflict() from error
            if not _cancelled_by_contention(error):
                raise
            if attempt == TRANSACTION_ATTEMPTS:
                raise Busy() from error
        time.sleep(random.uniform(0.5, 1.5) * TRANSACTION_BACKOFF_SECONDS * 2**attempt)  # noqa: S311 - jitter


_AUDITED = tuple(audit.MessageState.__dataclass_fields__)


def _state(item: Mapping[str, Any]) -> audit.MessageState:
    """A scanned message's counted state (the attributes in ``_AUDITED``)."""

    def moment(name: str) -> datetime | None:
        value = item.get(name)
        return datetime.fromisoformat(value) if value else None

    def kind(enum: Any, name: str) -> Any:
        value = item.get(name)
        return enum(value) if value else None

    seconds = item.get("first_response_seconds")
    return audit.MessageState(
        platform=item["platform"],
        created_at=datetime.fromisoformat(item["created_at"]),
        counted=bool(item.get("counted")),
        status=kind(MessageStatus, "status"),
        wait=kind(Wait, "wait"),
        sentiment=kind(Sentiment, "sentiment"),
        intent=kind(Intent, "intent"),
        due_at=moment("due_at"),
        overdue_at=moment("overdue_at"),
        first_response_at=moment("first_response_at"),
        first_response_seconds=None if seconds is None else int(seconds),
    )


def _plain_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain_tree(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain_tree(inner) for inner in value]
    return _plain(value)
