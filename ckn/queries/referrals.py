"""Referral chains: who brought a customer in, and whom a customer brought in."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import networkx as nx
import numpy as np

from ckn.graph.cache import Tier, cached, current, maintained, warm
from ckn.graph.errors import InvalidInput, NotFound
from ckn.graph.ids import BULK_PREFIXES
from ckn.graph.model import NodeKind, RelType
from ckn.graph.store import Changes, Direction, GraphStore, Reach


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
        best = _best_referrer(store, current)
        if best is None or best in seen:
            break
        current = best
        chain.append(current)
        seen.add(current)
    return chain


def _best_referrer(store: GraphStore, customer_id: str) -> str | None:
    """Who referred a customer, by the best evidence: confidence, then pieces of evidence, then id."""
    hops = store.expand([customer_id], types=[RelType.REFERRED], direction=Direction.IN)
    relations = store.get_relations_by_id([h.relation_id for h in hops])
    attested: dict[str, tuple[float, int]] = {}
    for relation in relations.values():
        confidence, pieces = attested.get(relation.source, (0.0, 0))
        best = max((p.confidence for p in relation.provenance), default=0.0)
        attested[relation.source] = (max(confidence, best), pieces + len(relation.provenance))
    if not attested:
        return None
    return min(attested, key=lambda source: (-attested[source][0], -attested[source][1], source))


@dataclass
class TreeNode:
    """A customer in a referral tree, with the totals of its branch."""

    customer_id: str
    name: str
    depth: int
    lifetime_value: float
    confidence: float
    """Best confidence of the evidence that this customer was referred by its parent (1.0 at the root)."""
    children: list[TreeNode] = field(default_factory=list)
    branch_customers: int = 0
    branch_value: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The tree as nested JSON."""
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "depth": self.depth,
            "lifetime_value": self.lifetime_value,
            "confidence": self.confidence,
            "branch_customers": self.branch_customers,
            "branch_value": self.branch_value,
            "children": [c.as_dict() for c in self.children],
        }


def _referral_graph(store: GraphStore) -> nx.MultiDiGraph:
    """Customers and their referrals, each referral with its best evidence's ``confidence``.

    Built once, with only the properties referral questions use, then kept in step with writes.
    """
    return maintained(
        store,
        _GRAPH,
        *_kept(store),
    )


def prepare(store: GraphStore, *, after: threading.Thread | None = None) -> threading.Thread | None:
    """Start building the referral graph in the background, after ``after`` (a server calls it).

    Returns the thread building it (None when nothing is built: Neo4j reads trees in place).
    """
    if store.answers_in_place:
        return None
    return warm(store, _GRAPH, *_kept(store), after=after)


def _kept(
    store: GraphStore,
) -> tuple[Callable[[], nx.MultiDiGraph], Callable[[nx.MultiDiGraph, Changes], nx.MultiDiGraph | None]]:
    """How the kept referral graph is built, and how writes are applied to it."""
    return lambda: _build_referral_graph(store), lambda graph, changes: _advance_referral_graph(
        store, graph, changes
    )


def _build_referral_graph(store: GraphStore) -> nx.MultiDiGraph:
    graph = store.project(kinds=[NodeKind.CUSTOMER], types=[RelType.REFERRED], fields=_FIELDS)
    relations = store.get_relations_by_id([key for _, _, key in graph.edges(keys=True)])
    for _, _, key, data in graph.edges(keys=True, data=True):
        evidence = relations[key].provenance if key in relations else ()
        data["confidence"] = max((p.confidence for p in evidence), default=1.0)
    return graph


_FIELDS = ("lifetime_value", "acquired_at")
_GRAPH = ("referral-graph",)


def _advance_referral_graph(
    store: GraphStore, graph: nx.MultiDiGraph, changes: Changes
) -> nx.MultiDiGraph | None:
    """The graph with the customers and referrals the changes wrote, changed in place under its lock."""
    if changes.deleted:
        return None
    named = sorted(e for e in changes.entities if not e.startswith(BULK_PREFIXES))
    customers = [e for e in store.get_entities(named).values() if e.kind is NodeKind.CUSTOMER]
    referred = sorted(
        {h.relation_id for h in changes.relations if h.type is RelType.REFERRED}
        | {r for r in changes.restated if r.startswith(f"{RelType.REFERRED.value}:")}
    )
    if not customers and not referred:
        return graph
    relations = store.get_relations_by_id(referred).values()
    with _guard(graph):  # a copy of a hundred thousand customers would cost more than the answers
        for customer in customers:
            values = {f: customer.props[f] for f in _FIELDS if customer.props.get(f) is not None}
            if customer.id in graph:
                graph.nodes[customer.id].clear()  # a field no longer set goes too
            graph.add_node(customer.id, kind=customer.kind.value, name=customer.name, **values)
        for relation in relations:
            if relation.source in graph and relation.target in graph:  # customers referring customers
                confidence = max((p.confidence for p in relation.provenance), default=1.0)
                graph.add_edge(relation.source, relation.target, key=relation.id, type=relation.type.value,
                               valid_from=None, valid_to=None, confidence=confidence)  # fmt: skip
    return graph


