"""Network analysis on classic, published social networks, loaded as a user would. Every store."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pytest

from ckn.graph.store import GraphStore
from ckn.ingest.pipeline import ingest_paths
from ckn.queries.analysis import betweenness, brokers, communities, export, network, pagerank


def _load(store: GraphStore, tmp_path: Path, graph: nx.Graph, prefix: str) -> None:
    """The network as a user hands it over: a customer list and relationships.csv."""
    folder = tmp_path / prefix
    folder.mkdir()
    names = {n: str(n) for n in graph.nodes}
    people = "".join(f"{prefix}{n},{names[n]},person\n" for n in graph.nodes)
    (folder / "customers.csv").write_text("customer_id,name,kind\n" + people, encoding="utf-8")
    links = "".join(f"{prefix}{u},KNOWS,{prefix}{v},1\n" for u, v in graph.edges())
    (folder / "relationships.csv").write_text("source_id,type,target_id,weight\n" + links, encoding="utf-8")
    ingest_paths(store, [folder], quarantine_dir=tmp_path / "q")


def _purity(found: list[list[str]], faction: dict[str, str]) -> float:
    majority = sum(Counter(faction[m] for m in community).most_common(1)[0][1] for community in found)
    return majority / sum(len(c) for c in found)


@pytest.mark.parametrize("method", ["leiden", "louvain"])
def test_karate_club_communities_follow_the_historical_split(
    store: GraphStore, tmp_path: Path, method: str
) -> None:
    karate = nx.karate_club_graph()
    _load(store, tmp_path, karate, "K")
    faction = {f"customer:K{n}": data["club"] for n, data in karate.nodes(data=True)}

    found, modularity = communities(network(store, "knows"), method=method, seed=7)

    assert sum(len(c) for c in found) == 34
    assert _purity(found, faction) >= 0.9
    assert modularity > 0.35


def test_the_medici_are_the_top_broker_of_florence(store: GraphStore, tmp_path: Path) -> None:
    _load(store, tmp_path, nx.florentine_families_graph(), "F-")
    ranked = brokers(network(store, "knows"), top=3)
    assert ranked[0]["name"] == "Medici" and ranked[0]["articulation_point"] is True
    assert ranked[0]["betweenness"] == pytest.approx(0.5219, abs=1e-3)


def test_igraph_and_networkx_give_the_same_answers_on_small_networks(
    store: GraphStore, tmp_path: Path
) -> None:
    _load(store, tmp_path, nx.karate_club_graph(), "K")
    graph = network(store, "knows")

    nx_rank, ig_rank = pagerank(graph, backend="networkx"), pagerank(graph, backend="igraph")
    assert max(abs(nx_rank[n] - ig_rank[n]) for n in graph) < 1e-4
    nx_between, ig_between = betweenness(graph, backend="networkx"), betweenness(graph, backend="igraph")
    assert max(abs(nx_between[n] - ig_between[n]) for n in graph) < 1e-9
    _, nx_q = communities(graph, method="louvain", backend="networkx")
    _, ig_q = communities(graph, method="louvain", backend="igraph")
    assert abs(nx_q - ig_q) < 0.03


def test_exports_for_other_tools(store: GraphStore, tmp_path: Path) -> None:
    _load(store, tmp_path, nx.florentine_families_graph(), "F-")
    graph = network(store, "knows")
    assert nx.parse_graphml(export(graph, "graphml")).number_of_nodes() == graph.number_of_nodes()
    assert "<gexf" in export(graph, "gexf")
    assert export(graph, "csv").splitlines()[0] == "source,target,weight"
    assert '"links"' in export(graph, "json")


def test_suggestions_departments_ambassadors_and_personalised_rank(store: GraphStore) -> None:
    from ckn.graph.model import Batch, NodeKind, RelType
    from ckn.queries.analysis import ambassadors, departments_bridged, suggestions
    from tests.factories import customer, employee, entity, rel

    people = [employee(f"employee:{p}", p.upper()) for p in "abcd"]
    depts = [
        entity("department:sales", NodeKind.DEPARTMENT, "Sales"),
        entity("department:service", NodeKind.DEPARTMENT, "Service"),
        entity("department:rd", NodeKind.DEPARTMENT, "R&D"),
    ]
    calls = [entity(f"interaction:{i}", NodeKind.INTERACTION, f"call {i}", channel="call") for i in (1, 2)]
    buyers = [customer(f"customer:{c}", c) for c in ("R1", "x1", "x2", "R2", "y1", "y2", "R3", "z1")]
    store.write(Batch(entities=(*people, *depts, *calls, *buyers)))
    store.write(
        Batch(
            relations=(
                rel(RelType.PARTICIPATED_IN, "employee:a", "interaction:1"),
                rel(RelType.PARTICIPATED_IN, "employee:b", "interaction:1"),
                rel(RelType.PARTICIPATED_IN, "employee:b", "interaction:2"),
                rel(RelType.PARTICIPATED_IN, "employee:c", "interaction:2"),
                rel(RelType.MEMBER_OF, "employee:a", "department:sales"),
                rel(RelType.MEMBER_OF, "employee:b", "department:service"),
                rel(RelType.MEMBER_OF, "employee:c", "department:service"),
                rel(RelType.MEMBER_OF, "employee:d", "department:rd"),
                *(
                    rel(RelType.REFERRED, f"customer:{a}", f"customer:{b}")
                    for a, b in [("R1", "x1"), ("R1", "x2"), ("R2", "y1"), ("R2", "y2"), ("R3", "z1")]
                ),
            )
        )
    )

    (meet,) = suggestions(network(store, "collaboration"))
    assert (meet["a"], meet["b"], [s["id"] for s in meet["shared"]]) == (
        "employee:a",
        "employee:c",
        ["employee:b"],
    )
    bridged = departments_bridged(store)
    assert [(b["id"], b["reaches"]) for b in bridged["brokers"]] == [
        ("employee:a", ["Service"]),
        ("employee:b", ["Sales"]),
    ]
    assert bridged["silos"] == ["R&D"]
    chosen = ambassadors(store, k=2)
    assert chosen["communities"] == 3 and chosen["covered"] == 2
    assert [a["id"] for a in chosen["ambassadors"]] == ["customer:R1", "customer:R2"]  # widest reach, then id
    around = pagerank(network(store, "referral"), reverse=True, around="customer:x1")
    assert max(around, key=lambda n: around[n]) == "customer:x1"


def test_networks_narrow_to_a_department_or_segment(store: GraphStore) -> None:
    from ckn.graph.errors import InvalidInput
    from ckn.graph.model import Batch, NodeKind, RelType
    from tests.factories import customer, employee, entity, rel

    people = [employee(f"employee:{p}", p.upper()) for p in "abc"]
    groups = [
        entity("department:sales", NodeKind.DEPARTMENT, "Sales 销售部"),
        entity("department:service", NodeKind.DEPARTMENT, "Service"),
        entity("segment:smb", NodeKind.SEGMENT, "SMB"),
        entity("topic:calib", NodeKind.TOPIC, "校准"),
        entity("topic:drift", NodeKind.TOPIC, "Drift"),
    ]
    call = entity("interaction:1", NodeKind.INTERACTION, "call", occurred_at="2026-05-01T10:00:00+00:00")
    note = entity("interaction:2", NodeKind.INTERACTION, "note", occurred_at="2026-05-02T10:00:00+00:00")
    buyers = [customer(f"customer:{c}", c) for c in ("R1", "x1", "x2")]
    store.write(Batch(entities=(*people, *groups, call, note, *buyers)))
    store.write(
        Batch(
            relations=(
                rel(RelType.PARTICIPATED_IN, "employee:a", "interaction:1"),
                rel(RelType.PARTICIPATED_IN, "employee:b", "interaction:1"),
                rel(RelType.RESOLVED, "employee:c", "interaction:2"),
                rel(RelType.ABOUT, "interaction:1", "topic:calib"),
                rel(RelType.ABOUT, "interaction:2", "topic:calib"),
                rel(RelType.ABOUT, "interaction:2", "topic:drift"),
                rel(RelType.MEMBER_OF, "employee:a", "department:sales"),
                rel(RelType.MEMBER_OF, "employee:b", "department:service"),
                rel(RelType.MEMBER_OF, "employee:c", "department:service"),
                rel(RelType.IN_SEGMENT, "customer:R1", "segment:smb"),
                rel(RelType.IN_SEGMENT, "customer:x1", "segment:smb"),
                rel(RelType.REFERRED, "customer:R1", "customer:x1"),
                rel(RelType.REFERRED, "customer:R1", "customer:x2"),
            )
        )
    )

    assert sorted(network(store, "collaboration").edges()) == [("employee:a", "employee:b")]
    service = network(store, "collaboration", department="service")  # by name, any case
    assert sorted(service.nodes) == ["employee:b", "employee:c"] and service.number_of_edges() == 0
    assert sorted(network(store, "referral", segment="SMB").edges()) == [("customer:R1", "customer:x1")]
    # topics linked by the colleagues who work on both, with those colleagues named
    topics = network(store, "topics")
    assert topics.edges["topic:calib", "topic:drift"]["people"] == ["C"]
    # narrowing the people narrows what links the topics: nobody in sales worked on drift
    assert list(network(store, "topics", department="department:sales").edges()) == []
    assert sorted(network(store, "employee-topic", department="Sales 销售部").nodes) == [
        "employee:a",
        "topic:calib",
    ]
    with pytest.raises(InvalidInput, match="no department called 'Marketing'; known: Sales 销售部, Service"):
        network(store, "collaboration", department="Marketing")
    with pytest.raises(InvalidInput, match="referral network has no employees"):
        network(store, "referral", department="Sales")


def test_networks_and_answers_follow_the_graph_when_it_changes(store: GraphStore) -> None:
    from ckn.api.answers import AnalysisOptions, analysis_answer
    from ckn.graph.model import Batch, RelType
    from tests.factories import customer, rel

    store.write(Batch(entities=tuple(customer(f"customer:{c}", c) for c in ("A", "B", "C"))))
    store.write(Batch(relations=(rel(RelType.REFERRED, "customer:A", "customer:B"),)))
    first = analysis_answer(store, "referral", "pagerank", AnalysisOptions(reverse=True))
    assert (
        analysis_answer(store, "referral", "pagerank", AnalysisOptions(reverse=True)) is first
    )  # remembered

    store.write(Batch(relations=(rel(RelType.REFERRED, "customer:C", "customer:A"),)))

    assert sorted(network(store, "referral").edges()) == [
        ("customer:A", "customer:B"),
        ("customer:C", "customer:A"),
    ]
    again = analysis_answer(store, "referral", "pagerank", AnalysisOptions(reverse=True))
    assert again["edges"] == 2 and again["ranking"][0]["id"] == "customer:C"  # the root of the chain now


def test_escalations_and_resolutions_link_colleagues(store: GraphStore) -> None:
    from ckn.graph.model import Batch, NodeKind, RelType
    from tests.factories import customer, employee, entity, rel

    people = [employee(f"employee:{p}", p.upper()) for p in "abcd"]
    complaint = entity("feedback:F1", NodeKind.FEEDBACK, "投诉: 校准漂移", submitted_at="2026-06-01")
    old_call = entity("interaction:old", NodeKind.INTERACTION, "call", occurred_at="2024-01-05")
    buyer = customer("customer:C1", "华东精密")
    store.write(Batch(entities=(*people, complaint, old_call, buyer)))
    store.write(
        Batch(
            relations=(
                rel(RelType.SUBMITTED, "customer:C1", "feedback:F1"),
                rel(RelType.RESOLVED, "employee:a", "feedback:F1"),
                rel(RelType.ESCALATED_TO, "feedback:F1", "employee:b"),
                rel(RelType.PARTICIPATED_IN, "employee:c", "interaction:old"),
                rel(RelType.PARTICIPATED_IN, "employee:d", "interaction:old"),
            )
        )
    )

    assert sorted(network(store, "collaboration").edges()) == [
        ("employee:a", "employee:b"),
        ("employee:c", "employee:d"),
    ]
    recent = network(store, "collaboration", since=datetime(2025, 1, 1, tzinfo=UTC))
    assert sorted(recent.edges()) == [("employee:a", "employee:b")]
