"""kill -9 in the middle of an ingest, then the same command again: nothing lost, nothing twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ckn.graph.model import NodeKind
from ckn.graph.store import GraphStore

CKN = [sys.executable, "-c", "from ckn.api.cli import main; main()"]


def _bundle(folder: Path, n: int) -> None:
    """Customers with forward referrals (to rows further down) and interactions, a few rows bad."""
    folder.mkdir(parents=True)
    lines = ["customer_id,name,email,phone,referred_by,lifetime_value"]
    for i in range(n):
        referrer = f"K{(i * 7 + 3) % n}" if i % 5 == 0 and (i * 7 + 3) % n != i else ""
        email = "broken-at-example" if i % 97 == 13 else f"kunde{i}@example.cn"
        lines.append(f"K{i},客户 {i} Kunde,{email},１３８{i:08d},{referrer},{i * 10}")
    (folder / "customers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = ["interaction_id,occurred_at,channel,customer_id,subject"]
    for i in range(n):
        channel = "fax" if i % 101 == 7 else "call"
        rows.append(f"I{i},2026-0{1 + i % 9}-1{i % 10},{channel},K{(i * 3) % n},回访 call {i}")
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _env(store: GraphStore, home: Path, neo4j_uri: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CKN_")}
    store_home = getattr(store, "home", home)  # the embedded store's own directory
    env.update(CKN_HOME=str(store_home), CKN_BATCH_SIZE="40", CKN_STORE=store.backend)
    if store.backend == "neo4j":
        from tests.conftest import neo4j_dev

        # a killed ingest's write lock outlives it by its lease: keep the test's waits short
        env.update(CKN_NEO4J_URI=neo4j_uri, CKN_NEO4J_PASSWORD=neo4j_dev.PASSWORD, CKN_NEO4J_LOCK_LEASE_S="1")
    return env


def _snapshot(store: GraphStore, home: Path) -> tuple[dict, list, list]:  # type: ignore[type-arg]
    graph = store.project()
    quarantine = sorted(
        line
        for f in (home / "quarantine").glob("*.jsonl")
        for line in f.read_text(encoding="utf-8").splitlines()
    )
    return dict(graph.nodes(data=True)), sorted(graph.edges(keys=True)), quarantine


def _forget(store: GraphStore) -> None:
    for source in store.list_entities(NodeKind.SOURCE):
        store.delete_source(source.id)
    assert store.stats().total_entities == 0


@pytest.mark.slow
def test_ingest_killed_again_and_again_resumes_to_the_same_graph(
    store: GraphStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue("neo4j_target").uri if store.backend == "neo4j" else ""
    bundle = tmp_path / "bundle"
    _bundle(bundle, 1500)
    home = tmp_path / "home"
    env = _env(store, home, uri)

    done = subprocess.run(
        [*CKN, "ingest", str(bundle), "--quarantine-dir", str(home / "quarantine")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3, done.stderr  # bad rows were quarantined
    expected = _snapshot(store, home)
    _forget(store)

    rng = random.Random(11)
    kills = 0
    for _ in range(20):
        version = store.stats().graph_version
        wanted = version + rng.randint(1, 6)  # let a few batches commit, then kill inside the next one
        proc = subprocess.Popen(
            [*CKN, "ingest", str(bundle), "--quarantine-dir", str(home / "quarantine")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        while proc.poll() is None and store.stats().graph_version < wanted:
            time.sleep(0.005)
        if proc.poll() is not None:
            proc.communicate()
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
    final = subprocess.run(
        [*CKN, "ingest", str(bundle), "--quarantine-dir", str(home / "quarantine")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert final.returncode == 3, final.stdout + final.stderr
    assert kills >= 5, "the ingest finished before it could be interrupted; make the bundle larger"
    nodes, edges, quarantine = _snapshot(store, home)
    assert nodes == expected[0]
    assert edges == expected[1]
    assert quarantine == expected[2]  # every bad row once, no good row
    assert len(quarantine) == len({json.loads(q)["line"] for q in quarantine if "customers" in q}) + len(
        [q for q in quarantine if "interactions" in q]
    )
