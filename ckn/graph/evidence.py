"""Reading the evidence about a few subjects, or in a few items, one relationship step at a time.

:meth:`graph.store.GraphStore.evidence` written once over two lookups a store answers natively: the
relations of one node (the embedded store's compact adjacency) and some fields of some entities (an
indexed SQLite read). Neo4j answers the same question with one Cypher query instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ckn.graph.model import RelType
from ckn.graph.store import (
    ABOUT_TYPES,
    ACT_TYPES,
    CUSTOMER_ITEM_TYPES,
    ITEM_FIELDS,
    PERSON_FIELDS,
    EvidenceFacts,
)

Linked = Callable[[Sequence[str], tuple[RelType, ...], bool], list[tuple[str, str, RelType]]]
"""``(nodes, types, outgoing) -> [(node, other end, type)]``, one per relation."""
Found = tuple[str, str, dict[str, Any]]
"""An entity's kind, name and some of its fields."""
Fields = Callable[[Sequence[str], Sequence[str]], dict[str, Found]]
"""``(ids, fields) -> {id: (kind, name, {field: value})}`` of the entities that exist."""
Work = Callable[[Sequence[str]], dict[str, int]]
"""``(people) -> {person: relationships of their own work}``."""

_INTO_ITEM = tuple(t for t in ACT_TYPES if t is not RelType.ESCALATED_TO)
_OWNS = (RelType.OWNS_ACCOUNT,)


def gather(
    linked: Linked, fields_of: Fields, work_of: Work, subject_ids: Sequence[str], item_ids: Sequence[str]
) -> EvidenceFacts:
    """See :meth:`graph.store.GraphStore.evidence`."""
    subjects, asked = list(dict.fromkeys(subject_ids)), list(dict.fromkeys(item_ids))
    about = {(item, s) for s, item, _ in linked(subjects, ABOUT_TYPES, False)}
    about |= {(i, subject) for i, subject, _ in linked(asked, ABOUT_TYPES, True)}
    owned = {node for node, _, _ in linked([*subjects, *asked], _OWNS, False)}
    about |= {(node, node) for node in owned}  # an account is about the customer
    customer_pairs = {(item, s) for s, item, _ in linked(subjects, CUSTOMER_ITEM_TYPES, True)}
    customer_pairs |= {(i, s) for i, s, _ in linked(asked, CUSTOMER_ITEM_TYPES, False)}
    items = sorted({i for i, _ in about} | {i for i, _ in customer_pairs} | set(asked))
    acts = [(person, rtype.value, item) for item, person, rtype in linked(items, _INTO_ITEM, False)]
    acts += [
        (person, rtype.value, item) for item, person, rtype in linked(items, (RelType.ESCALATED_TO,), True)
    ]
    wanted = sorted({p for p, _, _ in acts} | {s for _, s in about | customer_pairs} | set(items))
    found = fields_of(wanted, (*ITEM_FIELDS, *PERSON_FIELDS))
    kind = {entity: found[entity][0] for entity in found}
    about |= {pair for pair in customer_pairs if kind.get(pair[1]) == "Customer"}
    acts = [act for act in acts if kind.get(act[0]) == "Employee" and act[2] in kind]
    people = sorted({p for p, _, _ in acts})
    return EvidenceFacts.model_construct(
        about=tuple(sorted(pair for pair in about if pair[0] in kind and pair[1] in kind)),
        acts=tuple(sorted(acts)),
        items={i: _only(found[i][2], ITEM_FIELDS) for i in items if i in found},
        people={p: {**_only(found[p][2], PERSON_FIELDS), "name": found[p][1]} for p in people},
        work=work_of(people),
    )


def _only(values: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {f: values[f] for f in fields if values.get(f) is not None}
