"""A message's priority: negative, a complaint, or one of the brand's keywords makes it HIGH."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from replywatch.classify.base import fold
from replywatch.models import Classification, Intent, Priority, Sentiment


@lru_cache(maxsize=256)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    phrases = [r"\s+".join(re.escape(word) for word in fold(keyword).split()) for keyword in keywords]
    phrases = [phrase for phrase in phrases if phrase]
    if not phrases:
        return None
    # Whole words only ("cancel" is not in "cancellation"), in any script: \w is Unicode-aware.
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(phrases, key=len, reverse=True)) + r")(?!\w)")


def has_keyword(text: str, keywords: Sequence[str]) -> bool:
    pattern = _keyword_pattern(tuple(keywords))
    return pattern is not None and pattern.search(fold(text)) is not None


def priority_of(text: str, classification: Classification, keywords: Sequence[str]) -> Priority:
    if classification.sentiment is Sentiment.NEGATIVE or classification.intent is Intent.COMPLAINT:
        return Priority.HIGH
    return Priority.HIGH if has_keyword(text, keywords) else Priority.NORMAL
