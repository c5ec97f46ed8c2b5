from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.support import aws


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in aws.ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        aws.deploy_tables()
        boto3.client("sesv2", region_name=aws.REGION).create_email_identity(EmailIdentity=aws.SENDER)
        yield


@pytest.fixture
def dynamodb(aws_env: None):  # type: ignore[no-untyped-def]
    return boto3.client("dynamodb", region_name=aws.REGION)


@pytest.fixture
def pump(dynamodb) -> aws.StreamPump:  # type: ignore[no-untyped-def]
    arn = dynamodb.describe_table(TableName=aws.MESSAGES_TABLE)["Table"]["LatestStreamArn"]
    # botocore now addresses streams by account (<id>.streams-ddb...), which moto does not route yet.
    streams = boto3.client(
        "dynamodbstreams", region_name=aws.REGION, endpoint_url=f"https://streams.dynamodb.{aws.REGION}.amazonaws.com"
    )
    return aws.StreamPump(streams, arn)
