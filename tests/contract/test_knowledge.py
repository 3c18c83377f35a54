"""Knowledge managers: tacit holders, bus factors, departure impact. Every store."""

from __future__ import annotations

import pytest

from ckn.graph.errors import InvalidInput, LimitExceeded, NotFound
from ckn.graph.store import GraphStore
from ckn.queries.knowledge import at_risk, bus_factor, departure_impact, gaps, knowledge_map, tacit_holders
from tests.contract.conftest import NOW


def test_the_tacit_holder_is_found_and_the_writer_is_not(planted: GraphStore) -> None:
    found = tacit_holders(planted, "topic:calib", now=NOW)

    assert [(t.employee_id, t.documented) for t in found] == [("employee:wang", 0.0)]
    assert {e.item_id for e in found[0].evidence} == {f"fb:w{n}" for n in range(4)}
    everywhere = tacit_holders(planted, now=NOW)
    assert ("topic:single", "employee:solo") in {(t.subject_id, t.employee_id) for t in everywhere}
    assert "employee:anna" not in {t.employee_id for t in everywhere}


def test_bus_factors(planted: GraphStore) -> None:
    calib = bus_factor(planted, "topic:calib", now=NOW)
    assert (calib.bus_factor, sorted(calib.holders)) == (2, ["employee:anna", "employee:wang"])
    single = bus_factor(planted, "topic:single", now=NOW)
    assert (single.bus_factor, single.holders) == (1, ["employee:solo"])
    assert bus_factor(planted, "topic:export", now=NOW).bus_factor == 0  # one call each is not knowing it
    assert [b.subject_id for b in at_risk(planted, now=NOW)] == [
        "topic:other",
        "topic:single",
    ]  # gen: 20 calls
    with pytest.raises(NotFound):
        bus_factor(planted, "topic:nope", now=NOW)


def test_a_departure_shows_what_is_lost_and_who_could_take_it(planted: GraphStore) -> None:
    (loss,) = departure_impact(planted, "employee:solo", now=NOW)

    assert (loss.subject_id, loss.remaining_holders) == ("topic:single", [])
    assert [s["employee_id"] for s in loss.successors] == [
        "employee:junior",
        "employee:wang",
        "employee:anna",
    ]
    assert loss.successors[0]["why"] == "some evidence on it"
    assert loss.successors[1]["why"] == "knows the adjacent topic 校准 Calibration"
    assert departure_impact(planted, "employee:wang", now=NOW) == []  # Anna still knows calibration
    with pytest.raises(InvalidInput, match="is of kind Topic, not Employee"):
        departure_impact(planted, "topic:calib", now=NOW)


def test_the_knowledge_map_puts_holders_against_subjects(planted: GraphStore) -> None:
    rows = {r["subject_id"]: r for r in knowledge_map(planted, now=NOW)}
    calib = {h["employee_id"]: h for h in rows["topic:calib"]["holders"]}
    assert set(calib) == {"employee:wang", "employee:anna"}
    assert calib["employee:wang"]["documented"] == 0 and calib["employee:wang"]["behavioural"] > 7
    assert calib["employee:anna"]["behavioural"] == 0 and calib["employee:anna"]["documented"] > 5
    assert "topic:export" not in rows  # nobody knows it well enough
    assert rows["topic:calib"]["holders_total"] == 2
    with pytest.raises(NotFound):
        knowledge_map(planted, department="Nowhere", now=NOW)


def test_the_knowledge_map_shows_the_strongest_holders_and_counts_the_others(planted: GraphStore) -> None:
    everyone = {r["subject_id"]: r for r in knowledge_map(planted, now=NOW)}
    strongest = everyone["topic:calib"]["holders"][0]["employee_id"]
    first = {r["subject_id"]: r for r in knowledge_map(planted, now=NOW, top=1)}
    assert [h["employee_id"] for h in first["topic:calib"]["holders"]] == [strongest]
    assert first["topic:calib"]["holders_total"] == 2
    assert first["topic:calib"]["holders"][0]["evidence"]  # the shown holder keeps its evidence
    with pytest.raises(LimitExceeded):
        knowledge_map(planted, now=NOW, top=0)


def test_gaps_are_topics_customers_ask_about_with_no_document(planted: GraphStore) -> None:
    assert [(g["topic_id"], g["asked"]) for g in gaps(planted)] == [("topic:single", 3)]


def test_the_knowledge_map_lists_the_evidence_of_each_holder(planted: GraphStore) -> None:
    rows = {r["subject_id"]: r for r in knowledge_map(planted, now=NOW)}
    anna = next(h for h in rows["topic:calib"]["holders"] if h["employee_id"] == "employee:anna")
    assert [(e["kind"], e["item_id"]) for e in anna["evidence"]] == [
        ("authored", "doc:0"),
        ("authored", "doc:1"),
    ]


def test_communities_of_practice_and_time_windows(planted: GraphStore) -> None:
    from datetime import UTC, datetime

    from ckn.queries.analysis import communities, network

    practice = network(planted, "practice")
    found, _ = communities(practice, method="louvain")
    assert ["employee:junior", "employee:solo"] in found  # the firmware-rollback people
    assert practice.edges["employee:junior", "employee:solo"]["topics"] == ["固件回滚 Firmware rollback"]
    recent = network(planted, "employee-topic", since=datetime(2026, 1, 1, tzinfo=UTC))
    assert "employee:old" not in recent and "employee:old" in network(planted, "employee-topic")
