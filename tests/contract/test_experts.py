"""Sales: the expert finder ranks colleagues by weighted, decaying evidence, and shows it. Every store."""

from __future__ import annotations

import pytest

from ckn.graph.errors import InvalidInput, NotFound
from ckn.graph.store import GraphStore
from ckn.queries.experts import experts
from tests.contract.conftest import NOW


def test_the_expert_with_the_most_recent_weighted_evidence_comes_first(planted: GraphStore) -> None:
    ranked = experts(planted, ["topic:calib"], now=NOW)

    assert [e.employee_id for e in ranked] == [
        "employee:wang",
        "employee:anna",
        "employee:spec",
        "employee:gen",
        "employee:old",
    ]  # spec and gen: one call each, but half of spec's work is calibration, a 22nd of gen's
    wang = ranked[0]
    assert {ev.item_id for ev in wang.evidence} == {f"fb:w{n}" for n in range(4)}
    assert {ev.kind for ev in wang.evidence} == {"resolved"}
    anna = ranked[1]
    assert [(ev.kind, ev.item_id, ev.when[:10]) for ev in anna.evidence] == [  # type: ignore[index]
        ("authored", "doc:0", "2026-09-01"),
        ("authored", "doc:1", "2026-09-01"),
    ]
    old = ranked[-1]
    assert all(ev.weight < 0.1 for ev in old.evidence)  # six years: 2.0 halved six times
    assert all(ev.source_id == "src:crm-export.csv" for e in ranked for ev in e.evidence)


def test_people_who_left_are_left_out_or_flagged_and_opt_outs_never_shown(planted: GraphStore) -> None:
    ids = [e.employee_id for e in experts(planted, ["topic:calib"], now=NOW)]
    assert "employee:gone" not in ids and "employee:private" not in ids

    with_left = experts(planted, ["topic:calib"], now=NOW, include_left=True)
    gone = next(e for e in with_left if e.employee_id == "employee:gone")
    assert gone.left is True
    assert "employee:private" not in [e.employee_id for e in with_left]


def test_specific_expertise_beats_generalists_when_several_topics_are_asked(planted: GraphStore) -> None:
    ranked = experts(planted, ["topic:calib", "topic:export"], now=NOW)

    assert [e.employee_id for e in ranked[:2]] == [
        "employee:spec",
        "employee:gen",
    ]  # both topics, spec focused
    assert ranked[0].subjects == ["topic:calib", "topic:export"] and ranked[0].focus == 1.0
    assert ranked[1].focus == pytest.approx(2 / 22, abs=1e-3)
    wang = next(e for e in ranked if e.employee_id == "employee:wang")
    assert wang.subjects == ["topic:calib"] and wang.score < ranked[1].score  # half the subjects


def test_customer_experts_include_account_owners_and_people_who_met_them(planted: GraphStore) -> None:
    ranked = experts(planted, ["customer:hdjm"], now=NOW)
    (owner,) = ranked
    assert owner.employee_id == "employee:owner"
    assert sorted((ev.kind, ev.item_id) for ev in owner.evidence) == [
        ("meeting", "visit:hdjm"),
        ("owns_account", "customer:hdjm"),
    ]


def test_experts_are_deterministic_and_bounded(planted: GraphStore) -> None:
    assert experts(planted, ["topic:calib"], now=NOW) == experts(planted, ["topic:calib"], now=NOW)
    assert len(experts(planted, ["topic:calib"], now=NOW, limit=2)) == 2
    with pytest.raises(NotFound):
        experts(planted, ["topic:nothing"], now=NOW)
    with pytest.raises(InvalidInput, match="is of kind Employee"):
        experts(planted, ["employee:anna"], now=NOW)


def test_answers_follow_new_evidence_and_long_evidence_lists_are_cut(planted: GraphStore) -> None:
    from ckn.graph.model import Batch, NodeKind, RelType
    from tests.factories import entity, rel

    before = {e.employee_id: e for e in experts(planted, ["topic:export"], now=NOW)}
    tickets = [
        entity(f"interaction:j{n}", NodeKind.INTERACTION, f"工单 {n}", occurred_at="2026-10-20T09:00:00")
        for n in range(30)
    ]
    planted.write(
        Batch(
            entities=tuple(tickets),
            relations=tuple(
                r
                for t in tickets
                for r in (
                    rel(RelType.RESOLVED, "employee:junior", t.id),
                    rel(RelType.ABOUT, t.id, "topic:export"),
                )
            ),
        )
    )

    after = experts(planted, ["topic:export"], now=NOW, evidence_shown=5)
    junior = next(e for e in after if e.employee_id == "employee:junior")
    assert "employee:junior" not in before and after[0].employee_id == "employee:junior"
    assert junior.evidence_count == 30 and len(junior.evidence) == 5
    assert [ev.item_id for ev in junior.evidence] == [f"interaction:j{n}" for n in (0, 1, 10, 11, 12)]
    assert junior.strength == pytest.approx(30 * 2.0 * 0.5 ** (11.625 / 365), abs=0.01)
