"""The ckn command: the demo, loading with bad lines, clear errors, --json equal to the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ckn.api.app import create_app
from ckn.api.cli import EXIT_INPUT, EXIT_PARTIAL, _State, app
from ckn.graph.embedded_store import EmbeddedStore


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CKN_HOME", str(tmp_path / "home"))
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        try:
            return runner.invoke(app, list(args))
        finally:
            if _State.store is not None:
                _State.store.close()
                _State.store = None

    return invoke


def test_demo_answers_each_kind_of_user(run) -> None:  # type: ignore[no-untyped-def]
    result = run("demo")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Ingested 12 files of the bundled sample into the embedded store" in out
    assert "10 bad rows were set aside" in out
    assert "1. 王芳: resolved “How often should the X200 be calibrated?” (2026-10-21)" in out
    assert "David Chen → 李娜 → 张伟 (weakest tie 2.0)" in out
    assert "3 direct (刘强, Acme Labs GmbH, 陈静), 1 more through them" in out
    assert "周杰 ← Maria Lopez" in out
    assert "王芳: 3 tickets/complaints handled, no document written → document this next" in out
    assert "CloudSync 云同步: only 李娜 knows it" in out

    again = run("demo")
    assert "0 entities and 0 relationships created" in again.output


def test_load_sets_bad_lines_aside_and_loads_the_rest(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "records.jsonl"
    data.write_text(
        "\n".join(
            [
                '{"entity": {"id": "customer:1", "kind": "Customer", "name": "王五"}}',
                '{"entity": {"id": "customer:2", "kind": "Customr", "name": "typo"}}',
                "not json at all",
                '{"relation": {"type": "REFERRED", "source": "customer:1", "target": "customer:404"}}',
                '{"entity": {"id": "customer:3", "kind": "Customer", "name": "赵六"}}',
                '{"relation": {"type": "REFERRED", "source": "customer:1", "target": "customer:3"}}',
            ]
        ),
        encoding="utf-8",
    )
    result = run("load", str(data), "--json")
    assert result.exit_code == EXIT_PARTIAL
    report = json.loads(result.stdout)
    assert report["written"]["entities"]["created"] == 3  # two customers and the Source
    assert report["written"]["relations"]["created"] == 1
    assert [(r["line"], r["reason"].split(":")[0]) for r in report["rejected"]] == [
        (2, "kind"),
        (3, "not JSON"),
        (4, "1 relation endpoint(s) not found"),
    ]


def test_errors_are_one_clear_line_and_an_exit_code(run) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    too_deep = run("paths", "employee:E04", "customer:C101", "--max-depth", "9")
    assert too_deep.exit_code == EXIT_INPUT
    assert "error: Request exceeds a limit: depth must be between 1 and 6, got 9" in too_deep.output
    missing = run("show", "customer:nobody")
    assert missing.exit_code == EXIT_INPUT and "Traceback" not in missing.output


def test_unknown_settings_stop_the_command(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CKN_NEO4J_PASWORD", "x")
    result = run("stats")
    assert result.exit_code == 1
    assert "unknown setting(s) CKN_NEO4J_PASWORD" in result.output


def test_json_output_is_what_the_api_returns(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    cli = json.loads(run("holders", "product:X200", "--json").stdout)
    store = EmbeddedStore(tmp_path / "home")
    try:
        with TestClient(create_app(store=store)) as client:
            assert client.get("/holders/product:X200").json() == cli
            assert client.get("/entities/customer:C101").json() == json.loads(
                run("show", "customer:C101", "--json").stdout
            )
    finally:
        store.close()


def test_erase_needs_confirmation(run) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    assert run("erase", "customer:C101").exit_code == EXIT_INPUT
    done = run("erase", "customer:C101", "--yes")
    assert done.exit_code == 0 and "erased customer:C101" in done.output
    assert run("show", "customer:C101").exit_code == EXIT_INPUT


def test_ingest_reports_per_file_and_exits_3_when_rows_were_quarantined(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bundle = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"
    first = run("ingest", str(bundle), "--quarantine-dir", str(tmp_path / "q"))
    assert first.exit_code == EXIT_PARTIAL, first.output
    assert "ingested   customers     hubspot_contacts.csv: 3 rows" in first.output
    assert "10 rows quarantined" in first.output

    again = run("ingest", str(bundle), "--quarantine-dir", str(tmp_path / "q"), "--json")
    report = json.loads(again.stdout)
    assert {f["status"] for f in report["files"]} == {"unchanged"}
    assert report["written"]["entities"]["created"] == 0 and report["quarantined"] == 10


def test_ingest_of_a_missing_path_or_bad_preset_is_a_clear_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = run("ingest", str(tmp_path / "nope"))
    assert missing.exit_code == EXIT_INPUT and "no such file or folder" in missing.output
    preset = run("ingest", str(tmp_path), "--preset", "zoho")
    assert preset.exit_code == EXIT_INPUT and "unknown preset 'zoho'" in preset.output


def test_review_from_the_command_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    extra = tmp_path / "customers_new.csv"
    extra.write_text("customer_id,name,email\nN1,Maria Lopes,maria.lopes@gmail.example\n", encoding="utf-8")
    run("ingest", str(extra))

    listed = run("review", "list")
    assert "customer:N1 Maria Lopes  ~  customer:C104 Maria Lopez  (similar name)" in listed.output
    merged = run("review", "accept", "customer:N1", "customer:C104")
    assert merged.exit_code == 0 and "merged customer:N1 into customer:C104" in merged.output
    assert run("review", "list").output.strip() == "nothing to review"
    back = run("review", "undo", "customer:C104", "customer:N1")
    assert back.exit_code == 0 and run("show", "customer:N1").exit_code == 0
    wrong = run("review", "reject", "customer:N1", "customer:C101")
    assert wrong.exit_code == EXIT_INPUT and "not a review candidate" in wrong.output


def test_experts_json_is_what_the_api_returns(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ckn.graph.settings import Settings

    run("demo")
    cli = json.loads(run("experts", "X200 校准", "--json").stdout)
    text = run("experts", "X200 校准").output
    assert (
        "1. 王芳" in text
        and "about: X200 光谱仪 [product:X200], 校准 Calibration [topic:calibration]" in text
    )
    store = EmbeddedStore(tmp_path / "home")
    try:
        with TestClient(create_app(Settings(home=tmp_path / "home"), store=store)) as client:
            assert client.get("/experts", params={"q": "X200 校准"}).json() == cli
    finally:
        store.close()


def test_the_knowledge_map_shows_the_strongest_holders_and_says_how_many_more(run) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    full = json.loads(run("knowledge-map", "--json").stdout)
    crowded = max(full, key=lambda row: row["holders_total"])
    assert crowded["holders_total"] >= 2
    shown = run("knowledge-map", "--top", "1").output
    first = crowded["holders"][0]["name"]
    assert f"[{crowded['subject_id']}]: {first} (behaviour" in shown
    assert f"and {crowded['holders_total'] - 1} more" in shown


def test_ingest_says_what_it_skips_and_refuses_a_file_it_cannot_classify(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "topics.csv").write_text("topic_id,name\nT1,防水 Waterproofing\n", encoding="utf-8")
    (folder / "minutes.csv").write_text("what,when\nlunch,today\n", encoding="utf-8")

    listed = run("ingest", str(folder))
    refused = run("ingest", str(folder / "minutes.csv"))

    assert listed.exit_code == 0, listed.output
    assert "skipped" in listed.output and "minutes.csv" in listed.output
    assert refused.exit_code == EXIT_INPUT and "minutes.csv" in refused.output


def test_ingest_replaces_a_snapshot_only_when_told(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    november, december = tmp_path / "2026-11", tmp_path / "2026-12"
    for folder, rows in ((november, "T1,防水\nT2,旧型号 Legacy\nT3,IoT\n"), (december, "T1,防水\nT3,IoT\n")):
        folder.mkdir()
        (folder / "topics.csv").write_text("topic_id,name\n" + rows, encoding="utf-8")
    assert run("ingest", str(november / "topics.csv"), "--source", "crm-topics").exit_code == 0

    preview = run("ingest", str(december / "topics.csv"), "--source", "crm-topics", "--replace", "--dry-run")
    waiting = run("ingest", str(december / "topics.csv"), "--source", "crm-topics", "--replace")
    kept = run("show", "topic:T2")
    confirmed = run("ingest", str(december / "topics.csv"), "--source", "crm-topics", "--replace", "--yes")
    gone = run("show", "topic:T2")

    assert preview.exit_code == 0 and "would replace source:topics.csv@" in preview.output
    assert "1 entities and 0 relationships deleted" in preview.output  # T2
    assert waiting.exit_code == EXIT_INPUT and "--yes" in waiting.output and kept.exit_code == 0
    assert confirmed.exit_code == 0 and "replaced source:topics.csv@" in confirmed.output
    assert gone.exit_code == EXIT_INPUT


def test_commands_take_the_ids_people_type(run) -> None:  # type: ignore[no-untyped-def]
    assert run("demo").exit_code == 0

    by_crm_id = run("customer", "C101")
    by_name = run("customer", "张伟")
    by_mail = run("show", "zhang.wei@hdjm.cn")
    departure = run("departure", "E01")
    nobody = run("customer", "Nobody At All")

    assert by_crm_id.exit_code == 0 and "张伟" in by_crm_id.output
    assert by_name.exit_code == 0 and by_name.output == by_crm_id.output
    assert by_mail.exit_code == 0 and by_mail.output.startswith("customer:C101")
    assert departure.exit_code == 0, departure.output
    assert nobody.exit_code == EXIT_INPUT and "Nobody At All" in nobody.output


def test_the_cli_reference_is_what_the_commands_say() -> None:
    from ckn.api.clidoc import reference

    written = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert written == reference(), "docs/cli.md is stale: run python -m ckn.api.clidoc > docs/cli.md"


def test_analysis_options_are_checked_as_the_api_checks_them(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("demo").exit_code == 0
    client = TestClient(create_app(store=EmbeddedStore(tmp_path / "home")))

    cli = run("analyze", "referral", "communities", "--method", "kmeans")
    http = client.get("/analysis/referral/communities?method=kmeans")

    assert cli.exit_code == EXIT_INPUT and "method" in cli.output
    assert http.status_code == 422
