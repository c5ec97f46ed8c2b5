"""API Gateway: per-brand stats, the message queue and resolutions (IAM); the dashboard (read-only keys)."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from replywatch.api import create_app
from replywatch.runtime import Runtime, Settings

logger = Logger()
tracer = Tracer()
copy_config_to_registered_loggers(source_logger=logger, include={"replywatch"})
runtime = Runtime(Settings.from_env())
app: APIGatewayRestResolver = create_app(
    runtime.messages,
    runtime.state,
    clock=lambda: datetime.now(UTC),
    api_keys=runtime.settings.dashboard_access == "api-keys",
)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
