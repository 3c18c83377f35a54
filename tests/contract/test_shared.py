"""What the API processes of one store share through it (every store): rate buckets and ingest jobs."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ckn.graph.audit import verify
from ckn.graph.shared import JOBS_KEPT_DAYS
from ckn.graph.store import GraphStore


def test_processes_taking_from_one_bucket_at_once_never_get_more_than_it_holds(
    store_factory: Callable[..., GraphStore],
) -> None:
    stores = [store_factory(), store_factory()]  # two processes of one store
    granted: list[int] = []
    started = time.monotonic()

    def client(store: GraphStore) -> None:
        for _ in range(40):
            granted.append(store.take_requests("bucket-a", 2, 60).granted)  # 60 a minute: one a second

    threads = [threading.Thread(target=client, args=(s,)) for s in stores for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refilled = time.monotonic() - started

    assert 60 <= sum(granted) <= 60 + refilled + 1  # 240 asks of two: the 60 it held, and what it gained
    refused = stores[0].take_requests("bucket-a", 1, 60)
    assert refused.granted == 0 or refilled > 1  # nothing left, unless a second passed since the last
    assert stores[1].take_requests("bucket-b", 5, 60).granted == 5  # another caller's bucket is full


def test_a_refusal_says_when_the_bucket_has_a_request_again(store: GraphStore) -> None:
    assert store.take_requests("批量 bucket", 30, 2).granted == 2  # two a minute: one every 30 s
    refused = store.take_requests("批量 bucket", 1, 2)
    assert refused.granted == 0 and 25 < refused.wait_s <= 30


def test_only_the_newest_job_records_are_kept(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"ckn.graph.{store.backend}_store.JOBS_KEPT", 3)
    now = datetime.now(UTC)
    record = {"status": "done", "files": ["客户.csv"], "finished_at": None, "report": None, "error": None}
    old = (now - timedelta(days=JOBS_KEPT_DAYS + 1)).isoformat()
    store.save_job({**record, "id": "job0", "created_at": old})  # past the days kept
    for day in range(1, 6):
        created = (now - timedelta(days=6 - day)).isoformat()
        store.save_job({**record, "id": f"job{day}", "created_at": created})
    last = {**record, "id": "job5", "created_at": created, "status": "failed", "error": "日志 log"}
    store.save_job(last)  # saved again: replaced

    kept = [store.get_job(f"job{day}") is not None for day in range(6)]
    assert kept == [False, False, False, True, True, True]
    again = store.get_job("job5")
    assert again is not None and 0 <= again.pop("heard_s_ago") < 60  # kept a moment ago, by the store's clock
    assert again == last


def test_processes_appending_to_the_audit_log_at_once_keep_one_chain(
    store_factory: Callable[..., GraphStore],
) -> None:
    stores = [store_factory(), store_factory()]

    def client(store: GraphStore, n: int) -> None:
        for i in range(15):
            store.append_audit({"who": f"key:{n}", "operation": "GET /experts", "i": i, "subjects": ["王芳"]})

    threads = [threading.Thread(target=client, args=(s, n)) for n, s in enumerate(stores * 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    entries = stores[1].read_audit(limit=1000)
    assert [e.seq for e in entries] == list(range(1, 91))
    assert verify(entries).intact
    assert sorted((e.record["who"], e.record["i"]) for e in entries) == sorted(
        (f"key:{n}", i) for n in range(6) for i in range(15)
    )


def test_buckets_full_again_are_dropped(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    module = f"ckn.graph.{store.backend}_store"
    monkeypatch.setattr(f"{module}.REFILL_S", 0.001)  # full again at once, as far as dropping goes
    monkeypatch.setattr(f"{module}.PRUNE_EVERY_S", 0.0)
    store.take_requests("address-bucket", 1, 60)
    time.sleep(0.05)
    store.take_requests("later-bucket", 1, 60)  # drops those full again

    assert "address-bucket" not in _buckets(store)


def _buckets(store: GraphStore) -> set[str]:
    """The buckets a store holds, looked at from outside the port."""
    if store.backend == "embedded":
        with sqlite3.connect(store.home / "shared.sqlite") as conn:  # type: ignore[attr-defined]
            return {key for (key,) in conn.execute("SELECT key FROM rates")}
    with store._driver.session() as session:  # type: ignore[attr-defined]
        return {r["key"] for r in session.run("MATCH (r:CknRate) RETURN r.key AS key")}
