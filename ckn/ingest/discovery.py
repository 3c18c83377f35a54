"""What a text brings that master data does not name: its key phrases, people and organisations.

- **Key phrases** (:func:`key_phrases`) are runs of one to four content words that a text repeats,
  scored by how often it says them and how rare their words are in general use (for Chinese, jieba's
  reference document frequencies; for English, a stop list of function and generic words). A phrase
  mostly said as part of a longer one gives way to it. With a statistical parser configured, English
  candidates are its noun chunks. Each phrase has a normalised key (simplified characters, NFKC,
  case-folded, last English word singular), so the same topic written differently merges across texts.
- **Names** (:func:`names`) are people and organisations a text names: Chinese names jieba finds
  (surname first, ``nr`` in its dictionary or a new word it segmented), a surname with a title (王经理,
  李工), Chinese organisations (``nt``, or a name ending in 公司, 集团 ...), English names after a title
  or before a role or a speech verb, English organisations ending in Inc, Ltd, GmbH ..., and the
  people and organisations of a configured statistical NER.
- **First-person referrals** (:func:`self_referrals`): "Northwind referred us", "经朋友王总介绍",
  "我们是经朋友公司推荐才找到贵司的": the one who speaks was referred, by whom the text names.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import jieba
import jieba.posseg
from spacy.lang.en.stop_words import STOP_WORDS as _EN_STOP_WORDS
from spacy.tokens import Doc

from ckn.ingest import normalise

MIN_WORDS = 80
"""Texts shorter than this (in words) are not searched for topics: a ticket's subject says too little."""
MIN_COUNT = 2
"""A phrase is a topic of a text only when the text says it this often."""
TOP = 8
"""Topics kept per text at most."""
GENERIC_IDF = 5.5
"""A Chinese phrase none of whose words is rarer than this in jieba's reference corpus (inverse
document frequency) is generic: 问题 3.96, 方法 4.97, 研究 4.32, 管理 4.67, 系统 4.96."""

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _words(text: str) -> list[str]:
    return text.split()


_WORDISH = re.compile(r"[^\W_]", re.UNICODE)

ZH_STOP = frozenset(
    _words(
        """
        的 了 是 在 和 与 及 或 等 对 为 把 被 从 向 将 就 也 都 而
        但 并 又 这 那 其 此 各 每 该 我 你 他 她 它 们 个 中 上 下
        内 外 后 前 时 不 没 很 更 最 已 能 会 要 可 让 使 给 到 说
        有 着 过 之 于 以 由 经 所 如 若 即 则 因 故 再 还 只 才 没
        吗 呢 吧 啊 哦 一 二 三 两 几 多 少 些 本 贵 该 做 用 看 想
        找 来 去 得 地 我们 你们 他们 她们 它们 咱们 我司 贵司 本文 本篇
        文章 作者 大家 自己 什么 怎么 怎样 如何 为什么 这个 那个 这些 那些
        这种 那种 这样 那样 一个 一些 一种 一直 一般 一起 一定 一方面
        另一方面 没有 因为 所以 如果 虽然 但是 而且 并且 或者 还是 就是 只是
        可以 可能 已经 需要 应该 能够 进行 通过 利用 采用 提出 认为 具有
        存在 包括 问题 方法 研究 方面 情况 过程 内容 结果 部分 目的 意义
        作用 影响 方式 手段 措施 原因 特点 概念 定义 理论 分析 讨论 介绍
        总结 摘要 关键词 引言 结论 参考文献 例如 比如 因此 此外 另外 首先
        其次 最后 同时 然后 主要 重要 不同 相关 具体 进一步 实际 基础 基本
        发展 提高 实现 建立 希望 非常 以及 时候 时间 今天 明天 昨天 目前
        现在 当前 之后 之前 以后 以前 期间 当时 年 月 日 次 位 家 种 项
        条 点 客户 公司 企业 工作 经理 先生 女士 老师
        """
    )
)
"""Chinese function words, pronouns, connectives and words too general to be a topic."""

