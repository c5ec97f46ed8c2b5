"""The dashboard page in headless Chromium, against canned API answers from a local server.

The server answers on the paths the stack serves (``/v1/dashboard`` and
``/v1/dashboard/api/...``), so the page finds its API exactly as it does behind API Gateway.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest

from replywatch.stats import StatsResponse, Timeseries
from replywatch.web import dashboard_html
from tests.support.browser import chromium, png_size, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Page, ViewportSize
    from playwright.sync_api import Error as PlaywrightError

KEY = "rwk_test_0123456789abcdef"
ZONE = "Europe/London"
API = "/v1/dashboard/api"
AS_OF = datetime(2026, 3, 14, 15, 30, tzinfo=UTC)
TO = date(2026, 3, 14)
FROM = TO - timedelta(days=29)
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 812}

# 1,284 conversations in 30 days; 1,102 answered publicly, with no answer taking a day or more.
DISTRIBUTION = [
    ("< 5 min", 0, 300, 231),
    ("5–15 min", 300, 900, 198),
    ("15 min – 1 h", 900, 3600, 246),
    ("1–4 h", 3600, 14400, 221),
    ("4–24 h", 14400, 86400, 206),
    ("≥ 24 h", 86400, None, 0),
]
QUIET_DAYS = {3, 10, 11, 24}  # nothing received: gaps in the SLA chart, not zeros


def as_served(model: type[StatsResponse | Timeseries], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as the API would serve it: validated by the API's own model, field for field."""
    served = model.model_validate(body).model_dump(mode="json", by_alias=True)
    assert set(served) == set(body), f"canned {model.__name__} drifted: {set(served) ^ set(body)}"
    return served


def stats_body(brand: str = "acme") -> dict[str, Any]:
    oldest = AS_OF - timedelta(days=2, hours=3, minutes=5)
    return as_served(
        StatsResponse,
        {
            "brand": brand,
            "from": FROM.isoformat(),
            "to": TO.isoformat(),
            "tz": ZONE,
            "channel": None,
            "as_of": AS_OF.isoformat(),
            "received": 1284,
            "responded": 1102,
            "resolved": 38,
            "response_rate": 0.8583,
            "handled_rate": 0.8879,
            "first_response_mean_seconds": 15120.0,  # 4 h 12 min
            "first_response_p50_seconds": 2460.0,  # 41 min
            "first_response_p90_seconds": 41400.0,  # 11 h 30 min
            "first_response_p99_seconds": 81600.0,  # 22 h 40 min
            "within_sla_percent": 71.4,
            "within_1h_percent": 52.57,
            "within_24h_percent": 85.83,
            "overdue": 57,
            "negative": 311,
            "sentiment": {"negative": 311, "neutral": 702, "positive": 271},
            "intent": {"complaint": 402, "question": 517, "praise": 198, "other": 167},
            "next_response": {
                "received": 240,
                "responded": 201,
                "resolved": 9,
                "overdue": 12,
                "mean_seconds": 5400.0,
                "within_sla_percent": 77.1,
            },
            "backlog": {
                "open": 46,
                "overdue": 19,
                "oldest_open_at": oldest.isoformat(),
                "oldest_open_age_seconds": int((AS_OF - oldest).total_seconds()),
            },
            "distribution": [
                {"label": label, "from_seconds": low, "to_seconds": high, "count": count}
                for label, low, high, count in DISTRIBUTION
            ],
            "industry": {
                "first_response_mean_seconds": 18000,
                "expect_answer_within_1h_percent": 40,
                "x_complaints_answered_within_24h_percent": 40,
                "sources": ["Sprout Social Index", "Convince & Convert", "Social Bakers"],
            },
        },
    )


