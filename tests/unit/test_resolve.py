"""The resolver: loaded from a store, its look-alike search and its forgetting (against brute force)."""

from __future__ import annotations

import random

from rapidfuzz import fuzz

from ckn.graph.model import Batch, Entity, NodeKind
from ckn.graph.store import GraphStore
from ckn.ingest import normalise
from ckn.ingest.resolve import Resolver
from tests.factories import customer, employee, entity, prov

NAMES = [
    "Wei Zhang",
    "Zhang Wei",
    "Zhang Wie",
    "Zhang Weii",
    "Zhang",
    "张伟",
    "張偉",
    "张玮",
    "Store 12",
    "Store 13",
]


def _customer(i: int, name: str, **props: object) -> Entity:
    return Entity(id=f"customer:{i}", kind=NodeKind.CUSTOMER, name=name, props=props, provenance=(prov(),))


def test_similar_finds_what_comparing_with_every_name_finds() -> None:
    rng = random.Random(3)
    letters = "zhangweiu 张伟玮"
    names = NAMES + [
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 14))).strip() or "x" for _ in range(400)
    ]
    resolver = Resolver()
    for i, name in enumerate(names):
        resolver.learn(_customer(i, name))
    for threshold in (60, 90):
        for name in names[:60]:
            key = normalise.match_key(name)
            expected = {
                f"customer:{i}"
                for i, other in enumerate(names)
                if (other_key := normalise.match_key(other))
                and sorted(other_key.split())[0][0] == sorted(key.split())[0][0]
                and fuzz.token_sort_ratio(key, other_key) >= threshold
                and [d for d in other_key.split() if d.isdigit()] == [d for d in key.split() if d.isdigit()]
            }
            found = resolver.similar(NodeKind.CUSTOMER, name, threshold)
            assert len(found) == min(5, len(expected)), (name, threshold)
            assert {entity_id for entity_id, _ in found} <= expected


def test_similar_ignores_word_order_and_script() -> None:
    resolver = Resolver()
    for i, name in enumerate(NAMES):
        resolver.learn(_customer(i, name))
    assert resolver.similar(NodeKind.CUSTOMER, "WEI  zhang")[:2] == [
        ("customer:0", 100.0),
        ("customer:1", 100.0),
    ]
    assert [i for i, _ in resolver.similar(NodeKind.CUSTOMER, "張偉")] == ["customer:5", "customer:6"]
    assert [i for i, _ in resolver.similar(NodeKind.CUSTOMER, "store 12")] == ["customer:8"]


def test_a_forgotten_entity_is_found_by_nothing() -> None:
    resolver = Resolver()
    resolver.learn(_customer(1, "Maria Lopez", emails=["maria@example.com"], aliases=["玛丽亚"]))
    resolver.learn(_customer(2, "Maria Lopes"))
    resolver.forget("customer:1")
    assert resolver.by_keys(NodeKind.CUSTOMER, emails=["maria@example.com"]) is None
    assert resolver.by_name(NodeKind.CUSTOMER, "玛丽亚") is None
    assert resolver.by_name(NodeKind.CUSTOMER, "Maria Lopez") is None
    assert resolver.similar(NodeKind.CUSTOMER, "Maria Lopez") == [("customer:2", 90.9090909090909)]
    assert resolver.kind_of("customer:1") is None


def test_a_name_exactly_at_the_threshold_is_found_whichever_is_longer() -> None:
    # 9 and 11 letters, one inside the other: ratio 200 * 9 / 20 = 90, the most those lengths allow
    resolver = Resolver()
    resolver.learn(_customer(1, "Alexandra"))
    resolver.learn(_customer(2, "Alexandrane"))
    assert resolver.similar(NodeKind.CUSTOMER, "Alexandra", 90)[1] == ("customer:2", 90.0)
    assert resolver.similar(NodeKind.CUSTOMER, "Alexandrane", 90)[1] == ("customer:1", 90.0)
    assert resolver.similar(NodeKind.CUSTOMER, "Alexandra", 91) == [("customer:1", 100.0)]


def test_a_common_name_gives_the_first_five_of_that_exact_name() -> None:
    resolver = Resolver()
    for i in random.Random(1).sample(range(10, 17), 7):  # seven people called Zhang Wei, in any order
        resolver.learn(_customer(i, "Zhang Wei"))
    resolver.learn(_customer(1, "Zhang Wie"))  # alike, but not the same: scores less than 100
    first_five = [(f"customer:{i}", 100.0) for i in range(10, 15)]
    assert resolver.similar(NodeKind.CUSTOMER, "WEI zhang") == first_five


def test_a_resolver_loaded_from_either_store_knows_the_same_entities_alike(store: GraphStore) -> None:
    """Two customers share a household e-mail: the one with the first id keeps it, whatever the store
    or the order they were written in; names, aliases and phones are known, interactions are not."""
    for written in (
        customer("customer:K2", "陈 静", emails=["home@chen-family.cn"], phones=["+8613900000002"]),
        customer("customer:K1", "Chen Jing", emails=["home@chen-family.cn"], aliases=["小陈", "J. Chen"]),
        employee("employee:E7", "Li Na", external_ids=["hubspot:501"]),
        entity("interaction:I1", NodeKind.INTERACTION, "call with Chen Jing"),
    ):
        store.write(Batch(entities=(written,)))

    resolver = Resolver.from_store(store)

    assert resolver.by_keys(NodeKind.CUSTOMER, emails=["home@chen-family.cn"]) == "customer:K1"
    assert resolver.by_keys(NodeKind.CUSTOMER, phones=["+8613900000002"]) == "customer:K2"
    assert resolver.by_keys(NodeKind.EMPLOYEE, external_ids=["hubspot:501"]) == "employee:E7"
    assert resolver.by_name(NodeKind.CUSTOMER, "小陈") == "customer:K1"
    assert resolver.by_name(NodeKind.CUSTOMER, "陳靜") == "customer:K2"  # traditional, without the space
    assert resolver.kind_of("interaction:I1") is None
    assert resolver.new == set()  # what the store held is not what the next source brings
