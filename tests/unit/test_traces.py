"""Finding a person in text, to mask them: widths, cases, local phone forms, longer names, contacts."""

from __future__ import annotations

import hashlib

import pytest

from ckn.api.privacy import scrub
from ckn.graph.model import Entity, NodeKind, Provenance
from ckn.ingest.erasure import (
    MASK,
    TAG_SECRET,
    Suppression,
    Traces,
    _hash,
    _redacted_props,
    masked_id,
    masked_job,
    masked_key,
)

pytestmark = pytest.mark.trust


def test_a_name_email_and_phone_are_masked_in_any_width_case_and_local_form() -> None:
    traces = Traces(names=["Anna Schmidt"], emails={"anna@acme.example"}, phones={"+49301234567"})
    text = "Ａｎｎａ SCHMIDT (ANNA@ACME.EXAMPLE) rief an: 030 123 4567, sonst +49 30 1234567."
    masked, found = traces.redact(text)
    assert found == 4 and len(masked) == len(text)  # masked in place: other offsets stay
    assert "Schmidt" not in masked and "SCHMIDT" not in masked and "ACME" not in masked
    assert "1234567" not in masked.replace(" ", "") and "rief an" in masked


def test_a_longer_name_that_contains_the_name_is_left_alone() -> None:
    traces = Traces(names=["王伟"], emails=set(), phones=set(), longer=["王伟东"])
    masked, found = traces.redact("王伟和王伟东都来了")
    assert found == 1 and masked == f"{MASK * 2}和王伟东都来了"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("on 2024-03-01 13800138000", "on 2024-03-01 "),
        ("Phone:13800138000", "Phone:"),
        ("phone:13800138000", "phone:"),
        ("mobile #138 0013 8000", "mobile #"),
        ("Tel. 0049.30.12.34.56", "Tel. "),
        ("write to Li.Na@Example.CN", "write to "),
    ],
)
def test_contacts_are_scrubbed_from_free_text(text: str, kept: str) -> None:
    scrubbed = scrub(text)
    assert scrubbed.startswith(kept) and "[masked]" in scrubbed
    assert not any(c.isdigit() for c in scrubbed.removeprefix(kept).replace("[masked]", ""))


@pytest.mark.parametrize(
    "text",
    ["customer:10023456", "crm:10023456", "2026-10-02T09:15:00+00:00", "amount 1200.50", "source:a@4d2d146c"],
)
def test_ids_dates_and_amounts_are_not_taken_for_phones(text: str) -> None:
    assert scrub(text) == text


def test_a_job_s_files_named_after_the_person_are_masked_however_the_words_are_joined() -> None:
    """Uploads are kept under safe names (``Anna_Schmidt.csv``): their words joined by ``_``, ``-``, ``.``."""
    traces = Traces(names=["Anna Schmidt"], emails={"anna@acme.example"}, phones=set())
    files = ["Anna_Schmidt.csv", "anna-schmidt.vcf", "crm/anna.schmidt.xlsx", "anna@acme.example.vcf"]
    record = {"id": "a1b2c3", "status": "done", "created_at": "2026-12-07T09:00:00+00:00", "files": files}
    record["report"] = {"files": [{"path": "Anna_Schmidt.csv", "errors": ["line 3: Anna Schmidt?"]}]}
    masked, found = masked_job({**record, "files": [*files, "Anna_Schmidtke.csv", "customers.csv"]}, traces)
    assert found and "schmidt" not in str({**masked, "files": masked["files"][:4]}).lower()
    assert masked["files"][0] == f"{MASK * 12}.csv" and masked["files"][4:] == [
        "Anna_Schmidtke.csv",
        "customers.csv",
    ]
    assert {k: masked[k] for k in ("id", "status", "created_at")} == {
        k: record[k] for k in ("id", "status", "created_at")
    }
    assert masked_job({**record, "files": ["customers.csv"], "report": None}, traces)[1] == 0


