"""Merge rules shared by every adapter, so both stores give the same answer by construction.

Adapters read the current state of the facts a batch touches, call these functions and write back the
result in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from ckn.graph.errors import DanglingRelation, SchemaViolation
from ckn.graph.model import Batch, Entity, NodeKind, Provenance, Relation, check_relation_kinds
from ckn.graph.store import ITEM_FIELDS, Counts, DeleteResult, WriteResult

Fact = TypeVar("Fact", Entity, Relation)


class Change(StrEnum):
    """What a merge did to a fact."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def merge_provenance(
    old: Iterable[Provenance], new: Iterable[Provenance]
) -> tuple[tuple[Provenance, ...], bool]:
    """Union of evidence by :attr:`Provenance.key`; returns it and whether anything changed.

    Evidence already held keeps its first ``observed_at``; it is replaced only when the extractor
    version or the confidence changed (a re-extraction with a new model).
    """
    merged = {p.key: p for p in old}
    changed = False
    for item in new:
        current = merged.get(item.key)
        if current is None or (current.extractor_version, current.confidence) != (
            item.extractor_version,
            item.confidence,
        ):
            merged[item.key] = item
            changed = True
    return canonical_provenance(merged.values()), changed


def canonical_provenance(items: Iterable[Provenance]) -> tuple[Provenance, ...]:
    """Evidence in the order every store returns it: oldest first, then by key."""
    return tuple(sorted(items, key=lambda p: (p.observed_at, p.key)))


