"""Uploading files over HTTP starts an ingest job whose status and report can be polled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ckn.api.app import create_app
from ckn.api.jobs import UploadLimit
from ckn.graph.errors import StoreUnavailable
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore

BUNDLE = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"


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


def test_job_reports_show_no_server_path(client: TestClient, tmp_path: Path) -> None:
    job = client.post("/ingest", files=_upload("customers.csv")).json()
    report = client.get(job["status_url"]).text

    assert str(tmp_path) not in report and "/home" not in report and '"quarantine_dir":"quarantine"' in report


def test_uploads_merge_and_replace_only_when_asked(client: TestClient, store: GraphStore) -> None:
    products = (BUNDLE / "products.csv").read_bytes()
    without_k9 = b"".join(line for line in products.splitlines(keepends=True) if not line.startswith(b"K9,"))

    def ingest(data: bytes, **form: str) -> dict:  # type: ignore[type-arg]
        started = client.post("/ingest", files=[("files", ("products.csv", data, "text/csv"))], data=form)
        assert started.status_code == 202, started.text
        return client.get(started.json()["status_url"]).json()  # type: ignore[no-any-return]

    ingest(products)
    merged = ingest(without_k9)
    assert store.get_entity("product:K9") is not None and merged["report"]["files"][0]["replaces"] == []

    preview = ingest(without_k9, mode="replace", dry_run="true")
    (planned,) = preview["report"]["files"]
    assert planned["status"] == "previewed" and len(planned["replaces"]) == 1  # the first version
    assert store.get_entity("product:K9") is not None

    (done,) = ingest(without_k9, mode="replace", yes="true")["report"]["files"]
    assert done["replaced"] and done["replacement"] == planned["replacement"]
    assert done["path"] == "products.csv" and done["key"] == "products.csv"  # no server paths
    assert store.get_entity("product:K9") is None


def test_uploads_of_one_name_are_refused_and_folders_kept_apart(
    client: TestClient, store: GraphStore
) -> None:
    twice = _upload("products.csv") + _upload("products.csv")
    refused = client.post("/ingest", files=twice)
    assert refused.status_code == 409 and "products.csv" in refused.json()["detail"]

    apart = [
        ("files", ("north/topics.csv", b"topic_id,name\nT1,Waterproofing\n", "text/csv")),
        ("files", ("south/topics.csv", b"topic_id,name\nT2,\xe9\x98\xb2\xe5\xb0\x98 Dust\n", "text/csv")),
    ]
    job = client.post("/ingest", files=apart).json()
    assert job["files"] == ["north/topics.csv", "south/topics.csv"]
    assert client.get(job["status_url"]).json()["status"] == "done"
    assert store.get_entity("topic:T1") is not None and store.get_entity("topic:T2") is not None


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ckn.api.jobs.MAX_UPLOAD_BYTES", 1000)
    app = create_app(Settings(home=tmp_path / "home"), store=store)

    def body():  # type: ignore[no-untyped-def]
        yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="big.csv"\r\n\r\n'
        for _ in range(10_000):  # 10 MB, chunked (no Content-Length)
            yield b"x" * 1000

    with TestClient(app, raise_server_exceptions=False) as client:
        declared = client.post("/ingest", files=[("files", ("big.csv", b"a,b\n" * 100_000, "text/csv"))])
        streamed = client.post(
            "/ingest", content=body(), headers={"content-type": "multipart/form-data; boundary=x"}
        )
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert not any((tmp_path / "home" / "uploads").glob("*/*"))


def test_the_upload_limit_stops_reading_the_body_at_the_limit() -> None:
    read: list[int] = []
    answer: list[dict] = []  # type: ignore[type-arg]

    async def reads_everything(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        while (await receive()).get("more_body"):
            pass

    async def receive() -> dict:  # type: ignore[type-arg]
        read.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": len(read) < 10_000}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        answer.append(message)

    scope = {"type": "http", "method": "POST", "headers": []}
    asyncio.run(UploadLimit(reads_everything, limit=5000)(scope, receive, send))  # type: ignore[arg-type]

    assert len(read) == 6  # 6,000 bytes: one chunk past the limit, not ten thousand
    assert answer[0]["status"] == 413


def test_a_job_started_on_one_replica_is_followed_on_another_and_after_a_restart(
    store_factory: Callable[..., GraphStore], tmp_path: Path
) -> None:
    first, second = store_factory(), store_factory()  # two API processes of one store
    settings = Settings(home=tmp_path / "home")
    with TestClient(create_app(settings, store=first)) as one:
        job = one.post("/ingest", files=_upload("employees.csv", "customers.csv")).json()
        assert one.get(job["status_url"]).json()["status"] == "done"
    with TestClient(create_app(settings, store=second)) as other:  # the first one is gone
        done = other.get(job["status_url"]).json()
        missing = other.get("/ingest/jobs/0123456789ab")

    assert done["status"] == "done" and done["files"] == ["employees.csv", "customers.csv"]
    by_file = {f["path"]: f for f in done["report"]["files"]}
    assert by_file["customers.csv"]["quarantined"] == 4 and by_file["employees.csv"]["rows"] > 0
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_a_job_whose_server_stopped_shows_as_interrupted(
    client: TestClient, store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unheard of for a while by the store's clock, which every API process shares: a host's own clock,
    even one far off, does not count."""
    monkeypatch.setattr("ckn.graph.shared.INTERRUPTED_AFTER_S", 0.5)
    stopped = {"id": "5f0c1d2e3a4b", "status": "running", "files": ["客户 customers.csv"]}
    stopped |= {"created_at": "2026-12-01T09:00:00+00:00", "finished_at": None, "report": None, "error": None}
    store.save_job({**stopped, "heard_at": time.time() + 3600})  # a host an hour ahead says it heard it
    store.save_job({**stopped, "id": "7e8f9a0b1c2d", "kind": "erasure", "files": [], "heard_at": time.time()})
    time.sleep(0.7)
    waiting = {**stopped, "id": "6a7b8c9d0e1f", "status": "queued", "heard_at": time.time() - 3600}
    store.save_job(waiting)  # and one an hour behind

    shown = client.get("/ingest/jobs/5f0c1d2e3a4b").json()
    assert shown["status"] == "interrupted" and "uploading the same files again resumes" in shown["error"]
    assert shown["files"] == ["客户 customers.csv"] and "heard_at" not in shown
    assert client.get("/ingest/jobs/6a7b8c9d0e1f").json()["status"] == "queued"  # still heard of
    erasure = client.get("/erasures/7e8f9a0b1c2d").json()
    assert erasure["status"] == "interrupted" and "erase the same customer again" in erasure["error"]
    assert client.get("/ingest/jobs/7e8f9a0b1c2d").status_code == 404


