"""A private Bluesky network (reference PLC, PDS, AppView, Ozone) for integration tests.

``infra/local/atproto/network.mjs`` runs ``@atproto/dev-env``'s TestNetwork; ``setup.sh`` beside
it installs what it needs (PostgreSQL, Redis, node_modules). ``atproto_network()`` starts it as a
subprocess on free loopback ports, waits for its ready line and stops it on exit::

    with atproto_network() as net:
        alice = XrpcClient.login(net.pds, net.accounts["alice"])
        alice.create_post("hi @brand.test", mentions={"brand.test": net.accounts["brand"].did})
        net.process_all()  # the AppView indexes asynchronously: wait until it has caught up
        brand = XrpcClient.login(net.pds, net.accounts["brand"])
        brand.list_notifications()  # proxied by the PDS to the AppView
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

from tests.support.template import ROOT

ATPROTO_DIR = ROOT / "infra" / "local" / "atproto"
SCRIPT = ATPROTO_DIR / "network.mjs"
SETUP = ATPROTO_DIR / "setup.sh"
DEFAULT_DB_URL = "postgresql://pg:password@localhost:5432/replywatch_atproto"
DEFAULT_REDIS = "localhost:6379"
PORT_NAMES = ("plc", "pds", "appview", "ozone", "control")


@dataclass(frozen=True)
class Account:
    handle: str
    did: str
    password: str  # an app password (com.atproto.server.createAppPassword)
    account_password: str
    email: str


@dataclass(frozen=True)
class AtprotoNetwork:
    pds: str
    appview: str
    plc: str
    ozone: str
    control: str
    accounts: dict[str, Account]
    raw: dict[str, Any] = field(repr=False)

    def process_all(self, timeout: float = 10.0) -> None:
        """Return once the AppView has indexed everything written to the PDS so far."""
        response = httpx.post(
            f"{self.control}/process-all", params={"timeout": int(timeout * 1000)}, timeout=timeout + 10
        )
        response.raise_for_status()


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def missing_requirements() -> str | None:
    """Why the network cannot start here (None when it can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ATPROTO_DIR / "node_modules" / "@atproto" / "dev-env").is_dir():
        return f"{ATPROTO_DIR.relative_to(ROOT)}/node_modules is missing"
    db = urlsplit(os.environ.get("DB_POSTGRES_URL", DEFAULT_DB_URL))
    if not _reachable(db.hostname or "localhost", db.port or 5432):
        return f"PostgreSQL is not reachable at {db.hostname}:{db.port or 5432}"
    redis_host, _, redis_port = os.environ.get("REDIS_HOST", DEFAULT_REDIS).partition(":")
    if not _reachable(redis_host, int(redis_port or 6379)):
        return f"Redis is not reachable at {redis_host}:{redis_port or 6379}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _read_lines(stream: IO[str], out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


