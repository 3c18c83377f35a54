"""Which source a file is, merging by default, and replacing a snapshot only when asked (every store)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ckn.graph.model import NodeKind, RelType
from ckn.graph.store import GraphStore
from ckn.ingest.pipeline import IngestReport, Replace, ingest_paths

BUNDLE = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"
K9_ROW = "K9,K9 校准套件,accessory,K9|K9 calibration kit|校准套件\n"


def _ingest(store: GraphStore, tmp_path: Path, *paths: Path, **kw) -> IngestReport:  # type: ignore[no-untyped-def]
    return ingest_paths(store, list(paths), quarantine_dir=tmp_path / "quarantine", batch_size=7, **kw)


def _facts(store: GraphStore) -> tuple[set[str], set[str]]:
    """Every entity id (but the sources) and every relationship id in the store."""
    graph = store.project()
    entities = {n for n, kind in graph.nodes(data="kind") if kind != "Source"}
    return entities, {key for _, _, key in graph.edges(keys=True)}


def _other_company(folder: Path) -> Path:
    """A second export folder with the same file names: a few rows of another team's CRM."""
    folder.mkdir(parents=True)
    (folder / "topics.csv").write_text("topic_id,name,aliases\nT01,防水 Waterproofing,防水|waterproof\n")
    (folder / "employees.csv").write_text(
        "employee_id,name,email,department\nE90,赵敏 Zhao Min,zhao.min@example.cn,华南销售部\n"
    )
    (folder / "customers.csv").write_text(
        "customer_id,name,kind,email,owner_employee_id,referred_by\n"
        "C900,Northwind Traders,organization,info@northwind.example,E90,C101\n"
    )
    (folder / "interactions.csv").write_text(
        "interaction_id,occurred_at,channel,employee_id,customer_id,product_id,subject,notes\n"
        "N-1,2026-11-03,拜访,E90,C900,X200,防水测试,客户关心 X200 的防水等级\n"
        "N-2,2026-11-20,email,zhao.min@example.cn,C101,,Follow-up,Zhang Wei asked about waterproofing\n"
    )
    return folder


def test_a_second_folder_with_the_same_file_names_keeps_everything_of_the_first(
    store: GraphStore, tmp_path: Path
) -> None:
    _ingest(store, tmp_path, BUNDLE)
    entities, relations = _facts(store)

    report = _ingest(store, tmp_path, _other_company(tmp_path / "northwind"))

    after_entities, after_relations = _facts(store)
    assert entities <= after_entities and relations <= after_relations
    assert {
        "customer:C900",
        "employee:E90",
        "topic:T01",
        "interaction:N-1",
        "interaction:N-2",
    } <= after_entities
    assert {f.status for f in report.files} == {"ingested"} and report.quarantined == 0
    assert store.get_entity("customer:C016") is not None or "customer:C016" not in entities
    assert len([s for s in store.list_entities(NodeKind.SOURCE) if s.name == "customers.csv"]) == 2


