"""Bounded traversals written once over :meth:`GraphStore.expand`.

Each adapter answers ``expand`` natively (a lookup in the embedded store's compact adjacency, see
:mod:`graph.adjacency`, or one Cypher query per step);
the search itself lives here, so neighbourhoods and paths are the same on every store, and no
unbounded variable-length pattern ever reaches Neo4j.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from ckn.graph.errors import LimitExceeded, NotFound
from ckn.graph.model import NodeKind, RelType, as_type
from ckn.graph.store import (
    AROUND_TYPES,
    CUSTOMER_ITEM_TYPES,
    DOSSIER_TYPES,
    REFERRAL_FIELDS,
    VALUED_TYPES,
    Around,
    Deadline,
    Direction,
    GraphStore,
    Hop,
    Path,
    Reach,
    Subgraph,
)


def _other(hop: Hop, node: str) -> str:
    return hop.target if hop.source == node else hop.source


def _reverse(direction: Direction) -> Direction:
    return {Direction.OUT: Direction.IN, Direction.IN: Direction.OUT}.get(direction, Direction.BOTH)


def _leaves(hop: Hop, node: str, direction: Direction) -> bool:
    """Whether ``hop`` can be followed away from ``node`` in ``direction``."""
    if direction is Direction.OUT:
        return hop.source == node
    if direction is Direction.IN:
        return hop.target == node
    return node in (hop.source, hop.target)


class _Budget:
    """The expansion cap and the time budget of one traversal.

    The clock starts at the first step that comes back: a store building what it caches per graph
    version (the embedded store's traversal view) on the first traversal after a change is not this
    request running away.
    """

    def __init__(self, store: GraphStore) -> None:
        self.left = store.limits.max_expansion
        self._limits = store.limits
        self._deadline: Deadline | None = None

    @property
    def deadline(self) -> Deadline:
        if self._deadline is None:
            self._deadline = self._limits.deadline()
        return self._deadline

    def spend(self, hops: Sequence[Hop]) -> None:
        self.deadline.check()
        self.left -= len(hops)
        if self.left < 0:
            raise LimitExceeded(
                "the traversal touches too many relationships; lower the depth or name relationship types"
            )


class _Side:
    """One end of a bidirectional search, expanded a level at a time."""

    def __init__(self, start: str, direction: Direction) -> None:
        self.direction = direction
        self.seen = {start}
        self.frontier = [start]
        self.hops: dict[str, Hop] = {}

    def cost(self, store: GraphStore, types: tuple[RelType, ...] | None, at_most: int | None = None) -> int:
        """Relationships the next step would cross (or any count above ``at_most``)."""
        return store.degree(self.frontier, types=types, direction=self.direction, at_most=at_most)

    def step(
        self,
        store: GraphStore,
        types: tuple[RelType, ...] | None,
        budget: _Budget,
        towards: set[str] | None = None,
    ) -> None:
        if not self.frontier:
            return
        found = store.expand(self.frontier, types=types, direction=self.direction, towards=towards)
        budget.spend(found)
        current = set(self.frontier)
        reached: set[str] = set()
        for hop in found:
            self.hops[hop.relation_id] = hop
            for node in (hop.source, hop.target):
                if node in current and _leaves(hop, node, self.direction):
                    reached.add(_other(hop, node))
        self.frontier = sorted(reached - self.seen)
        self.seen |= reached


def _bfs(
    store: GraphStore,
    start: str,
    depth: int,
    types: tuple[RelType, ...] | None,
    direction: Direction,
    budget: _Budget,
) -> tuple[dict[str, int], dict[str, Hop]]:
    """Distances from ``start`` up to ``depth`` and every hop crossed on the way."""
    side = _Side(start, direction)
    distances = {start: 0}
    for level in range(1, depth + 1):
        if not side.frontier:
            break
        side.step(store, types, budget)
        distances.update(dict.fromkeys(side.frontier, level))
    return distances, side.hops


def _require(store: GraphStore, *ids: str) -> None:
    found = store.get_entities(list(ids))
    for entity_id in ids:
        if entity_id not in found:
            raise NotFound(f"no entity with id {entity_id!r}", entity_id=entity_id)


def _types(types: Iterable[RelType] | None) -> tuple[RelType, ...] | None:
    return None if types is None else tuple(sorted({as_type(t) for t in types}))


def neighbourhood(
    store: GraphStore,
    start: str,
    *,
    depth: int,
    types: Iterable[RelType] | None,
    direction: Direction,
    limit: int,
) -> Subgraph:
    """Entities within ``depth`` steps of ``start``, nearest first, ties by id."""
    store.limits.check_depth(depth)
    store.limits.check_page(limit)
    _require(store, start)
    distances, hops = _bfs(store, start, depth, _types(types), direction, _Budget(store))
    ranked = sorted(distances, key=lambda node: (distances[node], node))
    kept = ranked[:limit]
    kept_set = set(kept)
    entities = store.get_entities(kept)
    relation_ids = sorted(h.relation_id for h in hops.values() if {h.source, h.target} <= kept_set)
    relations = store.get_relations_by_id(relation_ids)
    return Subgraph(
        start=start,
        entities=tuple(entities[node] for node in kept),
        distances={node: distances[node] for node in kept},
        relations=tuple(relations[rid] for rid in relation_ids),
        truncated=len(ranked) > limit,
    )


def paths(
    store: GraphStore,
    source: str,
    target: str,
    *,
    max_depth: int,
    types: Iterable[RelType] | None,
    direction: Direction,
    limit: int,
) -> list[Path]:
    """Simple paths of at most ``max_depth`` steps, shortest first, then by node and relation ids.

    Searches from both ends, one level at a time on the side whose next step crosses fewer
    relationships, until the two sides' levels add up to ``max_depth`` (any path that short then lies
    in what they crossed), so a hub at one end (a colleague with thousands of interactions) is
    expanded as little and as late as possible. The last step keeps only the relationships that reach
    what the other side has seen: no other one can be on a path that short. Then enumerates paths on
    the small subgraph found.
    """
    store.limits.check_depth(max_depth)
    store.limits.check_page(limit)
    _require(store, source, target)
    if source == target:
        return [Path(nodes=(source,), hops=())]
    wanted = _types(types)
    budget = _Budget(store)
    sides = (_Side(source, direction), _Side(target, _reverse(direction)))
    for level in range(max_depth):
        if not all(s.frontier for s in sides):
            break  # one side has crossed all it can reach: every path lies in what it crossed
        small, large = sorted(sides, key=lambda s: len(s.frontier))  # ties: the source side first
        cost = small.cost(store, wanted)
        side, opposite = (small, large) if cost <= large.cost(store, wanted, at_most=cost) else (large, small)
        side.step(store, wanted, budget, towards=opposite.seen if level == max_depth - 1 else None)
    local = {**sides[0].hops, **sides[1].hops}

    adjacency: dict[str, list[tuple[str, Hop]]] = {}
    back: dict[str, list[str]] = {}
    for hop in sorted(local.values(), key=lambda h: h.relation_id):
        for node in (hop.source, hop.target):
            if _leaves(hop, node, direction):
                other = _other(hop, node)
                adjacency.setdefault(node, []).append((other, hop))
                back.setdefault(other, []).append(node)
    # Distance to the target on the local subgraph prunes every branch that cannot arrive in time.
    to_target = {target: 0}
    queue = deque([target])
    while queue:
        node = queue.popleft()
        for previous in back.get(node, []):
            if previous not in to_target:
                to_target[previous] = to_target[node] + 1
                queue.append(previous)
    if source not in to_target:
        return []

    found: list[Path] = []
    nodes = [source]
    crossed: list[Hop] = []
    on_path = {source}

    def walk(node: str) -> None:
        for other, hop in adjacency.get(node, []):
            if other in on_path or len(crossed) + 1 + to_target.get(other, max_depth + 1) > max_depth:
                continue
            budget.deadline.check()
            nodes.append(other)
            crossed.append(hop)
            if other == target:
                found.append(Path(nodes=tuple(nodes), hops=tuple(crossed)))
                if len(found) > store.limits.max_paths:
                    raise LimitExceeded(
                        f"more than {store.limits.max_paths} paths; lower the depth or name types"
                    )
            else:
                on_path.add(other)
                walk(other)
                on_path.discard(other)
            nodes.pop()
            crossed.pop()

    walk(source)
    found.sort(key=lambda p: (p.length, p.nodes, tuple(h.relation_id for h in p.hops)))
    return found[:limit]


def referral_walk(store: GraphStore, customer_id: str, depth: int) -> tuple[list[str], dict[str, Hop]]:
    """The customers within ``depth`` referral steps below one (itself too), and the referrals among them.

    A step at a time, over ``expand``, under the expansion cap and the time budget.
    """
    store.limits.check_depth(depth)
    customer = store.get_entity(customer_id)
    if customer is None or customer.kind is not NodeKind.CUSTOMER:
        raise NotFound(f"no customer with id {customer_id!r}", entity_id=customer_id)
    budget = _Budget(store)
    seen, frontier = {customer_id}, [customer_id]
    hops: dict[str, Hop] = {}
    for level in range(depth + 1):
        last = level == depth  # the links among the customers reached, for the cycles
        found = store.expand(
            frontier, types=[RelType.REFERRED], direction=Direction.OUT, towards=seen if last else None
        )
        budget.spend(found)
        hops.update((h.relation_id, h) for h in found)
        frontier = sorted({h.target for h in found} - seen)
        seen.update(frontier)
        if not frontier or last:
            break
    return sorted(seen), hops


def referrals_below(store: GraphStore, customer_id: str, depth: int) -> Reach:
    """See :meth:`graph.store.GraphStore.referrals_below`: :func:`referral_walk`, then what it reached."""
    seen, hops = referral_walk(store, customer_id, depth)
    entities = store.get_entities(seen)
    relations = store.get_relations_by_id(sorted(hops))
    return Reach.model_construct(
        customers={
            e.id: {"name": e.name, **{f: e.props[f] for f in REFERRAL_FIELDS if e.props.get(f) is not None}}
            for e in entities.values()
        },
        referrals=tuple(
            (r.id, r.source, r.target, max((p.confidence for p in r.provenance), default=1.0))
            for r in sorted(relations.values(), key=lambda r: r.id)
        ),
    )


def customer_around(store: GraphStore, customer_id: str) -> Around | None:
    """See :meth:`graph.store.GraphStore.customer_around`: a step at a time, over ``expand``."""
    customer = store.get_entity(customer_id)
    if customer is None:
        return None
    if customer.kind is not NodeKind.CUSTOMER:
        return Around.model_construct(customer=customer)
    hops = store.expand([customer_id], types=DOSSIER_TYPES, direction=Direction.BOTH)
    entities = store.get_entities(sorted({h.source for h in hops} | {h.target for h in hops}))
    items = [h.target for h in hops if h.type in CUSTOMER_ITEM_TYPES and h.source == customer_id]
    around = store.expand(sorted(set(items) & entities.keys()), types=AROUND_TYPES, direction=Direction.BOTH)
    subjects = sorted({h.target for h in around if h.type is RelType.ABOUT} - entities.keys())
    return Around.model_construct(
        customer=customer,
        hops=tuple(hops),
        relations=store.get_relations_by_id([h.relation_id for h in hops if h.type in VALUED_TYPES]),
        entities={**entities, **store.get_entities(subjects)},
        around=tuple(around),
    )


class Traversals:
    """Neighbourhoods and paths, mixed into both adapters.

    Works for any store that answers ``expand``, ``get_entities`` and ``get_relations_by_id``.
    """

    def neighbourhood(
        self,
        entity_id: str,
        *,
        depth: int = 1,
        types: Iterable[RelType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 200,
    ) -> Subgraph:
        """See :meth:`graph.store.GraphStore.neighbourhood`."""
        store: GraphStore = self  # type: ignore[assignment]
        return neighbourhood(store, entity_id, depth=depth, types=types, direction=direction, limit=limit)

    def referrals_below(self, customer_id: str, *, depth: int) -> Reach:
        """See :meth:`graph.store.GraphStore.referrals_below`."""
        store: GraphStore = self  # type: ignore[assignment]
        return referrals_below(store, customer_id, depth)

    def customer_around(self, customer_id: str) -> Around | None:
        """See :meth:`graph.store.GraphStore.customer_around`."""
        store: GraphStore = self  # type: ignore[assignment]
        return customer_around(store, customer_id)

    def paths(
        self,
        source_id: str,
        target_id: str,
        *,
        max_depth: int = 4,
        types: Iterable[RelType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 10,
    ) -> list[Path]:
        """See :meth:`graph.store.GraphStore.paths`."""
        store: GraphStore = self  # type: ignore[assignment]
        return paths(
            store, source_id, target_id, max_depth=max_depth, types=types, direction=direction, limit=limit
        )
