"""What only the Neo4j store does: a commit behind that fails with a transient error is retried; a
batch open behind holds the locks that keep an erasure or a source deletion from overtaking it."""

from __future__ import annotations

import threading

import neo4j
import pytest
from neo4j.exceptions import ServiceUnavailable

from graph.model import Batch, RelType
from tests.conftest import Neo4jTarget
from tests.factories import customer, rel

pytestmark = pytest.mark.neo4j


def test_a_commit_behind_that_fails_with_a_transient_error_writes_its_batch_again(
    neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    neo4j_target.wipe()
    store = neo4j_target.open()
    tx_commit = neo4j.Transaction.commit
    failed: list[str] = []

    def server_gone_once(tx: neo4j.Transaction) -> None:
        monkeypatch.setattr(neo4j.Transaction, "commit", tx_commit)
        tx.rollback()
        failed.append("once")
        raise ServiceUnavailable("the server went away before the commit")

    try:
        with store.write_behind():
            store.write(Batch(entities=(customer("customer:1"), customer("customer:2"))))
            monkeypatch.setattr(neo4j.Transaction, "commit", server_gone_once)
            result = store.write(Batch(relations=(rel(RelType.KNOWS, "customer:1", "customer:2"),)))
            store.write(Batch(entities=(customer("customer:3"),)))  # after the batch written again
        assert failed == ["once"]
        assert result.relations.created == 1
        other = neo4j_target.open()
        try:
            assert [e.id for e in other.list_entities()] == ["customer:1", "customer:2", "customer:3"]
            assert [r.target for r in other.get_relations("customer:1")] == ["customer:2"]
        finally:
            other.close()
    finally:
        store.close()


def _hold_commits(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """From now on, a commit waits (at most 30 s) until the returned event is set."""
    tx_commit = neo4j.Transaction.commit
    release = threading.Event()

    def held_commit(tx: neo4j.Transaction) -> None:
        release.wait(30)
        tx_commit(tx)

    monkeypatch.setattr(neo4j.Transaction, "commit", held_commit)
    return release


def test_an_endpoint_a_batch_links_to_waits_for_its_commit_before_it_can_be_erased(
    neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    neo4j_target.wipe()
    store, eraser = neo4j_target.open(), neo4j_target.open()
    try:
        store.write(Batch(entities=(customer("customer:1"), customer("customer:2"))))
        erased: list[int] = []
        with store.write_behind():
            release = _hold_commits(monkeypatch)
            store.write(Batch(relations=(rel(RelType.KNOWS, "customer:1", "customer:2"),)))
            erasing = threading.Thread(
                target=lambda: erased.append(eraser.erase_entity("customer:2").relations_deleted)
            )
            erasing.start()
            erasing.join(2)
            assert erasing.is_alive(), "the endpoint was erased while a batch linking to it was open"
            release.set()
        erasing.join(30)
        assert erased == [1]  # the relation was committed first, then erased with its endpoint
        assert store.get_relations("customer:1") == []
        assert store.get_entity("customer:2") is None
    finally:
        store.close()
        eraser.close()


def test_deleting_a_source_waits_for_a_batch_adding_other_evidence_and_keeps_it(
    neo4j_target: Neo4jTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    neo4j_target.wipe()
    store, deleter = neo4j_target.open(), neo4j_target.open()
    try:
        store.write(Batch(entities=(customer("customer:1", "李娜", source="src:old-export.csv"),)))
        deleted: list[int] = []
        with store.write_behind():
            release = _hold_commits(monkeypatch)
            store.write(Batch(entities=(customer("customer:1", "李娜", source="src:vcard.vcf"),)))
            deleting = threading.Thread(
                target=lambda: deleted.append(deleter.delete_source("src:old-export.csv").entities_deleted)
            )
            deleting.start()
            deleting.join(2)
            assert deleting.is_alive(), "the source was deleted while a batch adding evidence was open"
            release.set()
        deleting.join(30)
        assert deleted == [0]  # trimmed, not deleted: the vCard still supports the customer
        kept = store.get_entity("customer:1")
        assert kept is not None
        assert [p.source_id for p in kept.provenance] == ["src:vcard.vcf"]
    finally:
        store.close()
        deleter.close()