def test_a_changed_file_merges_and_the_same_file_again_changes_nothing(
    store: GraphStore, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    _ingest(store, tmp_path, bundle)
    products = bundle / "products.csv"
    products.write_text(products.read_text(encoding="utf-8").replace(K9_ROW, ""), encoding="utf-8")

    _ingest(store, tmp_path, bundle)
    merged = _facts(store)
    again = _ingest(store, tmp_path, bundle)

    assert store.get_entity("product:K9") is not None  # a delta export lacks rows: nothing is deleted
    assert {f.status for f in again.files} == {"unchanged"}
    assert _facts(store) == merged


def test_replace_retires_the_older_version_as_its_dry_run_said(store: GraphStore, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    products = bundle / "products.csv"
    catalogue = products.read_text(encoding="utf-8")
    products.write_text(catalogue + "Z1,Z1 旧型号 legacy probe,accessory,Z1\n", encoding="utf-8")
    _ingest(store, tmp_path, bundle)
    old = next(s.id for s in store.list_entities(NodeKind.SOURCE) if s.name == "products.csv")
    about_k9 = {r.id for r in store.get_relations("product:K9", types=[RelType.ABOUT])}
    products.write_text(catalogue.replace(K9_ROW, ""), encoding="utf-8")  # K9 and Z1 discontinued
    before = _facts(store)

    preview = _ingest(store, tmp_path, products, replace=Replace(confirmed=True), dry_run=True)

    assert _facts(store) == before  # a dry run writes nothing
    (planned,) = preview.files
    assert planned.status == "previewed" and planned.replaces == [old] and not planned.replaced
    assert planned.replacement is not None and planned.replacement.entities_deleted == 2  # Z1, old source

    (done,) = _ingest(store, tmp_path, products, replace=Replace(confirmed=True)).files

    assert done.replaced and done.replaces == [old]
    assert done.replacement == planned.replacement
    assert store.get_entity("product:Z1") is None  # only the old catalogue said it existed
    # K9 is gone from the catalogue, but tickets and complaints are about it: they keep it
    k9 = store.get_entity("product:K9")
    assert k9 is not None and about_k9
    assert not any("products.csv" in p.source_id for p in k9.provenance)
    assert about_k9 <= {r.id for r in store.get_relations("product:K9", types=[RelType.ABOUT])}
    x200 = store.get_entity("product:X200")
    assert x200 is not None and len([p for p in x200.provenance if "products.csv" in p.source_id]) == 1
    assert [s.id for s in store.list_entities(NodeKind.SOURCE) if s.name == "products.csv"] == [
        done.source_id
    ]
    assert store.get_entity("interaction:T-881") is not None  # other sources untouched


def test_a_replacement_that_deletes_much_waits_for_yes_and_loses_nothing(
    store: GraphStore, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    _ingest(store, tmp_path, bundle)
    customers = bundle / "customers.csv"
    header, first, *_rest = customers.read_text(encoding="utf-8").splitlines(keepends=True)
    customers.write_text(header + first, encoding="utf-8")  # a one-row "snapshot"
    before_entities, _ = _facts(store)

    (waiting,) = _ingest(store, tmp_path, customers, replace=Replace(max_share=0.25)).files

    assert not waiting.replaced and "--yes" in waiting.reason
    assert before_entities <= _facts(store)[0]  # the new version merged, the old one kept

    (confirmed,) = _ingest(store, tmp_path, customers, replace=Replace(confirmed=True)).files

    assert confirmed.status == "unchanged" and confirmed.replaced
    assert store.get_entity("customer:C100") is not None
    assert store.get_entity("customer:C101") is not None  # also in the vCards and the HubSpot export
    assert store.get_entity("interaction:T-881") is not None


@pytest.mark.parametrize("months", [("2026-11", "2026-12")])
def test_a_named_source_is_one_source_wherever_its_files_are(
    store: GraphStore, tmp_path: Path, months: tuple[str, str]
) -> None:
    november, december = (tmp_path / m for m in months)
    for folder in (november, december):
        folder.mkdir()
    (november / "topics.csv").write_text("topic_id,name\nT1,防水 Waterproofing\nT2,Legacy 旧型号\n")
    (december / "topics.csv").write_text("topic_id,name\nT1,防水 Waterproofing\nT3,IoT 物联网\n")

    _ingest(store, tmp_path, november, name="crm")
    merged = _ingest(store, tmp_path, tmp_path / "2026-12", name="other")
    assert store.get_entity("topic:T2") is not None and not merged.files[0].replaces

    (replaced,) = _ingest(store, tmp_path, december, name="crm", replace=Replace(confirmed=True)).files

    assert replaced.key == "crm/topics.csv" and replaced.replaced and len(replaced.replaces) == 1
    assert store.get_entity("topic:T2") is None  # only November's export had it
    assert store.get_entity("topic:T3") is not None and store.get_entity("topic:T1") is not None


def test_a_local_number_and_the_same_number_in_e164_are_one_customer(
    store: GraphStore, tmp_path: Path
) -> None:
    crm = tmp_path / "crm"
    crm.mkdir()
    (crm / "customers.csv").write_text(
        "customer_id,name,phone,city\nB1,Jonas Weber,030 1234567,Berlin\nS1,陈静,021-6234 5678,上海\n",
        encoding="utf-8",
    )
    (crm / "hubspot_contacts.csv").write_text(
        "Record ID,First Name,Last Name,Phone Number\n501,Jonas,Weber (Berlin office),+49 30 1234567\n"
        "502,静,陈,+86 21 6234 5678\n",
        encoding="utf-8",
    )

    _ingest(store, tmp_path, crm)

    weber = store.get_entity("customer:B1")
    chen = store.get_entity("customer:S1")
    assert weber is not None and weber.props["phones"] == ["+49301234567"]
    assert "hubspot:501" in weber.props["external_ids"]  # the HubSpot contact joined the CRM customer
    assert chen is not None and "hubspot:502" in chen.props["external_ids"]
    assert len(store.list_entities(NodeKind.CUSTOMER)) == 2
