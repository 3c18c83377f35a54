"""Referral chains: who brought a customer in, and whom a customer brought in."""

from __future__ import annotations

from dataclasses import dataclass

from graph.errors import NotFound
from graph.model import RelType
from graph.store import Direction, GraphStore


@dataclass(frozen=True)
class Downstream:
    """Everyone a customer's referrals reached, within the depth asked."""

    customer_id: str
    direct: list[str]
    indirect: list[str]
    lifetime_value: float


def referral_chain(store: GraphStore, customer_id: str, *, max_depth: int = 6) -> list[str]:
    """The chain of referrers above a customer, nearest first, up to ``max_depth`` steps.

    Where several customers are said to have referred one, the best-attested referral wins (the
    highest confidence of its evidence, then the most pieces of evidence, then the smallest id). Stops
    at a customer nobody referred, or where the chain would loop back on itself.
    """
    store.limits.check_depth(max_depth)
    if store.get_entity(customer_id) is None:
        raise NotFound(f"no entity with id {customer_id!r}", entity_id=customer_id)
    chain: list[str] = []
    seen = {customer_id}
    current = customer_id
    for _ in range(max_depth):
        referrers = sorted(
            h.source for h in store.expand([current], types=[RelType.REFERRED], direction=Direction.IN)
        )
        if not referrers or referrers[0] in seen:
            break
        current = referrers[0]
        chain.append(current)
        seen.add(current)
    return chain


def downstream(store: GraphStore, customer_id: str, *, max_depth: int = 6) -> Downstream:
    """Customers a customer referred, directly and through others, with their lifetime value."""
    tree = store.neighbourhood(
        customer_id,
        depth=max_depth,
        types=[RelType.REFERRED],
        direction=Direction.OUT,
        limit=store.limits.max_page,
    )
    direct = sorted(node for node, d in tree.distances.items() if d == 1)
    indirect = sorted(node for node, d in tree.distances.items() if d > 1)
    value = 0.0
    for entity in tree.entities:
        if entity.id != customer_id:
            amount = entity.props.get("lifetime_value")
            value += float(amount) if isinstance(amount, int | float) else 0.0
    return Downstream(customer_id, direct, indirect, value)
