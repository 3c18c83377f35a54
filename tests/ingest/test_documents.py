"""Documents and free text: spaCy extraction links mentions to the CRM's own entities, on every store."""

from __future__ import annotations

import shutil
from pathlib import Path

import docx
import pytest
import spacy

from ckn.graph.model import NodeKind, RelType
from ckn.graph.store import Direction, GraphStore
from ckn.ingest.pipeline import NlpOptions, ingest_paths

BUNDLE = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"
NOTE = "knowledgeitem:华东精密-拜访纪要"
GUIDE = "knowledgeitem:x200-calibration-guide"


@pytest.fixture
def bundle_store(store: GraphStore, tmp_path: Path) -> GraphStore:
    ingest_paths(store, [BUNDLE], quarantine_dir=tmp_path / "q", batch_size=25)
    return store


def _mentioned(store: GraphStore, item: str) -> set[str]:
    return {r.target for r in store.get_relations(item, types=[RelType.MENTIONS], direction=Direction.OUT)}


def test_mentions_in_chinese_and_english_documents_link_to_the_right_entities(
    bundle_store: GraphStore,
) -> None:
    assert {
        "customer:C100",
        "customer:C101",
        "customer:C102",
        "customer:C105",
        "employee:E01",
        "product:X200",
        "product:K9",
        "product:CS",
        "topic:calibration",
        "topic:drift",
    } <= _mentioned(bundle_store, NOTE)
    assert {
        "customer:C103",
        "customer:C104",
        "product:X200",
        "product:K9",
        "topic:calibration",
        "topic:drift",
    } <= _mentioned(bundle_store, GUIDE)
    faq = _mentioned(bundle_store, "knowledgeitem:K-9")
    assert faq == {"product:CS", "topic:export"}  # "CSV" is not CloudSync; the <script> is not text
    guide = bundle_store.get_entity(GUIDE)
    assert guide is not None and guide.props["language"] == "en" and guide.props["doc_kind"] == "manual"


def test_a_full_width_phone_in_a_chinese_note_is_zhang_weis_fourth_source(bundle_store: GraphStore) -> None:
    note = bundle_store.get_entity(NOTE)
    assert note is not None
    by_phone = [
        r
        for r in bundle_store.get_relations(NOTE, types=[RelType.MENTIONS])
        if r.target == "customer:C101" and r.provenance[0].extractor == "ckn_patterns_v1"
    ]
    assert len(by_phone) == 1
    evidence = by_phone[0].provenance[0]
    assert note.props["text"][evidence.start : evidence.end] == "１３８ ００１３ ８０００"
    assert evidence.source_id.startswith("source:华东精密-拜访纪要.md@")
    sources = {
        p.source_id.split("@")[0]
        for r in bundle_store.get_relations("customer:C101", direction=Direction.IN)
        if r.type is RelType.MENTIONS
        for p in r.provenance
    }
    assert "source:华东精密-拜访纪要.md" in sources
    assert len([c for c in bundle_store.list_entities(NodeKind.CUSTOMER) if c.name == "张伟"]) == 1


def test_mentions_keep_offsets_extractor_version_and_confidence(bundle_store: GraphStore) -> None:
    note = bundle_store.get_entity(NOTE)
    assert note is not None
    for rel in bundle_store.get_relations(NOTE, types=[RelType.MENTIONS]):
        (evidence,) = rel.provenance
        assert note.props["text"][evidence.start : evidence.end] == rel.props["text"]
        assert evidence.extractor in {"ckn_gazetteer_v1", "ckn_patterns_v1"}
        assert evidence.extractor_version == "1" and 0 < evidence.confidence <= 1


def test_referral_cues_in_text_become_referrals_with_their_confidence(bundle_store: GraphStore) -> None:
    referred = {
        r.source: r
        for r in bundle_store.get_relations("customer:C105", types=[RelType.REFERRED], direction=Direction.IN)
    }
    cue = referred["customer:C101"]  # "张伟推荐了陈静试用CloudSync"
    assert [(p.extractor, p.confidence) for p in cue.provenance] == [("ckn_referral_cues_v1", 0.6)]
    both = bundle_store.get_relations("customer:C102", types=[RelType.REFERRED], direction=Direction.IN)
    assert {p.extractor for p in both[0].provenance} == {
        "ckn.customers",
        "ckn_referral_cues_v1",
    }  # "由张伟介绍"


