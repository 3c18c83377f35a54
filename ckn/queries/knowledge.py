"""Knowledge managers: tacit holders, bus factors, and what leaves with a person.

Who holds know-how without writing it down, how many people a subject rests on, and what becomes
uncovered when someone leaves.

All three read the same evidence as the expert finder (:mod:`queries.experts`): a *knowledgeable
holder* of a subject is someone whose decayed evidence on it adds up to at least
:data:`KNOWLEDGEABLE`; a *tacit holder* is a knowledgeable holder whose evidence is almost all
behaviour (resolutions, escalations, meetings) and hardly any documents.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ckn.graph.cache import Tier, cached
from ckn.graph.errors import NotFound
from ckn.graph.expertise import KEPT_HALF_LIFE_DAYS
from ckn.graph.model import Entity, NodeKind, RelType
from ckn.graph.store import Direction, GraphStore, KnownAbout
from ckn.queries.common import require
from ckn.queries.evidence import evidence_index, kept_index
from ckn.queries.experts import (
    DEFAULT_HALF_LIFE_DAYS,
    EVIDENCE_SHOWN,
    Evidence,
    Expert,
    Ranked,
    check_subject,
    counted,
    experts,
    kept_experts_each,
)

KNOWLEDGEABLE = 2.0
"""Decayed evidence (see :data:`queries.experts.WEIGHTS`) that makes someone a holder of a subject."""
TACIT_DOCUMENTED_SHARE = 0.2
"""Most of a tacit holder's evidence is behaviour: documents make at most this share of it ..."""
TACIT_DOCUMENTED_MAX = 3.0
"""... and less than one fresh document's worth: someone who wrote several is not a tacit holder."""
SUBJECT_KINDS = (NodeKind.TOPIC, NodeKind.PRODUCT)
MAP_EVIDENCE = 3
"""Pieces of evidence the knowledge map shows per holder (``ckn holders`` shows more)."""
MAP_HOLDERS = 10
"""Holders the knowledge map shows per subject, strongest first (the count of all is given too)."""


def holders(
    store: GraphStore,
    subject_id: str,
    *,
    now: datetime,
    half_life_days: float,
    include_left: bool = False,
    evidence_shown: int = EVIDENCE_SHOWN,
    evidence_for: int | None = None,
    among: set[str] | None = None,
    known: KnownAbout | None = None,
) -> Ranked:
    """The knowledgeable holders of one subject, strongest first (``evidence_shown``: 0 for none).

    ``evidence_for``: only the first that many get their evidence; ``among``: only these colleagues;
    ``known``: its kept sums, read already (see :func:`_kept_sums`).
    """
    return experts(
        store,
        [subject_id],
        now=now,
        half_life_days=half_life_days,
        include_left=include_left,
        limit=store.limits.max_page,
        evidence_shown=evidence_shown,
        evidence_for=evidence_for,
        min_strength=KNOWLEDGEABLE,
        among=among,
        known=known,
    )


def _kept_sums(store: GraphStore, subject_ids: list[str], half_life_days: float) -> dict[str, KnownAbout]:
    """The kept sums of many subjects, read at once, when questions on them are answered from them.

    A question over every subject then reads them in one query, not one each (empty when the answers
    come from the evidence index, or at another half-life).
    """
    if half_life_days != KEPT_HALF_LIFE_DAYS or kept_index(store) is not None:
        return {}
    return store.known_about_each(subject_ids)


def is_tacit(holder: Expert) -> bool:
    """Whether a holder's evidence is (almost) all behaviour: little and few documents."""
    documented = holder.documented
    return documented <= TACIT_DOCUMENTED_SHARE * holder.strength and documented < TACIT_DOCUMENTED_MAX


@dataclass
class Holder:
    """A colleague with evidence on a subject, documents written apart from work done."""

    employee_id: str
    name: str
    score: float
    knowledgeable: bool
    """Their evidence adds up to :data:`KNOWLEDGEABLE` or more."""
    tacit: bool
    documented: float
    behavioural: float
    evidence_count: int
    documented_evidence: list[Evidence]
    behavioural_evidence: list[Evidence]


def everyone_on(
    store: GraphStore,
    subject_id: str,
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    limit: int = 20,
) -> list[Holder]:
    """Everyone with evidence on a subject, strongest first, documented and behavioural evidence apart."""
    ranked = experts(store, [subject_id], now=now, half_life_days=half_life_days, limit=limit)
    return [
        Holder(
            e.employee_id,
            e.name,
            e.score,
            e.strength >= KNOWLEDGEABLE,
            e.strength >= KNOWLEDGEABLE and is_tacit(e),
            e.documented,
            round(e.strength - e.documented, 4),
            e.evidence_count,
            [ev for ev in e.evidence if ev.kind == "authored"],
            [ev for ev in e.evidence if ev.kind != "authored"],
        )
        for e in ranked
    ]


