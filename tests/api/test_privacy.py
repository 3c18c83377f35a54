"""Personal data over HTTP: masking by role at any depth, the audit log, erasure and access requests."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
import pytest
from fastapi.testclient import TestClient

from ckn.api import jobs
from ckn.api.app import create_app
from ckn.api.auth import Keys
from ckn.api.demo import load_sample
from ckn.graph.model import NodeKind
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore

pytestmark = pytest.mark.trust

READS = [
    "/customers/C101",
    "/customers/张伟",
    "/customers/C103",
    "/entities?kind=Customer&limit=100",
    "/entities?kind=Employee&limit=100",
    "/entities/customer:C101",
    "/entities/customer:C101/relations",
    "/entities/customer:C100/neighbourhood?depth=2",
    "/paths?source=C101&target=C102",
    "/search?q=张伟",
    "/search?q=zhang.wei@hdjm.cn",
    "/customers/C101/relationships",
    "/customers/C104/referrals",
    "/customers/C102/referrals?direction=up",
    "/referrers",
    "/experts?q=X200",
    "/holders/X200",
    "/paths/intro?employee_id=E01&customer_id=C101",
    "/analysis/referral/export?format=graphml",
    "/analysis/knows/export?format=gexf",
    "/analysis/knows/export?format=csv",
    "/analysis/knows/export?format=json",
    "/entities/nobody@nowhere.example",
]
"""Answers that show customers and colleagues: records, paths, trees, evidence, search hits, exports."""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def tokens(home: Path) -> dict[str, str]:
    keys = Keys(home)
    made = {role: keys.create(f"{role} 用户", role)[1] for role in ("viewer", "sales", "marketing", "admin")}
    return made | {"knowledge_manager": keys.create("李娜", "knowledge_manager")[1]}


@pytest.fixture
def client(store: GraphStore, home: Path, tmp_path: Path, tokens: dict[str, str]) -> Iterator[TestClient]:
    load_sample(store, home / "quarantine")
    with TestClient(create_app(Settings(home=home), store=store), raise_server_exceptions=False) as client:
        yield client


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _contacts(store: GraphStore) -> tuple[set[str], set[str]]:
    """Every e-mail address and phone number (national digits) the store holds."""
    emails, phones = set(), set()
    for kind in (NodeKind.CUSTOMER, NodeKind.EMPLOYEE):
        for entity in store.list_entities(kind, limit=1000):
            emails |= {e.lower() for e in entity.props.get("emails") or []}  # type: ignore[union-attr]
            numbers = [phonenumbers.parse(str(p)) for p in entity.props.get("phones") or []]  # type: ignore[union-attr]
            phones |= {str(n.national_number) for n in numbers}
    return emails, phones


def _found(text: str, emails: set[str], phones: set[str]) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    digits = re.sub(r"[\s\-().]", "", folded)
    return [e for e in emails if e in folded] + [p for p in phones if p in digits]


def test_marketing_sees_no_email_or_phone_anywhere(client: TestClient, store: GraphStore, tokens) -> None:  # type: ignore[no-untyped-def]
    emails, phones = _contacts(store)
    assert "zhang.wei@hdjm.cn" in emails and "13800138000" in phones
    for path in READS:
        answer = client.get(path, headers=_as(tokens["marketing"]))
        assert answer.status_code < 500, path
        assert _found(answer.text, emails, phones) == [], path
    shown = client.get("/customers/C101", headers=_as(tokens["marketing"])).json()
    assert shown["identity"]["name"] == "张伟" and shown["channels"]["emails"] == []


def test_sales_sees_the_contacts_marketing_may_not(client: TestClient, tokens) -> None:  # type: ignore[no-untyped-def]
    shown = client.get("/customers/C101", headers=_as(tokens["sales"])).json()
    assert "zhang.wei@hdjm.cn" in shown["channels"]["emails"] and shown["channels"]["phones"]


def test_the_viewer_sees_no_personal_fields_in_what_it_may_read(  # type: ignore[no-untyped-def]
    client: TestClient, store: GraphStore, tokens
) -> None:
    emails, phones = _contacts(store)
    for path in ["/stats", "/knowledge/map", "/knowledge/gaps", "/knowledge/bus-factor", "/referrals/stats"]:
        answer = client.get(path, headers=_as(tokens["viewer"]))
        assert answer.status_code == 200 and _found(answer.text, emails, phones) == [], path
    assert client.get("/customers/C101", headers=_as(tokens["viewer"])).status_code == 403


def test_an_unknown_reference_is_not_repeated_back(client: TestClient, tokens) -> None:  # type: ignore[no-untyped-def]
    asked = "qxzv.nobody@nowhere.example"
    unknown = client.get(f"/customers/{asked}", headers=_as(tokens["sales"]))
    assert unknown.status_code == 404 and asked not in unknown.text


def test_every_call_is_audited_with_ids_not_personal_data(client: TestClient, tokens) -> None:  # type: ignore[no-untyped-def]
    client.get("/customers/张伟", headers=_as(tokens["sales"]) | {"X-Request-ID": "req-42"})
    client.get("/customers/C101", headers=_as(tokens["viewer"]))  # refused: recorded too
    client.get("/healthz")  # liveness: not recorded

    log = client.get("/audit?limit=1000", headers=_as(tokens["admin"]))
    assert log.status_code == 200
    records = [e["record"] for e in log.json()["items"]]
    read = next(r for r in records if r["request_id"] == "req-42")
    assert read["operation"] == "GET /customers/{customer_id}" and read["subjects"] == ["customer:C101"]
    assert read["role"] == "sales" and read["who"].endswith("(sales 用户)") and read["status"] == 200
    assert any(r["role"] == "viewer" and r["status"] == 403 for r in records)
    assert "张伟" not in log.text.replace("GET /audit", "") and "hdjm" not in log.text
    assert not any(r["operation"].startswith("GET /healthz") for r in records)
    assert client.get("/audit", headers=_as(tokens["knowledge_manager"])).status_code == 403
    assert client.get("/audit/verify", headers=_as(tokens["admin"])).json()["intact"] is True


def test_a_changed_audit_record_breaks_the_chain(client: TestClient, tokens, store: GraphStore) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        client.get("/stats", headers=_as(tokens["sales"]))
    if store.backend == "embedded":  # someone with the files changes a record
        audit = sqlite3.connect(store.home / "audit.sqlite")  # type: ignore[attr-defined]
        audit.execute("UPDATE audit SET record = replace(record, '\"sales\"', '\"admin\"') WHERE seq = 2")
        audit.commit()
        audit.close()
    else:  # someone with database access does
        store._driver.execute_query(  # type: ignore[attr-defined]
            "MATCH (a:CknAudit {seq: 2}) SET a.record = replace(a.record, '\"sales\"', '\"admin\"')"
        )
    verdict = client.get("/audit/verify", headers=_as(tokens["admin"])).json()
    assert verdict["intact"] is False and verdict["broken_at"] == 2


def test_erasure_and_access_requests_over_http(client: TestClient, tokens, store: GraphStore) -> None:  # type: ignore[no-untyped-def]
    assert client.delete("/customers/C101", headers=_as(tokens["sales"])).status_code == 403
    spelled = client.delete("/customers/张玮", headers=_as(tokens["admin"]))  # close to 张伟, not 张伟
    assert spelled.status_code == 404 and store.get_entity("customer:C101") is not None
    copy = client.get("/customers/C101/export", headers=_as(tokens["admin"]))
    assert copy.status_code == 200 and "zhang.wei@hdjm.cn" in copy.text

    erased = client.delete("/customers/张伟", headers=_as(tokens["knowledge_manager"]))

    assert erased.status_code == 200 and erased.json()["clean"] is True
    assert erased.json()["entity_id"] == "customer:C101"
    assert client.get("/customers/C101", headers=_as(tokens["sales"])).status_code == 404
    assert store.get_entity("customer:C101") is None
    records = client.get("/audit?limit=1000", headers=_as(tokens["admin"])).json()["items"]
    assert any(
        r["record"]["operation"] == "DELETE /customers/{customer_id}" and r["record"]["status"] == 200
        for r in records
    )


def test_an_erasure_that_outlasts_its_request_goes_on_as_a_job_any_api_process_follows(  # type: ignore[no-untyped-def]
    client: TestClient, tokens, store: GraphStore, store_factory, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Erasing from a large store takes minutes, longer than a load balancer waits for an answer: past
    the answer's wait the request gets a 202 and the job, which any API process answers for."""
    release = threading.Event()
    erase = jobs.erase

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        release.wait(60)
        return erase(*args, **kwargs)

    monkeypatch.setattr(jobs, "erase", slow)
    monkeypatch.setattr("ckn.api.privacy.ERASE_ANSWER_S", 0.2)
    manager = _as(tokens["knowledge_manager"])
    try:
        asking = {**manager, "X-Request-ID": "erase-liu-qiang-1"}
        started = client.delete("/customers/刘强", headers=asking)  # C102, who sent feedback F-31

        assert started.status_code == 202 and started.json()["status"] == "running"
        url = started.headers["location"]
        assert started.json()["status_url"] == url and url.startswith("/erasures/")
        assert client.get(url, headers=_as(tokens["sales"])).status_code == 403
        assert client.get(url.replace("/erasures/", "/ingest/jobs/"), headers=manager).status_code == 404
        app = create_app(Settings(home=home), store=store_factory())
        with TestClient(app, raise_server_exceptions=False) as other:
            assert other.get(url, headers=manager).json()["status"] == "running"  # kept in the store
            release.set()
            deadline = time.monotonic() + 60
            while (done := other.get(url, headers=manager)).json()["status"] == "running":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            missing = other.get("/erasures/0123456789ab", headers=manager)
    finally:
        release.set()

    assert done.status_code == 200 and done.json()["status"] == "done", done.text
    report = done.json()["report"]
    assert report["clean"] is True and report["relations_deleted"] > 0
    assert report["entity_id"] == "customer:████" and report["items_deleted"] == ["feedback:████"]
    assert not any(
        trace in done.text for trace in ("刘强", "liu.qiang", "C102", "F-31")
    )  # nothing points at them
    assert store.get_entity("customer:C102") is None
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    records = [
        r["record"] for r in client.get("/audit?limit=1000", headers=_as(tokens["admin"])).json()["items"]
    ]
    asked = [r for r in records if r["request_id"] == "erase-liu-qiang-1"]
    assert [(r["operation"], r["status"]) for r in asked] == [
        ("DELETE /customers/{customer_id}", 202),
        ("erasure job ended", 200),
    ]
    assert all(r["who"].endswith("(李娜)") and r["role"] == "knowledge_manager" for r in asked)
