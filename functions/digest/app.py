"""Scheduled hourly: each brand whose local digest hour has come gets its daily digest, once."""

from datetime import UTC, datetime
from typing import Any

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


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = runtime.digest.run(datetime.now(UTC))
    metrics.add_metric(name="DigestsSent", unit=MetricUnit.Count, value=len(report.sent))
    metrics.add_metric(name="DigestsFailed", unit=MetricUnit.Count, value=len(report.failed))
    return {"sent": report.sent, "failed": report.failed}