def _guard(graph: nx.MultiDiGraph) -> threading.RLock:
    """The lock of a referral graph: held to change it and to read it (readers never see half a write)."""
    lock: threading.RLock = graph.graph.setdefault("lock", threading.RLock())
    return lock


def _value(data: Mapping[str, Any]) -> float:
    value = data.get("lifetime_value")
    return float(value) if isinstance(value, int | float) else 0.0


def _confidence(graph: nx.MultiDiGraph, source: str, target: str) -> float:
    return max(float(data["confidence"]) for data in (graph.get_edge_data(source, target) or {}).values())


class _Links(Protocol):
    """Who referred whom, as a tree is cut from it: the whole referral graph, or the part a store read."""

    def __contains__(self, customer: object) -> bool: ...
    def referred(self, customer: str) -> Iterable[str]:
        """Whom a customer referred (in no particular order)."""
        ...

    def referrers(self, customer: str) -> Mapping[str, float]:
        """Who referred a customer, each with the best confidence of its referrals."""
        ...

    def values(self, customer: str) -> Mapping[str, Any]:
        """A customer's name and :data:`REFERRAL_FIELDS`."""
        ...


class _GraphLinks:
    """The kept referral graph, read in place (under its lock)."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.graph = graph

    def __contains__(self, customer: object) -> bool:
        return customer in self.graph

    def referred(self, customer: str) -> Iterable[str]:
        return self.graph.successors(customer)  # type: ignore[no-any-return]

    def referrers(self, customer: str) -> Mapping[str, float]:
        return {p: _confidence(self.graph, p, customer) for p in self.graph.predecessors(customer)}

    def values(self, customer: str) -> Mapping[str, Any]:
        return self.graph.nodes[customer]  # type: ignore[no-any-return]


class _ReachLinks:
    """The referrals a store read below a customer (:meth:`GraphStore.referrals_below`), as plain dicts."""

    def __init__(self, reach: Reach) -> None:
        self.customers = reach.customers
        self.out: dict[str, dict[str, float]] = defaultdict(dict)
        self.into: dict[str, dict[str, float]] = defaultdict(dict)
        for _, source, target, confidence in reach.referrals:
            best = max(confidence, self.out[source].get(target, confidence))
            self.out[source][target] = self.into[target][source] = best

    def __contains__(self, customer: object) -> bool:
        return customer in self.customers

    def referred(self, customer: str) -> Iterable[str]:
        return self.out.get(customer, {}).keys()

    def referrers(self, customer: str) -> Mapping[str, float]:
        return self.into.get(customer, {})

    def values(self, customer: str) -> Mapping[str, Any]:
        return self.customers.get(customer, {})


def referral_tree(
    store: GraphStore, customer_id: str, *, max_depth: int = 6, max_cycles: int = 20
) -> tuple[TreeNode, list[list[str]]]:
    """The downstream referral tree of a customer, and the referral cycles among the customers reached.

    A customer referred along several paths appears once, under the referrer that reaches it in the
    fewest steps (then with the best-attested referral, then the smallest id), so branch totals never
    count anyone twice. On Neo4j it is read from the store in one query
    (:meth:`GraphStore.referrals_below`, under the expansion cap and the time budget): it costs what
    the tree holds, not what the graph holds. The embedded store cuts it from the referral graph it
    keeps in step with writes, in memory (and reads it step by step while that is being built).

    Raises:
        NotFound: no such customer.
        LimitExceeded: ``max_depth`` above the cap, or a tree read step by step over the expansion cap
            or the time budget.

    """
    store.limits.check_depth(max_depth)
    if not store.answers_in_place:  # the embedded store keeps the referral graph in step with writes
        whole = current(
            store,
            _GRAPH,
            *_kept(store),
        )
        if whole is not None:
            return _tree(whole, customer_id, max_depth, max_cycles)
    return _tree_below(
        store.referrals_below(customer_id, depth=max_depth), customer_id, max_depth, max_cycles
    )


def _tree(
    graph: nx.MultiDiGraph, customer_id: str, max_depth: int, max_cycles: int
) -> tuple[TreeNode, list[list[str]]]:
    """The tree below a customer in the whole referral graph (the embedded store's, and the oracle)."""
    with _guard(graph):
        return _tree_of(_GraphLinks(graph), customer_id, max_depth, max_cycles)


def _tree_below(
    reach: Reach, customer_id: str, max_depth: int, max_cycles: int
) -> tuple[TreeNode, list[list[str]]]:
    """The tree below a customer in what a store read below it."""
    return _tree_of(_ReachLinks(reach), customer_id, max_depth, max_cycles)


def _tree_of(
    links: _Links, customer_id: str, max_depth: int, max_cycles: int
) -> tuple[TreeNode, list[list[str]]]:
    if customer_id not in links:
        raise NotFound(f"no customer with id {customer_id!r}", entity_id=customer_id)
    depth, frontier = {customer_id: 0}, [customer_id]
    for level in range(1, max_depth + 1):  # breadth first: each customer at its fewest steps
        reached = []
        for node in frontier:
            for other in links.referred(node):
                if other not in depth:
                    depth[other] = level
                    reached.append(other)
        frontier = reached
        if not frontier:
            break
    parent: dict[str, tuple[str, float]] = {}
    for node, d in depth.items():
        if d:
            options = [(p, c) for p, c in links.referrers(node).items() if depth.get(p) == d - 1]
            parent[node] = min(options, key=lambda o: (-o[1], o[0]))
    nodes = {}
    for n, d in depth.items():
        values = links.values(n)
        nodes[n] = TreeNode(n, values.get("name", ""), d, _value(values), parent.get(n, ("", 1.0))[1])
    for node in sorted(parent, key=lambda n: (depth[n], n)):
        nodes[parent[node][0]].children.append(nodes[node])
    for node in sorted(nodes, key=lambda n: -depth[n]):  # deepest first: children are complete
        tree = nodes[node]
        tree.branch_customers = sum(1 + c.branch_customers for c in tree.children)
        tree.branch_value = sum(c.lifetime_value + c.branch_value for c in tree.children)
    return nodes[customer_id], _cycles(links, depth, max_cycles)


def _cycles(links: _Links, depth: dict[str, int], most: int) -> list[list[str]]:
    """Up to ``most`` referral cycles among the customers reached (:func:`cycles_among`)."""
    out = {u: [v for v in links.referred(u) if v in depth] for u in depth}
    if all(depth[v] > depth[u] for u, vs in out.items() for v in vs):  # each link one step further
        return []
    return cycles_among(out, most)[0]


def cycles_among(out: Mapping[str, Iterable[str]], most: int) -> tuple[list[list[str]], set[str]]:
    """Up to ``most`` referral cycles (each sorted, the list sorted), and every customer on a cycle.

    ``out``: whom each customer referred (every customer a key). The cycles listed depend only on
    the referrals: customers in id order, each not yet on a listed cycle gives its shortest cycle
    (breadth first, the referred in id order), so the same are listed on every store, by every
    process (not in the order a hash or the writes happened to give), and each listed is new.
    """
    from scipy.sparse import csr_matrix  # (scipy's import takes a tenth of a second: not at start)
    from scipy.sparse.csgraph import connected_components

    nodes = sorted(out)
    if not nodes:
        return [], set()
    after = {u: sorted(set(out[u])) for u in nodes}
    number = {u: i for i, u in enumerate(nodes)}
    sources = [number[u] for u in nodes for _ in after[u]]
    targets = [number[v] for u in nodes for v in after[u]]
    links = csr_matrix((np.ones(len(sources), np.int8), (sources, targets)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(links, directed=True, connection="strong")
    together, component = np.bincount(labels).tolist(), dict(zip(nodes, labels.tolist(), strict=True))
    on_cycle = {u for u in nodes if together[component[u]] > 1 or u in after[u]}
    cycles: list[list[str]] = []
    listed: set[str] = set()
    for start in nodes:
        if len(cycles) >= most:
            break
        if start in on_cycle and start not in listed:
            cycle = [start] if start in after[start] else _shortest_cycle(after, start, component)
            listed.update(cycle)
            cycles.append(sorted(cycle))
    return sorted(cycles), on_cycle


def _shortest_cycle(after: Mapping[str, list[str]], start: str, component: Mapping[str, int]) -> list[str]:
    """The shortest cycle through ``start`` (which is on one), breadth first within its component."""
    home = component[start]
    parent = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for other in after[node]:
            if other == start:
                cycle = [node]
                while cycle[-1] != start:
                    cycle.append(parent[cycle[-1]])
                return cycle[::-1]
            if other not in parent and component[other] == home:
                parent[other] = node
                queue.append(other)
    raise AssertionError(f"{start} is on no cycle")  # pragma: no cover - its component holds one


@dataclass(frozen=True)
class Referrer:
    """A customer ranked by the customers their referrals brought in."""

    customer_id: str
    name: str
    direct: int
    indirect: int
    downstream_value: float


def referrers(
    store: GraphStore, *, top: int = 10, since: str | None = None, max_depth: int = 6
) -> list[Referrer]:
    """Customers ranked by downstream reach (then value, then id).

    ``since`` counts only customers acquired on or after that ISO date. The full ranking is remembered
    per graph version; ``top`` cuts it.
    """
    store.limits.check_page(top)
    store.limits.check_depth(max_depth)
    ranked: list[Referrer] = cached(
        store, ("referrers", since, max_depth), lambda: _referrers(store, since, max_depth), Tier.ANSWER
    )
    return ranked[:top]


def _referrers(store: GraphStore, since: str | None, max_depth: int) -> list[Referrer]:
    return _ranked(_snapshot(_referral_graph(store)), since, max_depth)


def _snapshot(graph: nx.MultiDiGraph) -> nx.DiGraph:
    """A copy to read at length without holding the graph's lock (trees and writes would wait)."""
    with _guard(graph):
        return nx.DiGraph(graph)


def _ranked(graph: nx.DiGraph, since: str | None, max_depth: int) -> list[Referrer]:
    found = []
    for node in graph.nodes:
        if graph.out_degree(node) == 0:
            continue
        reached = nx.single_source_shortest_path_length(graph, node, cutoff=max_depth)
        reached.pop(node, None)
        if since:
            reached = {
                n: d for n, d in reached.items() if str(graph.nodes[n].get("acquired_at", "")) >= since
            }
        if not reached:
            continue
        found.append(
            Referrer(
                node,
                graph.nodes[node].get("name", ""),
                sum(1 for d in reached.values() if d == 1),
                sum(1 for d in reached.values() if d > 1),
                sum(_value(graph.nodes[n]) for n in reached),
            )
        )
    found.sort(key=lambda r: (-(r.direct + r.indirect), -r.downstream_value, r.customer_id))
    return found


def referral_stats(store: GraphStore, *, period: str = "quarter", max_cycles: int = 100) -> dict[str, Any]:
    """K-factor by acquisition cohort, depth distribution, share acquired by referral, cycles.

    Remembered per graph version.
    """
    if period not in {"month", "quarter"}:
        raise InvalidInput("period is month or quarter")
    stats: dict[str, Any] = cached(
        store,
        ("referral-stats", period, max_cycles),
        lambda: _referral_stats(store, period, max_cycles),
        Tier.ANSWER,
    )
    return stats


def _referral_stats(store: GraphStore, period: str, max_cycles: int) -> dict[str, Any]:
    return _stats(_snapshot(_referral_graph(store)), period, max_cycles)


def _stats(graph: nx.DiGraph, period: str, max_cycles: int) -> dict[str, Any]:
    def cohort(node: str) -> str:
        acquired = str(graph.nodes[node].get("acquired_at", ""))
        if len(acquired) < 7:
            return "unknown"
        year, month = acquired[:4], int(acquired[5:7])
        return f"{year}-{month:02d}" if period == "month" else f"{year}-Q{(month - 1) // 3 + 1}"

    cohorts: dict[str, list[str]] = defaultdict(list)
    for node in sorted(graph.nodes):
        cohorts[cohort(node)].append(node)
    referrals = {c: sum(graph.out_degree(n) for n in ns) for c, ns in cohorts.items()}
    k_factor = {
        c: {"customers": len(ns), "referrals": referrals[c], "k_factor": round(referrals[c] / len(ns), 4)}
        for c, ns in sorted(cohorts.items())
    }
    cycles, in_cycle = cycles_among({n: graph.successors(n) for n in graph.nodes}, max_cycles)
    depth: dict[str, int] = {}
    roots = [n for n in graph.nodes if graph.in_degree(n) == 0]
    for root in roots:
        for node, d in nx.single_source_shortest_path_length(graph, root).items():
            depth[node] = min(d, depth.get(node, d))
    distribution: dict[int, int] = defaultdict(int)
    for node in graph.nodes:
        if node in depth and node not in in_cycle:
            distribution[depth[node]] += 1
    referred = sum(1 for n in graph.nodes if graph.in_degree(n) > 0)
    return {
        "customers": graph.number_of_nodes(),
        "referred": referred,
        "share_referred": round(referred / graph.number_of_nodes(), 4) if graph.number_of_nodes() else 0.0,
        "k_factor_by_cohort": k_factor,
        "depth_distribution": dict(sorted(distribution.items())),
        "cycles": cycles,
    }
