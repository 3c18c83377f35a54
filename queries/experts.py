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

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from graph.errors import InvalidInput, NotFound
from graph.model import Entity, NodeKind, RelType
from graph.store import Direction, GraphStore
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
DEFAULT_HALF_LIFE_DAYS = 365.0
_DEEP_CHANNELS = frozenset({"meeting", "visit"})
_ACTS = (RelType.AUTHORED, RelType.RESOLVED, RelType.PARTICIPATED_IN)


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


def _date(entity: Entity) -> datetime | None:
    return moment(entity.props, "occurred_at", "submitted_at", "created_at")


def _decayed(weight: float, when: datetime | None, now: datetime, half_life_days: float) -> float:
    age_days = (now - when).total_seconds() / 86_400 if when else half_life_days  # undated: one half-life
    return weight * math.pow(0.5, max(age_days, 0.0) / half_life_days)


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() in {"true", "yes", "1", "是", "y"}


def has_left(employee: Entity, now: datetime) -> bool:
    """Whether an employee's ``left_at`` is in the past."""
    left_at = moment(employee.props, "left_at")
    return left_at is not None and left_at <= now


def _evidence_for_subject(store: GraphStore, subject: Entity) -> list[tuple[str, str, str]]:
    """(employee id, kind of evidence, item id) for one subject."""
    found: list[tuple[str, str, str]] = []
    about = store.expand([subject.id], types=[RelType.ABOUT], direction=Direction.IN)
    items = sorted({h.source for h in about})
    if subject.kind is NodeKind.CUSTOMER:
        # interactions the customer took part in, feedback they gave, documents delivered to them
        mine = store.expand(
            [subject.id], types=[RelType.PARTICIPATED_IN, RelType.SUBMITTED], direction=Direction.OUT
        )
        delivered = store.expand([subject.id], types=[RelType.DELIVERED_TO], direction=Direction.IN)
        items = sorted({*items, *(h.target for h in mine), *(h.source for h in delivered)})
        owners = store.expand([subject.id], types=[RelType.OWNS_ACCOUNT], direction=Direction.IN)
        found += [(h.source, "owns_account", subject.id) for h in owners]
    for hop in store.expand(items, types=_ACTS, direction=Direction.IN):
        kind = {RelType.AUTHORED: "authored", RelType.RESOLVED: "resolved"}.get(hop.type, "interaction")
        found.append((hop.source, kind, hop.target))
    for hop in store.expand(items, types=[RelType.ESCALATED_TO], direction=Direction.OUT):
        found.append((hop.target, "escalation_answered", hop.source))
    return found


def experts(
    store: GraphStore,
    subject_ids: Sequence[str],
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    include_left: bool = False,
    limit: int = 10,
) -> list[Expert]:
    """Colleagues ranked by decayed, weighted evidence about all of ``subject_ids``, with the evidence.

    Raises:
        NotFound: a subject does not exist.
        InvalidInput: no subject, or a subject that is not a product, topic or customer.

    """
    store.limits.check_page(limit)
    if not subject_ids:
        raise InvalidInput("name at least one product, topic or customer")
    now = now or datetime.now(UTC)
    subjects = store.get_entities(list(dict.fromkeys(subject_ids)))
    for sid in subject_ids:
        if sid not in subjects:
            raise NotFound(f"no entity with id {sid!r}", entity_id=sid)
        if subjects[sid].kind not in {NodeKind.PRODUCT, NodeKind.TOPIC, NodeKind.CUSTOMER}:
            raise InvalidInput(
                f"{sid} is a {subjects[sid].kind.value}; ask about a product, topic or customer"
            )

    raw = [(sid, *row) for sid, subject in subjects.items() for row in _evidence_for_subject(store, subject)]
    entities = store.get_entities(sorted({r[1] for r in raw} | {r[3] for r in raw}))
    by_person: dict[str, Expert] = {}
    best: dict[tuple[str, str], Evidence] = {}  # one piece of evidence per person and item
    for subject_id, person_id, act, item_id in raw:
        person, item = entities.get(person_id), entities.get(item_id)
        if person is None or item is None or person.kind is not NodeKind.EMPLOYEE:
            continue
        if _truthy(person.props.get("expertise_opt_out")):
            continue
        kind = "meeting" if act == "interaction" and item.props.get("channel") in _DEEP_CHANNELS else act
        when = _date(item)
        weight = round(_decayed(WEIGHTS[kind], when, now, half_life_days), 4)
        previous = best.get((person_id, item_id))
        subjects_seen = tuple(sorted({subject_id, *(previous.subject_ids if previous else ())}))
        if previous is None or previous.weight < weight:
            source = next((p.source_id for p in item.provenance), "")
            best[(person_id, item_id)] = Evidence(
                kind, item.id, item.name, subjects_seen, when.isoformat() if when else None, weight, source
            )
        else:
            best[(person_id, item_id)] = Evidence(
                previous.kind,
                previous.item_id,
                previous.item_name,
                subjects_seen,
                previous.when,
                previous.weight,
                previous.source_id,
            )
        by_person.setdefault(person_id, Expert(person_id, person.name, left=has_left(person, now)))
    for (person_id, _), evidence in best.items():
        by_person[person_id].evidence.append(evidence)

    ranked = [e for e in by_person.values() if include_left or not e.left]
    _score(store, ranked, list(subjects))
    ranked.sort(key=lambda e: (-e.score, e.employee_id))
    return ranked[:limit]


def _score(store: GraphStore, people: list[Expert], subjects: list[str]) -> None:
    """Score = log(1 + evidence), times the squared share of subjects covered, times focus on them.

    Covering every subject asked matters more than depth on one; among those who cover them, people
    whose work is about them (focus) beat people who do everything.
    """
    if not people:
        return
    work = store.expand([p.employee_id for p in people], types=_ACTS, direction=Direction.OUT)
    total_items: dict[str, set[str]] = defaultdict(set)
    for hop in work:
        total_items[hop.source].add(hop.target)
    for person in people:
        person.evidence.sort(key=lambda e: (-e.weight, e.item_id))
        person.subjects = sorted({s for e in person.evidence for s in e.subject_ids})
        on_subject = {e.item_id for e in person.evidence}
        everything = total_items.get(person.employee_id, set()) | on_subject
        person.focus = round(len(on_subject) / len(everything), 4) if everything else 1.0
        coverage = len(person.subjects) / len(subjects)
        strength = sum(e.weight for e in person.evidence)
        person.score = round(math.log1p(strength) * coverage**2 * (0.5 + 0.5 * person.focus), 4)


def subjects_in(store: GraphStore, ids: Iterable[str]) -> list[str]:
    """The ids among ``ids`` that exist (for callers that collect subjects from several options)."""
    wanted = [i for i in ids if i]
    found = store.get_entities(wanted)
    return [i for i in wanted if i in found]
