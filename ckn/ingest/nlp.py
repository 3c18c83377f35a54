"""Extraction with spaCy from Chinese and English text.

It finds mentions of the CRM's own customers, colleagues, products and topics, contact details,
amounts and dates, and referral cues. No statistical model is needed: the pipelines start from
``spacy.blank("zh")`` (words segmented by jieba) and ``spacy.blank("en")``, plus components
registered under versioned names:

- ``ckn_gazetteer_v1`` finds the names and aliases of known entities (master data) in the text,
  matching through full-width forms, traditional characters, case and stray spaces between Chinese
  characters, and links each mention to its node id;
- ``ckn_patterns_v1`` finds e-mails, phones, amounts and dates, and links e-mails and phones of known
  people.

When a statistical pipeline is configured (``CKN_SPACY_MODEL_ZH`` / ``CKN_SPACY_MODEL_EN``: a package
name or a path), it runs first and its entities are kept where ckn's own do not overlap them.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick
import jieba
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from ckn.graph.model import NodeKind
from ckn.graph.names import FOLD_TABLE, MATCHED_KINDS, fold, folded_name
from ckn.ingest import discovery, normalise
from ckn.ingest.discovery import Name, Phrase, SelfReferral
from ckn.ingest.normalise import BadValue
from ckn.ingest.resolve import Resolver

log = logging.getLogger(__name__)

EXTRACTOR_VERSION = "1"
GAZETTEER = "ckn_gazetteer_v1"
PATTERNS = "ckn_patterns_v1"
LABELS = {kind: kind.value.upper() for kind in MATCHED_KINDS}
GAZETTEER_KEYS = ("emails", "phones")
"""Key properties whose values, found in a text, link to their entity."""
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

if not Span.has_extension("ckn_id"):
    Span.set_extension("ckn_id", default=None)
    Span.set_extension("ckn_extractor", default=None)
    Span.set_extension("ckn_confidence", default=1.0)


def language_of(text: str) -> str:
    """``zh`` when a fifth or more of the letters are Chinese characters, else ``en``."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "en"
    return "zh" if sum(1 for c in letters if _CJK.match(c)) / len(letters) >= 0.2 else "en"


@dataclass(frozen=True)
class Term:
    """A name or alias of a known entity."""

    entity_id: str
    kind: NodeKind


class Gazetteer:
    """The names and aliases of the entities ckn knows, for matching in text."""

    def __init__(self, terms: dict[str, Term], keys: dict[str, Term]) -> None:
        self.terms = terms
        self.keys = keys
        self._automaton: Any = None  # Aho-Corasick: time linear in the text, whatever the number of terms
        if terms:
            self._automaton = ahocorasick.Automaton()
            for term in terms:
                self._automaton.add_word(term, term)
            self._automaton.make_automaton()

    @classmethod
    def from_resolver(cls, resolver: Resolver) -> Gazetteer:
        """Every customer, employee, product and topic name and alias; their e-mails and phones."""
        terms: dict[str, Term] = {}
        keys: dict[str, Term] = {}
        for entity_id, known in sorted(resolver.known.items()):
            if known.kind not in MATCHED_KINDS:
                continue
            term = Term(entity_id, known.kind)
            for name in [known.name, *known.aliases]:
                if folded := folded_name(name):
                    terms.setdefault(folded, term)
            for prop in GAZETTEER_KEYS:
                for value in known.keys.get(prop, ()):
                    keys.setdefault(value, term)
        return cls(terms, keys)

    def find(self, text: str) -> list[tuple[int, int, Term]]:
        """Mentions as (start, end, term) in the original text: leftmost, then longest, never overlapping.

        An English name inside a word is none ("CS" in "CSV"). Which mentions are found depends only
        on the names the text holds (a gazetteer of those alone finds the same).
        """
        if self._automaton is None:
            return []
        folded, offsets = fold(text)
        spans = []
        for last, term in self._automaton.iter(folded):
            start, end = last - len(term) + 1, last + 1
            if term.isascii() and (_ascii_word(folded, start - 1) or _ascii_word(folded, end)):
                continue
            spans.append((start, -end, term))
        found, reach = [], 0
        for start, negative_end, term in sorted(spans):
            if start >= reach:
                reach = -negative_end
                found.append((offsets[start], offsets[reach - 1] + 1, self.terms[term]))
        return found