EN_GENERIC = frozenset(
    _words(
        """
        document documents article paper section chapter page figure
        table example examples way ways part parts thing things lot
        lots kind kinds type types case cases problem problems issue
        issues method methods approach approaches research study
        studies result results time times year years day days week
        weeks month months today people person number numbers use used
        using new good great important main different same other many
        much several various following need needs work works working
        make makes made get gets got take takes taken note notes point
        points question questions answer answers fact facts idea ideas
        also however therefore thus although like just really well
        still even ever first second third last next one two three
        four five said says say told tell asked ask think thought know
        knew want wanted help helps helped customer customers company
        companies team teams mr mrs ms dr data information system
        process service product record report step list level area
        group set value side end start line form model tool user run
        """
    )
)
EN_STOP = frozenset(_EN_STOP_WORDS)
"""English function words (spaCy's list): they end a phrase."""

SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
"""The hundred-odd commonest Chinese surnames: a new two- or three-character word starting with one
is most likely a name."""
_ZH_TITLE = re.compile(
    "([" + "".join(sorted(SURNAMES)) + "])(总经理|董事长|经理|总监|主任|主管|部长|院长|博士|教授|老师|工程师|"
    "先生|女士|小姐|总|工)"
)
_ZH_ORG_SUFFIX = re.compile(
    r"(?:股份有限公司|有限责任公司|有限公司|集团|公司|研究院|研究所|大学|学院|银行|医院|协会)$"
)
_ZH_SPEECH = re.compile(r"^(?:说|表示|指出|认为|提到|介绍|负责|告诉|建议|强调|补充)")
_EN_TITLE = re.compile(r"\b(?:Mr|Mrs|Ms|Mx|Dr|Prof)\.?\s+((?:[A-Z][a-z]+)(?:\s+[A-Z][a-z]+){0,2})")
_EN_PERSON_ROLE = re.compile(
    r"\b([A-Z][a-z]+\s+[A-Z][a-z]+)(?:,\s+(?:the\s+|our\s+|their\s+)?(?:[a-z]+\s+){0,2}"
    r"(?:head|manager|director|engineer|lead|CEO|CTO|CIO|VP|founder|consultant|analyst)\b|\s+(?:said|says|wrote|explained|noted|added|asked)\b)"
)
_EN_ORG = re.compile(
    r"\b((?:[A-Z][\w&'-]*\s+){1,4}(?:Inc|Ltd|LLC|GmbH|Corp|Corporation|Co|Company|Group|Holdings|"
    r"Technologies|Systems|Labs|AG|SA|PLC|University|Bank))\b\.?"
)


@dataclass(frozen=True)
class Phrase:
    """A key phrase of one text."""

    key: str
    """Normalised form: texts that write the same topic differently give the same key."""
    name: str
    """The form the text writes most often."""
    count: int
    start: int
    end: int
    """The first occurrence, in the original text."""
    score: float
    """Relative to the text's best phrase (1.0)."""


@dataclass(frozen=True)
class Name:
    """A person or organisation named in a text that master data does not know."""

    text: str
    label: str
    """``PERSON`` or ``ORG``."""
    start: int
    end: int
    confidence: float
    extractor: str


@dataclass(frozen=True)
class SelfReferral:
    """The one who speaks says they were referred, by ``referrer`` (as written)."""

    referrer: str
    start: int
    end: int
    """The span of the referrer's name in the original text."""
    cue_start: int
    cue_end: int
    """The span of the whole statement."""


def topic_key(text: str) -> str:
    """The key a topic name merges on: :func:`normalise.match_key`, with the last English word singular."""
    key = normalise.match_key(text)
    if not key or _CJK.search(key):
        return key
    words = key.split()
    return " ".join([*words[:-1], singular(words[-1])])


