"""Report rows and their rendering (pure)."""

from __future__ import annotations

import pytest

from replywatch.alerts import duration
from replywatch.report import render


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h 00m"),
        (4200, "1h 10m"),
        (86400, "24h 00m"),
        (3 * 86400 + 5 * 3600 + 59, "3d 5h"),
    ],
)
def test_durations_read_as_a_person_would_say_them(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_no_figures_show_as_a_dash_and_an_unknown_format_is_refused() -> None:
    row = {
        "stack": "s",
        "brand": "b",
        "name": "B",
        "from": "2026-01-01",
        "to": "2026-01-30",
        "tz": "UTC",
        "conversations": 0,
        "response_rate_percent": None,
        "handled_rate_percent": None,
        "first_response_p50_seconds": None,
        "first_response_p90_seconds": None,
        "first_response_mean_seconds": None,
        "within_sla_percent": None,
        "within_1h_percent": None,
        "within_24h_percent": None,
        "overdue": 0,
        "negative": 0,
        "open_now": 0,
        "oldest_open_seconds": None,
    }
    table = render([row], "table")
    assert table.splitlines()[1].split() == ["s", "b", "B", "0", *["-"] * 8, "0", "0", "0", "-"]
    assert "days 2026-01-01 to 2026-01-30 (UTC)" in table
    with pytest.raises(ValueError, match="no report format"):
        render([row], "xml")
