"""Reading a newest-first listing that has no "since" parameter, with no gaps and no repeats.

YouTube comment threads and Reddit listings come newest first and page backwards (a page token,
an ``after`` fullname); neither can be asked for "what is new since X". A stream therefore reads
from the top down to its high-water mark, a *scan*, and remembers in the cursor:

``<name>``         the mark (ISO time): every item published before it has been read.
``<name>_seen``    items published at or after the mark that were already yielded (``id@epoch``, comma
                   separated), so the next scan, which reads them again, does not yield them twice.
``<name>_next``    where the scan in progress continues (a page token or fullname) when the page budget
                   ran out or the poll stopped: the next poll carries on from there, then starts afresh.
``<name>_start``   when the scan in progress began.

When a scan reaches the mark, the new mark is the scan's start less ``settle``: items that appear a
little late (search indexing, a listing cached for a moment) or that were posted while the scan was
under way are read by the next scan, which skips the ones already yielded. Each page's cursor covers
exactly the pages yielded so far: a crash between pages loses nothing and reads nothing twice.

``window`` lets a stream read further back than its mark (YouTube: old threads that get new replies);
only items published after the mark are yielded, so reading again costs requests, not repeats.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from replywatch.connectors.base import Page, PollContext
from replywatch.models import Message

MAX_SEEN = 500  # beyond this the oldest are forgotten: at worst a message is offered twice (stored once)


@dataclass
class Scan:
    """One stream's progress, loaded from and saved to the cursor."""

    name: str
    mark: datetime
    started: datetime
    settle: timedelta
    window: timedelta = timedelta(0)
    next: str | None = None
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def resume(
        cls,
        ctx: PollContext,
        cursor: dict[str, str],
        name: str,
        *,
        settle: timedelta,
        window: timedelta = timedelta(0),
    ) -> Scan:
        """The stream's state; a new stream's mark is the backfill window's start (or now)."""
        mark = _time(cursor.get(name)) or ctx.backfill_from or ctx.now
        next_token = cursor.get(f"{name}_next") or None
        started = (_time(cursor.get(f"{name}_start")) if next_token else None) or ctx.now
        return cls(
            name=name,
            mark=mark,
            started=started,
            settle=settle,
            window=window,
            next=next_token,
            seen=_parse_seen(cursor.get(f"{name}_seen", "")),
        )

    @property
    def floor(self) -> datetime:
        """How far back this scan reads: nothing older than this is requested."""
        return self.mark - self.window

    def is_new(self, item_id: str, published: datetime) -> bool:
        return published >= self.mark and item_id not in self.seen

    def taken(self, item_id: str, published: datetime) -> None:
        """Record a yielded item that the next scan will read again."""
        if published >= self._next_mark:
            self.seen[item_id] = int(published.timestamp())

    def advance(self, next_token: str | None, *, finished: bool) -> None:
        """After a page: carry on from ``next_token``, or close the scan at its new mark."""
        if finished or next_token is None:
            self.mark = self._next_mark
            self.seen = {key: at for key, at in self.seen.items() if at >= int(self.mark.timestamp())}
            self.next = None
        else:
            self.next = next_token

    def restart(self, now: datetime) -> None:
        """Start a new scan from the top (after one that had carried over from an earlier poll)."""
        self.next = None
        self.started = now

    def save(self, cursor: dict[str, str]) -> None:
        cursor[self.name] = self.mark.isoformat()
        if len(self.seen) > MAX_SEEN:
            self.seen = dict(sorted(self.seen.items(), key=lambda entry: entry[1])[-MAX_SEEN:])
        _put(cursor, f"{self.name}_seen", ",".join(f"{key}@{at}" for key, at in self.seen.items()))
        _put(cursor, f"{self.name}_next", self.next)
        _put(cursor, f"{self.name}_start", self.started.isoformat() if self.next else None)

    @property
    def _next_mark(self) -> datetime:
        return max(self.mark, self.started - self.settle)


@dataclass
class Fetched:
    """One page of a scan: what it holds that is new, and where the scan goes next."""

    messages: list[Message] = field(default_factory=list)
    skipped: int = 0
    next: str | None = None  # None: the listing has no more pages
    reached_floor: bool = False  # an item older than the scan's floor was seen: stop here


Fetch = Callable[[Scan, str | None], Awaitable[Fetched]]


async def scan_pages(
    ctx: PollContext,
    cursor: dict[str, str],
    name: str,
    fetch: Fetch,
    *,
    settle: timedelta,
    window: timedelta = timedelta(0),
) -> AsyncIterator[Page]:
    """Yield a stream's pages, at most ``ctx.max_pages`` requests: a scan carried over from an
    earlier poll is finished first, then (budget allowing) a new one starts from the top."""
    scan = Scan.resume(ctx, cursor, name, settle=settle, window=window)
    carried_over = scan.next is not None
    budget = ctx.max_pages
    while budget > 0:
        budget -= 1
        fetched = await fetch(scan, scan.next)
        scan.advance(fetched.next, finished=fetched.reached_floor)
        scan.save(cursor)
        yield Page(messages=fetched.messages, cursor=dict(cursor), skipped=fetched.skipped)
        if scan.next is None:
            if not carried_over:
                break
            carried_over = False
            scan.restart(ctx.now)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _parse_seen(value: str) -> dict[str, int]:
    seen: dict[str, int] = {}
    for entry in value.split(","):
        key, _, at = entry.rpartition("@")
        if key and at.lstrip("-").isdigit():
            seen[key] = int(at)
    return seen


def _put(cursor: dict[str, str], key: str, value: str | None) -> None:
    if value:
        cursor[key] = value
    else:
        cursor.pop(key, None)
