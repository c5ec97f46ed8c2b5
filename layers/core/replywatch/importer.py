"""Past conversations from a file (`replywatch import`), so a brand sees its baseline on day one.

The format is documented in docs/import.md: CSV with a header, a JSON array of objects, or
JSON Lines, one customer message a row, with the brand's first public reply when
``replied_at`` is set. Parsing is pure (no AWS, no clock: ``now`` is passed in). A bad row
is skipped with its line and the problem, never its text, and the rest of the file goes on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from replywatch.models import Message, MessageKind

COLUMNS = (
    "id",
    "channel",
    "network",
    "created_at",
    "author",
    "text",
    "permalink",
    "kind",
    "replied_at",
    "reply_id",
    "rating",
)
REQUIRED = ("id", "channel", "created_at")
REPLY_SUFFIX = "#reply"  # what the review connectors name a brand's reply: a later poll finds the same item
FEDERATED = frozenset({"mastodon"})  # ids are unique per server only: the row must name it
MAX_ID_LENGTH = 512
MAX_TEXT_LENGTH = 20_000
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_NETWORK = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$")


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"


class Skip(StrEnum):
    INVALID = "invalid"  # the row breaks the format: fix it and import again
    DUPLICATE = "duplicate"  # an id seen earlier in the file: the first is kept
    EXPIRED = "expired"  # older than the stack keeps messages: it would be deleted at once


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not the format, no header, a required column missing)."""


@dataclass(frozen=True)
class Skipped:
    line: int  # CSV and JSON Lines: the line the row starts on; a JSON array: the object's position
    category: Skip
    problem: str  # names fields, never repeats their content


@dataclass(frozen=True)
class Conversation:
    """One row: the customer's message and, when the brand answered publicly, its first reply."""

    line: int
    message: Message
    reply: Message | None


@dataclass
class ImportBatch:
    rows: int = 0
    conversations: list[Conversation] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()

    @property
    def messages(self) -> list[Message]:
        """Everything to store, each customer message before its reply."""
        found: list[Message] = []
        for conversation in self.conversations:
            found.append(conversation.message)
            if conversation.reply is not None:
                found.append(conversation.reply)
        return found

    def summary(self) -> dict[str, Any]:
        channels: dict[str, int] = {}
        for conversation in self.conversations:
            channels[conversation.message.platform] = channels.get(conversation.message.platform, 0) + 1
        return {
            "rows": self.rows,
            "conversations": len(self.conversations),
            "replies": sum(1 for conversation in self.conversations if conversation.reply is not None),
            "messages": len(self.messages),
            "channels": dict(sorted(channels.items())),
            "skipped": {category.value: sum(1 for s in self.skipped if s.category is category) for category in Skip},
            "ignored_columns": list(self.ignored_columns),
        }


def format_of(filename: str) -> Format:
    """The format a file's extension names (``.csv``, ``.json``, ``.jsonl`` or ``.ndjson``)."""
    lowered = filename.lower()
    for suffix, found in ((".csv", Format.CSV), (".jsonl", Format.JSONL), (".ndjson", Format.JSONL)):
        if lowered.endswith(suffix):
            return found
    if lowered.endswith(".json"):
        return Format.JSON
    raise ImportFileError("cannot tell the format from the file name: pass --format csv, json or jsonl")


