"""The demo scenario through the real handlers, with moto standing in for AWS."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from infra.local.fake_mastodon import FakeMastodon
from infra.local.seed import seed
from tests.support import aws
from tests.support.events import rest_event
from tests.support.expected import alert_keys, assert_stats_match, expected


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

    sent = alert_keys([(to, email["subject"]) for email in aws.sent_emails() for to in email["to"]], aws.sent_sms())
    assert sorted(sent) == sorted(want.alerts), "exactly one alert per recipient, channel, kind and message"

    status, stats = api_get(handlers, "/brands/acme/stats")
    assert status == 200, stats
    assert_stats_match(stats, want)


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
    for figures in (before_stats, after_stats):
        figures.pop("as_of")
        figures["backlog"].pop("oldest_open_age_seconds")
    assert after_stats == before_stats
    assert (len(aws.sent_emails()), len(aws.sent_sms())) == before_alerts


def test_a_page_token_for_another_list_or_a_forged_one_is_a_400(handlers: dict, pump: aws.StreamPump) -> None:
    run_scenario(handlers, pump, datetime.now(UTC))
    status, first = api_get(handlers, "/brands/acme/messages", "status=open&limit=2")
    assert status == 200, first
    assert len(first["items"]) == 2 and first["next"]
    status, second = api_get(handlers, "/brands/acme/messages", f"status=open&limit=2&next={first['next']}")
    assert status == 200
    assert {item["key"] for item in second["items"]}.isdisjoint(item["key"] for item in first["items"])

    # The same token on another list, and a well-formed token naming another partition.
    status, body = api_get(handlers, "/brands/acme/messages", f"status=overdue&next={first['next']}")
    assert status == 400 and body["message"]
    forged = base64.urlsafe_b64encode(
        json.dumps({"pk": {"S": "x"}, "queue_pk": {"S": "other#open"}, "created_at": {"N": "1"}}).encode()
    ).decode()
    status, body = api_get(handlers, "/brands/acme/messages", f"status=open&next={forged}")
    assert status == 400 and body["message"]


def test_an_expired_unanswered_message_leaves_the_backlog_once(handlers: dict, pump: aws.StreamPump) -> None:
    run_scenario(handlers, pump, datetime.now(UTC))
    before = handlers["api"].runtime.messages.backlog("acme")
    page = handlers["api"].runtime.messages.queue("acme", "overdue", limit=1)
    [waiting] = page.messages
    answered = next(
        item for item in aws.iter_table(aws.MESSAGES_TABLE) if item.get("status", {}).get("S") == "answered"
    )
    client = boto3.client("dynamodb", region_name=aws.REGION)
    # What TTL does when a message reaches the end of its retention (here, two of them).
    client.delete_item(TableName=aws.MESSAGES_TABLE, Key={"pk": {"S": waiting.key}})
    client.delete_item(TableName=aws.MESSAGES_TABLE, Key={"pk": answered["pk"]})
    removals = [record for record in pump.new_records() if record["eventName"] == "REMOVE"]
    assert len(removals) == 2
    for _ in range(2):  # delivered twice
        assert handlers["process"].lambda_handler(aws.stream_event(removals), aws.LambdaContext()) == {
            "batchItemFailures": []
        }
    after = handlers["api"].runtime.messages.backlog("acme")
    assert (after.open, after.overdue) == (before.open - 1, before.overdue - 1)


def test_one_poll_at_a_time_a_second_one_stops_without_polling(handlers: dict, pump: aws.StreamPump) -> None:
    poll, context, now = handlers["poll"], aws.LambdaContext(), datetime.now(UTC)
    state = poll.runtime.state
    assert state.take_lease("poll", "a-slow-poll", now=now, until=now + timedelta(minutes=5))
    with FakeMastodon(now=now) as fake:
        seed(state, boto3.client("secretsmanager", region_name=aws.REGION), fake.base_url)
        assert poll.lambda_handler({}, context) == {"stored": 0, "sources": [], "skipped": "another poll is running"}
        assert pump.new_records() == []
        state.give_up_lease("poll", "someone-else")  # not the holder: nothing given up
        assert poll.lambda_handler({}, context)["skipped"] == "another poll is running"
        state.give_up_lease("poll", "a-slow-poll")
        assert poll.lambda_handler({}, context)["stored"] > 0
        # ... and it gave its own lease up: the next poll runs (and finds nothing new).
        again = poll.lambda_handler({}, context)
        assert "skipped" not in again and again["stored"] == 0 and again["sources"]
