"""Contract: writing, merging, provenance, deleting by source, erasing. Runs on every store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ckn.graph.errors import DanglingRelation, SchemaViolation, StoreUnavailable
from ckn.graph.model import Batch, Checkpoint, Entity, NodeKind, Provenance, Relation, RelType
from ckn.graph.store import Direction, GraphStore, write_all
from ckn.ingest.jsonl import load_jsonl
from tests.factories import T0, customer, employee, entity, prov, referral_chain, rel


def test_writing_the_same_batch_twice_changes_nothing(store: GraphStore) -> None:
    people, links = referral_chain(5)
    batch = Batch(entities=tuple(people), relations=tuple(links))

    first = store.write(batch)
    stats_after_first = store.stats()
    second = store.write(batch)

    assert (first.entities.created, first.relations.created) == (5, 4)
    assert second.entities.model_dump() == {"created": 0, "updated": 0, "unchanged": 5}
    assert second.relations.model_dump() == {"created": 0, "updated": 0, "unchanged": 4}
    assert store.stats() == stats_after_first  # same counts and the graph version did not move


def test_the_same_fact_twice_in_one_batch_is_one_fact(store: GraphStore) -> None:
    a = customer("customer:C1", "张伟", city="苏州")
    a_again = customer("customer:C1", "张伟", source="src:vcard.vcf", phone="+8613800138000")
    result = store.write(Batch(entities=(a, a_again)))

    assert result.entities.created == 1
    stored = store.get_entity("customer:C1")
    assert stored is not None
    assert stored.props == {"city": "苏州", "phone": "+8613800138000"}
    assert {p.source_id for p in stored.provenance} == {"src:crm-export.csv", "src:vcard.vcf"}


def test_entities_merge_key_by_key_and_none_removes_a_key(store: GraphStore) -> None:
    store.write(Batch(entities=(customer("customer:C1", "Zhang Wei", city="Suzhou", tier="gold"),)))

    result = store.write(
        Batch(
            entities=(
                customer("customer:C1", "", source="src:tickets.csv", city="苏州", tier=None, vip=True),
            )
        )
    )

    stored = store.get_entity("customer:C1")
    assert result.entities.updated == 1
    assert stored is not None
    assert stored.name == "Zhang Wei"  # an empty name never wipes a known one
    assert stored.props == {"city": "苏州", "vip": True}


def test_new_evidence_for_a_known_fact_is_an_update_not_a_duplicate(store: GraphStore) -> None:
    store.write(Batch(entities=(customer("customer:C1", "李娜"),)))
    result = store.write(Batch(entities=(customer("customer:C1", "李娜", source="src:contacts.vcf"),)))

    assert result.entities.model_dump() == {"created": 0, "updated": 1, "unchanged": 0}
    assert store.stats().entities == {"Customer": 1}


def test_an_id_cannot_change_kind(store: GraphStore) -> None:
    store.write(Batch(entities=(customer("x:1", "Acme"),)))
    with pytest.raises(SchemaViolation, match="belongs to a Customer"):
        store.write(Batch(entities=(employee("x:1", "Acme"),)))
    stored = store.get_entity("x:1")
    assert stored is not None and stored.kind is NodeKind.CUSTOMER


def test_relations_merge_on_type_endpoints_and_key(store: GraphStore) -> None:
    doc = entity("knowledge:K1", NodeKind.KNOWLEDGE_ITEM, "X200 手册")
    x200 = entity("product:X200", NodeKind.PRODUCT, "X200")
    first = rel(RelType.MENTIONS, doc.id, x200.id, key="12-16", extractor_note="ruler")
    second = rel(RelType.MENTIONS, doc.id, x200.id, key="80-84")
    store.write(Batch(entities=(doc, x200), relations=(first, second)))

    again = rel(
        RelType.MENTIONS, doc.id, x200.id, key="12-16", src="src:reindex", extractor_note=None, weight=2
    )
    result = store.write(Batch(relations=(again,)))

    assert result.relations.updated == 1
    mentions = store.get_relations(doc.id, types=[RelType.MENTIONS])
    assert sorted(r.key for r in mentions) == ["12-16", "80-84"]
    merged = store.get_relations_by_id([first.id])[first.id]
    assert merged.props == {"weight": 2}
    assert {p.source_id for p in merged.provenance} == {"src:crm-export.csv", "src:reindex"}


def test_relation_validity_in_time_is_kept_and_can_be_closed(store: GraphStore) -> None:
    store.write(Batch(entities=(employee("employee:E1", "王芳"), customer("customer:C1", "华东精密"))))
    opened = Relation(
        type=RelType.OWNS_ACCOUNT,
        source="employee:E1",
        target="customer:C1",
        valid_from=datetime(2024, 1, 1, tzinfo=UTC),
        provenance=(prov(),),
    )
    store.write(Batch(relations=(opened,)))
    closed = opened.model_copy(update={"valid_from": None, "valid_to": datetime(2026, 6, 30, 18, tzinfo=UTC)})
    store.write(Batch(relations=(closed,)))

    stored = store.get_relations("employee:E1")[0]
    assert stored.valid_from == datetime(2024, 1, 1, tzinfo=UTC)
    assert stored.valid_to == datetime(2026, 6, 30, 18, tzinfo=UTC)


def test_a_relation_to_an_unknown_entity_fails_the_whole_batch(store: GraphStore) -> None:
    good = customer("customer:C1")
    dangling = rel(RelType.REFERRED, "customer:C1", "customer:ghost")
    with pytest.raises(DanglingRelation, match="customer:ghost"):
        store.write(
            Batch(entities=(good,), relations=(dangling,), checkpoint=Checkpoint(job="j", position="9"))
        )

    assert store.get_entity("customer:C1") is None  # nothing of the batch was written
    assert store.get_checkpoint("j") is None
    assert store.stats().total_entities == 0


def test_a_relation_between_kinds_its_type_does_not_allow_is_refused(store: GraphStore) -> None:
    store.write(Batch(entities=(customer("customer:C1"), entity("product:P1", NodeKind.PRODUCT, "P1"))))
    with pytest.raises(SchemaViolation, match="REFERRED may not go from Customer to Product"):
        store.write(Batch(relations=(rel(RelType.REFERRED, "customer:C1", "product:P1"),)))
    assert store.stats().total_relations == 0


def test_provenance_round_trips_exactly(store: GraphStore) -> None:
    evidence = Provenance(
        source_id="doc:季度复盘.docx",
        locator="page 3",
        start=120,
        end=126,
        extractor="ckn.ruler",
        extractor_version="2.1.0",
        confidence=0.83,
        observed_at=datetime(2026, 11, 2, 7, 5, 9, 123000, tzinfo=UTC),
    )
    older = prov("src:crm-export.csv", locator="line 7")
    e = Entity(id="product:X200", kind=NodeKind.PRODUCT, name="X200 光谱仪", provenance=(evidence, older))
    store.write(Batch(entities=(e,)))

    stored = store.get_entity("product:X200")
    assert stored is not None
    assert stored.provenance == (older, evidence)  # oldest first, every field intact


def test_re_extraction_with_a_new_version_replaces_the_evidence(store: GraphStore) -> None:
    v1 = Provenance(
        source_id="doc:a", start=0, end=3, extractor="ruler", extractor_version="1", confidence=0.5
    )
    v2 = v1.model_copy(update={"extractor_version": "2", "confidence": 0.9})
    store.write(Batch(entities=(Entity(id="topic:t", kind=NodeKind.TOPIC, provenance=(v1,)),)))
    result = store.write(Batch(entities=(Entity(id="topic:t", kind=NodeKind.TOPIC, provenance=(v2,)),)))

    stored = store.get_entity("topic:t")
    assert result.entities.updated == 1
    assert stored is not None and [(p.extractor_version, p.confidence) for p in stored.provenance] == [
        ("2", 0.9)
    ]


def test_chinese_and_other_unicode_round_trip(store: GraphStore) -> None:
    props = {
        "地址": "上海市浦东新区 张江路１２３号",
        "note": "客户说：“X200 很好用！”😀",
        "aliases": ["華東精密", "华东精密", "HDJM"],
        "score": 4.5,
        "count": 3,
        "active": True,
    }
    e = customer("customer:华东精密", "华东精密仪器有限公司", **props)
    store.write(Batch(entities=(e,)))

    stored = store.get_entity("customer:华东精密")
    assert stored is not None
    assert stored.name == "华东精密仪器有限公司"
    assert stored.props == props
    assert [x.id for x in store.list_entities(NodeKind.CUSTOMER)] == ["customer:华东精密"]


def test_checkpoint_commits_with_its_batch(store: GraphStore) -> None:
    store.write(
        Batch(
            entities=(customer("customer:C1"),),
            checkpoint=Checkpoint(job="ingest:a.csv", position="row 1000"),
        )
    )
    assert store.get_checkpoint("ingest:a.csv") == "row 1000"
    store.write(Batch(checkpoint=Checkpoint(job="ingest:a.csv", position="row 2000")))
    assert store.get_checkpoint("ingest:a.csv") == "row 2000"
    assert store.get_checkpoint("ingest:other") is None


def test_a_source_renamed_keeps_every_fact_it_gave_its_links_and_its_checkpoint(store: GraphStore) -> None:
    """A source named after a person's file gets a new id (an erasure): the evidence it gave, the
    relations to it and its ingest's checkpoint follow; a second rename into an id already there
    (the same file ingested again since) merges into it."""
    old, new = "source:张伟_tickets.csv@1", "source:██_tickets.csv@1~a1"
    source = entity(old, NodeKind.SOURCE, "张伟_tickets.csv", source=old, file="张伟_tickets.csv")
    both = customer("customer:C1", "王芳")  # from the CRM export ...
    both_again = customer("customer:C1", "王芳", source=old, city="苏州")  # ... and from the tickets
    only_tickets = entity("interaction:T1", NodeKind.INTERACTION, "工单 T1", source=old)
    took_part = rel(RelType.PARTICIPATED_IN, "customer:C1", "interaction:T1", src=old)
    derived = rel(RelType.DERIVED_FROM, "interaction:T1", old)  # to the source, on other evidence
    checkpoint = Checkpoint(job=f"ingest:{old}", position="done")
    batch = Batch(entities=(source, both, both_again, only_tickets), relations=(took_part, derived))
    store.write(batch.model_copy(update={"checkpoint": checkpoint}))
    before = store.stats()
    renamed = source.model_copy(
        update={
            "id": new,
            "name": "██_tickets.csv",
            "props": {"file": "██_tickets.csv"},
            "provenance": (prov(new),),
        }
    )

    assert store.rename_source(old, renamed) == 4  # C1, T1, took part, derived from

    def sources(fact: Entity | Relation | None) -> set[str]:
        assert fact is not None
        return {p.source_id for p in fact.provenance}

    assert store.get_entity(old) is None and store.get_entity(new) == renamed
    assert sources(store.get_entity("customer:C1")) == {"src:crm-export.csv", new}
    assert sources(store.get_entity("interaction:T1")) == {new}
    links = {r.type: r for r in store.get_relations("interaction:T1")}
    assert sources(links[RelType.PARTICIPATED_IN]) == {new}
    assert links[RelType.DERIVED_FROM].target == new and sources(links[RelType.DERIVED_FROM]) == {
        "src:crm-export.csv"
    }
    assert store.get_checkpoint(f"ingest:{old}") is None and store.get_checkpoint(f"ingest:{new}") == "done"
    after = store.stats()
    assert (after.total_entities, after.total_relations) == (before.total_entities, before.total_relations)
    text = "".join(
        e.model_dump_json() + "".join(r.model_dump_json() for r in store.get_relations(e.id))
        for kind in NodeKind
        for e in store.list_entities(kind)
    )
    assert "张伟" not in text

    store.write(Batch(entities=(source, entity("customer:C2", NodeKind.CUSTOMER, "李娜", source=old))))
    store.write(Batch(checkpoint=Checkpoint(job=f"ingest:{old}", position="line 1")))
    assert store.rename_source(old, renamed) == 1
    assert store.get_entity(old) is None and sources(store.get_entity("customer:C2")) == {new}
    assert store.get_checkpoint(f"ingest:{new}") == "done" and store.get_checkpoint(f"ingest:{old}") is None
    assert len(store.list_entities(NodeKind.SOURCE)) == 1


def test_deleting_a_source_removes_only_what_nothing_else_supports(store: GraphStore) -> None:
    source = entity("src:tickets.csv", NodeKind.SOURCE, "tickets.csv", source="src:tickets.csv")
    both = customer("customer:C1", "张伟")  # from the CRM export ...
    both_again = customer("customer:C1", "张伟", source="src:tickets.csv")  # ... and from the tickets
    only_tickets = entity("interaction:T1", NodeKind.INTERACTION, "工单 T1", source="src:tickets.csv")
    took_part = rel(RelType.PARTICIPATED_IN, "customer:C1", "interaction:T1")  # evidence: CRM export
    derived = rel(RelType.DERIVED_FROM, "interaction:T1", "src:tickets.csv", src="src:tickets.csv")
    store.write(Batch(entities=(source, both, both_again, only_tickets), relations=(took_part, derived)))
    before = store.stats()

    preview = store.delete_source("src:tickets.csv", dry_run=True)
    kept_by_new_version = store.delete_source("src:tickets.csv", dry_run=True, keep=["interaction:T1"])

    assert store.stats() == before  # a dry run changes nothing
    assert kept_by_new_version.entities_deleted == 1  # the Source only: a new version has T1
    assert kept_by_new_version.relations_deleted == 1  # DERIVED_FROM still goes

    result = store.delete_source("src:tickets.csv")

    assert result == preview
    assert result.facts_supported == 3  # the customer, the interaction and DERIVED_FROM
    assert result.entities_deleted == 1  # the Source itself
    assert result.relations_deleted == 1  # DERIVED_FROM, to the deleted Source
    assert result.facts_trimmed == 2  # the customer lost one piece of evidence; T1 is kept (below)
    kept = store.get_entity("customer:C1")
    assert kept is not None and {p.source_id for p in kept.provenance} == {"src:crm-export.csv"}
    # the CRM export still says C1 took part in T1: T1 stays, on that evidence, and so does the link
    interaction = store.get_entity("interaction:T1")
    assert interaction is not None and {p.source_id for p in interaction.provenance} == {"src:crm-export.csv"}
    assert store.get_entity("src:tickets.csv") is None
    assert store.stats().total_relations == 1
    assert store.delete_source("src:tickets.csv").model_dump() == {
        "entities_deleted": 0,
        "relations_deleted": 0,
        "facts_trimmed": 0,
        "facts_supported": 0,
    }


def test_erasing_a_subject_removes_it_and_every_relation_touching_it(store: GraphStore) -> None:
    people, links = referral_chain(3)
    store.write(Batch(entities=tuple(people), relations=tuple(links)))

    result = store.erase_entity("customer:c1")

    assert (result.entities_deleted, result.relations_deleted) == (1, 2)
    assert store.get_entity("customer:c1") is None
    assert store.get_relations("customer:c0") == []
    graph = store.project()
    assert "customer:c1" not in graph
    assert all("客户1" not in str(data) for _, data in graph.nodes(data=True))
    assert store.erase_entity("customer:c1").entities_deleted == 0


def test_graph_version_moves_only_when_something_changes(store: GraphStore) -> None:
    v0 = store.stats().graph_version
    store.write(Batch(entities=(customer("customer:C1"),)))
    v1 = store.stats().graph_version
    store.write(Batch(entities=(customer("customer:C1"),)))
    v2 = store.stats().graph_version
    store.delete_source("src:crm-export.csv")
    v3 = store.stats().graph_version

    assert v0 < v1 == v2 < v3


def test_list_entities_pages_in_id_order(store: GraphStore) -> None:
    people = [customer(f"customer:{i:03d}") for i in range(25)]
    store.write(Batch(entities=(*people, employee("employee:E1"))))

    seen: list[str] = []
    after = ""
    while page := store.list_entities(NodeKind.CUSTOMER, after=after, limit=10):
        seen += [e.id for e in page]
        after = page[-1].id
    assert seen == [p.id for p in people]
    assert [e.id for e in store.list_entities(limit=2)] == ["customer:000", "customer:001"]


def test_get_relations_filters_by_type_and_direction(store: GraphStore) -> None:
    store.write(Batch(entities=(employee("employee:E1"), employee("employee:E2"), customer("customer:C1"))))
    store.write(
        Batch(
            relations=(
                rel(RelType.REPORTS_TO, "employee:E1", "employee:E2"),
                rel(RelType.KNOWS, "employee:E2", "employee:E1"),
                rel(RelType.OWNS_ACCOUNT, "employee:E1", "customer:C1"),
            )
        )
    )
    out = store.get_relations("employee:E1", direction=Direction.OUT)
    inbound = store.get_relations("employee:E1", direction=Direction.IN)
    knows = store.get_relations("employee:E1", types=[RelType.KNOWS])

    assert sorted(r.type.value for r in out) == ["OWNS_ACCOUNT", "REPORTS_TO"]
    assert [r.type for r in inbound] == [RelType.KNOWS]
    assert [(r.source, r.target) for r in knows] == [("employee:E2", "employee:E1")]
    assert [r.id for r in store.get_relations("employee:E1")] == sorted(r.id for r in out + inbound)


@pytest.mark.slow
def test_ten_thousand_entities_and_twenty_thousand_relations_twice_leave_identical_counts(
    store: GraphStore,
) -> None:
    people = [
        customer(f"customer:{i:05d}", f"客户{i}", city="上海" if i % 2 else "Berlin") for i in range(10_000)
    ]
    links = [rel(RelType.KNOWS, people[i].id, people[(i * 7 + 1) % 10_000].id) for i in range(10_000)]
    links += [rel(RelType.REFERRED, people[i].id, people[(i * 13 + 5) % 10_000].id) for i in range(10_000)]

    first = write_all(store, people, links, batch_size=2000)
    counts = store.stats()
    second = write_all(store, people, links, batch_size=2000)

    assert (first.entities.created, first.relations.created) == (10_000, 20_000)
    assert (second.entities.unchanged, second.relations.unchanged) == (10_000, 20_000)
    assert store.stats() == counts
    assert counts.entities == {"Customer": 10_000}
    assert counts.relations == {"KNOWS": 10_000, "REFERRED": 10_000}


def test_written_time_is_normalised_to_utc(store: GraphStore) -> None:
    local = datetime.fromisoformat("2026-10-02T09:15:00+08:00")
    e = Entity(id="topic:t", kind=NodeKind.TOPIC, provenance=(prov(observed_at=local),))
    store.write(Batch(entities=(e,)))
    stored = store.get_entity("topic:t")
    assert stored is not None and stored.provenance[0].observed_at == datetime(2026, 10, 2, 1, 15, tzinfo=UTC)
    assert T0.tzinfo is UTC


def test_a_replacing_batch_writes_facts_exactly_and_deletes_in_the_same_transaction(
    store: GraphStore,
) -> None:
    store.write(
        Batch(
            entities=(
                customer("customer:A", "Zhang Wei", city="苏州", tier="gold"),
                customer("customer:A", "", source="src:vcard", phone="+8613800138000"),
                customer("customer:B", "张伟"),
                customer("customer:X", "刘强"),
            )
        )
    )
    store.write(
        Batch(
            relations=(
                rel(RelType.KNOWS, "customer:B", "customer:X"),
                rel(RelType.REFERRED, "customer:A", "customer:X"),
            )
        )
    )
    exact = customer("customer:A", "张伟", city="苏州")  # one source, fewer properties

    result = store.write(
        Batch(
            entities=(exact,),
            relations=(rel(RelType.KNOWS, "customer:A", "customer:X"),),
            delete_entities=("customer:B",),
            replace=True,
        )
    )

    assert result.entities.updated == 1 and result.relations.created == 1
    stored = store.get_entity("customer:A")
    assert stored is not None and stored.props == {"city": "苏州"} and stored.name == "张伟"
    assert [p.source_id for p in stored.provenance] == ["src:crm-export.csv"]
    assert store.get_entity("customer:B") is None
    assert sorted(r.type.value for r in store.get_relations("customer:X")) == ["KNOWS", "REFERRED"]
    assert store.neighbourhood("customer:X").distances == {"customer:X": 0, "customer:A": 1}


def test_deleting_relations_by_id_and_refusing_links_to_deleted_entities(store: GraphStore) -> None:
    store.write(Batch(entities=(customer("customer:A"), customer("customer:B"))))
    link = rel(RelType.KNOWS, "customer:A", "customer:B")
    store.write(Batch(relations=(link,)))

    store.write(Batch(delete_relations=(link.id, "KNOWS:no-such-id", "garbage")))
    assert store.get_relations("customer:A") == []

    with pytest.raises(DanglingRelation):
        store.write(Batch(relations=(link,), delete_entities=("customer:B",)))
    assert store.get_entity("customer:B") is not None


def test_writes_behind_are_read_at_once_and_all_there_when_the_block_ends(
    store: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    people, links = referral_chain(4)
    with store.write_behind():
        checkpoint = Checkpoint(job="ingest:b.csv", position="line 4")
        store.write(Batch(entities=tuple(people), checkpoint=checkpoint))
        assert store.get_entity(people[0].id) is not None  # the next read sees it
        store.write(Batch(relations=tuple(links)))  # needs the entities of the write before
        assert store.neighbourhood(people[0].id, depth=3).distances[people[3].id] == 3
    other = store_factory()  # another client, after the block: everything is committed
    assert other.stats().total_relations == 3
    assert other.get_checkpoint("ingest:b.csv") == "line 4"


def _fail_the_next_commit(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the store's next commit fail the way a real one does: rolled back, then raised."""
    if store.backend == "embedded":
        import sqlite3

        commit = store._commit  # type: ignore[attr-defined]

        def disk_full(cur: sqlite3.Cursor) -> None:
            monkeypatch.setattr(store, "_commit", commit)
            cur.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(store, "_commit", disk_full)
    else:
        import neo4j
        from neo4j.exceptions import IncompleteCommit

        tx_commit = neo4j.Transaction.commit

        def connection_lost(tx: neo4j.Transaction) -> None:
            monkeypatch.setattr(neo4j.Transaction, "commit", tx_commit)
            tx.rollback()
            raise IncompleteCommit("the connection to the server dropped while committing")

        monkeypatch.setattr(neo4j.Transaction, "commit", connection_lost)


