"""The evidence index: what each colleague did with the items about each product, topic and customer.

Expert finding, tacit knowledge, bus factors and departure impact read the same evidence: a
colleague *authored*, *resolved* or *took part in* an item (interaction, feedback, document) that is
*about* a subject, *answered an escalation* of it, or *owns the account* of a customer
(:class:`graph.store.EvidenceFacts`). Each question is answered with vectorised arithmetic over
compact arrays of it, which come from one of two places:

- Neo4j reads the evidence about the subjects asked, in the database, for every question
  (:meth:`graph.store.GraphStore.evidence`): nothing in the API process grows with the graph.
- The embedded store's serving process keeps everyone's evidence on every subject in memory, built
  once from streamed scans and then kept in step with the store's change log (:func:`advance`): a
  write, from this process or another, touches only the items it wrote. Until the first build is done
  (in the background) questions read their subjects' evidence from the store, as on Neo4j.
"""

from __future__ import annotations

import itertools
import threading
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ckn.graph.cache import current, maintained, warm
from ckn.graph.expertise import KINDS, WEIGHTS, WORK_CODES, code, moment, truthy
from ckn.graph.expertise import when as date_of
from ckn.graph.model import NodeKind, RelType
from ckn.graph.store import (
    ABOUT_TYPES,
    ACT_TYPES,
    CUSTOMER_ITEM_TYPES,
    ITEM_FIELDS,
    PERSON_FIELDS,
    Changes,
    EvidenceFacts,
    GraphStore,
)

