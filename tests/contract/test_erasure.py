"""Erasure that lasts (every store): a customer erased leaves no trace, and a new export keeps them out."""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from ckn.api.jobs import Job, Jobs
from ckn.graph.errors import NotFound
from ckn.graph.model import Batch, NodeKind, RelType, utcnow
from ckn.graph.store import GraphStore, Limits
from ckn.ingest import review
from ckn.ingest.erasure import MASK, erase, export_person
from ckn.ingest.jsonl import load_jsonl
from ckn.ingest.pipeline import NlpOptions, ingest_paths
from tests.factories import customer, employee, entity, rel

pytestmark = pytest.mark.trust

NAME, EMAIL, PHONE = "欧阳晓燕", "ouyang.xy@canary.example", "+86 139 1234 5678"
CANARIES = (NAME, EMAIL, "13912345678", "139 1234 5678", "Ouyang.XY@Canary.example")
"""The erased person's name, e-mail and phone, as they are written in the files below."""

CUSTOMERS = f"""customer_id,name,kind,email,phone,city,segment,referred_by,lifetime_value
C1,{NAME},person,{EMAIL},{PHONE},杭州,SMB,,1200
C2,王伟,person,wang.wei@north.example,+86 138 0000 1111,北京,SMB,C1,800
C3,王伟,person,wangwei@south.example,+86 137 0000 2222,广州,SMB,,300
C4,Northwind GmbH,organization,info@northwind.example,+49 89 1234567,München,Enterprise,,9000
C1,{NAME},person,not-an-email,{PHONE},杭州,SMB,,1200
"""
INTERACTIONS = (
    ("interaction_id,occurred_at,channel,direction,employee_id,customer_id,product_id,subject,notes,amount\n")
    + f"""I1,2026-10-02 09:15,call,inbound,E1,C1,P1,X200 drift,{NAME} 来电：X200 漂移，回电 139-1234-5678,
I2,2026-10-03 10:00,email,inbound,E1,C4,P1,X200 order,"Northwind asked; cc {EMAIL.upper()}",
I3,2026-10-04 11:00,call,outbound,E1,C2,P1,X200 follow-up,王伟 (北京) 确认续约,
"""
)
FEEDBACK = """feedback_id,submitted_at,customer_id,product_id,rating,kind,text,handled_by,resolution
F1,2026-10-05,C1,P1,2,投诉,我的读数偏高，请回电 13912345678,E1,已处理
F2,2026-10-06,C3,P1,5,praise,很好,E1,
"""
EMPLOYEES = "employee_id,name,email,department\nE1,李娜,li.na@example.cn,客户服务部\n"
PRODUCTS = "product_id,name,category\nP1,X200,instrument\n"
NOTE = f"""---
title: 拜访纪要
authors: 李娜
customers: C1
---
拜访{NAME}（Ｏｕｙａｎｇ ｘｉａｏｙａｎ），联系 {EMAIL}。王伟也在场。
"""


def _bundle(folder: Path, customers: str = CUSTOMERS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {
        "employees.csv": EMPLOYEES,
        "products.csv": PRODUCTS,
        "customers.csv": customers,
        "interactions.csv": INTERACTIONS,
        "feedback.csv": FEEDBACK,
    }.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "documents").mkdir(exist_ok=True)
    (folder / "documents" / "visit.md").write_text(NOTE, encoding="utf-8")
    return folder


def _everything(store: GraphStore) -> str:
    """Every entity and relation the store holds, as text."""
    parts = []
    for kind in NodeKind:
        after = ""
        while page := store.list_entities(kind, after=after, limit=500):
            for held in page:
                parts.append(held.model_dump_json())
                parts += [r.model_dump_json() for r in store.get_relations(held.id, limit=1000)]
            after = page[-1].id
    return unicodedata.normalize("NFKC", json.loads(json.dumps("\n".join(parts)))).casefold()


