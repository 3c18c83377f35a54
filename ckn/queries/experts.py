"""Sales: who in our company knows this product, customer or topic, and on what evidence.

Every answer is a ranked list of colleagues, each with the evidence behind the score: documents
written, tickets and complaints resolved, escalations answered, interactions about the subject or with
the customer, accounts owned, each with its date and the source it came from. Evidence is weighted by
kind (:data:`WEIGHTS`) and halves in value every ``half_life_days``. People who left are left out (or
flagged when asked for); people who opted out of expertise inference are never shown. When several
subjects are asked together, people who know all of them, and whose work is about them rather than
about everything, come first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from ckn.graph.errors import InvalidInput, NotFound
from ckn.graph.expertise import (
    AUTHORED,
    KEPT_HALF_LIFE_DAYS,
    KINDS,
    WEIGHTS,
    decay_factor,
    moment,
    truthy,
)
from ckn.graph.model import Entity, NodeKind
from ckn.graph.store import GraphStore, KnownAbout
from ckn.queries.evidence import EvidenceIndex, Rows, assemble, decayed, kept_index

__all__ = ["DEFAULT_HALF_LIFE_DAYS", "WEIGHTS", "Evidence", "Expert", "experts", "has_left", "subjects_in"]

DEFAULT_HALF_LIFE_DAYS = KEPT_HALF_LIFE_DAYS
EVIDENCE_SHOWN = 20
"""Pieces of evidence listed per person (strongest first); ``evidence_count`` says how many there are."""


@dataclass(frozen=True)
class Evidence:
    """One thing a colleague did that shows they know the subject."""

    kind: str
    item_id: str
    item_name: str
    subject_ids: tuple[str, ...]
    when: str | None
    weight: float
    source_id: str


@dataclass
class Expert:
    """A colleague, the score and the evidence behind it."""

    employee_id: str
    name: str
    score: float = 0.0
    subjects: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    left: bool = False
    focus: float = 1.0
    """Share of this person's work that is about the subjects asked (specialists score higher)."""
    strength: float = 0.0
    """All their decayed evidence on the subjects, added up."""
    documented: float = 0.0
    """The part of ``strength`` that comes from documents they wrote."""
    evidence_count: int = 0


def has_left(employee: Entity, now: datetime) -> bool:
    """Whether an employee's ``left_at`` is in the past."""
    left_at = moment(employee.props, "left_at")
    return left_at is not None and left_at <= now


def experts(
    store: GraphStore,
    subject_ids: Sequence[str],
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    include_left: bool = False,
    limit: int = 10,
    evidence_shown: int = EVIDENCE_SHOWN,
    evidence_for: int | None = None,
    min_strength: float = 0.0,
    among: set[str] | None = None,
    known: KnownAbout | None = None,
    subjects: Mapping[str, Entity] | None = None,
) -> Ranked:
    """Colleagues ranked by decayed, weighted evidence about all of ``subject_ids``, with the evidence.

    ``evidence_for``: only the first that many get their evidence (all when None); ``min_strength``:
    only colleagues whose evidence adds up to that; ``among``: only these colleagues; ``known``: the
    kept sums on the one subject, when the caller read them already (a question over every subject
    reads them all at once: :meth:`graph.store.GraphStore.known_about_each`); the caller found the
    subject among the products, topics and customers, so it is not read again; ``subjects``: the
    subjects as the caller read them (to show their names), checked here and not read again.

    Score = log(1 + evidence), times the squared share of subjects covered, times focus on them:
    covering every subject asked matters more than depth on one; among those who cover them, people
    whose work is about them (focus) beat people who do everything.

    Raises:
        NotFound: a subject does not exist (not checked when ``known`` is given).
        InvalidInput: no subject, or a subject that is not a product, topic or customer (idem).

    """
    store.limits.check_page(limit)
    if not subject_ids:
        raise InvalidInput("name at least one product, topic or customer")
    now = now or datetime.now(UTC)
    wanted = list(dict.fromkeys(subject_ids))
    if known is None:  # else the caller found it among the subjects
        read = store.get_entities(wanted) if subjects is None else subjects
        for sid in wanted:
            check_subject(sid, read.get(sid))
    index = kept_index(store)
    if index is None and len(wanted) == 1 and half_life_days == KEPT_HALF_LIFE_DAYS:
        found = kept_experts_each(
            store,
            {wanted[0]: store.known_about(wanted[0]) if known is None else known},
            now=now,
            include_left=include_left,
            limit=limit,
            evidence_shown=evidence_shown,
            evidence_for=evidence_for,
            min_strength=min_strength,
            among=among,
        )[wanted[0]]
        if found is not None:
            return found
    return from_evidence(
        store,
        wanted,
        index or assemble(store.evidence(wanted)),
        now=now,
        half_life_days=half_life_days,
        include_left=include_left,
        limit=limit,
        evidence_shown=evidence_shown,
        evidence_for=evidence_for,
        min_strength=min_strength,
        among=among,
    )


