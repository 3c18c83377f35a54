"""Everyone: the customer 360, a hand-over dossier of one customer.

Identity, channels, needs (what they asked and complained about), behaviour (interactions,
purchases), value, owners past and present, open complaints, knowledge delivered to them, the
colleagues who know them, and a completeness score over the five levels of a customer record
(identity, channels, needs, behaviour, value) with what is missing.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from ckn.graph.errors import NotFound
from ckn.graph.model import NodeKind, RelType
from ckn.graph.store import GraphStore
from ckn.queries.common import checked
from ckn.queries.experts import DEFAULT_HALF_LIFE_DAYS, experts

LEVELS = ("identity", "channels", "needs", "behaviour", "value")


def _when(props: dict[str, Any]) -> str:
    return str(props.get("occurred_at") or props.get("submitted_at") or props.get("created_at") or "")


def customer_360(
    store: GraphStore,
    customer_id: str,
    *,
    now: datetime | None = None,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> dict[str, Any]:
    """The dossier of one customer.

    Raises:
        NotFound: no such entity.
        InvalidInput: the entity is not a customer.

    """
    now = now or datetime.now(UTC)
    read = store.customer_around(customer_id)
    if read is None:
        raise NotFound(f"no entity with id {customer_id!r}", entity_id=customer_id)
    me = checked(read.customer, customer_id, NodeKind.CUSTOMER)
    hops, relations, others = read.hops, read.relations, read.entities

    def linked(rtype: RelType, outgoing: bool) -> list[tuple[Any, Any]]:
        found = []
        for hop in hops:
            if hop.type is rtype and (hop.source == customer_id) == outgoing:
                other = others.get(hop.target if outgoing else hop.source)
                if other is not None:
                    found.append((other, relations.get(hop.relation_id)))
        return sorted(found, key=lambda pair: pair[0].id)

    interactions = [e for e, _ in linked(RelType.PARTICIPATED_IN, True)]
    feedback = [e for e, _ in linked(RelType.SUBMITTED, True)]
    mine = {f.id for f in feedback}
    resolved = {h.target for h in read.around if h.type is RelType.RESOLVED and h.target in mine}
    about = {h.target for h in read.around if h.type is RelType.ABOUT}
    subjects = {s: others[s] for s in about if s in others}
    purchases = [(p, r) for p, r in linked(RelType.PURCHASED, True)]
    owners = [
        {
            "employee_id": e.id,
            "name": e.name,
            "from": r.valid_from.isoformat() if r and r.valid_from else None,
            "to": r.valid_to.isoformat() if r and r.valid_to else None,
            "current": not (r and r.valid_to and r.valid_to <= now),
        }
        for e, r in linked(RelType.OWNS_ACCOUNT, False)
    ]
    emails, phones = me.props.get("emails") or [], me.props.get("phones") or []
    purchase_total = sum(float(r.props.get("amount") or 0) for _, r in purchases if r)
    value = me.props.get("lifetime_value")
    dossier: dict[str, Any] = {
        "identity": {
            "id": me.id,
            "name": me.name,
            "kind": me.props.get("customer_kind"),
            "external_ids": me.props.get("external_ids") or [],
            "organization": [{"id": o.id, "name": o.name} for o, _ in linked(RelType.WORKS_AT, True)],
            "people": [{"id": p.id, "name": p.name} for p, _ in linked(RelType.WORKS_AT, False)],
            "sources": sorted({p.source_id for p in me.provenance}),
        },
        "channels": {
            "emails": emails,
            "phones": phones,
            "city": me.props.get("city"),
            "used": dict(sorted(Counter(str(i.props.get("channel", "")) for i in interactions).items())),
        },
        "needs": {
            "feedback": [
                {
                    "id": f.id,
                    "kind": f.props.get("feedback_kind"),
                    "rating": f.props.get("rating"),
                    "text": f.props.get("text"),
                    "when": _when(f.props),
                    "resolved": f.id in resolved,
                }
                for f in feedback
            ],
            "subjects": sorted({s.name for s in subjects.values()}),
        },
        "behaviour": {
            "interactions": len(interactions),
            "last_interaction": max((_when(i.props) for i in interactions), default=None) or None,
            "purchases": [
                {
                    "product": p.name,
                    "amount": r.props.get("amount") if r else None,
                    "at": r.props.get("at") if r else None,
                }
                for p, r in purchases
            ],
        },
        "value": {"lifetime_value": value, "purchases_total": purchase_total},
        "owners": owners,
        "open_complaints": [
            f.id for f in feedback if f.props.get("feedback_kind") == "complaint" and f.id not in resolved
        ],
        "knowledge_delivered": [{"id": k.id, "name": k.name} for k, _ in linked(RelType.DELIVERED_TO, False)],
        "colleagues": [
            {"employee_id": e.employee_id, "name": e.name, "score": e.score}
            for e in experts(store, [customer_id], now=now, half_life_days=half_life_days, limit=5)
        ],
    }
    present = {
        "identity": bool(me.name) and bool(emails or phones or me.props.get("external_ids")),
        "channels": bool(emails or phones),
        "needs": bool(feedback or subjects),
        "behaviour": bool(interactions or purchases),
        "value": value is not None or purchase_total > 0,
    }
    dossier["completeness"] = {
        "score": sum(present.values()),
        "of": len(LEVELS),
        "missing": [level for level in LEVELS if not present[level]],
    }
    return dossier
