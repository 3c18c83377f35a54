"""What only the Neo4j store does: a batch behind that fails with a transient error is written again; a
batch open behind holds the locks that keep an erasure or a source deletion from overtaking it; the
driver's debug log does not hold what a batch writes."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import neo4j
import pytest
from neo4j.exceptions import ServiceUnavailable

from ckn.graph import cypher
from ckn.graph.model import Batch, RelType
from ckn.graph.neo4j_store import Neo4jStore
from ckn.graph.store import DeleteResult, GraphStore
from tests.conftest import Neo4jTarget
from tests.factories import customer, rel

pytestmark = pytest.mark.neo4j


@pytest.mark.parametrize("failing", ["writes", "new relations", "commit"])
def test_a_batch_behind_that_fails_with_a_transient_error_writes_its_batch_again(
    neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """In a write-behind block a batch runs its writes in the caller's thread, then its new relations
    and its commit behind: any of them may meet a server gone."""
    neo4j_target.wipe()
    store = neo4j_target.open()
    owner, name = {
        "writes": (Neo4jStore, "_persist_entities"),
        "new relations": (neo4j.Transaction, "run"),
        "commit": (neo4j.Transaction, "commit"),
    }[failing]
    original = getattr(owner, name)
    failed: list[str] = []

    def server_gone_once(*args: Any, **kwargs: Any) -> Any:
        if failing == "new relations" and args[1] != cypher.CREATE_RELATIONS:
            return original(*args, **kwargs)
        monkeypatch.setattr(owner, name, original)
        failed.append(threading.current_thread().name)
        raise ServiceUnavailable(f"the server went away during the {failing}")

    try:
        with store.write_behind():
            store.write(Batch(entities=(customer("customer:1"), customer("customer:2"))))
            monkeypatch.setattr(owner, name, server_gone_once)
            result = store.write(Batch(relations=(rel(RelType.KNOWS, "customer:1", "customer:2"),)))
            store.write(Batch(entities=(customer("customer:3"),)))  # after the batch written again
        assert len(failed) == 1
        assert (failed[0] == threading.main_thread().name) == (failing == "writes")  # the others: behind
        assert result.relations.created == 1
        other = neo4j_target.open()
        try:
            assert [e.id for e in other.list_entities()] == ["customer:1", "customer:2", "customer:3"]
            assert [r.target for r in other.get_relations("customer:1")] == ["customer:2"]
        finally:
            other.close()
    finally:
        store.close()


def _while_held_behind(
    target: Neo4jTarget,
    monkeypatch: pytest.MonkeyPatch,
    before: Batch,
    held: Batch,
    operation: Callable[[GraphStore], DeleteResult],
) -> tuple[GraphStore, DeleteResult]:
    """Write ``before``; then, with ``held`` written behind and its commit held back, run ``operation``
    from a second client. It must still be waiting after 2 s; its result once the commit is let go."""
    target.wipe()
    store, other = target.open(), target.open()
    tx_commit = neo4j.Transaction.commit
    release = threading.Event()

    def held_commit(tx: neo4j.Transaction) -> None:
        release.wait(30)
        tx_commit(tx)

    results: list[DeleteResult] = []
    running = threading.Thread(target=lambda: results.append(operation(other)))
    try:
        store.write(before)
        with store.write_behind():
            monkeypatch.setattr(neo4j.Transaction, "commit", held_commit)
            store.write(held)
            running.start()
            running.join(2)
            waited = running.is_alive()
            release.set()
        running.join(30)
    except BaseException:
        store.close()
        raise
    finally:
        release.set()
        other.close()
    assert waited, "the operation overtook a batch that was not committed yet"
    return store, results[0]


def test_an_endpoint_a_batch_links_to_waits_for_its_commit_before_it_can_be_erased(
    neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, erased = _while_held_behind(
        neo4j_target,
        monkeypatch,
        Batch(entities=(customer("customer:1"), customer("customer:2"))),
        Batch(relations=(rel(RelType.KNOWS, "customer:1", "customer:2"),)),
        lambda other: other.erase_entity("customer:2"),
    )
    try:
        assert erased.relations_deleted == 1  # the relation was committed first, then erased with its end
        assert store.get_relations("customer:1") == []
        assert store.get_entity("customer:2") is None
    finally:
        store.close()


def test_deleting_a_source_waits_for_a_batch_adding_other_evidence_and_keeps_it(
    neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, deleted = _while_held_behind(
        neo4j_target,
        monkeypatch,
        Batch(entities=(customer("customer:1", "李娜", source="src:old-export.csv"),)),
        Batch(entities=(customer("customer:1", "李娜", source="src:vcard.vcf"),)),
        lambda other: other.delete_source("src:old-export.csv"),
    )
    try:
        assert deleted.entities_deleted == 0  # trimmed, not deleted: the vCard still supports the customer
        kept = store.get_entity("customer:1")
        assert kept is not None
        assert [p.source_id for p in kept.provenance] == ["src:vcard.vcf"]
    finally:
        store.close()


def test_the_drivers_debug_log_shows_how_many_rows_a_statement_sends_not_the_customers_in_them(
    neo4j_target: Neo4jTarget, caplog: pytest.LogCaptureFixture
) -> None:
    """The driver formats every statement's parameters for its debug log, printed or not (which also
    costs as much as encoding them): a debug log kept to trace a problem would hold personal data."""
    neo4j_target.wipe()
    store = neo4j_target.open()
    details = {"email": "wang.fang@example.cn", "phone": "+86 139 0000 1234"}
    try:
        with caplog.at_level(logging.DEBUG, logger="neo4j"):
            store.write(Batch(entities=(customer("customer:1", "王芳", **details),)))
            with store.write_behind():
                store.write(Batch(entities=(customer("customer:2", "Fang WANG", **details),)))
                store.write(Batch(relations=(rel(RelType.KNOWS, "customer:1", "customer:2"),)))
            assert store.get_entities(["customer:1", "customer:2"]).keys() == {"customer:1", "customer:2"}
        sent = [r.getMessage() for r in caplog.records if "C: RUN" in r.getMessage()]
        assert any("values>" in line for line in sent)  # rows and ids as counts
        for secret in ("wang.fang@example.cn", "0000 1234", "王芳", "Fang WANG"):
            assert not any(secret in line for line in sent), secret
        stored = store.get_entity("customer:2")
        assert stored is not None and stored.props == details and stored.name == "Fang WANG"
    finally:
        store.close()


def test_items_stored_before_full_text_search_get_their_search_form_when_the_schema_migrates(
    neo4j_target: Neo4jTarget,
) -> None:
    from ckn.graph.model import NodeKind
    from tests.factories import entity

    batch = Batch(entities=(entity("feedback:F1", NodeKind.FEEDBACK, "F1", text="知識管理很有用"),))
    store = _reopened_at(neo4j_target, batch, 2, "MATCH (n:Feedback) REMOVE n._search")
    try:
        assert [h.id for h in store.search_text("知识管理", limit=10)] == ["feedback:F1"]
    finally:
        store.close()


def test_entities_stored_before_names_were_looked_up_in_the_database_get_their_names_when_it_migrates(
    neo4j_target: Neo4jTarget,
) -> None:
    from ckn.api.understand import entity_ref, subjects_of

    batch = Batch(entities=(customer("customer:C1", "華東精密", emails=["li.na@hdjm.cn"]),))
    store = _reopened_at(neo4j_target, batch, 6, "MATCH (n:CknName) DELETE n")
    try:
        assert subjects_of(store, "华东精密 orders") == ["customer:C1"]
        assert entity_ref(store, "li.na@hdjm.cn", exact=True) == "customer:C1"
    finally:
        store.close()


def _reopened_at(neo4j_target: Neo4jTarget, batch: Batch, version: int, undo: str) -> GraphStore:
    """A store holding ``batch`` as schema ``version`` left it (``undo`` takes away what came later),
    opened again: migrated."""
    neo4j_target.wipe()
    store = neo4j_target.open()
    try:
        store.write(batch)
    finally:
        store.close()
    with neo4j.GraphDatabase.driver(neo4j_target.uri, auth=(neo4j_target.user, neo4j_target.password)) as d:
        d.execute_query(undo)
        d.execute_query("MATCH (m:CknMeta {key: 'schema'}) SET m.version = $v", {"v": version})
    return neo4j_target.open()


def test_a_database_written_before_pieces_were_kept_reads_the_strongest_in_order_once_migrated(
    neo4j_target: Neo4jTarget,
) -> None:
    """Schema 8 keeps each piece of evidence in the order of its weight; a database from before gets
    its rows when it migrates, and the strongest read from them are a colleague's newest and weightiest."""
    from tests.factories import assert_reads_dated_work_in_order, dated_work

    store = _reopened_at(neo4j_target, dated_work(), 7, "MATCH (n:CknPiece) DELETE n")
    try:
        rows = store._read("MATCH (c:CknPiece) RETURN c.item AS item, c.dated AS dated")  # type: ignore[attr-defined]
        assert_reads_dated_work_in_order(store, [(r["item"], r["dated"]) for r in rows])
    finally:
        store.close()