def _subjects(store: GraphStore, kinds: tuple[NodeKind, ...]) -> dict[str, Entity]:
    """Every entity of these kinds, by id: kind by kind, each in id order."""
    found: dict[str, Entity] = {}
    for kind in kinds:
        after = ""
        while page := store.list_entities(kind, after=after, limit=store.limits.max_page):
            found.update((e.id, e) for e in page)
            after = page[-1].id
    return found


@dataclass
class TacitHolder:
    """Someone who knows a subject by doing, not by writing: document this next."""

    subject_id: str
    subject_name: str
    employee_id: str
    name: str
    behavioural: float
    documented: float
    evidence_count: int
    evidence: list[Evidence]


def tacit_holders(
    store: GraphStore,
    subject_id: str | None = None,
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    limit: int = 50,
) -> list[TacitHolder]:
    """Knowledgeable holders whose evidence is (almost) all behaviour, strongest behaviour first."""
    store.limits.check_page(limit)
    now = now or datetime.now(UTC)
    read = store.get_entities([subject_id]) if subject_id else _subjects(store, SUBJECT_KINDS)
    names = {sid: e.name for sid, e in read.items()}
    subjects = [subject_id] if subject_id else list(read)
    if subject_id:
        check_subject(subject_id, read.get(subject_id))
    _index_ready(store)
    deadline = store.limits.deadline()
    # scores first, without evidence; the evidence only for the holders listed
    scored: list[tuple[float, str, str]] = []
    sums = _kept_sums(store, subjects, half_life_days)
    for sid in subjects:
        deadline.check()
        ranked = holders(
            store, sid, now=now, half_life_days=half_life_days, evidence_shown=0, known=sums.get(sid)
        )
        for holder in ranked:
            if is_tacit(holder):
                scored.append((-round(holder.strength - holder.documented, 4), sid, holder.employee_id))
    listed: dict[str, set[str]] = defaultdict(set)
    for _, sid, employee in sorted(scored)[:limit]:
        listed[sid].add(employee)
    found = []
    for sid, employees in listed.items():
        deadline.check()
        shown = holders(
            store, sid, now=now, half_life_days=half_life_days, among=employees, known=sums.get(sid)
        )
        for holder in shown:
            found.append(
                TacitHolder(
                    sid,
                    names[sid],
                    holder.employee_id,
                    holder.name,
                    round(holder.strength - holder.documented, 4),
                    holder.documented,
                    holder.evidence_count,
                    holder.evidence,
                )
            )
    found.sort(key=lambda t: (-t.behavioural, t.subject_id, t.employee_id))
    return found[:limit]


@dataclass
class BusFactor:
    """How many people a subject rests on: their departure leaves nobody who knows it."""

    subject_id: str
    subject_name: str
    bus_factor: int
    holders: list[str]
    holder_names: list[str]


def bus_factor(
    store: GraphStore,
    subject_id: str,
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    known: KnownAbout | None = None,
    subject: Entity | None = None,
) -> BusFactor:
    """The bus factor of one product, topic or customer (0: nobody knows it now).

    ``known``: its kept sums, read already (see :func:`_kept_sums`); ``subject``: it, read already.
    """
    now = now or datetime.now(UTC)
    subject = subject or store.get_entity(subject_id)
    if subject is None:
        raise NotFound(f"no entity with id {subject_id!r}", entity_id=subject_id)
    found = holders(store, subject_id, now=now, half_life_days=half_life_days, evidence_shown=0, known=known)
    return BusFactor(
        subject_id, subject.name, len(found), [h.employee_id for h in found], [h.name for h in found]
    )


def at_risk(
    store: GraphStore,
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    limit: int = 50,
) -> list[BusFactor]:
    """Topics and products with a bus factor of 1 (one person away from lost know-how)."""
    store.limits.check_page(limit)
    now = now or datetime.now(UTC)
    subjects = _subjects(store, SUBJECT_KINDS)
    sums = _kept_sums(store, list(subjects), half_life_days)
    found = []
    for sid, subject in subjects.items():
        known = sums.get(sid)
        if known is not None and counted(known, now, KNOWLEDGEABLE) not in (None, 1):
            continue  # counted from its kept sums: not one holder
        found.append(
            bus_factor(store, sid, now=now, half_life_days=half_life_days, known=known, subject=subject)
        )
    return [b for b in found if b.bus_factor == 1][:limit]


