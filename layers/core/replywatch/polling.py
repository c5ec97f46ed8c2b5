"""Polling: fetch every due source concurrently, store pages, then advance cursors.

Sources are polled at once up to ``concurrency``, and at most ``per_host`` at a time against
one API host, so a thousand sources on one platform do not trip its per-IP limits. One source's
failure never stops the others; what it means for the source is decided in :mod:`health`.

Time. A host that answers a byte at a time never trips a request's timeout, so each source has
``source_timeout`` seconds of requests, and the run as a whole the time it is given (the
Lambda's, less a margin to save what it read): a source past its deadline is recorded as an
error (``PollTimeout``) with its cursor at the last page stored. A source whose turn comes after
the run's end, or that the run's end interrupts, is deferred: not its fault, so not an error; it
resumes from its last page stored in the next run. Sources polled longest ago go first, so those
deferred are the first of the next run. The deadlines stop requests only: a page being stored is
always stored, and its cursor saved.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from replywatch import health
from replywatch.alerts import Delivery, Notifier, fan_out, render_source
from replywatch.connectors import AuthFailed, ConnectorError, PollContext, RateLimited, connector_for
from replywatch.connectors.base import BudgetExhausted, Meter, PartlyFailed
from replywatch.ingest import ingest
from replywatch.models import AlertKind, Health, Source, SourceState
from replywatch.ports import MessageSink, SecretReader, SourceRepository

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
    alerts_sent: int = 0
    alerts_failed: int = 0


@dataclass
class PollReport:
    sources: list[SourceReport] = field(default_factory=list)

    @property
    def deferred(self) -> int:
        """Due sources the run's time did not suffice for (not started, or interrupted)."""
        return sum(source.health == DEFERRED for source in self.sources)

    @property
    def stored(self) -> int:
        return sum(source.stored for source in self.sources)


