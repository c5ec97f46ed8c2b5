"""A message whose stream record was lost is still processed: the sweep finds it pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from infra.local.fake_mastodon import FakeMastodon
from infra.local.seed import seed
from replywatch.store import PENDING_INDEX
from tests.support import aws
from tests.support.expected import alert_keys, expected


def pending_count() -> int:
    client = boto3.client("dynamodb", region_name=aws.REGION)
    return client.query(
        TableName=aws.MESSAGES_TABLE,
        IndexName=PENDING_INDEX,
        KeyConditionExpression="pending_pk = :b",
        ExpressionAttributeValues={":b": {"S": "acme"}},
        Select="COUNT",
    )["Count"]


def test_the_stream_settles_every_message_it_processes(aws_env: None, pump: aws.StreamPump) -> None:
    handlers = {name: aws.load_handler(name) for name in ("poll", "process")}
    with FakeMastodon() as fake:
        seed(handlers["poll"].runtime.state, boto3.client("secretsmanager", region_name=aws.REGION), fake.base_url)
        stored = handlers["poll"].lambda_handler({}, aws.LambdaContext())["stored"]
    assert pending_count() == stored > 0
    handlers["process"].lambda_handler(aws.stream_event(pump.new_records()), aws.LambdaContext())
    assert pending_count() == 0


def test_messages_the_stream_never_delivered_are_processed_by_a_later_sweep(aws_env: None) -> None:
    handlers = {name: aws.load_handler(name) for name in ("poll", "sweep", "api")}
    now = datetime.now(UTC)
    with FakeMastodon(now=now) as fake:
        seed(handlers["poll"].runtime.state, boto3.client("secretsmanager", region_name=aws.REGION), fake.base_url)
        stored = handlers["poll"].lambda_handler({}, aws.LambdaContext())["stored"]
    # No stream delivery at all. Within the grace period the sweep leaves them to the stream...
    sweeper = handlers["sweep"].runtime.sweeper
    assert sweeper.sweep(now + timedelta(minutes=1)).recovered == []
    # ...after it, it processes every one of them, then flags what is overdue.
    later = now + timedelta(minutes=6)
    report = sweeper.sweep(later)
    assert len(report.recovered) == stored > 0
    assert pending_count() == 0

    want = expected(now, later)
    sent = alert_keys([(to, email["subject"]) for email in aws.sent_emails() for to in email["to"]], aws.sent_sms())
    assert sorted(sent) == sorted(want.alerts)
    backlog = handlers["sweep"].runtime.messages.backlog("acme")
    assert (backlog.open, backlog.overdue) == (want.open, want.overdue)
    assert sweeper.sweep(later + timedelta(minutes=1)).recovered == []
