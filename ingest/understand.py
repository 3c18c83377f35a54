"""Understanding a question: which products, topics and customers a few words name.

Queries take ids; people type ``X200 校准`` or ``who knows calibration on the X-200?``. This runs the
question through the same extraction as ingest (names and aliases in Chinese and English, full-width
and traditional forms), and falls back to the most similar known name when nothing matches exactly.
"""

from __future__ import annotations

from rapidfuzz import fuzz, process

from graph.cache import cached
from graph.model import NodeKind
from graph.store import GraphStore
from ingest.nlp import LABELS, Gazetteer, TextAnalyzer, fold
from ingest.resolve import Resolver

SUBJECT_KINDS = (NodeKind.PRODUCT, NodeKind.TOPIC, NodeKind.CUSTOMER)
FUZZY_CUTOFF = 80


def _analysis_tools(store: GraphStore) -> tuple[Gazetteer, TextAnalyzer]:
    """The gazetteer and analyzer for the store's current data (rebuilt when the graph changes)."""

    def build() -> tuple[Gazetteer, TextAnalyzer]:
        gazetteer = Gazetteer.from_resolver(Resolver.from_store(store))
        return gazetteer, TextAnalyzer(gazetteer)

    return cached(store, ("question-understanding",), build)


def subjects_of(store: GraphStore, text: str, kinds: tuple[NodeKind, ...] = SUBJECT_KINDS) -> list[str]:
    """Ids of the known products, topics and customers a question names, in the order named."""
    text = text.strip()
    if not text:
        return []
    if (entity := store.get_entity(text)) is not None and entity.kind in kinds:
        return [entity.id]
    gazetteer, analyzer = _analysis_tools(store)
    labels = {LABELS[k] for k in kinds if k in LABELS}
    (analysis,) = analyzer.analyze([text])
    found = [m.entity_id for m in analysis.mentions if m.entity_id and m.label in labels]
    if not found:
        terms = {t: term for t, term in gazetteer.terms.items() if term.kind in kinds}
        best = process.extractOne(fold(text)[0], list(terms), scorer=fuzz.WRatio, score_cutoff=FUZZY_CUTOFF)
        if best is not None:
            found = [terms[best[0]].entity_id]
    return list(dict.fromkeys(found))


def search(store: GraphStore, text: str, *, limit: int = 20) -> list[dict[str, object]]:
    """Known customers, colleagues, products and topics by name or alias, Chinese or English, fuzzy."""
    store.limits.check_page(limit)
    gazetteer, _ = _analysis_tools(store)
    query = fold(text.strip())[0].strip()
    if not query:
        return []
    best: dict[str, float] = {}
    for term, score, _ in process.extract(
        query, list(gazetteer.terms), scorer=fuzz.WRatio, score_cutoff=70, limit=None
    ):
        entity_id = gazetteer.terms[term].entity_id
        best[entity_id] = max(best.get(entity_id, 0.0), float(score) + (5.0 if term == query else 0.0))
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    entities = store.get_entities([entity_id for entity_id, _ in ranked])
    return [
        {"id": i, "kind": entities[i].kind.value, "name": entities[i].name, "score": round(min(s, 100.0), 1)}
        for i, s in ranked
        if i in entities
    ]
