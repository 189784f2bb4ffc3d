"""The built-in SynthSign grammar: a small vocabulary and sentence templates per language.

Used when no real annotation files are given. Each template yields a sentence in the spoken language
(English cased with punctuation like How2Sign; German lower-cased and tokenised like Phoenix14T; Chinese
unsegmented like CSL-Daily) and a gloss sequence in a sign-language-like order (time first, topic before
comment, verb last in DGS/CSL-like orders, negation after the verb). Words recur across sentences, so train
and test share most of their vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: slot -> list of entries; each entry: language -> (text form(s), gloss). German nouns carry
#: (nominative, accusative) forms.
_V: dict[str, list[dict[str, tuple]]] = {
    "time": [
        {"en": ("today", "TODAY"), "de": ("heute", "HEUTE"), "zh": ("今天", "今天")},
        {"en": ("tomorrow", "TOMORROW"), "de": ("morgen", "MORGEN"), "zh": ("明天", "明天")},
        {"en": ("this weekend", "WEEKEND"), "de": ("am wochenende", "WOCHENENDE"), "zh": ("周末", "周末")},
        {"en": ("tonight", "TONIGHT"), "de": ("heute abend", "ABEND"), "zh": ("今晚", "晚上")},
        {"en": ("on monday", "MONDAY"), "de": ("am montag", "MONTAG"), "zh": ("星期一", "星期一")},
        {"en": ("on friday", "FRIDAY"), "de": ("am freitag", "FREITAG"), "zh": ("星期五", "星期五")},
        {"en": ("next week", "NEXT-WEEK"), "de": ("nächste woche", "NAECHSTE-WOCHE"), "zh": ("下周", "下周")},
    ],
    "person": [
        {"en": ("the teacher", "TEACHER"), "de": (("der lehrer", "den lehrer"), "LEHRER"), "zh": ("老师", "老师")},
        {"en": ("the doctor", "DOCTOR"), "de": (("die ärztin", "die ärztin"), "ARZT"), "zh": ("医生", "医生")},
        {"en": ("the student", "STUDENT"), "de": (("der student", "den studenten"), "STUDENT"), "zh": ("学生", "学生")},
        {"en": ("my mother", "MOTHER"), "de": (("meine mutter", "meine mutter"), "MUTTER"), "zh": ("妈妈", "妈妈")},
        {"en": ("my father", "FATHER"), "de": (("mein vater", "meinen vater"), "VATER"), "zh": ("爸爸", "爸爸")},
        {"en": ("my friend", "FRIEND"), "de": (("mein freund", "meinen freund"), "FREUND"), "zh": ("朋友", "朋友")},
        {"en": ("my brother", "BROTHER"), "de": (("mein bruder", "meinen bruder"), "BRUDER"), "zh": ("哥哥", "哥哥")},
        {"en": ("my sister", "SISTER"), "de": (("meine schwester", "meine schwester"), "SCHWESTER"), "zh": ("姐姐", "姐姐")},
        {"en": ("the child", "CHILD"), "de": (("das kind", "das kind"), "KIND"), "zh": ("孩子", "孩子")},
        {"en": ("the neighbour", "NEIGHBOUR"), "de": (("der nachbar", "den nachbarn"), "NACHBAR"), "zh": ("邻居", "邻居")},
    ],
    "thing": [
        {"en": ("book", "BOOK"), "de": (("das buch", "das buch"), "BUCH"), "zh": ("书", "书")},
        {"en": ("apple", "APPLE"), "de": (("der apfel", "den apfel"), "APFEL"), "zh": ("苹果", "苹果")},
        {"en": ("car", "CAR"), "de": (("das auto", "das auto"), "AUTO"), "zh": ("汽车", "汽车")},
        {"en": ("coffee", "COFFEE"), "de": (("der kaffee", "den kaffee"), "KAFFEE"), "zh": ("咖啡", "咖啡")},
        {"en": ("newspaper", "NEWSPAPER"), "de": (("die zeitung", "die zeitung"), "ZEITUNG"), "zh": ("报纸", "报纸")},
        {"en": ("letter", "LETTER"), "de": (("der brief", "den brief"), "BRIEF"), "zh": ("信", "信")},
        {"en": ("computer", "COMPUTER"), "de": (("der computer", "den computer"), "COMPUTER"), "zh": ("电脑", "电脑")},
        {"en": ("bicycle", "BICYCLE"), "de": (("das fahrrad", "das fahrrad"), "FAHRRAD"), "zh": ("自行车", "自行车")},
        {"en": ("ticket", "TICKET"), "de": (("die fahrkarte", "die fahrkarte"), "FAHRKARTE"), "zh": ("票", "票")},
        {"en": ("phone", "PHONE"), "de": (("das handy", "das handy"), "HANDY"), "zh": ("手机", "手机")},
        {"en": ("bread", "BREAD"), "de": (("das brot", "das brot"), "BROT"), "zh": ("面包", "面包")},
        {"en": ("table", "TABLE"), "de": (("der tisch", "den tisch"), "TISCH"), "zh": ("桌子", "桌子")},
    ],
    "verb": [
        {"en": ("buy", "BUY"), "de": ("kaufen", "KAUFEN"), "zh": ("买", "买")},
        {"en": ("read", "READ"), "de": ("lesen", "LESEN"), "zh": ("读", "读")},
        {"en": ("sell", "SELL"), "de": ("verkaufen", "VERKAUFEN"), "zh": ("卖", "卖")},
        {"en": ("find", "FIND"), "de": ("finden", "FINDEN"), "zh": ("找", "找")},
        {"en": ("bring", "BRING"), "de": ("bringen", "BRINGEN"), "zh": ("带", "带")},
        {"en": ("see", "SEE"), "de": ("sehen", "SEHEN"), "zh": ("看", "看")},
        {"en": ("need", "NEED"), "de": ("brauchen", "BRAUCHEN"), "zh": ("需要", "需要")},
        {"en": ("clean", "CLEAN"), "de": ("putzen", "PUTZEN"), "zh": ("打扫", "打扫")},
        {"en": ("fix", "FIX"), "de": ("reparieren", "REPARIEREN"), "zh": ("修理", "修理")},
        {"en": ("order", "ORDER"), "de": ("bestellen", "BESTELLEN"), "zh": ("订", "订")},
    ],
    "place": [
        {"en": ("school", "SCHOOL"), "de": ("zur schule", "SCHULE"), "zh": ("学校", "学校")},
        {"en": ("cinema", "CINEMA"), "de": ("ins kino", "KINO"), "zh": ("电影院", "电影院")},
        {"en": ("park", "PARK"), "de": ("in den park", "PARK"), "zh": ("公园", "公园")},
        {"en": ("station", "STATION"), "de": ("zum bahnhof", "BAHNHOF"), "zh": ("车站", "车站")},
        {"en": ("city", "CITY"), "de": ("in die stadt", "STADT"), "zh": ("城里", "城市")},
        {"en": ("hospital", "HOSPITAL"), "de": ("ins krankenhaus", "KRANKENHAUS"), "zh": ("医院", "医院")},
        {"en": ("library", "LIBRARY"), "de": ("in die bibliothek", "BIBLIOTHEK"), "zh": ("图书馆", "图书馆")},
        {"en": ("office", "WORK"), "de": ("zur arbeit", "ARBEIT"), "zh": ("公司", "公司")},
    ],
    "region": [
        {"en": ("in the north", "NORTH"), "de": ("im norden", "NORD"), "zh": ("北方", "北方")},
        {"en": ("in the south", "SOUTH"), "de": ("im süden", "SUED"), "zh": ("南方", "南方")},
        {"en": ("in the east", "EAST"), "de": ("im osten", "OST"), "zh": ("东部", "东")},
        {"en": ("in the west", "WEST"), "de": ("im westen", "WEST"), "zh": ("西部", "西")},
        {"en": ("on the coast", "COAST"), "de": ("an der küste", "KUESTE"), "zh": ("海边", "海边")},
        {"en": ("in the mountains", "MOUNTAIN"), "de": ("in den bergen", "BERG"), "zh": ("山区", "山")},
    ],
    "weather": [
        {"en": ("rain", "RAIN"), "de": ("regen", "REGEN"), "zh": ("下雨", "下雨")},
        {"en": ("snow", "SNOW"), "de": ("schnee", "SCHNEE"), "zh": ("下雪", "下雪")},
        {"en": ("be sunny", "SUN"), "de": ("sonne", "SONNE"), "zh": ("晴天", "晴")},
        {"en": ("be windy", "WIND"), "de": ("wind", "WIND"), "zh": ("刮风", "风")},
        {"en": ("be foggy", "FOG"), "de": ("nebel", "NEBEL"), "zh": ("有雾", "雾")},
        {"en": ("be stormy", "STORM"), "de": ("gewitter", "GEWITTER"), "zh": ("打雷", "打雷")},
    ],
    "adj": [
        {"en": ("new", "NEW"), "de": ("neu", "NEU"), "zh": ("新", "新")},
        {"en": ("old", "OLD"), "de": ("alt", "ALT"), "zh": ("旧", "旧")},
        {"en": ("expensive", "EXPENSIVE"), "de": ("teuer", "TEUER"), "zh": ("贵", "贵")},
        {"en": ("cheap", "CHEAP"), "de": ("billig", "BILLIG"), "zh": ("便宜", "便宜")},
        {"en": ("good", "GOOD"), "de": ("gut", "GUT"), "zh": ("好", "好")},
        {"en": ("big", "BIG"), "de": ("groß", "GROSS"), "zh": ("大", "大")},
        {"en": ("small", "SMALL"), "de": ("klein", "KLEIN"), "zh": ("小", "小")},
        {"en": ("beautiful", "BEAUTIFUL"), "de": ("schön", "SCHOEN"), "zh": ("漂亮", "漂亮")},
    ],
}
#: Function signs every vocabulary keeps: go, like, want, not.
FUNCTION_GLOSSES = {"en": ("GO", "LIKE", "WANT", "NOT"), "de": ("GEHEN", "MOEGEN", "WOLLEN", "NICHT"),
                    "zh": ("去", "喜欢", "要", "不")}
#: Glosses that carry a head shake.
NEGATION_GLOSSES = {"en": ("NOT",), "de": ("NICHT",), "zh": ("不",)}


@dataclass(frozen=True)
class Sentence:
    """One sentence: text, space-separated gloss sequence, and whether it is a question."""

    text: str
    gloss: str
    question: bool = False


def _t(entry: dict, lang: str, case: int | None = None) -> str:
    form = entry[lang][0]
    return form[case] if isinstance(form, tuple) else form


def _g(entry: dict, lang: str) -> str:
    return entry[lang][1]


def _en(template: int, s: dict) -> Sentence:
    g = lambda k: _g(s[k], "en")  # noqa: E731
    t = lambda k: _t(s[k], "en")  # noqa: E731
    if template == 0:
        text, gloss = f"{t('time')} {t('person')} will {t('verb')} the {t('thing')}.", [g("time"), g("person"), g("thing"), g("verb")]
    elif template == 1:
        text, gloss = f"{t('time')} {t('person')} will go to the {t('place')}.", [g("time"), g("person"), "GO", g("place")]
    elif template == 2:
        text, gloss = f"{t('time')} it will {t('weather')} {t('region')}.", [g("time"), g("region"), g("weather")]
    elif template == 3:
        text, gloss = f"does {t('person')} like the {t('thing')}?", [g("person"), "LIKE", g("thing")]
    elif template == 4:
        text, gloss = f"the {t('thing')} is {t('adj')}.", [g("thing"), g("adj")]
    else:
        text, gloss = f"{t('person')} does not want the {t('thing')}.", [g("person"), g("thing"), "WANT", "NOT"]
    return Sentence(text[0].upper() + text[1:], " ".join(gloss), template == 3)


def _de(template: int, s: dict) -> Sentence:
    g = lambda k: _g(s[k], "de")  # noqa: E731
    if template == 0:
        words, gloss = [_t(s["time"], "de"), "möchte", _t(s["person"], "de", 0), _t(s["thing"], "de", 1), _t(s["verb"], "de")], [g("time"), g("person"), g("thing"), g("verb")]
    elif template == 1:
        words, gloss = [_t(s["time"], "de"), "möchte", _t(s["person"], "de", 0), _t(s["place"], "de"), "gehen"], [g("time"), g("person"), g("place"), "GEHEN"]
    elif template == 2:
        words, gloss = [_t(s["time"], "de"), "gibt es", _t(s["region"], "de"), _t(s["weather"], "de")], [g("time"), g("region"), g("weather")]
    elif template == 3:
        words, gloss = ["mag", _t(s["person"], "de", 0), _t(s["thing"], "de", 1)], [g("person"), g("thing"), "MOEGEN"]
    elif template == 4:
        words, gloss = [_t(s["thing"], "de", 0), "ist", _t(s["adj"], "de")], [g("thing"), g("adj")]
    else:
        words, gloss = [_t(s["person"], "de", 0), "möchte", _t(s["thing"], "de", 1), "nicht"], [g("person"), g("thing"), "WOLLEN", "NICHT"]
    return Sentence(" ".join(words) + (" ?" if template == 3 else " ."), " ".join(gloss), template == 3)


def _zh(template: int, s: dict) -> Sentence:
    g = lambda k: _g(s[k], "zh")  # noqa: E731
    t = lambda k: _t(s[k], "zh")  # noqa: E731
    if template == 0:
        text, gloss = f"{t('time')}{t('person')}要{t('verb')}{t('thing')}。", [g("time"), g("person"), g("thing"), g("verb")]
    elif template == 1:
        text, gloss = f"{t('time')}{t('person')}要去{t('place')}。", [g("time"), g("person"), "去", g("place")]
    elif template == 2:
        text, gloss = f"{t('time')}{t('region')}{t('weather')}。", [g("time"), g("region"), g("weather")]
    elif template == 3:
        text, gloss = f"{t('person')}喜欢{t('thing')}吗？", [g("person"), g("thing"), "喜欢"]
    elif template == 4:
        text, gloss = f"{t('thing')}很{t('adj')}。", [g("thing"), g("adj")]
    else:
        text, gloss = f"{t('person')}不要{t('thing')}。", [g("person"), g("thing"), "要", "不"]
    return Sentence(text, " ".join(gloss), template == 3)


_RENDER = {"en": _en, "de": _de, "zh": _zh}
_TEMPLATE_SLOTS = (("time", "person", "verb", "thing"), ("time", "person", "place"), ("time", "region", "weather"),
                   ("person", "thing"), ("thing", "adj"), ("person", "thing"))
_TEMPLATE_WEIGHTS = np.array([0.28, 0.2, 0.2, 0.12, 0.1, 0.1])


class Grammar:
    """A vocabulary subset of about ``n_signs`` glosses for ``language`` and a seeded sentence sampler."""

    def __init__(self, language: str, rng: np.random.Generator, n_signs: int | None = None):
        if language not in _RENDER:
            raise ValueError(f"no built-in grammar for {language!r}")
        self.language = language
        total = sum(len(v) for v in _V.values())
        keep = 1.0 if n_signs is None else min(1.0, max(0.0, n_signs - len(FUNCTION_GLOSSES[language])) / total)
        self.vocab = {slot: [entries[i] for i in sorted(rng.permutation(len(entries))[:max(2, round(keep * len(entries)))])]
                      for slot, entries in _V.items()}

    def glosses(self) -> list[str]:
        """Every gloss this grammar can produce (content words, then function signs)."""
        out = [_g(e, self.language) for entries in self.vocab.values() for e in entries]
        return list(dict.fromkeys([*out, *FUNCTION_GLOSSES[self.language]]))

    def sample(self, rng: np.random.Generator) -> Sentence:
        """One random sentence."""
        template = int(rng.choice(len(_TEMPLATE_SLOTS), p=_TEMPLATE_WEIGHTS))
        slots = {k: self.vocab[k][int(rng.integers(len(self.vocab[k])))] for k in _TEMPLATE_SLOTS[template]}
        return _RENDER[self.language](template, slots)


def builtin_words(language: str) -> list[str]:
    """All content-word glosses of the built-in vocabulary of ``language`` (used to name isolated signs)."""
    return list(dict.fromkeys(_g(e, language) for entries in _V.values() for e in entries))
