"""The offline provider: lexicons inside the Lambda, no per-message cost, eight languages.

1. Normalise: HTML entities decoded, URLs and @handles dropped, hashtags split
   (``#WorstServiceEver`` → worst service ever), emoticons read before folding case and
   accents, elongations collapsed when the long form is unknown (``sooo`` → ``so``).
2. Guess the language: Arabic or Devanagari script, else counts of each language's
   stop words (no external service).
3. Look every token up in the language's lexicon (exact forms, then phrases, then stems;
   romanised Hindi also by spelling skeleton, and in the forms spelt at build time from the
   Devanagari entries), then in English (customers mix it in), then emoji and emoticons.
4. Scale: a negator within three words before (in German, French and Hindi also just after:
   "gefällt mir nicht", "accha nahi hai") flips and dampens (×-0.75), an intensifier
   before multiplies by 1.3, what follows "but" counts 1.5×, what precedes it 0.5×,
   exclamation marks add 10% each (up to three). A negator with no opinion word in its
   reach counts as mild negative evidence (-1, AFINN's own weight for "no").
5. Decide on AFINN's -5..5 scale, negative evidence counting double: mild negative
   evidence (a net -0.75 or below) is negative; positive needs a net +1.9, one clearly
   positive word. The asymmetry is the product's: missing an unhappy customer costs more
   than a second look at a calm one.

The data are loaded once per container, on first use.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from replywatch.classify import languages
from replywatch.classify.base import fold
from replywatch.classify.core import CORE_WORDS
from replywatch.classify.customer import CUSTOMER_WORDS
from replywatch.classify.intent import COMPLAINT_CUES, PRAISE_CUES, intent_of
from replywatch.models import Classification, Sentiment

LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "ar", "hi")

NEGATIVE_AT_OR_BELOW = -0.75  # net evidence on AFINN's scale: one mild negative word, or a negated mild positive
POSITIVE_AT_OR_ABOVE = 1.9  # one clearly positive word (AFINN +2), or two mild ones
NEGATION_SCALE = -0.75
BOOST = 1.3
BARE_NEGATOR = -1.0
COMPLAINT_CUE = -1.5  # a complaint cue no lexicon rates ("refund", "still waiting") is mild negative evidence
PRAISE_CUE = 2.0  # a thanks no lexicon rates ("danke", "shukriya"): AFINN's "thank" is +2
NEGATIVE_WEIGHT = 2.0  # negative evidence counts double: a complaint wrapped in a thank-you is still one
ALPHA = 15.0  # squashes the net evidence into -1..1 as VADER does: x / sqrt(x² + alpha)

_URL = re.compile(r"https?://\S*|www\.\S+|\bhttps?\b", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-zà-ÿ])(?=[A-ZÀ-Þ])|_")
_EMOTICON = re.compile(
    "|".join(re.escape(e) for e in sorted(languages.EMOTICONS, key=len, reverse=True)).join(
        (r"(?:(?<=\s)|^)(?:", r")(?=\s|$|[.,!?])")
    )
)
_MARKS = "\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963"
_TOKEN = re.compile(
    rf"(?:[^\W\d_]|[{_MARKS}])+(?:['’](?:[^\W\d_]|[{_MARKS}])+)*['’]?"  # words, with inner apostrophes
    r"|[.!?¿¡;:؟,\n]"  # clause boundaries
    r"|[\u2190-\u2bff\U0001f000-\U0001faff]"  # pictographs: emoji, hearts, arrows
)
_BOUNDARY = frozenset(".!?¿¡;:؟,\n")
_ELONGATED = re.compile(r"(.)\1{2,}")
_REPEATED = re.compile(r"(.)\1+")
_LAUGHTER = re.compile(r"^(?:(?:ha|ja|he|je|hi|ah|aha|ka|kk)[hjk]?){2,}$")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_LATIN = re.compile(r"[a-zA-Zà-ÿ]")
# Where the negation follows the verb it negates. Hindi is verb-final and its negator stands
# before the verb, so after the adjective or noun it negates ("accha nahi hai", "pasand nahi
# aaya"); not "na", which ends a tag question as often ("accha hai na?").
_POST_NEGATORS = {
    "de": frozenset({"nicht", "kein", "keine", "nie"}),
    "fr": frozenset({"pas", "jamais", "rien"}),
    # Not "nai" (also नई, "new": "acchi nai app"), nor "mat" / "मत" (also "opinion", and English "mat").
    "hi": frozenset({"नहीं", "नही", "nahi", "nahin", "nhi"}),
}
# The shortest English word looked up in another language's text. Four letters keeps out
# short false friends in the European languages; romanised Hindi shares few short words with
# English (the exceptions are in FALSE_FRIENDS), so "sad", "fun", "lie" count there.
_ENGLISH_MIN = {"hi": 3}
# Complaint cues that say nothing of the customer's mood by themselves: "I was refunded, thanks"
# is good news, "still not refunded" is negative by its negation. They still mark a complaint.
_CUES_WITHOUT_OPINION = frozenset({"refunded", "remboursé"})
_HINGLISH_STOPWORDS = frozenset(languages.STOPWORDS["hi"]) - frozenset(languages.STOPWORDS["en"])
# Hindi inflectional endings, longest first (a subset of Ramanathan and Rao's light stemmer).
_HINDI_SUFFIXES = (
    "ियों",
    "ाओं",
    "ाएं",
    "ाएँ",
    "ियां",
    "ियाँ",
    "ों",
    "ें",
    "ीं",
    "ी",
    "े",
    "ा",
    "ि",
)
_ARABIC_PREFIXES = ("", "وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل", "ف")
_ARABIC_SUFFIXES = ("", "ها", "هم", "كم", "نا", "ه", "ك", "ي", "ات", "ون", "ين", "ا")


def _skeleton(word: str) -> str:
    """Romanised Hindi has no standard spelling (bekaar / bekar, jhooth / jhuth, ghatiya /
    ghatia, zyada / jyada): one key for the common variants."""
    word = word.replace("ee", "i").replace("oo", "u").replace("iya", "ia")
    word = _REPEATED.sub(r"\1", word)
    return word.translate(_SPELLING)


_SPELLING = str.maketrans({"w": "v", "z": "j", "q": "k"})


def _spellings(words: dict[str, float]) -> dict[str, float]:
    """Skeleton → weight, for the Latin entries of four letters or more; a skeleton whose
    words disagree in sign is left out."""
    grouped: dict[str, list[float]] = {}
    for word, weight in words.items():
        if len(word) >= 4 and word.isascii() and word.isalpha():
            grouped.setdefault(_skeleton(word), []).append(weight)
    return {key: sum(ws) / len(ws) for key, ws in grouped.items() if all(w > 0 for w in ws) or all(w < 0 for w in ws)}


@dataclass(frozen=True)
class Lexicon:
    words: dict[str, float]
    stems: dict[str, float]
    phrase_heads: frozenset[str]  # first words of multi-word entries
    arabic: bool = False
    spellings: dict[str, float] | None = None  # romanised Hindi: weight by spelling skeleton
    generated: frozenset[str] = frozenset()  # romanised Hindi transliterated from Devanagari: not for the guess

    def phrase(self, tokens: Sequence[str], start: int) -> tuple[float, int] | None:
        if tokens[start] not in self.phrase_heads:
            return None
        for length in (4, 3, 2):
            weight = self.words.get(" ".join(tokens[start : start + length]))
            if weight is not None and start + length <= len(tokens):
                return weight, length
        return None

    def word(self, token: str) -> float | None:
        weight = self.words.get(token)
        if weight is None and self.arabic:
            weight = self._arabic(token)
        if weight is None and _DEVANAGARI.match(token):
            weight = self._hindi(token)
        if (
            weight is None
            and self.spellings is not None
            and len(token) >= 4
            and token not in languages.NOT_SPELLING_VARIANTS
        ):
            weight = self.spellings.get(_skeleton(token))
        if weight is not None or not self.stems:
            return weight
        # nlp.js's stems are Snowball stems: a word is its stem plus a suffix of at most ~5 letters.
        for end in range(len(token), max(3, len(token) - 5) - 1, -1):
            weight = self.stems.get(token[:end])
            if weight is not None:
                return weight
        return None

    def _hindi(self, token: str) -> float | None:
        """Hindi inflects for gender, number and case (बुरा, बुरी, बुरे; समस्याओं): a light
        stemmer's suffixes (after Ramanathan and Rao, 2003) off, then the masculine -ा back on."""
        for suffix in _HINDI_SUFFIXES:
            if token.endswith(suffix) and len(token) - len(suffix) >= 2:
                stem = token[: len(token) - len(suffix)]
                weight = self.words.get(stem)
                if weight is None:
                    weight = self.words.get(stem + "\u093e")
                if weight is not None:
                    return weight
        return None

    def _arabic(self, token: str) -> float | None:
        """Arabic writes "and", "the", "with" and possessives onto the word: try it without them."""
        for prefix in _ARABIC_PREFIXES:
            if not token.startswith(prefix) or len(token) - len(prefix) < 2:
                continue
            core = token[len(prefix) :]
            for suffix in _ARABIC_SUFFIXES:
                if core.endswith(suffix) and len(core) - len(suffix) >= 2:
                    weight = self.words.get(core[: len(core) - len(suffix)] if suffix else core)
                    if weight is not None:
                        return weight
        return None


