"""Scheduled: poll every due source for new messages and the brand's replies."""

import asyncio
from datetime import UTC, datetime, timedelta
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
LEASE = "poll"
LEASE_MARGIN = timedelta(seconds=10)
# The run stops its requests this long before the Lambda would be stopped, to save what it read.
SAVE_MARGIN_SECONDS = 20.0


async def _poll(time_left: float) -> dict[str, Any]:
    timeout = httpx.Timeout(runtime.settings.http_timeout_seconds)
    limits = httpx.Limits(max_connections=runtime.settings.poll_concurrency * 2)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, headers={"User-Agent": "ReplyWatch"}) as client:
        report = await runtime.poller.poll_all(client, datetime.now(UTC), time_left=time_left)
    metrics.add_metric(name="MessagesStored", unit=MetricUnit.Count, value=report.stored)
    if report.deferred:
        metrics.add_metric(name="SourcesDeferred", unit=MetricUnit.Count, value=report.deferred)
    return {
        "stored": report.stored,
        "sources": [vars(source) for source in report.sources],
        "deferred": report.deferred,
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # One poll at a time: a slow run must not race the next one over cursors and rate-limit
    # pauses. A lease rather than reserved concurrency, which a new account's quota refuses.
    now = datetime.now(UTC)
    until = now + timedelta(milliseconds=context.get_remaining_time_in_millis()) + LEASE_MARGIN
    if not runtime.state.take_lease(LEASE, context.aws_request_id, now=now, until=until):
        logger.info("another poll is still running: this one stops")
        metrics.add_metric(name="PollsSkipped", unit=MetricUnit.Count, value=1)
        return {"stored": 0, "sources": [], "skipped": "another poll is running"}
    try:
        time_left = context.get_remaining_time_in_millis() / 1000 - SAVE_MARGIN_SECONDS
        return asyncio.run(_poll(max(time_left, 1.0)))
    finally:
        runtime.state.give_up_lease(LEASE, context.aws_request_id)
