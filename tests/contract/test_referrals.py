"""Marketing: referral trees down, chains up, referrers, cohort statistics, cycles. Every store."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import pytest

from ckn.graph import embedded_store, traversal
from ckn.graph.errors import LimitExceeded, NotFound
from ckn.graph.model import Batch, Provenance, RelType
from ckn.graph.store import GraphStore
from ckn.ingest import normalise
from ckn.ingest.generate import generate
from ckn.ingest.pipeline import ingest_paths
from ckn.queries.referrals import (
    TreeNode,
    _referral_graph,
    _tree,
    _tree_below,
    referral_chain,
    referral_stats,
    referral_tree,
    referrers,
)
from tests.factories import customer, rel

#   R ─┬─ A ─┬─ C ── E          X → Y → Z → X   (a cycle: a data problem to report)
#      │     └─ D
#      └─ B ──── D  (D again: counted once, under A, the smaller id at the same depth)
PLANTED = {
    "R": ("2024-01-15", 100.0),
    "A": ("2024-02-01", 50.0),
    "B": ("2024-04-20", 40.0),
    "C": ("2024-05-05", 30.0),
    "D": ("2024-05-06", 20.0),
    "E": ("2024-08-30", 10.0),
    "X": ("2025-01-01", 1.0),
    "Y": ("2025-01-02", 1.0),
    "Z": ("2025-01-03", 1.0),
    "L": ("2024-02-02", 5.0),
}
LINKS = [
    ("R", "A"),
    ("R", "B"),
    ("A", "C"),
    ("A", "D"),
    ("B", "D"),
    ("C", "E"),
    ("X", "Y"),
    ("Y", "Z"),
    ("Z", "X"),
]


@pytest.fixture
def referrals(store: GraphStore) -> GraphStore:
    people = [
        customer(f"customer:{k}", f"客户{k}", acquired_at=f"{d}T00:00:00+00:00", lifetime_value=v)
        for k, (d, v) in PLANTED.items()
    ]
    links = [rel(RelType.REFERRED, f"customer:{a}", f"customer:{b}") for a, b in LINKS]
    cue = rel(RelType.REFERRED, "customer:L", "customer:E")  # a weak text cue: E was "introduced by" L
    cue = cue.model_copy(update={"provenance": (Provenance(source_id="doc:note", confidence=0.6),)})
    store.write(Batch(entities=tuple(people), relations=(*links, cue)))
    return store


def _shape(node: dict) -> dict:  # type: ignore[type-arg]
    return {node["customer_id"].split(":")[1]: [_shape(c) for c in node["children"]]}


def test_the_downstream_tree_equals_the_planted_one_with_totals_per_branch(referrals: GraphStore) -> None:
    tree, cycles = referral_tree(referrals, "customer:R")

    assert _shape(tree.as_dict()) == {"R": [{"A": [{"C": [{"E": []}]}, {"D": []}]}, {"B": []}]}
    assert (tree.branch_customers, tree.branch_value) == (5, 150.0)
    a = tree.children[0]
    assert (a.branch_customers, a.branch_value) == (3, 60.0)
    assert cycles == []
    shallow, _ = referral_tree(referrals, "customer:R", max_depth=1)
    assert [c.customer_id for c in shallow.children] == [
        "customer:A",
        "customer:B",
    ] and shallow.branch_customers == 2


def test_the_upstream_chain_follows_the_best_attested_referrer(referrals: GraphStore) -> None:
    assert referral_chain(referrals, "customer:E") == [
        "customer:C",
        "customer:A",
        "customer:R",
    ]  # not the cue
    assert referral_chain(referrals, "customer:R") == []


@pytest.mark.parametrize("weak", ["customer:A0", "customer:Z9"])
def test_the_chain_takes_the_best_attested_referrer_whatever_the_ids(store: GraphStore, weak: str) -> None:
    people = [customer(i, i) for i in ("customer:X1", "customer:C", "customer:T", weak)]
    crm_row = rel(RelType.REFERRED, "customer:C", "customer:X1")  # a CRM relationship row
    mention = rel(RelType.REFERRED, weak, "customer:X1")  # one text mention, weaker
    mention = mention.model_copy(update={"provenance": (Provenance(source_id="doc:1", confidence=0.6),)})
    twice = rel(RelType.REFERRED, weak, "customer:T")  # equal confidence: the better-attested wins
    twice = twice.model_copy(
        update={"provenance": (Provenance(source_id="a.csv"), Provenance(source_id="b.csv"))}
    )
    once = rel(RelType.REFERRED, "customer:C", "customer:T")
    store.write(Batch(entities=tuple(people), relations=(crm_row, mention, twice, once)))

    assert referral_chain(store, "customer:X1") == ["customer:C"]
    assert referral_chain(store, "customer:T") == [weak]


def test_a_referral_cycle_is_reported_not_followed_forever(referrals: GraphStore) -> None:
    tree, cycles = referral_tree(referrals, "customer:X")
    assert cycles == [["customer:X", "customer:Y", "customer:Z"]]
    assert tree.branch_customers == 2
    assert referral_chain(referrals, "customer:X") == ["customer:Z", "customer:Y"]
    assert referral_stats(referrals)["cycles"] == [["customer:X", "customer:Y", "customer:Z"]]


def test_the_cycles_listed_are_each_customers_shortest_taken_in_id_order(store: GraphStore) -> None:
    """A and D refer each other, A is on a ring of three; E to H a ring of four with a shortcut; S itself."""
    links = [("R", "A"), ("R", "E"), ("R", "S"), ("A", "B"), ("B", "C"), ("C", "A"), ("A", "D"), ("D", "A")]
    links += [("E", "F"), ("F", "G"), ("G", "H"), ("H", "E"), ("G", "E"), ("S", "S")]
    people = sorted({c for pair in links for c in pair})
    store.write(Batch(entities=tuple(customer(f"customer:{c}", f"客户{c}") for c in reversed(people))))
    refs = (rel(RelType.REFERRED, f"customer:{a}", f"customer:{b}") for a, b in links)
    store.write(Batch(relations=tuple(refs)))

    def named(cycles: list[list[str]]) -> list[str]:
        return ["".join(c.removeprefix("customer:") for c in cycle) for cycle in cycles]

    # A's shortest is with D; B is on no listed one yet: its own; E's goes by the shortcut; then H's; S
    everything = ["ABC", "AD", "EFG", "EFGH", "S"]
    assert named(referral_tree(store, "customer:R", max_cycles=3)[1]) == ["ABC", "AD", "EFG"]
    assert named(referral_tree(store, "customer:R")[1]) == everything
    assert named(referral_stats(store, max_cycles=3)["cycles"]) == ["ABC", "AD", "EFG"]
    assert named(referral_stats(store)["cycles"]) == everything
    assert referral_stats(store)["depth_distribution"] == {0: 1}  # R: everyone else is on a cycle


def test_referrers_are_ranked_by_reach_then_value(referrals: GraphStore) -> None:
    ranked = referrers(referrals, top=3)
    assert [(r.customer_id, r.direct, r.indirect, r.downstream_value) for r in ranked] == [
        ("customer:R", 2, 3, 150.0),
        ("customer:A", 2, 1, 60.0),
        ("customer:X", 1, 1, 2.0),
    ]
    since = referrers(referrals, top=10, since="2024-05-01")
    assert [(r.customer_id, r.direct + r.indirect) for r in since][:2] == [
        ("customer:A", 3),
        ("customer:R", 3),
    ]


def test_cohort_statistics(referrals: GraphStore) -> None:
    stats = referral_stats(referrals, period="quarter")

    assert stats["customers"] == 10 and stats["referred"] == 8 and stats["share_referred"] == 0.8
    assert stats["k_factor_by_cohort"]["2024-Q1"] == {"customers": 3, "referrals": 5, "k_factor": 1.6667}
    assert stats["k_factor_by_cohort"]["2024-Q2"] == {"customers": 3, "referrals": 2, "k_factor": 0.6667}
    assert stats["depth_distribution"] == {0: 2, 1: 3, 2: 2}  # R and L are roots; E is at depth 1 from L
    assert referral_stats(referrals, period="month")["k_factor_by_cohort"]["2024-01"]["referrals"] == 2


def test_statistics_leave_out_every_customer_on_a_cycle_and_list_the_same_cycles_however_written(
    store: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    """Two roots, each above a ring of two; two more rings; a chain. Only two cycles may be listed."""
    people = [
        customer(f"customer:{c}", c) for c in ("R1", "A", "B", "R2", "C", "D", "E", "F", "G", "H", "S", "T")
    ]
    ring = [("R1", "A"), ("A", "B"), ("B", "A"), ("R2", "C"), ("C", "D"), ("D", "C"), ("E", "F"), ("F", "E")]
    ring += [("G", "H"), ("H", "G"), ("S", "T")]
    store.write(Batch(entities=tuple(reversed(people))))
    for a, b in reversed(ring):  # written one at a time, last first
        store.write(Batch(relations=(rel(RelType.REFERRED, f"customer:{a}", f"customer:{b}"),)))

    stats = referral_stats(store, max_cycles=2)

    assert stats["depth_distribution"] == {0: 3, 1: 1}  # R1, R2, S at 0, T at 1: no one on a ring
    assert len(stats["cycles"]) == 2
    assert referral_stats(store_factory(), max_cycles=2) == stats  # a new process reads it alike
    assert referral_stats(store) == referral_stats(store_factory())


def test_a_tree_gives_each_customers_values_back_as_stored(referrals: GraphStore) -> None:
    """A lifetime value as an export's ``0.07万`` reads (700.0000000000001) and a 19-digit one stay whole."""
    if referrals.backend == "embedded" and not embedded_store.EXACT_JSON:
        pytest.skip("SQLite before 3.38 picks a JSON number out with 15 digits")
    odd = {"customer:V1": normalise.number("0.07万"), "customer:V2": 2**62 + 1}
    referrals.write(
        Batch(
            entities=tuple(customer(c, f"客户{c[-2:]}", lifetime_value=v) for c, v in odd.items()),
            relations=tuple(rel(RelType.REFERRED, "customer:E", c) for c in odd),
        )
    )
    below = referrals.referrals_below("customer:R", depth=6)

    assert {c: below.customers[c]["lifetime_value"] for c in odd} == odd
    assert type(below.customers["customer:V2"]["lifetime_value"]) is int
    assert below == traversal.referrals_below(referrals, "customer:R", 6)


