"""Understanding a question: which products, topics and customers a few words name.

Queries take ids; people type ``X200 校准`` or ``who knows calibration on the X-200?``. This runs the
question through the same extraction as ingest (names and aliases in Chinese and English, full-width
and traditional forms), and falls back to the most similar known name when nothing matches exactly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from rapidfuzz import fuzz, process

from ckn.api.audit import note_subject
from ckn.graph import fulltext
from ckn.graph.cache import maintained, warm, warming
from ckn.graph.errors import Ambiguous, NotFound
from ckn.graph.ids import BULK_PREFIXES, entity_id
from ckn.graph.model import Entity, NodeKind, RelType
from ckn.graph.names import (
    KEY_PROPS,
    LONGEST_MATCHED,
    MATCHED_KINDS,
    NAMED_KINDS,
    SHORTEST_MATCHED,
    NameIndex,
    fold,
    match_key,
)
from ckn.graph.store import Changes, Direction, GraphStore
from ckn.ingest.nlp import GAZETTEER_KEYS, LABELS, Gazetteer, Mention, Term, TextAnalyzer, contact_keys
from ckn.ingest.resolve import RESOLVED_KINDS, Lookup, Resolver

log = logging.getLogger(__name__)

SUBJECT_KINDS = (NodeKind.PRODUCT, NodeKind.TOPIC, NodeKind.CUSTOMER)
FUZZY_CUTOFF = 80
QUESTION_CHARS = 400
"""Characters of a question read for names (a question is short; a pasted page is not read whole)."""
LIKE_CANDIDATES = 200
"""Names a store that looks names up itself gives as candidates for a close spelling."""


class Understanding:
    """What questions are read with: a text pipeline, and names found in a text or looked up.

    Two kinds: :class:`_KeptNames` holds every name (built once, kept in step with the change log);
    :class:`_StoredNames` asks the store (Neo4j's indexed name rows), so no process holds every name.
    """

    def __init__(self, analyzer: TextAnalyzer, lookup: Lookup) -> None:
        self.analyzer = analyzer
        self.lookup = lookup
        """Names, e-mails, phones and CRM ids looked up (``Resolver.reference``)."""
        self._lock = threading.Lock()  # the pipelines are shared: one text at a time

    def gazetteer_for(self, text: str) -> Gazetteer:
        """A gazetteer with at least every name and contact key found in ``text``."""
        raise NotImplementedError

    def terms_like(self, text: str, limit: int) -> dict[str, Term]:
        """Folded names and aliases to compare ``text`` with for a close spelling (each with its entity)."""
        raise NotImplementedError

    def warmed(self) -> Understanding:
        """Read one text first (the segmenter loads its words on first use), and return self.

        No name is looked up meanwhile: a build in the background never reads the store once built.
        """
        with self._lock:
            self.analyzer.analyze(["ckn 客户知识"])
        return self

    def mentions(self, text: str) -> tuple[Mention, ...]:
        """What ``text`` names, read as ingest reads a document."""
        gazetteer = self.gazetteer_for(text)
        with self._lock:
            self.analyzer.set_gazetteer(gazetteer)
            (analysis,) = self.analyzer.analyze([text])
        return analysis.mentions


class _KeptNames(Understanding):
    def __init__(self, resolver: Resolver) -> None:
        self.gazetteer = Gazetteer.from_resolver(resolver)
        super().__init__(TextAnalyzer(self.gazetteer, discover=False), resolver)
        self.resolver = resolver

    def gazetteer_for(self, text: str) -> Gazetteer:
        return self.gazetteer

    def terms_like(self, text: str, limit: int) -> dict[str, Term]:
        return self.gazetteer.terms


class _StoredNames(Understanding):
    def __init__(self, store: GraphStore, index: NameIndex) -> None:
        super().__init__(TextAnalyzer(Gazetteer({}, {}), discover=False), _StoredLookup(store, index))
        self.index = index

    def gazetteer_for(self, text: str) -> Gazetteer:
        return gazetteer_in(self.index, text)

    def terms_like(self, text: str, limit: int) -> dict[str, Term]:
        terms: dict[str, Term] = {}
        for name in sorted(self.index.like(text, limit=limit), key=lambda n: (n.id, n.form)):
            terms.setdefault(name.form, Term(name.id, name.kind))
        return terms


def gazetteer_in(index: NameIndex, text: str) -> Gazetteer:
    """The names and contact keys of the index that ``text`` holds, as a gazetteer.

    It finds in ``text`` what a gazetteer of every name would: the names it holds are the only ones
    that can match (one look-up of every stretch of the text a name can be).
    """
    folded = fold(text)[0]
    forms = {
        folded[start:end]
        for start in range(len(folded))
        if not folded[start].isspace()
        for end in range(start + SHORTEST_MATCHED, min(len(folded), start + LONGEST_MATCHED) + 1)
        if not folded[end - 1].isspace()
    }
    terms: dict[str, Term] = {}
    for name in sorted(index.found_in(sorted(forms)), key=lambda n: (n.id, n.form)):
        terms.setdefault(name.form, Term(name.id, name.kind))  # the first id, as a kept gazetteer
    keys: dict[str, Term] = {}
    contacts = index.keyed(contact_keys(text))
    found = sorted((n.id, n.form, n.kind) for p in GAZETTEER_KEYS for n in contacts.get(p, ()))
    for holder, value, kind in found:
        if kind in MATCHED_KINDS:
            keys.setdefault(value, Term(holder, kind))
    return Gazetteer(terms, keys)


class _StoredLookup(Lookup):
    """Names, e-mails, phones and CRM ids looked up in the store's name index (as a resolver would)."""

    def __init__(self, store: GraphStore, index: NameIndex) -> None:
        self.store = store
        self.index = index

    def kind_of(self, entity_id: str) -> NodeKind | None:
        entity = self.store.get_entity(entity_id)
        return entity.kind if entity is not None and entity.kind in NAMED_KINDS else None

    def by_keys(self, kind: NodeKind, **keys: Iterable[str]) -> str | None:
        for prop in KEY_PROPS:
            values = list(keys.get(prop, ()))
            holders = [n for n in self.index.keyed(values).get(prop, ()) if n.kind is kind] if values else []
            for value in values:  # the first value that anyone holds; its first holder, by id
                if held := sorted(n.id for n in holders if n.form == value):
                    return held[0]
        return None

    def named(self, kind: NodeKind, name: str) -> set[str]:
        return {n.id for n in self.index.named(match_key(name)) if n.kind is kind}


_UNDERSTANDING = ("question-understanding",)


def understanding(store: GraphStore) -> Understanding:
    """What the store's questions are read with (names kept in step with writes, or looked up)."""
    return maintained(store, _UNDERSTANDING, *_kept(store))


def _kept(
    store: GraphStore,
) -> tuple[Callable[[], Understanding], Callable[[Understanding, Changes], Understanding | None]]:
    """How what questions are read with is built, and when a write means building it again.

    Names looked up in the store: built once, and again only after a deletion anywhere (as everything
    a process keeps: the pipelines have seen the texts of questions). Names kept: again when a write
    names someone new, renames someone or drops an alias, an e-mail or a phone.
    """
    index = store.names

    def build() -> Understanding:
        if index is not None:
            return _StoredNames(store, index).warmed()
        return _KeptNames(Resolver.from_store(store, reviews=False)).warmed()

    def advance(kept: Understanding, changes: Changes) -> Understanding | None:
        if isinstance(kept, _KeptNames):
            return kept if _nothing_new(store, kept.resolver, changes) else None
        return kept  # a deletion never reaches here: everything is dropped first

    return build, advance


def prepare(store: GraphStore, *, after: threading.Thread | None = None) -> threading.Thread | None:
    """Start loading what questions are read with (the pipelines; the names, where kept) in the background.

    After ``after``; a server's first question then finds it built.
    """
    return warm(store, _UNDERSTANDING, *_kept(store), after=after)


def understanding_loads(store: GraphStore) -> bool:
    """Whether what questions are read with is being loaded in the background (what ``/readyz`` waits for)."""
    return _UNDERSTANDING[0] in warming(store)


def _nothing_new(store: GraphStore, resolver: Resolver, changes: Changes) -> bool:
    """Whether the changes name no one new and rename no one (an ingest of interactions, say).

    Otherwise the names are built again: never changed in place, where a request reading them could
    see half of a change, and never keeping a name someone no longer has.
    """
    if changes.deleted:
        return False
    ids = sorted(e for e in changes.entities if not e.startswith(BULK_PREFIXES))
    if len(ids) > _NAMED_AT_MOST:
        return False
    return all(resolver.knows(entity) for entity in store.get_entities(ids).values())


_NAMED_AT_MOST = 20_000
"""Named entities a write may change for the names to learn them one by one (past that: build again)."""


def subjects_of(store: GraphStore, text: str, kinds: tuple[NodeKind, ...] = SUBJECT_KINDS) -> list[str]:
    """Ids of the known products, topics and customers a question names, in the order named.

    A question that is an id (``topic:calibration``) or an id as imported (``P1``, ``C016``) names
    that one; else names are read in its first :data:`QUESTION_CHARS` characters.

    Raises:
        Ambiguous: the question is an id as imported that several have, or one has and another is
            called exactly.

    """
    text = text.strip()[:QUESTION_CHARS]
    if not text:
        return []
    entity, imported = _by_id(store, text, kinds)
    if entity is not None and entity.kind in kinds:
        return [entity.id]
    names = understanding(store)
    labels = {LABELS[k] for k in kinds if k in LABELS}
    mentions = [m for m in names.mentions(text) if m.entity_id and m.label in labels]
    if imported:  # theirs, unless the question is also exactly another one's name
        named = {str(m.entity_id) for m in mentions if (m.start, m.end) == (0, len(text))} - {*imported}
        if len(imported) > 1 or named:
            raise _ambiguous([*imported, *sorted(named)])
        return imported
    found = [str(m.entity_id) for m in mentions]
    if not found:
        terms = {t: term for t, term in names.terms_like(text, LIKE_CANDIDATES).items() if term.kind in kinds}
        best = process.extractOne(fold(text)[0], list(terms), scorer=fuzz.WRatio, score_cutoff=FUZZY_CUTOFF)
        if best is not None:
            found = [terms[best[0]].entity_id]
    return list(dict.fromkeys(found))


def search(store: GraphStore, text: str, *, limit: int = 20) -> list[dict[str, object]]:
    """Entities by name and documents by the words in them, together, best first.

    Customers, colleagues, products and topics match by name or alias, Chinese or English, fuzzy;
    documents, interactions and feedback match when their title and text have every word of ``text``
    (the store's full-text index), with a snippet around the first match, the matches in it as
    ``[start, end]`` offsets, and what the item is about. Names come first (an exact one 100, close
    spellings 70 to 99), then documents, 30 to 69 by their relevance relative to the best.
    """
    store.limits.check_page(limit)
    hits = _named(store, text, limit) + _documents(store, text, limit)
    return sorted(hits, key=lambda h: (-float(h["score"]), str(h["id"])))[:limit]  # type: ignore[arg-type]


def _named(store: GraphStore, text: str, limit: int) -> list[dict[str, object]]:
    query = fold(text.strip()[:QUESTION_CHARS])[0].strip()
    if not query:
        return []
    terms = understanding(store).terms_like(query, max(LIKE_CANDIDATES, 5 * limit))
    best: dict[str, float] = {}
    for term, score, _ in process.extract(
        query, list(terms), scorer=fuzz.WRatio, score_cutoff=70, limit=None
    ):
        entity_id = terms[term].entity_id
        best[entity_id] = max(best.get(entity_id, 0.0), float(score) + (5.0 if term == query else 0.0))
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    entities = store.get_entities([entity_id for entity_id, _ in ranked])
    return [
        {"id": i, "kind": entities[i].kind.value, "name": entities[i].name, "score": round(min(s, 100.0), 1)}
        for i, s in ranked
        if i in entities
    ]


SNIPPET = 80
"""Characters of context a search hit's snippet shows on each side of its first match."""


def _documents(store: GraphStore, text: str, limit: int) -> list[dict[str, object]]:
    found = store.search_text(text, limit=limit)
    if not found:
        return []
    items = store.get_entities([h.id for h in found])
    about: dict[str, list[str]] = {}
    for hop in store.expand([h.id for h in found], types=[RelType.ABOUT], direction=Direction.OUT):
        about.setdefault(hop.source, []).append(hop.target)
    names = store.get_entities(sorted({t for targets in about.values() for t in targets}))
    best = found[0].score or 1.0
    terms = [fold(t)[0] for t in fulltext.terms(text)]
    hits: list[dict[str, object]] = []
    for hit in found:
        item = items.get(hit.id)
        if item is None:
            continue
        body = "\n".join(
            filter(None, [item.name, *(str(item.props.get(f) or "") for f in fulltext.SEARCHED[item.kind])])
        )
        snippet, marks = _snippet(body, terms)
        hits.append(
            {
                "id": item.id,
                "kind": item.kind.value,
                "name": item.name,
                "score": round(30 + 39 * max(hit.score, 0.0) / best, 1) if best > 0 else 30.0,
                "snippet": snippet,
                "highlights": marks,
                "about": [
                    {"id": t, "name": names[t].name}
                    for t in sorted(set(about.get(item.id, [])))
                    if t in names
                ],
            }
        )
    return hits


def _snippet(text: str, terms: list[str]) -> tuple[str, list[list[int]]]:
    """Text around the first match of any term, and where the terms are in it (``[start, end]``)."""
    folded, offsets = fold(text)
    spans = []
    for term in terms:
        at = folded.find(term)
        while term and at >= 0:
            spans.append((offsets[at], offsets[at + len(term) - 1] + 1))
            at = folded.find(term, at + len(term))
    if not spans:
        return text[: 2 * SNIPPET], []
    first = min(spans)[0]
    start = max(0, first - SNIPPET)
    end = min(len(text), first + SNIPPET)
    marks = sorted([s - start, e - start] for s, e in spans if s >= start and e <= end)
    return text[start:end], marks


REFERABLE = RESOLVED_KINDS
"""Kinds a user names by their imported id or their name: those rows name too."""


def entity_ref(
    store: GraphStore, text: str, kinds: tuple[NodeKind, ...] = REFERABLE, *, exact: bool = False
) -> str:
    """The id of the entity a user means by ``text`` (see :func:`_entity_ref`), noted for the audit.

    ``exact``: no close spelling, only an id, an id as imported, a name, an e-mail or a phone (what
    cannot be undone, an erasure, is never done to whoever is spelled most like it).
    """
    found = _entity_ref(store, text, kinds, spelled=not exact)
    note_subject(found)
    return found


def _entity_ref(store: GraphStore, text: str, kinds: tuple[NodeKind, ...], spelled: bool = True) -> str:
    """The id of the entity a user means by ``text``: an id, an id as imported, or a name.

    ``customer:C016`` is an id; ``C016`` is the id the CRM export gave (``customer:C016`` or
    ``employee:C016``, as there is one); ``张伟`` or ``Zhang Wei`` is a name or an alias, and an
    e-mail address or a phone number works too; else search finds a close spelling, if only one entity
    is close.

    Raises:
        NotFound: nothing of these kinds is called that.
        Ambiguous: several entities are; they are listed by id (errors name no one).

    """
    text = text.strip()
    entity, imported = _by_id(store, text, kinds)
    if entity is not None:
        return entity.id
    if len(imported) == 1:
        return imported[0]
    if imported:
        raise _ambiguous(imported)
    lookup = understanding(store).lookup
    named = sorted({i for kind in kinds for i in lookup.named(kind, text)})
    if not named:  # an e-mail address, a phone number
        named = sorted({i for kind in kinds if (i := lookup.reference(kind, text))})
    if len(named) == 1:
        return named[0]
    if named:
        entities = store.get_entities(named)
        raise _ambiguous([i for i in named if i in entities])
    searched = search(store, text, limit=10) if text and spelled else []
    hits = [h for h in searched if NodeKind(str(h["kind"])) in kinds]
    exact = [h for h in hits if fold(str(h["name"]))[0] == fold(text)[0] or float(str(h["score"])) >= 100]
    close = exact or [h for h in hits if float(str(h["score"])) >= EXACT_ENOUGH]
    if len(close) == 1:
        return str(close[0]["id"])
    if close or hits:
        raise _ambiguous([str(h["id"]) for h in close or hits])
    raise NotFound(f"no {' or '.join(k.value.lower() for k in kinds)} has this id, name, e-mail or phone")


def _by_id(store: GraphStore, text: str, kinds: tuple[NodeKind, ...]) -> tuple[Entity | None, list[str]]:
    """The entity whose id ``text`` is, and the ids of those of ``kinds`` it is the id as imported of.

    One read: ``C016`` is ``customer:C016`` (or ``employee:C016``, or both).
    """
    if not text:
        return None, []
    as_imported = [entity_id(kind.value, text) for kind in kinds]
    stored = store.get_entities([text, *as_imported])
    return stored.get(text), [i for i in as_imported if i in stored]


EXACT_ENOUGH = 90.0
"""Least search score at which a name is taken as meant when nothing else comes close."""


def _ambiguous(candidates: list[str]) -> Ambiguous:
    listed = ", ".join(candidates[:10])
    return Ambiguous(
        f"several entities match: {listed}; give one of these ids",
        candidates=[{"id": i} for i in candidates[:10]],
    )
