"""Ingesting a bilingual, messy bundle of CRM exports, on every store."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import pytest

from ckn.graph.model import Batch, Checkpoint, NodeKind, RelType
from ckn.graph.store import Direction, GraphStore
from ckn.ingest.pipeline import IngestReport, ingest_paths
from tests.factories import StopAtTheEnd, Stopped

BUNDLE = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"


def _ingest(store: GraphStore, path: Path, tmp_path: Path, **kw) -> IngestReport:  # type: ignore[no-untyped-def]
    return ingest_paths(store, [path], quarantine_dir=tmp_path / "quarantine", batch_size=7, **kw)


def _quarantine(tmp_path: Path) -> list[tuple[str, int, str]]:
    rows = []
    for file in sorted((tmp_path / "quarantine").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            rows.append((entry["file"], entry["line"], entry["reason"]))
    return sorted(rows)


def _graph(store: GraphStore) -> nx.MultiDiGraph:
    """The graph without provenance and without the Source nodes: what the data says."""
    graph = store.project()
    graph.remove_nodes_from([n for n, kind in graph.nodes(data="kind") if kind == "Source"])
    return graph


def _stop_after(rows: int) -> Callable[[str, int, int], None]:
    """A progress callback stopping the ingest once more than ``rows`` rows are written."""

    def stop(_name: str, done: int, _total: int) -> None:
        if done > rows:
            raise Stopped

    return stop


def test_the_bundle_ingests_and_every_bad_row_is_quarantined_with_its_reason(
    store: GraphStore, tmp_path: Path
) -> None:
    report = _ingest(store, BUNDLE, tmp_path)

    assert [f.status for f in report.files] == ["ingested"] * 12
    assert _quarantine(tmp_path) == [
        ("contacts.vcf", 34, "no id, e-mail, phone or name to identify the record"),
        ("customers.csv", 9, "not an e-mail address: 'not-an-email'"),
        (
            "customers.csv",
            10,
            "cell 'name' looks like a spreadsheet formula ('=HYPERLINK(\"http://e'); not imported",
        ),
        ("customers.csv", 11, "unknown referrer 'C999'"),
        ("customers.csv", 12, "expected 13 columns, found 14"),
        ("employees.csv", 9, "not a date: '31/31/2020'"),
        ("feedback.csv", 5, "rating must be 1 to 5, not '7'"),
        (
            "interactions.csv",
            9,
            "channel must be one of call, chat, email, meeting, purchase, ticket, visit, not 'fax'",
        ),
        ("interactions.csv", 10, "unknown employee 'E42'"),
        ("relationships.csv", 4, "unknown relationship type 'KNOWES'"),
    ]
    assert report.quarantined == 10
    customers = {e.name for e in store.list_entities(NodeKind.CUSTOMER)}
    assert customers == {
        "华东精密仪器有限公司",
        "张伟",
        "刘强",
        "Acme Labs GmbH",
        "Maria Lopez",
        "陈静",
        "周杰",
        "Tom Becker",
        "NewCo Berlin",
        "李四",
    }
    assert store.get_entity("employee:E99") is None and store.get_entity("customer:C107") is None


def test_the_same_customer_from_three_sources_is_one_node_with_all_keys(
    store: GraphStore, tmp_path: Path
) -> None:
    _ingest(store, BUNDLE, tmp_path)

    zhang = store.get_entity("customer:C101")
    assert zhang is not None
    assert zhang.name == "张伟"  # the HubSpot export wrote it "伟 / 张": family name first, no space
    assert zhang.props["emails"] == ["zhang.wei@hdjm.cn", "zhangwei1985@example.cn"]  # the vCard's second
    assert zhang.props["phones"] == ["+8613800138000"]  # "+86 138-0013-8000", "0086 138 …", "138 0013 8000"
    assert zhang.props["external_ids"] == [
        "crm:C101",
        "hubspot:9001",
        "vcard:8f0c6a3e-0f7e-4a38-9d6a-zhangwei",
    ]
    assert zhang.props["wechat"] == "zw_hdjm"  # an extra column kept as a property
    assert zhang.props["note"] == "喜欢周五下午开会, 不喜欢电话推销;对X200很满意"  # folded vCard line
    assert {p.source_id.split("@")[0] for p in zhang.provenance} == {
        "source:customers.csv",
        "source:hubspot_contacts.csv",
        "source:contacts.vcf",
    }
    customers = store.list_entities(NodeKind.CUSTOMER)
    assert len([c for c in customers if c.name == "张伟"]) == 1
    li_si = next(c for c in customers if c.name == "李四")  # vCard 2.1, quoted-printable UTF-8
    assert li_si.props["note"] == "工程师,负责X200维护"  # NFKC: full-width comma
    assert [r.target for r in store.get_relations("customer:C101", types=[RelType.KNOWS])] == [li_si.id]
    maria = store.get_entity("customer:C104")
    assert maria is not None and maria.props["phones"] == ["+49897654321"]  # the new phone joined
    works_at = store.get_relations("customer:C104", types=[RelType.WORKS_AT])
    assert [r.target for r in works_at] == ["customer:C103"]


def test_references_by_id_email_and_name_all_resolve(store: GraphStore, tmp_path: Path) -> None:
    _ingest(store, BUNDLE, tmp_path)

    def targets(entity_id: str, rtype: RelType, direction: Direction = Direction.OUT) -> list[str]:
        rels = store.get_relations(entity_id, types=[rtype], direction=direction)
        return sorted(r.target if direction is Direction.OUT else r.source for r in rels)

    assert targets("employee:E04", RelType.REPORTS_TO) == ["employee:E03"]  # manager given as an e-mail
    assert targets("customer:C103", RelType.REFERRED, Direction.IN) == ["customer:C101"]  # referrer as e-mail
    assert targets("customer:C106", RelType.REFERRED, Direction.IN) == ["customer:C104", "customer:C105"]
    took_part = targets("employee:E01", RelType.PARTICIPATED_IN)
    assert took_part == ["interaction:T-881", "interaction:T-902"]  # T-902 names Wang Fang by e-mail
    tom_owner = store.get_relations("employee:E04", types=[RelType.OWNS_ACCOUNT])
    assert any(store.get_entity(r.target).name == "Tom Becker" for r in tom_owner)  # type: ignore[union-attr]


def test_values_are_normalised(store: GraphStore, tmp_path: Path) -> None:
    _ingest(store, BUNDLE, tmp_path)

    liu = store.get_entity("customer:C102")
    li_na = store.get_entity("employee:E03")
    purchase = store.get_entity("interaction:P-301")
    ticket = store.get_entity("interaction:T-881")
    assert liu is not None and liu.props["phones"] == ["+8613900012222"]  # full-width digits
    assert (
        li_na is not None and li_na.name == "李娜" and li_na.props["hired_at"] == "2018-07-01T00:00:00+00:00"
    )
    assert purchase is not None and purchase.props["amount"] == 42000.0
    assert ticket is not None and ticket.props["channel"] == "ticket"  # 工单
    assert ticket.props["notes"].startswith(
        "客户反映X200 校准结果漂移"
    )  # stray spaces between characters gone


def test_ingesting_the_same_bundle_twice_creates_nothing_the_second_time(
    store: GraphStore, tmp_path: Path
) -> None:
    _ingest(store, BUNDLE, tmp_path)
    before = store.stats()

    again = _ingest(store, BUNDLE, tmp_path)

    assert [f.status for f in again.files] == ["unchanged"] * 12
    assert again.written.entities.created == again.written.relations.created == 0
    assert again.quarantined == 10  # still reported
    assert store.stats() == before


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "utf-16"])
def test_the_same_data_in_another_encoding_gives_the_same_graph(
    store_factory,
    tmp_path: Path,
    encoding: str,  # type: ignore[no-untyped-def]
) -> None:
    plain = store_factory()
    _ingest(plain, BUNDLE, tmp_path / "a")
    expected = _graph(plain)

    converted = tmp_path / "bundle"
    converted.mkdir()
    for file in BUNDLE.rglob("*.*"):
        target = converted / file.relative_to(BUNDLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.read_text(encoding="utf-8").encode(encoding))
    for entity in list(plain.list_entities(limit=1000)):
        plain.erase_entity(entity.id)
    _ingest(plain, converted, tmp_path / "b")

    got = _graph(plain)
    assert dict(got.nodes(data=True)) == dict(expected.nodes(data=True))
    assert sorted(got.edges(keys=True, data=True)) == sorted(expected.edges(keys=True, data=True))


def test_a_file_in_an_unknown_encoding_is_rejected_whole_and_the_rest_is_ingested(
    store: GraphStore, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    (bundle / "products.csv").write_bytes("product_id,name\nM1,Müller Präzision ÄÖÜ\n".encode("latin-1"))

    report = _ingest(store, bundle, tmp_path)

    rejected = [f for f in report.files if f.status == "rejected"]
    assert [(Path(f.path).name, f.reason.split(" is ")[0]) for f in rejected] == [
        ("products.csv", "products.csv")
    ]
    assert "save it as UTF-8" in rejected[0].reason
    assert store.get_entity("product:M1") is None
    assert store.get_entity("customer:C101") is not None


def test_presets_and_yaml_mappings_read_other_layouts(store: GraphStore, tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(
        "Contact ID,First Name,Last Name,Email,Phone,Account Name,Mailing City\n"
        "003A1,Jing,Chen,CHEN.JING@example.cn,137-0013-7000,,Nanjing\n"
        "003A2,Wei,Li,li.wei@example.org,,Globex Ltd,Shanghai\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "kind: customers\ncolumns:\n  Kundennr: customer_id\n  Firma: name\n  Ort: city\n", encoding="utf-8"
    )
    german = tmp_path / "kunden.csv"
    german.write_text("Kundennr,Firma,Ort\nD-7,Müller GmbH,Köln\n", encoding="utf-8")
    from ckn.ingest.tabular import Mapping

    _ingest(
        store, tmp_path / "export.csv", tmp_path, mapping=Mapping.preset("salesforce"), system="salesforce"
    )
    _ingest(store, german, tmp_path, mapping=Mapping.from_yaml(mapping))

    names = sorted(e.name for e in store.list_entities(NodeKind.CUSTOMER))
    assert names == ["Globex Ltd", "Jing Chen", "Müller GmbH", "Wei Li"]
    jing = next(e for e in store.list_entities(NodeKind.CUSTOMER) if e.name == "Jing Chen")
    assert jing.props["external_ids"] == ["salesforce:003A1"] and jing.props["phones"] == ["+8613700137000"]
    mueller = store.get_entity("customer:D-7")
    assert mueller is not None and mueller.props["city"] == "Köln"


def test_rows_may_name_rows_further_down_the_same_file(store: GraphStore, tmp_path: Path) -> None:
    bundle = tmp_path / "forward"
    bundle.mkdir()
    (bundle / "topics.csv").write_text(
        "topic_id,name,aliases,parent_id\nT1,发票 invoicing,开票,T2\nT2,财务 Finance,,\n", encoding="utf-8"
    )
    (bundle / "employees.csv").write_text(
        "employee_id,name,email,department,manager_id\n"
        "E1,王芳 Wang Fang,wang.fang@corp.example,销售部,li.lei@corp.example\n"  # her manager by e-mail
        "E2,Li Lei 李雷,LI.LEI@corp.example,销售部,\n",
        encoding="utf-8",
    )
    (bundle / "customers.csv").write_text(
        "customer_id,name,kind,organization_id,email,referred_by\n"
        "C1,张伟,person,C3,zhang.wei@example.cn,C2\n"  # company and referrer both come later
        "C2,Anna Schmidt,person,上海明辉科技有限公司,anna@example.de,\n"  # the company by its name
        "C3,上海明辉科技有限公司,company,,info@minghui.example,\n"
        "C4,Bob Stone,person,Ghost Trading Ltd,bob@example.com,\n"  # a company without a row: harvested
        "C5,陈静,person,,chen.jing@example.cn,C99\n",  # nobody is C99, however far down one looks
        encoding="utf-8",
    )
    report = ingest_paths(store, [bundle], quarantine_dir=tmp_path / "quarantine", batch_size=2)

    def targets(entity_id: str, rtype: RelType) -> list[str]:
        return sorted(r.target for r in store.get_relations(entity_id, types=[rtype]))

    assert targets("topic:T1", RelType.SUBTOPIC_OF) == ["topic:T2"]
    assert targets("employee:E1", RelType.REPORTS_TO) == ["employee:E2"]
    assert targets("customer:C1", RelType.WORKS_AT) == ["customer:C3"]  # the company's row, not a copy
    assert targets("customer:C2", RelType.WORKS_AT) == ["customer:C3"]
    assert targets("customer:C2", RelType.REFERRED) == ["customer:C1"]
    (ghost,) = targets("customer:C4", RelType.WORKS_AT)
    assert store.get_entity(ghost).props["customer_kind"] == "organization"  # type: ignore[union-attr]
    customers = store.list_entities(NodeKind.CUSTOMER)
    companies = [c.name for c in customers if c.props.get("customer_kind") == "organization"]
    assert sorted(companies) == ["Ghost Trading Ltd", "上海明辉科技有限公司"]
    assert _quarantine(tmp_path) == [("customers.csv", 6, "unknown referrer 'C99'")]
    assert store.get_entity("customer:C5") is None
    assert report.quarantined == 1


def test_a_row_held_back_whose_referrer_was_bad_stays_out_after_an_interruption(
    store: GraphStore, tmp_path: Path
) -> None:
    """K0 waits for K9, whose row is bad; the run stops after K0 was quarantined and the checkpoint
    passed it. The resumed run must not take K0 for written: an interaction with K0 is a bad row."""
    bundle = tmp_path / "held"
    bundle.mkdir()
    rows = ["customer_id,name,email,referred_by"]
    rows.append("K0,林晓 Lin Xiao,lin.xiao@example.cn,K9")  # K9's row below is bad
    rows += [f"K{i},客户{i} Kunde,kunde{i}@example.cn,K{i + 5}" for i in (1, 2)]  # referrers further down
    rows += [f"K{i},客户{i} Kunde,kunde{i}@example.cn," for i in range(3, 9)]
    rows.append("K9,坏行 Bad Row,not-an-email,")
    (bundle / "customers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (bundle / "interactions.csv").write_text(
        "interaction_id,occurred_at,channel,customer_id,subject\n"
        "I1,2026-03-02,call,K0,回访 Lin\nI2,2026-03-03,email,K1,follow-up 报价\n",
        encoding="utf-8",
    )

    def stop_once_k1_is_written(_name: str, _done: int, _total: int) -> None:
        if store.get_entity("customer:K1") is not None:  # K1 too waited: written after K0 failed
            raise Stopped

    with pytest.raises(Stopped):
        ingest_paths(
            store,
            [bundle],
            quarantine_dir=tmp_path / "quarantine",
            batch_size=2,
            on_rows=stop_once_k1_is_written,
        )
    again = ingest_paths(store, [bundle], quarantine_dir=tmp_path / "quarantine", batch_size=2)

    assert [f.status for f in again.files] == ["resumed", "ingested"]
    assert store.get_entity("customer:K0") is None
    assert len(store.list_entities(NodeKind.INTERACTION)) == 1
    assert _quarantine(tmp_path) == [  # each bad row once
        ("customers.csv", 2, "unknown referrer 'K9'"),
        ("customers.csv", 11, "not an e-mail address: 'not-an-email'"),
        ("interactions.csv", 2, "unknown customer 'K0'"),
    ]


def test_an_ingest_stopped_at_its_last_batch_lists_each_dropped_relation_once(
    store: GraphStore, tmp_path: Path
) -> None:
    """K1's referrer K2 waits for K4, whose row is bad: K2 is quarantined, and the referral K2 -> K1 is
    dropped when the file ends. The run stops before its last batch commits; the run again resumes
    after K2, and lists the same bad rows as an uninterrupted run, each once."""
    bundle = tmp_path / "last"
    bundle.mkdir()
    (bundle / "customers.csv").write_text(
        "customer_id,name,email,referred_by\n"
        "K1,周杰 Zhou Jie,zhou.jie@example.cn,K2\n"
        "K2,Ada  Lovelace,ada@example.co.uk,K4\n"
        "K3,王 小明,xiaoming@example.cn,\n"
        "K4,坏行 Bad Row,kein@mail,\n"
        "K5,Chen  Jing 陈静,chen.jing@example.cn,K6\n"  # waits too, for a good row: the checkpoint passes K2
        "K6,李 Lei,li.lei@example.cn,\n",
        encoding="utf-8",
    )

    with pytest.raises(Stopped):
        ingest_paths(StopAtTheEnd(store), [bundle], quarantine_dir=tmp_path / "quarantine", batch_size=1)  # type: ignore[arg-type]
    again = ingest_paths(store, [bundle], quarantine_dir=tmp_path / "quarantine", batch_size=1)

    assert [f.status for f in again.files] == ["resumed"]
    assert again.quarantined == 3
    assert _quarantine(tmp_path) == [
        ("customers.csv", 2, "REFERRED customer:K2 -> customer:K1 dropped: an endpoint was never imported"),
        ("customers.csv", 3, "unknown referrer 'K4'"),
        ("customers.csv", 5, "not an e-mail address: 'kein@mail'"),
    ]
    customers = sorted(e.id for e in store.list_entities(NodeKind.CUSTOMER))
    assert customers == ["customer:K1", "customer:K3", "customer:K5", "customer:K6"]
    referrers = store.get_relations("customer:K5", types=[RelType.REFERRED], direction=Direction.IN)
    assert [r.source for r in referrers] == ["customer:K6"]


def test_an_ingest_interrupted_under_an_older_ckn_resumes(store: GraphStore, tmp_path: Path) -> None:
    """Older checkpoints say ``line N`` without counting the quarantine: the rows before it are kept."""
    bundle = tmp_path / "older"
    bundle.mkdir()
    rows = ["customer_id,name,email"]
    rows += [f"K{i},客户{i} Kunde,{'kaputt' if i % 7 == 3 else f'kunde{i}@example.cn'}" for i in range(40)]
    (bundle / "customers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    with pytest.raises(Stopped):
        ingest_paths(
            store, [bundle], quarantine_dir=tmp_path / "quarantine", batch_size=5, on_rows=_stop_after(20)
        )
    (source,) = store.list_entities(NodeKind.SOURCE)
    job = f"ingest:{source.id}"
    checkpoint = str(store.get_checkpoint(job))
    assert checkpoint.endswith(" quarantined")
    older = checkpoint.split(",")[0]  # "line 23, 3 quarantined" -> "line 23"
    store.write(Batch(checkpoint=Checkpoint(job=job, position=older)))

    again = ingest_paths(store, [bundle], quarantine_dir=tmp_path / "quarantine", batch_size=5)

    assert [f.status for f in again.files] == ["resumed"]
    bad = [i for i in range(40) if i % 7 == 3]
    assert [line for _, line, _ in _quarantine(tmp_path)] == [i + 2 for i in bad]  # each once
    assert len(store.list_entities(NodeKind.CUSTOMER)) == 40 - len(bad)


def test_an_ingest_stopped_while_a_row_waits_for_one_further_down_loses_nothing(
    store: GraphStore, tmp_path: Path
) -> None:
    bundle = tmp_path / "waiting"
    bundle.mkdir()
    rows = ["customer_id,name,email,referred_by"]
    rows.append("K0,林晓 Lin Xiao,lin.xiao@example.cn,K29")  # referred by the last customer of the file
    rows += [f"K{i},客户{i} Kunde {i},kunde{i}@example.cn,K{i - 1}" for i in range(1, 30)]
    (bundle / "customers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    with pytest.raises(Stopped):
        ingest_paths(store, [bundle], quarantine_dir=tmp_path / "q", batch_size=8, on_rows=_stop_after(12))
    assert store.get_entity("customer:K12") is not None  # batches were committed before the stop
    assert store.get_entity("customer:K0") is None  # held back: its referrer comes later

    again = ingest_paths(store, [bundle], quarantine_dir=tmp_path / "q", batch_size=8)

    assert [f.status for f in again.files] == ["resumed"]
    referrers = store.get_relations("customer:K0", types=[RelType.REFERRED], direction=Direction.IN)
    assert [r.source for r in referrers] == ["customer:K29"]
    assert len(store.list_entities(NodeKind.CUSTOMER)) == 30
    assert again.quarantined == 0