def parse(
    content: str,
    file_format: Format,
    *,
    brand: str,
    source_id: str,
    now: datetime,
    retention: timedelta,
) -> ImportBatch:
    """Read a whole file into messages. ``now`` and ``retention``: rows the stack would already
    have deleted (posted more than ``retention`` ago) are skipped, and none may be in the future."""
    batch = ImportBatch()
    rows = _csv_rows(content) if file_format is Format.CSV else _json_rows(content, file_format)
    seen: dict[str, int] = {}  # message keys (channel, network, id) in this file -> first line
    ignored: dict[str, None] = {}
    for line, row in rows:
        batch.rows += 1
        if isinstance(row, str):  # the row could not even be read
            batch.skipped.append(Skipped(line, Skip.INVALID, row))
            continue
        ignored.update((name, None) for name in map(_column, row) if name and name not in COLUMNS)
        try:
            conversation = _conversation(line, row, brand=brand, source_id=source_id, now=now)
        except _RowProblem as problem:
            batch.skipped.append(Skipped(line, Skip.INVALID, str(problem)))
            continue
        keys = [conversation.message.key] + ([conversation.reply.key] if conversation.reply else [])
        clash = next((seen[key] for key in keys if key in seen), None)
        if clash is not None:
            batch.skipped.append(Skipped(line, Skip.DUPLICATE, f"id already used on line {clash}; the first is kept"))
            continue
        if conversation.message.created_at + retention <= now:
            batch.skipped.append(
                Skipped(line, Skip.EXPIRED, f"posted more than {retention.days} days ago, past the stack's retention")
            )
            continue
        for key in keys:
            seen[key] = line
        batch.conversations.append(conversation)
    batch.ignored_columns = tuple(ignored)
    return batch


# --- reading rows ---------------------------------------------------------------------------


def _column(name: Any) -> str:
    return str(name).strip().lower()


