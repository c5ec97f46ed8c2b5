"""An in-process fake of Meta's Graph API (the parts the Facebook and Instagram connectors read),
served through httpx.MockTransport.

It pages the way Graph does: cursor lists end where ``paging.next`` is missing, and the Page
feed pages by time (``until`` and ``__paging_token``). Every ``next`` URL carries the access
token, as Graph's do, so a test can check that no cursor keeps it. Embedded edges honour the
``.limit(n)`` of the ``fields`` parameter.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.support.connectors import Scripted, scripted_answer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
VERSION = "v21.0"
BASE = f"https://graph.facebook.com/{VERSION}"
TOKEN = "t"
LEAKY_TOKEN = "EAAGfakePageTokenInNextUrls"  # what Graph puts in paging.next: must never reach a cursor


def fixture(platform: str, name: str) -> Any:
    return json.loads((FIXTURES / platform / name).read_text())


def graph_time(moment: datetime) -> str:
    """Graph's timestamps: ``2026-11-23T10:00:00+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_graph_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


def graph_error(code: int, message: str, status: int = 400, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AfakeTrace"}}
    return httpx.Response(status, json=body, headers=headers)


def no_such_object(object_id: str) -> httpx.Response:
    """Graph's answer for an id that does not exist (a deleted post, medium or comment)."""
    message = (
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to"
        " missing permissions, or does not support this operation."
    )
    body = {"error": {"message": message, "type": "GraphMethodException", "code": 100, "error_subcode": 33}}
    return httpx.Response(400, json={"error": {**body["error"], "fbtrace_id": "AfakeTrace"}})


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"position:{position}".encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    """The position a cursor of ours names; None for one we did not make (a fixture's)."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:
        return None
    kind, _, position = text.partition(":")
    return int(position) if kind == "position" and position.isdigit() else None


def embedded_limit(fields: str, edge: str, default: int = 25) -> int:
    found = re.search(rf"{re.escape(edge)}[^{{,]*?\.limit\((\d+)\)", fields)
    return int(found.group(1)) if found else default


def cursor_page(items: list[Any], start: int, limit: int, next_url: str) -> dict[str, Any]:
    """One page of a cursor-paged Graph list starting at ``start``."""
    chunk = items[start : start + limit]
    page: dict[str, Any] = {"data": chunk}
    if chunk:
        page["paging"] = {"cursors": {"before": encode_cursor(start), "after": encode_cursor(start + len(chunk))}}
        if start + len(chunk) < len(items):
            page["paging"]["next"] = f"{next_url}{'&' if '?' in next_url else '?'}" + urlencode(
                {"access_token": LEAKY_TOKEN, "limit": limit, "after": encode_cursor(start + len(chunk))}
            )
    return page


@dataclass
class FakeGraph:
    """Routes, scripted answers and request log shared by the platform fakes."""

    scripted: dict[str, list[Scripted]] = field(default_factory=dict)  # path (after the version) -> answers
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix(f"/{VERSION}/")
        answer = scripted_answer(self.scripted.get(path), request)
        if answer is not None:
            return answer
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        body = self.route(path, request)
        if isinstance(body, httpx.Response):
            return body
        if body is None:
            return graph_error(100, "Unsupported get request.", headers={"Content-Type": "application/json"})
        return httpx.Response(200, json=body, headers=self.headers)

    def route(self, path: str, request: httpx.Request) -> dict[str, Any] | httpx.Response | None:
        """A path's JSON body, or a whole answer (an error), or None for a path Graph does not know."""
        raise NotImplementedError

    def requests_to(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == f"/{VERSION}/{path}"]

    def paths(self) -> Iterator[str]:
        for request in self.requests:
            yield request.url.path.removeprefix(f"/{VERSION}/")

    @staticmethod
    def start(request: httpx.Request) -> int:
        after = request.url.params.get("after")
        position = decode_cursor(after) if after else 0
        return 10**9 if position is None else position  # a cursor we did not make: past the end