def test_an_id_named_after_a_file_is_masked_and_tagged_under_the_store_s_secret() -> None:
    """A document named after its file, a source named after a file: masked as the suppression list
    reads names (words joined by ``_``, ``.``, ``-``), tagged with a keyed hash of the whole id; other ids
    keep the name (an id of a CRM record is not a file's name)."""
    later = Suppression(frozenset({_hash("name:anna schmidt"), f"{TAG_SECRET}{'ab' * 32}"}))
    ids = {
        "knowledgeitem:Anna_Schmidt-Besuch": f"knowledgeitem:{MASK * 12}-Besuch",
        "source:anna.schmidt.vcf@0a1b2c": f"source:{MASK * 12}.vcf@0a1b2c",
        "knowledgeitem:Anna_Schmidtke": "knowledgeitem:Anna_Schmidtke",
        "interaction:Anna_Schmidt": "interaction:Anna_Schmidt",
    }
    masked = {i: masked_id(i, later) for i in ids}
    assert {i: m.partition("~")[0] for i, m in masked.items()} == ids
    tags = {m.partition("~")[2] for i, m in masked.items() if m != i}
    assert len(tags) == 2 and all(len(t) == 10 for t in tags)
    unkeyed = hashlib.sha256(b"Anna_Schmidt-Besuch").hexdigest()[:10]
    assert masked_id("knowledgeitem:Anna_Schmidt-Besuch", later).endswith(later.tag("Anna_Schmidt-Besuch"))
    assert unkeyed not in str(masked) and _hash("Anna_Schmidt-Besuch")[:10] not in str(masked)
    other = Suppression(frozenset({_hash("name:anna schmidt"), f"{TAG_SECRET}{'cd' * 32}"}))
    assert (
        masked_id("knowledgeitem:Anna_Schmidt-Besuch", other) != masked["knowledgeitem:Anna_Schmidt-Besuch"]
    )


def test_a_document_s_title_that_is_its_file_s_name_is_masked_as_a_file_s_name() -> None:
    note = Entity(
        id="knowledgeitem:Anna_Schmidt-Besuch",
        kind=NodeKind.KNOWLEDGE_ITEM,
        name="Anna_Schmidt-Besuch",
        props={"file": "Anna_Schmidt-Besuch.md", "text": "Besuch bei Anna_Schmidt-Weber GmbH."},
        provenance=(Provenance(source_id="source:notes"),),
    )
    traces = Traces(names=["Anna Schmidt"], emails=set(), phones=set())
    name, props, found = _redacted_props(note, traces)
    assert (name, props["file"]) == (f"{MASK * 12}-Besuch", f"{MASK * 12}-Besuch.md") and found == 2
    assert props["text"] == note.props["text"]  # in text, a name joined to more is someone else's
    later = Suppression(frozenset({_hash("name:anna schmidt")}))
    scrubbed = later.scrubbed(note)
    assert (
        isinstance(scrubbed, Entity)
        and scrubbed.name == name
        and scrubbed.id.startswith(f"knowledgeitem:{name}~")
    )


def test_files_named_after_two_people_whose_names_mask_alike_keep_two_ids() -> None:
    both = Suppression(frozenset({_hash("name:张伟"), _hash("name:李娜")}))
    first, second = masked_id("knowledgeitem:张伟_拜访", both), masked_id("knowledgeitem:李娜_拜访", both)
    assert first.startswith(f"knowledgeitem:{MASK * 2}_拜访~") and second.startswith(
        f"knowledgeitem:{MASK * 2}_拜访~"
    )
    assert first != second and masked_key("/data/名片/张伟.vcf", both) != masked_key(
        "/data/名片/李娜.vcf", both
    )


def test_a_name_joined_as_in_a_file_name_is_masked_there_but_not_in_text_where_it_is_someone_else() -> None:
    traces = Traces(
        names=["Anna Schmidt"], emails=set(), phones={"+49301234567"}, longer=["Anna Schmidt-Weber"]
    )
    assert traces.redact("Met Anna Schmidt-Weber and li.na@x.example")[1] == 0
    assert traces.redact_name("Anna_Schmidt-Weber.vcf")[1] == 0
    assert traces.redact_name("Anna_Schmidt.vcf")[0] == f"{MASK * 12}.vcf"
    later = Suppression(frozenset({_hash("phone:+49301234567")}))
    assert later.redact_name("+49_30_1234567.vcf")[0] == f"{MASK * 14}.vcf"
