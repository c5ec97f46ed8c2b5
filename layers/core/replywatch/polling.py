"""Polling: fetch every due source concurrently, store pages, then advance cursors."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from replywatch.connectors import AuthFailed, ConnectorError, PollContext, RateLimited, connector_for
from replywatch.models import Message, Source, SourceState
from replywatch.ports import MessageRepository, SecretReader, StateRepository

logger = logging.getLogger(__name__)


@dataclass
class SourceReport:
    source_id: str
    brand_id: str
    health: str
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    pages: int = 0


@dataclass
class PollReport:
    sources: list[SourceReport] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(source.stored for source in self.sources)


@dataclass
class Poller:
    messages: MessageRepository
    state: StateRepository
    secrets: SecretReader
    retention: timedelta
    max_pages: int = 10
    concurrency: int = 10

    async def poll_all(self, client: httpx.AsyncClient, now: datetime) -> PollReport:
        due = [
            (source, state)
            for source, state in await asyncio.to_thread(self.state.list_sources)
            if source.enabled and (state.resume_after is None or state.resume_after <= now)
        ]
        limit = asyncio.Semaphore(self.concurrency)

        async def bounded(source: Source, state: SourceState) -> SourceReport:
            async with limit:
                return await self.poll_source(source, state, client, now)

        reports = await asyncio.gather(*(bounded(source, state) for source, state in due))
        return PollReport(sources=list(reports))

    async def poll_source(
        self, source: Source, state: SourceState, client: httpx.AsyncClient, now: datetime
    ) -> SourceReport:
        report = SourceReport(source_id=source.source_id, brand_id=source.brand_id, health="ok")
        log = {"source_id": source.source_id, "brand_id": source.brand_id, "platform": source.platform}
        resume_after: datetime | None = None
        error_name: str | None = None
        try:
            connector = connector_for(source.platform)
            token = await asyncio.to_thread(self.secrets.token, source.token_secret)
            ctx = PollContext(
                source=source,
                token=token,
                client=client,
                now=now,
                cursor=dict(state.cursor),
                max_pages=self.max_pages,
                backfill_from=now - timedelta(hours=source.backfill_hours),
            )
            async for page in connector.pages(ctx):
                stored = await asyncio.to_thread(self._store, page.messages, now)
                report.stored += stored
                report.duplicates += len(page.messages) - stored
                report.skipped += page.skipped
                report.pages += 1
                # Only now that the page is durable does the cursor move past it.
                state = state.model_copy(update={"cursor": page.cursor})
                await asyncio.to_thread(self.state.save_source_state, source, state)
        except RateLimited as limited:
            report.health, resume_after = "rate_limited", limited.retry_at
            logger.info("source rate limited", extra={**log, "retry_at": limited.retry_at.isoformat()})
        except AuthFailed:
            report.health, error_name = "auth_failed", "AuthFailed"
            logger.warning("source credentials refused; reconnect it", extra=log)
        except ConnectorError as error:
            report.health, error_name = "error", type(error).__name__
            logger.warning("source poll failed", extra={**log, "error": str(error)})
        except Exception as error:  # one source's surprise must not stop the others
            report.health, error_name = "error", type(error).__name__
            # The type only: an exception's text may quote a payload or a secret.
            logger.error("source poll crashed", extra={**log, "error": type(error).__name__})
        state = state.model_copy(
            update={
                "resume_after": resume_after,
                "health": report.health,
                "last_polled_at": now,
                "last_error": error_name,
            }
        )
        await asyncio.to_thread(self.state.save_source_state, source, state)
        logger.info(
            "source polled",
            extra={
                **log,
                "stored": report.stored,
                "duplicates": report.duplicates,
                "skipped": report.skipped,
                "pages": report.pages,
            },
        )
        return report

    def _store(self, messages: list[Message], now: datetime) -> int:
        stored = 0
        for message in messages:
            if self.messages.put_new(message, ingested_at=now, expires_at=message.created_at + self.retention):
                stored += 1
        return stored
