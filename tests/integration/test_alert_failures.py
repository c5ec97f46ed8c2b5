"""An unreachable recipient must not stop a message from being flagged overdue."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from infra.local.fake_mastodon import FakeMastodon
from infra.local.seed import seed
from tests.support import aws
from tests.support.expected import expected


def test_sweep_flags_every_overdue_message_even_when_email_is_refused(aws_env: None, pump: aws.StreamPump) -> None:
    handlers = {name: aws.load_handler(name) for name in ("poll", "process", "sweep")}
    context = aws.LambdaContext()
    now = datetime.now(UTC)
    with FakeMastodon(now=now) as fake:
        seed(handlers["poll"].runtime.state, boto3.client("secretsmanager", region_name=aws.REGION), fake.base_url)
        handlers["poll"].lambda_handler({}, context)
    assert handlers["process"].lambda_handler(aws.stream_event(pump.new_records()), context) == {
        "batchItemFailures": []
    }
    emails_before, sms_before = len(aws.sent_emails()), len(aws.sent_sms())

    # SES now refuses every message (the sender identity is gone); SMS still works.
    boto3.client("sesv2", region_name=aws.REGION).delete_email_identity(EmailIdentity=aws.SENDER)
    swept_at = datetime.now(UTC)
    report = handlers["sweep"].lambda_handler({}, context)

    want = expected(now, swept_at)
    email_slots = sum(1 for _r, channel, kind, _a in want.alerts if channel == "email" and kind == "overdue")
    sms_slots = sum(1 for _r, channel, kind, _a in want.alerts if channel == "sms" and kind == "overdue")
    assert len(report["flagged"]) == want.overdue
    assert report["failed"] == []
    assert report["alerts_failed"] == email_slots
    assert len(aws.sent_emails()) == emails_before
    assert len(aws.sent_sms()) == sms_before + sms_slots
    # Flagged once: a second sweep finds nothing left to flag.
    assert handlers["sweep"].lambda_handler({}, context)["flagged"] == []
