"""Who holds knowledge of a product or topic, and on what evidence.

The evidence is what people did with the items *about* the subject: wrote them (documented
knowledge) or took part in and resolved them (behavioural evidence, the trace of tacit knowledge).
This is the shared base of expert finding and the knowledge map; ranking with weights and decay
comes on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.errors import NotFound
from graph.model import NodeKind, RelType
from graph.store import Direction, GraphStore

DOCUMENTED = frozenset({RelType.AUTHORED})
BEHAVIOURAL = frozenset({RelType.RESOLVED, RelType.PARTICIPATED_IN})


@dataclass(frozen=True)
class Evidence:
    """One thing a person did with an item about the subject."""

    relation: RelType
    item_id: str
    item_name: str
    item_kind: NodeKind
    when: str | None


@dataclass
class Holder:
    """A colleague and the evidence that they know the subject."""

    employee_id: str
    name: str
    documented: list[Evidence] = field(default_factory=list)
    behavioural: list[Evidence] = field(default_factory=list)

    @property
    def items(self) -> int:
        """Distinct items of evidence."""
        return len({e.item_id for e in self.documented + self.behavioural})

    @property
    def tacit(self) -> bool:
        """Behavioural evidence without a single document written."""
        return bool(self.behavioural) and not self.documented


def holders_of(store: GraphStore, subject_id: str, *, limit: int = 20) -> list[Holder]:
    """Employees with evidence about a product or topic, most items first (ties by id).

    Raises:
        NotFound: no such subject.

    """
    store.limits.check_page(limit)
    if store.get_entity(subject_id) is None:
        raise NotFound(f"no entity with id {subject_id!r}", entity_id=subject_id)
    about = store.expand([subject_id], types=[RelType.ABOUT], direction=Direction.IN)
    item_ids = sorted({hop.source for hop in about})
    acts = store.expand(item_ids, types=DOCUMENTED | BEHAVIOURAL, direction=Direction.IN)
    entities = store.get_entities(sorted({h.source for h in acts} | set(item_ids)))
    holders: dict[str, Holder] = {}
    for hop in acts:
        person, item = entities.get(hop.source), entities.get(hop.target)
        if person is None or item is None or person.kind is not NodeKind.EMPLOYEE:
            continue
        holder = holders.setdefault(person.id, Holder(person.id, person.name))
        when = item.props.get("occurred_at") or item.props.get("submitted_at") or item.props.get("created_at")
        evidence = Evidence(hop.type, item.id, item.name, item.kind, str(when) if when else None)
        (holder.documented if hop.type in DOCUMENTED else holder.behavioural).append(evidence)
    ranked = sorted(holders.values(), key=lambda h: (-h.items, h.employee_id))
    return ranked[:limit]