def timeseries_body(brand: str = "acme") -> dict[str, Any]:
    points = []
    for index in range(30):
        day = FROM + timedelta(days=index)
        received = 0 if index in QUIET_DAYS else 30 + (index * 7) % 41
        responded = received * 6 // 7
        points.append(
            {
                "start": day.isoformat(),
                "end": day.isoformat(),
                "received": received,
                "responded": responded,
                "resolved": 1 if received else 0,
                "response_rate": round(responded / received, 4) if received else None,
                "handled_rate": round((responded + 1) / received, 4) if received else None,
                "within_sla_percent": round(55 + (index * 13) % 40 + 0.5, 2) if received else None,
                "within_1h_percent": round(40 + (index * 11) % 30, 2) if received else None,
                "within_24h_percent": round(80 + (index * 3) % 15, 2) if received else None,
                "first_response_p50_seconds": 1800.0 + 60 * index if received else None,
                "first_response_p90_seconds": 36000.0 if received else None,
                "first_response_p99_seconds": 79000.0 if received else None,
                "first_response_mean_seconds": 14000.0 + 100 * index if received else None,
                "negative": received // 4,
                "overdue": received // 20,
            }
        )
    return as_served(
        Timeseries,
        {
            "brand": brand,
            "from": FROM.isoformat(),
            "to": TO.isoformat(),
            "tz": ZONE,
            "channel": None,
            "interval": "day",
            "points": points,
        },
    )