def singular(word: str) -> str:
    """An English noun's singular by the common rules (``companies`` company, ``processes`` process)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "os", "ics")):
        return word[:-1]
    return word


@cache
def _idf() -> tuple[dict[str, float], float]:
    """Jieba's reference inverse document frequencies (shipped with it), and their median."""
    path = Path(jieba.__file__).parent / "analyse" / "idf.txt"
    table: dict[str, float] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word, _, value = line.strip().rpartition(" ")
            if word:
                table[word] = float(value)
    values = sorted(table.values())
    return table, values[len(values) // 2] if values else GENERIC_IDF


@cache
def _tags() -> dict[str, str]:
    if not jieba.posseg.dt.word_tag_tab:
        jieba.posseg.initialize()
    return jieba.posseg.dt.word_tag_tab  # type: ignore[no-any-return]


_ZH_COUNTED = re.compile(
    r"^[一二两三四五六七八九十百千几每这那哪某各该本][个条项次位名份种类件张本篇台套家年月天周]$"
)
"""一条, 这位, 每次: a number or pointer and a measure word, never part of a topic."""


def _content(word: str, lang: str) -> bool:
    if lang == "zh":
        if word in ZH_STOP or _ZH_COUNTED.match(word) or not _WORDISH.search(word):
            return False
        if _CJK.search(word):
            return True
        return word.isalnum() and len(word) >= 2 and not word.isdigit()  # CRM, X200 inside Chinese text
    lowered = word.lower()
    return (
        len(word) >= 2
        and lowered not in EN_STOP
        and singular(lowered) not in EN_STOP
        and any(c.isalpha() for c in word)
        and not word.isdigit()
    )


def _blocker(blocked: Sequence[tuple[int, int]]) -> Callable[[int, int], bool]:
    """Whether a span of text overlaps one of the ``blocked`` spans (few, short: names, e-mails)."""
    chars = {i for start, end in blocked for i in range(start, end)}
    return lambda start, end: bool(chars) and any(i in chars for i in range(start, end))


def _runs(doc: Doc, lang: str, blocked: Sequence[tuple[int, int]]) -> list[list[tuple[str, int, int]]]:
    """Runs of content words (text, start, end), broken by anything else and by ``blocked`` spans."""
    runs: list[list[tuple[str, int, int]]] = [[]]
    overlaps = _blocker(blocked)
    for token in doc:
        start, end = token.idx, token.idx + len(token.text)
        if token.is_space or token.is_punct or not _content(token.text, lang) or overlaps(start, end):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((token.text, start, end))
    return [run for run in runs if run]


def _chunk_runs(doc: Doc, blocked: Sequence[tuple[int, int]]) -> list[list[tuple[str, int, int]]]:
    """A parser's noun chunks, without the function words at their edges."""
    runs = []
    overlaps = _blocker(blocked)
    for chunk in doc.noun_chunks:
        words = [
            (t.text, t.idx, t.idx + len(t.text))
            for t in chunk
            if not t.is_punct and not overlaps(t.idx, t.idx + len(t.text))
        ]
        while words and not _content(words[0][0], "en"):
            words.pop(0)
        while words and not _content(words[-1][0], "en"):
            words.pop()
        if words:
            runs.append(words)
    return runs


_EN_NOT_AT_EDGE = re.compile(r"^[a-z]{3,}(?:ly|ed)$")
"""An adverb or a past form (``quickly``, ``reported``): no English topic starts or ends with one."""


def _weight(words: Sequence[str], lang: str) -> float:
    """How distinctive a phrase's words are; 0 for a generic phrase."""
    if lang != "zh":
        if _EN_NOT_AT_EDGE.match(words[0]) or _EN_NOT_AT_EDGE.match(words[-1]):
            return 0.0
        return 0.0 if all(w in EN_GENERIC or singular(w) in EN_GENERIC for w in words) else 1.0
    idf, median = _idf()
    best = max(idf.get(w, median) for w in words)
    return best if best >= GENERIC_IDF else 0.0


@lru_cache(maxsize=1 << 16)
def _word_key(word: str) -> str:
    """A word in match form (words repeat: each is converted once)."""
    return normalise.match_key(word)


def key_phrases(
    doc: Doc, lang: str, blocked: Sequence[tuple[int, int]] = (), *, words: int | None = None
) -> list[Phrase]:
    """The topics a text is about: phrases it repeats, distinctive, longest that still repeat.

    ``words``: the text's words, when the caller has counted them.
    """
    if words is None:
        words = sum(1 for t in doc if not t.is_space and not t.is_punct)
    if words < MIN_WORDS:
        return []
    if lang == "en" and doc.has_annotation("DEP"):
        grams = [run for run in _chunk_runs(doc, blocked) if len(run) <= 4]
    else:
        grams = [
            run[i : i + n]
            for run in _runs(doc, lang, blocked)
            for n in range(1, 5)
            for i in range(len(run) - n + 1)
        ]
    joiner = "" if lang == "zh" else " "
    counts: Counter[tuple[str, ...]] = Counter()
    surface: dict[tuple[str, ...], Counter[str]] = {}
    first: dict[tuple[str, ...], tuple[int, int]] = {}
    for gram in grams:
        name = joiner.join(w for w, _, _ in gram)
        if lang == "zh" and (len(name) < 2 or len(name) > 10 or all(len(w) == 1 for w, _, _ in gram)):
            continue
        parts = tuple(_word_key(w) for w, _, _ in gram)
        if lang != "zh":
            parts = (*parts[:-1], singular(parts[-1]))
        counts[parts] += 1
        surface.setdefault(parts, Counter())[name] += 1
        first.setdefault(parts, (gram[0][1], gram[-1][2]))
    scored: dict[tuple[str, ...], float] = {}
    for parts, count in counts.items():
        if count >= MIN_COUNT and (weight := _weight(parts, lang)):
            scored[parts] = count * weight * (1 + 0.5 * (len(parts) - 1))
    # a phrase said mostly inside a longer one gives way to it ("knowledge" in "knowledge management")
    inside: dict[tuple[str, ...], int] = {}
    for parts in scored:
        for n in range(1, len(parts)):
            for i in range(len(parts) - n + 1):
                inside[parts[i : i + n]] = max(inside.get(parts[i : i + n], 0), counts[parts])
    ranked = sorted(
        ((score, parts) for parts, score in scored.items() if inside.get(parts, 0) < 0.6 * counts[parts]),
        key=lambda sp: (-sp[0], sp[1]),
    )[:TOP]
    if not ranked:
        return []
    best = ranked[0][0]
    return [
        Phrase(
            joiner.join(parts),
            _most_common(surface[parts]),
            counts[parts],
            *first[parts],
            round(score / best, 3),
        )
        for score, parts in ranked
        if score >= 0.2 * best
    ]


def _most_common(forms: Counter[str]) -> str:
    return min(forms.items(), key=lambda kv: (-kv[1], kv[0] != kv[0].lower(), kv[0]))[0]


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return len(longer) > n and any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def broader(key: str, known: dict[str, str]) -> list[str]:
    """The keys in ``known`` that ``key`` contains and no other such key contains (客户知识管理: 知识管理).

    Chinese keys contain by characters, English ones by whole words.
    """
    if _CJK.search(key):
        inside = {key[i:j] for i in range(len(key)) for j in range(i + 2, len(key) + 1)} - {key}
    else:
        words = key.split()
        inside = {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)} - {
            key
        }
    found = [k for k in inside if k in known]
    return sorted(k for k in found if not any(k != other and k in other for other in found))