def _merge_props(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _fresh(fact: Fact) -> Fact:
    provenance = fact.provenance
    if len(provenance) > 1:  # one piece of evidence (most facts) is already in canonical order
        provenance = merge_provenance((), provenance)[0]
    if provenance == fact.provenance and None not in fact.props.values():
        return fact  # already in stored form (the common case: a copy costs more than the check)
    clean = {k: v for k, v in fact.props.items() if v is not None}
    return fact.model_copy(update={"props": clean, "provenance": provenance})


def merge_entity(old: Entity | None, new: Entity) -> tuple[Entity, Change]:
    """Merge an incoming entity onto the stored one."""
    if old is None:
        return _fresh(new), Change.CREATED
    if old.kind != new.kind:
        raise SchemaViolation(
            f"id {new.id!r} belongs to a {old.kind.value}, not a {new.kind.value}", entity_id=new.id
        )
    provenance, new_evidence = merge_provenance(old.provenance, new.provenance)
    merged = Entity(
        id=old.id,
        kind=old.kind,
        name=new.name or old.name,
        props=_merge_props(old.props, new.props),
        provenance=provenance,
    )
    same = merged.content_hash() == old.content_hash() and not new_evidence
    return merged, Change.UNCHANGED if same else Change.UPDATED


def merge_relation(old: Relation | None, new: Relation) -> tuple[Relation, Change]:
    """Merge an incoming relation onto the stored one (same id)."""
    if old is None:
        return _fresh(new), Change.CREATED
    provenance, new_evidence = merge_provenance(old.provenance, new.provenance)
    merged = old.model_copy(
        update={
            "props": _merge_props(old.props, new.props),
            "valid_from": new.valid_from or old.valid_from,
            "valid_to": new.valid_to or old.valid_to,
            "provenance": provenance,
        }
    )
    same = merged.content_hash() == old.content_hash() and not new_evidence
    return merged, Change.UNCHANGED if same else Change.UPDATED


def without_source(fact: Fact, *source_ids: str) -> Fact | None:
    """The fact minus some sources' evidence; None when nothing else supports it."""
    remaining = tuple(p for p in fact.provenance if p.source_id not in source_ids)
    if not remaining:
        return None
    return fact.model_copy(update={"provenance": remaining})


def plan_source_rename(
    source_id: str, to: Entity, entities: Iterable[Entity], relations: Iterable[Relation]
) -> WritePlan:
    """Restate the facts a source supports, their evidence from it now said to come from ``to``.

    ``to`` is the ``Source`` entity under its new id (stored under it by the caller); ``entities``
    and ``relations`` are the stored facts with evidence from ``source_id`` and the relations that
    touch it, which are moved to ``to`` (new ids: the caller deletes the old ones).
    """
    kept = [with_source_renamed(e, source_id, to.id) for e in entities if e.id != source_id]
    unique = {r.id: r for r in relations}.values()
    moved = (r.with_ends(lambda end: to.id if end == source_id else end) for r in unique)
    return WritePlan.restating(
        [with_source_renamed(to, source_id, to.id), *kept],
        [with_source_renamed(r, source_id, to.id) for r in moved],
    )


def with_source_renamed(fact: Fact, source_id: str, new_id: str) -> Fact:
    """The fact with its evidence from ``source_id`` said to come from ``new_id`` (one piece a key)."""
    if all(p.source_id != source_id for p in fact.provenance):
        return fact
    evidence = (
        p.model_copy(update={"source_id": new_id}) if p.source_id == source_id else p for p in fact.provenance
    )
    return fact.model_copy(update={"provenance": merge_provenance((), evidence)[0]})


def dedupe(facts: Iterable[Fact]) -> dict[str, Fact]:
    """Fold repeated facts of one batch (same id) into one: id -> fact, in first-seen order."""
    folded: dict[str, Fact] = {}
    for fact in facts:
        fact_id = fact.id
        previous = folded.get(fact_id)
        if previous is None:
            folded[fact_id] = fact
        elif previous != fact:  # a department or company named by many rows is the same fact each time
            folded[fact_id] = _fold(previous, fact)
    return folded


def _fold(previous: Fact, fact: Fact) -> Fact:
    if isinstance(previous, Entity) and isinstance(fact, Entity):
        return merge_entity(previous, fact)[0]  # type: ignore[return-value]
    assert isinstance(previous, Relation) and isinstance(fact, Relation)
    return merge_relation(previous, fact)[0]


class WritePlan:
    """What one batch changes: the merged facts to persist and the counts to report."""

    def __init__(self) -> None:
        self.entities: list[Entity] = []
        self.relations: list[Relation] = []
        self.delete_entities: list[str] = []
        self.delete_relations: list[str] = []
        self.restated: list[tuple[str, str]] = []
        """``("e", id)`` or ``("r", id)`` of the facts to write that were stored before (their stored
        evidence is replaced; facts created by the batch have none)."""
        self.redated: list[str] = []
        """Stored entities whose dates or channel change (what their evidence weighs)."""
        self.entity_counts: dict[Change, int] = dict.fromkeys(Change, 0)
        self.relation_counts: dict[Change, int] = dict.fromkeys(Change, 0)

    @classmethod
    def restating(cls, entities: list[Entity], relations: list[Relation]) -> WritePlan:
        """A plan that writes stored facts back as given (e.g. minus a deleted source's evidence)."""
        plan = cls()
        plan.entities, plan.relations = entities, relations
        plan.restated = [("e", e.id) for e in entities] + [("r", r.id) for r in relations]
        return plan

    @property
    def changed(self) -> bool:
        """Whether anything is to be written or deleted."""
        return bool(self.entities or self.relations or self.delete_entities or self.delete_relations)

    def result(self) -> WriteResult:
        """The counts as the store reports them."""

        def counts(by_change: dict[Change, int]) -> Counts:
            return Counts(
                created=by_change[Change.CREATED],
                updated=by_change[Change.UPDATED],
                unchanged=by_change[Change.UNCHANGED],
            )

        return WriteResult(entities=counts(self.entity_counts), relations=counts(self.relation_counts))


def plan_write(
    batch: Batch,
    load_entities: Callable[[list[str]], dict[str, Entity]],
    load_kinds: Callable[[list[str]], dict[str, NodeKind]],
    load_relations: Callable[[list[str]], dict[str, Relation]],
) -> WritePlan:
    """Merge a batch onto the stored state the loaders return (called inside the write transaction).

    Raises:
        DanglingRelation: a relation's endpoint is neither stored nor in the batch.
        SchemaViolation: a relation joins kinds its type does not allow, or an id changes kind.

    """
    plan = WritePlan()
    doomed = set(batch.delete_entities)
    entities = dedupe(batch.entities)
    stored = load_entities(list(entities))
    write = replace_entity if batch.replace else merge_entity
    kinds: dict[str, NodeKind] = {}
    for entity_id, entity in entities.items():
        merged, change = write(stored.get(entity_id), entity)
        kinds[entity_id] = merged.kind
        plan.entity_counts[change] += 1
        if change is not Change.UNCHANGED:
            plan.entities.append(merged)
        if change is Change.UPDATED:
            plan.restated.append(("e", entity_id))
        old = stored.get(entity_id)
        if old is not None and any(old.props.get(f) != merged.props.get(f) for f in ITEM_FIELDS):
            plan.redated.append(entity_id)

    relations = dedupe(batch.relations)
    endpoints = sorted({r.source for r in relations.values()} | {r.target for r in relations.values()})
    kinds.update(load_kinds([e for e in endpoints if e not in kinds]))
    missing = [e for e in endpoints if e not in kinds or e in doomed]
    if missing:
        raise DanglingRelation(
            f"{len(missing)} relation endpoint(s) not found: {', '.join(missing[:10])}",
            missing=missing[:100],
        )
    problems = [
        p for r in relations.values() if (p := check_relation_kinds(r, kinds[r.source], kinds[r.target]))
    ]
    if problems:
        raise SchemaViolation("; ".join(problems[:10]), violations=len(problems))
    # a relation touching an entity this batch creates cannot be stored yet: only the others are read
    created = {e for e in entities if e not in stored}
    stored_relations = load_relations(
        [rid for rid, r in relations.items() if r.source not in created and r.target not in created]
    )
    write_relation = replace_relation if batch.replace else merge_relation
    for relation_id, relation in relations.items():
        merged_relation, change = write_relation(stored_relations.get(relation_id), relation)
        plan.relation_counts[change] += 1
        if change is not Change.UNCHANGED:
            plan.relations.append(merged_relation)
        if change is Change.UPDATED:
            plan.restated.append(("r", relation_id))
    plan.delete_entities = sorted(doomed)
    plan.delete_relations = sorted(set(batch.delete_relations) - relations.keys())
    return plan


def replace_entity(old: Entity | None, new: Entity) -> tuple[Entity, Change]:
    """The incoming entity as it is (no merge); its kind still cannot change."""
    if old is not None and old.kind != new.kind:
        raise SchemaViolation(
            f"id {new.id!r} belongs to a {old.kind.value}, not a {new.kind.value}", entity_id=new.id
        )
    fresh = _fresh(new)
    if old is None:
        return fresh, Change.CREATED
    same = fresh.content_hash() == old.content_hash() and fresh.provenance == old.provenance
    return fresh, Change.UNCHANGED if same else Change.UPDATED


def replace_relation(old: Relation | None, new: Relation) -> tuple[Relation, Change]:
    """The incoming relation as it is (no merge)."""
    fresh = _fresh(new)
    if old is None:
        return fresh, Change.CREATED
    same = fresh.content_hash() == old.content_hash() and fresh.provenance == old.provenance
    return fresh, Change.UNCHANGED if same else Change.UPDATED


class DeletionPlan:
    """What deleting one source changes."""

    def __init__(self) -> None:
        self.delete_entities: list[str] = []
        self.delete_relations: list[str] = []
        self.trimmed_entities: list[Entity] = []
        self.trimmed_relations: list[Relation] = []
        self.doomed: list[Entity] = []
        """The entities to delete, as they were (see :func:`keep_referenced`)."""
        self.supported = 0

    def result(self, relations_deleted: int | None = None) -> DeleteResult:
        """What the plan deletes.

        ``relations_deleted``: as the store counted them, with those touching deleted entities
        (else the plan's own count).
        """
        return DeleteResult(
            entities_deleted=len(self.delete_entities),
            relations_deleted=len(self.delete_relations) if relations_deleted is None else relations_deleted,
            facts_trimmed=len(self.trimmed_entities) + len(self.trimmed_relations),
            facts_supported=self.supported,
        )


def keep_referenced(plan: DeletionPlan, touching: Iterable[Relation], source_ids: Sequence[str]) -> None:
    """Keep the entities that other sources' relations still point to, and those relations.

    ``touching``: the relations (with their evidence) that touch the entities the plan deletes. An
    entity only the deleted sources described is kept when another source's relation names it (an
    interaction about a product a replaced catalogue no longer lists): that relation's evidence
    becomes the entity's, and the relation stays. Data other sources gave is not deleted with them.
    """
    doomed = set(plan.delete_entities) - set(source_ids)
    others: dict[str, tuple[Relation, tuple[Provenance, ...]]] = {}
    evidence: dict[str, dict[str, Provenance]] = {}
    for relation in touching:
        kept = tuple(p for p in relation.provenance if p.source_id not in source_ids)
        if not kept:
            continue
        others[relation.id] = (relation, kept)
        for end in (relation.source, relation.target):
            if end in doomed:
                evidence.setdefault(end, {}).update((p.key, p) for p in kept)
    if not evidence:
        return
    plan.delete_entities = [e for e in plan.delete_entities if e not in evidence]
    plan.trimmed_entities += [
        e.model_copy(update={"provenance": tuple(evidence[e.id].values())})
        for e in plan.doomed
        if e.id in evidence
    ]
    gone = set(plan.delete_entities)
    for relation_id in list(plan.delete_relations):
        if relation_id in others:
            relation, kept = others[relation_id]
            if relation.source not in gone and relation.target not in gone:
                plan.delete_relations.remove(relation_id)
                plan.trimmed_relations.append(relation.model_copy(update={"provenance": kept}))


def plan_source_deletion(
    source_ids: Sequence[str],
    entities: Iterable[Entity],
    relations: Iterable[Relation],
    keep: Collection[str] = frozenset(),
) -> DeletionPlan:
    """Split the facts some sources support into those to delete and those that keep other evidence.

    The ``Source`` entities whose ids are ``source_ids`` are deleted with their evidence. Relations
    touching a deleted entity are deleted by the store with it. Facts in ``keep`` are counted as
    supported elsewhere (a dry run's new version of the sources).
    """
    plan = DeletionPlan()
    for entity in entities:
        plan.supported += entity.id not in source_ids
        kept = without_source(entity, *source_ids)
        if entity.id in source_ids or (kept is None and entity.id not in keep):
            plan.delete_entities.append(entity.id)
            plan.doomed.append(entity)
        else:
            plan.trimmed_entities.append(kept or entity)
    gone = set(plan.delete_entities)
    for relation in relations:
        plan.supported += 1
        kept_relation = without_source(relation, *source_ids)
        if (
            (kept_relation is None and relation.id not in keep)
            or relation.source in gone
            or relation.target in gone
        ):
            plan.delete_relations.append(relation.id)
        else:
            plan.trimmed_relations.append(kept_relation or relation)
    return plan