def check_subject(subject_id: str, subject: Entity | None) -> None:
    """Raise unless ``subject`` (read as ``subject_id``) exists and is something expertise is about.

    Raises:
        NotFound: it does not exist.
        InvalidInput: it is not a product, topic or customer.

    """
    if subject is None:
        raise NotFound(f"no entity with id {subject_id!r}", entity_id=subject_id)
    if subject.kind not in {NodeKind.PRODUCT, NodeKind.TOPIC, NodeKind.CUSTOMER}:
        kind = subject.kind.value
        raise InvalidInput(f"{subject_id} is of kind {kind}; ask about a product, topic or customer")


def from_evidence(
    store: GraphStore,
    wanted: list[str],
    index: EvidenceIndex,
    *,
    now: datetime,
    half_life_days: float,
    include_left: bool,
    limit: int,
    evidence_shown: int,
    evidence_for: int | None,
    min_strength: float,
    among: set[str] | None,
) -> Ranked:
    """:func:`experts` from each piece of evidence on the subjects (``index``): the reference answer."""
    parts = [index.rows(sid) for sid in wanted]
    rows = Rows(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("person", "item", "kind", "in_work"))
    )
    subject_of = np.concatenate([np.full(len(p.person), i, np.int32) for i, p in enumerate(parts)])
    raw = decayed(index, rows, now, half_life_days)
    weight = np.round(raw, 4)  # as shown
    # one piece of evidence per person and item (the strongest, when an item is about several subjects)
    if len(parts) == 1:  # one subject: its rows are already one per person and item
        first = np.arange(len(rows.person))
    else:
        pair = rows.person.astype(np.int64) * max(len(index.items), 1) + rows.item
        order = np.lexsort((-weight, pair))
        first = order[np.r_[True, pair[order][1:] != pair[order][:-1]]] if len(order) else order
    n_people = len(index.people)
    person, counted = rows.person[first], raw[first]
    strength = np.bincount(person, weights=counted, minlength=n_people)
    documented = np.bincount(
        person, weights=np.where(rows.kind[first] == AUTHORED, counted, 0.0), minlength=n_people
    )
    on_subject = np.bincount(person, minlength=n_people)
    outside_work = np.bincount(person, weights=~rows.in_work[first], minlength=n_people)
    covered = np.zeros((n_people, len(wanted)), np.bool_)
    covered[rows.person, subject_of] = True
    coverage = covered.sum(axis=1) / len(wanted)
    everything = index.work + outside_work
    focus = np.where(everything > 0, on_subject / np.maximum(everything, 1), 1.0)
    score = np.log1p(strength) * coverage**2 * (0.5 + 0.5 * focus)

    eligible = np.flatnonzero((on_subject > 0) & (strength >= min_strength))
    ranked = _ranked(
        [
            _Scored(index.people[p], index.names[p], index.left_at[p], float(score[p]), float(focus[p]),
                    float(strength[p]), float(documented[p]), int(on_subject[p]))
            for p in eligible
        ],
        now, include_left, limit, among,
    )  # fmt: skip
    shown_to = ranked if evidence_for is None else ranked[:evidence_for]
    _attach_evidence(store, index, shown_to, rows, subject_of, weight, wanted, evidence_shown)
    return ranked


@dataclass(frozen=True)
class _Scored:
    person: str
    name: str
    left_at: datetime | None
    score: float
    focus: float
    strength: float
    documented: float
    count: int


class Ranked(list[Expert]):
    """Colleagues ranked first, up to the number asked; ``total``: how many the ranking held in all."""

    total: int = 0