def _csv_rows(content: str) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    reader = csv.reader(io.StringIO(content.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise ImportFileError("the CSV header cannot be read") from error
    if not header:
        raise ImportFileError("the file is empty: a CSV file starts with a header line")
    names = [_column(name) for name in header]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise ImportFileError(f"the header lacks required columns: {', '.join(missing)}")
    repeated = sorted({name for name in names if names.count(name) > 1 and name})
    if repeated:
        raise ImportFileError(f"the header names columns more than once: {', '.join(repeated)}")
    last = reader.line_num
    while True:
        start = last + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error:
            # A quote never closed swallows the lines after it: say how many.
            end = max(reader.line_num, start)
            where = f"lines {start}-{end}" if end > start else "the row"
            yield start, f"{where} cannot be read as CSV (a quote not closed, or text after a closing quote)"
            last = end
            continue
        last = reader.line_num
        if not values or all(not value.strip() for value in values):
            continue  # blank line
        if len(values) > len(names):
            yield start, f"{len(values)} fields, but the header has {len(names)}"
            continue
        yield start, dict(zip(names, values, strict=False))


def _json_rows(content: str, file_format: Format) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    if file_format is Format.JSONL:
        for number, text in enumerate(content.removeprefix("\ufeff").splitlines(), start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                yield number, "not valid JSON"
                continue
            yield number, value if isinstance(value, dict) else "not a JSON object"
        return
    try:
        document = json.loads(content.removeprefix("\ufeff"))
    except json.JSONDecodeError as error:
        raise ImportFileError(f"not valid JSON (line {error.lineno}, column {error.colno})") from None
    if not isinstance(document, list):
        raise ImportFileError("a JSON file holds an array of objects, one a row")
    for position, value in enumerate(document, start=1):
        yield position, value if isinstance(value, dict) else "not a JSON object"


# --- one row --------------------------------------------------------------------------------


class _RowProblem(ValueError):
    pass


def _conversation(line: int, raw: Mapping[str, Any], *, brand: str, source_id: str, now: datetime) -> Conversation:
    columns = {_column(name): value for name, value in raw.items()}
    row = {name: _scalar(name, value) for name, value in columns.items() if name in COLUMNS}
    platform_id = _required(row, "id")
    if len(platform_id) > MAX_ID_LENGTH:
        raise _RowProblem(f"id: longer than {MAX_ID_LENGTH} characters")
    channel = _required(row, "channel").lower()
    if not _CHANNEL.match(channel):
        raise _RowProblem("channel: a platform name such as x, facebook, mastodon or google_play")
    network = (row.get("network") or "").lower() or None
    if network is not None and not _NETWORK.match(network):
        raise _RowProblem("network: a server's host name, such as mastodon.social")
    if channel in FEDERATED and network is None:
        raise _RowProblem(f"network: required for {channel} (the server the id belongs to, e.g. mastodon.social)")
    created_at = _moment(row, "created_at", now, required=True)
    assert created_at is not None
    kind_name = (row.get("kind") or MessageKind.MENTION.value).lower()
    try:
        kind = MessageKind(kind_name)
    except ValueError:
        raise _RowProblem(f"kind: one of {', '.join(k.value for k in MessageKind)}") from None
    text = row.get("text") or ""
    if len(text) > MAX_TEXT_LENGTH:
        raise _RowProblem(f"text: longer than {MAX_TEXT_LENGTH} characters")
    permalink = row.get("permalink") or None
    if permalink is not None and not permalink.lower().startswith(("https://", "http://")):
        raise _RowProblem("permalink: an http(s) URL")
    rating = _rating(row.get("rating"))
    replied_at = _moment(row, "replied_at", now, required=False)
    reply_id = row.get("reply_id") or None
    if replied_at is not None and replied_at < created_at:
        raise _RowProblem("replied_at: before created_at")
    if reply_id is not None and replied_at is None:
        raise _RowProblem("reply_id: given without replied_at")
    reply_id = reply_id or platform_id + REPLY_SUFFIX
    if reply_id == platform_id:
        raise _RowProblem("reply_id: the same as id")
    if len(reply_id) > MAX_ID_LENGTH:
        raise _RowProblem(f"reply_id: longer than {MAX_ID_LENGTH} characters")
    author = row.get("author") or ""
    common = {"brand": brand, "platform": channel, "network": network, "source_id": source_id, "imported": True}
    try:
        message = Message(
            **common,
            platform_id=platform_id,
            thread_id=platform_id,
            author_id=author,
            author_handle=author,
            text=text,
            permalink=permalink,
            created_at=created_at,
            kind=kind,
            rating=rating,
        )
        reply = (
            None
            if replied_at is None
            else Message(
                **common,
                platform_id=reply_id,
                thread_id=platform_id,
                parent_id=platform_id,
                parent_author_id=author or None,
                author_id=brand,
                author_handle=brand,
                text="",  # the file records when the brand answered, not what it said
                created_at=replied_at,
                kind=kind,
                from_brand=True,
            )
        )
    except ValidationError as error:  # without the input values: they may be the customer's words
        first = error.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "row"
        raise _RowProblem(f"{where}: {first['msg']}") from None
    return Conversation(line=line, message=message, reply=reply)


def _scalar(name: str, value: Any) -> str | None:
    """A field as text: JSON numbers become text (ids are often numeric), structures are refused."""
    if value is None:
        return None
    if isinstance(value, bool | dict | list):
        raise _RowProblem(f"{name}: a string or a number")
    return str(value).strip()


def _required(row: Mapping[str, str | None], name: str) -> str:
    value = row.get(name)
    if not value:
        raise _RowProblem(f"{name}: required")
    return value


def _moment(row: Mapping[str, str | None], name: str, now: datetime, *, required: bool) -> datetime | None:
    value = row.get(name)
    if not value:
        if required:
            raise _RowProblem(f"{name}: required")
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _RowProblem(f"{name}: not an ISO 8601 time, e.g. 2026-03-01T09:30:00+01:00") from None
    if moment.tzinfo is None:
        raise _RowProblem(f"{name}: needs a UTC offset, e.g. 2026-03-01T09:30:00Z or +01:00")
    if moment > now:
        raise _RowProblem(f"{name}: in the future")
    return moment


def _rating(value: str | None) -> int | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise _RowProblem("rating: a whole number from 1 to 5") from None
    if not number.is_integer() or not 1 <= number <= 5:
        raise _RowProblem("rating: a whole number from 1 to 5")
    return int(number)