@dataclass
class Loss:
    """One subject or account a departure leaves without a knowledgeable holder, and who could take it."""

    subject_id: str
    subject_name: str
    kind: str
    remaining_holders: list[str]
    successors: list[dict[str, object]] = field(default_factory=list)


def departure_impact(
    store: GraphStore,
    employee_id: str,
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    successors: int = 3,
) -> list[Loss]:
    """What becomes uncovered if ``employee_id`` leaves, with suggested successors for each item.

    Successors are colleagues one step away, in this order: weaker evidence on the same subject,
    holders of an adjacent topic (parent or sub-topic), co-authors of the leaver's documents, and
    colleagues who worked with the same customers.
    """
    now = now or datetime.now(UTC)
    require(store, employee_id, NodeKind.EMPLOYEE)
    work = store.expand(
        [employee_id],
        types=[RelType.AUTHORED, RelType.RESOLVED, RelType.PARTICIPATED_IN],
        direction=Direction.OUT,
    )
    items = sorted({h.target for h in work})
    about = store.expand(items, types=[RelType.ABOUT], direction=Direction.OUT)
    owned = store.expand([employee_id], types=[RelType.OWNS_ACCOUNT], direction=Direction.OUT)
    candidates = sorted({h.target for h in about} | {h.target for h in owned})
    entities = store.get_entities(candidates)
    colleagues: list[dict[str, object]] | None = None  # found when the first loss needs them
    losses = []
    subjects = [
        sid
        for sid in candidates
        if sid in entities and entities[sid].kind in (*SUBJECT_KINDS, NodeKind.CUSTOMER)
    ]
    sums = _kept_sums(store, subjects, half_life_days)
    for sid in subjects:
        strong = holders(
            store, sid, now=now, half_life_days=half_life_days, evidence_shown=0, known=sums.get(sid)
        )
        if employee_id not in {e.employee_id for e in strong}:
            continue  # they were not a holder of it
        remaining = [e.employee_id for e in strong if e.employee_id != employee_id]
        if remaining:
            continue
        everyone = experts(
            store,
            [sid],
            now=now,
            half_life_days=half_life_days,
            limit=store.limits.max_page,
            evidence_shown=0,
        )
        weaker = [
            {"employee_id": e.employee_id, "name": e.name, "why": "some evidence on it", "score": e.score}
            for e in everyone
            if e.employee_id != employee_id
        ]
        if colleagues is None:
            colleagues = _close_colleagues(store, employee_id, items)
        losses.append(
            Loss(
                sid,
                entities[sid].name,
                entities[sid].kind.value,
                remaining,
                _unique(weaker + _neighbours(store, sid, employee_id, now, half_life_days) + colleagues)[
                    :successors
                ],
            )
        )
    return losses


def _unique(found: list[dict[str, object]]) -> list[dict[str, object]]:
    seen: set[object] = set()
    kept = []
    for successor in found:
        if successor["employee_id"] not in seen:
            seen.add(successor["employee_id"])
            kept.append(successor)
    return kept


def _close_colleagues(store: GraphStore, leaving: str, items: list[str]) -> list[dict[str, object]]:
    """Co-authors of the leaver's documents, then colleagues who met the same customers, most shared first."""
    entities = store.get_entities(items)
    documents = [i for i in items if i in entities and entities[i].kind is NodeKind.KNOWLEDGE_ITEM]
    coauthors: dict[str, int] = defaultdict(int)
    for hop in store.expand(documents, types=[RelType.AUTHORED], direction=Direction.IN):
        if hop.source != leaving:
            coauthors[hop.source] += 1
    meetings = [i for i in items if i in entities and entities[i].kind is NodeKind.INTERACTION]
    customers = {
        h.source for h in store.expand(meetings, types=[RelType.PARTICIPATED_IN], direction=Direction.IN)
    }
    their = store.get_entities(sorted(customers))
    customer_ids = [c for c in customers if c in their and their[c].kind is NodeKind.CUSTOMER]
    shared: dict[str, int] = defaultdict(int)
    others = store.expand(customer_ids, types=[RelType.PARTICIPATED_IN], direction=Direction.OUT)
    for hop in store.expand(
        sorted({h.target for h in others}), types=[RelType.PARTICIPATED_IN], direction=Direction.IN
    ):
        shared[hop.source] += 1
    people = store.get_entities(sorted(set(coauthors) | set(shared)))
    found: list[dict[str, object]] = []
    for source, why in (
        (coauthors, "co-wrote documents with them"),
        (shared, "works with the same customers"),
    ):
        for eid, count in sorted(source.items(), key=lambda kv: (-kv[1], kv[0])):
            person = people.get(eid)
            if eid != leaving and person is not None and person.kind is NodeKind.EMPLOYEE:
                found.append({"employee_id": eid, "name": person.name, "why": why, "score": float(count)})
    return found