def test_bounds_and_unknown_customers(referrals: GraphStore) -> None:
    with pytest.raises(LimitExceeded):
        referral_tree(referrals, "customer:R", max_depth=7)
    with pytest.raises(NotFound):
        referral_tree(referrals, "customer:nobody")
    with pytest.raises(NotFound):
        referrals.referrals_below("customer:nobody", depth=2)
    with pytest.raises(LimitExceeded):
        referrals.referrals_below("customer:R", depth=7)


def _depths(node: TreeNode) -> dict[str, int]:
    found = {node.customer_id: node.depth}
    for child in node.children:
        found.update(_depths(child))
    return found


def _assert_trees_equal_the_oracle(store: GraphStore) -> int:
    """Every referrer's tree, read step by step, equals the one cut from the whole referral graph."""
    whole = _referral_graph(store)
    referrers = sorted(n for n in whole if whole.out_degree(n))
    for top in referrers:
        for depth in (1, 2, 6):
            oracle = _tree(whole, top, depth, 20)
            steps = nx.single_source_shortest_path_length(whole, top, cutoff=depth)
            assert _depths(oracle[0]) == steps, top  # each customer once, at its fewest steps
            assert _tree_below(store.referrals_below(top, depth=depth), top, depth, 20) == oracle, top
            assert store.referrals_below(top, depth=depth) == traversal.referrals_below(store, top, depth)
            assert referral_tree(store, top, max_depth=depth) == oracle, top
    return len(referrers)


