"""The evidence index: what each colleague did with the items about each product, topic and customer.

Expert finding, tacit knowledge, bus factors and departure impact read the same evidence: a
colleague *authored*, *resolved* or *took part in* an item (interaction, feedback, document) that is
*about* a subject, *answered an escalation* of it, or *owns the account* of a customer. Reading it item
by item on every request costs time in proportion to the evidence (hundreds of thousands of items at a
million edges), so it is read once per graph version (one projection carrying only the dates and
flags it needs) into compact arrays; each question is then answered with vectorised arithmetic.

The first question after the graph changed pays for the build (seconds at a million edges; see the
README's performance section); every later one is answered from memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from graph.cache import cached
from graph.model import NodeKind, RelType
from graph.store import GraphStore
from queries.common import moment

WEIGHTS: dict[str, float] = {
    "authored": 3.0,
    "owns_account": 3.0,
    "escalation_answered": 2.5,
    "resolved": 2.0,
    "meeting": 1.5,
    "interaction": 1.0,
}
"""What one piece of evidence is worth before it decays."""
KINDS = tuple(WEIGHTS)
"""Kinds of evidence; rows store their index."""
BASE_WEIGHT = np.array([WEIGHTS[k] for k in KINDS])
AUTHORED = KINDS.index("authored")
_DEEP_CHANNELS = frozenset({"meeting", "visit"})
_FIELDS = ("occurred_at", "submitted_at", "created_at", "channel", "left_at", "expertise_opt_out")
_ITEM_KINDS = frozenset({"Interaction", "Feedback", "KnowledgeItem"})
_ACT_KIND = {"AUTHORED": "authored", "RESOLVED": "resolved", "PARTICIPATED_IN": "interaction"}
_CUSTOMER_ITEMS = {"PARTICIPATED_IN", "SUBMITTED"}  # customer -> item


def truthy(value: object) -> bool:
    """A yes in any of the ways CRM exports write it."""
    return value is True or str(value).strip().lower() in {"true", "yes", "1", "是", "y"}


@dataclass(frozen=True)
class Rows:
    """The evidence about one subject: one row per person and item, the strongest kind kept."""

    person: npt.NDArray[np.int32]
    item: npt.NDArray[np.int32]
    kind: npt.NDArray[np.int8]
    in_work: npt.NDArray[np.bool_]
    """Whether the item is among the person's own work (what they authored, resolved, took part in)."""


@dataclass(frozen=True)
class EvidenceIndex:
    """Everyone's evidence on every subject, as arrays indexed by person and item number."""

    people: list[str]
    names: list[str]
    left_at: list[datetime | None]
    work: npt.NDArray[np.int64]
    """How many items each person authored, resolved or took part in (the denominator of focus)."""
    items: list[str]
    when: npt.NDArray[np.float64]
    """Each item's date as POSIX seconds, NaN when undated."""
    subjects: dict[str, Rows]
    shown: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Name and first source of the items evidence lists have shown (filled as answers show them)."""

    def rows(self, subject_id: str) -> Rows:
        """The evidence about one subject (empty when there is none)."""
        return self.subjects.get(subject_id) or _EMPTY


_EMPTY = Rows(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0, np.bool_))


def evidence_index(store: GraphStore) -> EvidenceIndex:
    """The index for the store's current graph version (built on first use, then cached)."""
    return cached(store, ("evidence-index",), lambda: _build(store))


