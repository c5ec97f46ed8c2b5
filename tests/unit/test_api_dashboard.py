"""The read-only dashboard: its page, and the /dashboard/api routes behind a read-only API key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from replywatch import apikeys
from replywatch.models import ApiKey
from replywatch.stats import Backlog, bucket_of, day_aggregate
from replywatch.web import dashboard_html
from tests.support.apifakes import NOW, Answer, FakeBrands, FakeMessages, app_of, queued, request, slotted

TODAY = NOW.date()
ROUTES = [
    "/dashboard/api/brands",
    "/dashboard/api/brands/acme/stats",
    "/dashboard/api/brands/acme/stats/timeseries",
]


@pytest.fixture
def messages() -> FakeMessages:
    reader = FakeMessages(
        found=[
            day_aggregate(
                TODAY - timedelta(days=1),
                "x",
                histogram={bucket_of(120): 2},
                received=3,
                responded=2,
                response_seconds_sum=240,
                within_sla=2,
                within_1h=2,
                within_24h=2,
            ),
            *slotted(NOW - timedelta(hours=1), "mastodon", received=1, sentiment_negative=1),
        ],
        open_backlog=Backlog(open=1, overdue=0, oldest_open_at=NOW - timedelta(hours=1)),
    )
    record = queued("9101", 60)
    reader.records[record.key] = record
    return reader


@pytest.fixture
def key() -> tuple[str, ApiKey]:
    """A key that may read acme and globex (and a brand that is not in the stack)."""
    return apikeys.create("wall screen", ["acme", "globex", "gone"], NOW)


@pytest.fixture
def brands(key: tuple[str, ApiKey]) -> FakeBrands:
    _, record = key
    return FakeBrands(keys={record.key_id: record})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ask(
    messages: FakeMessages,
    brands: FakeBrands,
    path: str,
    query: str = "",
    headers: dict[str, str] | None = None,
    *,
    api_keys: bool = True,
) -> Answer:
    return request(app_of(messages, brands, api_keys=api_keys), path, query, headers=headers)


def assert_refused(answer: Answer, status: int, messages: FakeMessages) -> None:
    assert answer.status == status, answer.text
    assert isinstance(answer.body["message"], str) and answer.body["message"]
    assert messages.aggregate_calls == [] and messages.backlog_calls == [], "nothing read for a refused request"


# --- the page ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("api_keys", [True, False])
def test_the_page_is_served_without_a_key(messages: FakeMessages, brands: FakeBrands, api_keys: bool) -> None:
    answer = ask(messages, brands, "/dashboard", api_keys=api_keys)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text == dashboard_html()
    assert answer.text.lstrip().lower().startswith("<!doctype html>")
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_the_page_holds_no_data(messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey]) -> None:
    token, record = key
    page = ask(messages, brands, "/dashboard", headers=bearer(token)).text
    assert token not in page and record.key_id not in page
    assert "Acme" not in page and "question 9101" not in page
    assert messages.aggregate_calls == [] and messages.get_calls == []


# --- keys ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ROUTES)
def test_routes_are_403_when_the_stack_takes_no_keys(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey], path: str
) -> None:
    token, _ = key
    answer = ask(messages, brands, path, headers=bearer(token), api_keys=False)
    assert_refused(answer, 403, messages)
    assert "DashboardAccess" in answer.body["message"]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer rwk_nothing",
        "Bearer rwk_aaaaaaaaaaaa_" + "A" * 43,  # well formed, unknown id
    ],
    ids=["none", "empty", "no-token", "basic", "malformed", "unknown-id"],
)
def test_routes_are_401_without_a_valid_key(
    messages: FakeMessages, brands: FakeBrands, path: str, header: str | None
) -> None:
    headers = None if header is None else {"Authorization": header}
    answer = ask(messages, brands, path, headers=headers)
    assert_refused(answer, 401, messages)
    assert "Bearer" in answer.body["message"]


@pytest.mark.parametrize("path", ROUTES)
def test_routes_are_401_with_a_wrong_secret(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey], path: str
) -> None:
    token, _ = key
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert_refused(ask(messages, brands, path, headers=bearer(wrong)), 401, messages)


@pytest.mark.parametrize("path", ROUTES)
def test_routes_are_401_with_a_revoked_key(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey], path: str
) -> None:
    token, record = key
    del brands.keys[record.key_id]
    assert_refused(ask(messages, brands, path, headers=bearer(token)), 401, messages)


@pytest.mark.parametrize("path", ROUTES[1:])
def test_a_brand_outside_the_key_is_403(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey], path: str
) -> None:
    token, _ = key
    for brand in ("initech", "nobody"):  # in the stack or not: the key says nothing about either
        answer = ask(messages, brands, path.replace("acme", brand), headers=bearer(token))
        assert_refused(answer, 403, messages)
        assert brand in answer.body["message"]


@pytest.mark.parametrize("path", ROUTES[1:])
def test_a_brand_of_the_key_that_is_not_in_the_stack_is_404(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey], path: str
) -> None:
    token, _ = key
    answer = ask(messages, brands, path.replace("acme", "gone"), headers=bearer(token))
    assert_refused(answer, 404, messages)
    assert "gone" in answer.body["message"]


def test_the_header_name_and_scheme_are_case_insensitive(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey]
) -> None:
    token, _ = key
    answer = ask(messages, brands, "/dashboard/api/brands", headers={"authorization": f"bearer {token}"})
    assert answer.status == 200, answer.text


# --- what a key reads ---------------------------------------------------------------------------------


def test_brands_lists_only_the_brands_of_the_key(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey]
) -> None:
    token, _ = key
    answer = ask(messages, brands, "/dashboard/api/brands", headers=bearer(token))
    assert answer.status == 200, answer.text
    assert [item["brand_id"] for item in answer.body["items"]] == ["acme", "globex"]


def test_stats_with_a_key_are_the_stats_the_iam_route_gives(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey]
) -> None:
    token, _ = key
    query = "from=2026-11-20&to=2026-11-23&tz=Europe/London&channel=x"
    answer = ask(messages, brands, "/dashboard/api/brands/acme/stats", query, headers=bearer(token))
    assert answer.status == 200, answer.text
    assert (answer.body["received"], answer.body["responded"], answer.body["channel"]) == (3, 2, "x")
    iam = request(app_of(messages, brands), "/brands/acme/stats", query)
    assert answer.body == iam.body
    assert messages.backlog_calls == [("acme", "x"), ("acme", "x")]


def test_timeseries_with_a_key_is_the_timeseries_the_iam_route_gives(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey]
) -> None:
    token, _ = key
    query = f"from={TODAY - timedelta(days=13)}&to={TODAY}&interval=week"
    answer = ask(messages, brands, "/dashboard/api/brands/acme/stats/timeseries", query, headers=bearer(token))
    assert answer.status == 200, answer.text
    assert answer.body["interval"] == "week"
    assert sum(point["received"] for point in answer.body["points"]) == 4
    iam = request(app_of(messages, brands), "/brands/acme/stats/timeseries", query)
    assert answer.body == iam.body


@pytest.mark.parametrize("query", ["from=not-a-date", "to=2026-13-45", "channel=NOT A CHANNEL", "interval=hour"])
@pytest.mark.parametrize("path", ROUTES[1:])
@pytest.mark.parametrize("header", [None, "Bearer rwk_nothing"], ids=["no-key", "bad-key"])
def test_malformed_parameters_without_a_valid_key_are_401_and_say_nothing_of_the_parameters(
    messages: FakeMessages, brands: FakeBrands, path: str, query: str, header: str | None
) -> None:
    answer = ask(messages, brands, path, query, headers=None if header is None else {"Authorization": header})
    assert_refused(answer, 401, messages)
    assert "details" not in answer.body


@pytest.mark.parametrize("query", ["from=not-a-date", "tz=../x", "interval=hour"])
@pytest.mark.parametrize("path", ["/dashboard/api/brands/other/stats", "/dashboard/api/brands/other/stats/timeseries"])
def test_malformed_parameters_for_a_brand_outside_the_key_are_403_and_say_nothing_of_them(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey], path: str, query: str
) -> None:
    token, _ = key
    answer = ask(messages, brands, path, query, headers=bearer(token))
    assert_refused(answer, 403, messages)
    assert "details" not in answer.body and "other" in answer.body["message"]


def test_malformed_parameters_on_a_stack_without_keys_are_403(messages: FakeMessages, brands: FakeBrands) -> None:
    answer = ask(messages, brands, "/dashboard/api/brands/acme/stats", "from=not-a-date", api_keys=False)
    assert_refused(answer, 403, messages)


@pytest.mark.parametrize(
    "query", ["from=2026-11-20&to=2026-11-10", "from=2025-01-01&to=2026-11-23", "from=not-a-date", "tz=Nowhere/Land"]
)
def test_a_bad_range_with_a_key_is_400(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey], query: str
) -> None:
    token, _ = key
    answer = ask(messages, brands, "/dashboard/api/brands/acme/stats", query, headers=bearer(token))
    assert_refused(answer, 400, messages)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/dashboard/api/brands/acme/messages"),
        ("GET", "/dashboard/api/brands/acme/sources"),
        ("POST", "/dashboard/api/brands/acme/messages/bWFzdG9kb24jOTEwMQ/resolve"),
        ("GET", "/dashboard/api/openapi.json"),
    ],
)
def test_a_key_reads_no_messages_and_changes_nothing(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey], method: str, path: str
) -> None:
    token, _ = key
    app = app_of(messages, brands, api_keys=True)
    answer = request(
        app, path, method=method, headers=bearer(token), body={"reason": "phone"} if method == "POST" else None
    )
    assert answer.status == 404, answer.text
    assert "question 9101" not in answer.text
    assert messages.queue_calls == [] and messages.get_calls == [] and messages.resolve_calls == []


def test_no_message_text_on_any_dashboard_route(
    messages: FakeMessages, brands: FakeBrands, key: tuple[str, ApiKey]
) -> None:
    token, _ = key
    for path in ROUTES:
        answer = ask(messages, brands, path, headers=bearer(token))
        assert answer.status == 200, answer.text
        for private in ("question 9101", "@dana", "elsewhere.example", "author", "permalink", '"text"'):
            assert private not in answer.text, (path, private)