def test_a_held_job_is_heard_of_while_its_server_runs_and_interrupted_once_it_stopped(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ckn.api.jobs.HEARTBEAT_S", 0.05)
    monkeypatch.setattr("ckn.graph.shared.INTERRUPTED_AFTER_S", 0.5)
    settings = Settings(home=tmp_path / "home")
    app = create_app(settings, store=store)
    with TestClient(app) as client:
        job, _ = app.state.jobs.create()
        app.state.jobs.hold(job, store)  # queued behind another ingest, say
        first = _heard(store, job.id)
        time.sleep(1.0)  # twice as long as a job may go unheard of
        waiting = client.get(f"/ingest/jobs/{job.id}").json()
        assert _heard(store, job.id) > first and waiting["status"] == "queued"
    with TestClient(create_app(settings, store=store)) as other:  # the server holding it stopped
        time.sleep(1.0)
        stopped = other.get(f"/ingest/jobs/{job.id}").json()
    assert stopped["status"] == "interrupted" and stopped["error"]


def _heard(store: GraphStore, job_id: str) -> float:
    """When the store last heard of a job, by this process's clock (the store's own says how long ago)."""
    record = store.get_job(job_id)
    assert record is not None
    return time.time() - float(record["heard_s_ago"])


def test_a_job_whose_record_cannot_be_kept_is_still_followed_where_it_runs(
    client: TestClient, store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def away(record: dict[str, object]) -> None:
        raise StoreUnavailable("the store does not answer")

    monkeypatch.setattr(store, "save_job", away)
    job = client.post("/ingest", files=_upload("employees.csv")).json()
    done = client.get(job["status_url"])

    assert done.status_code == 200 and done.json()["status"] == "done"
