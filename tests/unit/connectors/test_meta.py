"""The Graph helpers both Meta connectors share: error bodies, usage headers, paging, scan state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from replywatch.connectors.base import AuthFailed, ConnectorError, PollContext, RateLimited
from replywatch.connectors.meta import MAX_IDS, Job, Scan, near_limit, next_after, raise_for_graph_error, usage
from replywatch.models import Source
from tests.unit.connectors.graph_fake import fixture

NOW = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def error(code: int, status: int = 400, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": "x", "code": code}}, headers=headers)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (4, 400, RateLimited),
        (17, 400, RateLimited),
        (32, 403, RateLimited),
        (341, 400, RateLimited),
        (613, 400, RateLimited),
        (80001, 403, RateLimited),
        (80006, 400, RateLimited),
        (190, 400, AuthFailed),
        (190, 401, AuthFailed),
        (102, 400, AuthFailed),
        (10, 403, AuthFailed),
        (200, 403, AuthFailed),
        (100, 400, ConnectorError),
        (1, 500, ConnectorError),
        (2, 503, ConnectorError),
    ],
)
def test_graph_error_codes_decide_before_the_status(code: int, status: int, expected: type[Exception]) -> None:
    with pytest.raises(expected) as raised:
        raise_for_graph_error(error(code, status), NOW)
    assert type(raised.value) is expected


def test_an_answer_without_a_graph_error_is_left_to_the_status() -> None:
    raise_for_graph_error(httpx.Response(200, json={"data": []}), NOW)
    raise_for_graph_error(httpx.Response(502, text="<html>Bad gateway</html>"), NOW)


def test_the_error_message_is_not_repeated_in_the_exception() -> None:
    body = fixture("facebook", "error_unknown_object.json")
    with pytest.raises(ConnectorError) as raised:
        raise_for_graph_error(httpx.Response(400, json=body), NOW)
    assert "Unsupported" not in str(raised.value) and "100" in str(raised.value)


def test_usage_reads_each_header_kind() -> None:
    headers = {name: httpx.Headers(value) for name, value in fixture("facebook", "usage_headers.json").items()}
    assert usage(headers["business_use_case_throttled"]) == (100.0, 17.0)
    assert usage(headers["app_near_limit"]) == (96.0, 0.0)
    assert usage(headers["page_comfortable"]) == (20.0, 0.0)
    assert near_limit(headers["app_near_limit"]) and not near_limit(headers["page_comfortable"])
    assert usage({"x-page-usage": json.dumps({"call_count": 5, "estimated_time_to_regain_access": 3})}) == (5.0, 3.0)


def test_unreadable_usage_headers_count_as_nothing() -> None:
    assert usage({"x-app-usage": "not json", "x-page-usage": "[1, 2]", "x-business-use-case-usage": '{"1": 5}'}) == (
        0.0,
        0.0,
    )
    assert usage({"x-app-usage": '{"call_count": "NaN", "total_time": -4}'}) == (0.0, 0.0)


def test_a_throttle_without_an_estimate_honours_retry_after() -> None:
    with pytest.raises(RateLimited) as raised:
        raise_for_graph_error(error(4, headers={"Retry-After": "120"}), NOW)
    assert raised.value.retry_at == NOW + timedelta(seconds=120)


def test_next_after_keeps_only_the_paging_parameters() -> None:
    cursor_list = {
        "data": [1],
        "paging": {
            "cursors": {"before": "B", "after": "A1"},
            "next": "https://graph.facebook.com/v21.0/1/comments?access_token=SECRET&limit=25&after=A1",
        },
    }
    assert next_after(cursor_list) == "after=A1"
    time_list = {
        "data": [1],
        "paging": {"next": "https://graph.facebook.com/v21.0/1/feed?access_token=SECRET&until=17&__paging_token=enc_X"},
    }
    assert next_after(time_list) == "until=17&__paging_token=enc_X"
    assert next_after({"data": [1], "paging": {"cursors": {"before": "B", "after": "A1"}}}) is None  # no next: the end
    assert next_after({"data": []}) is None
    assert next_after("not a list") is None
    assert next_after({"paging": {"next": "https://graph.facebook.com/v21.0/1/feed?access_token=SECRET"}}) is None


def ctx(cursor: dict[str, str]) -> PollContext:
    source = Source(brand_id="acme", source_id="s", platform="facebook", base_url="https://g.example", token_secret="x")
    return PollContext(
        source=source, secret="t", client=None, now=NOW, cursor=cursor, backfill_from=NOW - timedelta(hours=24)
    )  # type: ignore[arg-type]


def test_a_scan_survives_the_cursor_and_a_finished_one_moves_the_mark() -> None:
    scan = Scan.load({}, "comments", ctx({}))
    assert scan.mark == NOW - timedelta(hours=24) and scan.started is None
    scan.started = NOW
    scan.after = "until=17&__paging_token=enc_X"
    scan.jobs = [Job("1_2/comments", "after=QQ", {"post": "1_2"})]
    assert scan.is_new("c1", NOW - timedelta(minutes=1)) and scan.is_new("c0", NOW - timedelta(hours=2))
    scan.counts["m1"] = 3
    cursor: dict[str, str] = {}
    scan.save(cursor)

    again = Scan.load(cursor, "comments", ctx(cursor))
    assert (again.started, again.after, again.jobs, again.seen, again.counts) == (
        NOW,
        "until=17&__paging_token=enc_X",
        [Job("1_2/comments", "after=QQ", {"post": "1_2"})],
        {"c1": int((NOW - timedelta(minutes=1)).timestamp())},
        {"m1": 3},
    )
    again.finish()
    again.save(cursor)
    assert cursor == {
        "comments": (NOW - timedelta(minutes=5)).isoformat(),
        "comments_ids": "c1",
        "comments_counts": '{"m1":3}',
    }
    finished = Scan.load(cursor, "comments", ctx(cursor))
    assert not finished.is_new("c1", NOW - timedelta(minutes=1))
    assert finished.is_new("c2", NOW - timedelta(minutes=1))
    assert not finished.is_new("c3", NOW - timedelta(minutes=6))


def test_an_unreadable_scan_position_starts_the_scan_again_from_the_mark() -> None:
    cursor = {"comments": (NOW - timedelta(hours=1)).isoformat(), "comments_scan": "{not json"}
    scan = Scan.load(cursor, "comments", ctx(cursor))
    assert scan.started is None and scan.after == "" and scan.jobs == []
    assert scan.mark == NOW - timedelta(hours=1)


def busy_scan(count: int) -> tuple[Scan, list[tuple[str, datetime]]]:
    """A scan under way that has taken ``count`` children, all at or after its next mark, ten a second."""
    scan = Scan.load({}, "comments", ctx({}))
    scan.started = NOW
    children = [(f"100_{k}", NOW - timedelta(minutes=4) + timedelta(seconds=k // 10)) for k in range(count)]
    for child_id, created in children:
        assert scan.is_new(child_id, created)
    return scan, children


def test_the_ids_a_busy_scan_keeps_are_capped_to_the_newest_in_the_position_and_after_it() -> None:
    scan, children = busy_scan(3 * MAX_IDS)
    newest = [child_id for child_id, _ in sorted(children, key=lambda c: (c[1], c[0]), reverse=True)[:MAX_IDS]]
    cursor: dict[str, str] = {}
    scan.save(cursor)  # the position, mid-scan
    assert sorted(json.loads(cursor["comments_scan"])["seen"]) == sorted(newest)

    resumed = Scan.load(cursor, "comments", ctx(cursor))
    assert resumed.is_new("100_late", NOW - timedelta(seconds=30))  # the scan goes on in a later poll
    resumed.finish()
    resumed.save(cursor)
    kept = cursor["comments_ids"].split()
    assert kept == ["100_late", *newest[: MAX_IDS - 1]]  # newest first
    assert len(json.dumps(cursor)) < 20_000  # DynamoDB items stop at 400 KB; many streams share one

    again = Scan.load(cursor, "comments", ctx(cursor))
    again.save(cursor)
    assert cursor["comments_ids"].split() == kept  # stable across loads


def test_capping_the_ids_can_repeat_a_child_but_never_skip_one() -> None:
    scan, children = busy_scan(3 * MAX_IDS)
    cursor: dict[str, str] = {}
    scan.finish()
    scan.save(cursor)
    following = Scan.load(cursor, "comments", ctx(cursor))
    # The mark is the scan's start less MARK_LAG, whatever was forgotten: nothing after it is passed over.
    assert following.mark == NOW - timedelta(minutes=5)
    again = [child_id for child_id, created in children if following.is_new(child_id, created)]
    # Only the oldest, forgotten ids are offered again (stored once: ingest is idempotent).
    assert again == [child_id for child_id, _ in children[: 2 * MAX_IDS]]
    assert following.is_new("100_unseen", NOW - timedelta(minutes=5))
    assert following.is_new("100_unseen_old", NOW - timedelta(minutes=4, seconds=30))


def test_a_position_saved_with_seen_as_a_list_of_ids_still_loads() -> None:
    state = {"started": NOW.isoformat(), "after": None, "jobs": [["1_2/comments", "after=QQ", {}]], "seen": ["c1"]}
    cursor = {"comments": (NOW - timedelta(hours=1)).isoformat(), "comments_scan": json.dumps(state)}
    scan = Scan.load(cursor, "comments", ctx(cursor))
    assert set(scan.seen) == {"c1"} and scan.jobs == [Job("1_2/comments", "after=QQ", {})]
    scan.jobs.clear()
    scan.finish()
    assert "c1" in scan.taken
