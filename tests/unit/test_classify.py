"""The offline lexicon classifier: polarity, negation and the score's range."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replywatch.classify import LexiconClassifier, default_classifier
from replywatch.models import Sentiment

classifier = LexiconClassifier()


@pytest.mark.parametrize(
    "text",
    [
        "Three weeks and my parcel still hasn't arrived. Your helpdesk is useless, this is unacceptable!",
        "The app crashes every single time I try to pay. Terrible update.",
        "I was overcharged twice this month and nobody answers my emails. Worst company ever.",
        "Absolutely disgusting attitude from the driver, he was rude to my mum.",
    ],
)
def test_clear_complaints_are_negative(text: str) -> None:
    result = classifier.classify(text)
    assert result.sentiment is Sentiment.NEGATIVE
    assert result.score < 0


@pytest.mark.parametrize(
    "text",
    [
        "Thanks so much, the new checkout flow is fantastic!",
        "Great job on the quick fix, really appreciate how helpful your team was.",
        "Love the new autumn range, brilliant work everyone.",
        "Order arrived a day early and it's perfect. Would recommend.",
    ],
)
def test_praise_is_positive(text: str) -> None:
    result = classifier.classify(text)
    assert result.sentiment is Sentiment.POSITIVE
    assert result.score > 0


@pytest.mark.parametrize(
    "text",
    [
        "What time does the Leeds store open on Sunday?",
        "Do you ship to Norway?",
        "How can I change the email address on my account?",
        "Is the blue jacket available in size M?",
    ],
)
def test_plain_questions_are_neutral(text: str) -> None:
    assert classifier.classify(text).sentiment is Sentiment.NEUTRAL


def test_not_good_is_not_positive() -> None:
    result = classifier.classify("The soup was not good.")
    assert result.sentiment is not Sentiment.POSITIVE
    assert result.score < classifier.classify("The soup was good.").score


def test_not_bad_is_not_negative() -> None:
    result = classifier.classify("Honestly the soup was not bad.")
    assert result.sentiment is not Sentiment.NEGATIVE
    assert result.score > classifier.classify("Honestly the soup was bad.").score


def test_negation_applies_to_a_word_a_few_words_later() -> None:
    assert classifier.classify("the staff were not very helpful").sentiment is not Sentiment.POSITIVE


def test_negation_with_a_typographic_apostrophe() -> None:
    # Phone keyboards (iOS "smart punctuation") type ’ rather than ' in "isn't".
    straight = classifier.classify("This isn't good at all.")
    curly = classifier.classify("This isn\u2019t good at all.")
    assert curly.sentiment is not Sentiment.POSITIVE
    assert curly == straight


def test_boosters_make_a_complaint_stronger() -> None:
    plain = classifier.classify("the delivery was slow")
    boosted = classifier.classify("the delivery was extremely slow")
    assert boosted.score < plain.score < 0


def test_exclamation_marks_intensify_without_changing_polarity() -> None:
    calm = classifier.classify("this is awful")
    loud = classifier.classify("this is awful!!!")
    assert loud.sentiment is calm.sentiment is Sentiment.NEGATIVE
    assert loud.score < calm.score


def test_empty_and_punctuation_only_text_is_neutral_zero() -> None:
    for text in ("", "!!!", "???"):
        result = classifier.classify(text)
        assert result.sentiment is Sentiment.NEUTRAL
        assert result.score == 0.0


def test_case_does_not_matter() -> None:
    assert classifier.classify("TERRIBLE SERVICE").score == classifier.classify("terrible service").score


@pytest.mark.parametrize("text", ["bad " * 300, "amazing " * 300, "so very extremely awful!!!!!!"])
def test_extreme_text_keeps_the_score_within_bounds(text: str) -> None:
    assert -1.0 <= classifier.classify(text).score <= 1.0


_WORDS = st.sampled_from(
    [
        "not",
        "never",
        "very",
        "so",
        "extremely",
        "bad",
        "awful",
        "hate",
        "great",
        "love",
        "thanks",
        "refund",
        "the",
        "order",
        "is",
        "don't",
        "works",
        "!",
        "?",
        "won't",
        "broken",
        "amazing",
        "still",
    ]
)


@given(st.lists(_WORDS, max_size=60).map(" ".join))
def test_score_is_always_within_minus_one_and_one(text: str) -> None:
    result = classifier.classify(text)
    assert -1.0 <= result.score <= 1.0
    if result.sentiment is Sentiment.POSITIVE:
        assert result.score > 0
    elif result.sentiment is Sentiment.NEGATIVE:
        assert result.score < 0


@given(st.text(max_size=200))
def test_any_text_classifies_within_bounds(text: str) -> None:
    assert -1.0 <= classifier.classify(text).score <= 1.0


def test_default_classifier_is_the_lexicon() -> None:
    assert isinstance(default_classifier(), LexiconClassifier)
