"""The detection-latency benchmark (bench/detect_bench.py), small: it still runs the real processing
and sweep, flags every message, stays within a minute with the one-minute schedule, and prints
the ratio against a five-minute sweep."""

from __future__ import annotations

import json

import pytest

from bench import detect_bench as bench
from tests.support import aws


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in aws.ENV.items():
        monkeypatch.setenv(key, value)


def test_a_small_run_flags_every_message_within_a_minute_and_prints_the_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench.main(["--messages", "25", "--spread-minutes", "15", "--seed", "3"]) == 0
    result = json.loads(capsys.readouterr().out)

    every_minute, every_five = result["sweep_every_60s"], result["sweep_every_300s"]
    assert every_minute["all_within_60s"] is True
    assert every_minute["latency_seconds"]["max"] <= 60
    assert sum(every_minute["histogram"].values()) == 25  # every message flagged, once
    assert every_minute["alerts_sent"] == every_five["alerts_sent"] == 25
    # Without look-ahead, a five-minute sweep is late by up to five minutes.
    assert every_five["latency_seconds"]["max"] > every_minute["latency_seconds"]["max"]
    assert result["ratio_300s_over_60s"]["mean"] > 1


def test_the_printed_distribution_and_ten_second_histogram() -> None:
    assert bench.distribution([3.0, 1.0, 2.0])["p50"] == 2.0
    assert bench.histogram([0.5, 9.9, 10.0, 59.0]) == {"0-10s": 2, "10-20s": 1, "50-60s": 1}
