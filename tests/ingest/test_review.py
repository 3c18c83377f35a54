"""Look-alike people go to a review list; accepting merges them, undo splits them again."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckn.graph.errors import NotFound
from ckn.graph.model import Batch, NodeKind, RelType
from ckn.graph.store import Direction, GraphStore
from ckn.ingest import review
from ckn.ingest.pipeline import ingest_paths
from tests.factories import entity, rel

BUNDLE = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"
LOOKALIKES = (
    "customer_id,name,email,phone,city,owner_employee_id,referred_by\n"
    "N1,Maria Lopes,maria.lopes@gmail.example,,München,E04,\n"
    "N2,Lopez  Maria,maria.private@web.example,,München,,C105\n"
    "N3,Tom Baker,tom.baker@elsewhere.example,,London,,\n"
)


@pytest.fixture
def reviewed(store: GraphStore, tmp_path: Path) -> GraphStore:
    ingest_paths(store, [BUNDLE], quarantine_dir=tmp_path / "q")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "customers_2026.csv").write_text(LOOKALIKES, encoding="utf-8")
    ingest_paths(store, [extra], quarantine_dir=tmp_path / "q")
    return store


def _snapshot(store: GraphStore) -> tuple[dict, list]:  # type: ignore[type-arg]
    graph = store.project()
    return dict(graph.nodes(data=True)), sorted(graph.edges(keys=True, data=True))


def test_similar_names_are_not_merged_but_listed_for_review(reviewed: GraphStore) -> None:
    found = review.list_candidates(reviewed)

    pairs = [(c.entity_id, c.candidate_id, c.score, c.reason) for c in found]
    assert ("customer:N2", "customer:C104", 100.0, "same name, other e-mail or phone") in pairs  # word order
    lopes = next(c for c in found if c.entity_id == "customer:N1")
    assert (
        lopes.candidate_id == "customer:C104" and 90 <= lopes.score < 100 and lopes.reason == "similar name"
    )
    assert not any(c.entity_id == "customer:N3" for c in found)  # Tom Baker is not Tom Becker (score < 90)
    assert reviewed.get_entity("customer:N1") is not None  # nothing merged on a name alone


def test_a_rejected_candidate_stays_rejected(reviewed: GraphStore, tmp_path: Path) -> None:
    review.reject(reviewed, "customer:N1", "customer:C104")

    assert not any(c.entity_id == "customer:N1" for c in review.list_candidates(reviewed))
    changed = tmp_path / "extra" / "customers_2026.csv"
    changed.write_text(LOOKALIKES + "N4,Ana Silva,ana@silva.example,,Porto,,\n", encoding="utf-8")
    ingest_paths(reviewed, [changed], quarantine_dir=tmp_path / "q")  # a new version of the file

    decided = [
        c for c in review.list_candidates(reviewed, include_decided=True) if c.entity_id == "customer:N1"
    ]
    assert [c.decision for c in decided] == ["rejected"]


def test_accepting_merges_and_undo_restores_both(reviewed: GraphStore) -> None:
    before = _snapshot(reviewed)

    result = review.accept(reviewed, "customer:N1", "customer:C104")

    assert (result.kept, result.merged) == ("customer:C104", "customer:N1")
    assert reviewed.get_entity("customer:N1") is None
    maria = reviewed.get_entity("customer:C104")
    assert maria is not None and maria.name == "Maria Lopez"
    assert maria.props["emails"] == ["m.lopez@acme-labs.example", "maria.lopes@gmail.example"]
    owners = {r.source for r in reviewed.get_relations("customer:C104", types=[RelType.OWNS_ACCOUNT])}
    assert owners == {"employee:E06", "employee:E04"}  # the merged record's owner came along
    assert not any(c.entity_id == "customer:N1" for c in review.list_candidates(reviewed))

    review.undo(reviewed, "customer:C104", "customer:N1")

    assert _snapshot(reviewed) == before


def test_a_look_alike_with_hundreds_of_relationships_merges_and_comes_back(reviewed: GraphStore) -> None:
    """A busy account: 600 interactions, each a relationship with its own evidence."""
    calls = [entity(f"interaction:busy{n}", NodeKind.INTERACTION, f"回访 {n}") for n in range(600)]
    links = [
        rel(RelType.PARTICIPATED_IN, "customer:N1", c.id, src=f"source:calls-{n % 7}.csv@{n:016x}")
        for n, c in enumerate(calls)
    ]
    reviewed.write(Batch(entities=tuple(calls), relations=tuple(links)))
    before = _snapshot(reviewed)

    result = review.accept(reviewed, "customer:N1", "customer:C104")

    assert result.relations_moved >= 600 and reviewed.get_entity("customer:N1") is None
    moved = reviewed.get_relations("customer:C104", types=[RelType.PARTICIPATED_IN], limit=1000)
    assert {r.target for r in moved} >= {c.id for c in calls}
    review.undo(reviewed, "customer:C104", "customer:N1")
    assert _snapshot(reviewed) == before


def test_undo_of_something_never_merged_is_a_clear_error(reviewed: GraphStore) -> None:
    with pytest.raises(NotFound, match="was not merged into"):
        review.undo(reviewed, "customer:C104", "customer:N1")
    with pytest.raises(NotFound, match="not a review candidate"):
        review.accept(reviewed, "customer:N3", "customer:C101")


def test_after_a_merge_new_data_about_the_merged_record_finds_the_survivor(
    reviewed: GraphStore, tmp_path: Path
) -> None:
    review.accept(reviewed, "customer:N1", "customer:C104")
    more = tmp_path / "more"
    more.mkdir()
    (more / "interactions.csv").write_text(
        "interaction_id,occurred_at,channel,employee_id,customer_id,subject\n"
        "Z-1,2026-11-20,call,E04,maria.lopes@gmail.example,follow-up\n",
        encoding="utf-8",
    )
    ingest_paths(reviewed, [more], quarantine_dir=tmp_path / "q")
    people = {r.source for r in reviewed.get_relations("interaction:Z-1", direction=Direction.IN)}
    assert people == {"employee:E04", "customer:C104"}
    assert len([c for c in reviewed.list_entities(NodeKind.CUSTOMER) if "Lop" in c.name]) == 2  # C104, N2
