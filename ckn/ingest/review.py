"""The review list: people who may be one person, and the merges a reviewer decides.

Ingest never merges on a similar name alone. When a new customer or employee has a name like a known
one (or the same name with different e-mails and phones), it is created on its own and a ``SAME_AS``
candidate relation records the similarity. A reviewer then rejects the candidate (it is not offered
again) or accepts it: the new entity is merged into the known one in one transaction (properties,
identity keys, evidence and relationships move over) and the merge is recorded on the surviving entity
with everything needed to undo it.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ckn.graph.errors import InvalidInput, LimitExceeded, NotFound
from ckn.graph.ids import entity_id, relation_id
from ckn.graph.merge import merge_provenance, merge_relation
from ckn.graph.model import (
    MAX_TEXT_PROPERTY,
    Batch,
    Entity,
    NodeKind,
    Provenance,
    Relation,
    RelType,
    utcnow,
)
from ckn.graph.names import KEY_PROPS
from ckn.graph.store import Direction, GraphStore
from ckn.ingest.resolve import REVIEWED_KINDS, Resolver

EXTRACTOR = "ckn.review"


def review_candidates(
    resolver: Resolver, entity: Entity, evidence: tuple[Provenance, ...], threshold: int
) -> list[Relation]:
    """``SAME_AS`` candidates from a new entity to known people with a similar name."""
    if entity.kind not in REVIEWED_KINDS or not entity.name:
        return []
    found = []
    scored: dict[float, tuple[Provenance, ...]] = {}  # the row's evidence at each confidence, made once
    for other, score in resolver.similar(entity.kind, entity.name, threshold):
        if other == entity.id:
            continue
        reason = "same name, other e-mail or phone" if score >= 100 else "similar name"
        confidence = round(score / 100, 2)
        if confidence not in scored:
            scored[confidence] = tuple(p.model_copy(update={"confidence": confidence}) for p in evidence)
        found.append(
            Relation(
                type=RelType.SAME_AS,
                source=entity.id,
                target=other,
                props={"score": score, "reason": reason},
                provenance=scored[confidence],
            )
        )
    return found


@dataclass(frozen=True)
class Candidate:
    """Two entities that may be one."""

    entity_id: str
    entity_name: str
    candidate_id: str
    candidate_name: str
    score: float
    reason: str
    decision: str | None


def list_candidates(store: GraphStore, *, include_decided: bool = False) -> list[Candidate]:
    """The open candidates (and decided ones if asked), best score first."""
    graph = store.project(kinds=REVIEWED_KINDS, types=[RelType.SAME_AS])
    found = []
    for source, target, data in graph.edges(data=True):
        decision = data.get("decision")
        if decision and not include_decided:
            continue
        found.append(
            Candidate(
                source,
                graph.nodes[source]["name"],
                target,
                graph.nodes[target]["name"],
                float(data.get("score", 0)),
                str(data.get("reason", "")),
                decision,
            )
        )
    return sorted(found, key=lambda c: (-c.score, c.entity_id, c.candidate_id))


def _decision_evidence(reviewer: str) -> Provenance:
    return Provenance(source_id=f"review:{reviewer}", locator="decision", extractor=EXTRACTOR)


def _candidate(store: GraphStore, entity_id: str, candidate_id: str) -> Relation:
    rid = relation_id(RelType.SAME_AS.value, entity_id, candidate_id)
    found = store.get_relations_by_id([rid]).get(rid)
    if found is None:
        raise NotFound(f"{entity_id} and {candidate_id} are not a review candidate")
    return found


def reject(store: GraphStore, entity_id: str, candidate_id: str, *, reviewer: str = "cli") -> None:
    """Mark a candidate as not the same person; it stays rejected when the data is ingested again."""
    candidate = _candidate(store, entity_id, candidate_id)
    decided = candidate.model_copy(
        update={
            "props": {"decision": "rejected", "decided_at": utcnow().isoformat()},
            "provenance": (_decision_evidence(reviewer),),
        }
    )
    store.write(Batch(relations=(decided,)))


def _union(keep: dict[str, Any], gone: dict[str, Any]) -> dict[str, Any]:
    merged = {**gone, **keep}
    for prop in (*KEY_PROPS, "aliases"):
        values = set(keep.get(prop) or []) | set(gone.get(prop) or [])
        if values:
            merged[prop] = sorted(values)
    return merged


def _all_relations(store: GraphStore, entity_id: str) -> list[Relation]:
    hops = store.expand([entity_id], types=None, direction=Direction.BOTH)
    found = store.get_relations_by_id([h.relation_id for h in hops])
    return [found[h.relation_id] for h in hops if h.relation_id in found]


@dataclass(frozen=True)
class MergeResult:
    """What a merge (or its undoing) moved."""

    kept: str
    merged: str
    relations_moved: int


def accept(store: GraphStore, entity_id: str, candidate_id: str, *, reviewer: str = "cli") -> MergeResult:
    """Merge ``entity_id`` into ``candidate_id`` (the known one survives); reversible with :func:`undo`."""
    _candidate(store, entity_id, candidate_id)
    entities = store.get_entities([entity_id, candidate_id])
    if entity_id not in entities or candidate_id not in entities:
        raise NotFound("both entities must exist to be merged")
    gone, keep = entities[entity_id], entities[candidate_id]
    if gone.kind is not keep.kind:
        raise InvalidInput(f"cannot merge a {gone.kind.value} into a {keep.kind.value}")
    return _merge(store, gone, keep, reviewer)


def _merge(store: GraphStore, gone: Entity, keep: Entity, reviewer: str) -> MergeResult:
    """Merge ``gone`` into ``keep`` in one write, recording how to undo it on ``keep``."""
    gone_relations = _all_relations(store, gone.id)
    moved: dict[str, Relation] = {}
    for rel in gone_relations:
        source = keep.id if rel.source == gone.id else rel.source
        target = keep.id if rel.target == gone.id else rel.target
        if source == target:
            continue  # the candidate link itself, or a link between the two
        moved_rel = Relation(
            type=rel.type,
            source=source,
            target=target,
            key=rel.key,
            props=rel.props,
            valid_from=rel.valid_from,
            valid_to=rel.valid_to,
            provenance=rel.provenance,
        )
        moved[moved_rel.id] = merge_relation(moved.get(moved_rel.id), moved_rel)[0]
    before = store.get_relations_by_id(sorted(moved))
    written = [merge_relation(before.get(rid), rel)[0] for rid, rel in moved.items()]
    record = json.dumps(
        {
            "gone": gone.model_dump(mode="json"),
            "gone_relations": [r.model_dump(mode="json") for r in gone_relations],
            "keep_before": _without_records(keep.model_dump(mode="json")),  # its own records: on it
            "relations_before": {
                rid: before[rid].model_dump(mode="json") if rid in before else None for rid in sorted(moved)
            },
            "by": reviewer,
            "at": utcnow().isoformat(),
        },
        ensure_ascii=False,
    )
    record = _packed(record)
    if len(record) > MAX_TEXT_PROPERTY:
        raise LimitExceeded(
            f"{gone.id} has too many relationships to merge reversibly ({len(gone_relations)})"
        )
    props = _union(keep.props, {k: v for k, v in gone.props.items() if k not in _CANDIDATE_PROPS})
    props[MERGES] = [*(keep.props.get(MERGES) or []), record]  # type: ignore[misc]
    merged = Entity(
        id=keep.id,
        kind=keep.kind,
        name=keep.name or gone.name,
        props=props,
        provenance=merge_provenance(keep.provenance, gone.provenance)[0],
    )
    store.write(Batch(entities=(merged,), relations=tuple(written), delete_entities=(gone.id,), replace=True))
    return MergeResult(kept=keep.id, merged=gone.id, relations_moved=len(written))


PACKED = "zlib+base64:"
"""How a merge record too long to keep as written starts: its JSON compressed (a record holds the
merged one's relationships with their evidence, which repeat their keys and sources)."""


def _packed(record: str) -> str:
    """A merge record as kept: as written, or compressed when longer than a property may be."""
    if len(record) <= MAX_TEXT_PROPERTY:
        return record
    return PACKED + base64.b64encode(zlib.compress(record.encode("utf-8"), 9)).decode("ascii")


def _unpacked(kept: str) -> str:
    if not kept.startswith(PACKED):
        return kept
    return zlib.decompress(base64.b64decode(kept.removeprefix(PACKED))).decode("utf-8")


MERGES = "merges"
"""The property of a survivor that keeps the undo records of the merges into it, oldest first."""


def merge_records(entity: Entity) -> list[dict[str, Any]]:
    """The undo records kept on a survivor, read: what each merged one was, its relationships, and more."""
    merges = entity.props.get(MERGES)
    return [json.loads(_unpacked(str(r))) for r in merges] if isinstance(merges, list) else []


def _without_records(entity: dict[str, Any]) -> dict[str, Any]:
    """An entity as a record holds it (JSON), without the undo records it keeps."""
    return {**entity, "props": {k: v for k, v in entity["props"].items() if k != MERGES}}


def record_strings(kept: str) -> Iterator[str]:
    """Every text in an undo record as kept (ids too), and in the records it holds in turn.

    A merged one that was a survivor itself holds its own records, each read here, not its packed
    form (so does ``keep_before`` in records kept by earlier versions of ckn: the survivor's earlier).
    """
    record = json.loads(_unpacked(kept))
    for side in ("gone", "keep_before"):
        for held in record[side]["props"].get(MERGES) or []:
            yield from record_strings(str(held))
    yield from _strings(
        {
            **record,
            "gone": _without_records(record["gone"]),
            "keep_before": _without_records(record["keep_before"]),
        }
    )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def undo(store: GraphStore, kept_id: str, merged_id: str) -> MergeResult:
    """Undo the merge of ``merged_id`` into ``kept_id``: both entities and their relationships come back.

    What was learned about the kept entity since the merge stays; what the merged one brought goes back
    with it.
    """
    keep = store.get_entity(kept_id)
    if keep is None:
        raise NotFound(f"no entity with id {kept_id!r}")
    records = merge_records(keep)
    record = next((r for r in reversed(records) if r["gone"]["id"] == merged_id), None)
    if record is None:
        raise NotFound(f"{merged_id} was not merged into {kept_id}")
    gone = Entity.model_validate(record["gone"])
    before = Entity.model_validate(record["keep_before"])
    props: dict[str, Any] = dict(keep.props)
    for key, value in gone.props.items():
        if key not in before.props:
            props.pop(key, None)
        elif isinstance(value, list) and isinstance(props.get(key), list):
            brought = set(value) - set(before.props[key])  # type: ignore[arg-type]
            props[key] = sorted(set(props[key]) - brought)
    remaining = [_packed(json.dumps(r, ensure_ascii=False)) for r in records if r is not record]
    props[MERGES] = remaining or None
    brought_evidence = {p.key for p in gone.provenance} - {p.key for p in before.provenance}
    restored = Entity(
        id=keep.id,
        kind=keep.kind,
        name=before.name or keep.name,
        props={k: v for k, v in props.items() if v is not None},
        provenance=tuple(p for p in keep.provenance if p.key not in brought_evidence) or before.provenance,
    )
    gone_relations = [Relation.model_validate(r) for r in record["gone_relations"]]
    current = store.get_relations_by_id(sorted(record["relations_before"]))
    restored_relations: list[Relation] = []
    created_by_merge: list[str] = []
    for rid, was in record["relations_before"].items():
        if was is None:
            created_by_merge.append(rid)
        elif rid in current:
            brought = {p.key for r in gone_relations for p in r.provenance}
            old = Relation.model_validate(was)
            kept_evidence = tuple(
                p for p in current[rid].provenance if p.key not in brought or p in old.provenance
            )
            restored_relations.append(
                current[rid].model_copy(
                    update={"props": old.props, "provenance": kept_evidence or old.provenance}
                )
            )
    store.write(
        Batch(
            entities=(restored, gone),
            relations=(*gone_relations, *restored_relations),
            delete_relations=tuple(created_by_merge),
            replace=True,
        )
    )
    return MergeResult(kept=keep.id, merged=gone.id, relations_moved=len(gone_relations))


# -- people and organisations named in text (``Candidate`` entities, see ingest.discovery) ------------

_CANDIDATE_PROPS = frozenset({"label", "confidence", "decision", "decided_at"})
"""A candidate's own properties, which the person or organisation it becomes does not take."""
CONFIRMED_AS = {"PERSON": NodeKind.EMPLOYEE, "ORG": NodeKind.CUSTOMER}
"""What a confirmed candidate becomes unless the reviewer says otherwise."""


@dataclass(frozen=True)
class NamedCandidate:
    """A person or organisation named in text that master data does not know."""

    id: str
    name: str
    label: str
    """``PERSON`` or ``ORG``."""
    confidence: float
    mentions: int
    """Texts naming it (each mention once)."""
    decision: str | None


def list_named(store: GraphStore, *, include_decided: bool = False, limit: int = 100) -> list[NamedCandidate]:
    """People and organisations named in text and not yet confirmed, most mentioned first."""
    store.limits.check_page(limit)
    found = []
    after = ""
    while page := store.list_entities(NodeKind.CANDIDATE, after=after, limit=store.limits.max_page):
        after = page[-1].id
        for entity in page:
            decision = entity.props.get("decision")
            if decision and not include_decided:
                continue
            mentions = store.degree([entity.id], types=[RelType.MENTIONS], direction=Direction.IN)
            confidence = entity.props.get("confidence")
            found.append(
                NamedCandidate(
                    entity.id,
                    entity.name,
                    str(entity.props.get("label") or ""),
                    float(confidence) if isinstance(confidence, int | float) else 0.0,
                    mentions,
                    str(decision) if decision else None,
                )
            )
    return sorted(found, key=lambda c: (-c.mentions, -c.confidence, c.name, c.id))[:limit]


def _named(store: GraphStore, candidate_id: str) -> Entity:
    found = store.get_entity(candidate_id)
    if found is None or found.kind is not NodeKind.CANDIDATE:
        raise NotFound(f"{candidate_id} is not a person or organisation named in text")
    return found


def confirm(
    store: GraphStore, candidate_id: str, *, as_kind: NodeKind | None = None, reviewer: str = "cli"
) -> MergeResult:
    """Make a named candidate a colleague (a person, by default) or a customer (an organisation, by default).

    Its mentions move to the new entity, whose alias its name becomes (so later texts link to it); if
    an entity of that kind already has the name, the candidate is merged into it. Reversible with
    :func:`undo`.
    """
    candidate = _named(store, candidate_id)
    kind = as_kind or CONFIRMED_AS.get(str(candidate.props.get("label")), NodeKind.EMPLOYEE)
    if kind not in REVIEWED_KINDS:
        raise InvalidInput(f"a named candidate becomes a colleague or a customer, not a {kind.value}")
    new_id = entity_id(kind.value, natural_key=candidate.name)
    keep = store.get_entity(new_id) or Entity(
        id=new_id,
        kind=kind,
        name=candidate.name,
        props={"confirmed_from": candidate.id},
        provenance=(_decision_evidence(reviewer),),
    )
    if keep.kind is not kind:
        raise InvalidInput(f"{new_id} is of kind {keep.kind.value}")
    return _merge(store, candidate, keep, reviewer)


def merge_named(store: GraphStore, candidate_id: str, into: str, *, reviewer: str = "cli") -> MergeResult:
    """Merge a named candidate into a known colleague or customer (its name becomes their alias)."""
    candidate = _named(store, candidate_id)
    keep = store.get_entity(into)
    if keep is None:
        raise NotFound(f"no entity with id {into!r}")
    if keep.kind not in REVIEWED_KINDS:
        raise InvalidInput(
            f"a named candidate merges into a colleague or a customer, not a {keep.kind.value}"
        )
    return _merge(store, candidate, keep, reviewer)


def dismiss(store: GraphStore, candidate_id: str, *, reviewer: str = "cli") -> None:
    """Mark a named candidate as no one to know; it stays dismissed when its texts are ingested again."""
    candidate = _named(store, candidate_id)
    decided = candidate.model_copy(
        update={
            "props": {**candidate.props, "decision": "dismissed", "decided_at": utcnow().isoformat()},
            "provenance": (_decision_evidence(reviewer),),
        }
    )
    store.write(Batch(entities=(decided,)))
