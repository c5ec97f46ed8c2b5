"""The one interface every sentiment provider implements, and helpers they share."""

from __future__ import annotations

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


def _latin(char: str) -> bool:
    code = ord(char)
    return code < 0x0250 or 0x1E00 <= code <= 0x1EFF


# Arabic short vowels, shadda, sukun and the tatweel are optional in writing; hamza seats on
# alef, alef maqsura and ta marbuta are written either way.
_ARABIC_MARKS = frozenset(chr(code) for code in (*range(0x064B, 0x0653), 0x0670, 0x0640))
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"})


def fold(text: str) -> str:
    """Case- and accent-insensitive form: ``Rückerstattung`` → ``ruckerstattung``, ``ß`` → ``ss``.

    Only marks on Latin letters (and Arabic's optional vowel signs) are dropped: in Devanagari a
    vowel sign is part of the word. Arabic letters written two ways are written one way."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept: list[str] = []
    for char in decomposed:
        if char in _ARABIC_MARKS:
            continue
        if unicodedata.combining(char) and kept and _latin(kept[-1]):
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept)).translate(_ARABIC_LETTERS)
