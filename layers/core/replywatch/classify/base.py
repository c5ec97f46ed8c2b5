"""The one interface every sentiment provider implements, and helpers they share."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Protocol

from replywatch.models import Classification


class Classifier(Protocol):
    def classify(self, text: str) -> Classification: ...

    def classify_many(self, texts: Sequence[str]) -> list[Classification]: ...


def chunks[T](items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Arabic short vowels, shadda, sukun and the tatweel are optional in writing; hamza seats on
# alef, alef maqsura and ta marbuta are written either way.
_ARABIC = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"} | dict.fromkeys((*range(0x064B, 0x0653), 0x0670, 0x0640))
)
# Devanagari's nukta (ख़ / ख, ज़ / ज) is written or left out at will, and chandrabindu is
# often typed as anusvara (नहीँ / नहीं): one form each.
_DEVANAGARI = str.maketrans({"\u093c": None, "\u0901": "\u0902"})
# Combining marks on Latin letters, once decomposed (é → e + ◌́).
_LATIN_MARKS = re.compile(r"(?<=[A-Za-z\u00c0-\u024f\u1e00-\u1eff])[\u0300-\u036f]+")


def fold(text: str) -> str:
    """Case- and accent-insensitive form: ``Rückerstattung`` → ``ruckerstattung``, ``ß`` → ``ss``.

    Only marks on Latin letters (and Arabic's optional vowel signs) are dropped: in Devanagari a
    vowel sign is part of the word. Arabic letters written two ways are written one way."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", _LATIN_MARKS.sub("", decomposed)).translate(_ARABIC).translate(_DEVANAGARI)