def test_tickets_and_feedback_are_read_too(bundle_store: GraphStore) -> None:
    assert "employee:E01" in _mentioned(bundle_store, "interaction:T-881")  # notes name 王芳
    about = {r.target for r in bundle_store.get_relations("feedback:F-31", types=[RelType.ABOUT])}
    assert {"product:X200", "topic:calibration", "topic:drift"} <= about  # "校准后读数仍然偏高"


def test_the_manifest_adds_authors_and_delivery(bundle_store: GraphStore) -> None:
    authored = bundle_store.get_relations("knowledgeitem:K-9", types=[RelType.AUTHORED])
    delivered = bundle_store.get_relations("knowledgeitem:K-9", types=[RelType.DELIVERED_TO])
    assert [r.source for r in authored] == ["employee:E02"]
    assert [r.target for r in delivered] == ["customer:C104"]


def _pdf(text: str, author: str | None = None) -> bytes:
    """A one-page PDF with one line of text (Helvetica), built by hand; ``author`` in its metadata."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if author:
        objects.append(b"<< /Author (%s) >>" % author.encode())
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    info = b" /Info %d 0 R" % len(objects) if author else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return out


def test_pdf_and_docx_documents_are_read(store: GraphStore, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    (bundle / "documents" / "service-report.pdf").write_bytes(
        _pdf("Wang Fang fixed the X200 calibration drift.")
    )
    word = docx.Document()
    word.core_properties.title = "CloudSync 导出方案"
    word.core_properties.author = "David Chen"
    word.add_paragraph("为Acme Labs GmbH设计CloudSync定时导出方案。")
    word.save(bundle / "documents" / "proposal.docx")
    (bundle / "documents" / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")

    report = ingest_paths(store, [bundle], quarantine_dir=tmp_path / "q")

    pdf = store.get_entity("knowledgeitem:service-report")
    proposal = store.get_entity("knowledgeitem:proposal")
    assert pdf is not None and {"product:X200", "topic:calibration", "topic:drift"} <= _mentioned(
        store, pdf.id
    )
    assert proposal is not None and proposal.name == "CloudSync 导出方案"
    assert [r.source for r in store.get_relations(proposal.id, types=[RelType.AUTHORED])] == ["employee:E04"]
    assert {"customer:C103", "product:CS"} <= _mentioned(store, proposal.id)
    broken = next(f for f in report.files if Path(f.path).name == "broken.pdf")
    assert broken.quarantined == 1 and broken.status == "ingested"


def test_a_statistical_pipeline_can_be_configured_and_adds_its_entities(
    store: GraphStore, tmp_path: Path
) -> None:
    model = spacy.blank("en")
    ruler = model.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Jane Roe"}])  # type: ignore[attr-defined]
    model.to_disk(tmp_path / "tiny-en")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "visit.txt").write_text("Jane Roe from Acme Labs GmbH asked about the X200.", encoding="utf-8")
    shutil.copy(BUNDLE / "products.csv", docs)
    shutil.copy(BUNDLE / "customers.csv", docs)
    shutil.copy(BUNDLE / "employees.csv", docs)

    report = ingest_paths(
        store, [docs], quarantine_dir=tmp_path / "q", nlp=NlpOptions(models={"en": str(tmp_path / "tiny-en")})
    )

    visit = store.get_entity("knowledgeitem:visit")
    assert visit is not None
    assert visit.props["named_entities"] == ["PERSON:Jane Roe"]  # found by the model, unknown to the CRM
    assert {"customer:C103", "product:X200"} <= _mentioned(store, visit.id)  # ckn's own linking still runs
    assert next(f for f in report.files if Path(f.path).name == "visit.txt").words == 10


def test_complaints_about_a_product_are_marked(bundle_store: GraphStore) -> None:
    about = {r.target: r for r in bundle_store.get_relations("interaction:T-902", types=[RelType.ABOUT])}
    assert about["product:X200"].props.get("complaint") is True  # "X200 calibration fails after firmware 2.1"
    faq = {r.target: r for r in bundle_store.get_relations("knowledgeitem:K-9", types=[RelType.ABOUT])}
    assert "complaint" not in faq["product:CS"].props