def test_the_benchmark_profiles_the_reads_an_expert_question_makes(neo4j_target: Neo4jTarget) -> None:
    """``make bench`` reports Neo4j's own time for an expert question's reads: they run as the store
    runs them, and count the colleagues who hold sums on the subject."""
    from ckn.bench.live_bench import _server_time
    from ckn.graph.model import NodeKind
    from tests.factories import employee, entity

    neo4j_target.wipe()
    store = neo4j_target.open()
    calls = [entity(f"call:{n}", NodeKind.INTERACTION, f"通话 {n}", occurred_at="2026-03-01") for n in (1, 2)]
    try:
        store.write(
            Batch(
                entities=(
                    employee("employee:li", "李娜"),
                    employee("employee:tom", "Tom Baker"),
                    entity("topic:t", NodeKind.TOPIC, "校准 calibration"),
                    *calls,
                ),
                relations=(
                    rel(RelType.PARTICIPATED_IN, "employee:li", "call:1"),
                    rel(RelType.PARTICIPATED_IN, "employee:tom", "call:2"),
                    *(rel(RelType.ABOUT, c.id, "topic:t") for c in calls),
                ),
            )
        )
        found = _server_time(store, "topic:t", "test")
    finally:
        store.close()
    assert found["pass"] is True
    assert "ms on the server" in found["subject"]
    assert "(2 colleagues' sums, then the evidence of 10)" in found["subject"]