def test_referral_trees_read_step_by_step_equal_the_oracle(referrals: GraphStore) -> None:
    assert _assert_trees_equal_the_oracle(referrals) >= 3


def test_referral_trees_equal_the_oracle_on_a_generated_bundle(store: GraphStore, tmp_path: Path) -> None:
    generate(tmp_path / "bundle", "tiny", seed=5)
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    assert _assert_trees_equal_the_oracle(store) >= 5


def test_referral_trees_equal_the_oracle_where_customers_refer_each_other_in_rings(store: GraphStore) -> None:
    """Forty customers, each referring the next three and one at random: rings within rings."""
    people = [customer(f"customer:ring{n:02d}", f"圈{n}") for n in range(40)]
    pick = random.Random(3)
    pairs = {(a, (a + k) % 40) for a in range(40) for k in (1, 2, 3)} | {
        (a, pick.randrange(40)) for a in range(40)
    }
    refs = [
        rel(RelType.REFERRED, f"customer:ring{a:02d}", f"customer:ring{b:02d}")
        for a, b in sorted(pairs)
        if a != b
    ]
    store.write(Batch(entities=tuple(people), relations=tuple(refs)))

    assert _assert_trees_equal_the_oracle(store) == 40
    assert len(store.referrals_below("customer:ring00", depth=6).customers) == 40


def test_referrals_written_by_another_process_are_in_the_next_rankings(
    referrals: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    before = referrers(referrals, top=20)
    other = store_factory()
    top = before[0].customer_id
    late = [
        customer(f"customer:late{n}", f"后来{n}", acquired_at="2026-11-01T00:00:00+00:00") for n in range(3)
    ]
    other.write(Batch(entities=tuple(late)))
    other.write(Batch(relations=tuple(rel(RelType.REFERRED, top, c.id) for c in late)))

    after = referrers(referrals, top=20)
    assert after[0].customer_id == top and after[0].direct == before[0].direct + 3
    fresh = store_factory()  # a new process: nothing kept
    assert after == referrers(fresh, top=20)
    assert referral_stats(referrals) == referral_stats(fresh)
