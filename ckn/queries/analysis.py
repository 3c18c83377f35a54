"""Network analysis: influencers, brokers and communities, on networks projected from the graph.

networkx is the model and the reference; above :data:`IGRAPH_ABOVE` nodes the heavy algorithms run
on igraph (C) instead, with the same answers on small graphs (tested). Results are cached per graph
version, so a second question about an unchanged graph is free.

Networks:

- ``referral``: customers, an edge from referrer to referred;
- ``collaboration``: colleagues, linked by interactions and feedback they shared (taking part,
  resolving, answering an escalation), documents they wrote together and customers they both worked
  with (weights count the ties);
- ``knows``: people linked by ``KNOWS`` (as loaded from ``relationships.csv``), undirected;
- ``customer-product``: customers and what they bought;
- ``employee-topic``: colleagues and the topics their work is about (bipartite, weighted by items);
- ``practice``: its projection on colleagues, linked by the topics they share (communities of this
  network are communities of practice);
- ``topics``: its projection on topics, linked by the colleagues who work on both (clusters of
  know-how, and the people who hold them together).

Every network can be narrowed to one department (colleagues) or one customer segment (customers):
the other side keeps what links to the people kept.
"""

from __future__ import annotations

import random
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import networkx as nx

from ckn.graph.cache import Tier, cached
from ckn.graph.errors import InvalidInput
from ckn.graph.expertise import moment, truthy
from ckn.graph.model import NodeKind, RelType
from ckn.graph.store import GraphStore

NETWORKS = (
    "referral",
    "collaboration",
    "knows",
    "customer-product",
    "employee-topic",
    "practice",
    "topics",
)
IGRAPH_ABOVE = 5_000
"""Networks with more nodes than this run PageRank, betweenness and communities on igraph."""
EXACT_BETWEENNESS_UP_TO = 2_000
"""Above this many nodes betweenness is estimated from a seeded sample of sources."""