def names(
    doc: Doc,
    lang: str,
    blocked: Sequence[tuple[int, int]] = (),
    recognised: Sequence[tuple[int, int, str]] = (),
) -> list[Name]:
    """People and organisations a text names that are not in ``blocked`` (what master data matched).

    ``recognised``: the entities a configured statistical NER found (start, end, label).
    """
    text = doc.text
    found: list[Name] = []

    def add(start: int, end: int, label: str, confidence: float, extractor: str) -> None:
        if end - start < 2 or any(s < end and start < e for s, e in blocked):
            return
        if any(n.start < end and start < n.end for n in found):
            return
        found.append(Name(text[start:end], label, start, end, confidence, extractor))

    if lang == "zh":
        for match in _ZH_TITLE.finditer(text):
            add(match.start(), match.end(), "PERSON", 0.5, "ckn_names_v1:title")
        tags = _tags()
        for i, token in enumerate(doc):
            word, tag = token.text, tags.get(token.text)
            start, end = token.idx, token.idx + len(word)
            if tag == "nt" or (_ZH_ORG_SUFFIX.search(word) and _all_cjk(word)):
                first = i  # 苏州/远航/科技/有限公司: the words before the suffix are the name
                while (
                    first > max(0, i - 4)
                    and _all_cjk(doc[first - 1].text)
                    and _content(doc[first - 1].text, "zh")
                ):
                    first -= 1
                if tag == "nt" or first < i:
                    add(doc[first].idx, end, "ORG", 0.5, "ckn_names_v1:org")
            elif 2 <= len(word) <= 3 and word[0] in SURNAMES and _all_cjk(word):
                following = doc[i + 1].text if i + 1 < len(doc) else ""
                if tag == "nr" or (
                    tag is None and (_ZH_SPEECH.match(following) or following in {"和", "与", "、"})
                ):
                    add(start, end, "PERSON", 0.4, "ckn_names_v1:surname")
    else:
        for match in _EN_TITLE.finditer(text):
            add(match.start(), match.end(1), "PERSON", 0.5, "ckn_names_v1:title")
        for match in _EN_PERSON_ROLE.finditer(text):
            add(match.start(1), match.end(1), "PERSON", 0.4, "ckn_names_v1:role")
        for match in _EN_ORG.finditer(text):
            add(match.start(1), match.end(1), "ORG", 0.5, "ckn_names_v1:org")
    for start, end, label in recognised:
        if label in {"PERSON", "PER", "ORG"}:
            add(start, end, "ORG" if label == "ORG" else "PERSON", 0.6, "spacy-model")
    return sorted(found, key=lambda n: n.start)