def test_the_test_server_groups_relationships_as_compose_does(neo4j_target: Neo4jTarget) -> None:
    import os
    import sys
    from pathlib import Path

    if os.environ.get("NEO4J_TEST_URI"):
        pytest.skip("a server of your own: its settings are yours")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import neo4j_dev

    with (
        neo4j.GraphDatabase.driver(
            neo4j_target.uri, auth=(neo4j_target.user, neo4j_target.password)
        ) as driver,
        driver.session() as session,
    ):
        found = session.run("SHOW SETTINGS 'db.relationship_grouping_threshold' YIELD value").single()
    assert found is not None and int(found["value"]) == neo4j_dev.RELATIONSHIP_GROUPING


def test_a_referral_s_confidence_is_read_from_its_evidence_as_decoding_it_would() -> None:
    from ckn.graph.model import Provenance
    from ckn.graph.neo4j_store import _confidence

    stored = [
        Provenance(source_id="doc:推荐 note", confidence=0.6).model_dump_json(),
        Provenance(
            source_id='doc:"confidence":0.1', locator='"confidence": 0.05', confidence=0.8
        ).model_dump_json(),
        Provenance(source_id="doc:tiny", confidence=1e-05).model_dump_json(),
        '{"source_id": "older", "confidence": 0.3}',
        '{"source_id": "no confidence kept"}',
    ]
    for one in stored:
        assert _confidence([one]) == float(json.loads(one).get("confidence", 1.0))
    assert _confidence(stored[:3]) == 0.8 and _confidence(None) == _confidence([]) == 1.0
