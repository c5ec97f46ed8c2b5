"""Sentiment and intent behind one interface, :class:`Classifier`.

Providers: ``offline`` (the default: lexicons inside the Lambda, no per-message cost, many
languages), ``comprehend`` (Amazon Comprehend, offline for what it cannot take) and
``bedrock`` (a model on Amazon Bedrock, offline for anything malformed).
"""

from __future__ import annotations

from typing import Any

from replywatch.classify.base import Classifier
from replywatch.classify.bedrock import BedrockClassifier
from replywatch.classify.comprehend import ComprehendClassifier
from replywatch.classify.intent import intent_of
from replywatch.classify.offline import OfflineClassifier, default_classifier
from replywatch.classify.priority import has_keyword, priority_of

LexiconClassifier = OfflineClassifier  # the name it had when it was English-only

PROVIDERS = ("offline", "comprehend", "bedrock")


def build_classifier(
    name: str, *, comprehend: Any = None, bedrock: Any = None, bedrock_model_id: str | None = None
) -> Classifier:
    """The provider called ``name``, given the boto3 client it needs (created once per cold start)."""
    offline = default_classifier()
    if name == "offline":
        return offline
    if name == "comprehend":
        if comprehend is None:
            raise ValueError("the comprehend classifier needs a Comprehend client (comprehend=...)")
        return ComprehendClassifier(comprehend, fallback=offline)
    if name == "bedrock":
        if bedrock is None or not bedrock_model_id:
            raise ValueError("the bedrock classifier needs a bedrock-runtime client and bedrock_model_id")
        return BedrockClassifier(bedrock, bedrock_model_id, fallback=offline)
    raise ValueError(f"unknown classifier {name!r}: choose one of {', '.join(PROVIDERS)}")


__all__ = [
    "PROVIDERS",
    "BedrockClassifier",
    "Classifier",
    "ComprehendClassifier",
    "LexiconClassifier",
    "OfflineClassifier",
    "build_classifier",
    "default_classifier",
    "has_keyword",
    "intent_of",
    "priority_of",
]
