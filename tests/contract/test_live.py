"""Answers read where the data lives, and kept in step with writes from any process. Every store.

The whole-graph build of the evidence index (streamed scans of every entity and relation) is the
oracle: what each store reads natively about a few subjects (:meth:`GraphStore.evidence`), and the
index the embedded store keeps in step with its change log, must equal it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ckn.api.understand import _KeptNames, entity_ref, subjects_of, understanding
from ckn.graph.embedded_store import EmbeddedStore
from ckn.graph.errors import NotFound
from ckn.graph.expertise import KINDS
from ckn.graph.model import Batch, NodeKind, RelType
from ckn.graph.neo4j_store import Neo4jStore
from ckn.graph.store import Changes, GraphStore
from ckn.ingest.generate import generate
from ckn.ingest.pipeline import ingest_paths
from ckn.ingest.resolve import Resolver
from ckn.queries import evidence
from ckn.queries.evidence import EvidenceIndex, assemble, evidence_index
from ckn.queries.experts import experts
from ckn.queries.knowledge import _gaps, gaps
from tests.contract.conftest import NOW, _item
from tests.factories import customer, employee, entity, rel

Row = tuple[str, str, str, bool, str, str | None, int, float | None]


def _rows(index: EvidenceIndex, subject: str) -> set[Row]:
    """A subject's evidence, by name: person, item, kind, own work, and what the answer reads of them."""
    rows = index.rows(subject)
    found: set[Row] = set()
    for p, i, k, w in zip(rows.person, rows.item, rows.kind, rows.in_work, strict=True):
        when = float(index.when[i])
        found.add(
            (
                index.people[p],
                index.items[i],
                KINDS[k],
                bool(w),
                index.names[p],
                index.left_at[p].isoformat() if index.left_at[p] else None,
                int(index.work[p]),
                None if math.isnan(when) else when,
            )
        )
    return found


def _subjects(store: GraphStore) -> list[str]:
    kinds = (NodeKind.TOPIC, NodeKind.PRODUCT, NodeKind.CUSTOMER)
    return [e.id for kind in kinds for e in store.list_entities(kind, limit=1000)]


def _assert_native_equals_oracle(store: GraphStore, subjects: list[str]) -> None:
    oracle = evidence._build(store)
    assert any(_rows(oracle, s) for s in subjects)  # there is evidence to compare
    for subject in subjects:
        assert _rows(assemble(store.evidence([subject])), subject) == _rows(oracle, subject), subject
    together = assemble(store.evidence(subjects[:12]))
    for subject in subjects[:12]:
        assert _rows(together, subject) == _rows(oracle, subject), subject


def test_each_store_reads_the_same_evidence_as_the_whole_graph_oracle(planted: GraphStore) -> None:
    _assert_native_equals_oracle(planted, _subjects(planted))


def test_the_same_on_a_generated_bundle_the_fixture_never_saw(store: GraphStore, tmp_path: Path) -> None:
    generate(tmp_path / "bundle", "tiny", seed=11)
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    subjects = _subjects(store)
    _assert_native_equals_oracle(store, subjects[:40] + subjects[-40:])


