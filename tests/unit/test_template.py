"""What template.yaml promises, checked on the template itself (MiniStack ignores PITR, SSE and TTL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from replywatch.api import create_app
from tests.support.template import ROOT, resource, template


def functions() -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template()["Resources"].items() if body["Type"] == "AWS::Serverless::Function"}


@pytest.mark.parametrize("table", ["MessagesTable", "StateTable"])
def test_tables_are_on_demand_encrypted_recoverable_and_expire_items(table: str) -> None:
    props = resource(table)["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert resource(table)["DeletionPolicy"] == "Retain"


def test_the_messages_stream_drives_process_with_partial_failures_bounded_retries_and_a_failure_queue() -> None:
    assert resource("MessagesTable")["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    stream = resource("ProcessFunction")["Properties"]["Events"]["Stream"]["Properties"]
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["MaximumRetryAttempts"] == {"Ref": "StreamMaxRetries"}
    assert stream["MaximumRecordAgeInSeconds"] == {"Ref": "StreamMaxRecordAgeSeconds"}
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": "ProcessFailureQueue.Arn"}
    assert stream["FilterCriteria"]["Filters"] == [{"Pattern": '{"eventName": ["INSERT", "REMOVE"]}'}]


def test_functions_run_python_313_on_a_parameterised_architecture_defaulting_to_arm64() -> None:
    globals_ = template()["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == [{"Ref": "Architecture"}]
    assert template()["Parameters"]["Architecture"]["Default"] == "arm64"
    # the stack's name: client stacks in one account keep their metrics apart
    assert globals_["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}


def test_every_function_logs_to_its_own_group_kept_for_a_parameterised_time() -> None:
    groups = set()
    for name, body in functions().items():
        group = body["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resource(group)["Type"] == "AWS::Logs::LogGroup", name
        assert resource(group)["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups.add(group)
    assert len(groups) == len(functions()), "one group per function: an operator reads one function's logs"
    assert template()["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_poll_and_sweep_run_on_schedules_whose_rate_is_a_parameter() -> None:
    for function, parameter in (("PollFunction", "PollSchedule"), ("SweepFunction", "SweepSchedule")):
        event = resource(function)["Properties"]["Events"]["Schedule"]
        assert event["Properties"]["Schedule"] == {"Ref": parameter}
        assert template()["Parameters"][parameter]["Default"] == "rate(1 minute)"


def test_the_api_requires_iam_and_routes_every_path_the_code_serves() -> None:
    assert resource("Api")["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    paths = {event["Properties"]["Path"] for event in resource("ApiFunction")["Properties"]["Events"].values()}
    served = create_app(messages=None, brands=None, clock=lambda: datetime.now(UTC)).get_openapi_schema().paths  # type: ignore[arg-type]
    assert served is not None
    assert paths == {*served, "/openapi.json", "/docs", "/dashboard"}


# Without IAM: two pages that hold no data, and the dashboard's figures, which need a read-only key
# checked in the function (and answer 403 unless the stack's DashboardAccess is api-keys).
PUBLIC_API_ROUTES = {
    ("/docs", "GET"),
    ("/dashboard", "GET"),
    ("/dashboard/api/brands", "GET"),
    ("/dashboard/api/brands/{brand_id}/stats", "GET"),
    ("/dashboard/api/brands/{brand_id}/stats/timeseries", "GET"),
}


def test_the_api_function_opens_only_pages_and_keyed_read_routes_without_iam() -> None:
    events = resource("ApiFunction")["Properties"]["Events"].values()
    public = {
        (event["Properties"]["Path"], event["Properties"]["Method"])
        for event in events
        if event["Properties"].get("Auth") == {"Authorizer": "NONE"}
    }
    assert public == PUBLIC_API_ROUTES
    for event in events:
        assert event["Properties"].get("Auth") in (None, {"Authorizer": "NONE"})
    assert template()["Parameters"]["DashboardAccess"]["Default"] == "iam-only"


def test_no_secret_or_token_is_passed_in_environment_variables() -> None:
    for name, body in {"Globals": template()["Globals"]["Function"], **functions()}.items():
        variables = body.get("Properties", body).get("Environment", {}).get("Variables", {})
        assert not [key for key in variables if any(word in key.upper() for word in ("TOKEN", "SECRET", "PASSWORD"))], (
            name
        )


def test_poll_and_webhook_read_source_secrets_under_the_prefix_and_only_the_webhook_the_meta_app_secret() -> None:
    readers: dict[str, list[str]] = {}
    for name, body in functions().items():
        for policy in body["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if "secretsmanager" in str(statement["Action"]):
                    assert statement["Action"] == "secretsmanager:GetSecretValue", name
                    assert statement["Effect"] == "Allow", name
                    readers.setdefault(name, []).append(statement["Resource"]["Fn::Sub"])
    assert sorted(readers) == ["PollFunction", "WebhookFunction"]
    arn = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    assert readers["PollFunction"] == [f"{arn}${{SecretPrefix}}*"]
    # The Meta app secret: its name and the six characters Secrets Manager appends, no wildcard beyond;
    # source tokens (an Instagram mention is read with the account's token) under the prefix.
    app_secret, source_tokens = f"{arn}${{MetaAppSecretName}}-??????", f"{arn}${{SecretPrefix}}*"
    assert sorted(readers["WebhookFunction"]) == sorted([app_secret, source_tokens])
    for name, body in functions().items():
        if name != "WebhookFunction":
            assert "MetaAppSecretName" not in str(body), f"{name} must not name the Meta app secret"


def test_meta_webhooks_are_public_routes_of_the_api_and_nothing_else_is() -> None:
    events = resource("WebhookFunction")["Properties"]["Events"].values()
    routes = {(event["Properties"]["Path"], event["Properties"]["Method"]) for event in events}
    assert routes == {("/webhooks/meta", "GET"), ("/webhooks/meta", "POST")}
    for event in events:
        assert event["Type"] == "Api" and event["Properties"]["RestApiId"] == {"Ref": "Api"}
        assert event["Properties"]["Auth"] == {"Authorizer": "NONE"}
    for name, body in functions().items():
        if name not in ("WebhookFunction", "ApiFunction"):  # the API function's: see PUBLIC_API_ROUTES
            for event in body["Properties"].get("Events", {}).values():
                assert "Auth" not in event["Properties"], f"{name} must keep the API's IAM authorizer"


def test_the_webhook_may_only_put_and_get_messages_and_read_state() -> None:
    props = resource("WebhookFunction")["Properties"]
    assert props["Environment"]["Variables"] == {"META_APP_CREDENTIALS_NAME": {"Ref": "MetaAppSecretName"}}
    default = template()["Parameters"]["MetaAppSecretName"]["Default"]
    assert not default.startswith(template()["Parameters"]["SecretPrefix"]["Default"]), "outside the token prefix"
    policies = props["Policies"]
    assert {"DynamoDBReadPolicy": {"TableName": {"Ref": "StateTable"}}} in policies
    assert "Crud" not in str(policies) and {"Ref": "AlertSendingPolicy"} not in policies
    statements = [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]
    dynamodb = [s for s in statements if "dynamodb:" in str(s["Action"])]
    assert dynamodb == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:GetItem"],
            "Resource": {"Fn::GetAtt": "MessagesTable.Arn"},
        }
    ]


def test_email_may_only_be_sent_from_the_alert_sender_and_sms_never_to_topics() -> None:
    statements = resource("AlertSendingPolicy")["Properties"]["PolicyDocument"]["Statement"]
    ses = next(s for s in statements if s["Action"] == "ses:SendEmail")
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "AlertSender"}}}
    deny = next(s for s in statements if s["Effect"] == "Deny")
    assert deny["Action"] == "sns:Publish"
    senders = [
        name for name, body in functions().items() if {"Ref": "AlertSendingPolicy"} in body["Properties"]["Policies"]
    ]
    assert sorted(senders) == ["DigestFunction", "PollFunction", "ProcessFunction", "SweepFunction"]
    for name, body in functions().items():
        inline = str([p for p in body["Properties"].get("Policies", []) if isinstance(p, dict) and "Statement" in p])
        assert "ses:" not in inline and "sns:" not in inline, f"{name} may only send through AlertSendingPolicy"
    api_policies = str(resource("ApiFunction")["Properties"]["Policies"])
    assert "DynamoDBReadPolicy" in api_policies and "Crud" not in api_policies


def test_with_an_alarm_email_the_stack_watches_its_own_failures() -> None:
    resources = template()["Resources"]
    alarms = {name: r for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert all(alarm["Condition"] == "HasAlarmEmail" for alarm in alarms.values())
    assert resources["AlarmTopic"]["Condition"] == "HasAlarmEmail"
    assert template()["Parameters"]["AlarmEmail"]["Default"] == ""
    watched = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"]["Dimensions"]
        for a in alarms.values()
        if a["Properties"]["Namespace"] != "AWS/Lambda"
    }
    # the metric names and dimensions the handlers publish (Powertools: service = the stack's name)
    service = [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
    assert watched[("ReplyWatch", "AlertsFailed")] == service
    assert watched[("ReplyWatch", "DigestsFailed")] == service
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in watched
    functions = {name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    errors = {
        a["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for a in alarms.values()
        if a["Properties"]["MetricName"] == "Errors"
    }
    assert errors == functions
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    namespace = template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == "ReplyWatch"
    for function in ("sweep", "digest"):
        source = (ROOT / "functions" / function / "app.py").read_text()
        assert 'name="AlertsFailed"' in source or 'name="DigestsFailed"' in source