BASE_WEIGHT = np.array([WEIGHTS[k] for k in KINDS])


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
    """Everyone's evidence on every subject (or on some), as arrays indexed by person and item number.

    Kept in step with the graph by :func:`advance`: numbers are only ever added, so an older index a
    request still reads stays valid.
    """

    people: list[str]
    names: list[str]
    left_at: list[datetime | None]
    work: npt.NDArray[np.int64]
    """How many relationships of their own work (documents written, tickets resolved, interactions taken
    part in) each person has, on any subject (the denominator of focus)."""
    items: list[str]
    when: npt.NDArray[np.float64]
    """Each item's date as POSIX seconds, NaN when undated."""
    subjects: dict[str, Rows]
    person_of: dict[str, int] = field(default_factory=dict)
    item_of: dict[str, int] = field(default_factory=dict)
    opted_out: frozenset[str] = frozenset()
    shown: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Name and first source of the items evidence lists have shown (filled as answers show them)."""

    def rows(self, subject_id: str) -> Rows:
        """The evidence about one subject (empty when there is none)."""
        return self.subjects.get(subject_id) or _EMPTY


_EMPTY = Rows(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros(0, np.bool_))
_KEY = ("evidence-index",)


def _kept(
    store: GraphStore,
) -> tuple[Callable[[], EvidenceIndex], Callable[[EvidenceIndex, Changes], EvidenceIndex | None]]:
    """How the kept index is built, and how writes are applied to it."""
    return lambda: _build(store), lambda index, changes: advance(store, index, changes)


def evidence_index(store: GraphStore) -> EvidenceIndex:
    """Everyone's evidence on every subject, kept in step with the graph (built on first use).

    Writes are applied to it as they come, from the store's change log (:func:`advance`).
    """
    return maintained(store, _KEY, *_kept(store))


def prepare(store: GraphStore, *, after: threading.Thread | None = None) -> threading.Thread | None:
    """Start building what answers keep in step with the graph (a server calls it at start).

    After ``after``: the store's own structures (the embedded store's traversal view), then the index.
    Returns the thread building it (None when nothing is built: Neo4j answers in the database).
    """
    if store.answers_in_place:
        return None
    build, advance = _kept(store)

    def prepared() -> EvidenceIndex:
        store.prepare()
        return build()

    return warm(store, _KEY, prepared, advance, after=after)


def kept_index(store: GraphStore) -> EvidenceIndex | None:
    """The index kept in step with the graph, when the store keeps one and it is built (else None)."""
    return None if store.answers_in_place else current(store, _KEY, *_kept(store))


def evidence_about(store: GraphStore, subject_ids: Sequence[str]) -> EvidenceIndex:
    """The evidence to answer a question on these subjects with.

    The index kept in step with the graph when the store keeps one and it is up to date; otherwise
    (Neo4j, whose answers are computed where the data lives, or an embedded store whose index is
    being built in the background: at first, or after a deletion or a bulk load) the subjects' own
    evidence, read from the store.
    """
    if not store.answers_in_place:
        index = current(store, _KEY, *_kept(store))
        if index is not None:
            return index
    return assemble(store.evidence(subject_ids))


_KINDS = (
    NodeKind.EMPLOYEE,
    NodeKind.TOPIC,
    NodeKind.PRODUCT,
    NodeKind.CUSTOMER,
    NodeKind.INTERACTION,
    NodeKind.FEEDBACK,
    NodeKind.KNOWLEDGE_ITEM,
)
_TYPES = (*ABOUT_TYPES, *CUSTOMER_ITEM_TYPES, *ACT_TYPES)


def _build(store: GraphStore) -> EvidenceIndex:
    """Read every entity and relation of the kinds evidence needs, as streams (the whole graph).

    A projection would hold the large scale's 14 million relations in more memory than the machine has.
    This is also the oracle the stores' own :meth:`graph.store.GraphStore.evidence` is checked against.
    """
    kind_of: dict[str, str] = {}
    items: dict[str, dict[str, object]] = {}
    people: dict[str, dict[str, object]] = {}
    for entity_id, kind, name, values in store.scan_entities(
        kinds=_KINDS, fields=(*ITEM_FIELDS, *PERSON_FIELDS)
    ):
        kind_of[entity_id] = _KIND_NAMES.get(kind, kind)  # one string per kind, not one per entity
        if kind == "Employee":
            people[entity_id] = {**{f: values[f] for f in PERSON_FIELDS if f in values}, "name": name}
        else:
            items[entity_id] = {f: values[f] for f in ITEM_FIELDS if f in values}
    about: list[tuple[str, str]] = []
    acts: list[tuple[str, str, str]] = []
    work: dict[str, int] = {}
    owned: set[str] = set()
    for source, target, rtype in store.scan_relations(types=_TYPES):
        if source not in kind_of or target not in kind_of:
            continue
        if rtype in ("ABOUT", "DELIVERED_TO"):
            about.append((source, target))
        elif rtype in ("PARTICIPATED_IN", "SUBMITTED") and kind_of[source] == "Customer":
            about.append((target, source))
        elif rtype == "ESCALATED_TO":
            if kind_of[target] == "Employee":
                acts.append((target, rtype, source))
        elif kind_of[source] == "Employee":
            acts.append((source, rtype, target))
            if rtype == "OWNS_ACCOUNT":
                owned.add(target)
            else:
                work[source] = work.get(source, 0) + 1
    about.extend((c, c) for c in owned)  # the account itself is the evidence
    return _assemble(about, acts, items, people, work)


def assemble(facts: EvidenceFacts) -> EvidenceIndex:
    """An index of the evidence a store read (:meth:`graph.store.GraphStore.evidence`)."""
    index = _assemble(facts.about, facts.acts, facts.items, facts.people, facts.work)
    index.shown.update((index.item_of[i], shown) for i, shown in facts.shown.items() if i in index.item_of)
    return index


def _assemble(
    about: Iterable[tuple[str, str]],
    acts: Iterable[tuple[str, str, str]],
    items: dict[str, dict[str, Any]],
    people: dict[str, dict[str, Any]],
    work: dict[str, int],
) -> EvidenceIndex:
    """Evidence rows per subject: for each act on an item, one row per subject the item is about."""
    persons = sorted(p for p, values in people.items() if not truthy(values.get("expertise_opt_out")))
    person_of = {p: i for i, p in enumerate(persons)}
    coded = [
        (person_of[p], code(rtype, items.get(item, {})), item) for p, rtype, item in acts if p in person_of
    ]
    names = sorted({item for _, _, item in coded})
    item_of = {item: i for i, item in enumerate(names)}
    index = EvidenceIndex(
        people=persons,
        names=[str(people[p].get("name") or p) for p in persons],
        left_at=[moment(people[p], "left_at") for p in persons],
        work=np.array([work.get(p, 0) for p in persons], np.int64),
        items=names,
        when=np.array([date_of(items.get(i, {})) for i in names], np.float64),
        subjects={},
        person_of=person_of,
        item_of=item_of,
        opted_out=frozenset(people) - set(persons),
    )
    index.subjects.update(_rows_by_subject(about, item_of, ((p, c, item_of[i]) for p, c, i in coded)))
    return index


ADVANCE_AT_MOST = 50_000
"""Items a write may touch for :func:`advance` to apply it; past that the index is built again."""


def advance(store: GraphStore, index: EvidenceIndex, changes: Changes) -> EvidenceIndex | None:
    """The index with the writes ``changes`` lists applied, or None when it must be built again.

    The items those writes touched (a relationship to or from them was created, or they changed) are
    read again from the store with everything about them (:meth:`graph.store.GraphStore.evidence`),
    and their rows replace the old ones in every subject they are about; the acting colleagues' work
    counts are read again. Deletions, and a colleague's consent changing, build it again.
    """
    if changes.deleted:
        return None
    touched = _touched(index, changes)
    colleagues = [e for e in changes.entities if e in index.person_of or e in index.opted_out]
    if len(touched) > ADVANCE_AT_MOST or any(e in index.opted_out for e in colleagues):
        return None
    facts = store.evidence(item_ids=sorted(touched)) if touched else EvidenceFacts()
    found = {e.id: {**e.props, "name": e.name} for e in store.get_entities(colleagues).values()}
    people = {**found, **facts.people}
    if any(truthy(v.get("expertise_opt_out")) for p, v in people.items() if p in index.person_of):
        return None  # someone withdrew consent: nothing of theirs may stay
    opted_out = index.opted_out | {p for p, v in people.items() if truthy(v.get("expertise_opt_out"))}
    # new lists of people: a request still reading the old index sees lengths that match its arrays;
    # items are only ever appended (a million of them), and nothing reads their count as a bound
    everyone, names, left_at = list(index.people), list(index.names), list(index.left_at)
    items, existed = index.items, len(index.when)
    for person, values in sorted(people.items()):
        if person in opted_out:
            continue
        number = index.person_of.setdefault(person, len(everyone))
        if number == len(everyone):
            everyone.append(person)
            names.append("")
            left_at.append(None)
        names[number], left_at[number] = str(values.get("name") or person), moment(values, "left_at")
    work = np.zeros(len(everyone), np.int64)
    work[: len(index.work)] = index.work
    for person, count in facts.work.items():
        if person in index.person_of:
            work[index.person_of[person]] = count
    for _, _, item in facts.acts:
        if index.item_of.setdefault(item, len(items)) == len(items):
            items.append(item)
    when = np.full(len(items), np.nan)
    when[: len(index.when)] = index.when
    for item, values in facts.items.items():
        if item in index.item_of:
            when[index.item_of[item]] = date_of(values)
    coded = [
        (index.person_of[p], code(rtype, facts.items.get(item, {})), index.item_of[item])
        for p, rtype, item in facts.acts
        if p in index.person_of
    ]
    added = _rows_by_subject(facts.about, index.item_of, coded)
    gone = np.array(sorted(n for i in touched if (n := index.item_of.get(i, existed)) < existed), np.int32)
    subjects = _merged(index.subjects, added, {s for _, s in facts.about}, gone)
    stale = set(gone.tolist())
    shown = {i: v for i, v in dict(index.shown).items() if i not in stale}  # answers add to it meanwhile
    return EvidenceIndex(
        people=everyone,
        names=names,
        left_at=left_at,
        work=work,
        items=items,
        when=when,
        subjects=subjects,
        person_of=index.person_of,
        item_of=index.item_of,
        opted_out=opted_out,
        shown=shown,
    )


def _touched(index: EvidenceIndex, changes: Changes) -> set[str]:
    """The items whose evidence the changes may have changed."""
    touched = {e for e in changes.entities if e in index.item_of}
    for hop in changes.relations:
        if hop.type in _FROM_ITEM:
            touched.add(hop.source)
        elif hop.type in _TO_ITEM:
            touched.add(hop.target)
    return touched


def _merged(
    subjects: dict[str, Rows], added: dict[str, Rows], changed: set[str], gone: npt.NDArray[np.int32]
) -> dict[str, Rows]:
    """``subjects`` with the rows of the items ``gone`` replaced by ``added`` in the ``changed`` ones.

    Rows stay in (person, item) order: the few new ones are inserted where they belong (a subject
    can have a hundred thousand rows; sorting them all again would cost more than the rest).
    """
    merged_subjects = dict(subjects)
    for subject in changed:
        old, new = subjects.get(subject, _EMPTY), added.get(subject, _EMPTY)
        if len(gone) and len(old.item):
            keep = ~np.isin(old.item, gone)
            old = Rows(*(getattr(old, f)[keep] for f in _ROW_FIELDS))
        at = np.searchsorted(_order_key(old), _order_key(new))
        merged_subjects[subject] = Rows(
            *(np.insert(getattr(old, f), at, getattr(new, f)) for f in _ROW_FIELDS)
        )
    return merged_subjects


def _order_key(rows: Rows) -> npt.NDArray[np.int64]:
    return rows.person.astype(np.int64) << 32 | rows.item.astype(np.int64)


_FROM_ITEM = frozenset({*ABOUT_TYPES, RelType.ESCALATED_TO})
_TO_ITEM = frozenset({*CUSTOMER_ITEM_TYPES, *ACT_TYPES} - {RelType.ESCALATED_TO})
_ROW_FIELDS = ("person", "item", "kind", "in_work")


def _rows_by_subject(
    about: Iterable[tuple[str, str]], item_of: dict[str, int], coded: Iterable[tuple[int, int, int]]
) -> dict[str, Rows]:
    """Acts on items (``(person, kind, item)`` numbers) as rows of each subject their items are about."""
    by_item: dict[int, list[int]] = {}
    own: set[int] = set()
    for p, kind, i in coded:
        by_item.setdefault(i, []).append(p << 35 | i << 3 | kind)
        if kind in WORK_CODES:
            own.add(p << 32 | i)
    subjects: list[str] = []
    subject_of: dict[str, int] = {}
    subject_numbers, packed = array("i"), array("q")  # one row per subject and act: person, item, kind
    for item, subject in about:
        values = by_item.get(item_of.get(item, -1))
        if not values:
            continue
        number = subject_of.get(subject)
        if number is None:
            number = subject_of[subject] = len(subjects)
            subjects.append(subject)
        subject_numbers.extend([number] * len(values))
        packed.extend(values)
    own_pairs = np.array(sorted(own), np.int64)
    return dict(zip(subjects, _by_subject(subject_numbers, packed, own_pairs, len(subjects)), strict=True))


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