@dataclass(frozen=True)
class Language:
    code: str
    negators: frozenset[str]
    intensifiers: frozenset[str]
    contrasts: frozenset[str]
    stopwords: frozenset[str]
    wanted: frozenset[str]  # negated, still negative (see languages.WANTED)


def _folded(words: Sequence[str]) -> frozenset[str]:
    return frozenset(fold(word) for word in words)


@cache
def _language(code: str) -> Language:
    return Language(
        code=code,
        negators=_folded(languages.NEGATORS.get(code, ())) | _folded(languages.NEGATORS["en"]),
        intensifiers=_folded(languages.INTENSIFIERS.get(code, ())) | _folded(languages.INTENSIFIERS["en"]),
        contrasts=_folded(languages.CONTRASTS.get(code, ())) | _folded(languages.CONTRASTS["en"]),
        stopwords=_folded(languages.STOPWORDS.get(code, ())),
        wanted=frozenset(
            " ".join(_tokens(fold(word))) for word in (*languages.WANTED.get(code, ()), *languages.WANTED["en"])
        ),
    )


def _read(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        resources.files("replywatch.classify").joinpath("data", name).read_text("utf-8")
    )
    return data


@cache
def _lexicon(code: str) -> Lexicon:
    data = _read(f"lexicon-{code}.json")
    # Folded again on load, so a change to fold() needs no rebuild of the data.
    words: dict[str, float] = {fold(k): v for k, v in data["words"].items()}  # type: ignore[attr-defined]
    stems: dict[str, float] = {fold(k): v for k, v in data["stems"].items()}  # type: ignore[attr-defined]
    language = _language(code)
    function_words = language.negators | language.intensifiers | language.contrasts
    if code == "en":
        words.update(CUSTOMER_WORDS)
    for word in function_words:  # a negator scores through negation, not as an opinion of its own
        words.pop(word, None)
        stems.pop(word, None)
    for word, weight in CORE_WORDS.get(code, {}).items():
        words.setdefault(fold(word), float(weight))
    # Cues are split as text is ("j'attends" is "j'" "attends"), or they would never match.
    for cue in COMPLAINT_CUES.get(code, ()):
        if cue not in _CUES_WITHOUT_OPINION:
            words.setdefault(" ".join(_tokens(fold(cue))), COMPLAINT_CUE)
    for cue in PRAISE_CUES.get(code, ()):
        words.setdefault(" ".join(_tokens(fold(cue))), PRAISE_CUE)
    # Romanised Hindi spelt from the Devanagari entries at build time: below everything else.
    generated = set()
    for key, weight in data.get("romanised", {}).items():  # type: ignore[attr-defined]
        key = fold(key)
        if key not in words and key not in function_words:
            words[key] = float(weight)
            generated.add(key)
    heads = frozenset(key.split(" ", 1)[0] for key in words if " " in key)
    spellings = _spellings(words) if code == "hi" else None
    return Lexicon(
        words=words,
        stems=stems,
        phrase_heads=heads,
        arabic=code == "ar",
        spellings=spellings,
        generated=frozenset(generated),
    )


