"""Contract: neighbourhoods, bounded paths, projection to networkx. Runs on every store."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from ckn.graph import traversal
from ckn.graph.errors import LimitExceeded, NotFound
from ckn.graph.model import Batch, NodeKind, RelType
from ckn.graph.store import AROUND_TYPES, CUSTOMER_ITEM_TYPES, DOSSIER_TYPES, Around, Direction, GraphStore
from ckn.ingest.generate import generate
from ckn.ingest.pipeline import ingest_paths
from tests.factories import customer, employee, entity, referral_chain, rel

# A small company: two sales people who know each other, an account, its contact, a referral chain.
#
#   E1 -KNOWS-> E2 -OWNS_ACCOUNT-> ORG <-WORKS_AT- C1 -REFERRED-> C2 -REFERRED-> C3
#   E1 -OWNS_ACCOUNT-> C3                          C1 -REFERRED-> C3  (a shortcut)


@pytest.fixture
def company(store: GraphStore) -> GraphStore:
    store.write(
        Batch(
            entities=(
                employee("employee:E1", "David Chen"),
                employee("employee:E2", "李娜"),
                customer("customer:ORG", "华东精密仪器有限公司", lifetime_value=480000),
                customer("customer:C1", "张伟"),
                customer("customer:C2", "刘强", lifetime_value=56000),
                customer("customer:C3", "陈静", lifetime_value=23000),
            ),
            relations=(
                rel(RelType.KNOWS, "employee:E1", "employee:E2", strength=0.8),
                rel(RelType.OWNS_ACCOUNT, "employee:E2", "customer:ORG"),
                rel(RelType.WORKS_AT, "customer:C1", "customer:ORG"),
                rel(RelType.REFERRED, "customer:C1", "customer:C2"),
                rel(RelType.REFERRED, "customer:C2", "customer:C3"),
                rel(RelType.REFERRED, "customer:C1", "customer:C3"),
                rel(RelType.OWNS_ACCOUNT, "employee:E1", "customer:C3"),
            ),
        )
    )
    return store


def test_neighbourhood_lists_nearest_first_then_by_id(company: GraphStore) -> None:
    sub = company.neighbourhood("customer:C1", depth=2)

    assert [e.id for e in sub.entities] == [
        "customer:C1",
        "customer:C2",
        "customer:C3",
        "customer:ORG",
        "employee:E1",
        "employee:E2",
    ]
    assert sub.distances == {
        "customer:C1": 0,
        "customer:C2": 1,
        "customer:C3": 1,
        "customer:ORG": 1,
        "employee:E1": 2,
        "employee:E2": 2,
    }
    assert sub.truncated is False
    assert {(r.type.value, r.source, r.target) for r in sub.relations} == {
        ("REFERRED", "customer:C1", "customer:C2"),
        ("REFERRED", "customer:C1", "customer:C3"),
        ("REFERRED", "customer:C2", "customer:C3"),
        ("WORKS_AT", "customer:C1", "customer:ORG"),
        ("OWNS_ACCOUNT", "employee:E2", "customer:ORG"),
        ("OWNS_ACCOUNT", "employee:E1", "customer:C3"),
    }


def test_neighbourhood_follows_only_the_types_and_direction_asked(company: GraphStore) -> None:
    downstream = company.neighbourhood(
        "customer:C1", depth=3, types=[RelType.REFERRED], direction=Direction.OUT
    )
    upstream = company.neighbourhood("customer:C3", depth=3, types=[RelType.REFERRED], direction=Direction.IN)

    assert downstream.distances == {"customer:C1": 0, "customer:C2": 1, "customer:C3": 1}
    assert upstream.distances == {"customer:C3": 0, "customer:C1": 1, "customer:C2": 1}


def test_neighbourhood_is_capped_and_says_so(company: GraphStore) -> None:
    sub = company.neighbourhood("customer:C1", depth=2, limit=3)
    assert [e.id for e in sub.entities] == ["customer:C1", "customer:C2", "customer:C3"]
    assert sub.truncated is True


def test_neighbourhood_refuses_depth_above_the_cap_and_unknown_ids(company: GraphStore) -> None:
    with pytest.raises(LimitExceeded, match="depth must be between 1 and 6"):
        company.neighbourhood("customer:C1", depth=7)
    with pytest.raises(NotFound):
        company.neighbourhood("customer:nobody")


def test_paths_come_shortest_first_then_by_ids(company: GraphStore) -> None:
    found = company.paths("employee:E1", "customer:C1", max_depth=4)

    assert [p.nodes for p in found] == [
        ("employee:E1", "customer:C3", "customer:C1"),
        ("employee:E1", "customer:C3", "customer:C2", "customer:C1"),
        ("employee:E1", "employee:E2", "customer:ORG", "customer:C1"),
    ]
    assert [h.type for h in found[0].hops] == [RelType.OWNS_ACCOUNT, RelType.REFERRED]
    assert all(len(set(p.nodes)) == len(p.nodes) for p in found)  # simple paths only


def test_paths_respect_depth_types_direction_and_limit(company: GraphStore) -> None:
    assert company.paths("employee:E1", "customer:C1", max_depth=1) == []
    warm = company.paths(
        "employee:E1",
        "customer:C1",
        max_depth=4,
        types=[RelType.KNOWS, RelType.OWNS_ACCOUNT, RelType.WORKS_AT],
    )
    assert [p.nodes for p in warm] == [("employee:E1", "employee:E2", "customer:ORG", "customer:C1")]
    forward = company.paths("customer:C1", "customer:C3", types=[RelType.REFERRED], direction=Direction.OUT)
    assert [p.nodes for p in forward] == [
        ("customer:C1", "customer:C3"),
        ("customer:C1", "customer:C2", "customer:C3"),
    ]
    backward = company.paths("customer:C3", "customer:C1", types=[RelType.REFERRED], direction=Direction.OUT)
    assert backward == []
    assert len(company.paths("employee:E1", "customer:C1", max_depth=4, limit=1)) == 1


def test_paths_refuse_depth_above_the_cap(company: GraphStore) -> None:
    with pytest.raises(LimitExceeded):
        company.paths("employee:E1", "customer:C1", max_depth=11)
    with pytest.raises(NotFound):
        company.paths("employee:E1", "customer:nobody")


def test_a_traversal_that_touches_too_much_stops_with_a_clear_error(store_factory) -> None:  # type: ignore[no-untyped-def]
    from ckn.graph.store import Limits

    store = store_factory(Limits(max_expansion=50))
    hub = entity("product:X200", NodeKind.PRODUCT, "X200")
    buyers = [customer(f"customer:{i}") for i in range(60)]
    store.write(
        Batch(entities=(hub, *buyers), relations=tuple(rel(RelType.PURCHASED, b.id, hub.id) for b in buyers))
    )

    with pytest.raises(LimitExceeded, match="too many relationships"):
        store.neighbourhood("product:X200", depth=2)


def _busy_colleague(store: GraphStore) -> None:
    """A colleague in 60 interactions; a customer in two of them."""
    calls = [entity(f"interaction:{i:02}", NodeKind.INTERACTION, f"call {i}") for i in range(60)]
    store.write(
        Batch(
            entities=(employee("employee:busy", "忙碌的王"), customer("customer:quiet", "Quiet Ltd"), *calls),
            relations=(
                *(rel(RelType.PARTICIPATED_IN, "employee:busy", c.id) for c in calls),
                rel(RelType.PARTICIPATED_IN, "customer:quiet", "interaction:07"),
                rel(RelType.PARTICIPATED_IN, "customer:quiet", "interaction:42"),
            ),
        )
    )


def test_degree_counts_what_one_step_would_cross(store: GraphStore) -> None:
    _busy_colleague(store)
    both = Direction.BOTH
    assert store.degree(["employee:busy"], types=None, direction=both) == 60
    assert store.degree(["employee:busy", "customer:quiet"], types=None, direction=Direction.OUT) == 62
    assert store.degree(["interaction:07"], types=None, direction=Direction.IN) == 2
    assert store.degree(["interaction:07"], types=None, direction=Direction.OUT) == 0
    assert store.degree(["employee:busy"], types=[RelType.KNOWS], direction=both) == 0
    assert (
        store.degree(["employee:busy"], types=[RelType.KNOWS, RelType.PARTICIPATED_IN], direction=both) == 60
    )
    assert store.degree(["customer:nobody"], types=None, direction=both) == 0
    assert store.degree(["employee:busy", "customer:quiet"], types=None, direction=both, at_most=10) > 10


def test_expand_towards_some_entities_keeps_only_what_reaches_them(store: GraphStore) -> None:
    _busy_colleague(store)
    hops = store.expand(
        ["employee:busy", "customer:quiet"],
        types=None,
        direction=Direction.BOTH,
        towards={"interaction:42", "interaction:59"},
    )
    assert sorted((h.source, h.target) for h in hops) == [
        ("customer:quiet", "interaction:42"),
        ("employee:busy", "interaction:42"),
        ("employee:busy", "interaction:59"),
    ]
    assert (
        store.expand(["employee:busy"], types=None, direction=Direction.IN, towards={"interaction:42"}) == []
    )


def test_a_path_to_a_busy_colleague_is_searched_from_the_quiet_end(store_factory) -> None:  # type: ignore[no-untyped-def]
    from ckn.graph.store import Limits

    store = store_factory(Limits(max_expansion=50))  # fewer than the colleague's 60 interactions
    _busy_colleague(store)

    found = store.paths("employee:busy", "customer:quiet", max_depth=2)

    assert [p.nodes for p in found] == [
        ("employee:busy", "interaction:07", "customer:quiet"),
        ("employee:busy", "interaction:42", "customer:quiet"),
    ]


def test_long_chains_are_found_up_to_the_cap(store: GraphStore) -> None:
    people, links = referral_chain(8)
    store.write(Batch(entities=tuple(people), relations=tuple(links)))

    six = store.paths("customer:c0", "customer:c6", max_depth=6, direction=Direction.OUT)
    assert [p.length for p in six] == [6]
    assert store.paths("customer:c0", "customer:c7", max_depth=6) == []


def test_projection_to_networkx_carries_kinds_names_and_properties(company: GraphStore) -> None:
    graph = company.project()

    assert isinstance(graph, nx.MultiDiGraph)
    assert graph.number_of_nodes() == 6 and graph.number_of_edges() == 7
    assert graph.nodes["customer:ORG"] == {
        "kind": "Customer",
        "name": "华东精密仪器有限公司",
        "lifetime_value": 480000,
    }
    ((key, data),) = graph.get_edge_data("employee:E1", "employee:E2").items()
    assert key.startswith("KNOWS:")
    assert data == {"type": "KNOWS", "strength": 0.8, "valid_from": None, "valid_to": None}


def test_projection_filters_kinds_and_types(company: GraphStore) -> None:
    referrals = company.project(kinds=[NodeKind.CUSTOMER], types=[RelType.REFERRED])

    assert sorted(referrals.nodes) == ["customer:C1", "customer:C2", "customer:C3", "customer:ORG"]
    assert sorted((u, v) for u, v in referrals.edges()) == [
        ("customer:C1", "customer:C2"),
        ("customer:C1", "customer:C3"),
        ("customer:C2", "customer:C3"),
    ]


def test_expand_returns_each_relationship_once_in_id_order(company: GraphStore) -> None:
    hops = company.expand(["customer:C1", "customer:C2"], types=None, direction=Direction.BOTH)
    ids = [h.relation_id for h in hops]
    assert ids == sorted(set(ids))
    assert len(ids) == 4  # C1-C2 is seen from both ends but listed once


def test_a_traversal_over_its_time_budget_stops_with_a_clear_error(store_factory) -> None:  # type: ignore[no-untyped-def]
    from ckn.graph.store import Limits

    store = store_factory(Limits(time_budget_s=1e-9))
    people, links = referral_chain(4)
    store.write(Batch(entities=tuple(people), relations=tuple(links)))

    with pytest.raises(LimitExceeded, match="longer than its budget"):
        store.neighbourhood("customer:c0", depth=3)


def test_a_projection_can_carry_only_some_properties(store: GraphStore) -> None:
    call = entity(
        "interaction:1", NodeKind.INTERACTION, "call", occurred_at="2026-05-01", notes="很长的记录 " * 100
    )
    topic = entity("topic:t", NodeKind.TOPIC, "校准")
    about = rel(RelType.ABOUT, "interaction:1", "topic:t", occurred_at="2026-05-02", weight=0.5)
    store.write(Batch(entities=(call, topic), relations=(about,)))

    slim = store.project(types=[RelType.ABOUT], fields=["occurred_at", "channel"])

    assert slim.nodes["interaction:1"] == {"occurred_at": "2026-05-01", "kind": "Interaction", "name": "call"}
    assert slim.nodes["topic:t"] == {"kind": "Topic", "name": "校准"}
    ((_, _, data),) = slim.edges(data=True)
    assert data == {"type": "ABOUT", "valid_from": None, "valid_to": None}  # no edge properties
    ((_, _, full),) = store.project(types=[RelType.ABOUT]).edges(data=True)
    assert full["occurred_at"] == "2026-05-02" and full["weight"] == 0.5

    entities_only = store.project(kinds=[NodeKind.TOPIC], types=(), fields=["aliases"])
    assert dict(entities_only.nodes(data=True)) == {"topic:t": {"kind": "Topic", "name": "校准"}}
    assert entities_only.number_of_edges() == 0


def test_scans_stream_entities_with_some_fields_and_relation_ends(store: GraphStore) -> None:
    call = entity("interaction:1", NodeKind.INTERACTION, "call", occurred_at="2026-05-01", notes="长 " * 50)
    topic = entity("topic:t", NodeKind.TOPIC, "校准")
    product = entity("product:p", NodeKind.PRODUCT, "Sensor X")
    store.write(
        Batch(
            entities=(call, topic, product),
            relations=(
                rel(RelType.ABOUT, "interaction:1", "topic:t", weight=0.5),
                rel(RelType.ABOUT, "interaction:1", "product:p"),
            ),
        )
    )

    scanned = store.scan_entities(kinds=[NodeKind.INTERACTION, NodeKind.TOPIC], fields=["occurred_at"])
    assert sorted(scanned) == [
        ("interaction:1", "Interaction", "call", {"occurred_at": "2026-05-01"}),
        ("topic:t", "Topic", "校准", {}),
    ]
    assert sorted(store.scan_relations(types=[RelType.ABOUT])) == [
        ("interaction:1", "product:p", "ABOUT"),
        ("interaction:1", "topic:t", "ABOUT"),
    ]
    assert list(store.scan_relations(types=[RelType.REFERRED])) == []

    unfinished = store.scan_relations(types=[RelType.ABOUT])
    next(unfinished)  # a scan left open blocks no write
    store.write(Batch(entities=(entity("topic:u", NodeKind.TOPIC, "漂移 drift"),)))
    assert store.get_entity("topic:u") is not None
    unfinished.close()


def test_traversals_see_writes_made_after_the_first_one(store: GraphStore) -> None:
    """The embedded store adds them to its traversal view; a relation written again is not listed twice."""
    people, links = referral_chain(3)
    store.write(Batch(entities=tuple(people[:2]), relations=tuple(links[:1])))
    assert [h.target for h in store.expand([people[0].id], types=None, direction=Direction.OUT)] == [
        people[1].id
    ]

    store.write(Batch(entities=tuple(people), relations=tuple(links)))  # the first link again, and a new one

    assert [h.target for h in store.expand([people[1].id], types=None, direction=Direction.OUT)] == [
        people[2].id
    ]
    assert len(store.expand([people[1].id], types=None, direction=Direction.BOTH)) == 2
    assert store.degree([people[1].id], types=[RelType.REFERRED], direction=Direction.BOTH) == 2
    assert [p.nodes for p in store.paths(people[0].id, people[2].id)] == [tuple(p.id for p in people)]


def test_a_dropped_projection_is_freed_at_once(company: GraphStore) -> None:
    """Its views do not refer back to it: millions of edges go with reference counting, not a full
    garbage collection (the collector is paused here to show it)."""
    import gc
    import weakref

    gc.disable()
    try:
        graph = company.project()
        assert graph.edges and list(graph.in_edges("customer:C3")) and graph.degree("customer:C1")
        gone = weakref.ref(graph)
        del graph
        assert gone() is None
    finally:
        gc.enable()


def test_a_customer_dossier_read_at_once_equals_its_reads_step_by_step(
    store: GraphStore, tmp_path: Path
) -> None:
    assert set(CUSTOMER_ITEM_TYPES) <= set(DOSSIER_TYPES) and not set(CUSTOMER_ITEM_TYPES) & set(AROUND_TYPES)
    generate(tmp_path / "bundle", "tiny", seed=11)
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    full = 0
    for found in store.list_entities(NodeKind.CUSTOMER, limit=store.limits.max_page):
        read = store.customer_around(found.id)
        assert read == traversal.customer_around(store, found.id), found.id
        assert read is not None and read.customer == found
        about = {h.target for h in read.around if h.type is RelType.ABOUT}
        assert about <= read.entities.keys() and {h.target for h in read.hops} <= read.entities.keys()
        resolved = any(h.type is RelType.RESOLVED for h in read.around)
        full += bool(about and resolved and read.relations)
    assert full >= 3  # customers with subjects, resolved feedback and an owner or a purchase
    colleague = store.list_entities(NodeKind.EMPLOYEE, limit=1)[0]
    assert store.customer_around(colleague.id) == Around(customer=colleague)  # not a customer: nothing else
    store.write(Batch(entities=(customer("customer:alone", "独自 Alone"),)))
    assert store.customer_around("customer:alone") == traversal.customer_around(store, "customer:alone")
    assert store.customer_around("customer:nobody") is None
