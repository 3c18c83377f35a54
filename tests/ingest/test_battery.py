"""Nothing lost: a sequence of ordinary imports, with the invariant checked after every step (every store).

The invariant: every fact of every source is in the store unless the user replaced or deleted that
source, and running the same step again changes nothing.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ckn.graph.model import NodeKind
from ckn.graph.store import GraphStore
from ckn.ingest.pipeline import Replace, ingest_paths
from tests.ingest.test_resume import CKN, _bundle, _env

BUNDLE = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"


class Ledger:
    """What the store must hold: the facts each source supported when it was ingested."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.facts: dict[str, set[str]] = {}

    def _supported(self) -> dict[str, set[str]]:
        by_source: dict[str, set[str]] = {}
        graph = self.store.project()
        entities = self.store.get_entities(list(graph.nodes))
        for entity in entities.values():
            for source in {p.source_id for p in entity.provenance}:
                by_source.setdefault(source, set()).add(entity.id)
        relations = self.store.get_relations_by_id([key for _, _, key in graph.edges(keys=True)])
        for relation in relations.values():
            for source in {p.source_id for p in relation.provenance}:
                by_source.setdefault(source, set()).add(relation.id)
        return by_source

    def record(self, retired: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Take in the sources a step added; forget those the user replaced."""
        for source in retired:
            self.facts.pop(source)
        for source, facts in self._supported().items():
            self.facts.setdefault(source, facts)

    def check(self) -> None:
        """Every fact of every live source is there."""
        present = set().union(*self._supported().values())
        for source, facts in self.facts.items():
            lost = facts - present
            assert not lost, f"{source} lost {sorted(lost)[:5]}"

    def snapshot(self) -> tuple[dict, list]:  # type: ignore[type-arg]
        graph = self.store.project()
        return dict(graph.nodes(data=True)), sorted(graph.edges(keys=True))


def _other_company(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "topics.csv").write_text("topic_id,name\nT01,防水 Waterproofing\n", encoding="utf-8")
    (folder / "employees.csv").write_text("employee_id,name\nE90,赵敏 Zhao Min\n", encoding="utf-8")
    (folder / "customers.csv").write_text(
        "customer_id,name,owner_employee_id\nC900,Northwind Traders,E90\n", encoding="utf-8"
    )
    (folder / "interactions.csv").write_text(
        "interaction_id,occurred_at,channel,employee_id,customer_id,subject\n"
        "N-1,2026-11-03,拜访,E90,C900,防水测试\nN-2,2026-11-20,email,E90,C101,Follow-up\n",
        encoding="utf-8",
    )
    return folder


@pytest.mark.slow
def test_ordinary_imports_lose_nothing_step_by_step(
    store: GraphStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue("neo4j_target").uri if store.backend == "neo4j" else ""
    home = tmp_path / "home"
    env = _env(store, home, uri)
    ledger = Ledger(store)

    def step(*paths: Path, retired: set[str] = frozenset(), **kw) -> None:  # type: ignore[no-untyped-def, assignment]
        ingest_paths(store, list(paths), quarantine_dir=home / "quarantine", batch_size=9, **kw)
        ledger.record(retired)
        ledger.check()
        before = ledger.snapshot()
        ingest_paths(store, list(paths), quarantine_dir=home / "quarantine", batch_size=9, **kw)
        assert ledger.snapshot() == before, "running the same step again changed the store"

    def cli(*args: str) -> subprocess.Popen[bytes]:
        command = [*CKN, "ingest", *args, "--quarantine-dir", str(home / "quarantine")]
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    bundle = tmp_path / "full-2026-11"
    shutil.copytree(BUNDLE, bundle)
    step(bundle)  # a full export
    step(_other_company(tmp_path / "northwind"))  # another folder, the same file names
    step(bundle)  # the same files again

    delta = tmp_path / "delta-w49"
    delta.mkdir()
    (delta / "interactions.csv").write_text(
        "interaction_id,occurred_at,channel,employee_id,customer_id,subject\n"
        "T-990,2026-12-01,电话,E01,C101,校准回访\n",
        encoding="utf-8",
    )
    step(delta)  # a delta after the full export

    products = bundle / "products.csv"
    old = {s.id for s in store.list_entities(NodeKind.SOURCE) if s.name == "products.csv"}
    products.write_text(products.read_text(encoding="utf-8").replace("K9,", "K9X,"), encoding="utf-8")
    step(products, retired=old, replace=Replace(confirmed=True))  # a replace, asked for

    concurrent = tmp_path / "concurrent"
    _bundle(concurrent, 300)
    both = [cli(str(concurrent)), cli(str(concurrent))]  # two ingests at once
    for proc in both:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 3 and b"Traceback" not in err, err.decode()
    ledger.record()
    ledger.check()

    killed = tmp_path / "killed"
    _bundle(killed, 1500)
    version = store.stats().graph_version
    proc = cli(str(killed))
    while proc.poll() is None and store.stats().graph_version < version + random.Random(3).randint(3, 8):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # kill -9 in the middle
    proc.communicate()
    ledger.check()  # what was there before is still there
    rerun = cli(str(killed))
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 3, err.decode()
    ledger.record()
    ledger.check()
    assert store.get_entity("customer:K1499") is not None