@dataclass
class Poller:
    messages: MessageSink
    state: SourceRepository
    secrets: SecretReader
    retention: timedelta
    max_pages: int = 10
    concurrency: int = 64
    per_host: int = 16
    source_timeout: float = 60.0  # seconds of requests per source and run
    notifier: Notifier | None = None  # source-health alerts; None: recorded, not sent

    async def poll_all(self, client: httpx.AsyncClient, now: datetime, *, time_left: float | None = None) -> PollReport:
        """Poll every due source; ``time_left`` (seconds) bounds the whole run."""
        loop = asyncio.get_running_loop()
        run_end = None if time_left is None else loop.time() + time_left
        sources = await asyncio.to_thread(self.state.list_sources)
        paused = await asyncio.to_thread(self._paused, {source.brand_id for source, _ in sources})
        due = [
            (source, state)
            for source, state in sources
            if source.enabled
            and source.brand_id not in paused
            and (state.resume_after is None or state.resume_after <= now)
        ]
        due.sort(key=lambda pair: pair[1].last_polled_at or _NEVER)
        if paused:
            logger.info("brands paused: their sources are not polled", extra={"brands": sorted(paused)})
        limit = asyncio.Semaphore(self.concurrency)
        hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self.per_host))

        async def bounded(source: Source, state: SourceState) -> SourceReport:
            async with hosts[_host(source)], limit:
                started = loop.time()
                if run_end is not None and started >= run_end:  # no time left: first in the next run
                    return SourceReport(source_id=source.source_id, brand_id=source.brand_id, health=DEFERRED)
                own = started + self.source_timeout
                deadline, run_ends_first = (own, False) if run_end is None or own <= run_end else (run_end, True)
                try:
                    return await self.poll_source(
                        source, state, client, now, deadline=deadline, run_ends_first=run_ends_first
                    )
                except Exception as error:  # storage trouble for one source: the others go on
                    logger.error(
                        "source poll could not be recorded",
                        extra={
                            "source_id": source.source_id,
                            "brand_id": source.brand_id,
                            "error": type(error).__name__,
                        },
                    )
                    return SourceReport(source_id=source.source_id, brand_id=source.brand_id, health=Health.ERROR.value)

        reports = await asyncio.gather(*(bounded(source, state) for source, state in due))
        report = PollReport(sources=list(reports))
        if report.deferred:
            logger.warning("the poll ran out of time: sources deferred", extra={"count": report.deferred})
        return report

    def _paused(self, brand_ids: set[str]) -> set[str]:
        """The brands of these that are paused (``enabled`` false). A brand that cannot be read
        now is polled: missing a pause costs a poll, missing messages costs answers."""
        paused = set()
        for brand_id in brand_ids:
            try:
                brand = self.state.get_brand(brand_id)
            except Exception as error:  # storage trouble: poll it
                logger.warning("brand not readable: polled", extra={"brand": brand_id, "error": type(error).__name__})
                continue
            if brand is not None and not brand.enabled:
                paused.add(brand_id)
        return paused

    async def poll_source(
        self,
        source: Source,
        state: SourceState,
        client: httpx.AsyncClient,
        now: datetime,
        *,
        deadline: float | None = None,
        run_ends_first: bool = False,
    ) -> SourceReport:
        """Poll one source; ``deadline`` (the event loop's clock) ends its requests, and is the
        run's end rather than the source's own when ``run_ends_first``."""
        report = SourceReport(source_id=source.source_id, brand_id=source.brand_id, health=Health.OK.value)
        log = {"source_id": source.source_id, "brand_id": source.brand_id, "platform": source.platform}
        outcome, resume_after, error_name = Health.OK, None, None
        meter: Meter | None = None
        inbound = False
        partial = False
        cursor = dict(state.cursor)
        try:
            connector = connector_for(source.platform)
            if connector.budget is not None:
                meter = Meter.start(connector.budget, source, state.usage, now)
            secret = await asyncio.to_thread(self.secrets.read, source.token_secret)
            ctx = PollContext(
                source=source,
                secret=secret,
                client=client,
                now=now,
                cursor=dict(state.cursor),
                max_pages=self.max_pages,
                backfill_from=now - timedelta(hours=source.backfill_hours),
                meter=meter,
            )
            pages = connector.pages(ctx)
            while True:
                # Only the connector's requests are timed: a page being stored is stored.
                try:
                    async with asyncio.timeout_at(deadline):
                        page = await anext(pages)
                except StopAsyncIteration:
                    break
                stored = await asyncio.to_thread(
                    ingest, self.messages, page.messages, now=now, retention=self.retention
                )
                report.stored += stored
                report.duplicates += len(page.messages) - stored
                report.skipped += page.skipped
                report.pages += 1
                inbound = inbound or any(not message.from_brand for message in page.messages)
                # Only now that the page is durable does the cursor move past it.
                cursor = page.cursor
                update = {"cursor": cursor, **({"usage": meter.usage} if meter else {})}
                state = state.model_copy(update=update)
                await asyncio.to_thread(self.state.save_source_state, source, state)
        except BudgetExhausted as spent:
            outcome, resume_after = Health.BUDGET_EXHAUSTED, spent.retry_at
            logger.info("source budget spent", extra={**log, "retry_at": spent.retry_at.isoformat()})
        except RateLimited as limited:
            outcome, resume_after = Health.RATE_LIMITED, limited.retry_at
            logger.info("source rate limited", extra={**log, "retry_at": limited.retry_at.isoformat()})
        except TimeoutError:
            if run_ends_first:  # the run's time is up, not the source's: its pages so far are saved
                logger.info("source deferred to the next run: the run's time is up", extra=log)
                report.health = DEFERRED
                return report
            outcome, error_name = Health.ERROR, "PollTimeout"
            logger.warning("source poll took too long: stopped at the last page stored", extra=log)
        except AuthFailed:
            outcome, error_name = Health.AUTH_FAILED, "AuthFailed"
            logger.warning("source credentials refused; reconnect it", extra=log)
        except ConnectorError as error:
            outcome, error_name = Health.ERROR, type(error).__name__
            partial = isinstance(error, PartlyFailed)
            logger.warning("source poll failed", extra={**log, "error": str(error)})
        except Exception as error:  # one source's surprise must not stop the others
            outcome, error_name = Health.ERROR, type(error).__name__
            # The type only: an exception's text may quote a payload or a secret.
            logger.error("source poll crashed", extra={**log, "error": type(error).__name__})
        report.health = outcome.value
        state = health.advance(
            state,
            health=outcome,
            now=now,
            error=error_name,
            inbound=inbound,
            resume_after=resume_after,
            usage=meter.usage if meter else None,
            cursor=cursor,
            partial=partial,
        )
        try:
            state, delivery = await asyncio.to_thread(self._tell_admins, source, state, now)
            report.alerts_sent, report.alerts_failed = delivery.sent, delivery.failed
        except Exception as error:  # the incident stays untold: the next poll tells it; the state is saved
            logger.warning("source alert not sent", extra={**log, "error": type(error).__name__})
        await asyncio.to_thread(self.state.save_source_state, source, state)
        logger.info(
            "source polled",
            extra={
                **log,
                "health": report.health,
                "stored": report.stored,
                "duplicates": report.duplicates,
                "skipped": report.skipped,
                "pages": report.pages,
            },
        )
        return report

    def _tell_admins(self, source: Source, state: SourceState, now: datetime) -> tuple[SourceState, Delivery]:
        """Alert the brand's admins (recipients of ``source`` alerts) once per incident."""
        incidents = health.open_incidents(source, state, now)
        pending = health.to_notify(state, incidents)
        if not pending or self.notifier is None:
            return health.remember(state, incidents, []), Delivery()
        brand = self.state.get_brand(source.brand_id)
        if brand is None:
            return health.remember(state, incidents, []), Delivery()
        recipients = self.state.list_recipients(source.brand_id)
        told, sent, failed = [], 0, 0
        for found in pending:
            content = render_source(found.incident, source, state, brand, now, found.since)
            delivery = fan_out(
                AlertKind.SOURCE,
                f"SOURCE#{source.brand_id}#{source.source_id}",
                f"{found.incident.value}#{found.since}",
                content,
                recipients,
                claims=self.state,
                notifier=self.notifier,
                now=now,
                timezone=brand.timezone,
            )
            sent, failed = sent + delivery.sent + delivery.held, failed + delivery.failed
            if delivery.failed == 0:
                told.append(found)
            logger.info(
                "source incident",
                extra={"source_id": source.source_id, "brand_id": source.brand_id, "incident": found.incident.value},
            )
        return health.remember(state, incidents, told), Delivery(sent=sent, failed=failed)


_NEVER = datetime.min.replace(tzinfo=UTC)
DEFERRED = "deferred"  # a SourceReport's health when the run had no time for the source


def _host(source: Source) -> str:
    return urlsplit(source.base_url).netloc.lower()
