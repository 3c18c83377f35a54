"""Contract: hostile labels and types never reach a query; concurrent writers never duplicate."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from ckn.graph.errors import InvalidLabel
from ckn.graph.model import Batch, Entity, NodeKind, RelType
from ckn.graph.store import Direction, GraphStore
from tests.factories import customer, prov, rel

HOSTILE = [
    "Customer) DETACH DELETE n //",
    "KNOWS]->() MATCH (x) DETACH DELETE x //",
    "Customer`:Admin",
    "客户",
    "",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_kinds_and_types_are_refused_before_any_query(store: GraphStore, hostile: str) -> None:
    store.write(Batch(entities=(customer("customer:C1", "张伟"),)))

    with pytest.raises(ValidationError):
        Entity(id="x", kind=hostile, provenance=(prov(),))  # type: ignore[arg-type]
    with pytest.raises((InvalidLabel, ValueError)):
        store.get_relations("customer:C1", types=[hostile])  # type: ignore[list-item]
    with pytest.raises((InvalidLabel, ValueError)):
        store.neighbourhood("customer:C1", types=[hostile])  # type: ignore[list-item]
    with pytest.raises((InvalidLabel, ValueError)):
        store.list_entities(hostile)  # type: ignore[arg-type]
    with pytest.raises((InvalidLabel, ValueError)):
        store.project(kinds=[hostile])  # type: ignore[list-item]

    assert store.get_entity("customer:C1") is not None
    assert store.stats().entities == {"Customer": 1}


def test_values_that_look_like_queries_are_stored_as_plain_text(store: GraphStore) -> None:
    sneaky = "'}) MATCH (n) DETACH DELETE n //"
    store.write(Batch(entities=(customer(f"customer:{sneaky}", sneaky, note=sneaky, **{"a b`c": sneaky}),)))

    stored = store.get_entity(f"customer:{sneaky}")
    assert stored is not None
    assert stored.name == sneaky and stored.props == {"note": sneaky, "a b`c": sneaky}
    assert store.stats().total_entities == 1


def test_concurrent_writers_create_no_duplicates_and_lose_no_evidence(
    store_factory: Callable[..., GraphStore],
) -> None:
    """Four clients (as four processes would) write overlapping batches at the same time."""
    shared = [f"customer:S{i}" for i in range(40)]
    errors: list[BaseException] = []
    writers = [store_factory() for _ in range(4)]

    def write(worker: int, store: GraphStore) -> None:
        try:
            for round_ in range(3):
                entities = tuple(
                    customer(
                        eid, f"客户{eid[-2:]}", source=f"src:worker{worker}", **{f"seen_by_{worker}": round_}
                    )
                    for eid in shared
                )
                relations = tuple(
                    rel(RelType.KNOWS, shared[i], shared[(i + 1) % len(shared)], src=f"src:worker{worker}")
                    for i in range(len(shared))
                )
                store.write(Batch(entities=entities, relations=relations))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i, s)) for i, s in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    reader = writers[0]
    stats = reader.stats()
    assert stats.entities == {"Customer": 40}
    assert stats.relations == {"KNOWS": 40}
    for entity in reader.get_entities(shared).values():
        assert {p.source_id for p in entity.provenance} == {f"src:worker{i}" for i in range(4)}
        assert entity.props == {f"seen_by_{i}": 2 for i in range(4)}
    for relation in reader.get_relations(shared[0], direction=Direction.OUT):
        assert len(relation.provenance) == 4


def test_a_second_client_sees_the_first_clients_writes(store_factory: Callable[..., GraphStore]) -> None:
    first, second = store_factory(), store_factory()
    first.write(Batch(entities=(customer("customer:C1"), customer("customer:C2"))))
    assert second.neighbourhood("customer:C1").distances == {"customer:C1": 0}

    first.write(Batch(relations=(rel(RelType.REFERRED, "customer:C1", "customer:C2"),)))

    assert second.neighbourhood("customer:C1").distances == {"customer:C1": 0, "customer:C2": 1}
    assert second.get_entity("customer:C2") is not None
    assert second.stats().entities == {NodeKind.CUSTOMER.value: 2}


def test_a_very_long_name_or_contact_is_kept_and_found_on_every_store(store: GraphStore) -> None:
    """A messy export pastes a note into a name or an e-mail column: the row is kept as it came, on
    every store, however long (Neo4j cannot index a value of more than about 8 kB as it is)."""
    long_name = "张伟（北京）" + "客户备注很长，" * 3000  # about 63 kB of UTF-8
    long_mail = "x" * 9000 + "@example.com"
    store.write(Batch(entities=(customer("customer:C1", long_name, emails=[long_mail]),)))

    stored = store.get_entity("customer:C1")
    assert stored is not None and stored.name == long_name and stored.props["emails"] == [long_mail]
    store.write(Batch(entities=(customer("customer:C1", long_name + "。"),)))  # written again: replaced
    again = store.get_entity("customer:C1")
    assert again is not None and again.name == long_name + "。"