def test_experts_answer_from_the_store_as_from_the_oracle(
    planted: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    subjects = ["topic:calib", "topic:export", "topic:single", "customer:hdjm"]
    native = [experts(planted, [s], now=NOW, include_left=True) for s in subjects]
    native.append(experts(planted, subjects[:2], now=NOW))
    oracle_index = evidence._build(planted)
    monkeypatch.setattr(evidence, "kept_index", lambda store: oracle_index)
    monkeypatch.setattr("ckn.queries.experts.kept_index", lambda store: oracle_index)
    oracle = [experts(planted, [s], now=NOW, include_left=True) for s in subjects]
    oracle.append(experts(planted, subjects[:2], now=NOW))
    assert native == oracle
    assert [e.employee_id for e in native[0] if not e.left][:2] == ["employee:wang", "employee:anna"]


def _writes_of_another_process(other: GraphStore) -> None:
    """Evidence of every kind, written through a second client (as another process would)."""
    call = _item(NodeKind.INTERACTION, "call:new", "2026-10-30", channel="visit")
    ticket = _item(NodeKind.FEEDBACK, "fb:new", "2026-10-29")
    other.write(
        Batch(
            entities=(
                employee("employee:newbie", "新人 Newbie"),
                customer("customer:fresh", "新客户 Fresh"),
                call,
                ticket,
            )
        )
    )
    other.write(
        Batch(
            relations=(
                rel(RelType.PARTICIPATED_IN, "employee:newbie", "call:new"),
                rel(RelType.PARTICIPATED_IN, "employee:junior", "call:new"),
                rel(RelType.PARTICIPATED_IN, "customer:hdjm", "call:new"),
                rel(RelType.ABOUT, "call:new", "topic:calib"),
                rel(RelType.SUBMITTED, "customer:fresh", "fb:new"),
                rel(RelType.ABOUT, "fb:new", "topic:export"),
                rel(RelType.ESCALATED_TO, "fb:new", "employee:spec"),
                rel(RelType.RESOLVED, "employee:newbie", "fb:new"),
                rel(RelType.OWNS_ACCOUNT, "employee:newbie", "customer:fresh"),
                rel(RelType.ABOUT, "call:spec-calib", "topic:single"),  # an old item about one more topic
            )
        )
    )
    # an old item gets a new date, a colleague a new name and a leaving date
    other.write(Batch(entities=(_item(NodeKind.FEEDBACK, "fb:w0", "2026-10-31"),)))
    other.write(Batch(entities=(employee("employee:wang", "王芳 Wang Fang", left_at="2026-12-31"),)))


def test_writes_from_another_process_are_in_the_next_answer_and_equal_the_oracle(
    planted: GraphStore, store_factory: Callable[..., GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "employee:newbie" not in [e.employee_id for e in experts(planted, ["topic:calib"], now=NOW)]
    evidence_index(planted)  # built (a serving process keeps it from now on)
    builds = []
    build = evidence._build
    monkeypatch.setattr(evidence, "_build", lambda store: builds.append(1) or build(store))

    _writes_of_another_process(store_factory())

    ranked = experts(planted, ["topic:calib"], now=NOW)
    newbie = next(e for e in ranked if e.employee_id == "employee:newbie")
    assert [(x.item_id, x.kind) for x in newbie.evidence] == [("call:new", "meeting")]
    wang = next(e for e in ranked if e.employee_id == "employee:wang")
    assert wang.name == "王芳 Wang Fang"
    assert [x.when for x in wang.evidence if x.item_id == "fb:w0"] == ["2026-10-31T00:00:00+00:00"]
    assert "employee:spec" in [e.employee_id for e in experts(planted, ["topic:single"], now=NOW)]
    fresh = [e.employee_id for e in experts(planted, ["customer:fresh"], now=NOW)]
    assert fresh == ["employee:newbie", "employee:spec"]  # owns it and resolved its ticket; escalation
    kept = evidence_index(planted)
    assert builds == []  # the writes were applied to the index, not a new build (the change log)
    oracle = build(planted)
    for subject in [*_subjects(planted), "customer:fresh"]:
        assert _rows(kept, subject) == _rows(oracle, subject), subject
        rows = kept.rows(subject)  # one row per person and item, in that order
        keys = rows.person.astype(np.int64) << 32 | rows.item.astype(np.int64)
        assert bool(np.all(keys[1:] > keys[:-1])), subject


def test_withdrawn_consent_and_deletions_are_never_served_from_the_kept_index(
    planted: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    evidence_index(planted)
    other = store_factory()
    other.write(Batch(entities=(employee("employee:wang", "王芳", expertise_opt_out=True),)))
    assert "employee:wang" not in [e.employee_id for e in experts(planted, ["topic:calib"], now=NOW)]
    other.erase_entity("employee:anna")
    assert "employee:anna" not in [e.employee_id for e in experts(planted, ["topic:calib"], now=NOW)]
    assert "employee:anna" not in evidence_index(planted).people


def test_a_name_written_by_another_process_is_understood_in_the_next_question(
    planted: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    assert subjects_of(planted, "who knows 校准?") == ["topic:calib"]
    other = store_factory()
    other.write(
        Batch(
            entities=(entity("topic:fw", NodeKind.TOPIC, "固件升级 Firmware upgrade", aliases=["固件升级"]),)
        )
    )
    other.write(Batch(entities=(_item(NodeKind.INTERACTION, "call:later", "2026-10-31"),)))

    assert subjects_of(planted, "who knows 固件升级?") == ["topic:fw"]
    assert subjects_of(planted, "who knows 校准?") == ["topic:calib"]


def test_names_are_kept_across_writes_that_name_no_one_new_and_the_log_keeps_no_erased_id(
    planted: GraphStore, store_factory: Callable[..., GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest of interactions does not make a serving process read every name again."""
    assert subjects_of(planted, "who knows 校准?") == ["topic:calib"]
    names, before = understanding(planted), planted.graph_version()
    monkeypatch.setattr(Resolver, "from_store", lambda store: pytest.fail("every name was read again"))
    other = store_factory()
    other.write(Batch(entities=(_item(NodeKind.INTERACTION, "call:later", "2026-10-31"),)))
    other.write(
        Batch(
            relations=(
                rel(RelType.PARTICIPATED_IN, "employee:junior", "call:later"),
                rel(RelType.ABOUT, "call:later", "topic:calib"),
            )
        )
    )

    changes = planted.changes_since(before)
    assert changes is not None and changes.version == other.graph_version() == before + 2
    assert changes.entities == {"call:later"} and not changes.deleted
    assert {(h.type, h.source, h.target) for h in changes.relations} == {
        (RelType.PARTICIPATED_IN, "employee:junior", "call:later"),
        (RelType.ABOUT, "call:later", "topic:calib"),
    }
    assert subjects_of(planted, "who knows 校准?") == ["topic:calib"] and understanding(planted) is names
    junior = next(e for e in experts(planted, ["topic:calib"], now=NOW) if e.employee_id == "employee:junior")
    assert "call:later" in [x.item_id for x in junior.evidence]

    other.erase_entity("customer:hdjm")
    erased = planted.changes_since(before)
    assert erased is not None and erased.deleted  # told, however far behind: whoever follows forgets
    assert planted.changes_since(planted.graph_version()) == Changes(version=planted.graph_version())
    assert not any("customer:hdjm" in text for text in _logged(planted))


def _logged(store: GraphStore) -> list[str]:
    """Everything the store's change log holds, as stored."""
    if isinstance(store, EmbeddedStore):
        return [row[0] for row in store._conn.execute("SELECT entities || relations FROM changes")]
    assert isinstance(store, Neo4jStore)
    found, _, _ = store._driver.execute_query(
        "MATCH (c:CknChange) RETURN c.entities + c.relations AS text", database_=store.database
    )
    return [str(r["text"]) for r in found]


def test_knowledge_gaps_aggregated_by_the_store_equal_the_oracle(store: GraphStore, tmp_path: Path) -> None:
    generate(tmp_path / "bundle", "tiny", seed=13)
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    found = gaps(store)
    assert found == _gaps(store)
    assert found and all(g["asked"] > 0 for g in found)


def test_a_rename_or_an_erasure_in_another_process_leaves_no_old_name_in_this_ones_memory(
    planted: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    assert entity_ref(planted, "华东精密", exact=True) == "customer:hdjm"
    assert "customer:hdjm" in evidence_index(planted).subjects or planted.answers_in_place
    other = store_factory()
    other.write(Batch(entities=(customer("customer:hdjm", "华东精密仪器 Huadong Precision"),)))
    with pytest.raises(NotFound):
        entity_ref(planted, "华东精密", exact=True)  # renamed: the old name is nobody's now
    assert entity_ref(planted, "华东精密仪器 Huadong Precision", exact=True) == "customer:hdjm"

    other.erase_entity("customer:hdjm")
    with pytest.raises(NotFound):
        entity_ref(planted, "华东精密仪器 Huadong Precision", exact=True)
    assert "customer:hdjm" not in evidence_index(planted).subjects
    assert not _remembers(planted, "customer:hdjm")


def _remembers(store: GraphStore, entity_id: str) -> bool:
    """Whether the names a serving process reads questions with still hold anything of an entity."""
    kept = understanding(store)
    if isinstance(kept, _KeptNames):
        return entity_id in kept.resolver.known or any(
            t.entity_id == entity_id for t in kept.gazetteer.terms.values()
        )
    assert isinstance(store, Neo4jStore)
    found, _, _ = store._driver.execute_query(
        "MATCH (n:CknName {id: $id}) RETURN count(n) AS n", {"id": entity_id}, database_=store.database
    )
    return bool(found[0]["n"])
