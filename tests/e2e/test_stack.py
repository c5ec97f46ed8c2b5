"""The demo scenario on the real template in MiniStack: exact alerts, exact stats, a guarded API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from infra.local import scenario
from infra.local.demo import DemoRun
from infra.local.fake_mastodon import FakeMastodon
from infra.local.stack import LocalStack
from replywatch.cli import main
from replywatch.store import StateStore
from tests.support.expected import alert_keys, assert_stats_match, expected


def test_every_expected_alert_is_sent_exactly_once(demo_run: DemoRun) -> None:
    want = expected(demo_run.now, demo_run.swept_at)
    sent = alert_keys(
        [(to, email["Subject"]) for email in demo_run.emails for to in email["To"]],
        [(sms["PhoneNumber"], sms["Message"]) for sms in demo_run.sms],
    )
    assert sorted(sent) == sorted(want.alerts)


def test_stats_from_the_api_match_the_scenario(demo_run: DemoRun) -> None:
    want = expected(demo_run.now, demo_run.swept_at)
    stats = demo_run.stats
    assert_stats_match(stats, want)


def test_overdue_queue_lists_the_overdue_messages(demo_run: DemoRun) -> None:
    want = expected(demo_run.now, demo_run.swept_at)
    handles = sorted(item["author_handle"] for item in demo_run.overdue["items"])
    assert len(handles) == want.overdue
    assert all(item["status"] == "overdue" for item in demo_run.overdue["items"])


def test_customer_words_arrive_escaped_in_html_email(demo_run: DemoRun) -> None:
    noor = [email for email in demo_run.emails if email["Subject"].endswith("@noor")]
    assert noor, "the scenario's message with markup raised alerts"
    for email in noor:
        assert "<script>" not in email["BodyHtml"]
        assert "&lt;script&gt;" in email["BodyHtml"]
        assert "<script>x()</script>" in email["BodyText"]


def test_polling_and_sweeping_again_change_nothing(stack: LocalStack, demo_run: DemoRun) -> None:
    before = (len(stack.emails()), len(stack.sms()))
    with FakeMastodon(now=demo_run.now, port=_source_port(stack)):
        again = stack.invoke("PollFunctionName")
    assert again["stored"] == 0
    assert stack.invoke("SweepFunctionName")["flagged"] == []
    assert (len(stack.emails()), len(stack.sms())) == before
    status, stats = stack.api_get(f"/brands/{scenario.BRAND_ID}/stats?from={demo_run.stats['from']}")
    assert status == 200
    for name in ("received", "responded", "first_response_mean_seconds", "overdue", "negative"):
        assert stats[name] == demo_run.stats[name], name
    for name in ("open", "overdue"):
        assert stats["backlog"][name] == demo_run.stats["backlog"][name], name


def test_the_stacks_statistics_audit_clean_against_its_messages(
    stack: LocalStack, demo_run: DemoRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in stack.aws_env().items():
        monkeypatch.setenv(name, value)
    week_ago, today = (demo_run.now - timedelta(days=6)).date().isoformat(), demo_run.now.date().isoformat()
    code = main(["--stack", stack.stack_name, "audit-stats", scenario.BRAND_ID, "--from", week_ago, "--to", today])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["messages_counted"] == demo_run.stats["received"] + demo_run.stats["next_response"]["received"]
    assert report["drift"] == [] and report["backlog_drift"] == [] and report["items_checked"] > 0


def test_the_report_gives_the_figures_the_stacks_api_serves(
    stack: LocalStack, demo_run: DemoRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in stack.aws_env().items():
        monkeypatch.setenv(name, value)
    week_ago, today = (demo_run.now - timedelta(days=6)).date().isoformat(), demo_run.now.date().isoformat()
    # other tests add brands to the same stack: the demo brand's row is the one compared
    args = ["--from", week_ago, "--to", today, "--brand", scenario.BRAND_ID, "--format", "json"]
    assert main(["--stack", stack.stack_name, "report", *args]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    status, served = stack.api_get(f"/brands/{scenario.BRAND_ID}/stats?from={week_ago}&to={today}")
    assert status == 200
    assert (row["stack"], row["brand"]) == (stack.stack_name, scenario.BRAND_ID)
    assert row["conversations"] == served["received"] > 0
    for name in ("first_response_p50_seconds", "first_response_p90_seconds", "within_sla_percent", "overdue"):
        assert row[name] == served[name], name
    assert row["open_now"] == served["backlog"]["open"]


def _source_port(stack: LocalStack) -> int:
    """The port the demo's fake Mastodon server had, as the source stored it."""
    state = StateStore(stack.client("dynamodb"), stack.outputs["StateTableName"])
    (source, _), *_ = state.list_sources()
    return int(source.base_url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/brands/nobody/stats", 404),
        ("/brands/acme/stats?from=yesterday", 400),
        ("/brands/acme/stats?from=2026-02-10&to=2026-02-01", 400),
        ("/brands/acme/stats?from=2024-01-01&to=2026-01-01", 400),
        ("/brands/acme/messages?status=everything", 400),
        ("/brands/acme/messages?next=not-a-token", 400),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(stack: LocalStack, demo_run: DemoRun, path: str, status: int) -> None:
    got, body = stack.api_get(path)
    assert got == status, body
    assert body["message"]


def test_api_refuses_unsigned_requests(stack: LocalStack) -> None:
    got, _ = stack.api_get(f"/brands/{scenario.BRAND_ID}/stats", sign=False)
    assert got == 403


def test_api_serves_its_openapi_document(stack: LocalStack) -> None:
    got, document = stack.api_get("/openapi.json")
    assert got == 200
    assert "/brands/{brand_id}/stats" in document["paths"]
    assert "/brands/{brand_id}/messages" in document["paths"]


def test_function_logs_never_hold_message_text_tokens_or_phone_numbers(stack: LocalStack, demo_run: DemoRun) -> None:
    logs, functions = stack.client("logs"), stack.client("lambda")
    lines = []
    for output in ("PollFunctionName", "ProcessFunctionName", "SweepFunctionName", "ApiFunctionName"):
        # the stack's own log group (kept LogRetentionDays), not Lambda's default /aws/lambda/<name>
        group = functions.get_function_configuration(FunctionName=stack.outputs[output])["LoggingConfig"]["LogGroup"]
        assert not group.startswith("/aws/lambda/"), group
        (described,) = [
            g for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] if g["logGroupName"] == group
        ]
        assert described["retentionInDays"] == 30
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
            lines += [event["message"] for event in page["events"]]
    text = "\n".join(lines)
    assert "source polled" in text and "alert sent" in text, "the functions' logs were read"
    secrets = [scenario.TOKEN, *(phone for *_, phone, _kinds in scenario.RECIPIENTS if phone)]
    secrets += [email for _rid, _name, email, _phone, _kinds in scenario.RECIPIENTS if email]
    # Whole sentences of what customers wrote (the @mention prefix removed, as it is also a handle).
    secrets += [mention.text.split(" ", 1)[1] for mention in scenario.MENTIONS]
    leaked = [secret for secret in secrets if secret in text]
    assert leaked == []


def test_the_demo_source_is_healthy_in_the_sources_api(demo_run: DemoRun) -> None:
    (source,) = demo_run.sources["items"]
    assert (source["source_id"], source["platform"], source["health"]) == (scenario.SOURCE_ID, "mastodon", "ok")
    assert source["needs_reconnect"] is False and source["incidents"] == []
    assert source["last_ok_at"] and source["last_inbound_at"], "polled, and customer messages arrived"