@cache
def _emoji() -> dict[str, float]:
    return {key.replace("\ufe0f", ""): float(value) for key, value in _read("emoji.json").items()}  # type: ignore[arg-type]


@cache
def _pictograph(char: str) -> float | None:
    """An emoji's polarity: emoji-emotion's rating, else its Unicode name's English words."""
    rated = _emoji().get(char)
    if rated is not None:
        return rated
    name = unicodedata.name(char, "").lower().split()
    english = _lexicon("en").words
    total = sum(english.get(word, 0.0) for word in name if word not in ("face", "with", "of"))
    return max(-3.0, min(3.0, total)) or None


def guess_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, among those we have lexicons for, or None."""
    return _guess(text, _tokens(_normalise(text)[0]))


def _guess(text: str, tokens: Sequence[str]) -> str | None:
    latin = len(_LATIN.findall(text))
    if len(_ARABIC.findall(text)) > latin:
        return "ar"
    if len(_DEVANAGARI.findall(text)) > latin:
        return "hi"
    best, best_hits = None, 0.0
    for code in ("en", "es", "fr", "de", "it", "pt", "hi"):
        stopwords = _language(code).stopwords
        lexicon = _lexicon(code)
        words, generated = lexicon.words, lexicon.generated
        # Stop words say most; a word of four letters or more that only one lexicon knows says a little
        # (not the romanised Hindi spelt by machine: short Latin forms are often words of other languages).
        hits = sum(
            1.0 if token in stopwords else 0.5 if len(token) >= 4 and token in words and token not in generated else 0.0
            for token in tokens
        )
        if hits > best_hits:
            best, best_hits = code, hits
    return best


def _normalise(text: str) -> tuple[str, float]:
    """The text to tokenise (folded), and the weight of the emoticons taken out of it."""
    text = html.unescape(text).replace("\ufe0f", "")
    text = _HANDLE.sub(" ", _URL.sub(" ", text))
    text = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m.group(1)) + " ", text)
    emoticons = 0.0

    def take(match: re.Match[str]) -> str:
        nonlocal emoticons
        emoticons += languages.EMOTICONS[match.group(0)]
        return " "

    text = _EMOTICON.sub(take, text)
    return fold(text), emoticons


def _tokens(folded: str) -> list[str]:
    tokens: list[str] = []
    for token in _TOKEN.findall(folded):
        token = token.replace("’", "'")
        head, apostrophe, rest = token.partition("'")
        if apostrophe and rest and head in languages.ELISIONS:
            tokens.extend((head + "'", rest))  # l'app → l' app; n'est → n' est
        else:
            tokens.append(token.rstrip("'") or token)
    return tokens


class OfflineClassifier:
    """Multilingual lexicon sentiment with negation, intensity and contrast; intent by rules."""

    def classify(self, text: str) -> Classification:
        folded, emoticons = _normalise(text)
        tokens = _tokens(folded)
        language = _guess(text, tokens)
        total = self._evidence(tokens, language) + emoticons * (NEGATIVE_WEIGHT if emoticons < 0 else 1.0)
        exclaims = min(text.count("!"), 3)
        total *= 1 + 0.1 * exclaims
        score = total / ((total * total + ALPHA) ** 0.5)
        if total <= NEGATIVE_AT_OR_BELOW:
            sentiment = Sentiment.NEGATIVE
        elif total >= POSITIVE_AT_OR_ABOVE:
            sentiment = Sentiment.POSITIVE
        else:
            sentiment = Sentiment.NEUTRAL
        return Classification(
            sentiment=sentiment,
            score=round(score, 4),
            intent=intent_of(text, sentiment, language),
            language=language,
        )

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        return [self.classify(text) for text in texts]

    def evidence(self, text: str, language: str | None) -> float:
        """Net sentiment evidence on AFINN's -5..5 scale per word, before exclamation marks."""
        folded, emoticons = _normalise(text)
        return self._evidence(_tokens(folded), language) + emoticons * (NEGATIVE_WEIGHT if emoticons < 0 else 1.0)

    def _evidence(self, tokens: Sequence[str], language: str | None) -> float:
        code = language or "en"
        rules = _language(code)
        own = _lexicon(code)
        english = _lexicon("en") if code != "en" else None
        # Hindi-English code-mixing: English text with Hindi function words in it ("service
        # bahut bekar hai") also gets the romanised Hindi words.
        hinglish = _lexicon("hi") if code == "en" and not _HINGLISH_STOPWORDS.isdisjoint(tokens) else None
        # Hindi negates after the word, in Hinglish too ("the app accha nahi hai").
        post_negators = _POST_NEGATORS.get(code, frozenset()) | (_POST_NEGATORS["hi"] if hinglish else frozenset())
        weights: list[float] = []
        contrast_at = -1
        clause_start = 0
        pending_negator: int | None = None
        spent: set[int] = set()  # negators that negated the word before them: not bare ones as well
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token in _BOUNDARY:
                if pending_negator is not None:
                    weights.append(BARE_NEGATOR)
                    pending_negator = None
                clause_start = index + 1
                index += 1
                continue
            if token in rules.contrasts:
                contrast_at = len(weights)
            span = 1
            weight: float | None
            phrase = own.phrase(tokens, index)
            if phrase is None and english is not None:  # customers mix English phrases in too
                phrase = english.phrase(tokens, index)
            if phrase is not None:
                weight, span = phrase
            else:
                weight = self._word(token, own, english, rules, hinglish)
            if weight is None:
                if index in spent:
                    pass
                elif token in rules.negators:
                    # Negators in a run are one negation ("ne ... pas", "no ... nada"): only one
                    # that ran out of reach before the next counts as a bare one.
                    if pending_negator is not None and index - pending_negator > 3:
                        weights.append(BARE_NEGATOR)
                    pending_negator = index
                elif pending_negator is not None and index - pending_negator > 3:
                    weights.append(BARE_NEGATOR)
                    pending_negator = None
                index += span
                continue
            window = tokens[max(clause_start, index - 3) : index]
            negated = any(word in rules.negators for word in window)
            if post_negators:
                # "gefällt mir nicht", "j'aime pas", "accha nahi"; "n'aime pas" is one negation too
                after = tokens[index + span : index + span + 2]
                at = next((index + span + n for n, word in enumerate(after) if word in post_negators), None)
                if at is not None:
                    negated = True
                    spent.add(at)
            if negated:
                if " ".join(tokens[index : index + span]) not in rules.wanted:  # "no refund" stays a complaint
                    weight *= NEGATION_SCALE
                pending_negator = None
            previous = tokens[index - 1] if index else ""
            if previous in rules.intensifiers:
                weight *= BOOST
            weights.append(weight)
            index += span
        if pending_negator is not None:
            weights.append(BARE_NEGATOR)
        if contrast_at >= 0:
            weights = [w * 0.5 for w in weights[:contrast_at]] + [w * 1.5 for w in weights[contrast_at:]]
        return sum(w * NEGATIVE_WEIGHT if w < 0 else w for w in weights)

    @staticmethod
    def _word(
        token: str, own: Lexicon, english: Lexicon | None, rules: Language, hinglish: Lexicon | None = None
    ) -> float | None:
        if len(token) == 1 and not token.isalpha():
            return _pictograph(token)
        if token in rules.negators or token in rules.intensifiers or token in rules.contrasts:
            return None
        shorthand = languages.SHORTHAND.get(token)
        if shorthand is not None or _LAUGHTER.match(token):
            return shorthand or 2.0
        candidates = [token]
        if _ELONGATED.search(token):
            candidates += [_ELONGATED.sub(r"\1\1", token), _REPEATED.sub(r"\1", token)]
        for candidate in candidates:
            weight = own.word(candidate)
            if weight is not None:
                return weight
            if (
                english is not None
                and len(candidate) >= _ENGLISH_MIN.get(rules.code, 4)
                and candidate not in rules.stopwords
                and candidate not in languages.FALSE_FRIENDS
            ):
                weight = english.words.get(candidate)
                if weight is not None:
                    return weight
            if hinglish is not None and len(candidate) >= 3:
                weight = hinglish.word(candidate)
                if weight is not None:
                    return weight
        return None


LexiconClassifier = OfflineClassifier


@cache
def default_classifier() -> OfflineClassifier:
    """One per container: the lexicons load on first use and stay."""
    return OfflineClassifier()