def _build(store: GraphStore) -> EvidenceIndex:
    graph = store.project(
        kinds=[
            NodeKind.EMPLOYEE,
            NodeKind.TOPIC,
            NodeKind.PRODUCT,
            NodeKind.CUSTOMER,
            NodeKind.INTERACTION,
            NodeKind.FEEDBACK,
            NodeKind.KNOWLEDGE_ITEM,
        ],
        types=[
            RelType.ABOUT,
            RelType.PARTICIPATED_IN,
            RelType.SUBMITTED,
            RelType.DELIVERED_TO,
            RelType.AUTHORED,
            RelType.RESOLVED,
            RelType.ESCALATED_TO,
            RelType.OWNS_ACCOUNT,
        ],
        fields=_FIELDS,
    )
    nodes = graph.nodes
    people = sorted(
        n for n, d in nodes(data=True) if d["kind"] == "Employee" and not truthy(d.get("expertise_opt_out"))
    )
    person_of = {p: i for i, p in enumerate(people)}
    items: list[str] = []
    item_of: dict[str, int] = {}

    def item_number(node: str) -> int:
        if node not in item_of:
            item_of[node] = len(items)
            items.append(node)
        return item_of[node]

    # item -> subjects it is about; person -> items of their own work; (person, item) -> best kind
    about: dict[str, set[str]] = {}
    acts: list[tuple[str, str, str]] = []  # (person, kind, item)
    work: dict[str, set[str]] = {}
    for source, target, rtype in graph.edges(data="type"):
        if rtype == "ABOUT":
            about.setdefault(source, set()).add(target)
        elif rtype in _CUSTOMER_ITEMS and nodes[source]["kind"] == "Customer":
            about.setdefault(target, set()).add(source)
        elif rtype == "DELIVERED_TO":
            about.setdefault(source, set()).add(target)
        elif rtype in _ACT_KIND and source in person_of:
            kind = _ACT_KIND[rtype]
            if kind == "interaction" and nodes[target].get("channel") in _DEEP_CHANNELS:
                kind = "meeting"
            acts.append((source, kind, target))
            work.setdefault(source, set()).add(target)
        elif rtype == "ESCALATED_TO" and target in person_of:
            acts.append((target, "escalation_answered", source))
        elif rtype == "OWNS_ACCOUNT" and source in person_of:
            about.setdefault(target, set()).add(target)  # the account itself is the evidence
            acts.append((source, "owns_account", target))

    best: dict[tuple[str, int, int], int] = {}  # (subject, person, item) -> kind, strongest kept
    for person, kind, item in acts:
        code = KINDS.index(kind)
        p, i = person_of[person], item_number(item)
        for subject in about.get(item, ()):
            previous = best.get((subject, p, i))
            if previous is None or BASE_WEIGHT[code] > BASE_WEIGHT[previous]:
                best[(subject, p, i)] = code
    by_subject: dict[str, list[tuple[int, int, int, bool]]] = {}
    for (subject, p, i), code in best.items():
        by_subject.setdefault(subject, []).append((p, i, code, items[i] in work.get(people[p], ())))
    when = np.array(
        [_posix(moment(nodes[i], "occurred_at", "submitted_at", "created_at")) for i in items], np.float64
    )
    return EvidenceIndex(
        people=people,
        names=[nodes[p].get("name", p) for p in people],
        left_at=[moment(nodes[p], "left_at") for p in people],
        work=np.array([len(work.get(p, ())) for p in people], np.int64),
        items=items,
        when=when,
        subjects={s: _rows(found) for s, found in by_subject.items() if nodes[s]["kind"] not in _ITEM_KINDS},
    )


def _rows(found: list[tuple[int, int, int, bool]]) -> Rows:
    found.sort()
    return Rows(
        np.array([f[0] for f in found], np.int32),
        np.array([f[1] for f in found], np.int32),
        np.array([f[2] for f in found], np.int8),
        np.array([f[3] for f in found], np.bool_),
    )


def _posix(when: datetime | None) -> float:
    return when.timestamp() if when else float("nan")


def decayed(
    index: EvidenceIndex, rows: Rows, now: datetime, half_life_days: float
) -> npt.NDArray[np.float64]:
    """Each row's weight at ``now``: halves every ``half_life_days``; undated counts one half-life."""
    age_days = (now.timestamp() - index.when[rows.item]) / 86_400
    age_days = np.where(np.isnan(age_days), half_life_days, np.maximum(age_days, 0.0))
    return BASE_WEIGHT[rows.kind] * np.power(0.5, age_days / half_life_days)
