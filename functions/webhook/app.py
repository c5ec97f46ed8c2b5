"""API Gateway (no IAM: Meta calls it), GET and POST /webhooks/meta: Meta's webhooks for Pages
and Instagram. The handshake answers with the challenge; deliveries are verified against the
app secret before anything in them is read, then stored like polled messages. An Instagram
@mention names a comment only: it is read from Graph with the source's token."""

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from replywatch import webhooks
from replywatch.runtime import Runtime, Settings

logger = Logger()
tracer = Tracer()
copy_config_to_registered_loggers(source_logger=logger, include={"replywatch"})
runtime = Runtime(Settings.from_env())
# The name of the Secrets Manager secret holding {"app_secret": ..., "verify_token": ...}.
META_APP = os.environ["META_APP_CREDENTIALS_NAME"]
RETENTION = timedelta(days=runtime.settings.retention_days)
# Kept across invocations; short timeouts, as Meta waits only seconds for the answer.
GRAPH = httpx.Client(timeout=webhooks.GRAPH_TIMEOUT, headers={"User-Agent": "ReplyWatch"})


def meta_app() -> webhooks.MetaApp:
    return webhooks.MetaApp.from_secret(runtime.secrets.read(META_APP))


def source_secret(name: str) -> str:
    """A source's token secret (cached for a few minutes, like the app secret)."""
    return runtime.secrets.read(name)


MENTIONS = webhooks.MentionReader(secret=source_secret, client=GRAPH)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reply = webhooks.handle(
        webhooks.request_from_api_gateway(event),
        app=meta_app,
        state=runtime.state,
        messages=runtime.messages,
        now=datetime.now(UTC),
        retention=RETENTION,
        mentions=MENTIONS,
    )
    return webhooks.api_gateway_response(reply)
