"""Brands side by side: one row of figures per brand, across stacks (an agency's clients).

Pure: rows are made from the same :class:`stats.StatsResponse` the API serves, so a report
and the API never disagree; rendering is a table for people, CSV for a spreadsheet, or JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from replywatch.alerts import duration
from replywatch.stats import INDUSTRY, StatsResponse

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Column:
    name: str  # the CSV and JSON key
    title: str  # the table's heading
    kind: str  # "text" | "count" | "percent" | "duration"


COLUMNS = (
    Column("stack", "stack", "text"),
    Column("brand", "brand", "text"),
    Column("name", "name", "text"),
    Column("from", "from", "text"),
    Column("to", "to", "text"),
    Column("tz", "tz", "text"),
    Column("conversations", "conv.", "count"),
    Column("response_rate_percent", "answered", "percent"),
    Column("handled_rate_percent", "handled", "percent"),
    Column("first_response_p50_seconds", "p50", "duration"),
    Column("first_response_p90_seconds", "p90", "duration"),
    Column("first_response_mean_seconds", "mean", "duration"),
    Column("within_sla_percent", "in SLA", "percent"),
    Column("within_1h_percent", "in 1 h", "percent"),
    Column("within_24h_percent", "in 24 h", "percent"),
    Column("overdue", "overdue", "count"),
    Column("negative", "negative", "count"),
    Column("open_now", "open now", "count"),
    Column("oldest_open_seconds", "oldest open", "duration"),
)


def default_range(today: date, first: date | None, last: date | None) -> tuple[date, date]:
    """The days a report covers: the given ones, else the ``DEFAULT_DAYS`` days up to yesterday
    (today is not over yet: its figures would look worse than the others)."""
    last = last or today - timedelta(days=1)
    return first or last - timedelta(days=DEFAULT_DAYS - 1), last


def row(stack: str, name: str, figures: StatsResponse) -> dict[str, Any]:
    """A brand's figures as a report row (numbers as the API gives them; rates as percents)."""
    return {
        "stack": stack,
        "brand": figures.brand,
        "name": name,
        "from": figures.from_day.isoformat(),
        "to": figures.to_day.isoformat(),
        "tz": figures.tz,
        "conversations": figures.received,
        "response_rate_percent": _percent(figures.response_rate),
        "handled_rate_percent": _percent(figures.handled_rate),
        "first_response_p50_seconds": figures.first_response_p50_seconds,
        "first_response_p90_seconds": figures.first_response_p90_seconds,
        "first_response_mean_seconds": figures.first_response_mean_seconds,
        "within_sla_percent": figures.within_sla_percent,
        "within_1h_percent": figures.within_1h_percent,
        "within_24h_percent": figures.within_24h_percent,
        "overdue": figures.overdue,
        "negative": figures.negative,
        "open_now": figures.backlog.open,
        "oldest_open_seconds": figures.backlog.oldest_open_age_seconds,
    }


def render(rows: Sequence[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[column.name for column in COLUMNS], lineterminator="\n")
        writer.writeheader()
        for item in rows:
            writer.writerow({name: _cell(value) for name, value in item.items()})
        return out.getvalue()
    if fmt == "table":
        return _table(rows)
    raise ValueError(f"no report format {fmt!r}")


def _table(rows: Sequence[dict[str, Any]]) -> str:
    shown = [col for col in COLUMNS if col.name not in ("from", "to", "tz")]
    cells = [[col.title for col in shown]]
    cells += [[_human(item[col.name], col.kind) for col in shown] for item in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(shown))]
    lines = [
        "  ".join(
            text.ljust(width) if col.kind == "text" else text.rjust(width)
            for text, width, col in zip(line, widths, shown, strict=True)
        ).rstrip()
        for line in cells
    ]
    spans = sorted({(item["from"], item["to"], item["tz"]) for item in rows})
    footer = [f"days {first} to {last} ({tz})" for first, last, tz in spans]
    footer.append(
        f"industry: {duration(INDUSTRY.first_response_mean_seconds)} average first response;"
        f" {INDUSTRY.expect_answer_within_1h_percent}% of complainants expect an answer within 1 h;"
        f" {INDUSTRY.x_complaints_answered_within_24h_percent}% of complaints on X are answered within 24 h"
    )
    return "\n".join([*lines, "", *footer]) + "\n"


def _human(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "percent":
        return f"{value:.1f}%"
    if kind == "duration":
        return duration(float(value))
    return str(value)


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a brand name starting with = + - @ is not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
