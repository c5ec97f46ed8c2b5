"""Headless Chromium for the dashboard tests: Debian's `chromium`, driven by Playwright.

No browser is ever downloaded (never `playwright install`): `make browser` installs Debian's
package and Playwright launches that executable. Missing pieces fail the test with the command
that installs them; they are never a reason to skip.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.template import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARTIFACTS = ROOT / ".artifacts" / "dashboard"
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str:
    """The Chromium to drive: $REPLYWATCH_CHROMIUM, else Debian's."""
    wanted = os.environ.get("REPLYWATCH_CHROMIUM")
    for candidate in (wanted,) if wanted else CANDIDATES:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    if found and not wanted:
        return found
    pytest.fail(
        f"Chromium not found ({wanted or ' or '.join(CANDIDATES)}): run `make browser` "
        "(installs Debian's chromium; `make test` does it too)",
        pytrace=False,
    )


def launch_args() -> list[str]:
    """Flags for a container or CI: no GPU, no /dev/shm limits; no sandbox only as root."""
    args = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"]
    if os.geteuid() == 0:
        # Chromium's sandbox refuses to run as root; an unprivileged user keeps it.
        args.append("--no-sandbox")
    return args


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the length of the block."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: run `make venvs` (pip install -e '.[dev]')", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=launch_args())
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str, *directories: Path) -> list[Path]:
    """A full-page PNG of ``page`` in each directory and in .artifacts/dashboard/."""
    png = page.screenshot(full_page=True, type="png")
    written = []
    for directory in (*directories, ARTIFACTS):
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_bytes(png)
        written.append(path)
    return written


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (and a check that it is one)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)
