"""Sentiment on labelled CSVs: the offline provider against a VADER baseline.

    python -m bench.classify_bench ../shared/data/sentiment-multilingual

Reads every ``*.csv`` in the directory (columns text,label,source; labels negative, neutral,
positive; the file name starts with the language, e.g. ``french-valid.csv``) and prints one
JSON object: for each file and provider, macro-F1 over the three classes and the recall of
the negative class, plus counts; rows with no text or an unknown label are counted as skipped.
Exit code 2 when the directory is missing or holds no CSV.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from replywatch.classify import OfflineClassifier

LABELS = ("negative", "neutral", "positive")


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    scores = []
    for label in LABELS:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p == label != g)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label != p)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def recall(gold: Sequence[str], predicted: Sequence[str], label: str) -> float:
    relevant = [p for g, p in zip(gold, predicted, strict=True) if g == label]
    return sum(1 for p in relevant if p == label) / len(relevant) if relevant else 0.0


def vader() -> Callable[[str], str]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def predict(text: str) -> str:
        compound = analyzer.polarity_scores(text)["compound"]
        return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"

    return predict


def offline() -> Callable[[str], str]:
    classifier = OfflineClassifier()
    return lambda text: classifier.classify(text).sentiment.value


def read(path: Path) -> tuple[list[tuple[str, str]], dict[str, int]]:
    rows: list[tuple[str, str]] = []
    skipped = {"missing_text": 0, "unknown_label": 0}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("text") or "").strip()
            label = (row.get("label") or "").strip().lower()
            if not text:
                skipped["missing_text"] += 1
            elif label not in LABELS:
                skipped["unknown_label"] += 1
            else:
                rows.append((text, label))
    return rows, skipped


def run(folder: Path) -> dict[str, object]:
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{folder}: no *.csv files (expected e.g. english-valid.csv with text,label,source)")
    providers = {"offline": offline(), "vader": vader()}
    report: dict[str, object] = {}
    seconds = dict.fromkeys(providers, 0.0)
    classified = 0
    for path in files:
        rows, skipped = read(path)
        gold = [label for _, label in rows]
        entry: dict[str, object] = {
            "language": path.stem.split("-", 1)[0].split("_", 1)[0],
            "rows": len(rows),
            "skipped": skipped,
            "gold": {label: gold.count(label) for label in LABELS},
        }
        for name, predict in providers.items():
            started = time.perf_counter()
            predicted = [predict(text) for text, _ in rows]
            seconds[name] += time.perf_counter() - started
            entry[name] = {
                "macro_f1": round(macro_f1(gold, predicted), 3),
                "negative_recall": round(recall(gold, predicted, "negative"), 3),
                "predicted": {label: predicted.count(label) for label in LABELS},
            }
        classified += len(rows)
        report[path.name] = entry
    return {
        "files": report,
        "texts": classified,
        "per_second": {name: round(classified / s) if s else None for name, s in seconds.items()},
    }


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.classify_bench DIR", file=sys.stderr)
        return 2
    try:
        report = run(Path(argv[0]))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
