"""Full-text search over the texts of documents, interactions and feedback, Chinese and English.

Both stores index the same *search form* of each text: NFKC (full-width to half-width), simplified
characters, case-folded. The embedded store gives SQLite FTS5 each Chinese character as a word of its
own (a Chinese query becomes a phrase of its characters, so ``知识管理`` matches exactly those four
characters in a row, whatever words a segmenter would have cut); Neo4j's full-text index reads the
same form with Lucene's ``cjk`` analyzer (Chinese as overlapping character pairs, other words whole).
A query's words must all be found (AND); a Chinese run must be found as written.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import opencc

from ckn.graph.model import Entity, NodeKind

SEARCHED: dict[NodeKind, tuple[str, ...]] = {
    NodeKind.KNOWLEDGE_ITEM: ("text",),
    NodeKind.INTERACTION: ("notes",),
    NodeKind.FEEDBACK: ("text", "resolution"),
}
"""The kinds whose texts are searched, and their text properties (the name, a title or subject, too)."""
SEARCH_PROPERTY = "_search"
"""Where Neo4j keeps an item's search form (properties starting ``_`` are never a user's)."""

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PIECES = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[^\W_]+(?:['.\-][^\W_]+)*", re.UNICODE)


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def search_form(text: str) -> str:
    """``text`` as the index keeps it: NFKC, simplified characters, case-folded."""
    return str(_t2s().convert(unicodedata.normalize("NFKC", text))).casefold()


def searchable(entity: Entity) -> str | None:
    """The search form of an item's title and texts (None when it is not a kind that is searched)."""
    fields = SEARCHED.get(entity.kind)
    if fields is None:
        return None
    parts = [entity.name, *(str(entity.props.get(f) or "") for f in fields)]
    text = "\n".join(p for p in parts if p)
    return search_form(text) if text else None


def fts_body(form: str) -> str:
    """A search form as FTS5 words: each Chinese character apart."""
    return _CJK.sub(lambda m: f" {m.group()} ", form)


TERMS_AT_MOST = 64
"""Pieces of a query searched (a pasted page is searched by its first ones; Lucene allows 1,024)."""


def terms(query: str) -> list[str]:
    """The pieces of a query that must all be found: runs of Chinese characters, other words.

    Its first :data:`TERMS_AT_MOST` different ones.
    """
    return list(dict.fromkeys(_PIECES.findall(search_form(query))))[:TERMS_AT_MOST]


def fts_query(query: str) -> str | None:
    """An FTS5 ``MATCH`` expression for a user's query (None when it has nothing to look for)."""
    found = terms(query)
    if not found:
        return None
    return " AND ".join('"' + fts_body(t).strip().replace('"', "") + '"' for t in found)


_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')


def lucene_query(query: str) -> str | None:
    """A Lucene query for Neo4j's full-text index (None when it has nothing to look for)."""
    found = terms(query)
    if not found:
        return None
    return " AND ".join('"' + _LUCENE_SPECIAL.sub(r"\\\1", t) + '"' for t in found)