def _neighbours(
    store: GraphStore, subject_id: str, leaving: str, now: datetime, half_life: float
) -> list[dict[str, object]]:
    """Holders of adjacent topics (parent and sub-topics), strongest first."""
    adjacent = sorted(
        {
            h.source if h.target == subject_id else h.target
            for h in store.expand([subject_id], types=[RelType.SUBTOPIC_OF], direction=Direction.BOTH)
        }
    )
    found: dict[str, dict[str, object]] = {}
    names = store.get_entities(adjacent)
    for topic in adjacent:
        named = names[topic].name if topic in names else topic
        for e in experts(store, [topic], now=now, half_life_days=half_life, limit=10, evidence_shown=0):
            if e.employee_id != leaving and e.employee_id not in found and not e.left:
                found[e.employee_id] = {
                    "employee_id": e.employee_id,
                    "name": e.name,
                    "why": f"knows the adjacent topic {named}",
                    "score": e.score,
                }
    return sorted(found.values(), key=lambda s: (-float(s["score"]), str(s["employee_id"])))  # type: ignore[arg-type]


def knowledge_map(
    store: GraphStore,
    *,
    department: str | None = None,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    top: int = MAP_HOLDERS,
) -> list[dict[str, Any]]:
    """Topics and products × their knowledgeable holders, behavioural and documented evidence apart.

    Each subject lists its ``top`` strongest holders and how many there are in all
    (``holders_total``); ``department`` (id or name) keeps only the holders who are members of it.
    """
    store.limits.check_page(top)
    now = now or datetime.now(UTC)
    members: set[str] | None = None
    if department:
        depts = [
            d
            for d in store.list_entities(NodeKind.DEPARTMENT, limit=store.limits.max_page)
            if department in (d.id, d.name) or department.casefold() in d.name.casefold()
        ]
        if not depts:
            raise NotFound(f"no department called {department!r}")
        members = {
            h.source
            for h in store.expand([d.id for d in depts], types=[RelType.MEMBER_OF], direction=Direction.IN)
        }
    rows = []
    _index_ready(store)
    deadline = store.limits.deadline()
    subjects = _subjects(store, SUBJECT_KINDS)
    sums = _kept_sums(store, list(subjects), half_life_days)
    kept = kept_experts_each(
        store,
        sums,
        now=now,
        include_left=False,
        limit=top,
        evidence_shown=MAP_EVIDENCE,
        evidence_for=top,
        min_strength=KNOWLEDGEABLE,
        among=members,
    )
    for sid in sorted(subjects):
        deadline.check()
        found = kept.get(sid)
        if found is None:  # no kept sums to answer from (or a question about a past day)
            found = holders(
                store,
                sid,
                now=now,
                half_life_days=half_life_days,
                evidence_shown=MAP_EVIDENCE,
                evidence_for=top,
                among=members,
                known=sums.get(sid),
            )
        if not found:
            continue
        rows.append(
            {
                "subject_id": sid,
                "subject_name": subjects[sid].name,
                "kind": subjects[sid].kind.value,
                "holders_total": found.total,
                "holders": [
                    {
                        "employee_id": h.employee_id,
                        "name": h.name,
                        "behavioural": round(h.strength - h.documented, 4),
                        "documented": h.documented,
                        "evidence": [
                            {"kind": e.kind, "item_id": e.item_id, "item_name": e.item_name, "when": e.when}
                            for e in h.evidence
                        ],
                    }
                    for h in found[:top]
                ],
            }
        )
    return rows


def _index_ready(store: GraphStore) -> None:
    """Bring the embedded store's evidence index up to date before a request's clock starts.

    Requests over every subject need it; Neo4j reads each subject's evidence in the database instead.
    """
    if not store.answers_in_place:
        evidence_index(store)


def gaps(store: GraphStore, *, limit: int = 50) -> list[dict[str, object]]:
    """Topics customers ask or complain about (feedback, tickets) that no knowledge item covers.

    Most asked first; a complaint counts twice. Aggregated by the store (:meth:`GraphStore.unmet_demand`),
    remembered until the next write.
    """
    store.limits.check_page(limit)

    def aggregate() -> list[dict[str, object]]:
        found = [
            {
                "topic_id": d.topic_id,
                "name": d.name,
                "demand": d.asked + d.complaints,
                "asked": d.asked,
                "complaints": d.complaints,
                "examples": list(d.examples),
            }
            for d in store.unmet_demand()
        ]
        return sorted(found, key=lambda g: (-int(str(g["demand"])), str(g["topic_id"])))

    found: list[dict[str, object]] = cached(store, ("knowledge-gaps",), aggregate, Tier.ANSWER)
    return found[:limit]


def _gaps(store: GraphStore) -> list[dict[str, object]]:
    """The oracle of :func:`gaps`: every topic, item and ``ABOUT`` relation read as streams."""
    topics: dict[str, str] = {}
    documents: set[str] = set()
    asked: dict[str, bool] = {}  # feedback and tickets -> whether a complaint
    kinds = [NodeKind.TOPIC, NodeKind.INTERACTION, NodeKind.FEEDBACK, NodeKind.KNOWLEDGE_ITEM]
    for item, kind, name, values in store.scan_entities(kinds=kinds, fields=("channel", "feedback_kind")):
        if kind == NodeKind.TOPIC.value:
            topics[item] = name
        elif kind == NodeKind.KNOWLEDGE_ITEM.value:
            documents.add(item)
        elif kind == NodeKind.FEEDBACK.value or values.get("channel") == "ticket":
            asked[item] = values.get("feedback_kind") == "complaint"
    documented: set[str] = set()
    demand: dict[str, list[str]] = {}  # topic -> the items asking about it, once per relation
    for item, topic, _ in store.scan_relations(types=[RelType.ABOUT]):
        if topic in topics:
            if item in documents:
                documented.add(topic)
            elif item in asked:
                demand.setdefault(topic, []).append(item)
    found: list[dict[str, Any]] = []
    for topic, items in demand.items():
        if topic in documented:
            continue
        complaints = sum(asked[i] for i in items)
        found.append(
            {
                "topic_id": topic,
                "name": topics[topic],
                "demand": len(items) + complaints,
                "asked": len(items),
                "complaints": complaints,
                "examples": sorted(set(items))[:5],
            }
        )
    found.sort(key=lambda g: (-int(g["demand"]), str(g["topic_id"])))
    return found


@dataclass
class TopicRow:
    """A topic with what is said about it and where it came from."""

    id: str
    name: str
    discovered: bool
    """Found in text (``ingest.discovery``) rather than named by master data."""
    documents: int
    """Knowledge items about it: its document frequency."""
    items: int
    """Documents, interactions and feedback about it."""
    aliases: list[str]
    broader: list[dict[str, str]]
    """The topics it is a part of (``SUBTOPIC_OF``)."""
    confidence: float | None
    """A discovered topic's confidence (master-data topics have none)."""


def topics(
    store: GraphStore, *, discovered: bool = False, min_docs: int = 0, limit: int = 100
) -> list[TopicRow]:
    """Topics, most documented first: their document counts, aliases, broader topics, and origin.

    ``discovered``: only those found in text. ``min_docs``: only those at least this many documents
    are about.
    """
    store.limits.check_page(limit)

    def listing() -> list[TopicRow]:
        use = {u.topic_id: u for u in store.topic_use()}
        entities = store.get_entities(sorted(use))
        broader: dict[str, list[str]] = defaultdict(list)
        for hop in store.expand(sorted(use), types=[RelType.SUBTOPIC_OF], direction=Direction.OUT):
            broader[hop.source].append(hop.target)
        rows = []
        for topic_id, topic in entities.items():
            confidence = topic.props.get("confidence")
            aliases = topic.props.get("aliases")
            rows.append(
                TopicRow(
                    id=topic_id,
                    name=topic.name,
                    discovered=bool(topic.props.get("discovered")),
                    documents=use[topic_id].documents,
                    items=use[topic_id].items,
                    aliases=sorted(str(a) for a in aliases if a != topic.name)
                    if isinstance(aliases, list)
                    else [],
                    broader=[
                        {"id": b, "name": entities[b].name}
                        for b in sorted(broader[topic_id])
                        if b in entities
                    ],
                    confidence=float(confidence) if isinstance(confidence, int | float) else None,
                )
            )
        return sorted(rows, key=lambda r: (-r.documents, -r.items, r.name, r.id))

    rows: list[TopicRow] = cached(store, ("topics",), listing, Tier.ANSWER)
    return [r for r in rows if r.documents >= min_docs and (r.discovered or not discovered)][:limit]
