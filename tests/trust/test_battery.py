"""The trust battery (``make test-trust``), every store: an API fuzzer with each role's key and with none,
the role × operation matrix, canaries in every answer, injection in every string parameter.

With the erasure, privacy, token and outage tests (marked ``trust`` too) it is what a company would check
before trusting ckn with its customers' data.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ckn.api.auth import POLICY, PUBLIC, ROLES
from ckn.api.privacy import HIDDEN
from tests.trust.conftest import CANARY_EMAIL, CANARY_NAME, CANARY_PHONE, Trusted

pytestmark = [pytest.mark.trust, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
READ_ONLY = ("viewer", "sales", "marketing")


def _contacts_in(text: str) -> list[str]:
    digits = re.sub(r"[\s\-().]", "", text)
    return [c for c in (CANARY_EMAIL, CANARY_EMAIL.upper()) if c in text] + (
        [CANARY_PHONE] if CANARY_PHONE in digits else []
    )


def _fuzz(trusted: Trusted, role: str | None, operation: Any, allowed: frozenset[str]) -> None:
    """Call one operation with generated requests as ``role``; raise on the first wrong answer."""

    @given(case=operation.as_strategy())
    @settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        response = case.call_and_validate(headers=trusted.headers(role), checks=CHECKS)
        if role is None and allowed is not PUBLIC:
            assert response.status_code == 401, f"{response.status_code} without a key"
        if role is not None and allowed is not PUBLIC and role not in allowed:
            assert response.status_code == 403, f"{response.status_code} for a role not allowed"
        if role is not None and "email" in HIDDEN[role]:  # type: ignore[index]
            assert _contacts_in(response.text) == [], "a contact of the canary customer"
        if role is not None and "source_key" in HIDDEN[role]:  # type: ignore[index]
            assert not any(p in response.text for p in PATHS), "a server path"

    call()


@pytest.mark.parametrize("role", [None, *ROLES])
def test_the_fuzzer_as_each_role_finds_no_error_no_leak_and_no_change(
    trusted: Trusted, role: str | None
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", trusted.client.app)
    before = trusted.state()
    broken: dict[str, str] = {}
    for found in schema.get_all_operations():
        operation = found.ok()
        name = f"{operation.method.upper()} {operation.path}"
        try:
            _fuzz(trusted, role, operation, POLICY[name])
        except Exception as exc:  # every operation is tried, all failures reported together
            broken[name] = str(exc)[:1500]
    assert broken == {}
    if role in (None, *READ_ONLY):
        assert trusted.state() == before  # nothing changed by roles that may not write


def _request(trusted: Trusted, name: str) -> tuple[str, str, dict[str, Any]]:
    """A concrete request of an operation, on the sample (ids that exist; writes that change nothing)."""
    method, path = name.split(" ", 1)
    values = {
        "entity_id": "customer:C101",
        "customer_id": "C101",
        "employee_id": "E01",
        "subject_id": "X200",
        "source_id": "source:nothing-of-that-name",
        "job_id": "no-such-job",
        "network_name": "knows",
        "measure": "pagerank",
        "name": "app.js",
    }
    url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    query = {
        "/paths": {"source": "C101", "target": "C102"},
        "/paths/intro": {"employee_id": "E01", "customer_id": "C101"},
        "/search": {"q": "X200"},
        "/experts": {"q": "X200"},
    }.get(path, {})
    body: dict[str, Any] = {}
    if path.startswith("/review/"):
        body = {"json": {"entity_id": "customer:nobody", "candidate_id": "customer:no-one"}}
    if method == "DELETE" and path == "/customers/{customer_id}":
        url = "/customers/customer:C999"  # refused or not found: nobody is erased by the matrix
    return method, url, {"params": query, **body}


def test_each_role_calls_exactly_what_the_policy_table_allows(trusted: Trusted) -> None:
    before = trusted.state()
    wrong: list[str] = []
    for name, allowed in sorted(POLICY.items()):
        method, url, extra = _request(trusted, name)
        for role in (None, *ROLES):
            status = trusted.client.request(method, url, headers=trusted.headers(role), **extra).status_code
            if allowed is PUBLIC or (role is not None and role in allowed):
                ok = status not in (401, 403) and status < 500
            else:
                ok = status == (401 if role is None else 403)
            if not ok:
                wrong.append(f"{name} as {role}: {status}")
    assert wrong == []
    assert trusted.state() == before


PAYLOADS = [
    "' OR '1'='1",
    '") MATCH (n) DETACH DELETE n //',
    "x}) WITH n MATCH (m) DETACH DELETE m RETURN 1 //",
    "'; DROP TABLE entities; --",
    "../../etc/passwd",
    "%00\x00",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "张伟' OR 1=1 --",
    "a" * 5000,
]
"""Cypher, SQL, path and template injection, a NUL, and a very long value."""
LEAKS = ("Traceback", "UNWIND $", "FROM entities", "json_extract", "sqlite3.", "neo4j.exceptions")
"""What an answer never shows: a stack trace, ckn's own queries, a driver's error."""
PATHS = ("/work/", "/tmp/", "/home/", "/root/", "/var/")
"""Server paths, which no error shows (nor any answer to a role that does not ingest)."""


def _injected(
    trusted: Trusted, method: str, path: str, parameter: dict[str, Any], payload: str
) -> str | None:
    """What is wrong with the answer to ``payload`` in one parameter (None: nothing)."""
    _, url, extra = _request(trusted, f"{method.upper()} {path}")
    if parameter["in"] == "path":
        url = path.replace("{" + parameter["name"] + "}", quote(payload, safe=""))
        url = re.sub(r"\{(\w+)\}", "x", url)
    else:
        extra = {**extra, "params": {**extra["params"], parameter["name"]: payload}}
    answer = trusted.client.request(method, url, headers=trusted.headers("admin"), **extra)
    body = answer.text
    paths = answer.status_code >= 400 and any(p in body for p in PATHS)
    if answer.status_code >= 500 or any(s in body for s in LEAKS) or paths:
        return f"{method.upper()} {path} {parameter['name']}={payload[:30]!r}: {answer.status_code}"
    return None


def test_injection_in_every_string_parameter_changes_nothing_and_leaks_nothing(trusted: Trusted) -> None:
    spec = trusted.client.get("/openapi.json", headers=trusted.headers("admin")).json()
    before = trusted.state()
    wrong: list[str] = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "delete") or (path, method) == ("/customers/{customer_id}", "delete"):
                continue  # an erasure resolves a name: tried on its own below
            for parameter in operation.get("parameters", []):
                if parameter.get("schema", {}).get("type", "string") == "string":
                    found = (_injected(trusted, method, path, parameter, p) for p in PAYLOADS)
                    wrong += [w for w in found if w]
    erase = trusted.client.delete("/customers/' OR '1'='1", headers=trusted.headers("admin"))
    assert erase.status_code in (404, 409)
    assert wrong == []
    assert trusted.state() == before


def test_the_canary_is_in_what_sales_see_and_nowhere_marketing_looks(trusted: Trusted) -> None:
    sales = trusted.client.get("/customers/C900", headers=trusted.headers("sales"))
    assert CANARY_EMAIL in sales.text and CANARY_NAME in sales.text
    for path in [
        "/customers/C900",
        "/entities/customer:C900",
        "/entities/interaction:I900",
        "/search?q=Zebulon",
    ]:
        answer = trusted.client.get(path, headers=trusted.headers("marketing"))
        assert answer.status_code == 200 and _contacts_in(answer.text) == [], path
