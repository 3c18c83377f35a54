"""Uploading files over HTTP starts an ingest job whose status and report can be polled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from graph.settings import Settings
from graph.store import GraphStore

BUNDLE = Path(__file__).resolve().parents[2] / "ingest" / "samples" / "bundle"


@pytest.fixture
def client(store: GraphStore, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "home")
    with TestClient(create_app(settings, store=store), raise_server_exceptions=False) as client:
        yield client


def _upload(*names: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, (BUNDLE / name).read_bytes(), "text/csv")) for name in names]


def test_an_upload_is_ingested_in_the_background_and_reported(client: TestClient, store: GraphStore) -> None:
    started = client.post("/ingest", files=_upload("employees.csv", "products.csv", "customers.csv"))

    assert started.status_code == 202
    job = started.json()
    assert job["files"] == ["employees.csv", "products.csv", "customers.csv"]
    done = client.get(job["status_url"]).json()
    assert done["status"] == "done" and done["error"] is None
    by_file = {f["path"].rsplit("/", 1)[-1]: f for f in done["report"]["files"]}
    assert by_file["customers.csv"]["quarantined"] == 4
    assert by_file["employees.csv"]["written"]["entities"]["created"] > 0
    assert store.get_entity("customer:C101") is not None

    again = client.get(client.post("/ingest", files=_upload("customers.csv")).json()["status_url"]).json()
    assert [f["status"] for f in again["report"]["files"]] == ["unchanged"]


def test_upload_names_cannot_escape_the_upload_folder(client: TestClient, tmp_path: Path) -> None:
    files = [("files", ("../../products.csv", (BUNDLE / "products.csv").read_bytes(), "text/csv"))]
    job = client.post("/ingest", files=files).json()
    assert job["files"] == ["products.csv"]
    assert not (tmp_path / "products.csv").exists()
    assert client.get(job["status_url"]).json()["status"] == "done"


def test_bad_ingest_requests_are_problems(client: TestClient) -> None:
    no_files = client.post("/ingest")
    assert no_files.status_code == 422 and no_files.headers["content-type"].startswith(
        "application/problem+json"
    )
    bad_preset = client.post("/ingest", files=_upload("customers.csv"), data={"preset": "zoho"})
    assert bad_preset.status_code == 422 and "unknown preset" in bad_preset.json()["detail"]
    missing = client.get("/ingest/jobs/nope")
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"
