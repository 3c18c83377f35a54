"""Personal data over HTTP: masking by role at any depth, the audit log, erasure and access requests."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
import pytest
from fastapi.testclient import TestClient

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
