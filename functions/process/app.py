"""DynamoDB stream: classify new messages, match brand replies, alert on negative ones;
take expired or deleted messages out of the live backlog.

Records fail one by one (ReportBatchItemFailures); every step is idempotent, so a
batch delivered twice changes nothing the second time.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord, DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from replywatch.models import MessageRecord
from replywatch.runtime import Runtime, Settings

logger = Logger()
tracer = Tracer()
copy_config_to_registered_loggers(source_logger=logger, include={"replywatch"})
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
runtime = Runtime(Settings.from_env())


def _message(image: dict[str, Any]) -> MessageRecord:
    return MessageRecord.model_validate({k: v for k, v in image.items() if k in MessageRecord.model_fields})


def _prepare(event: dict[str, Any]) -> None:
    """Classify the batch's new customer messages in one go (Comprehend takes 25 a call)."""
    new = []
    for record in DynamoDBStreamEvent(event).records:
        if record.event_name and record.event_name.name == "INSERT" and record.dynamodb is not None:
            try:
                new.append(_message(record.dynamodb.new_image))
            except ValidationError:
                continue  # record_handler logs it
    runtime.processor.prepare(new)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    event = record.event_name.name if record.event_name else None
    if event not in ("INSERT", "REMOVE") or record.dynamodb is None:
        return  # updates are the pipeline's own writes
    image = record.dynamodb.new_image if event == "INSERT" else record.dynamodb.old_image
    try:
        message = _message(image)
    except ValidationError:
        # A malformed item can never succeed: log it by key and drop it rather than block the shard.
        logger.error("unreadable message item", extra={"pk": image.get("pk")})
        return
    if event == "INSERT":
        runtime.processor.on_new_message(message, datetime.now(UTC))
    else:  # expired (TTL) or deleted: it no longer waits in the backlog
        runtime.processor.on_removed(message, datetime.now(UTC))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    _prepare(event)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
