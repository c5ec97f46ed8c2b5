"""What the local fakes of platform APIs share: a request handler served over real HTTP in a background thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Self


class HttpFake:
    """Serves ``_handler()`` on ``host``:``port`` (0: a free port), at ``base_url``; ``start``/``stop``, or a
    ``with`` block. A subclass sets what its handler reads before calling ``__init__``."""

    server_class: ClassVar[type[ThreadingHTTPServer]] = ThreadingHTTPServer
    thread_name: ClassVar[str | None] = None

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = self.server_class((host, port), self._handler())
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError
