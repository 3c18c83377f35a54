"""Sales: who in our company knows this customer personally, and who can introduce me.

Relationship strength between a colleague and a customer comes from the interactions they shared:
how many (frequency), how recent (each decays with a half-life), which way they went (reciprocity:
both inbound and outbound beats one-way) and how deep the channel was (a visit or meeting counts more
than an e-mail). Owning the account adds to it. Warm introductions are paths from a colleague to the
customer through colleagues and customers, ranked by their weakest tie.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ckn.graph.expertise import moment
from ckn.graph.model import Entity, NodeKind, RelType
from ckn.graph.store import Direction, GraphStore
from ckn.queries.common import require
from ckn.queries.experts import DEFAULT_HALF_LIFE_DAYS, has_left

CHANNEL_DEPTH = {
    "visit": 3.0,
    "meeting": 3.0,
    "call": 2.0,
    "ticket": 1.5,
    "chat": 1.0,
    "email": 1.0,
    "purchase": 1.0,
}
"""How much one interaction on each channel says about a relationship."""
OWNER_BONUS = 3.0
TIE_TYPES = (
    RelType.KNOWS,
    RelType.REPORTS_TO,
    RelType.OWNS_ACCOUNT,
    RelType.WORKS_AT,
    RelType.PARTICIPATED_IN,
    RelType.REFERRED,
)
STRUCTURAL_TIES = {
    RelType.OWNS_ACCOUNT: 3.0,
    RelType.REPORTS_TO: 2.0,
    RelType.WORKS_AT: 2.0,
    RelType.REFERRED: 1.5,
}


def _when(entity: Entity) -> datetime | None:
    return moment(entity.props, "occurred_at")


@dataclass
class Relationship:
    """How well a colleague knows a customer, and why."""

    employee_id: str
    name: str
    strength: float = 0.0
    interactions: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    reciprocity: float = 0.0
    owner: bool = False
    last_interaction: dict[str, Any] | None = None


def _strengths(
    store: GraphStore, customer_id: str, now: datetime, half_life_days: float
) -> dict[str, Relationship]:
    shared = store.expand([customer_id], types=[RelType.PARTICIPATED_IN], direction=Direction.OUT)
    interactions = store.get_entities(sorted({h.target for h in shared}))
    people = store.expand(list(interactions), types=[RelType.PARTICIPATED_IN], direction=Direction.IN)
    owners = {
        h.source for h in store.expand([customer_id], types=[RelType.OWNS_ACCOUNT], direction=Direction.IN)
    }
    employees = {
        e.id: e
        for e in store.get_entities(sorted({h.source for h in people} | owners)).values()
        if e.kind is NodeKind.EMPLOYEE and not has_left(e, now)
    }
    found: dict[str, Relationship] = {
        eid: Relationship(eid, e.name, owner=eid in owners) for eid, e in employees.items()
    }
    directions: dict[str, set[str]] = defaultdict(set)
    raw: dict[str, float] = defaultdict(float)
    for hop in people:
        rel = found.get(hop.source)
        item = interactions.get(hop.target)
        if rel is None or item is None:
            continue
        channel = str(item.props.get("channel", "email"))
        when = _when(item)
        age = (now - when).total_seconds() / 86_400 if when else half_life_days
        raw[hop.source] += CHANNEL_DEPTH.get(channel, 1.0) * math.pow(0.5, max(age, 0.0) / half_life_days)
        rel.interactions += 1
        rel.channels[channel] = rel.channels.get(channel, 0) + 1
        directions[hop.source].add(str(item.props.get("direction", "")))
        last = rel.last_interaction
        if last is None or (when and (last["when"] or "") < when.isoformat()):
            rel.last_interaction = {
                "id": item.id,
                "name": item.name,
                "channel": channel,
                "when": when.isoformat() if when else None,
            }
    for eid, rel in found.items():
        both = {"inbound", "outbound"} <= directions[eid]
        rel.reciprocity = 1.0 if both else 0.5 if rel.interactions else 0.0
        rel.strength = round(
            raw[eid] * (0.75 + 0.25 * rel.reciprocity) + (OWNER_BONUS if rel.owner else 0.0), 4
        )
        rel.channels = dict(sorted(rel.channels.items()))
    return found


def who_knows(
    store: GraphStore,
    customer_id: str,
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    limit: int = 20,
) -> list[Relationship]:
    """Colleagues ranked by relationship strength with a customer, with the last interaction."""
    store.limits.check_page(limit)
    require(store, customer_id, NodeKind.CUSTOMER)
    found = _strengths(store, customer_id, now or datetime.now(UTC), half_life_days)
    return sorted(found.values(), key=lambda r: (-r.strength, r.employee_id))[:limit]


def _interaction_tie(
    store: GraphStore,
    a: str,
    c: str,
    kinds: dict[str, Entity],
    strengths: dict[str, dict[str, Relationship]],
    now: datetime,
    half_life_days: float,
) -> dict[str, Any]:
    """The tie between two people who took part in the same interaction."""
    pair = {kinds[a].kind: a, kinds[c].kind: c} if a in kinds and c in kinds else {}
    person, customer = pair.get(NodeKind.EMPLOYEE), pair.get(NodeKind.CUSTOMER)
    if person is None or customer is None:  # two colleagues, or two customers, met together
        return {"from": a, "to": c, "via": "shared interaction", "strength": 1.0, "last_interaction": None}
    if customer not in strengths:
        strengths[customer] = _strengths(store, customer, now, half_life_days)
    rel = strengths[customer].get(person)
    return {
        "from": a,
        "to": c,
        "via": "interactions",
        "strength": rel.strength if rel else 0.0,
        "last_interaction": rel.last_interaction if rel else None,
    }


def warm_intros(
    store: GraphStore,
    employee_id: str,
    customer_id: str,
    *,
    max_depth: int = 4,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """Introduction paths from a colleague to a customer, strongest weakest tie first.

    A step through an interaction (colleague, interaction, customer) is one tie, as strong as their
    relationship; ``KNOWS`` ties weigh their ``strength`` (1 when unknown); owning an account, reporting
    to someone, working at an organisation and referring are ties of fixed strength.
    """
    store.limits.check_page(limit)
    now = now or datetime.now(UTC)
    paths = store.paths(
        employee_id, customer_id, max_depth=max_depth, types=TIE_TYPES, limit=store.limits.max_page
    )
    kinds = {e.id: e for e in store.get_entities(sorted({n for p in paths for n in p.nodes})).values()}
    strengths: dict[str, dict[str, Relationship]] = {}
    answers = []
    for path in paths:
        ties: list[dict[str, Any]] = []
        nodes = list(path.nodes)
        i = 0
        while i < len(path.hops):
            hop = path.hops[i]
            a, b = nodes[i], nodes[i + 1]
            if kinds.get(b) is not None and kinds[b].kind is NodeKind.INTERACTION and i + 1 < len(path.hops):
                c = nodes[i + 2]
                ties.append(_interaction_tie(store, a, c, kinds, strengths, now, half_life_days))
                i += 2
                continue
            if hop.type is RelType.KNOWS:
                props = store.get_relations_by_id([hop.relation_id]).get(hop.relation_id)
                value = (props.props.get("strength") or props.props.get("weight")) if props else None
                strength = float(value) if isinstance(value, int | float) else 1.0
            else:
                strength = STRUCTURAL_TIES.get(hop.type, 1.0)
            ties.append(
                {"from": a, "to": b, "via": hop.type.value, "strength": strength, "last_interaction": None}
            )
            i += 1
        if ties:
            weakest = min(t["strength"] for t in ties)
            answers.append(
                {
                    "nodes": nodes,
                    "names": [kinds[n].name if n in kinds else n for n in nodes],
                    "weakest_tie": round(weakest, 4),
                    "ties": ties,
                }
            )
    answers.sort(key=lambda a: (-a["weakest_tie"], len(a["nodes"]), a["nodes"]))
    unique: dict[tuple[str, ...], dict[str, Any]] = {}
    for answer in answers:  # the same people reached over other ties or interactions: the strongest only
        people = tuple(
            n for n in answer["nodes"] if kinds.get(n) is None or kinds[n].kind is not NodeKind.INTERACTION
        )
        unique.setdefault(people, answer)
    return list(unique.values())[:limit]
