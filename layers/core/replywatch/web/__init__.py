"""The read-only dashboard: one self-contained HTML page, served by the API function.

The page holds no data. It reads the brand and a dashboard key from its URL fragment and
fetches the statistics from ``/dashboard/api/...`` next to where it is served.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def dashboard_html() -> str:
    """The dashboard page, read once per container."""
    return files(__name__).joinpath("dashboard.html").read_text(encoding="utf-8")
