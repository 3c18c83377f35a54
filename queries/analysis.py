"""Network analysis: influencers, brokers and communities, on networks projected from the graph.

networkx is the model and the reference; above :data:`IGRAPH_ABOVE` nodes the heavy algorithms run
on igraph (C) instead, with the same answers on small graphs (tested). Results are cached per graph
version, so a second question about an unchanged graph is free.

Networks:

- ``referral``: customers, an edge from referrer to referred;
- ``collaboration``: colleagues, linked by interactions they shared, documents they wrote together and
  customers they both worked with (weights count the ties);
- ``knows``: people linked by ``KNOWS`` (as loaded from ``relationships.csv``), undirected;
- ``customer-product``: customers and what they bought;
- ``employee-topic``: colleagues and the topics their work is about (bipartite, weighted by items);
- ``practice``: its projection on colleagues, linked by the topics they share (communities of this
  network are communities of practice).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import networkx as nx

from graph.errors import InvalidInput
from graph.model import NodeKind, RelType
from graph.store import GraphStore
from queries.common import moment

NETWORKS = ("referral", "collaboration", "knows", "customer-product", "employee-topic", "practice")
IGRAPH_ABOVE = 5_000
"""Networks with more nodes than this run PageRank, betweenness and communities on igraph."""
EXACT_BETWEENNESS_UP_TO = 2_000
"""Above this many nodes betweenness is estimated from a seeded sample of sources."""
_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Any] = {}


def _cached(store: GraphStore, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    full = (id(store), store.graph_version(), *key)
    with _lock:
        if full in _cache:
            return _cache[full]
    value = compute()
    with _lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[full] = value
    return value


def network(store: GraphStore, name: str, *, since: datetime | None = None) -> nx.Graph:
    """A weighted network projected from the store (see the module docstring).

    ``since`` keeps only interactions from that time on (collaboration).
    """
    if name not in NETWORKS:
        raise InvalidInput(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    return _cached(store, ("network", name, since), lambda: _project(store, name, since))


def _project(store: GraphStore, name: str, since: datetime | None) -> nx.Graph:
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
    if name in {"employee-topic", "practice"}:
        bipartite = _employee_topic(store, since)
        if name == "employee-topic":
            return bipartite
        people = [n for n, kind in bipartite.nodes(data="kind") if kind == "Employee"]
        practice = nx.bipartite.weighted_projected_graph(bipartite, people)
        for u, v in practice.edges():
            shared = sorted(set(bipartite.neighbors(u)) & set(bipartite.neighbors(v)))
            practice.edges[u, v]["topics"] = [bipartite.nodes[t].get("name", t) for t in shared]
        return practice
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
    )
    kind = nx.get_node_attributes(source, "kind")
    graph = nx.Graph()
    for person, item in source.edges():
        if kind.get(person) != "Employee":
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
    source = store.project(
        kinds=[NodeKind.EMPLOYEE, NodeKind.CUSTOMER, NodeKind.INTERACTION, NodeKind.KNOWLEDGE_ITEM],
        types=[RelType.PARTICIPATED_IN, RelType.AUTHORED],
    )
    kind = nx.get_node_attributes(source, "kind")
    members: dict[str, set[str]] = defaultdict(set)  # item or customer -> colleagues
    for person, item in source.edges():
        if kind.get(person) != "Employee":
            continue
        when = moment(source.nodes[item], "occurred_at", "created_at")
        if since and when and when < since:
            continue
        members[item].add(person)
        for other, _ in source.in_edges(item):  # the customers of the interaction
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


def _to_igraph(graph: nx.Graph) -> tuple[Any, list[str]]:
    import igraph as ig

    names = sorted(graph.nodes)
    index = {n: i for i, n in enumerate(names)}
    g = ig.Graph(
        n=len(names), edges=[(index[u], index[v]) for u, v in graph.edges()], directed=graph.is_directed()
    )
    g.es["weight"] = [float(d.get("weight", 1.0)) for _, _, d in graph.edges(data=True)]
    return g, names


def pagerank(
    graph: nx.Graph, *, reverse: bool = False, around: str | None = None, backend: str = "auto"
) -> dict[str, float]:
    """PageRank (weighted).

    ``reverse`` follows edges backwards, so that referrers, not the referred, collect the rank;
    ``around`` personalises it: influence as seen from one node.
    """
    if graph.number_of_nodes() == 0:
        return {}
    target = graph.reverse(copy=True) if reverse and graph.is_directed() else graph
    if around is not None:
        if around not in target:
            raise InvalidInput(f"{around} is not in this network")
        return dict(nx.pagerank(target, weight="weight", personalization={around: 1.0}))
    if _use_igraph(target, backend):
        g, names = _to_igraph(target)
        scores = g.pagerank(weights="weight", directed=target.is_directed())
        return dict(zip(names, scores, strict=True))
    return dict(nx.pagerank(target, weight="weight"))


def betweenness(
    graph: nx.Graph, *, seed: int = 7, sample: int = 500, backend: str = "auto"
) -> dict[str, float]:
    """Betweenness centrality (normalised): exact on small networks, from ``sample`` seeded sources above."""
    n = graph.number_of_nodes()
    undirected = graph.to_undirected() if graph.is_directed() else graph
    exact = n <= EXACT_BETWEENNESS_UP_TO
    if not _use_igraph(undirected, backend) or n < 3:
        return dict(nx.betweenness_centrality(undirected, k=None if exact else min(sample, n), seed=seed))
    import random

    g, names = _to_igraph(undirected)
    sources = None if exact else random.Random(seed).sample(range(n), k=min(sample, n))
    raw = g.betweenness(sources=sources, directed=False)
    scale = (n / (len(sources) if sources else n)) / ((n - 1) * (n - 2) / 2)
    return {name: value * scale for name, value in zip(names, raw, strict=True)}


def _use_igraph(graph: nx.Graph, backend: str) -> bool:
    if backend not in {"auto", "networkx", "igraph"}:
        raise InvalidInput("backend is auto, networkx or igraph")
    return backend == "igraph" or (backend == "auto" and graph.number_of_nodes() > IGRAPH_ABOVE)


def communities(
    graph: nx.Graph, *, method: str = "leiden", seed: int = 7, backend: str = "auto"
) -> tuple[list[list[str]], float]:
    """Communities (largest first, members sorted) and their modularity; Louvain or Leiden, seeded."""
    undirected = graph.to_undirected() if graph.is_directed() else graph
    if undirected.number_of_edges() == 0:
        return [[n] for n in sorted(undirected.nodes)], 0.0
    if method == "louvain":
        if _use_igraph(undirected, backend):
            g, names = _to_igraph(undirected)
            parts = g.community_multilevel(weights="weight")
            found = [{names[i] for i in part} for part in parts]
        else:
            found = nx.community.louvain_communities(undirected, weight="weight", seed=seed)
    elif method == "leiden":
        import leidenalg

        g, names = _to_igraph(undirected)
        partition = leidenalg.find_partition(
            g, leidenalg.ModularityVertexPartition, weights="weight", seed=seed
        )
        found = [{names[i] for i in part} for part in partition]
    else:
        raise InvalidInput("method is louvain or leiden")
    ordered = sorted((sorted(c) for c in found if c), key=lambda c: (-len(c), c[0]))
    return ordered, round(float(nx.community.modularity(undirected, ordered, weight="weight")), 4)


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
