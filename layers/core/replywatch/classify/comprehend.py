"""Amazon Comprehend: dominant language, then sentiment per language, in batches of 25.

Anything Comprehend cannot take (a language it has no sentiment model for, an item it
rejects, a throttle or any other client error) is classified by the fallback provider,
so a message is never left without a classification. Logs carry error types and counts,
never message text.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from replywatch.classify.base import Classifier, chunks
from replywatch.classify.intent import intent_of
from replywatch.models import Classification, Sentiment

logger = logging.getLogger(__name__)

BATCH_SIZE = 25  # Comprehend's batch operations take at most 25 documents
MAX_BYTES = 5000  # and each at most 5,000 bytes of UTF-8
# The languages DetectSentiment has a model for.
SENTIMENT_LANGUAGES = frozenset({"en", "es", "fr", "de", "it", "pt", "ar", "hi", "ja", "ko", "zh", "zh-TW"})
_SENTIMENTS = {"NEGATIVE": Sentiment.NEGATIVE, "NEUTRAL": Sentiment.NEUTRAL, "POSITIVE": Sentiment.POSITIVE}


def truncate_utf8(text: str, limit: int = MAX_BYTES) -> str:
    """The longest prefix of ``text`` within ``limit`` bytes of UTF-8, cut between characters."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def _iso639_1(code: str) -> str:
    return code.split("-", 1)[0].lower()


def from_comprehend(result: dict[str, Any], text: str, language: str) -> Classification:
    """One ``BatchDetectSentiment`` result as our classification (intent by the offline rules)."""
    scores = result.get("SentimentScore", {})
    positive = float(scores.get("Positive", 0.0))
    negative = float(scores.get("Negative", 0.0))
    label = result.get("Sentiment")
    if label == "MIXED":
        # Mixed goes the way of the stronger side; a tie counts as negative (don't miss an unhappy customer).
        sentiment = Sentiment.POSITIVE if positive > negative else Sentiment.NEGATIVE
    else:
        sentiment = _SENTIMENTS.get(str(label), Sentiment.NEUTRAL)
    score = max(-1.0, min(1.0, round(positive - negative, 4)))
    iso = _iso639_1(language)
    return Classification(sentiment=sentiment, score=score, intent=intent_of(text, sentiment, iso), language=iso)


class ComprehendClassifier:
    def __init__(self, client: Any, fallback: Classifier) -> None:
        self._client = client
        self._fallback = fallback

    def classify(self, text: str) -> Classification:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        results: list[Classification | None] = [None] * len(texts)
        documents = {index: truncate_utf8(text) for index, text in enumerate(texts) if text.strip()}
        languages = self._languages(documents)
        by_language: dict[str, list[int]] = defaultdict(list)
        for index, language in languages.items():
            if language in SENTIMENT_LANGUAGES:
                by_language[language].append(index)
        for language, indexes in by_language.items():
            for batch in chunks(indexes, BATCH_SIZE):
                self._sentiment(language, batch, documents, texts, results)
        missing = [index for index, result in enumerate(results) if result is None]
        if missing:
            unsupported = sum(1 for index in missing if index in languages)
            if unsupported:
                logger.info("comprehend: languages without sentiment, offline instead", extra={"count": unsupported})
            for index, classification in zip(
                missing, self._fallback.classify_many([texts[i] for i in missing]), strict=True
            ):
                results[index] = classification
        return [result for result in results if result is not None]

    def _languages(self, documents: dict[int, str]) -> dict[int, str]:
        """Each document's dominant language code, as Comprehend spells it (``en``, ``zh-TW``)."""
        found: dict[int, str] = {}
        for batch in chunks(list(documents), BATCH_SIZE):
            try:
                response = self._client.batch_detect_dominant_language(TextList=[documents[i] for i in batch])
            except (ClientError, BotoCoreError) as error:
                _log_failure("BatchDetectDominantLanguage", error, len(batch))
                continue
            for item in response.get("ResultList", []):
                candidates = item.get("Languages") or []
                if candidates:
                    best = max(candidates, key=lambda candidate: candidate.get("Score", 0.0))
                    found[batch[item["Index"]]] = str(best["LanguageCode"])
            _log_item_errors("BatchDetectDominantLanguage", response)
        return found

    def _sentiment(
        self,
        language: str,
        batch: Sequence[int],
        documents: dict[int, str],
        texts: Sequence[str],
        results: list[Classification | None],
    ) -> None:
        try:
            response = self._client.batch_detect_sentiment(
                TextList=[documents[i] for i in batch], LanguageCode=language
            )
        except (ClientError, BotoCoreError) as error:
            _log_failure("BatchDetectSentiment", error, len(batch))
            return
        for item in response.get("ResultList", []):
            index = batch[item["Index"]]
            results[index] = from_comprehend(item, texts[index], language)
        _log_item_errors("BatchDetectSentiment", response)


def _log_failure(operation: str, error: Exception, count: int) -> None:
    code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
    logger.warning(
        "comprehend call failed, offline instead",
        extra={"operation": operation, "error_type": code or type(error).__name__, "count": count},
    )


def _log_item_errors(operation: str, response: dict[str, Any]) -> None:
    errors = response.get("ErrorList") or []
    if not errors:
        return
    codes: dict[str, int] = defaultdict(int)
    for error in errors:
        codes[str(error.get("ErrorCode", "unknown"))] += 1
    for code, count in codes.items():
        logger.warning(
            "comprehend rejected documents, offline instead",
            extra={"operation": operation, "error_type": code, "count": count},
        )
