"""The offline provider: runs inside the Lambda at no per-message cost."""

from __future__ import annotations

import re
from collections.abc import Sequence

from replywatch.classify.intent import intent_of
from replywatch.models import Classification, Sentiment

# Weights on a -3..3 scale; the words customers use when writing to a brand.
_LEXICON: dict[str, float] = {
    # negative
    "angry": -2.5,
    "annoyed": -2.0,
    "annoying": -2.0,
    "appalling": -3.0,
    "awful": -3.0,
    "bad": -2.0,
    "broke": -2.0,
    "broken": -2.0,
    "bug": -1.5,
    "buggy": -2.0,
    "cancel": -1.5,
    "charged": -1.0,
    "complaint": -2.0,
    "crash": -2.0,
    "crashes": -2.0,
    "crashing": -2.0,
    "dead": -2.0,
    "delay": -1.5,
    "delayed": -1.5,
    "disappointed": -2.5,
    "disappointing": -2.5,
    "disgusting": -3.0,
    "dreadful": -3.0,
    "error": -1.5,
    "fail": -2.0,
    "failed": -2.0,
    "fails": -2.0,
    "failing": -2.0,
    "failure": -2.0,
    "fraud": -3.0,
    "frustrated": -2.5,
    "frustrating": -2.5,
    "furious": -3.0,
    "garbage": -3.0,
    "hate": -3.0,
    "horrible": -3.0,
    "ignored": -2.0,
    "ignoring": -2.0,
    "incompetent": -3.0,
    "joke": -1.5,
    "lawyer": -2.0,
    "lost": -1.5,
    "mess": -2.0,
    "missing": -1.5,
    "never": -1.0,
    "outage": -2.0,
    "overcharged": -2.5,
    "pathetic": -3.0,
    "poor": -2.0,
    "problem": -1.5,
    "refund": -1.5,
    "ridiculous": -2.5,
    "rubbish": -2.5,
    "rude": -2.5,
    "scam": -3.0,
    "shame": -2.0,
    "slow": -1.5,
    "stuck": -1.5,
    "sucks": -3.0,
    "terrible": -3.0,
    "trash": -2.5,
    "unacceptable": -3.0,
    "unhappy": -2.5,
    "upset": -2.0,
    "useless": -3.0,
    "waiting": -1.0,
    "worse": -2.5,
    "worst": -3.0,
    "wrong": -1.5,
    # positive
    "amazing": 3.0,
    "appreciate": 2.0,
    "awesome": 3.0,
    "best": 2.5,
    "brilliant": 3.0,
    "excellent": 3.0,
    "fantastic": 3.0,
    "fast": 1.5,
    "fixed": 1.5,
    "glad": 2.0,
    "good": 2.0,
    "great": 2.5,
    "happy": 2.5,
    "helpful": 2.0,
    "love": 3.0,
    "loving": 3.0,
    "nice": 2.0,
    "perfect": 3.0,
    "pleased": 2.0,
    "quick": 1.5,
    "recommend": 2.0,
    "resolved": 1.5,
    "smooth": 1.5,
    "solved": 1.5,
    "superb": 3.0,
    "thank": 1.5,
    "thanks": 1.5,
    "wonderful": 3.0,
    "works": 1.0,
}
_NEGATORS = frozenset(
    {
        "not",
        "no",
        "never",
        "dont",
        "don't",
        "doesnt",
        "doesn't",
        "didnt",
        "didn't",
        "isnt",
        "isn't",
        "wasnt",
        "wasn't",
        "cant",
        "can't",
        "cannot",
        "wont",
        "won't",
    }
)
_BOOSTERS = {"very": 1.3, "really": 1.3, "so": 1.2, "extremely": 1.5, "totally": 1.3, "absolutely": 1.5, "still": 1.2}
_WORD = re.compile(r"[a-z']+")
# Phones type ’ (U+2019) or ʼ (U+02BC) for the apostrophe in "isn't".
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})
_NEGATIVE_BELOW = -0.25
_POSITIVE_ABOVE = 0.25


class OfflineClassifier:
    """Offline sentiment: sum of word weights, negation flips, boosters scale."""

    def classify(self, text: str) -> Classification:
        words = _WORD.findall(text.lower().translate(_APOSTROPHES))
        total = 0.0
        for index, word in enumerate(words):
            weight = _LEXICON.get(word)
            if weight is None:
                continue
            window = words[max(0, index - 3) : index]
            if any(w in _NEGATORS for w in window) and word != "never":
                weight = -weight * 0.75
            if index and words[index - 1] in _BOOSTERS:
                weight *= _BOOSTERS[words[index - 1]]
            total += weight
        exclaims = min(text.count("!"), 3)
        if total:
            total *= 1 + 0.1 * exclaims
        # squash to -1..1 (the same normalisation the VADER paper uses, alpha=15)
        score = total / ((total * total + 15) ** 0.5)
        if score <= _NEGATIVE_BELOW:
            sentiment = Sentiment.NEGATIVE
        elif score >= _POSITIVE_ABOVE:
            sentiment = Sentiment.POSITIVE
        else:
            sentiment = Sentiment.NEUTRAL
        return Classification(sentiment=sentiment, score=round(score, 4), intent=intent_of(text, sentiment, None))

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        return [self.classify(text) for text in texts]


def default_classifier() -> OfflineClassifier:
    return OfflineClassifier()
