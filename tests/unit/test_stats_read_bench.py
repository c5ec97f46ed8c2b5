"""The stats read benchmark (bench/stats_read_bench.py), small: it still runs, the items a query
reads stay within the range's bound at 10x the messages, and its in-memory shortcut still equals
the real counting path item for item."""

from __future__ import annotations

import pytest

from bench import stats_read_bench as bench
from tests.support import aws


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in aws.ENV.items():
        monkeypatch.setenv(key, value)


def test_the_bound_is_the_range_slots_times_the_channels_plus_totals_queue_heads_and_brand() -> None:
    # 30 UTC days: one DAY item per day and channel.
    assert bench.bound("UTC", 8) == {
        "total": 30 * 8 + 8 + 2 + 1,
        "aggregates_DAY": 240,
        "totals": 8,
        "queue_head": 2,
        "brand": 1,
    }
    # In Kolkata (UTC+5:30) the range runs 18:30 to 18:30 UTC: 30 whole UTC days, the 5 hours and
    # 2 quarters after 18:30 the day before added, and those of the last day taken off.
    kolkata = bench.bound("Asia/Kolkata", 8)
    assert (kolkata["aggregates_DAY"], kolkata["aggregates_HOUR"], kolkata["aggregates_Q"]) == (30 * 8, 10 * 8, 4 * 8)
    assert kolkata["total"] == (30 + 10 + 4) * 8 + 8 + 2 + 1


def test_reads_stay_in_bound_and_the_in_memory_population_equals_the_real_path() -> None:
    small, large = 60, 2000
    result, in_bound = bench.compare(small, large, seed=3, head=4)

    assert in_bound
    faithful = result["faithful_at_small"]  # compare() raises when any item or answer differs
    assert faithful["state_items_compared"] > small  # day, hour and quarter items, and TOTALS
    assert faithful["queue_head_items_compared"] > 0
    for zone in bench.ZONES:
        few, many = result["runs"][str(small)]["queries"][zone], result["runs"][str(large)]["queries"][zone]
        limit = result["bound"][zone]["total"]
        assert few["items_read"] <= many["items_read"] <= limit
        assert few["requests"] == many["requests"]
        assert few["items_read"] == few["items_returned"]  # nothing read is filtered out
        assert result[f"items_read_ratio_{large // 1000}k_vs_{small}"][zone] == round(
            many["items_read"] / few["items_read"], 4
        )
    utc = result["runs"][str(large)]["queries"]["UTC"]["items_read_by_kind"]
    assert set(utc) == {"aggregates_DAY", "totals", "queue_head", "brand"}  # whole days only
    assert utc["queue_head"] == 2 and utc["brand"] == 1 and utc["totals"] == len(bench.CHANNELS)
