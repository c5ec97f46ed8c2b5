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

A continuation carried over from an earlier poll can lose its place: the item an ``after`` fullname
names was deleted (Reddit then lists nothing) or the platform no longer takes the page token. The
scan then starts again from the top without moving the mark: what lies between the mark and the lost
place is read again (some items may be offered twice, stored once), never skipped. Only the carried-over
continuation's empty page counts as lost: a scan that empties out within a poll has reached the
listing's end. A refused token restarts the scan once per poll.

A stream spends at most ``ctx.max_pages`` requests a poll (``Scan.budget``). A fetch that makes more
than one request (YouTube reads a thread's replies too) counts each with ``Scan.take``; one that cannot
finish its page within the budget says ``cut_short``: what it read is yielded, the scan stays at that
page, and the next poll reads it again (what was yielded is remembered, so it is not offered twice).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from replywatch.connectors.base import ConnectorError, Page, PollContext
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
    budget: int = 0  # requests this stream may still make in this poll (not saved)

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

    def remember(self, item_id: str, published: datetime) -> None:
        """Record a yielded item that this scan may read again (a page read again after it was cut
        short); forgotten when the scan closes past it."""
        if published >= self.mark:
            self.seen[item_id] = int(published.timestamp())

    def take(self) -> bool:
        """Count one more request against the stream's budget; False when none is left."""
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True

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
    empty: bool = False  # the page listed nothing at all
    lost: bool = False  # the platform refused the continuation token
    cut_short: bool = False  # the budget ran out part-way: read this page again next poll


class LostPlace(ConnectorError):
    """A refused continuation that cannot be recovered in this poll."""


# Reads one page at the given continuation (None: the top). Each request it makes is counted with
# ``scan.take()``; a fetch that counts none is charged one.
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
    scan.budget = ctx.max_pages
    carried_over = scan.next is not None
    first, restarted = True, False
    while scan.budget > 0:
        token, left = scan.next, scan.budget
        fetched = await fetch(scan, token)
        if scan.budget == left:
            scan.budget -= 1
        if fetched.cut_short:
            # The page is read again next poll (the scan stays where it was): what it gave is remembered.
            for message in fetched.messages:
                scan.remember(message.platform_id, message.created_at)
            scan.save(cursor)
            yield Page(messages=fetched.messages, cursor=dict(cursor), skipped=fetched.skipped)
            break
        gone = first and carried_over and token is not None and fetched.empty and not fetched.reached_floor
        first = False
        if fetched.lost or gone:
            # The continuation lost its place: scan again from the top, the mark where it was.
            scan.restart(ctx.now)
            scan.save(cursor)
            yield Page(messages=fetched.messages, cursor=dict(cursor), skipped=fetched.skipped)
            if fetched.lost and restarted:
                raise LostPlace(f"the platform refused a {name} continuation twice in one poll")
            restarted, carried_over = True, False
            continue
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