def brands_body(name: str = "Acme Outdoor") -> dict[str, Any]:
    return {
        "items": [{"brand_id": "acme", "name": name, "timezone": ZONE, "sla_first_response_seconds": 3600}],
    }


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeApi:
    """The stack's dashboard routes on 127.0.0.1: the page, and canned JSON per path."""

    routes: dict[str, tuple[int, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""

    def answer(self, path: str, status: int, body: Any) -> None:
        self.routes[path] = (status, body)

    def api_requests(self) -> list[Request]:
        return [request for request in self.requests if request.path.startswith(API)]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    fake.answer(f"{API}/brands", 200, brands_body())
    fake.answer(f"{API}/brands/acme/stats", 200, stats_body())
    fake.answer(f"{API}/brands/acme/stats/timeseries", 200, timeseries_body())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)  # as API Gateway decodes a path parameter
            fake.requests.append(Request(path, parse_qs(url.query), dict(self.headers.items())))
            if path == "/v1/dashboard":
                self._send(200, "text/html; charset=utf-8", dashboard_html().encode())
                return
            status, body = fake.routes.get(path, (404, {"message": f"No route {path}"}))
            self._send(status, "application/json", json.dumps(body).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


OpenPage = Callable[..., "Page"]


@pytest.fixture
def open_page(browser: Browser, api: FakeApi) -> Iterator[OpenPage]:
    """Open the dashboard at a viewport size and fragment; no dialog and no script error allowed."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_error(error: PlaywrightError) -> None:
        problems.append(f"page error: {error} {error.stack}")

    def opener(fragment: str = f"brand=acme&key={KEY}", viewport: ViewportSize = DESKTOP) -> Page:
        phone = viewport["width"] < 600
        context = browser.new_context(
            viewport=viewport,
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
            locale="en-GB",
            timezone_id=ZONE,
        )
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", on_dialog)
        page.on("pageerror", on_error)
        page.goto(f"{api.base_url}/v1/dashboard" + (f"#{fragment}" if fragment else ""))
        return page

    yield opener
    for context in contexts:
        context.close()
    assert problems == []


def wait_ready(page: Page) -> None:
    page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    page.wait_for_selector("[data-testid=chart-distribution]")
    page.wait_for_selector("[data-testid=chart-sla]")


def tile_value(page: Page, name: str) -> str:
    return page.locator(f"[data-testid=tile-{name}] .value").inner_text()


def assert_png(paths: list[Path], width: int) -> None:
    for path in paths:
        assert path.exists(), path
        assert path.stat().st_size > 20_000, f"{path} is only {path.stat().st_size} bytes"
        got_width, got_height = png_size(path)
        assert got_width == width, (path, got_width)
        assert got_height > 600, (path, got_height)


def test_tiles_show_the_brand_figures_beside_the_industry(open_page: OpenPage, api: FakeApi, tmp_path: Path) -> None:
    page = open_page()
    wait_ready(page)

    assert tile_value(page, "received") == "1,284"
    assert tile_value(page, "response-rate") == "85.8%"
    assert tile_value(page, "within-sla") == "71.4%"
    assert tile_value(page, "p50") == "41 min"
    assert tile_value(page, "p90") == "11 h 30 min"
    assert tile_value(page, "p99") == "22 h 40 min"
    assert tile_value(page, "within-1h") == "52.6%"
    assert tile_value(page, "within-24h") == "85.8%"
    assert tile_value(page, "backlog-open") == "46"
    assert tile_value(page, "backlog-overdue") == "19"
    assert tile_value(page, "oldest-open") == "2 d 3 h"
    assert tile_value(page, "next-response") == "1 h 30 min"
    assert (
        "240 wrote again after an answer, 77.1% answered within SLA"
        in page.locator("[data-testid=tile-next-response]").inner_text()
    )
    assert "mean 4 h 12 min" in page.locator("[data-testid=tile-p50]").inner_text()

    assert page.locator("[data-testid=tile-p50-industry]").inner_text() == (
        "Better than the industry. Industry: about 5 h on average."
    )
    assert "40% of customers expect an answer within 1 h" in page.locator("[data-testid=tile-within-1h]").inner_text()
    assert (
        "40% of complaints on X are answered within 24 h" in page.locator("[data-testid=tile-within-24h]").inner_text()
    )

    assert page.locator("[data-testid=sentiment-negative] .n").inner_text() == "311"
    assert page.locator("[data-testid=intent-question] .n").inner_text() == "517"
    assert page.locator("[data-testid=brand-name]").inner_text() == "Acme Outdoor"
    assert "Sprout Social Index" in page.locator("[data-testid=industry-sources]").inner_text()

    assert_png(screenshot(page, "dashboard-desktop.png", tmp_path), DESKTOP["width"])


def test_it_asks_for_the_last_30_days_in_the_browsers_zone_with_the_key(open_page: OpenPage, api: FakeApi) -> None:
    wait_ready(open_page())

    by_path = {request.path: request for request in api.api_requests()}
    stats = by_path[f"{API}/brands/acme/stats"]
    series = by_path[f"{API}/brands/acme/stats/timeseries"]
    today = datetime.now(ZoneInfo(ZONE)).date()
    want = {"from": [(today - timedelta(days=29)).isoformat()], "to": [today.isoformat()], "tz": [ZONE]}
    assert stats.query == want
    assert series.query == {**want, "interval": ["day"]}
    for request in (stats, series):
        assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert not any(KEY in request.path or KEY in json.dumps(request.query) for request in api.requests)


def test_charts_have_a_bar_per_nonempty_bin_and_a_point_per_day_with_messages(open_page: OpenPage) -> None:
    page = open_page()
    wait_ready(page)

    distribution = page.locator("[data-testid=chart-distribution]")
    assert distribution.get_attribute("role") == "img"
    assert "First-response times of 1,102 answered messages" in (distribution.get_attribute("aria-label") or "")
    assert distribution.locator(".bar").count() == sum(1 for *_, count in DISTRIBUTION if count)
    bars = distribution.locator(".bar")
    assert [bars.nth(i).get_attribute("data-bin") for i in range(bars.count())] == [
        label for label, *_, count in DISTRIBUTION if count
    ]

    sla = page.locator("[data-testid=chart-sla]")
    assert sla.get_attribute("role") == "img"
    assert sla.get_attribute("aria-label")
    points = sla.locator(".point")
    assert points.count() == 30 - len(QUIET_DAYS)
    days = {points.nth(i).get_attribute("data-day") for i in range(points.count())}
    assert days == {(FROM + timedelta(days=i)).isoformat() for i in range(30) if i not in QUIET_DAYS}
    # Quiet days break the line: one segment per run of days with messages (days 3, 10-11, 24 quiet).
    path = sla.locator("path.line").get_attribute("d") or ""
    assert path.count("M") == 4


def test_a_phone_gets_one_readable_column_without_horizontal_scroll(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page(viewport=PHONE)
    wait_ready(page)

    overflow = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], f"page is {overflow[0]}px wide in a {overflow[1]}px window"
    charts = [page.locator(f"[data-testid={name}]").bounding_box() for name in ("chart-distribution", "chart-sla")]
    assert all(box is not None for box in charts)
    distribution, sla = charts
    assert distribution and sla
    assert sla["y"] > distribution["y"] + distribution["height"], "charts are stacked, one column"
    for box in charts:
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert tile_value(page, "received") == "1,284"

    assert_png(screenshot(page, "dashboard-phone.png", tmp_path), PHONE["width"] * 2)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Missing or invalid dashboard key"),
        (403, "This key cannot read brand acme"),
        (404, "Brand acme is not in this stack"),
    ],
)
def test_an_api_error_is_shown_as_text(open_page: OpenPage, api: FakeApi, status: int, message: str) -> None:
    api.answer(f"{API}/brands/acme/stats", status, {"message": message})
    page = open_page()
    page.wait_for_selector("body[data-state=error]")

    error = page.locator("[data-testid=error]")
    assert error.is_visible()
    assert page.locator("[data-testid=error-message]").inner_text() == message
    assert f"HTTP {status}" in error.inner_text()
    assert page.locator("[data-testid=chart-distribution]").count() == 0


def test_markup_in_a_brand_renders_as_text(open_page: OpenPage, api: FakeApi) -> None:
    script = "<script>window.pwned = 1</script>"
    api.answer(f"{API}/brands", 200, brands_body(name=f'<img src=x onerror="window.pwned = 2">{script}'))
    page = open_page()
    wait_ready(page)
    assert page.locator("[data-testid=brand-name]").inner_text() == f'<img src=x onerror="window.pwned = 2">{script}'

    other = "<script>window.pwned=3</script>"
    api.answer(f"{API}/brands/{other}/stats", 404, {"message": f"Brand {other} is not in this stack"})
    page2 = open_page(fragment=f"brand={other}&key={KEY}")
    page2.wait_for_selector("body[data-state=error]")
    assert page2.locator("[data-testid=brand-name]").inner_text() == other
    assert page2.locator("[data-testid=error-message]").inner_text() == f"Brand {other} is not in this stack"

    for opened in (page, page2):
        assert opened.evaluate("() => window.pwned") is None
        assert opened.locator("main script, main img").count() == 0


def test_without_a_fragment_the_form_asks_and_remembers_only_when_ticked(open_page: OpenPage, api: FakeApi) -> None:
    page = open_page(fragment="")
    form = page.locator("[data-testid=setup-form]")
    form.wait_for(state="visible")
    form.locator("input[name=brand]").fill("acme")
    form.locator("input[name=key]").fill(KEY)
    form.locator("button[type=submit]").click()
    wait_ready(page)
    assert tile_value(page, "received") == "1,284"
    assert page.evaluate("() => localStorage.length") == 0

    page.reload()
    page.locator("[data-testid=setup-form]").wait_for(state="visible")
    page.locator("input[name=brand]").fill("acme")
    page.locator("input[name=key]").fill(KEY)
    page.locator("input[name=remember]").check()
    page.locator("button[type=submit]").click()
    wait_ready(page)
    assert json.loads(page.evaluate("() => localStorage.getItem('replywatch.dashboard')")) == {
        "brand": "acme",
        "key": KEY,
    }

    page.reload()
    wait_ready(page)  # remembered: no form this time
    page.get_by_role("button", name="Forget this key on this device").click()
    assert page.evaluate("() => localStorage.length") == 0


def test_a_brand_with_nothing_received_shows_dashes_and_empty_charts(open_page: OpenPage, api: FakeApi) -> None:
    empty = stats_body()
    empty.update(
        received=0,
        responded=0,
        resolved=0,
        response_rate=None,
        handled_rate=None,
        first_response_mean_seconds=None,
        first_response_p50_seconds=None,
        first_response_p90_seconds=None,
        first_response_p99_seconds=None,
        within_sla_percent=None,
        within_1h_percent=None,
        within_24h_percent=None,
        overdue=0,
        sentiment={"negative": 0, "neutral": 0, "positive": 0},
        intent={"complaint": 0, "question": 0, "praise": 0, "other": 0},
        backlog={"open": 0, "overdue": 0, "oldest_open_at": None, "oldest_open_age_seconds": None},
        next_response={
            "received": 0,
            "responded": 0,
            "resolved": 0,
            "overdue": 0,
            "mean_seconds": None,
            "within_sla_percent": None,
        },
    )
    for bin_ in empty["distribution"]:
        bin_["count"] = 0
    series = timeseries_body()
    for point in series["points"]:
        point.update(received=0, responded=0, within_sla_percent=None, response_rate=None)
    api.answer(f"{API}/brands/acme/stats", 200, empty)
    api.answer(f"{API}/brands/acme/stats/timeseries", 200, series)

    page = open_page()
    wait_ready(page)
    assert tile_value(page, "received") == "0"
    for name in ("response-rate", "within-sla", "p50", "p90", "p99", "within-1h", "oldest-open", "next-response"):
        assert tile_value(page, name) == "—", name
    assert page.locator("[data-testid=chart-distribution] .bar").count() == 0
    assert page.locator("[data-testid=chart-sla] .point").count() == 0
    assert page.locator("[data-testid=chart-sla] path.line").count() == 0
