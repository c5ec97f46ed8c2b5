"""The daily digest against the real store (moto): the brand's own local days, each counted
exactly, and one email per recipient and day however often the function runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import boto3

from replywatch.classify import default_classifier
from replywatch.digest import DigestSender
from replywatch.models import Brand, Recipient, SlaPolicy
from replywatch.processing import Processor
from replywatch.store import MessageStore, StateStore
from tests.integration.test_alert_ladder import NEUTRAL, RecordingNotifier, customer_message
from tests.support import aws

SLA = SlaPolicy(first_response_seconds=3600)
TOKYO = "Asia/Tokyo"  # UTC+9: a local day runs from 15:00 UTC the day before
READER = Recipient(
    brand_id="acme", recipient_id="lead", name="Lead", email="lead@acme.example", alert_kinds=frozenset({"digest"})
)


def test_the_digest_reports_the_brands_local_yesterday_against_its_seven_local_days_before(aws_env: None) -> None:
    client = boto3.client("dynamodb", region_name=aws.REGION)
    messages, state = MessageStore(client, aws.MESSAGES_TABLE, aws.STATE_TABLE), StateStore(client, aws.STATE_TABLE)
    state.put_brand(Brand(brand_id="acme", name="Acme", sla=SLA, timezone=TOKYO, digest_hour=8))
    state.put_recipient(READER)
    notifier = RecordingNotifier()
    processor = Processor(
        messages=messages, state=state, classifier=default_classifier(), notifier=notifier, default_sla=SLA
    )
    posted = [
        datetime(2026, 11, 21, 15, 30, tzinfo=UTC),  # 22 Nov 00:30 in Tokyo: yesterday (UTC says the 21st)
        datetime(2026, 11, 22, 14, 50, tzinfo=UTC),  # 22 Nov 23:50 in Tokyo: yesterday
        datetime(2026, 11, 22, 15, 10, tzinfo=UTC),  # 23 Nov 00:10 in Tokyo: today, not in the digest
        datetime(2026, 11, 21, 14, 59, tzinfo=UTC),  # 21 Nov 23:59 in Tokyo: the week before
        datetime(2026, 11, 14, 15, 0, tzinfo=UTC),  # 15 Nov 00:00 in Tokyo: the first day of the week before
        datetime(2026, 11, 14, 14, 59, tzinfo=UTC),  # 14 Nov 23:59 in Tokyo: before both
    ]
    for number, at in enumerate(posted):
        message = customer_message(number, NEUTRAL, at)
        assert messages.put_new(message, ingested_at=at, expires_at=at + timedelta(days=400))
        record = messages.get(message.key)
        assert record is not None
        processor.on_new_message(record, at)
    notifier.emails.clear()  # nothing of the above is a digest; keep only what the digest sends

    sender = DigestSender(stats=messages, state=state, notifier=notifier)
    assert sender.run(datetime(2026, 11, 22, 22, 59, tzinfo=UTC)).sent == []  # 07:59 in Tokyo: not yet
    report = sender.run(datetime(2026, 11, 22, 23, 0, tzinfo=UTC))  # 08:00 on 23 Nov in Tokyo
    assert report.sent == ["acme"] and report.failed == []
    again = sender.run(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))  # a later run the same local day
    assert again.sent == [] and again.failed == []

    [(to, content)] = notifier.emails
    assert to == READER.email
    assert f"Sun 22 Nov ({TOKYO})" in content.text
    # yesterday: the two posted on the 22nd in Tokyo; the week before: 2 in 7 days
    assert "New conversations: 2 (before: 0.3 a day)" in content.text
    assert date(2026, 11, 22).strftime("%d %b") in content.subject
