"""The demo scenario through the real handlers, with moto standing in for AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from infra.local.fake_mastodon import FakeMastodon
from infra.local.seed import seed
from tests.support import aws
from tests.support.events import rest_event
from tests.support.expected import alert_keys, expected


@pytest.fixture
def handlers(aws_env: None) -> dict:
    return {name: aws.load_handler(name) for name in ("poll", "process", "sweep", "api")}


def run_scenario(handlers: dict, pump: aws.StreamPump, now: datetime) -> tuple[datetime, list[dict]]:
    context = aws.LambdaContext()
    with FakeMastodon(now=now) as fake:
        seed(handlers["poll"].runtime.state, boto3.client("secretsmanager", region_name=aws.REGION), fake.base_url)
        report = handlers["poll"].lambda_handler({}, context)
    assert report["stored"] > 0
    records = pump.new_records()
    assert handlers["process"].lambda_handler(aws.stream_event(records), context) == {"batchItemFailures": []}
    swept_at = datetime.now(UTC)
    handlers["sweep"].lambda_handler({}, context)
    return swept_at, records


def api_get(handlers: dict, path: str, query: str = "") -> tuple[int, dict]:
    response = handlers["api"].lambda_handler(rest_event(path, query), aws.LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_scenario_gives_the_expected_alerts_and_stats(handlers: dict, pump: aws.StreamPump) -> None:
    now = datetime.now(UTC)
    swept_at, _ = run_scenario(handlers, pump, now)
    want = expected(now, swept_at)

    sent = alert_keys(
        [(to, email["subject"]) for email in aws.sent_emails() for to in email["to"]], aws.sent_sms()
    )
    assert sorted(sent) == sorted(want.alerts), "exactly one alert per recipient, channel, kind and message"

    status, stats = api_get(handlers, "/brands/acme/stats")
    assert status == 200, stats
    assert stats["received"] == want.received
    assert stats["responded"] == want.responded
    assert stats["response_rate"] == round(want.responded / want.received, 4)
    assert stats["first_response_mean_seconds"] == round(want.mean, 2)
    assert stats["within_sla_percent"] == round(100 * want.within_sla / want.received, 2)
    assert stats["negative"] == want.negative
    assert stats["open"] == want.open
    assert stats["overdue"] == want.overdue
    as_of = datetime.fromisoformat(stats["as_of"])
    assert stats["oldest_open_age_seconds"] == int((as_of - want.oldest_open_at).total_seconds())
    for name, q in (("first_response_median_seconds", 0.5), ("first_response_p90_seconds", 0.9)):
        exact = want.nearest_rank(q)
        assert abs(stats[name] - exact) <= 0.01 * exact + 0.05, (name, stats[name], exact)


def test_redelivered_stream_batch_changes_neither_stats_nor_alerts(handlers: dict, pump: aws.StreamPump) -> None:
    now = datetime.now(UTC)
    _, records = run_scenario(handlers, pump, now)
    week = f"from={(now - timedelta(days=7)).date()}"
    status, before_stats = api_get(handlers, "/brands/acme/stats", week)
    assert status == 200, before_stats
    before_alerts = (len(aws.sent_emails()), len(aws.sent_sms()))

    # The event source mapping delivers the same batch again (and a later batch of
    # the pipeline's own updates, which must be ignored).
    redelivery = records + pump.new_records()
    assert handlers["process"].lambda_handler(aws.stream_event(redelivery), aws.LambdaContext()) == {
        "batchItemFailures": []
    }
    handlers["sweep"].lambda_handler({}, aws.LambdaContext())

    after_stats = api_get(handlers, "/brands/acme/stats", week)[1]
    for volatile in ("as_of", "oldest_open_age_seconds"):
        before_stats.pop(volatile)
        after_stats.pop(volatile)
    assert after_stats == before_stats
    assert (len(aws.sent_emails()), len(aws.sent_sms())) == before_alerts