def _ranked(
    scored: Iterable[_Scored], now: datetime, include_left: bool, limit: int, among: set[str] | None
) -> Ranked:
    """The first ``limit`` by score (then id), people who left left out unless asked for."""
    chosen = [s for s in scored if _chosen(s.person, s.left_at, now, include_left, among)]
    ranked = _experts(heapq.nsmallest(limit, chosen, key=lambda s: (-round(s.score, 4), s.person)), now)
    ranked.total = len(chosen)
    return ranked


def _chosen(
    person: str, left_at: datetime | None, now: datetime, include_left: bool, among: set[str] | None
) -> bool:
    """Whether a ranking asked with ``include_left`` and ``among`` holds this colleague."""
    return (among is None or person in among) and (include_left or left_at is None or left_at > now)


def _experts(scored: Iterable[_Scored], now: datetime) -> Ranked:
    """Colleagues as a ranking shows them, in the order given."""
    return Ranked(
        Expert(
            s.person,
            s.name,
            score=round(s.score, 4),
            left=s.left_at is not None and s.left_at <= now,
            focus=round(s.focus, 4),
            strength=round(s.strength, 4),
            documented=round(s.documented, 4),
            evidence_count=s.count,
        )
        for s in scored
    )


def kept_experts_each(
    store: GraphStore,
    known: Mapping[str, KnownAbout],
    *,
    now: datetime,
    include_left: bool,
    limit: int,
    evidence_shown: int,
    evidence_for: int | None,
    min_strength: float,
    among: set[str] | None,
) -> dict[str, Ranked | None]:
    """:func:`experts` on each subject of ``known`` from its kept sums (:mod:`graph.expertise`), by subject.

    At the kept half-life: the sums rank everyone, then only the first few ranked get their evidence,
    read for every subject together (:meth:`graph.store.GraphStore.strongest_each`: a question over
    every subject makes one round trip for it, not one a subject). None for a subject whose sums
    cannot answer: ``now`` is before a date they hold (a question about the past, whose evidence
    dated after it must weigh no more than its kind).
    """
    moment_s = now.timestamp()
    found: dict[str, Ranked | None] = {}
    shown: dict[str, list[Expert]] = {}
    seen: dict[str, _Colleague] = {}  # each colleague read once (the same on every subject)
    for subject_id, sums in known.items():
        if not _answers(sums, moment_s):
            found[subject_id] = None
            continue
        ranked = found[subject_id] = _ranked_kept(
            sums, now, min_strength, seen, include_left=include_left, limit=limit, among=among
        )
        shown_to = ranked if evidence_for is None else ranked[:evidence_for]
        if evidence_shown and shown_to:
            shown[subject_id] = shown_to
        for expert in shown_to if not evidence_shown else ():
            expert.subjects = [subject_id]
    _show_strongest(store, shown, now, evidence_shown)
    return found


def _ranked_kept(
    known: KnownAbout,
    now: datetime,
    min_strength: float,
    seen: dict[str, _Colleague],
    *,
    include_left: bool,
    limit: int,
    among: set[str] | None,
) -> Ranked:
    """:func:`_ranked` from kept sums: everyone eligible scored, only the first ``limit`` shown.

    A question over every subject scores tens of thousands of colleagues: as columns, then the first
    few ranked exactly (as :func:`_ranked` ranks them). ``seen``: the colleagues read so far.
    """
    table = _Table.of(known, now.timestamp(), min_strength, seen)
    held = table.people
    chosen = table.chosen(now, include_left, among)
    everything = np.fromiter((known.work.get(p, 0) for p in held), np.float64, len(held)) + table.outside
    focus = np.where(everything > 0, table.n / np.maximum(everything, 1), 1.0)
    score = np.log1p(table.strength) * (0.5 + 0.5 * focus)
    candidates = np.flatnonzero(chosen)
    if len(candidates) > limit:  # those that rounding could still put among the first
        cut = np.partition(score[candidates], -limit)[-limit] - 1e-4
        candidates = candidates[score[candidates] >= cut]
    first = []
    for _, person, i in sorted((-round(float(score[i]), 4), held[i], i) for i in candidates)[:limit]:
        who, sums = table.colleagues[i], known.sums[person]
        documented = sums.doc_dated * table.factor + 0.5 * sums.doc_undated
        for piece in known.ahead.get(person, ()):
            documented += piece.at(table.moment_s) if piece.authored else 0.0
        strength = float(table.strength[i])
        first.append(
            _Scored(
                person, who.name, who.left_at, float(score[i]), float(focus[i]), strength, documented, sums.n
            )
        )
    ranked = _experts(first, now)
    ranked.total = int(chosen.sum())
    return ranked


