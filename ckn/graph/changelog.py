"""The change log both stores keep: what each graph version wrote, for structures kept in step.

A write that changes the graph adds one entry in its own transaction (the embedded store's
``changes`` table, Neo4j's ``CknChange`` nodes): the ids of the entities it wrote, the relations it
created (id, type and ends) and the ids of those it restated. A serving process reads the entries after
the version it last saw (:meth:`graph.store.GraphStore.changes_since`) and applies them to what it
keeps (the resolver questions are read with, the evidence index, the referral graph) instead of
building it again. A deletion logs no ids and empties the log: an erased person's ids are kept nowhere,
and whoever is behind builds again anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

from ckn.graph.merge import WritePlan
from ckn.graph.model import RelType
from ckn.graph.store import Changes, Hop

KEEP_CHANGES = 200
"""Graph versions the change log keeps: a process further behind builds its structures again."""
CHANGES_LISTED_AT_MOST = 20_000
"""Facts one write lists in the change log; a larger write (a bulk batch) is logged as such, and
whoever reads past it builds again (cheaper than applying it, and the log stays small)."""
CHANGES_APPLIED_AT_MOST = 200_000
"""Relationships a catch-up applies; past that, building again is cheaper (a bulk load ran)."""

_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


class Entry(NamedTuple):
    """One graph version's entry, as stored (JSON text, so that both stores keep the same thing)."""

    version: int
    entities: str
    """The ids of the entities written, a JSON list."""
    relations: str
    """Created ``[id, type, source, target]`` and restated ``[id]``, a JSON list; ``null`` for a bulk
    batch (whoever reads past it builds again)."""
    deleted: bool

    @property
    def oldest_kept(self) -> int:
        """The oldest version the log keeps once this entry is in it."""
        return self.version if self.deleted else self.version - KEEP_CHANGES + 1


def entry(version: int, plan: WritePlan | None) -> Entry:
    """The entry for graph version ``version``, written by ``plan`` (None: a deletion)."""
    deleted = plan is None or bool(plan.delete_entities or plan.delete_relations)
    if plan is None or deleted:
        return Entry(version, "[]", "[]", True)
    stored = {fact_id for fact, fact_id in plan.restated if fact == "r"}
    entities = [e.id for e in plan.entities]
    relations = [
        [r.id] if r.id in stored else [r.id, r.type.value, r.source, r.target] for r in plan.relations
    ]
    if len(entities) + len(relations) > CHANGES_LISTED_AT_MOST:
        return Entry(version, "[]", "null", False)
    return Entry(version, _json(entities), _json(relations), False)


def changes(since: int, now: int, entries: Iterable[tuple[int, str, str, bool]]) -> Changes | None:
    """What the ``entries`` after version ``since`` add up to, the graph being at version ``now``.

    None when the log does not account for every version up to ``now`` (it was cut, a bulk batch ran,
    or the graph started again), or when applying it would cost more than building again. A deletion
    in it is always told (``deleted``, with nothing else), however much else is missing.
    """
    if now < since:  # the graph started again (a wiped database)
        return None
    entities: set[str] = set()
    relations: list[Hop] = []
    restated: set[str] = set()
    deleted, complete, last = False, True, since
    for number, changed, added, gone in entries:
        if number <= last:
            continue
        deleted = deleted or bool(gone)
        if number != last + 1 or added == "null" or len(relations) > CHANGES_APPLIED_AT_MOST:
            complete = False  # read on only for a deletion, which must still be told
        last = number
        if not complete:
            continue
        entities.update(json.loads(changed))
        for written in json.loads(added):
            if len(written) == 1:
                restated.add(written[0])
            else:
                rid, rtype, source, target = written
                relations.append(
                    Hop.model_construct(relation_id=rid, type=RelType(rtype), source=source, target=target)
                )
    if deleted:  # whatever else is missing: whoever follows forgets everything it keeps
        return Changes.model_construct(version=max(last, now), deleted=True)
    if not complete or last < now or len(relations) > CHANGES_APPLIED_AT_MOST:
        return None
    return Changes.model_construct(
        version=last,
        entities=frozenset(entities),
        relations=tuple(relations),
        restated=frozenset(restated),
        deleted=deleted,
    )
