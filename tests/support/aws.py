"""moto-backed AWS for integration tests: the stack's tables, its handlers, its stream."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from tests.support.template import ROOT, create_tables

REGION = "us-east-1"
MESSAGES_TABLE = "rw-messages"
STATE_TABLE = "rw-state"
SENDER = "alerts@replywatch.example"

ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "MESSAGES_TABLE": MESSAGES_TABLE,
    "STATE_TABLE": STATE_TABLE,
    "ALERT_SENDER": SENDER,
    "DEFAULT_SLA_SECONDS": "3600",
    "POWERTOOLS_SERVICE_NAME": "replywatch",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "ReplyWatch",
    "POWERTOOLS_DEV": "false",
}


def load_handler(name: str) -> ModuleType:
    """Import functions/<name>/app.py afresh (its cold start builds clients inside moto)."""
    module_name = f"replywatch_fn_{name}"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class LambdaContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@dataclass
class StreamPump:
    """Reads the messages table's stream the way the event source mapping does."""

    streams: Any
    stream_arn: str
    _iterators: dict[str, str] = field(default_factory=dict)
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def new_records(self) -> list[dict[str, Any]]:
        records = []
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            response = self.streams.get_records(ShardIterator=self._iterators[shard_id])
            self._iterators[shard_id] = response["NextShardIterator"]
            records.extend(response["Records"])
        for record in records:
            record["eventSourceARN"] = self.stream_arn
            record["dynamodb"].pop("ApproximateCreationDateTime", None)
        self.delivered.extend(records)
        return records


def stream_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": [_jsonable(record) for record in records]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_jsonable(inner) for inner in value]
    if isinstance(value, bytes):
        return value.decode()
    return value


def deploy_tables() -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    create_tables(client, {"MessagesTable": MESSAGES_TABLE, "StateTable": STATE_TABLE})


def sent_emails() -> list[dict[str, Any]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [
        {"to": list(message.destinations["ToAddresses"]), "subject": message.subject, "body": message.body}
        for message in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    ]


def sent_sms() -> list[tuple[str, str]]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return [(number, text) for number, text, *_ in sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values()]


def iter_table(table: str) -> Iterator[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION)
    for page in client.get_paginator("scan").paginate(TableName=table):
        yield from page["Items"]


HERE = Path(__file__).parent
