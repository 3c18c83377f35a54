"""The HTTP API over each store: answers, pagination, and problem+json for every error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.demo import load_sample
from graph.store import GraphStore


@pytest.fixture
def client(store: GraphStore) -> Iterator[TestClient]:
    load_sample(store)
    with TestClient(create_app(store=store), raise_server_exceptions=False) as client:
        yield client


def _is_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and "Traceback" not in response.text
    return body


def test_health_and_readiness(client: TestClient, store: GraphStore) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "store": store.backend}


def test_an_entity_comes_with_its_evidence(client: TestClient) -> None:
    body = client.get("/entities/customer:C101").json()
    assert body["name"] == "张伟"
    assert body["props"]["phone"] == "+86 138-0013-8000"
    (evidence,) = body["provenance"]
    assert evidence["source_id"].startswith("source:demo.jsonl@")
    assert evidence["locator"] == "line 12" and evidence["extractor"] == "ckn.jsonl"


def test_entities_are_paginated(client: TestClient) -> None:
    first = client.get("/entities", params={"kind": "Customer", "limit": 4}).json()
    second = client.get(
        "/entities", params={"kind": "Customer", "limit": 4, "after": first["next_after"]}
    ).json()
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == [
        "customer:C100",
        "customer:C101",
        "customer:C102",
        "customer:C103",
        "customer:C104",
        "customer:C105",
    ]
    assert second["next_after"] is None


def test_neighbourhood_and_paths(client: TestClient) -> None:
    sub = client.get(
        "/entities/customer:C101/neighbourhood", params={"types": "REFERRED", "direction": "out", "depth": 3}
    ).json()
    assert sub["distances"] == {
        "customer:C101": 0,
        "customer:C102": 1,
        "customer:C103": 1,
        "customer:C105": 2,
    }
    paths = client.get(
        "/paths",
        params={
            "source": "employee:E04",
            "target": "customer:C101",
            "types": ["KNOWS", "OWNS_ACCOUNT", "WORKS_AT"],
        },
    ).json()
    assert [p["nodes"] for p in paths] == [["employee:E04", "employee:E03", "customer:C100", "customer:C101"]]


def test_holders_separate_documented_from_behavioural_evidence(client: TestClient) -> None:
    holders = client.get("/holders/topic:calibration").json()
    assert [(h["name"], h["tacit"]) for h in holders] == [("王芳", True), ("Anna Schmidt", False)]
    assert {e["item_id"] for e in holders[0]["behavioural"]} == {
        "interaction:T-881",
        "interaction:T-902",
        "feedback:F-31",
    }
    assert [e["item_name"] for e in holders[1]["documented"]] == ["X200 Setup & Calibration Guide"]


@pytest.mark.parametrize(
    ("url", "status", "title"),
    [
        ("/entities/customer:nobody", 404, "Not found"),
        ("/entities/customer:C101/neighbourhood?depth=50", 422, "Request exceeds a limit"),
        ("/entities/customer:C101/neighbourhood?types=DROP_ALL", 422, "Invalid request"),
        ("/entities/customer:C101/neighbourhood?depth=abc", 422, "Invalid request"),
        ("/entities?limit=100000", 422, "Request exceeds a limit"),
        ("/entities?kind=Customer)%20DETACH%20DELETE%20n", 422, "Invalid request"),
        ("/paths?source=employee:E04&target=customer:C101&max_depth=7", 422, "Request exceeds a limit"),
        ("/paths?source=employee:E04", 422, "Invalid request"),
        ("/no/such/route", 404, "HTTP error"),
    ],
)
def test_bad_requests_get_problem_json_never_a_500(
    client: TestClient, url: str, status: int, title: str
) -> None:
    assert _is_problem(client.get(url), status)["title"] == title


def test_an_unexpected_failure_is_a_500_problem_without_a_trace(store: GraphStore) -> None:
    class Broken:
        backend = "broken"

        def ping(self) -> None:
            raise RuntimeError("disk on fire at /secret/path")

    with TestClient(create_app(store=Broken()), raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        body = _is_problem(client.get("/readyz"), 500)
    assert "secret" not in str(body)


def test_the_openapi_document_describes_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/readyz", "/entities/{entity_id}", "/paths", "/holders/{subject_id}"} <= set(
        spec["paths"]
    )
