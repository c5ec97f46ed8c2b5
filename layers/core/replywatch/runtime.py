"""Cold-start wiring: settings from the environment and AWS clients, built once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from pydantic import BaseModel, ConfigDict, Field

from replywatch.alerts import AwsNotifier
from replywatch.classify import Classifier, build_classifier
from replywatch.digest import DigestSender
from replywatch.models import SlaPolicy
from replywatch.polling import Poller
from replywatch.processing import Processor
from replywatch.store import MessageStore, StateStore
from replywatch.sweeping import Sweeper

SECRET_CACHE_SECONDS = 300


class Settings(BaseModel):
    """Every environment variable a function reads, validated at cold start."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    messages_table: Annotated[str, Field(alias="MESSAGES_TABLE", min_length=1)]
    state_table: Annotated[str, Field(alias="STATE_TABLE", min_length=1)]
    alert_sender: Annotated[str, Field(alias="ALERT_SENDER", default="alerts@example.com")]
    default_sla_seconds: Annotated[int, Field(alias="DEFAULT_SLA_SECONDS", default=3600, gt=0)]
    retention_days: Annotated[int, Field(alias="RETENTION_DAYS", default=400, gt=0)]
    max_pages_per_source: Annotated[int, Field(alias="MAX_PAGES_PER_SOURCE", default=10, gt=0)]
    poll_concurrency: Annotated[int, Field(alias="POLL_CONCURRENCY", default=64, gt=0)]
    poll_per_host: Annotated[int, Field(alias="POLL_PER_HOST", default=16, gt=0)]
    http_timeout_seconds: Annotated[float, Field(alias="HTTP_TIMEOUT_SECONDS", default=10.0, gt=0)]
    poll_source_timeout_seconds: Annotated[float, Field(alias="POLL_SOURCE_TIMEOUT_SECONDS", default=60.0, gt=0)]
    classifier: Annotated[Literal["offline", "comprehend", "bedrock"], Field(alias="CLASSIFIER", default="offline")]
    bedrock_model_id: Annotated[str | None, Field(alias="BEDROCK_MODEL_ID", default=None)]
    dashboard_access: Annotated[Literal["iam-only", "api-keys"], Field(alias="DASHBOARD_ACCESS", default="iam-only")]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls.model_validate({key: value for key, value in env.items() if key in _ALIASES})


_ALIASES = frozenset(field.alias for field in Settings.model_fields.values() if field.alias)


class SecretsManagerReader:
    """Source secrets from Secrets Manager by name, cached for a few minutes per container.

    The text is handed to the connector as it is: a bare token, or JSON credentials that the
    platform's connector reads (``replywatch.connectors.base.credentials``)."""

    def __init__(self, client: Any) -> None:
        self._provider = SecretsProvider(boto3_client=client)

    def read(self, secret_name: str) -> str:
        value = self._provider.get(secret_name, max_age=SECRET_CACHE_SECONDS)
        if isinstance(value, bytes):
            value = value.decode()
        text = str(value).strip()
        if not text:
            raise ValueError("the secret is empty")
        return text


class Runtime:
    """Everything a handler needs; clients are created lazily, once per container."""

    def __init__(self, settings: Settings, session: Any | None = None) -> None:
        self.settings = settings
        self._session = session or boto3.session.Session()

    @property
    def default_sla(self) -> SlaPolicy:
        return SlaPolicy(first_response_seconds=self.settings.default_sla_seconds)

    @cached_property
    def dynamodb(self) -> Any:
        return self._session.client("dynamodb")

    @cached_property
    def messages(self) -> MessageStore:
        return MessageStore(self.dynamodb, self.settings.messages_table, self.settings.state_table)

    @cached_property
    def state(self) -> StateStore:
        return StateStore(self.dynamodb, self.settings.state_table)

    @cached_property
    def secrets(self) -> SecretsManagerReader:
        return SecretsManagerReader(self._session.client("secretsmanager"))

    @cached_property
    def notifier(self) -> AwsNotifier:
        retries = Config(retries={"mode": "standard", "max_attempts": 5})
        return AwsNotifier(
            self._session.client("sesv2", config=retries),
            self._session.client("sns", config=retries),
            self.settings.alert_sender,
        )

    @cached_property
    def poller(self) -> Poller:
        return Poller(
            messages=self.messages,
            state=self.state,
            secrets=self.secrets,
            retention=timedelta(days=self.settings.retention_days),
            max_pages=self.settings.max_pages_per_source,
            concurrency=self.settings.poll_concurrency,
            per_host=self.settings.poll_per_host,
            source_timeout=self.settings.poll_source_timeout_seconds,
            notifier=self.notifier,
        )

    @cached_property
    def classifier(self) -> Classifier:
        name = self.settings.classifier
        retries = Config(retries={"mode": "standard", "max_attempts": 3})
        return build_classifier(
            name,
            comprehend=self._session.client("comprehend", config=retries) if name == "comprehend" else None,
            bedrock=self._session.client("bedrock-runtime", config=retries) if name == "bedrock" else None,
            bedrock_model_id=self.settings.bedrock_model_id,
        )

    @cached_property
    def processor(self) -> Processor:
        return Processor(
            messages=self.messages,
            state=self.state,
            classifier=self.classifier,
            notifier=self.notifier,
            default_sla=self.default_sla,
        )

    @cached_property
    def sweeper(self) -> Sweeper:
        return Sweeper(
            messages=self.messages,
            state=self.state,
            notifier=self.notifier,
            default_sla=self.default_sla,
            processor=self.processor,
        )

    @cached_property
    def digest(self) -> DigestSender:
        return DigestSender(stats=self.messages, state=self.state, notifier=self.notifier)