def network(
    store: GraphStore,
    name: str,
    *,
    since: datetime | None = None,
    department: str | None = None,
    segment: str | None = None,
) -> nx.Graph:
    """A weighted network projected from the store (see the module docstring).

    ``since`` keeps only work from that time on (collaboration, employee-topic and its projections);
    ``department`` keeps only the colleagues of one department, ``segment`` only the customers of one
    segment (by name or id).
    """
    if name not in NETWORKS:
        raise InvalidInput(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    for asked, kind, option in ((department, "Employee", "department"), (segment, "Customer", "segment")):
        if asked is not None and kind not in _MADE_OF[name]:
            raise InvalidInput(f"the {name} network has no {kind.lower()}s to narrow by {option}")

    def project() -> nx.Graph:
        keep = {
            "Employee": _members(store, NodeKind.DEPARTMENT, RelType.MEMBER_OF, department),
            "Customer": _members(store, NodeKind.SEGMENT, RelType.IN_SEGMENT, segment),
        }
        return _project(store, name, since, keep if department or segment else None)

    return cached(store, ("network", name, since, department, segment), project, Tier.PROJECTION)


_MADE_OF = {
    "referral": ("Customer",),
    "collaboration": ("Employee",),
    "knows": ("Employee", "Customer"),
    "customer-product": ("Customer",),
    "employee-topic": ("Employee",),
    "practice": ("Employee",),
    "topics": ("Employee",),
}
"""The people each network is made from (what ``department`` and ``segment`` can narrow)."""
Keep = dict[str, set[str] | None]
_DATES = ("occurred_at", "submitted_at", "created_at")
"""What the work projections read of each item (not the notes, which are most of the bytes)."""


def _members(store: GraphStore, group: NodeKind, rtype: RelType, named: str | None) -> set[str] | None:
    """Who is in the department or segment called (or with the id) ``named``; None: no filter."""
    if named is None:
        return None
    graph = cached(
        store, ("groups", group), lambda: store.project(kinds=[group, *_SIDE[group]], types=[rtype])
    )
    wanted = named.strip().casefold()
    groups = [n for n, kind in graph.nodes(data="kind") if kind == group.value]
    found = [g for g in groups if g.casefold() == wanted or str(graph.nodes[g]["name"]).casefold() == wanted]
    if not found:
        known = ", ".join(sorted(str(graph.nodes[g]["name"]) for g in groups)[:20])
        raise InvalidInput(f"no {group.value.lower()} called {named!r}; known: {known or 'none'}")
    return {member for g in found for member, _ in graph.in_edges(g)}


_SIDE = {NodeKind.DEPARTMENT: [NodeKind.EMPLOYEE], NodeKind.SEGMENT: [NodeKind.CUSTOMER]}


def _narrowed(graph: nx.Graph, keep: Keep | None) -> nx.Graph:
    """The network without the colleagues or customers left out; nodes of other kinds stay if still linked."""
    if keep is None:
        return graph
    dropped = [
        n
        for n, kind in graph.nodes(data="kind")
        if keep.get(kind) is not None and n not in keep[kind]  # type: ignore[operator]
    ]
    narrowed = graph.copy()
    narrowed.remove_nodes_from(dropped)
    filtered_kinds = {k for k, members in keep.items() if members is not None}
    narrowed.remove_nodes_from(
        [
            n
            for n, kind in narrowed.nodes(data="kind")
            if kind not in filtered_kinds and narrowed.degree(n) == 0
        ]
    )
    return narrowed


def _project(store: GraphStore, name: str, since: datetime | None, keep: Keep | None) -> nx.Graph:
    if name in {"employee-topic", "practice", "topics"}:
        bipartite = _narrowed(_employee_topic(store, since), keep)
        if name == "employee-topic":
            return bipartite
        side = "Employee" if name == "practice" else "Topic"
        nodes = [n for n, kind in bipartite.nodes(data="kind") if kind == side]
        projected = nx.bipartite.weighted_projected_graph(bipartite, nodes)
        label = "topics" if name == "practice" else "people"
        for u, v in projected.edges():
            shared = sorted(set(bipartite.neighbors(u)) & set(bipartite.neighbors(v)))
            projected.edges[u, v][label] = [bipartite.nodes[t].get("name", t) for t in shared]
        return projected
    whole = _project_whole(store, name, since) if keep is None else network(store, name, since=since)
    return _narrowed(whole, keep)


def _project_whole(store: GraphStore, name: str, since: datetime | None) -> nx.Graph:
    if name == "referral":
        source = store.project(kinds=[NodeKind.CUSTOMER], types=[RelType.REFERRED])
        graph: nx.Graph = nx.DiGraph()
        graph.add_nodes_from(source.nodes(data=True))
        for u, v in source.edges():
            graph.add_edge(u, v, weight=graph.get_edge_data(u, v, {}).get("weight", 0) + 1)
        return graph
    if name == "knows":
        source = store.project(kinds=[NodeKind.CUSTOMER, NodeKind.EMPLOYEE], types=[RelType.KNOWS])
        graph = nx.Graph()
        graph.add_nodes_from(n for n in source.nodes if source.degree(n))
        for u, v, data in source.edges(data=True):
            weight = data.get("weight") or data.get("strength") or 1.0
            graph.add_edge(u, v, weight=float(weight))
        for n in graph.nodes:
            graph.nodes[n].update(source.nodes[n])
        return graph
    if name == "customer-product":
        source = store.project(kinds=[NodeKind.CUSTOMER, NodeKind.PRODUCT], types=[RelType.PURCHASED])
        graph = nx.Graph()
        for u, v, data in source.edges(data=True):
            previous = graph.get_edge_data(u, v, {}).get("weight", 0.0)
            graph.add_edge(u, v, weight=previous + float(data.get("amount") or 1.0))
        for n in graph.nodes:
            graph.nodes[n].update(source.nodes[n])
        return graph
    return _collaboration(store, since)


def _employee_topic(store: GraphStore, since: datetime | None) -> nx.Graph:
    source = store.project(
        kinds=[
            NodeKind.EMPLOYEE,
            NodeKind.TOPIC,
            NodeKind.INTERACTION,
            NodeKind.FEEDBACK,
            NodeKind.KNOWLEDGE_ITEM,
        ],
        types=[RelType.AUTHORED, RelType.RESOLVED, RelType.PARTICIPATED_IN, RelType.ABOUT],
        fields=(*_DATES, "expertise_opt_out"),
    )
    kind = nx.get_node_attributes(source, "kind")
    graph = nx.Graph()
    for person, item in source.edges():
        # who works on which topic is expertise inferred: a colleague who opted out is not in it
        if kind.get(person) != "Employee" or truthy(source.nodes[person].get("expertise_opt_out")):
            continue
        when = moment(source.nodes[item], "occurred_at", "submitted_at", "created_at")
        if since and when and when < since:
            continue
        for _, topic in source.out_edges(item):
            if kind.get(topic) == "Topic":
                previous = graph.get_edge_data(person, topic, {}).get("weight", 0)
                graph.add_edge(person, topic, weight=previous + 1)
    for n in graph.nodes:
        graph.nodes[n].update(source.nodes[n])
    return graph


def _collaboration(store: GraphStore, since: datetime | None) -> nx.Graph:
    """Colleagues linked by the items and customers they share.

    Two colleagues share an interaction, feedback or document when both took part in it, resolved it,
    wrote it or answered its escalation; they share a customer when both worked with it.
    """
    source = store.project(
        kinds=[
            NodeKind.EMPLOYEE,
            NodeKind.CUSTOMER,
            NodeKind.INTERACTION,
            NodeKind.FEEDBACK,
            NodeKind.KNOWLEDGE_ITEM,
        ],
        types=[
            RelType.PARTICIPATED_IN,
            RelType.AUTHORED,
            RelType.RESOLVED,
            RelType.ESCALATED_TO,
            RelType.SUBMITTED,
        ],
        fields=_DATES,
    )
    kind = nx.get_node_attributes(source, "kind")
    members: dict[str, set[str]] = defaultdict(set)  # item or customer -> colleagues
    for u, v, rtype in source.edges(data="type"):
        person, item = (v, u) if rtype == "ESCALATED_TO" else (u, v)
        if kind.get(person) != "Employee":
            continue
        when = moment(source.nodes[item], *_DATES)
        if since and when and when < since:
            continue
        members[item].add(person)
        for other, _ in source.in_edges(item):  # the customers of the interaction or feedback
            if kind.get(other) == "Customer":
                members[other].add(person)
    graph = nx.Graph()
    graph.add_nodes_from((n, source.nodes[n]) for n in source.nodes if kind.get(n) == "Employee")
    for people in members.values():
        ordered = sorted(people)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                graph.add_edge(a, b, weight=graph.get_edge_data(a, b, {}).get("weight", 0) + 1)
    return graph


_igraph_copies: weakref.WeakKeyDictionary[nx.Graph, dict[tuple[bool, bool], tuple[Any, list[str]]]] = (
    weakref.WeakKeyDictionary()
)
_igraph_lock = threading.Lock()


def _to_igraph(graph: nx.Graph, *, undirected: bool = False, reverse: bool = False) -> tuple[Any, list[str]]:
    """The network as igraph (and its vertex names), converted once per network and kept with it."""
    import igraph as ig

    with _igraph_lock:
        copies = _igraph_copies.setdefault(graph, {})
        if (False, False) not in copies:
            names = sorted(graph.nodes)
            index = {n: i for i, n in enumerate(names)}
            g = ig.Graph(
                n=len(names),
                edges=[(index[u], index[v]) for u, v in graph.edges()],
                directed=graph.is_directed(),
            )
            g.es["weight"] = [float(w) for _, _, w in graph.edges(data="weight", default=1.0)]
            copies[(False, False)] = (g, names)
        if (undirected, reverse) not in copies:
            g, names = copies[(False, False)]
            if undirected and g.is_directed():
                g = g.as_undirected(mode="collapse", combine_edges={"weight": "sum"})
            elif reverse and g.is_directed():
                g = g.copy()
                g.reverse_edges()
            copies[(undirected, reverse)] = (g, names)
        return copies[(undirected, reverse)]


def pagerank(
    graph: nx.Graph, *, reverse: bool = False, around: str | None = None, backend: str = "auto"
) -> dict[str, float]:
    """PageRank (weighted).

    ``reverse`` follows edges backwards, so that referrers, not the referred, collect the rank;
    ``around`` personalises it: influence as seen from one node.
    """
    if graph.number_of_nodes() == 0:
        return {}
    if around is not None and around not in graph:
        raise InvalidInput(f"{around} is not in this network")
    if _use_igraph(graph, backend):
        g, names = _to_igraph(graph, reverse=reverse)
        reset = None if around is None else [names.index(around)]
        scores = g.personalized_pagerank(weights="weight", directed=g.is_directed(), reset_vertices=reset)
        return dict(zip(names, scores, strict=True))
    target = graph.reverse(copy=True) if reverse and graph.is_directed() else graph
    personal = None if around is None else {around: 1.0}
    return dict(nx.pagerank(target, weight="weight", personalization=personal))


def betweenness(
    graph: nx.Graph, *, seed: int = 7, sample: int = 500, backend: str = "auto"
) -> dict[str, float]:
    """Betweenness centrality (normalised): exact on small networks, from ``sample`` seeded sources above."""
    n = graph.number_of_nodes()
    exact = n <= EXACT_BETWEENNESS_UP_TO
    if not _use_igraph(graph, backend) or n < 3:
        undirected = graph.to_undirected() if graph.is_directed() else graph
        return dict(nx.betweenness_centrality(undirected, k=None if exact else min(sample, n), seed=seed))
    g, names = _to_igraph(graph, undirected=True)
    sources = None if exact else sample_sources(n, sample, seed)
    raw = g.betweenness(sources=sources, directed=False)
    scale = (n / (len(sources) if sources else n)) / ((n - 1) * (n - 2) / 2)
    return {name: value * scale for name, value in zip(names, raw, strict=True)}


def sample_sources(n: int, sample: int, seed: int) -> list[int]:
    """The seeded sample of source vertices that sampled betweenness starts from."""
    return random.Random(seed).sample(range(n), k=min(sample, n))


def _use_igraph(graph: nx.Graph, backend: str) -> bool:
    if backend not in {"auto", "networkx", "igraph"}:
        raise InvalidInput("backend is auto, networkx or igraph")
    return backend == "igraph" or (backend == "auto" and graph.number_of_nodes() > IGRAPH_ABOVE)


def communities(
    graph: nx.Graph, *, method: str = "leiden", seed: int = 7, backend: str = "auto"
) -> tuple[list[list[str]], float]:
    """Communities (largest first, members sorted) and their modularity; Louvain or Leiden, seeded.

    Small networks: networkx's Louvain, leidenalg's Leiden. Large ones: igraph's multilevel (Louvain)
    and Leiden (modularity, iterated until stable), seeded through igraph's random generator.
    """
    if method not in {"louvain", "leiden"}:
        raise InvalidInput("method is louvain or leiden")
    if graph.number_of_edges() == 0:
        return [[n] for n in sorted(graph.nodes)], 0.0
    if _use_igraph(graph, backend):
        g, names = _to_igraph(graph, undirected=True)
        with _seeded_igraph(seed):
            if method == "louvain":
                membership = g.community_multilevel(weights="weight").membership
            else:
                membership = g.community_leiden(
                    objective_function="modularity", weights="weight", n_iterations=-1
                ).membership
        modularity = g.modularity(membership, weights="weight")
        groups: dict[int, list[str]] = defaultdict(list)
        for name, group in zip(names, membership, strict=True):
            groups[group].append(name)  # names are sorted, so members are too
        ordered = sorted(groups.values(), key=lambda c: (-len(c), c[0]))
        return ordered, round(float(modularity), 4)
    undirected = graph.to_undirected() if graph.is_directed() else graph
    if method == "louvain":
        found = nx.community.louvain_communities(undirected, weight="weight", seed=seed)
    else:
        import leidenalg

        g, names = _to_igraph(graph, undirected=True)
        partition = leidenalg.find_partition(
            g, leidenalg.ModularityVertexPartition, weights="weight", seed=seed
        )
        found = [{names[i] for i in part} for part in partition]
    ordered = sorted((sorted(c) for c in found if c), key=lambda c: (-len(c), c[0]))
    return ordered, round(float(nx.community.modularity(undirected, ordered, weight="weight")), 4)


@contextmanager
def _seeded_igraph(seed: int) -> Iterator[None]:
    import igraph as ig

    with _igraph_lock:
        ig.set_random_number_generator(random.Random(seed))
        try:
            yield
        finally:
            ig.set_random_number_generator(random)


def brokers(graph: nx.Graph, *, top: int = 10, seed: int = 7) -> list[dict[str, Any]]:
    """People who connect others, most between first.

    Each with betweenness, Burt's constraint and effective size, the bridges they sit on, and whether
    the network falls apart without them (articulation point).
    """
    undirected = graph.to_undirected() if graph.is_directed() else graph
    between = betweenness(undirected, seed=seed)
    cut_points = set(nx.articulation_points(undirected))
    bridges = defaultdict(list)
    for u, v in nx.bridges(undirected):
        bridges[u].append(v)
        bridges[v].append(u)
    ranked = sorted(between, key=lambda n: (-between[n], n))[:top]
    constraint = nx.constraint(undirected, nodes=ranked, weight="weight")
    effective = nx.effective_size(undirected, nodes=ranked, weight="weight")
    return [
        {
            "id": n,
            "name": undirected.nodes[n].get("name", n),
            "betweenness": round(between[n], 6),
            "constraint": round(float(constraint[n]), 4) if constraint[n] == constraint[n] else None,
            "effective_size": round(float(effective[n]), 4) if effective[n] == effective[n] else None,
            "articulation_point": n in cut_points,
            "bridges_to": sorted(bridges.get(n, [])),
        }
        for n in ranked
    ]


def export(graph: nx.Graph, fmt: str) -> str:
    """The network as GraphML, GEXF, a CSV edge list or browser-ready JSON (nodes and links)."""
    import io
    import json

    plain = nx.Graph(graph) if not graph.is_directed() else nx.DiGraph(graph)
    for _, data in plain.nodes(data=True):
        for key, value in list(data.items()):
            if isinstance(value, list | dict) or value is None:
                data[key] = json.dumps(value, ensure_ascii=False) if value is not None else ""
    if fmt == "graphml":
        return "\n".join(nx.generate_graphml(plain))
    if fmt == "gexf":
        return "\n".join(nx.generate_gexf(plain))
    if fmt == "csv":
        out = io.StringIO()
        out.write("source,target,weight\n")
        for u, v, d in sorted(plain.edges(data=True)):
            out.write(f"{u},{v},{d.get('weight', 1)}\n")
        return out.getvalue()
    if fmt == "json":
        data = {
            "nodes": [
                {"id": n, "name": d.get("name", n), "kind": d.get("kind", "")}
                for n, d in sorted(plain.nodes(data=True))
            ],
            "links": [
                {"source": u, "target": v, "weight": d.get("weight", 1)}
                for u, v, d in sorted(plain.edges(data=True))
            ],
        }
        return json.dumps(data, ensure_ascii=False)
    raise InvalidInput("format is graphml, gexf, csv or json")


def suggestions(graph: nx.Graph, *, node: str | None = None, top: int = 10) -> list[dict[str, Any]]:
    """Who should meet whom: pairs not linked yet, ranked by Adamic-Adar, with the shared neighbours named.

    On the customer-product network the same index ranks similar customers (shared products).
    """
    undirected = graph.to_undirected() if graph.is_directed() else graph
    starts = [node] if node is not None else sorted(undirected.nodes)
    if node is not None and node not in undirected:
        raise InvalidInput(f"{node} is not in this network")
    pairs: set[tuple[str, str]] = set()
    for a in starts:
        for middle in undirected.neighbors(a):
            for b in undirected.neighbors(middle):
                if b != a and not undirected.has_edge(a, b):
                    pairs.add((a, b) if node is not None or a < b else (b, a))
    scored = []
    for (a, b), (_, _, score) in zip(
        sorted(pairs), nx.adamic_adar_index(undirected, sorted(pairs)), strict=True
    ):
        shared = sorted(set(undirected.neighbors(a)) & set(undirected.neighbors(b)))
        scored.append(
            {
                "a": a,
                "b": b,
                "score": round(score, 4),
                "a_name": undirected.nodes[a].get("name", a),
                "b_name": undirected.nodes[b].get("name", b),
                "shared": [{"id": s, "name": undirected.nodes[s].get("name", s)} for s in shared],
            }
        )
    scored.sort(key=lambda s: (-s["score"], s["a"], s["b"]))
    return scored[:top]


def ambassadors(store: GraphStore, *, k: int = 5, max_depth: int = 6, seed: int = 7) -> dict[str, Any]:
    """Choose ``k`` referral ambassadors: greedy maximum coverage of customer communities.

    Each ambassador's downstream referrals reach some referral communities; each pick adds the most
    communities not yet covered (ties: wider reach, then id), and is listed with what it adds.
    """
    graph = network(store, "referral")
    found, modularity = communities(graph, method="leiden", seed=seed)
    community_of = {member: i for i, c in enumerate(found) for member in c}
    reach: dict[str, set[int]] = {}
    for node in graph.nodes:
        if graph.out_degree(node):
            downstream = nx.single_source_shortest_path_length(graph, node, cutoff=max_depth)
            reach[node] = {community_of[n] for n in downstream if n != node}
    chosen: list[dict[str, Any]] = []
    covered: set[int] = set()
    for _ in range(k):
        best = min(reach, key=lambda n: (-len(reach[n] - covered), -len(reach[n]), n), default=None)
        if best is None or not reach[best] - covered:
            break
        adds = sorted(reach.pop(best) - covered)
        covered.update(adds)
        chosen.append(
            {
                "id": best,
                "name": graph.nodes[best].get("name", best),
                "new_communities": [
                    {"community": i, "size": len(found[i]), "members": found[i][:5]} for i in adds
                ],
            }
        )
    return {
        "communities": len(found),
        "modularity": modularity,
        "covered": len(covered),
        "ambassadors": chosen,
    }


def departments_bridged(store: GraphStore) -> dict[str, Any]:
    """Cross-department brokers and silos.

    Brokers are colleagues tied to other departments (most departments first); silos are departments
    nobody links to the rest.
    """
    graph = network(store, "collaboration")
    membership = store.project(kinds=[NodeKind.EMPLOYEE, NodeKind.DEPARTMENT], types=[RelType.MEMBER_OF])
    department = {u: membership.nodes[v].get("name", v) for u, v in membership.edges()}
    brokers_found = []
    bridged: set[str] = set()
    for person in sorted(graph.nodes):
        home = department.get(person)
        others = sorted(
            {department[n] for n in graph.neighbors(person) if department.get(n) not in (None, home)}
        )
        if home and others:
            bridged.add(home)
            bridged.update(others)
            brokers_found.append(
                {
                    "id": person,
                    "name": graph.nodes[person].get("name", person),
                    "department": home,
                    "reaches": others,
                }
            )
    brokers_found.sort(key=lambda b: (-len(b["reaches"]), b["id"]))
    silos = sorted(set(department.values()) - bridged)
    return {"brokers": brokers_found, "silos": silos}
