"""One harness for the connector unit tests: a connector's pages() over an in-process fake of the platform's
API (httpx.MockTransport), the records its loggers write, and the check that a record names items by id only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx

from replywatch.connectors.base import Connector, ConnectorError, Meter, Page, PollContext, SessionCache
from replywatch.models import Message, Source

Handler = Callable[[httpx.Request], httpx.Response]
# What a fake serves before answering for itself: a response, a handler, or None (let the fake answer this one).
Scripted = httpx.Response | Handler | None


def acme_source(platform: str, name: str, base_url: str, *, token_secret: str | None = None, **options: str) -> Source:
    """The brand ``acme``'s source ``acme-<name>`` on ``platform``, its token in ``replywatch/acme-<name>``."""
    return Source(
        brand_id="acme",
        source_id=f"acme-{name}",
        platform=platform,
        base_url=base_url,
        token_secret=token_secret or f"replywatch/acme-{name}",
        options=options,
    )


def collect(
    connector: Connector,
    handler: Handler,
    *,
    source: Source,
    secret: str,
    now: datetime,
    cursor: dict[str, str] | None = None,
    max_pages: int = 10,
    backfill_from: datetime | None = None,
    meter: Meter | None = None,
    sessions: SessionCache | None = None,
) -> tuple[list[Page], ConnectorError | None]:
    """Every page ``connector`` yields in one poll, and the connector error that ended the poll (if any).
    ``cursor`` is handed over as it is (the connector may update it); a poll gets its own session cache unless
    given one."""

    async def run() -> tuple[list[Page], ConnectorError | None]:
        pages: list[Page] = []
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            ctx = PollContext(
                source=source,
                secret=secret,
                client=client,
                now=now,
                cursor={} if cursor is None else cursor,
                max_pages=max_pages,
                backfill_from=backfill_from,
                meter=meter,
                sessions=SessionCache() if sessions is None else sessions,
            )
            try:
                async for page in connector.pages(ctx):
                    pages.append(page)
            except ConnectorError as error:
                return pages, error
        return pages, None

    return asyncio.run(run())


def scripted_answer(queue: list[Scripted] | None, request: httpx.Request) -> httpx.Response | None:
    """The next scripted answer to ``request``, taken off ``queue``; None when there is none or it is None."""
    if not queue:
        return None
    answer = queue.pop(0)
    if answer is None or isinstance(answer, httpx.Response):
        return answer
    return answer(request)


def messages(pages: list[Page]) -> list[Message]:
    return [message for page in pages for message in page.messages]


def platform_ids(pages: list[Page], *, from_brand: bool | None = None) -> list[str]:
    """The platform ids of the pages' messages in order: all, or only the brand's (or only the others')."""
    return [
        message.platform_id for message in messages(pages) if from_brand is None or message.from_brand is from_brand
    ]


@dataclass
class Poll:
    """One poll's pages, the connector error that ended it (if any), and the meter it spent from."""

    pages: list[Page]
    error: ConnectorError | None
    meter: Meter | None = None

    @property
    def ids(self) -> list[str]:
        return platform_ids(self.pages)

    @property
    def cursor(self) -> dict[str, str]:
        return self.pages[-1].cursor


@contextmanager
def captured_logs(*names: str) -> Iterator[list[logging.LogRecord]]:
    """The records the named loggers write meanwhile, at every level (with or without pytest's logging plugin)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def malformed(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """The records of skipped malformed items."""
    return [record for record in records if "malformed" in record.getMessage()]


# What every record carries of the runtime's (its time, thread, process, line): numbers that may hold any digits.
_RUNTIME_NUMBERS = {
    name
    for name, value in vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).items()
    if isinstance(value, int | float)
}


def logged(record: logging.LogRecord) -> str:
    """All a log record carries, its message and every field, but the runtime's numbers (a timestamp may hold the
    digits of a phone number)."""
    fields = {key: value for key, value in vars(record).items() if key not in _RUNTIME_NUMBERS}
    return repr(fields) + record.getMessage()


def assert_logged_by_id_only(records: list[logging.LogRecord], *texts: str) -> None:
    """None of ``texts`` (a message's words, a phone number, a token) is in any record, message or field."""
    for record in records:
        dumped = logged(record)
        for text in texts:
            assert text not in dumped, f"{text!r} logged in {record.getMessage()!r}"