@contextlib.contextmanager
def atproto_network(
    accounts: tuple[str, ...] = ("brand", "alice"),
    ports: Mapping[str, int] | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[AtprotoNetwork]:
    """Run network.mjs until the block ends. ``accounts`` are short names (handles NAME.test);
    ``ports`` may fix any of plc, pds, appview, ozone, control (others are free ports)."""
    chosen = {name: _free_port() for name in PORT_NAMES} | dict(ports or {})
    env = os.environ.copy()
    env |= {f"ATPROTO_{name.upper()}_PORT": str(port) for name, port in chosen.items()}
    env["ATPROTO_ACCOUNTS"] = ",".join(accounts)
    env.setdefault("DB_POSTGRES_URL", DEFAULT_DB_URL)
    env.setdefault("REDIS_HOST", DEFAULT_REDIS)
    env.pop("LOG_ENABLED", None)  # the servers' JSON logs would go to stdout
    workdir = Path(tempfile.mkdtemp(prefix="replywatch-atproto-log-"))
    log_path = workdir / "network.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["node", str(SCRIPT)],
            cwd=ATPROTO_DIR,
            env=env,
            stdin=subprocess.PIPE,  # closing it stops the network, even if this process dies
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert proc.stdout is not None and proc.stdin is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        info = _wait_ready(proc, lines, log_path, startup_timeout)
        yield AtprotoNetwork(
            pds=info["pds"],
            appview=info["appview"],
            plc=info["plc"],
            ozone=info["ozone"],
            control=info["control"],
            accounts={name: Account(**acct) for name, acct in info["accounts"].items()},
            raw=info,
        )
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(
    proc: subprocess.Popen[str], lines: queue.Queue[str | None], log_path: Path, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"network.mjs not ready within {timeout:.0f}s; its log:\n{_tail(log_path)}")
        try:
            line = lines.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
        if line is None:
            proc.wait(timeout=30)
            raise RuntimeError(f"network.mjs exited ({proc.returncode}) before it was ready:\n{_tail(log_path)}")
        with contextlib.suppress(ValueError):
            info = json.loads(line)
            if isinstance(info, dict) and "pds" in info:
                return info


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(OSError):
        assert proc.stdin is not None
        proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# --- writing to the network as a user, over XRPC -------------------------------------------


@dataclass(frozen=True)
class PostRef:
    uri: str
    cid: str

    def strong_ref(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mention_facets(text: str, mentions: Mapping[str, str]) -> list[dict[str, Any]]:
    """Mention facets for every ``@handle`` of ``mentions`` (handle -> did) in ``text``.
    Indexes are byte offsets into the UTF-8 text, as the lexicon says (not str indexes)."""
    facets = []
    encoded = text.encode()
    for handle, did in mentions.items():
        for match in re.finditer(re.escape(f"@{handle}".encode()), encoded):
            facets.append(
                {
                    "index": {"byteStart": match.start(), "byteEnd": match.end()},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}],
                }
            )
    return sorted(facets, key=lambda facet: facet["index"]["byteStart"])


class XrpcClient:
    """A logged-in user of a PDS: just enough XRPC to make scenarios and read notifications."""

    def __init__(self, pds: str, session: dict[str, Any]) -> None:
        self.did: str = session["did"]
        self.handle: str = session["handle"]
        self.http = httpx.Client(base_url=pds, timeout=30, headers={"Authorization": f"Bearer {session['accessJwt']}"})

    @classmethod
    def login(cls, pds: str, account: Account) -> XrpcClient:
        response = httpx.post(
            f"{pds}/xrpc/com.atproto.server.createSession",
            json={"identifier": account.handle, "password": account.password},
            timeout=30,
        )
        response.raise_for_status()
        return cls(pds, response.json())

    def call(self, nsid: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(f"/xrpc/{nsid}", params=params)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def procedure(self, nsid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = self.http.post(f"/xrpc/{nsid}", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json() if response.content else {}
        return result

    def create_post(
        self,
        text: str,
        *,
        mentions: Mapping[str, str] | None = None,
        reply_to: PostRef | None = None,
        root: PostRef | None = None,
        quote: PostRef | None = None,
        created_at: str | None = None,
    ) -> PostRef:
        """Post ``text``; ``mentions`` (handle -> did) become facets; a reply needs the post it
        answers (``reply_to``) and its thread's first post (``root``, default ``reply_to``)."""
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at or now_iso()}
        if mentions:
            record["facets"] = mention_facets(text, mentions)
        if reply_to is not None:
            record["reply"] = {"root": (root or reply_to).strong_ref(), "parent": reply_to.strong_ref()}
        if quote is not None:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": quote.strong_ref()}
        created = self.procedure(
            "com.atproto.repo.createRecord",
            {"repo": self.did, "collection": "app.bsky.feed.post", "record": record},
        )
        return PostRef(uri=created["uri"], cid=created["cid"])

    def list_notifications(self, **params: Any) -> list[dict[str, Any]]:
        notifications: list[dict[str, Any]] = self.call("app.bsky.notification.listNotifications", **params)[
            "notifications"
        ]
        return notifications

    def close(self) -> None:
        self.http.close()
