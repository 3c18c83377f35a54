"""Structured ingest into Neo4j, against a bare ``UNWIND ... CREATE`` of the same nodes and relationships.

Both run on the same server (``scripts/neo4j_dev.py``: Neo4j Community 5.26 from Maven Central) with
the same driver, in batches of the same size, alternately; the database is emptied before each run.
The bare write creates what ckn's ingest created (ids, kinds, names, properties; relationships by
type), without parsing, normalising, resolving, merging or provenance.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import neo4j

from bench.common import alternate, line, timed
from graph.neo4j_store import Neo4jStore
from ingest.pipeline import ingest_paths

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import neo4j_dev

BATCH = 1000
_MATCH_ENDS = "UNWIND $rows AS r MATCH (a:BareNode {id: r.s}) MATCH (b:BareNode {id: r.t})"


def _wipe(driver: neo4j.Driver) -> None:
    """Empty the database, relationships first (a hub's relationships in one go overflow a 1 GB heap)."""
    with driver.session() as session:
        session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS").consume()
        session.run(
            "MATCH (n) WHERE NOT (n:CknMeta AND n.key = 'schema') "
            "CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


def _scalar_props(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and k not in {"type", "valid_from", "valid_to"}}


def run_neo4j_benchmarks(structured: Path, work: Path, pairs: int) -> list[dict[str, Any]]:
    """The Neo4j ingest line (relationships/s, and speed as a share of the bare write)."""
    name = "structured ingest, Neo4j 5.26 (Maven-started server)"
    try:
        server = neo4j_dev.start()
    except neo4j_dev.Neo4jUnavailable as exc:
        return [line(name, "not run", str(exc), None, ">= 10k relationships/s and >= 0.5x bare", False)]
    driver = neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password))
    shape: dict[str, Any] = {}
    try:

        def ckn() -> float:
            _wipe(driver)
            store = Neo4jStore(server.uri, server.user, server.password, timeout_s=600)
            try:
                seconds = timed(
                    lambda: shape.update(
                        report=ingest_paths(store, [structured], quarantine_dir=work / "neo4j-q")
                    )
                )
                if "nodes" not in shape:
                    graph = store.project()
                    shape["nodes"] = [{"id": n, "props": _scalar_props(d)} for n, d in graph.nodes(data=True)]
                    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
                    for u, v, d in graph.edges(data=True):
                        by_type[d["type"]].append({"s": u, "t": v, "props": _scalar_props(d)})
                    shape["relations"] = by_type
            finally:
                store.close()
            return seconds

        def bare() -> float:
            _wipe(driver)
            with driver.session() as session:
                session.run("CREATE INDEX bare_id IF NOT EXISTS FOR (n:BareNode) ON (n.id)").consume()
                session.run("CALL db.awaitIndexes()").consume()

            def write_nodes(tx: neo4j.ManagedTransaction, rows: list[dict[str, Any]]) -> None:
                tx.run(
                    "UNWIND $rows AS r CREATE (n:BareNode) SET n = r.props, n.id = r.id", rows=rows
                ).consume()

            def write_relations(tx: neo4j.ManagedTransaction, rows: list[dict[str, Any]], rtype: str) -> None:
                tx.run(f"{_MATCH_ENDS} CREATE (a)-[x:`{rtype}`]->(b) SET x = r.props", rows=rows).consume()

            def write() -> None:
                with driver.session() as session:
                    nodes = shape["nodes"]
                    for start in range(0, len(nodes), BATCH):
                        session.execute_write(write_nodes, nodes[start : start + BATCH])
                    for rtype, rels in shape["relations"].items():
                        for start in range(0, len(rels), BATCH):
                            session.execute_write(write_relations, rels[start : start + BATCH], rtype)

            return timed(write)

        ckn_s, bare_s = alternate(ckn, bare, pairs)
    finally:
        driver.close()
        server.stop()
    relations = sum(len(r) for r in shape["relations"].values())
    per_s, share = relations / ckn_s, bare_s / ckn_s
    rows = sum(f.rows for f in shape["report"].files)
    return [
        line(
            f"{name}: {rows:,} rows, {len(shape['nodes']):,} nodes, {relations:,} relationships",
            f"{per_s:,.0f} relationships/s ({ckn_s:.1f} s)",
            f"bare UNWIND CREATE {relations / bare_s:,.0f} relationships/s ({bare_s:.1f} s)",
            share,
            ">= 10k relationships/s and >= 0.5x the bare write (speed)",
            per_s >= 10_000 and share >= 0.5,
        )
    ]
