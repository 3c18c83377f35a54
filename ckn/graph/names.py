"""How names are compared and matched, and the name rows a store indexes for looking them up.

Two forms of a name: its *match key* (:func:`match_key`: NFKC, simplified characters, case-folded;
what resolution and a typed name compare) and its *folded* form (:func:`fold`: the same, one character
for one, so a match in a text maps back to the original characters; what finds names in a text).

A store that looks names up itself (Neo4j: no copy of every name in each API process) keeps one row
per name form of each named entity (:func:`rows`), replaced whenever the entity is written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import NamedTuple, Protocol

import opencc

from ckn.graph.model import Entity, NodeKind

NAMED_KINDS = (
    NodeKind.CUSTOMER,
    NodeKind.EMPLOYEE,
    NodeKind.PRODUCT,
    NodeKind.TOPIC,
    NodeKind.DEPARTMENT,
    NodeKind.SEGMENT,
)
"""Kinds looked up by name (rows name them); interactions, feedback and documents never are."""
MATCHED_KINDS = (NodeKind.CUSTOMER, NodeKind.EMPLOYEE, NodeKind.PRODUCT, NodeKind.TOPIC)
"""Kinds whose names are found in a text (a question, a document)."""
KEY_PROPS = ("emails", "phones", "external_ids")
"""List properties whose values identify an entity; a merge keeps the union of them."""
SHORTEST_MATCHED = 2
"""Folded names shorter than this are never looked for in a text."""
LONGEST_MATCHED = 80
"""Folded names longer than this are never looked for in a text (looked up by name, they are found)."""

_CJK_TEXT = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK_TEXT}])\s+(?=[{_CJK_TEXT}])")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = r"[^\W_\u3400-\u9fff\uf900-\ufaff]+"
_LIKE_WORDS = re.compile(rf"[\u3400-\u9fff\uf900-\ufaff]|{_WORD}(?:['.]{_WORD})*")
"""Words as Lucene's ``standard`` analyzer cuts them (UAX #29): a Chinese character alone; other words
whole, through an apostrophe or a full stop between letters or digits (``o'brien``, ``v2.5``)."""
_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
LIKE_WORDS_AT_MOST = 32
"""Words of a text a full-text search for close names reads."""
SPELLED_CLOSE_AT_MOST = 8
"""Words of it matched within one or two edits (each can grow to 50 clauses; Lucene allows 1,024)."""


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


_SHORT = 100
"""Values up to this long (names, codes, places: they repeat from row to row) are remembered."""


def text(value: str) -> str:
    """NFKC (full-width to half-width), no spaces between Chinese characters, white space collapsed."""
    return _short_text(value) if len(value) <= _SHORT else _text(value)


def _text(value: str) -> str:
    value = unicodedata.normalize("NFKC", value)
    value = _SPACE_BETWEEN_CJK.sub("", value)
    return " ".join(value.split())


_short_text = lru_cache(maxsize=1 << 17)(_text)


@lru_cache(maxsize=1 << 17)
def match_key(value: str) -> str:
    """The form names are compared in: :func:`text`, simplified characters, case-folded."""
    return str(_t2s().convert(text(value))).casefold()


@cache
def _fold_char(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) != 1:
        return char
    folded = match_key(folded)
    return folded if len(folded) == 1 else char


class _FoldTable(dict[int, str]):
    """``str.translate`` table of :func:`_fold_char`, filled as characters are met."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold_char(chr(code))
        return folded


FOLD_TABLE = _FoldTable()
"""Folds a text one character for one (``text.translate(FOLD_TABLE)``), spaces kept."""


def fold(value: str) -> tuple[str, list[int]]:
    """Text in matching form, and for each of its characters the offset of the original one.

    One character for one (NFKC, simplified, case-folded), without spaces between Chinese characters.
    """
    out: list[str] = []
    offsets: list[int] = []
    for i, char in enumerate(value):
        if (
            char.isspace()
            and out
            and _CJK.match(out[-1])
            and i + 1 < len(value)
            and _CJK.match(_fold_char(value[i + 1]))
        ):
            continue
        out.append(_fold_char(char))
        offsets.append(i)
    return "".join(out), offsets


def folded_name(name: str) -> str:
    """A name as it is found in a folded text ('' when too short to be looked for)."""
    folded = fold(name)[0].strip()
    return folded if SHORTEST_MATCHED <= len(folded) <= LONGEST_MATCHED else ""


def strings(value: object) -> list[str]:
    """A property's values as strings (a list, one value, or none)."""
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


def rows(entity: Entity) -> list[dict[str, str]]:
    """The name rows of an entity (none for kinds never looked up by name).

    Each has ``id`` and ``kind``, and one of: ``form`` (a folded name or alias, for finding it in a
    text), ``key`` (the match key of a name or alias), or ``prop`` and ``value`` (an e-mail, a phone,
    an external id).
    """
    if entity.kind not in NAMED_KINDS:
        return []
    head = {"id": entity.id, "kind": entity.kind.value}
    names = dict.fromkeys(filter(None, [entity.name, *strings(entity.props.get("aliases"))]))
    found: list[dict[str, str]] = []
    if entity.kind in MATCHED_KINDS:
        found += [{**head, "form": form} for form in dict.fromkeys(map(folded_name, names)) if form]
    found += [{**head, "key": key} for key in dict.fromkeys(map(match_key, names)) if key]
    found += [
        {**head, "prop": prop, "value": value}
        for prop in KEY_PROPS
        for value in dict.fromkeys(strings(entity.props.get(prop)))
    ]
    return [row for row in found if all(len(v.encode()) <= INDEXED_AT_MOST for v in row.values())]


INDEXED_AT_MOST = 4000
"""The longest name row kept, in bytes of UTF-8: Neo4j cannot index a value of more than about 8 kB,
and nobody types a longer name (a note pasted into a name column is kept on the entity, not looked up)."""


def like_query(value: str) -> str | None:
    """A Lucene query for the names close to ``value`` (None when it has no word).

    Each Chinese character is a word (as the ``standard`` analyzer indexes them); other words match
    as written, as the start of a word, and within one or two edits.
    """
    parts: list[str] = []
    spelled = 0
    for word in list(dict.fromkeys(_LIKE_WORDS.findall(fold(value)[0])))[:LIKE_WORDS_AT_MOST]:
        escaped = _LUCENE_SPECIAL.sub(r"\\\1", word)
        parts.append(escaped)
        if len(word) >= 3 and not _CJK.match(word):
            parts.append(f"{escaped}*")
            if spelled < SPELLED_CLOSE_AT_MOST:
                parts.append(f"{escaped}~{1 if len(word) < 6 else 2}")
                spelled += 1
    return " OR ".join(parts) or None


class Name(NamedTuple):
    """A name form (or key value) and the entity that has it."""

    form: str
    id: str
    kind: NodeKind


class NameIndex(Protocol):
    """Names looked up where they are stored (a store with ``names`` set; see :func:`rows`)."""

    def found_in(self, forms: Sequence[str]) -> list[Name]:
        """Entities whose folded name or alias is one of ``forms``."""
        ...

    def named(self, key: str) -> list[Name]:
        """Entities with a name or alias whose match key is ``key``."""
        ...

    def keyed(self, values: Sequence[str]) -> dict[str, list[Name]]:
        """Entities holding each of these key values, by key property (``emails``, ...)."""
        ...

    def like(self, text: str, *, limit: int) -> list[Name]:
        """Up to ``limit`` folded names and aliases closest to ``text`` (candidates for a close spelling)."""
        ...