@dataclass(frozen=True)
class _Table:
    """One subject's kept sums as columns, in the order of ``people``."""

    moment_s: float
    factor: float
    """:func:`graph.expertise.decay_factor` at ``moment_s``."""
    people: list[str]
    colleagues: list[_Colleague]
    """What a ranking needs of each, in the same order."""
    n: np.ndarray
    outside: np.ndarray
    strength: np.ndarray
    """All their decayed evidence at ``moment_s`` (pieces dated ahead weighed on their own)."""
    eligible: np.ndarray
    """Whether each has evidence adding up to the strength asked and did not opt out."""

    @classmethod
    def of(
        cls, known: KnownAbout, moment_s: float, min_strength: float, seen: dict[str, _Colleague]
    ) -> _Table:
        """``known`` at ``moment_s``; ``seen``: the colleagues read so far (each read once, then found)."""
        people = list(known.sums)
        for person in people:
            if person not in seen:
                seen[person] = _colleague(known, person)
        colleagues = [seen[p] for p in people]
        columns = np.array([k[:4] for k in known.sums.values()], np.float64).reshape(-1, 4)
        n, outside, dated, undated = columns.T
        factor = decay_factor(moment_s)
        strength = dated * factor + 0.5 * undated
        if known.ahead:
            row = {p: i for i, p in enumerate(people)}
            for person, pieces in known.ahead.items():
                if (i := row.get(person)) is not None:
                    weighed = float(strength[i])
                    for piece in pieces:  # dated after it was written: weighed on its own
                        weighed += piece.at(moment_s)
                    strength[i] = weighed
        here = np.fromiter((not who.opted_out for who in colleagues), np.bool_, len(people))
        eligible = here & (n > 0) & (strength >= min_strength)
        return cls(moment_s, factor, people, colleagues, n, outside, strength, eligible)

    def chosen(self, now: datetime, include_left: bool, among: set[str] | None) -> np.ndarray:
        """Whether a ranking asked with ``include_left`` and ``among`` holds each eligible colleague."""
        held = zip(self.people, self.colleagues, strict=True)
        asked = (_chosen(p, who.left_at, now, include_left, among) for p, who in held)
        return self.eligible & np.fromiter(asked, np.bool_, len(self.people))


@dataclass(frozen=True)
class _Colleague:
    """What a ranking needs of a colleague named in kept sums."""

    name: str
    left_at: datetime | None
    opted_out: bool


def _colleague(known: KnownAbout, person: str) -> _Colleague:
    """A colleague as ``known`` names them (one it does not name, erased meanwhile, is never shown)."""
    values = known.people.get(person)
    if values is None:
        return _Colleague(person, None, opted_out=True)
    return _Colleague(
        str(values.get("name") or person), moment(values, "left_at"), truthy(values.get("expertise_opt_out"))
    )


def _show_strongest(
    store: GraphStore,
    shown: dict[str, list[Expert]],
    now: datetime,
    evidence_shown: int,
) -> None:
    """The strongest ``evidence_shown`` pieces of evidence of the experts ``shown`` on each subject.

    Read in the order the store keeps them (:meth:`graph.store.GraphStore.strongest_each`): a few rows
    each, however much they did.
    """
    asks = {s: [e.employee_id for e in shown_to] for s, shown_to in shown.items()}
    read = store.strongest_each(asks, strongest=evidence_shown, at=now.timestamp()) if asks else {}
    for subject_id, shown_to in shown.items():
        index = assemble(read[subject_id])
        rows = index.rows(subject_id)
        weight = np.round(decayed(index, rows, now, KEPT_HALF_LIFE_DAYS), 4)
        subject_of = np.zeros(len(rows.person), np.int32)
        _attach_evidence(store, index, shown_to, rows, subject_of, weight, [subject_id], evidence_shown)


