"""Every row is stored or quarantined: broken quoting, control characters, files ckn cannot classify."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from ckn.graph.errors import InvalidInput
from ckn.graph.model import NodeKind
from ckn.graph.store import GraphStore
from ckn.ingest.pipeline import IngestReport, ingest_paths
from ckn.ingest.tabular import MAX_LINE, BadRow, Row, read_rows
from ckn.ingest.vcard import read_cards
from tests.factories import StopAtTheEnd, Stopped

CUSTOMERS = (
    "customer_id,name,kind,email,city\n"
    "Q1,王磊,person,wang.lei@example.cn,上海\n"
    'Q2,"Broken Quote Ltd,organization,info@broken.example,Berlin\n'  # the quote never closes
    "Q3,李静 Li Jing,person,li.jing@example.cn,北京\n"
    "Q4,Anna Berg,person,anna@example.se,Malmö\n"
    'Q5,"Multi\nline name",person,multi@example.com,"Hang\nzhou"\n'  # quoted line breaks are fine
    "Q6,Null\x00Byte,person,nul@example.com,Shenzhen\n"
    "Q7,陈晨,person,chen.chen@example.cn,广州\n"
)


def _ingest(store: GraphStore, tmp_path: Path, *paths: Path) -> IngestReport:
    return ingest_paths(store, list(paths), quarantine_dir=tmp_path / "q", batch_size=5)


def _quarantined(tmp_path: Path) -> dict[int, str]:
    return {
        entry["line"]: entry["reason"]
        for file in (tmp_path / "q").glob("*.jsonl")
        for entry in map(json.loads, file.read_text(encoding="utf-8").splitlines())
    }


def test_a_row_with_a_quote_never_closed_is_quarantined_and_the_rows_after_it_are_stored(
    store: GraphStore, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS, encoding="utf-8")

    report = _ingest(store, tmp_path, path)

    bad = _quarantined(tmp_path)
    assert sorted(bad) == [3, 9]  # the broken quote, and the NUL byte (Q5 spans lines 6 to 8)
    assert "quote" in bad[3] and "U+0000" in bad[9]
    assert report.quarantined == 2 and report.files[0].rows == 5  # rows read and stored
    for stored in ("Q1", "Q3", "Q4", "Q5", "Q7"):
        assert store.get_entity(f"customer:{stored}") is not None, stored
    assert store.get_entity("customer:Q2") is None and store.get_entity("customer:Q6") is None
    multi = store.get_entity("customer:Q5")
    assert multi is not None and multi.props["city"] == "Hang zhou"


def test_an_infinite_number_is_quarantined_with_its_reason_and_the_other_rows_are_stored(
    store: GraphStore, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,name,kind,city,lifetime_value\n"
        "V1,周敏,person,杭州,1e400\n"  # an export's overflow: infinite
        "V3,赵磊,person,苏州,99999999999999999999999\n"  # large, but a number
        "V4,Ola Nordmann,person,Oslo,1.5万\n",
        encoding="utf-8",
    )

    report = _ingest(store, tmp_path, path)

    assert _quarantined(tmp_path) == {2: "not a finite number: '1e400'"}
    assert report.quarantined == 1
    assert store.get_entity("customer:V1") is None
    large, small = store.get_entity("customer:V3"), store.get_entity("customer:V4")
    assert large is not None and large.props["lifetime_value"] == 1e23
    assert small is not None and small.props["lifetime_value"] == 15_000.0


def test_a_card_with_a_note_no_store_keeps_is_quarantined_and_the_next_card_is_stored(
    store: GraphStore, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.vcf"
    path.write_text(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:周敏\r\nEMAIL:zhou.min@example.cn\r\nNOTE:{'长' * 120_000}\r\n"
        "END:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ola Nordmann\r\nEMAIL:ola@example.no\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )

    with pytest.raises(Stopped):  # after the bad card was quarantined: the run again resumes
        ingest_paths(StopAtTheEnd(store), [path], quarantine_dir=tmp_path / "q", batch_size=1)  # type: ignore[arg-type]
    report = _ingest(store, tmp_path, path)

    (reason,) = _quarantined(tmp_path).values()
    assert reason.startswith("props: ") and "'note' is longer than 100000 characters" in reason
    assert [f.status for f in report.files] == ["resumed"]
    assert [e.name for e in store.list_entities(NodeKind.CUSTOMER)] == ["Ola Nordmann"]


def test_a_quote_open_at_the_end_of_the_file_loses_only_its_row() -> None:
    rows = list(read_rows('id,name\n1,"Anna\n2,Bob\n3,"Carol'))
    assert [r.line for r in rows if isinstance(r, Row)] == [3]
    assert [(r.line, isinstance(r, BadRow)) for r in rows] == [(2, True), (3, False), (4, True)]


def test_an_interactions_file_is_known_by_its_header_whatever_its_name(
    store: GraphStore, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "customers.csv").write_text("customer_id,name\nC1,张伟\n", encoding="utf-8")
    (folder / "interactions-2026-12.csv").write_text(
        "interaction_id,occurred_at,channel,customer_id,subject\nI1,2026-12-01,电话,C1,回访\n",
        encoding="utf-8",
    )
    (folder / "Export (3).csv").write_text(
        "Interaction ID,Occurred At,Channel,Customer ID,Subject\nI2,2026-12-02,email,C1,Quote sent\n",
        encoding="utf-8",
    )
    (folder / "notes.csv").write_text("what,when\nlunch,today\n", encoding="utf-8")

    report = _ingest(store, tmp_path, folder)

    kinds = {Path(f.path).name: (f.kind, f.status) for f in report.files}
    assert kinds["interactions-2026-12.csv"] == ("interactions", "ingested")
    assert kinds["Export (3).csv"] == ("interactions", "ingested")
    assert kinds["notes.csv"][1] == "skipped"
    assert "header" in next(f.reason for f in report.files if f.path.endswith("notes.csv"))
    assert store.get_entity("interaction:I1") is not None and store.get_entity("interaction:I2") is not None


def test_a_file_named_on_its_own_that_ckn_cannot_classify_is_an_error(
    store: GraphStore, tmp_path: Path
) -> None:
    good = tmp_path / "customers.csv"
    good.write_text("customer_id,name\nC1,张伟\n", encoding="utf-8")
    unknown = tmp_path / "notes.csv"
    unknown.write_text("what,when\nlunch,today\n", encoding="utf-8")

    with pytest.raises(InvalidInput, match=r"notes\.csv"):
        _ingest(store, tmp_path, good, unknown)

    assert store.get_entity("customer:C1") is None  # nothing was ingested


def test_rows_stream_from_the_file_in_memory_that_does_not_grow_with_it(tmp_path: Path) -> None:
    path = tmp_path / "interactions.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("interaction_id,occurred_at,channel,customer_id,subject,notes\n")
        for i in range(100_000):
            out.write(
                f"I{i},2026-11-{1 + i % 28:02d},电话,C{i % 1000},回访 {i},客户询问订单 {i} 的交付时间\n"
            )
        out.write("I-big," + "x" * (MAX_LINE + 10) + ",email,C1,big,\n")  # one oversized line
        out.write("I-last,2026-12-01,email,C1,last,\n")
    size = path.stat().st_size

    tracemalloc.start()
    with path.open(encoding="utf-8", newline="") as text:
        rows = bad = 0
        for item in read_rows(text):
            rows += isinstance(item, Row)
            bad += isinstance(item, BadRow)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert (rows, bad) == (100_001, 1)
    assert size > 8_000_000 and peak < 3 * MAX_LINE + 1_000_000  # a line or two, never the file


def test_vcards_stream_card_by_card() -> None:
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:联系人 {i}\r\nEMAIL:c{i}@example.cn\r\n"
    card += "NOTE:folded\r\n  line\r\nEND:VCARD\r\n"
    every = "".join(card.format(i=i) for i in range(3)).splitlines(keepends=True)
    lines = iter(every)
    first = next(read_cards(lines))
    assert (
        isinstance(first, Row) and first.cells["name"] == "联系人 0" and first.cells["note"] == "folded line"
    )
    assert len(list(lines)) == len(every) - 8  # its 7 lines and the next one: not the file
