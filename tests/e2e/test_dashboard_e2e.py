"""The dashboard served by the stack in MiniStack, opened in headless Chromium with a read-only key.

Needs the e2e stack deployed with DashboardAccess=api-keys (tests/e2e/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

from infra.local import scenario
from infra.local.demo import DemoRun
from infra.local.stack import LocalStack
from replywatch import apikeys
from replywatch.store import StateStore
from tests.support.browser import chromium, png_size, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ZONE = "UTC"
DAYS = 30


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def dashboard_key(stack: LocalStack, demo_run: DemoRun) -> str:
    """A read-only key for the demo brand, stored as `replywatch api-key create` stores one."""
    token, record = apikeys.create("e2e dashboard", [scenario.BRAND_ID], datetime.now(UTC))
    StateStore(stack.client("dynamodb"), stack.outputs["StateTableName"]).put_api_key(record)
    return token


def signed(stack: LocalStack, path: str, **query: str) -> Any:
    """The same figures through the IAM-signed API, for the range and zone the page asks for."""
    to = datetime.now(UTC).date()
    params = {"from": (to - timedelta(days=DAYS - 1)).isoformat(), "to": to.isoformat(), "tz": ZONE, **query}
    status, body = stack.api_get(f"/brands/{scenario.BRAND_ID}{path}?{urlencode(params)}")
    assert status == 200, body
    return body


def open_dashboard(browser: Browser, stack: LocalStack, key: str, width: int, height: int) -> tuple[Page, list[str]]:
    phone = width < 600
    context = browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
        locale="en-GB",
        timezone_id=ZONE,
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(f"{stack.api_url('/dashboard')}#{urlencode({'brand': scenario.BRAND_ID, 'key': key})}")
    # Cold starts in MiniStack can take a while.
    page.wait_for_selector("body[data-state=ready], body[data-state=error]", timeout=120_000)
    if page.locator("body[data-state=error]").count():
        pytest.fail(
            "the dashboard could not load its figures: "
            + page.locator("[data-testid=error]").inner_text()
            + " (is the e2e stack deployed with DashboardAccess=api-keys?)",
            pytrace=False,
        )
    page.wait_for_selector("[data-testid=chart-distribution]")
    page.wait_for_selector("[data-testid=chart-sla]")
    return page, problems


def test_the_stack_serves_the_dashboard_with_the_demo_data(
    stack: LocalStack, browser: Browser, dashboard_key: str, tmp_path: Path
) -> None:
    stats = signed(stack, "/stats")
    series = signed(stack, "/stats/timeseries", interval="day")
    assert stats["received"] > 0, "the demo brand has messages"

    page, problems = open_dashboard(browser, stack, dashboard_key, 1280, 900)
    received = page.locator("[data-testid=tile-received] .value").inner_text()
    assert received == f"{stats['received']:,}"
    assert page.locator("[data-testid=tile-backlog-open] .value").inner_text() == f"{stats['backlog']['open']:,}"
    assert page.locator("[data-testid=chart-distribution] .bar").count() == sum(
        1 for bin_ in stats["distribution"] if bin_["count"]
    )
    assert page.locator("[data-testid=chart-sla] .point").count() == sum(
        1 for point in series["points"] if point["received"] and point["within_sla_percent"] is not None
    )
    for path in screenshot(page, "e2e-dashboard-desktop.png", tmp_path):
        assert png_size(path)[0] == 1280
        assert path.stat().st_size > 20_000

    phone, phone_problems = open_dashboard(browser, stack, dashboard_key, 375, 812)
    width = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]
    for path in screenshot(phone, "e2e-dashboard-phone.png", tmp_path):
        assert png_size(path)[0] == 750
        assert path.stat().st_size > 20_000
    assert problems + phone_problems == []


def test_the_dashboard_api_refuses_a_bad_key(stack: LocalStack, browser: Browser, dashboard_key: str) -> None:
    status, body = stack.api_request(
        "GET",
        f"/dashboard/api/brands/{scenario.BRAND_ID}/stats",
        headers={"Authorization": "Bearer rwk_000000000000_" + "x" * 43},
        sign=False,
    )
    assert status == 401, body
    page = browser.new_page()
    page.goto(f"{stack.api_url('/dashboard')}#brand={scenario.BRAND_ID}&key=rwk_wrong")
    page.wait_for_selector("body[data-state=error]", timeout=120_000)
    assert "401" in page.locator("[data-testid=error]").inner_text()
    page.close()
