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

import itertools
from array import array
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from ckn.graph.cache import cached
from ckn.graph.model import NodeKind, RelType
from ckn.graph.store import GraphStore
from ckn.queries.common import moment

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


_KINDS = (
    NodeKind.EMPLOYEE,
    NodeKind.TOPIC,
    NodeKind.PRODUCT,
    NodeKind.CUSTOMER,
    NodeKind.INTERACTION,
    NodeKind.FEEDBACK,
    NodeKind.KNOWLEDGE_ITEM,
)
_TYPES = (
    RelType.ABOUT,
    RelType.PARTICIPATED_IN,
    RelType.SUBMITTED,
    RelType.DELIVERED_TO,
    RelType.AUTHORED,
    RelType.RESOLVED,
    RelType.ESCALATED_TO,
    RelType.OWNS_ACCOUNT,
)


def _build(store: GraphStore) -> EvidenceIndex:
    """Read entities and relations once, as streams, into per-subject arrays.

    A projection would hold the large scale's 14 million relations in more memory than the machine has.
    """
    kind_of: dict[str, str] = {}
    employees: dict[str, dict[str, object]] = {}
    when_of: dict[str, float] = {}  # dated entities -> POSIX seconds
    deep: set[str] = set()  # interactions in a meeting or a visit
    for entity_id, kind, name, values in store.scan_entities(kinds=_KINDS, fields=_FIELDS):
        kind_of[entity_id] = _KIND_NAMES.get(kind, kind)  # one string per kind, not one per entity
        if kind == "Employee":
            employees[entity_id] = {**values, "name": name}
        if when := moment(values, "occurred_at", "submitted_at", "created_at"):
            when_of[entity_id] = when.timestamp()
        if values.get("channel") in _DEEP_CHANNELS:
            deep.add(entity_id)
    people = sorted(e for e, data in employees.items() if not truthy(data.get("expertise_opt_out")))
    person_of = {p: i for i, p in enumerate(people)}

    # item -> subjects it is about; (person, kind, item) acts; (person, item) pairs of their own work
    about: dict[str, list[str]] = {}
    acts: list[tuple[int, int, str]] = []
    work: dict[int, set[str]] = {}
    for source, target, rtype in store.scan_relations(types=_TYPES):
        if source not in kind_of or target not in kind_of:
            continue
        if rtype in ("ABOUT", "DELIVERED_TO"):
            about.setdefault(source, []).append(target)
        elif rtype in _CUSTOMER_ITEMS and kind_of[source] == "Customer":
            about.setdefault(target, []).append(source)
        elif rtype in _ACT_KIND and source in person_of:
            kind = _ACT_KIND[rtype]
            if kind == "interaction" and target in deep:
                kind = "meeting"
            acts.append((person_of[source], KINDS.index(kind), target))
            work.setdefault(person_of[source], set()).add(target)
        elif rtype == "ESCALATED_TO" and target in person_of:
            acts.append((person_of[target], KINDS.index("escalation_answered"), source))
        elif rtype == "OWNS_ACCOUNT" and source in person_of:
            about.setdefault(target, []).append(target)  # the account itself is the evidence
            acts.append((person_of[source], KINDS.index("owns_account"), target))

    items = sorted({item for _, _, item in acts})
    item_of = {item: i for i, item in enumerate(items)}
    subjects: list[str] = []
    subject_of: dict[str, int] = {}
    subject_numbers, packed = array("i"), array("q")  # one row per subject and act: person, item, kind
    for p, code, item in acts:
        value = p << 35 | item_of[item] << 3 | code
        for subject in about.get(item, ()):
            number = subject_of.get(subject)
            if number is None:
                number = subject_of[subject] = len(subjects)
                subjects.append(subject)
            subject_numbers.append(number)
            packed.append(value)
    own = np.array(sorted({p << 32 | item_of[i] for p, done in work.items() for i in done}), np.int64)
    return EvidenceIndex(
        people=people,
        names=[str(employees[p]["name"] or p) for p in people],
        left_at=[moment(employees[p], "left_at") for p in people],
        work=np.array([len(work.get(p, ())) for p in range(len(people))], np.int64),
        items=items,
        when=np.array([when_of.get(i, np.nan) for i in items], np.float64),
        subjects={
            s: rows
            for s, rows in zip(
                subjects, _by_subject(subject_numbers, packed, own, len(subjects)), strict=True
            )
            if kind_of[s] not in _ITEM_KINDS
        },
    )


def _by_subject(
    subject_numbers: array[int], packed: array[int], own: npt.NDArray[np.int64], count: int
) -> list[Rows]:
    """The rows of each of ``count`` subjects in (person, item) order, the strongest kind of a pair kept.

    Sorted once for all subjects; each subject's arrays are slices of the same arrays.
    """
    subject = np.frombuffer(subject_numbers, np.int32) if subject_numbers else np.zeros(0, np.int32)
    values = np.frombuffer(packed, np.int64) if packed else np.zeros(0, np.int64)
    pair, code = values >> 3, (values & 7).astype(np.int8)
    order = np.lexsort((code, BASE_WEIGHT[code], pair, subject))  # the last of each pair is the best
    subject, pair, code = subject[order], pair[order], code[order]
    last = np.ones(len(pair), np.bool_)
    last[:-1] = (subject[1:] != subject[:-1]) | (pair[1:] != pair[:-1])
    subject, pair, code = subject[last], pair[last], code[last]
    person, item = (pair >> 32).astype(np.int32), (pair & 0xFFFFFFFF).astype(np.int32)
    in_work = np.isin(pair, own)
    bounds = np.searchsorted(subject, np.arange(count + 1)).tolist()
    return [Rows(person[a:b], item[a:b], code[a:b], in_work[a:b]) for a, b in itertools.pairwise(bounds)]


_KIND_NAMES = {k.value: k.value for k in _KINDS}


def decayed(
    index: EvidenceIndex, rows: Rows, now: datetime, half_life_days: float
) -> npt.NDArray[np.float64]:
    """Each row's weight at ``now``: halves every ``half_life_days``; undated counts one half-life."""
    age_days = (now.timestamp() - index.when[rows.item]) / 86_400
    age_days = np.where(np.isnan(age_days), half_life_days, np.maximum(age_days, 0.0))
    return BASE_WEIGHT[rows.kind] * np.power(0.5, age_days / half_life_days)
