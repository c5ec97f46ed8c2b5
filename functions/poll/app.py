"""Scheduled: poll every due source for new messages and the brand's replies."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from replywatch.runtime import Runtime, Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"replywatch"})
runtime = Runtime(Settings.from_env())


async def _poll() -> dict[str, Any]:
    timeout = httpx.Timeout(runtime.settings.http_timeout_seconds)
    limits = httpx.Limits(max_connections=runtime.settings.poll_concurrency * 2)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, headers={"User-Agent": "ReplyWatch"}) as client:
        report = await runtime.poller.poll_all(client, datetime.now(UTC))
    metrics.add_metric(name="MessagesStored", unit=MetricUnit.Count, value=report.stored)
    return {"stored": report.stored, "sources": [vars(source) for source in report.sources]}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asyncio.run(_poll())
