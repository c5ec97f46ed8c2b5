"""A small Mastodon API server serving the demo scenario (the project's own fake).

It follows the published API for the calls ReplyWatch makes: bearer auth,
``GET /api/v1/accounts/verify_credentials``, ``GET /api/v1/notifications``
(``types[]``, ``min_id``/``max_id``/``since_id``/``limit``, newest first, Link
header) and ``GET /api/v1/accounts/:id/statuses``, with ``X-RateLimit-*`` headers.

    python -m infra.local.fake_mastodon --port 8787
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from infra.local import scenario
from infra.local.http_fake import HttpFake

DEFAULT_LIMIT, MAX_LIMIT = 20, 40
_ID_BASE = 113_000_000_000_000_000


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Timeline:
    """Statuses and mention notifications, each list sorted by id."""

    base_url: str
    notifications: list[dict[str, Any]] = field(default_factory=list)
    brand_statuses: list[dict[str, Any]] = field(default_factory=list)


def account(account_id: str, acct: str, base_url: str) -> dict[str, Any]:
    return {
        "id": account_id,
        "username": acct,
        "acct": acct,
        "display_name": acct.title(),
        "url": f"{base_url}/@{acct}",
    }


def status(
    status_id: str,
    author: dict[str, Any],
    text: str,
    created: datetime,
    *,
    base_url: str,
    in_reply_to: dict[str, Any] | None = None,
    direct: bool = False,
) -> dict[str, Any]:
    from html import escape

    return {
        "id": status_id,
        "created_at": _ts(created),
        "content": f"<p>{escape(text)}</p>",
        "visibility": "direct" if direct else "public",
        "account": author,
        "url": f"{base_url}/@{author['acct']}/{status_id}",
        "uri": f"{base_url}/users/{author['acct']}/{status_id}",
        "in_reply_to_id": in_reply_to["id"] if in_reply_to else None,
        "in_reply_to_account_id": in_reply_to["account"]["id"] if in_reply_to else None,
        "mentions": [],
        "spoiler_text": "",
        "sensitive": False,
    }


def build_timeline(now: datetime, base_url: str) -> Timeline:
    """The scenario as Mastodon objects: ids grow with time, as snowflake ids do."""
    brand = account(scenario.BRAND_ACCOUNT_ID, scenario.BRAND_ACCOUNT, base_url)
    events: list[tuple[datetime, str, Any]] = []
    for index, mention in enumerate(scenario.MENTIONS):
        events.append((scenario.posted_at(mention, now), "mention", index))
        answered = scenario.replied_at(mention, now)
        if answered is not None:
            events.append((answered, "reply", index))
    events.append((now - timedelta(hours=6), "announcement", None))
    events.sort(key=lambda event: (event[0], event[1]))
    timeline = Timeline(base_url=base_url)
    statuses: dict[int, dict[str, Any]] = {}
    for sequence, (moment, kind, index) in enumerate(events, start=1):
        status_id = str(_ID_BASE + sequence * 1000)
        if kind == "announcement":
            timeline.brand_statuses.append(
                status(status_id, brand, "Our new plans are live!", moment, base_url=base_url)
            )
        elif kind == "mention":
            mention = scenario.MENTIONS[index]
            author = account(str(2000 + index), mention.author, base_url)
            statuses[index] = status(status_id, author, mention.text, moment, base_url=base_url, direct=mention.direct)
            timeline.notifications.append(
                {
                    "id": str(_ID_BASE + sequence * 1000 + 1),
                    "type": "mention",
                    "created_at": _ts(moment),
                    "account": author,
                    "status": statuses[index],
                }
            )
            # Someone also favourited the post: a notification ReplyWatch must filter out.
            timeline.notifications.append(
                {
                    "id": str(_ID_BASE + sequence * 1000 + 2),
                    "type": "favourite",
                    "created_at": _ts(moment),
                    "account": author,
                    "status": statuses[index],
                }
            )
        else:
            parent = statuses[index]
            reply = status(
                status_id,
                brand,
                f"@{parent['account']['acct']} thanks, we're on it.",
                moment,
                base_url=base_url,
                in_reply_to=parent,
                direct=parent["visibility"] == "direct",
            )
            timeline.brand_statuses.append(reply)
    return timeline


def page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Mastodon's paging over id-sorted items; the result is newest first."""

    def number(name: str) -> int | None:
        values = query.get(name)
        return int(values[0]) if values and values[0].isdigit() else None

    limit = min(MAX_LIMIT, number("limit") or DEFAULT_LIMIT)
    max_id, since_id, min_id = number("max_id"), number("since_id"), number("min_id")
    chosen = [
        item
        for item in items
        if (max_id is None or int(item["id"]) < max_id)
        and (since_id is None or int(item["id"]) > since_id)
        and (min_id is None or int(item["id"]) > min_id)
    ]
    if min_id is not None:  # the items immediately newer than min_id
        return list(reversed(chosen[:limit]))
    return list(reversed(chosen))[:limit]


class FakeMastodon(HttpFake):
    def __init__(
        self, now: datetime | None = None, token: str = scenario.TOKEN, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.now = now or datetime.now(UTC)
        self.token = token
        self.requests: list[str] = []
        super().__init__(host=host, port=port)
        self.timeline = build_timeline(self.now, self.base_url)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                fake.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"error": "The access token is invalid"})
                query = parse_qs(url.query)
                brand_statuses = f"/api/v1/accounts/{scenario.BRAND_ACCOUNT_ID}/statuses"
                if url.path == "/api/v1/accounts/verify_credentials":
                    return self._send(200, account(scenario.BRAND_ACCOUNT_ID, scenario.BRAND_ACCOUNT, fake.base_url))
                if url.path == "/api/v1/notifications":
                    types = set(query.get("types[]", []))
                    items = [n for n in fake.timeline.notifications if not types or n["type"] in types]
                    return self._send_page(url.path, page(items, query), query)
                if url.path == brand_statuses:
                    return self._send_page(url.path, page(fake.timeline.brand_statuses, query), query)
                return self._send(404, {"error": "Record not found"})

            def _send_page(self, path: str, items: list[dict[str, Any]], query: dict[str, list[str]]) -> None:
                links = []
                keep = [
                    (k, v) for k, values in query.items() if k not in ("max_id", "min_id", "since_id") for v in values
                ]
                if items:
                    older = urlencode([*keep, ("max_id", items[-1]["id"])])
                    newer = urlencode([*keep, ("min_id", items[0]["id"])])
                    links = [
                        f'<{fake.base_url}{path}?{older}>; rel="next"',
                        f'<{fake.base_url}{path}?{newer}>; rel="prev"',
                    ]
                self._send(200, items, {"Link": ", ".join(links)} if links else {})

            def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                reset = datetime.now(UTC) + timedelta(minutes=5)
                for name, value in {
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "299",
                    "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    **(headers or {}),
                }.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(list(argv) if argv is not None else None)
    server = FakeMastodon(host=args.host, port=args.port)
    print(json.dumps({"base_url": server.base_url}), flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
