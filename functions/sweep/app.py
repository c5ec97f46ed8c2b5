"""Scheduled every minute: warn, flag and escalate unanswered messages as their due time comes;
send storm summaries and SMS held for quiet hours."""

import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from replywatch.runtime import Runtime, Settings
from replywatch.sweeping import LOOKAHEAD

logger = Logger()
tracer = Tracer()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"replywatch"})
runtime = Runtime(Settings.from_env())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = swept = datetime.now(UTC)
    report = runtime.sweeper.sweep(started)
    # A stage coming due in the next few seconds (or while that sweep ran) is waited for:
    # the next scheduled run is a minute away.
    while (upcoming := runtime.sweeper.next_due(swept, started + LOOKAHEAD)) is not None:
        time.sleep(max(0.0, (upcoming - datetime.now(UTC)).total_seconds()))
        swept = datetime.now(UTC)
        report.add(runtime.sweeper.sweep(swept))
    metrics.add_metric(name="MessagesOverdue", unit=MetricUnit.Count, value=len(report.flagged))
    metrics.add_metric(name="MessagesWarned", unit=MetricUnit.Count, value=len(report.warned))
    metrics.add_metric(name="MessagesEscalated", unit=MetricUnit.Count, value=len(report.escalated))
    metrics.add_metric(name="StormSummaries", unit=MetricUnit.Count, value=report.summaries)
    metrics.add_metric(name="AlertsFailed", unit=MetricUnit.Count, value=report.alerts_failed)
    return {
        "flagged": report.flagged,
        "warned": report.warned,
        "escalated": report.escalated,
        "summaries": report.summaries,
        "failed": report.failed,
        "alerts_failed": report.alerts_failed,
    }
