"""Expert answers from the sums each write keeps (graph.expertise), on every store.

The reference is the answer computed from every piece of evidence, read by a whole-graph scan
(``evidence._build``): after writes from another client, deletions of a source, an erasure, on the
planted fixture and on a generated bundle, and after a store written before the sums existed is
opened again, the kept sums must rank the same people with the same scores and the same evidence.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ckn.graph.model import Batch, NodeKind, RelType
from ckn.graph.store import GraphStore, KnownAbout
from ckn.ingest.generate import generate
from ckn.ingest.pipeline import ingest_paths
from ckn.queries import evidence
from ckn.queries.experts import Expert, experts, from_evidence, from_kept_sums
from tests.contract.conftest import NOW, _item
from tests.contract.test_live import _subjects, _writes_of_another_process
from tests.factories import rel

LATER = datetime(2031, 3, 1, tzinfo=UTC)
"""After every date in the test data: the kept sums can answer (nothing is dated after it)."""


def _oracle(store: GraphStore, subject: str, **options: Any) -> list[Expert]:
    return from_evidence(
        store,
        [subject],
        evidence._build(store),
        now=LATER,
        half_life_days=365.0,
        include_left=options.get("include_left", True),
        limit=options.get("limit", 50),
        evidence_shown=options.get("evidence_shown", 20),
        evidence_for=options.get("evidence_for"),
        min_strength=options.get("min_strength", 0.0),
        among=options.get("among"),
    )


def _kept(store: GraphStore, subject: str, **options: Any) -> list[Expert] | None:
    options = {"include_left": True, "limit": 50, **options}
    return from_kept_sums(store, subject, now=LATER, **options)


def _assert_same(store: GraphStore, subjects: list[str]) -> int:
    """Every subject answered from the kept sums as from the evidence; how many had experts."""
    answered = 0
    together = store.known_about_each([*subjects, "topic:nothing-known"])  # one read for them all
    assert together == {**{s: store.known_about(s) for s in subjects}, "topic:nothing-known": KnownAbout()}
    for subject in subjects:
        kept = _kept(store, subject)
        assert kept is not None, subject
        assert kept == _oracle(store, subject), subject
        assert _kept(store, subject, known=together[subject]) == kept, subject
        answered += bool(kept)
    return answered


@pytest.mark.parametrize("side", ["subject", "colleagues"])
def test_kept_sums_answer_as_the_evidence_does_on_every_subject(
    planted: GraphStore, side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if side == "colleagues":  # the evidence shown read from the colleagues' work, not the subject's items
        monkeypatch.setattr("ckn.queries.experts.SUBJECT_SIDE_AT_MOST", -1)
    assert _assert_same(planted, _subjects(planted)) >= 5
    variants: list[dict[str, Any]] = [
        {"limit": 2, "evidence_shown": 3},
        {"evidence_shown": 0},
        {"min_strength": 1.0},
        {"include_left": False, "evidence_for": 1},
        {"among": {"employee:wang", "employee:old"}},
    ]
    for options in variants:
        assert _kept(planted, "topic:calib", **options) == _oracle(planted, "topic:calib", **options), options


def test_the_expert_question_reads_the_sums_not_the_subjects_evidence(
    planted: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _oracle(planted, "topic:calib", include_left=False, limit=10)
    monkeypatch.setattr("ckn.queries.experts.SUBJECT_SIDE_AT_MOST", -1)  # as for a subject of 70,000 pieces
    monkeypatch.setattr(evidence, "kept_index", lambda store: None)  # the embedded index not built yet
    monkeypatch.setattr("ckn.queries.experts.kept_index", lambda store: None)

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("read every piece of evidence on the subject")

    monkeypatch.setattr(planted, "evidence", refused)
    assert experts(planted, ["topic:calib"], now=LATER) == expected
    assert expected[0].evidence and expected[0].employee_id == "employee:wang"


def test_evidence_dated_after_the_question_is_weighed_from_the_evidence(planted: GraphStore) -> None:
    assert from_kept_sums(planted, "topic:calib", now=datetime(2020, 1, 1, tzinfo=UTC)) is None
    early = experts(planted, ["topic:calib"], now=datetime(2020, 1, 1, tzinfo=UTC))
    assert early  # answered from the evidence instead
    assert experts(planted, ["topic:calib"], now=NOW)


def test_writes_deletions_and_erasure_from_another_client_keep_the_sums_exact(
    planted: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    other = store_factory()
    _writes_of_another_process(other)
    subjects = [*_subjects(planted), "customer:fresh"]
    _assert_same(planted, subjects)
    assert "employee:newbie" in [e.employee_id for e in _kept(planted, "customer:fresh") or []]

    other.write(Batch(entities=(), relations=()))  # nothing: nothing changes
    other.erase_entity("call:new")  # an item: its evidence leaves everyone's sums
    assert "employee:newbie" not in planted.known_about("topic:calib").sums
    _assert_same(planted, subjects)
    other.erase_entity("employee:wang")
    assert "employee:wang" not in planted.known_about("topic:calib").sums
    other.erase_entity("topic:export")
    assert not planted.known_about("topic:export").sums
    _assert_same(planted, [s for s in subjects if s != "topic:export"])


def test_deleting_a_source_takes_its_evidence_out_of_the_sums(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ckn.queries.experts.SUBJECT_SIDE_AT_MOST", 0.05)  # both ways of reading
    generate(tmp_path / "bundle", "tiny", seed=17)
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    subjects = _subjects(store)
    assert _assert_same(store, subjects[:30] + subjects[-30:]) >= 20
    sources = sorted(
        {p.source_id for e in store.list_entities(NodeKind.INTERACTION, limit=5) for p in e.provenance}
    )
    store.delete_source(*sources)
    assert _assert_same(store, subjects[:30] + subjects[-30:]) >= 10


def test_a_store_written_before_the_sums_existed_counts_them_when_opened(
    store_factory: Callable[..., GraphStore], tmp_path: Path
) -> None:
    store = store_factory()
    generate(tmp_path / "bundle", "tiny", seed=19)
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    subjects = _subjects(store)[:25]
    before = {s: _kept(store, s) for s in subjects}
    if store.backend == "embedded":
        path = store.path  # type: ignore[attr-defined]
        store.close()
        with sqlite3.connect(path) as conn:
            conn.executescript(
                "DROP TABLE known; DROP TABLE work_done; DROP TABLE ahead;"
                " UPDATE ckn_meta SET value = '4' WHERE key = 'schema_version';"
            )
    else:
        driver = store._driver  # type: ignore[attr-defined]
        driver.execute_query("MATCH (k:CknKnown|CknAhead) DELETE k")
        driver.execute_query("MATCH (m:CknMeta {key: 'schema'}) SET m.version = 3")
        store.close()
    reopened = store_factory()
    assert {s: _kept(reopened, s) for s in subjects} == before
    assert _assert_same(reopened, subjects) >= 10


def test_evidence_dated_after_it_was_written_weighs_its_kind_until_its_date(
    planted: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    """A meeting planned for later, a year mistyped: full weight until the date, then it decays."""
    other = store_factory()
    planned = _item(NodeKind.INTERACTION, "call:planned", "2030-06-01", channel="visit")
    typo = _item(NodeKind.KNOWLEDGE_ITEM, "doc:typo", "2062-01-01")
    other.write(Batch(entities=(planned, typo)))
    other.write(
        Batch(
            relations=(
                rel(RelType.PARTICIPATED_IN, "employee:junior", "call:planned"),
                rel(RelType.ABOUT, "call:planned", "topic:calib"),
                rel(RelType.AUTHORED, "employee:junior", "doc:typo"),
                rel(RelType.ABOUT, "doc:typo", "topic:calib"),
            )
        )
    )
    ahead = planted.known_about("topic:calib").ahead["employee:junior"]
    assert sorted((a.weight, a.authored) for a in ahead) == [(1.5, False), (3.0, True)]
    _assert_same(planted, _subjects(planted))  # 2031: the meeting has decayed, the document not yet
    junior = next(e for e in _kept(planted, "topic:calib") or [] if e.employee_id == "employee:junior")
    assert junior.documented == 3.0

    other.write(Batch(entities=(_item(NodeKind.KNOWLEDGE_ITEM, "doc:typo", "2026-01-01"),)))  # mended
    assert len(planted.known_about("topic:calib").ahead["employee:junior"]) == 1
    _assert_same(planted, _subjects(planted))
    other.erase_entity("call:planned")
    assert "employee:junior" not in planted.known_about("topic:calib").ahead
    _assert_same(planted, _subjects(planted))
