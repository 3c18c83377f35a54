"""One writer at a time: a second ingest waits for the first, on every store, in and across processes."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ckn.graph.errors import StoreBusy
from ckn.graph.store import GraphStore
from ckn.ingest.pipeline import ingest_paths
from tests.ingest.test_resume import CKN, _env, _forget, _snapshot

BUNDLE = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"


def test_a_second_ingest_waits_for_the_first_and_says_so(
    store_factory: Callable[..., GraphStore], tmp_path: Path
) -> None:
    first, second = store_factory(), store_factory()  # two clients, as two processes would be
    told: list[str] = []
    products = BUNDLE / "products.csv"

    with first.writer(wait_s=1), pytest.raises(StoreBusy, match="another ingest"):
        ingest_paths(second, [products], quarantine_dir=tmp_path / "q", lock_wait_s=0.5, on_wait=told.append)
    assert len(told) == 1 and ":" in told[0]  # who holds it: host:pid:nonce
    assert second.get_entity("product:X200") is None  # it wrote nothing

    holding = threading.Event()

    def hold_a_while() -> None:
        with first.writer(wait_s=1):
            holding.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold_a_while)
    holder.start()
    holding.wait()
    report = ingest_paths(
        second, [products], quarantine_dir=tmp_path / "q", lock_wait_s=60, on_wait=told.append
    )
    holder.join()

    assert len(told) == 2 and [f.status for f in report.files] == ["ingested"]
    assert second.get_entity("product:X200") is not None


@pytest.mark.slow
def test_two_ingests_at_once_leave_the_store_one_ingest_leaves(
    store: GraphStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue("neo4j_target").uri if store.backend == "neo4j" else ""
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    home = tmp_path / "home"
    env = _env(store, home, uri)
    command = [*CKN, "ingest", str(bundle), "--quarantine-dir", str(home / "quarantine")]
    alone = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert alone.returncode == 3, alone.stderr  # the sample's bad rows were quarantined
    expected = _snapshot(store, home)
    _forget(store)

    both = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in (1, 2)
    ]
    outputs = [proc.communicate(timeout=600) for proc in both]

    for proc, (_, err) in zip(both, outputs, strict=True):
        assert proc.returncode == 3 and b"Traceback" not in err, err.decode()
    assert _snapshot(store, home) == expected
    again = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert set(again.stdout.split()) >= {"unchanged"} and "ingested" not in again.stdout.split()
    assert _snapshot(store, home) == expected  # a rerun changes nothing


def _ask(store: GraphStore, barrier: threading.Barrier, results: list[str], release: threading.Event) -> None:
    barrier.wait()
    try:
        with store.writer(wait_s=0):
            results.append("got")
            release.wait(10)
    except StoreBusy:
        results.append("busy")


def test_two_writers_asking_at_the_same_moment_never_both_get_the_lock(
    store_factory: Callable[..., GraphStore],
) -> None:
    first, second = store_factory(), store_factory()
    for _ in range(30):
        results: list[str] = []
        barrier, release = threading.Barrier(2), threading.Event()
        threads = [
            threading.Thread(target=_ask, args=(s, barrier, results, release)) for s in (first, second)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(results) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["busy", "got"], f"not one writer alone: {results}"


def test_two_threads_of_one_process_take_the_lock_in_turn(store: GraphStore) -> None:
    """An ingest job and an erasure of one API process: Neo4j's lease names the process, not the thread."""
    holding, release = threading.Event(), threading.Event()

    def ingest() -> None:
        with store.writer(wait_s=5):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(StoreBusy), store.writer(wait_s=0.3):
            pass
    finally:
        release.set()
        thread.join()
    with store.writer(wait_s=5), store.writer(wait_s=0):  # then it is free, and re-entrant in its thread
        pass