def _ascii_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and text[i].isascii() and text[i].isalnum()


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_PHONE = re.compile(r"(?<![\d])(?:\+|00)?[\d][\d \-()]{6,18}\d(?![\d])")
_MONEY = re.compile(
    r"(?:[¥￥$€]\s?\d[\d,]*(?:\.\d+)?(?:\s?[万亿])?|\d[\d,]*(?:\.\d+)?\s?(?:万元|元|万|RMB|EUR|USD))"
)
_DATE = re.compile(r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?")


@Language.factory(GAZETTEER, default_config={"confidence": 0.9})
def make_gazetteer(nlp: Language, name: str, confidence: float) -> GazetteerComponent:
    """SpaCy factory of the master-data gazetteer (its terms are set with :meth:`set_gazetteer`)."""
    return GazetteerComponent(confidence)


class GazetteerComponent:
    """Adds a span for each mention of a known entity to ``doc.ents`` (ckn's spans win overlaps)."""

    def __init__(self, confidence: float) -> None:
        self.confidence = confidence
        self.gazetteer = Gazetteer({}, {})

    def set_gazetteer(self, gazetteer: Gazetteer) -> None:
        """Replace the terms (when the master data changed)."""
        self.gazetteer = gazetteer

    def __call__(self, doc: Doc) -> Doc:
        """Add the mentions of known entities to ``doc.ents``."""
        spans = []
        for start, end, term in self.gazetteer.find(doc.text):
            span = doc.char_span(start, end, label=LABELS[term.kind], alignment_mode="expand")
            if span is not None:
                span._.ckn_id = term.entity_id
                span._.ckn_extractor = GAZETTEER
                span._.ckn_confidence = self.confidence
                spans.append(span)
        return _merge(doc, spans)


@Language.factory(PATTERNS)
def make_patterns(nlp: Language, name: str) -> PatternsComponent:
    """SpaCy factory of the e-mail, phone, amount and date patterns."""
    return PatternsComponent()


class PatternsComponent:
    """E-mails, phones, amounts and dates; e-mails and phones of known people link to them."""

    def __init__(self) -> None:
        self.keys: dict[str, Term] = {}

    def __call__(self, doc: Doc) -> Doc:
        """Add e-mails, phones, amounts and dates to ``doc.ents``."""
        text = doc.text.translate(FOLD_TABLE)  # one for one: full-width digits and @ fold
        spans = []
        for label, pattern in (("DATE", _DATE), ("EMAIL", _EMAIL), ("MONEY", _MONEY), ("PHONE", _PHONE)):
            for match in pattern.finditer(text):
                if label == "PHONE" and _DATE.fullmatch(match.group().strip()):
                    continue
                term = self._term(label, match.group())
                found = LABELS[term.kind] if term else label
                span = doc.char_span(match.start(), match.end(), label=found, alignment_mode="expand")
                if span is not None:
                    span._.ckn_id = term.entity_id if term else None
                    span._.ckn_extractor = PATTERNS
                    spans.append(span)
        return _merge(doc, spans)

    def _term(self, label: str, value: str) -> Term | None:
        key = _key(label, value)
        return self.keys.get(key) if key else None


def _key(label: str, value: str) -> str | None:
    """An e-mail or a phone as keys are kept (None for other labels, or when it is not one)."""
    try:
        if label == "EMAIL":
            return normalise.email(value)
        if label == "PHONE":
            return normalise.phone(value)
    except BadValue:
        return None
    return None


def contact_keys(text: str) -> list[str]:
    """The e-mails and phones in a text, as keys are kept: what :class:`PatternsComponent` looks up."""
    folded = text.translate(FOLD_TABLE)
    found = (
        _key(label, m.group())
        for label, pattern in (("EMAIL", _EMAIL), ("PHONE", _PHONE))
        for m in pattern.finditer(folded)
    )
    return sorted({key for key in found if key})


def _merge(doc: Doc, spans: list[Span]) -> Doc:
    """Add spans to ``doc.ents``; where spans overlap, the longer wins, then the earlier one."""
    if spans:  # reading doc.ents walks every token: not for nothing
        doc.ents = filter_spans([*doc.ents, *spans])
    return doc


def blank_pipeline(lang: str) -> Language:
    """The blank pipeline ckn starts from: words segmented by jieba for Chinese, spaCy's rules otherwise."""
    if lang == "zh":
        jieba.setLogLevel(logging.WARNING)
        return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    return spacy.blank(lang)


def build_pipeline(lang: str, model: str | None = None) -> Language:
    """A pipeline for ``lang``: the configured statistical model, or a blank one, plus ckn's components."""
    if model:
        try:
            nlp = spacy.load(model)
        except OSError as exc:
            raise BadValue(f"cannot load the spaCy pipeline {model!r}: {exc}") from None
    else:
        nlp = blank_pipeline(lang)
    nlp.add_pipe(GAZETTEER, last=True)
    nlp.add_pipe(PATTERNS, last=True)
    return nlp


@dataclass(frozen=True)
class Mention:
    """A span of text that names something, linked to a node when ckn knows it."""

    start: int
    end: int
    text: str
    label: str
    entity_id: str | None
    extractor: str
    confidence: float


@dataclass(frozen=True)
class Cue:
    """A referral stated in text: ``referrer`` brought in ``referred``."""

    referrer: str
    referred: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class Analysis:
    """What one text says."""

    language: str
    words: int
    mentions: tuple[Mention, ...]
    cues: tuple[Cue, ...]
    keyphrases: tuple[str, ...]
    complaints: tuple[str, ...] = ()
    """Products the text complains about (a complaint word in the same sentence)."""
    topics: tuple[Phrase, ...] = ()
    """Key phrases discovered in the text (see :mod:`ingest.discovery`)."""
    names: tuple[Name, ...] = ()
    """People and organisations the text names that master data does not know."""
    stated_referrals: tuple[SelfReferral, ...] = ()
    """Referrals stated in the first person ("X referred us")."""

    @property
    def unlinked(self) -> list[str]:
        """Named entities a statistical model found that ckn does not know (``LABEL:text``)."""
        return sorted(
            {
                f"{m.label}:{m.text}"
                for m in self.mentions
                if not m.entity_id and m.extractor.startswith("spacy-model")
            }
        )


_COMPLAINT = re.compile(
    r"投诉|故障|坏了|失败|偏高|偏低|不准|漂移|报错|不满|问题|fails?|failed|broken|defect|error|complain|wrong|crash",
    re.IGNORECASE,
)


def _complaints(text: str, mentions: Sequence[Mention]) -> list[str]:
    """Products named in a sentence that also has a complaint word (``X200 校准后读数偏高``)."""
    found = []
    for sentence in _SENTENCE.finditer(text):
        if not _COMPLAINT.search(sentence.group()):
            continue
        found += [
            m.entity_id
            for m in mentions
            if m.label == "PRODUCT" and m.entity_id and sentence.start() <= m.start < sentence.end()
        ]
    return sorted(set(found))


_FORWARD = re.compile(r"推荐|介绍了|介绍给|referred|recommended|introduced", re.IGNORECASE)
_BACKWARD = re.compile(
    r"由.{0,12}(?:推荐|介绍)|经.{0,12}介绍|(?:referred|introduced|recommended)\s+(?:us\s+)?by", re.IGNORECASE
)
_SENTENCE = re.compile(r"[^。！？!?\n.;；]+[。！？!?\n.;；]?")


def _cues(text: str, mentions: Sequence[Mention]) -> list[Cue]:
    """Referral cues between two customers named in one sentence.

    ``A 推荐了 B``, ``A referred B`` go forward; ``B 由 A 介绍``, ``B was introduced by A`` backward.
    """
    cues = []
    for sentence in _SENTENCE.finditer(text):
        people = [
            m
            for m in mentions
            if m.label == "CUSTOMER" and m.entity_id and sentence.start() <= m.start < sentence.end()
        ]
        for first, second in itertools.pairwise(people):
            between = text[first.end : second.start]
            if first.entity_id == second.entity_id:
                continue
            if _BACKWARD.search(text[first.end : second.end + 4]) and not _FORWARD.fullmatch(between.strip()):
                cues.append(Cue(second.entity_id or "", first.entity_id or "", first.start, second.end, 0.6))
            elif _FORWARD.search(between):
                cues.append(Cue(first.entity_id or "", second.entity_id or "", first.start, second.end, 0.6))
    return cues


MAX_NEW_STRINGS = 200_000
"""New strings the pipelines' vocabularies may take in before they are built again."""


class TextAnalyzer:
    """Runs the pipelines over texts in batches (``nlp.pipe``) and returns mentions and cues."""

    def __init__(
        self,
        gazetteer: Gazetteer,
        *,
        models: dict[str, str] | None = None,
        batch_size: int = 64,
        n_process: int = 1,
        discover: bool = True,
    ) -> None:
        self.models = models or {}
        self.discover = discover
        self.batch_size = batch_size
        self.n_process = n_process
        self.gazetteer = gazetteer
        self._build()

    def _build(self) -> None:
        self.pipelines = {lang: build_pipeline(lang, self.models.get(lang)) for lang in ("zh", "en")}
        self.set_gazetteer(self.gazetteer)
        self._strings = sum(len(nlp.vocab.strings) for nlp in self.pipelines.values())

    def _renew_if_grown(self) -> None:
        """Build the pipelines again when their vocabularies have grown by :data:`MAX_NEW_STRINGS`.

        spaCy keeps every string it has seen (each order number, phone, name) for the life of a
        pipeline: over millions of texts that alone grows to gigabytes.
        """
        if sum(len(nlp.vocab.strings) for nlp in self.pipelines.values()) > self._strings + MAX_NEW_STRINGS:
            log.info("renewing the extraction pipelines: their vocabularies have grown")
            self._build()

    def set_gazetteer(self, gazetteer: Gazetteer) -> None:
        """Match these names, aliases, e-mails and phones from now on."""
        self.gazetteer = gazetteer
        for nlp in self.pipelines.values():
            nlp.get_pipe(GAZETTEER).set_gazetteer(gazetteer)  # type: ignore[attr-defined]
            nlp.get_pipe(PATTERNS).keys = gazetteer.keys  # type: ignore[attr-defined]

    def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        """One :class:`Analysis` per text, in order; texts are grouped by language for ``nlp.pipe``."""
        self._renew_if_grown()
        results: dict[int, Analysis] = {}
        for lang, nlp in self.pipelines.items():
            indices = [i for i, t in enumerate(texts) if language_of(t) == lang]
            docs = nlp.pipe((texts[i] for i in indices), batch_size=self.batch_size, n_process=self.n_process)
            for i, doc in zip(indices, docs, strict=True):
                mentions = tuple(self._mention(span, lang) for span in doc.ents)
                words = [t.text for t in doc if not t.is_space and not t.is_punct]
                cues = tuple(_cues(doc.text, mentions))
                complaints = tuple(_complaints(doc.text, mentions))
                found = self._discover(doc, lang, mentions, len(words)) if self.discover else ((), (), ())
                keyphrases = tuple(p.name for p in found[0]) or tuple(_keyphrases(words))
                results[i] = Analysis(lang, len(words), mentions, cues, keyphrases, complaints, *found)
        return [results[i] for i in range(len(texts))]

    @staticmethod
    def _discover(
        doc: Doc, lang: str, mentions: Sequence[Mention], words: int
    ) -> tuple[tuple[Phrase, ...], tuple[Name, ...], tuple[SelfReferral, ...]]:
        """Topics, names and first-person referrals, outside what master data already matched."""
        # topics may contain a known topic ("calibration history"): only names, products and patterns block
        known = [
            (m.start, m.end)
            for m in mentions
            if m.label != "TOPIC" and (m.entity_id or m.extractor == PATTERNS)
        ]
        recognised = [
            (m.start, m.end, m.label)
            for m in mentions
            if not m.entity_id and m.extractor.startswith("spacy-model")
        ]
        names = discovery.names(doc, lang, known, recognised)
        named = [(n.start, n.end) for n in names]  # a person or organisation is no topic
        return (
            tuple(discovery.key_phrases(doc, lang, [*known, *named], words=words)),
            tuple(names),
            tuple(discovery.self_referrals(doc.text)),
        )

    def _mention(self, span: Span, lang: str) -> Mention:
        extractor = span._.ckn_extractor or f"spacy-model:{self.models.get(lang, 'unknown')}"
        confidence = span._.ckn_confidence if span._.ckn_extractor else 0.7
        return Mention(
            span.start_char, span.end_char, span.text, span.label_, span._.ckn_id, extractor, confidence
        )


def _keyphrases(words: Iterable[str], top: int = 8) -> list[str]:
    """The most frequent content words of a text: a cheap keyphrase list."""
    counts: dict[str, int] = {}
    for word in words:
        w = word.strip().lower()
        if len(w) < 2 or w in _STOP or not any(c.isalpha() for c in w):
            continue
        counts[w] = counts.get(w, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "that",
        "this",
        "from",
        "have",
        "has",
        "are",
        "was",
        "were",
        "will",
        "not",
        "you",
        "your",
        "our",
        "but",
        "can",
        "all",
        "any",
        "how",
        "what",
        "when",
        "which",
        "who",
        "into",
        "about",
        "after",
        "again",
        "also",
        "been",
        "being",
        "here",
        "there",
        "they",
        "them",
        "then",
        "than",
        "just",
        "more",
        "most",
        "by",
        "at",
        "on",
        "in",
        "of",
        "to",
        "is",
        "it",
        "do",
        "a",
        "an",
        "as",
        "be",
        "or",
        "我们",
        "你们",
        "他们",
        "客户",
        "一个",
        "没有",
        "这个",
        "那个",
        "因为",
        "所以",
        "如果",
        "可以",
        "已经",
        "需要",
        "进行",
        "问题",
        "希望",
        "以及",
        "还是",
        "就是",
        "但是",
        "然后",
        "非常",
        "自己",
        "什么",
        "怎么",
    ]
)
