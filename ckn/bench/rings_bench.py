"""Referral trees where customers refer each other in rings, on both stores.

Customers who refer the next one, one further along and one at random make rings within rings: every
customer is reached along many paths. A read that traces paths instead of customers blows up there
while an ordinary bundle's trees stay fast, so this shape is measured apart. The subject is the
answer the API gives (:func:`queries.referrals.referral_tree`, the top referrer's tree to depth 6);
the reference is the same answer cut from the step-by-step walk the contract suite checks every
store's read against (:func:`graph.traversal.referrals_below`), in the same run, alternating. The
answers must be equal; the times are reported (the tree holds 3,520 customers; the medium bundle's
top referrer's, which the 100 ms target is for, 1,881).
"""

from __future__ import annotations

import random
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ckn.bench.common import line, timed
from ckn.bench.query_bench import _percentile
from ckn.graph import traversal
from ckn.graph.embedded_store import EmbeddedStore
from ckn.graph.model import Batch, Entity, NodeKind, Provenance, Relation, RelType
from ckn.graph.store import GraphStore
from ckn.queries.referrals import TreeNode, _tree_below, referral_tree, referrers

CUSTOMERS = 4_000
STEPS = (1, 37)
"""Each customer refers the next one and the one this far along (the rings)."""
HUBS, BY_A_HUB = 300, 0.6
"""The share of customers referred by one of the first ``HUBS`` (who refer dozens each)."""
AT_RANDOM = 0.2
"""The share of customers who also refer one at random (rings within rings)."""
CALLS, DEPTH, CYCLES = 20, 6, 20


def rings(customers: int = CUSTOMERS, seed: int = 11) -> Batch:
    """The customers and their referrals, bilingual names, evidence from one CRM export."""
    pick = random.Random(seed)
    seen = Provenance(source_id="src:rings.csv", observed_at=datetime(2026, 11, 2, tzinfo=UTC))
    people = tuple(
        Entity(id=f"customer:R{n:05d}", kind=NodeKind.CUSTOMER, name=f"圈{n} Ring {n}", provenance=(seen,))
        for n in range(customers)
    )
    pairs = {(a, (a + step) % customers) for a in range(customers) for step in STEPS}
    pairs |= {(pick.randrange(HUBS), b) for b in range(customers) if pick.random() < BY_A_HUB}
    pairs |= {(a, pick.randrange(customers)) for a in range(customers) if pick.random() < AT_RANDOM}
    referrals = tuple(
        Relation(type=RelType.REFERRED, source=people[a].id, target=people[b].id, provenance=(seen,))
        for a, b in sorted(pairs)
        if a != b
    )
    return Batch(entities=people, relations=referrals)


def _measured(store: GraphStore, label: str, written: Batch) -> dict[str, Any]:
    top = referrers(store, top=1)[0].customer_id

    def walked() -> tuple[TreeNode, list[list[str]]]:  # the contract suite's oracle, same answer shape
        return _tree_below(traversal.referrals_below(store, top, DEPTH), top, DEPTH, CYCLES)

    answer = referral_tree(store, top, max_depth=DEPTH, max_cycles=CYCLES)
    same = answer == walked()
    subject: list[float] = []
    reference: list[float] = []
    for _ in range(CALLS):
        subject.append(timed(lambda: referral_tree(store, top, max_depth=DEPTH, max_cycles=CYCLES)) * 1000)
        reference.append(timed(walked) * 1000)
    p95, walk = _percentile(subject, 0.95), _percentile(reference, 0.95)
    return line(
        f"referral tree on rings ({label}: {len(written.entities):,} customers, {len(written.relations):,} "
        f"referrals; the top referrer to depth {DEPTH}, {answer[0].branch_customers + 1:,} customers)",
        f"p95 {p95:,.1f} ms in process" + ("" if same else "; NOT the walk's tree"),
        f"the same tree from the step-by-step walk: p95 {walk:,.1f} ms",
        p95 / walk,
        "the walk's tree (times reported: the 100 ms target is the medium bundle's top referrer's)",
        same,
    )


def run_rings_benchmarks(work: Path) -> list[dict[str, Any]]:
    """The line of each store: the embedded store in ``work``, then Neo4j (started as the tests do)."""
    from ckn.graph.neo4j_store import Neo4jStore

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import neo4j_dev

    written = rings()
    folder = work / "rings-store"
    shutil.rmtree(folder, ignore_errors=True)
    embedded = EmbeddedStore(folder)
    try:
        embedded.write(written)
        lines = [_measured(embedded, "embedded", written)]
    finally:
        embedded.close()
    try:
        server = neo4j_dev.start()
    except neo4j_dev.Neo4jUnavailable as exc:
        return [*lines, line("referral tree on rings (Neo4j)", "not run", str(exc), None, "run", False)]
    try:
        store = Neo4jStore(server.uri, server.user, server.password, timeout_s=600)
        try:
            store.write(written)
            lines.append(_measured(store, "Neo4j", written))
        finally:
            store.close()
    finally:
        server.stop()
    return lines
