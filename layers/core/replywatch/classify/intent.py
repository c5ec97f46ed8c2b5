"""Intent by rules, in each language the offline provider knows.

A complaint is a negative message with a complaint cue ("refund", "still waiting",
"kaputt", "no funciona"); a question has a question mark or opens a sentence with an
interrogative of its language; praise is a positive message with a thanks or love cue. The cues of all
languages are matched together: a language guess that is wrong costs nothing here.
"""

from __future__ import annotations

import re
from functools import cache

from replywatch.classify.base import fold
from replywatch.models import Intent, Sentiment

COMPLAINT_CUES: dict[str, tuple[str, ...]] = {
    "en": (
        "refund",
        "refunded",
        "money back",
        "broken",
        "broke",
        "damaged",
        "faulty",
        "defective",
        "still waiting",
        "still not",
        "still no",
        "still hasn't",
        "still haven't",
        "not working",
        "doesn't work",
        "does not work",
        "didn't work",
        "stopped working",
        "never arrived",
        "never received",
        "hasn't arrived",
        "not arrived",
        "not received",
        "missing",
        "cancel",
        "cancelled",
        "canceled",
        "overcharged",
        "charged twice",
        "charged me",
        "late",
        "delayed",
        "delay",
        "complaint",
        "complain",
        "scam",
        "fraud",
        "lawyer",
        "unacceptable",
        "no response",
        "no reply",
        "nobody answers",
        "no one answers",
        "ignored",
        "wrong item",
        "worst",
        "useless",
        "crash",
        "crashes",
        "outage",
        "down again",
    ),
    "es": (
        "reembolso",
        "devolución",
        "devolucion",
        "devuelvan",
        "roto",
        "rota",
        "dañado",
        "dañada",
        "defectuoso",
        "no funciona",
        "sigo esperando",
        "todavía no",
        "aún no",
        "nunca llegó",
        "no ha llegado",
        "no llegó",
        "cancelar",
        "cobrado",
        "cobraron",
        "cobro",
        "reclamación",
        "reclamo",
        "queja",
        "estafa",
        "fraude",
        "retraso",
        "tarde",
        "abogado",
        "nadie responde",
        "inaceptable",
        "pésimo",
        "pésima",
        "peor",
    ),
    "fr": (
        "remboursement",
        "rembourser",
        "remboursé",
        "cassé",
        "cassée",
        "endommagé",
        "défectueux",
        "ne marche pas",
        "ne fonctionne pas",
        "marche pas",
        "fonctionne pas",
        "toujours pas",
        "j'attends",
        "toujours en attente",
        "jamais reçu",
        "pas reçu",
        "pas arrivé",
        "annuler",
        "annulé",
        "débité",
        "prélevé",
        "réclamation",
        "plainte",
        "arnaque",
        "escroquerie",
        "retard",
        "en retard",
        "avocat",
        "personne ne répond",
        "inadmissible",
        "inacceptable",
        "pire",
        "nul",
    ),
    "de": (
        "rückerstattung",
        "erstattung",
        "geld zurück",
        "kaputt",
        "defekt",
        "beschädigt",
        "funktioniert nicht",
        "geht nicht",
        "warte immer noch",
        "immer noch nicht",
        "immer noch kein",
        "noch nicht angekommen",
        "nie angekommen",
        "nicht erhalten",
        "stornieren",
        "storniert",
        "kündigen",
        "gekündigt",
        "abgebucht",
        "beschwerde",
        "reklamation",
        "betrug",
        "abzocke",
        "verspätung",
        "verspätet",
        "anwalt",
        "keine antwort",
        "niemand antwortet",
        "unverschämt",
        "inakzeptabel",
        "schlechteste",
    ),
    "it": (
        "rimborso",
        "rimborsare",
        "rotto",
        "rotta",
        "danneggiato",
        "difettoso",
        "non funziona",
        "sto ancora aspettando",
        "ancora niente",
        "ancora non",
        "mai arrivato",
        "non è arrivato",
        "non ricevuto",
        "annullare",
        "disdire",
        "disdetta",
        "addebitato",
        "addebito",
        "reclamo",
        "lamentela",
        "truffa",
        "ritardo",
        "in ritardo",
        "avvocato",
        "nessuno risponde",
        "inaccettabile",
        "vergogna",
        "peggiore",
    ),
    "pt": (
        "reembolso",
        "estorno",
        "devolução",
        "quebrado",
        "quebrada",
        "danificado",
        "defeito",
        "não funciona",
        "nao funciona",
        "ainda esperando",
        "ainda não",
        "ainda nao",
        "nunca chegou",
        "não chegou",
        "nao chegou",
        "não recebi",
        "cancelar",
        "cancelamento",
        "cobrado",
        "cobrança",
        "reclamação",
        "reclamacao",
        "golpe",
        "fraude",
        "atraso",
        "atrasado",
        "advogado",
        "ninguém responde",
        "inaceitável",
        "absurdo",
        "pior",
    ),
    "ar": (
        "استرداد",
        "استرجاع",
        "مكسور",
        "تالف",
        "معطل",
        "لا يعمل",
        "ما زلت",
        "مازلت",
        "لم يصل",
        "لم يتم",
        "إلغاء",
        "الغاء",
        "شكوى",
        "احتيال",
        "نصب",
        "تأخير",
        "متأخر",
        "محامي",
        "لا أحد يرد",
        "أسوأ",
    ),
    "hi": (
        "रिफंड",
        "वापसी",
        "खराब",
        "टूटा",
        "काम नहीं",
        "अभी तक",
        "शिकायत",
        "धोखा",
        "देरी",
        "रद्द",
        "refund",
        "kharab",
        "kharaab",
        "toota",
        "tuta",
        "kaam nahi",
        "kaam nahin",
        "abhi tak",
        "shikayat",
        "dhokha",
        "fraud",
        "bekar",
        "bakwas",
        "cancel",
    ),
}