def _leaks(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [c for c in CANARIES if unicodedata.normalize("NFKC", c).casefold() in folded]


def _files(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


@pytest.fixture
def erased(store: GraphStore, tmp_path: Path) -> tuple[GraphStore, Path, object]:
    quarantine = tmp_path / "quarantine"
    ingest_paths(store, [_bundle(tmp_path / "export")], quarantine_dir=quarantine)
    assert store.get_entity("customer:C1") is not None
    assert _leaks(_everything(store)) and any(_leaks(p.read_text()) for p in quarantine.glob("*.jsonl"))
    report = erase(store, "customer:C1", quarantine)
    return store, quarantine, report


def test_an_erased_customer_leaves_no_trace_in_the_store_or_the_quarantine(erased, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, quarantine, report = erased
    assert report.clean and report.scan.store_hits == 0 and report.scan.quarantine_hits == 0
    assert report.items_deleted == ["feedback:F1"] and report.texts_redacted >= 2
    assert report.quarantine_rows_removed == 1 and report.scan.namesakes == 0
    assert store.get_entity("customer:C1") is None and store.get_entity("feedback:F1") is None
    assert _leaks(_everything(store)) == []
    assert all(_leaks(p.read_text(encoding="utf-8")) == [] for p in quarantine.glob("*.jsonl"))
    if store.backend == "embedded":  # the store's own files: pages, log and all
        raw = _files(tmp_path / "store") if (tmp_path / "store").exists() else b""
        assert all(c.encode() not in raw for c in CANARIES)


def test_an_erasure_stopped_once_the_person_is_gone_has_left_nothing_of_theirs_but_in_freed_pages(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed in the rebuild of the files, its last step: the person cannot be erased again."""
    quarantine = tmp_path / "quarantine"
    ingest_paths(store, [_bundle(tmp_path / "export")], quarantine_dir=quarantine)

    def killed() -> bool:
        raise SystemExit("killed")

    monkeypatch.setattr(store, "scrub", killed)
    with pytest.raises(SystemExit):
        erase(store, "customer:C1", quarantine)

    assert store.get_entity("customer:C1") is None and store.get_entity("feedback:F1") is None
    assert _leaks(_everything(store)) == []
    assert all(_leaks(p.read_text(encoding="utf-8")) == [] for p in quarantine.glob("*.jsonl"))


def test_what_others_said_stays_and_a_namesake_is_untouched(erased) -> None:  # type: ignore[no-untyped-def]
    store, _, _ = erased
    north, south = store.get_entity("customer:C2"), store.get_entity("customer:C3")
    assert north is not None and south is not None
    assert north.name == south.name == "王伟" and north.props["emails"] == ["wang.wei@north.example"]
    other = store.get_entity("interaction:I3")
    assert other is not None and "王伟 (北京) 确认续约" in str(other.props)
    note = store.get_entity("interaction:I1")
    assert note is not None and "X200 漂移" in str(note.props["notes"])  # the rest of the text stays
    order = store.get_entity("interaction:I2")
    assert order is not None and "Northwind asked" in str(order.props["notes"])


def test_a_new_export_of_the_same_table_does_not_bring_them_back(erased, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, quarantine, _ = erased
    changed = CUSTOMERS.replace("Enterprise", "Key Account").replace(f"C1,{NAME}", f"C1,{NAME} ")
    report = ingest_paths(store, [_bundle(tmp_path / "next", changed)], quarantine_dir=quarantine)
    by_kind = {f.kind: f for f in report.files}
    assert by_kind["customers"].suppressed_lines == [2, 3, 6]  # C1 twice; C2's referrer link
    assert by_kind["interactions"].suppressed_lines == [2]
    assert by_kind["feedback"].suppressed_lines == [2]
    assert store.get_entity("customer:C1") is None
    assert store.get_entity("customer:C2") is not None
    assert _leaks(_everything(store)) == []
    assert all(_leaks(p.read_text(encoding="utf-8")) == [] for p in quarantine.glob("*.jsonl"))


def test_an_access_request_gives_everything_held_about_a_person(store: GraphStore, tmp_path: Path) -> None:
    quarantine = tmp_path / "quarantine"
    ingest_paths(store, [_bundle(tmp_path / "export")], quarantine_dir=quarantine)
    copy = export_person(store, "customer:C1", quarantine)
    text = json.dumps(copy, ensure_ascii=False)
    assert copy["person"]["id"] == "customer:C1" and EMAIL in copy["person"]["props"]["emails"]
    assert {r["other"]["id"] for r in copy["relations"]} >= {"interaction:I1", "feedback:F1", "customer:C2"}
    assert len(copy["quarantined_rows"]) == 1 and "not-an-email" in text
    assert "wang.wei@north.example" not in text  # another person's record is not theirs


def test_a_person_with_more_links_than_a_page_loses_every_one(
    store_factory: Callable[..., GraphStore], tmp_path: Path
) -> None:
    store = store_factory(Limits(max_page=2))  # pages of two: the person submitted five complaints
    many = FEEDBACK.splitlines()[0] + "\n"
    many += "".join(f"G{i},2026-11-0{i},C1,P1,1,投诉,第{i}次投诉,E1,\n" for i in range(1, 6))
    folder = _bundle(tmp_path / "export")
    (folder / "feedback.csv").write_text(many, encoding="utf-8")
    ingest_paths(store, [folder], quarantine_dir=tmp_path / "q")
    assert all(store.get_entity(f"feedback:G{i}") is not None for i in range(1, 6))

    report = erase(store, "customer:C1", tmp_path / "q")

    assert report.clean and report.items_deleted == [f"feedback:G{i}" for i in range(1, 6)]
    assert all(store.get_entity(f"feedback:G{i}") is None for i in range(1, 6))


def test_the_kept_ingest_jobs_that_name_them_are_masked_and_later_ones_too(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's record keeps its files' names, which may be the person's: erasure masks the records of
    jobs that ended (or whose process stopped: they stay interrupted), and a running job's process
    masks its own as it keeps it, from the suppression list, as it does a file named after them later."""
    monkeypatch.setattr("ckn.graph.shared.INTERRUPTED_AFTER_S", 2.0)
    quarantine = tmp_path / "quarantine"
    ingest_paths(store, [_bundle(tmp_path / "export")], quarantine_dir=quarantine)
    now = utcnow().isoformat()
    theirs = {
        "id": "job-theirs", "status": "done", "created_at": now, "finished_at": now,
        "files": [f"名片/{NAME}.vcf", f"{EMAIL.upper()} export.csv"],
        "report": {"files": [{"path": f"名片/{NAME}.vcf", "rows": 1, "errors": [f"line 2: {PHONE}?"]}]},
        "error": None,
    }  # fmt: skip
    stopped = {**theirs, "id": "job-stopped", "status": "running", "finished_at": None, "report": None}
    other = {
        "id": "job-other",
        "status": "done",
        "created_at": now,
        "files": ["customers.csv"],
        "report": None,
    }
    for record in (theirs, stopped, other):
        store.save_job(record)
    assert [j["id"] for j in store.jobs()] == ["job-other", "job-stopped", "job-theirs"]  # newest, then id
    time.sleep(2.2)  # job-stopped's process is gone
    running = {**stopped, "id": "job-running"}
    store.save_job(running)  # its process is here: it masks it itself
    report = erase(store, "customer:C1", quarantine)

    assert report.clean and report.jobs_redacted == 2
    for job_id in ("job-theirs", "job-stopped"):
        kept = store.get_job(job_id)
        assert kept is not None and _leaks(json.dumps(kept, ensure_ascii=False)) == []
        assert kept["files"][0].startswith("名片/") and kept["files"][0].endswith(".vcf")  # the rest stays
        assert {k: kept[k] for k in ("status", "created_at", "finished_at")} == {
            k: theirs[k] if job_id == "job-theirs" else stopped[k]
            for k in ("status", "created_at", "finished_at")
        }
    stays_stopped = store.get_job("job-stopped")
    assert stays_stopped is not None and stays_stopped["heard_s_ago"] >= 2.2  # masked, not heard of
    untouched = store.get_job("job-other")
    assert untouched is not None and untouched.pop("heard_s_ago") >= 0 and untouched == other
    jobs = Jobs(tmp_path / "uploads", quarantine, 100, NlpOptions(), 90)
    again = Job(id="job-running", files=running["files"], status="running")
    jobs.hold(again, store)  # saved while it runs, and again by its heartbeat: masked each time
    saved, shown = store.get_job("job-running"), jobs.get(store, "job-running")
    jobs.close()
    assert saved is not None and saved["files"][0] == f"名片/{MASK * len(NAME)}.vcf"
    assert shown is not None and _leaks(json.dumps(shown, ensure_ascii=False)) == []


CARDS = f"""BEGIN:VCARD
VERSION:3.0
FN:{NAME}
EMAIL:{EMAIL}
TEL:{PHONE}
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:赵敏
EMAIL:zhao.min@emei.example
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:周芷若
EMAIL:not-an-email
END:VCARD
"""
VISIT = """---
title: 拜访纪要（二）
authors: 李娜
---
X200 的校准问题，客户很满意。
"""


def _named_after_her(folder: Path, more: str = "") -> list[Path]:
    """A bundle whose files are named after the person, as exports and notes often are."""
    _bundle(folder)
    (folder / f"{NAME}.vcf").write_text(CARDS + more, encoding="utf-8")
    (folder / "documents" / f"{NAME}_拜访.md").write_text(VISIT + more, encoding="utf-8")
    records = folder.parent / f"{folder.name}-records" / f"{NAME}.jsonl"
    records.parent.mkdir(exist_ok=True)
    records.write_text(
        '{"entity": {"id": "product:P9", "kind": "Product", "name": "X900"}}\n', encoding="utf-8"
    )
    return [folder, records]


def _one(store: GraphStore, kind: NodeKind, prefix: str) -> str:
    """The id of the one entity of ``kind`` whose id starts with ``prefix``."""
    found = [e.id for e in store.list_entities(kind, limit=500) if e.id.startswith(prefix)]
    assert len(found) == 1, found
    return found[0]


def _links(store: GraphStore, item_id: str) -> set[tuple[str, str]]:
    return {
        (r.type.value, r.source if r.target == item_id else r.target) for r in store.get_relations(item_id)
    }


def test_sources_and_documents_named_after_them_lose_the_name_and_keep_what_they_hold(
    store: GraphStore, tmp_path: Path
) -> None:
    """A file named after the person (a vCard, a note, graph records) gave its name to a source, to
    the evidence of everything it stated, to a quarantine file and to a document: erasure masks it
    there as in texts, everything else the files stated stays, and the same files ingested again
    get the same ids."""
    quarantine = tmp_path / "quarantine"
    export, records = _named_after_her(tmp_path / "export")
    report = ingest_paths(store, [export], quarantine_dir=quarantine)
    load_jsonl(store, records)
    card = next(f for f in report.files if f.kind == "vcard")
    assert card.source_id.startswith(f"source:{NAME}.vcf@") and store.get_checkpoint(
        f"ingest:{card.source_id}"
    )
    links = _links(store, f"knowledgeitem:{NAME}_拜访")
    assert ("AUTHORED", "employee:E1") in links and len(links) >= 2
    assert any(NAME in p.name for p in quarantine.glob("*.jsonl"))

    erased = erase(store, "customer:C1", quarantine)

    masked = MASK * len(NAME)
    assert erased.clean and erased.ids_masked == 4  # three sources and a document
    assert _leaks(_everything(store)) == []
    source = _one(store, NodeKind.SOURCE, card.source_id.replace(NAME, masked) + "~")
    zhao = [c for c in store.list_entities(NodeKind.CUSTOMER, limit=500) if c.name == "赵敏"]
    assert [p.source_id for p in zhao[0].provenance] == [source]  # what the card stated of others stays
    assert store.get_checkpoint(f"ingest:{card.source_id}") is None
    assert store.get_checkpoint(f"ingest:{source}") is not None
    product = store.get_entity("product:P9")
    assert product is not None and product.provenance[0].source_id.startswith(f"source:{masked}.jsonl@")
    note = store.get_entity(_one(store, NodeKind.KNOWLEDGE_ITEM, f"knowledgeitem:{masked}_拜访~"))
    assert store.get_entity(f"knowledgeitem:{NAME}_拜访") is None and note is not None
    assert note.props["text"].startswith("X200 的校准问题")
    assert _links(store, note.id) == links  # every link it had, under its new id
    files = list(quarantine.glob("*.jsonl"))
    assert files and not any(NAME in p.name for p in files)
    kept = [json.loads(line) for p in files for line in p.read_text(encoding="utf-8").splitlines()]
    assert [row["file"] for row in kept if "周芷若" in row["raw"]] == [
        f"{masked}.vcf"
    ]  # others' bad rows stay
    if store.backend == "embedded":
        raw = _files(tmp_path / "store") if (tmp_path / "store").exists() else b""
        assert NAME.encode() not in raw

    bad = f"BEGIN:VCARD\nVERSION:3.0\nFN:张无忌\nEMAIL:no-email\nNOTE:{NAME}_拜访.md\nEND:VCARD\n"
    export, records = _named_after_her(tmp_path / "next", more=bad)  # changed files: new versions
    again = ingest_paths(store, [export], quarantine_dir=quarantine)
    load_jsonl(store, records)
    card = next(f for f in again.files if f.kind == "vcard")
    assert card.status == "ingested" and card.source_id.startswith(f"source:{masked}.vcf@")
    assert card.suppressed_lines and store.get_entity(f"knowledgeitem:{NAME}_拜访") is None
    assert _one(store, NodeKind.KNOWLEDGE_ITEM, f"knowledgeitem:{masked}_拜访~") == note.id  # the same one
    assert _leaks(_everything(store)) == []
    assert not any(NAME in p.name for p in quarantine.glob("*.jsonl"))
    rows = [json.loads(line) for p in quarantine.glob("*.jsonl") for line in p.read_text().splitlines()]
    assert any("张无忌" in row["raw"] for row in rows)  # a bad row naming her file: kept, masked
    assert all(_leaks(json.dumps(row, ensure_ascii=False)) == [] for row in rows)


def test_others_notes_and_the_undo_record_of_a_merge_keep_nothing_of_them(
    store: GraphStore, tmp_path: Path
) -> None:
    """A colleague's note names her. Three look-alikes of Northwind were merged into it by a reviewer:
    one that knew nothing of her, then one that referred her and took 600 calls (an undo record that
    large is kept compressed), then another that knew nothing of her; and a look-alike of the
    colleague had her e-mail on a line of its own. After the erasure the note is masked, the merges
    whose records held her, and those before them, can no longer be undone (what they brought stays),
    and the one after them can."""
    quarantine = tmp_path / "quarantine"
    ingest_paths(store, [_bundle(tmp_path / "export")], quarantine_dir=quarantine)
    calls = [entity(f"interaction:look{n}", NodeKind.INTERACTION, f"回访 {n}") for n in range(600)]
    store.write(
        Batch(
            entities=(
                customer("customer:C7", "Northwind GmbH München"),
                customer("customer:C8", "Northwind GmbH (Berlin)", emails=["einkauf@northwind.example"]),
                customer("customer:C9", "Northwind GmbH."),
                employee("employee:E1", "李娜", notes=f"负责 {NAME} 的续约"),
                employee("employee:E9", "李 娜", notes=f"客户联系人:\n{EMAIL}\n"),
                *calls,
            ),
            relations=(
                rel(RelType.REFERRED, "customer:C9", "customer:C1"),
                *(
                    rel(RelType.SAME_AS, f"customer:C{n}", "customer:C4", score=95.0, reason="similar name")
                    for n in (7, 8, 9)
                ),
                rel(RelType.SAME_AS, "employee:E9", "employee:E1", score=100.0, reason="same name"),
                rel(RelType.PARTICIPATED_IN, "customer:C8", "interaction:I2"),
                *(rel(RelType.PARTICIPATED_IN, "customer:C9", c.id) for c in calls),
            ),
        )
    )
    for look_alike, known in (("C7", "C4"), ("C9", "C4"), ("C8", "C4")):
        review.accept(store, f"customer:{look_alike}", f"customer:{known}")
    review.accept(store, "employee:E9", "employee:E1")
    survivor = store.get_entity("customer:C4")
    assert survivor is not None and str(survivor.props["merges"][1]).startswith(review.PACKED)
    assert '"customer:C1"' in json.dumps(review.merge_records(survivor))

    report = erase(store, "customer:C1", quarantine)

    assert report.clean and report.merges_made_final == 3  # Munich's, the one naming her; the colleague's
    assert report.others_redacted == 1  # 李娜's note
    survivor = store.get_entity("customer:C4")
    assert survivor is not None
    records = review.merge_records(survivor)
    assert [r["gone"]["id"] for r in records] == ["customer:C8"]
    assert _leaks(json.dumps(records, ensure_ascii=False)) == [] and '"customer:C1"' not in json.dumps(
        records
    )
    colleague = store.get_entity("employee:E1")
    assert colleague is not None and colleague.props["notes"] == f"负责 {MASK * len(NAME)} 的续约"
    assert "merges" not in colleague.props
    assert len(store.get_relations("customer:C4", types=[RelType.PARTICIPATED_IN], limit=1000)) >= 600
    assert _leaks(_everything(store)) == []
    for look_alike in ("customer:C7", "customer:C9"):
        with pytest.raises(NotFound):
            review.undo(store, "customer:C4", look_alike)

    review.undo(store, "customer:C4", "customer:C8")

    berlin = store.get_entity("customer:C8")
    assert berlin is not None and berlin.props["emails"] == ["einkauf@northwind.example"]
    assert {r.target for r in store.get_relations("customer:C8", types=[RelType.PARTICIPATED_IN])} == {
        "interaction:I2"
    }
    assert store.get_entity("customer:C1") is None and _leaks(_everything(store)) == []


def test_a_later_export_that_names_them_in_another_customers_notes_is_masked(erased, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, quarantine, _ = erased
    folder = tmp_path / "later"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        f"customer_id,name,kind,city,notes\nC5,Contoso,organization,上海,经 {NAME} 介绍（{EMAIL}）\n",
        encoding="utf-8",
    )
    ingest_paths(store, [folder], quarantine_dir=quarantine)

    contoso = store.get_entity("customer:C5")
    assert contoso is not None and contoso.name == "Contoso"
    assert str(contoso.props["notes"]).startswith(f"经{MASK * len(NAME)}介绍")  # as read: folded
    assert _leaks(_everything(store)) == []


def test_a_namesakes_notes_and_a_shared_switchboard_stay(store: GraphStore, tmp_path: Path) -> None:
    """王伟 of 北京 is erased. The other 王伟 (a review candidate for him) keeps his note that names
    himself, and a phone the erased one shared with Northwind's switchboard keeps no one out later."""
    quarantine = tmp_path / "quarantine"
    ingest_paths(store, [_bundle(tmp_path / "export")], quarantine_dir=quarantine)
    board = "+49891234567"
    store.write(
        Batch(
            entities=(
                customer("customer:C2", "王伟", phones=["+8613800001111", board]),
                customer("customer:C3", "王伟", notes="王伟 prefers WeChat"),
            ),
            relations=(rel(RelType.SAME_AS, "customer:C3", "customer:C2", score=100.0, reason="same name"),),
        )
    )

    report = erase(store, "customer:C2", quarantine)

    south = store.get_entity("customer:C3")
    assert report.clean and south is not None and south.props["notes"] == "王伟 prefers WeChat"
    folder = tmp_path / "later"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        "customer_id,name,kind,phone,city\nC6,Northwind Service,organization,089 1234567,München\n",
        encoding="utf-8",
    )
    later = ingest_paths(store, [folder], quarantine_dir=quarantine)
    assert later.files[0].suppressed_lines == [] and later.files[0].written.entities.updated == 1  # Northwind