def _answers(known: KnownAbout, moment_s: float) -> bool:
    """Whether kept sums answer a question asked at ``moment_s`` (not about a day before a date they hold)."""
    return not any(k.latest is not None and k.latest > moment_s for k in known.sums.values())


def counted(known: KnownAbout, now: datetime, min_strength: float) -> int | None:
    """How many colleagues still here :func:`experts` ranks from kept sums with ``min_strength`` or more.

    Without ranking them; None when the sums cannot answer (see :func:`kept_experts_each`).
    """
    moment_s = now.timestamp()
    if not _answers(known, moment_s):
        return None
    return int(_Table.of(known, moment_s, min_strength, {}).chosen(now, False, None).sum())


def _attach_evidence(
    store: GraphStore,
    index: EvidenceIndex,
    ranked: list[Expert],
    rows: Rows,
    subject_of: np.ndarray,
    weight: np.ndarray,
    subjects: list[str],
    shown: int,
) -> None:
    """The strongest ``shown`` pieces of evidence of each ranked person, with names, dates and sources."""
    if shown == 0 and len(subjects) == 1:  # nothing to find: everyone ranked has evidence on it
        for expert in ranked:
            expert.subjects = list(subjects)
        return
    person_number = {pid: i for i, pid in enumerate(index.people)}
    # rows grouped by person, found by bisection (one subject's rows already are: no sort)
    in_order = bool(np.all(rows.person[1:] >= rows.person[:-1]))
    by_person = np.arange(len(rows.person)) if in_order else np.argsort(rows.person, kind="stable")
    grouped = rows.person[by_person]
    chosen: dict[str, list[tuple[int, int, float, tuple[str, ...]]]] = {}
    for expert in ranked:
        number = person_number.get(expert.employee_id)
        if number is None:  # nothing of theirs left to show (a write landed between two reads)
            expert.subjects, chosen[expert.employee_id] = list(subjects), []
            continue
        mine = by_person[np.searchsorted(grouped, number) : np.searchsorted(grouped, number, side="right")]
        expert.subjects = [subjects[i] for i in np.unique(subject_of[mine])]
        if shown == 0:
            chosen[expert.employee_id] = []
            continue
        if len(subjects) == 1:  # one row per item already
            best = mine
        else:
            order = mine[np.lexsort((-weight[mine], rows.item[mine]))]
            best = order[np.r_[True, rows.item[order][1:] != rows.item[order][:-1]]]  # per item, strongest
        if len(best) > shown:  # everything tied with the last one shown, then ordered exactly
            cut = np.partition(weight[best], -shown)[-shown]
            best = best[weight[best] >= cut]
        strongest = sorted(best, key=lambda r: (-weight[r], index.items[rows.item[r]]))[:shown]
        my_items = rows.item[mine]
        chosen[expert.employee_id] = [
            (
                int(rows.item[r]),
                int(rows.kind[r]),
                float(weight[r]),
                tuple(sorted(subjects[i] for i in np.unique(subject_of[mine[my_items == rows.item[r]]])))
                if len(subjects) > 1
                else (subjects[0],),
            )
            for r in strongest
        ]
    unseen = sorted({index.items[i] for found in chosen.values() for i, *_ in found if i not in index.shown})
    if unseen:
        entities = store.get_entities(unseen)
        item_number = {item: i for found in chosen.values() for i, *_ in found for item in [index.items[i]]}
        for item_id in unseen:
            entity = entities.get(item_id)
            source = next((p.source_id for p in entity.provenance), "") if entity else ""
            index.shown[item_number[item_id]] = (entity.name if entity else item_id, source)
    for expert in ranked:
        for item, kind, w, about in chosen[expert.employee_id]:
            name, source = index.shown[item]
            when = index.when[item]
            expert.evidence.append(
                Evidence(
                    KINDS[kind],
                    index.items[item],
                    name,
                    about,
                    None if np.isnan(when) else datetime.fromtimestamp(float(when), UTC).isoformat(),
                    w,
                    source,
                )
            )


def subjects_in(store: GraphStore, ids: Iterable[str]) -> list[str]:
    """The ids among ``ids`` that exist (for callers that collect subjects from several options)."""
    wanted = [i for i in ids if i]
    found = store.get_entities(wanted)
    return [i for i in wanted if i in found]