PRAISE_CUES: dict[str, tuple[str, ...]] = {
    "en": (
        "thanks",
        "thank you",
        "thank",
        "thx",
        "ty",
        "love",
        "loved",
        "loving",
        "kudos",
        "great job",
        "well done",
        "amazing",
        "awesome",
        "brilliant",
        "appreciate",
        "cheers",
        "the best",
    ),
    "es": ("gracias", "me encanta", "encanta", "excelente", "genial", "felicidades", "buen trabajo", "os quiero"),
    "fr": ("merci", "j'adore", "adore", "bravo", "génial", "félicitations", "top", "au top", "super"),
    "de": ("danke", "vielen dank", "liebe", "super", "toll", "klasse", "spitze", "großartig", "weiter so"),
    "it": ("grazie", "adoro", "bravi", "bravo", "complimenti", "fantastico", "ottimo lavoro"),
    "pt": ("obrigado", "obrigada", "valeu", "amo", "adoro", "parabéns", "parabens", "excelente", "top"),
    "ar": ("شكرا", "شكراً", "أحب", "احب", "رائع", "ممتاز", "مبدع"),
    "hi": ("धन्यवाद", "शुक्रिया", "बढ़िया", "dhanyavad", "dhanyawad", "shukriya", "badhiya", "mast", "love"),
}

# Openers that make a sentence a question even without its question mark (tweets often drop it).
# Words that also start statements ("when I ordered", "como siempre", "wie immer") are left out.
INTERROGATIVES: dict[str, tuple[str, ...]] = {
    "en": (
        "why",
        "how do",
        "how can",
        "how long",
        "how much",
        "how many",
        "can you",
        "could you",
        "can i",
        "do you",
        "does anyone",
        "is there",
        "are you",
        "will you",
        "any update",
        "what is",
        "what's",
        "where is",
        "where's",
        "when will",
        "when is",
        "when can",
        "who do",
    ),
    "es": ("por qué", "dónde está", "cuándo llega", "cuánto", "cuál", "pueden", "podrían", "puedo", "hay alguna"),
    "fr": ("pourquoi", "est-ce que", "pouvez-vous", "avez-vous", "combien", "quand est-ce", "où est"),
    "de": (
        "warum",
        "wieso",
        "weshalb",
        "wann",
        "wo ist",
        "wie kann",
        "wie lange",
        "können sie",
        "könnt ihr",
        "gibt es",
        "habt ihr",
        "haben sie",
    ),
    "it": ("perché", "quando arriva", "dove è", "dov'è", "quanto", "potete", "posso", "c'è un"),
    "pt": ("por que", "por quê", "quando chega", "cadê", "onde está", "quanto", "vocês podem", "posso", "tem como"),
    "ar": ("ماذا", "متى", "أين", "اين", "لماذا", "كيف", "هل", "كم"),
    "hi": ("क्या", "कब", "कहाँ", "क्यों", "कैसे", "kya", "kab", "kahan", "kyun", "kyon", "kaise"),
}

_QUESTION_MARKS = ("?", "¿", "؟")  # Arabic writes ؟
_SENTENCE_STARTS = re.compile(r"(?:^|[.!¡\n]\s*)(\w[\w'’-]*(?:\s+\w[\w'’-]*)?)")


def _pattern(cues: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    phrases = {r"\s+".join(re.escape(word) for word in fold(cue).split()) for words in cues.values() for cue in words}
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(phrases, key=len, reverse=True)) + r")(?!\w)")


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    return _pattern(COMPLAINT_CUES), _pattern(PRAISE_CUES)


@cache
def _openers(language: str) -> frozenset[str]:
    return frozenset(fold(cue) for cue in INTERROGATIVES.get(language, ()))


def _asks(folded: str, language: str | None) -> bool:
    if any(mark in folded for mark in _QUESTION_MARKS):
        return True
    if language is None:
        return False
    openers = _openers(language)
    for match in _SENTENCE_STARTS.finditer(folded.strip()):
        words = match.group(1).split()
        if words[0] in openers or " ".join(words) in openers:
            return True
    return False


def intent_of(text: str, sentiment: Sentiment, language: str | None = None) -> Intent:
    """Complaint and praise cues of every language are tried; interrogatives without a question
    mark only in ``language`` (German "was" asks, English "was" does not)."""
    complaint, praise = _patterns()
    folded = fold(text)
    if sentiment is Sentiment.NEGATIVE and complaint.search(folded):
        return Intent.COMPLAINT
    if _asks(folded, language):
        return Intent.QUESTION
    if sentiment is Sentiment.POSITIVE and praise.search(folded):
        return Intent.PRAISE
    return Intent.OTHER