def test_a_commit_that_fails_behind_loses_only_its_batch_and_the_next_write_is_told(
    store: GraphStore, store_factory: Callable[..., GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StoreUnavailable, match="not committed"), store.write_behind():
        store.write(Batch(entities=(customer("customer:1"), customer("customer:2"))))
        _fail_the_next_commit(store, monkeypatch)
        store.write(Batch(relations=(rel(RelType.KNOWS, "customer:1", "customer:2"),)))  # not committed
        store.write(Batch(entities=(customer("customer:3"),)))  # told of it: writes nothing
    with store.write_behind():  # told once: the next block works
        store.write(Batch(entities=(customer("customer:4"),)))
    other = store_factory()
    assert [e.id for e in other.list_entities()] == ["customer:1", "customer:2", "customer:4"]
    assert other.stats().total_relations == 0
    assert other.get_relations("customer:1") == []


def test_a_record_with_a_value_one_store_cannot_keep_is_rejected_and_the_rest_are_kept_exactly(
    store: GraphStore, tmp_path: Path
) -> None:
    data = tmp_path / "records.jsonl"
    props = ['{"ltv": Infinity}', '{"n": 18446744073709551616}', '{"tags": [1, -9223372036854775809]}',
             '{"n": 9223372036854775807, "ltv": 700.0000000000001}']  # fmt: skip
    data.write_text(
        "\n".join(
            f'{{"entity": {{"id": "customer:V{n}", "kind": "Customer", "name": "客户{n}", "props": {p}}}}}'
            for n, p in enumerate(props, start=1)
        ),
        encoding="utf-8",
    )

    report = load_jsonl(store, data)

    assert [(r.line, r.reason) for r in report.rejected] == [
        (1, "property 'ltv' is infinite; give a number"),
        (2, "property 'n' is a whole number beyond 64 bits; give it as text"),
        (3, "property 'tags' is a whole number beyond 64 bits; give it as text"),
    ]
    assert [store.get_entity(f"customer:V{n}") for n in (1, 2, 3)] == [None, None, None]
    kept = store.get_entity("customer:V4")
    assert kept is not None and kept.props == {"n": 2**63 - 1, "ltv": 700.0000000000001}