def _zh_name_part(word: str) -> bool:
    return _all_cjk(word) and _content(word, "zh")


def _all_cjk(word: str) -> bool:
    return all(_CJK.match(c) for c in word)


_FIRST_PERSON = re.compile(r"\b(?:we|us|our)\b|我们|我司|本公司|咱们|我方|我", re.IGNORECASE)
_EN_SELF = (
    re.compile(
        r"(?P<who>[A-Z][\w&'.-]*(?:\s+[A-Z][\w&'.-]*){0,4}|a friend|a partner|a colleague)\s+"
        r"(?:referred|recommended|introduced)\s+(?:us|you\s+to\s+us)\b"
    ),
    re.compile(
        r"\b(?:were|was|got|been)\s+(?:referred|recommended|introduced)\s+(?:to\s+you\s+)?by\s+"
        r"(?P<who>(?:our\s+friends?\s+at\s+|our\s+partners?\s+at\s+|a\s+friend\s+at\s+)?"
        r"[A-Z]?[\w&'.-]*(?:\s+[A-Z][\w&'.-]*){0,4})",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b[Tt]hanks\s+to\s+(?P<who>[A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*){0,4})'s\s+"
        r"(?:referral|recommendation|introduction)"
    ),
)
_ZH_SELF = (
    re.compile(r"(?:经|由|通过)(?P<who>[^，,。；;！!？?\n]{1,30}?)(?:的)?(?:介绍|推荐|引荐)"),
    re.compile(r"(?P<who>[^，,。；;！!？?\s经由通过是]{2,14}?)(?:推荐|介绍|引荐)(?:了)?(?:我们|我司|我)"),
)
_WHO_PREFIX = re.compile(
    r"^(?:our\s+friends?\s+at\s+|our\s+partners?\s+at\s+|a\s+friend\s+at\s+|朋友|老朋友|合作伙伴)",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^。！？!?\n.;；]+[。！？!?\n.;；]?")
_UNNAMED = frozenset({"", "公司", "企业", "客户", "伙伴", "单位"})


def self_referrals(text: str) -> list[SelfReferral]:
    """Sentences in which the one who speaks says who referred them."""
    found = []
    for sentence in _SENTENCE.finditer(text):
        said = sentence.group()
        if not _FIRST_PERSON.search(said):
            continue
        for pattern in (*_EN_SELF, *_ZH_SELF):
            match = pattern.search(said)
            if not match:
                continue
            who = match.group("who").strip()
            start = (
                sentence.start()
                + match.start("who")
                + (len(match.group("who")) - len(match.group("who").lstrip()))
            )
            prefix = _WHO_PREFIX.match(who)
            if prefix and who[prefix.end() :] not in _UNNAMED:  # 朋友王总: 王总; 朋友公司 names no one
                start += prefix.end()
                who = who[prefix.end() :]
            who = who.rstrip(".'s ")
            if who and who.lower() not in {"us", "we", "our", "you"}:
                found.append(
                    SelfReferral(
                        who,
                        start,
                        start + len(who),
                        sentence.start() + match.start(),
                        sentence.start() + match.end(),
                    )
                )
            break
    return found
