"""bench.classify_bench on a tiny directory of CSVs written here."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import classify_bench

ENGLISH = """text,label,source
"This is terrible, awful, the worst",negative,t
I hate this horrible broken app,negative,t
"Wonderful, amazing, I love it",positive,t
"Great job, thank you so much!",positive,t
The store opens at nine,neutral,t
The parcel is a box,neutral,t
,negative,t
Fine,sarcastic,t
"""
SPANISH = """text,label,source
"Es horrible, pésimo servicio",negative,t
"Me encanta, excelente, gracias",positive,t
La tienda abre a las nueve,neutral,t
"""


def test_bench_reports_each_file_and_provider(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "english-test.csv").write_text(ENGLISH, encoding="utf-8")
    (tmp_path / "spanish-test.csv").write_text(SPANISH, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a csv", encoding="utf-8")

    assert classify_bench.main([str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)

    assert set(report["files"]) == {"english-test.csv", "spanish-test.csv"}
    english = report["files"]["english-test.csv"]
    assert english["language"] == "english"
    assert english["rows"] == 6
    assert english["skipped"] == {"missing_text": 1, "unknown_label": 1}
    assert english["gold"] == {"negative": 2, "neutral": 2, "positive": 2}
    assert english["offline"]["macro_f1"] == 1.0  # trivially clear rows
    assert english["offline"]["negative_recall"] == 1.0
    assert report["files"]["spanish-test.csv"]["language"] == "spanish"
    assert report["files"]["spanish-test.csv"]["offline"]["macro_f1"] == 1.0
    for entry in report["files"].values():
        for provider in ("offline", "vader"):
            assert 0.0 <= entry[provider]["macro_f1"] <= 1.0
            assert 0.0 <= entry[provider]["negative_recall"] <= 1.0
            assert sum(entry[provider]["predicted"].values()) == entry["rows"]
    assert report["texts"] == 9


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p])
def test_missing_or_empty_directory_exits_2(
    tmp_path: Path, make: Callable[[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert classify_bench.main([str(make(tmp_path))]) == 2
    assert "no *.csv" in capsys.readouterr().err


def test_metrics() -> None:
    gold = ["negative", "negative", "neutral", "positive"]
    assert classify_bench.macro_f1(gold, gold) == 1.0
    assert classify_bench.recall(gold, ["negative", "neutral", "neutral", "positive"], "negative") == 0.5
    assert classify_bench.macro_f1(gold, ["positive"] * 4) == pytest.approx((0 + 0 + 0.4) / 3)
