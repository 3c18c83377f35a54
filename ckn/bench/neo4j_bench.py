"""Structured ingest into Neo4j, against bare ``UNWIND ... CREATE`` writes of what it stored.

All run on the same server (``scripts/neo4j_dev.py``: Neo4j Community 5.26 from Maven Central) with
the same driver, alternately; the database is emptied before each run. Two references:

- the same rows: every node and relationship exactly as ckn's ingest stored them (labels, types, every
  property: ids, names, evidence, timestamps), read back from the database after ckn's first run, and
  written under the same schema (ckn's constraints and indexes) in transactions of ``SAME_BATCH``
  rows, without parsing, normalising, resolving, merging, locking or reading anything first. The
  target's ratio is taken against this one;
- minimal rows (reported): ids, kinds, names and user properties only, under one plain index, in
  transactions of ``BATCH`` rows (the reference of earlier runs, kept for comparison).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import neo4j

from ckn.bench.common import line, rounds, timed
from ckn.graph.cypher import ENTITY, label, rel_type
from ckn.graph.neo4j_store import Neo4jStore
from ckn.ingest.pipeline import ingest_paths

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))  # the checkout's scripts/
import neo4j_dev

BATCH = 1000
SAME_BATCH = 10_000
_MATCH_ENDS = "UNWIND $rows AS r MATCH (a:BareNode {id: r.s}) MATCH (b:BareNode {id: r.t})"


def _scalar_props(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and k not in {"type", "valid_from", "valid_to"}}


def _stored(driver: neo4j.Driver) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """What ckn stored: node properties by kind, relationships (ends and properties) by type."""
    nodes: dict[str, list[Any]] = defaultdict(list)
    relations: dict[str, list[Any]] = defaultdict(list)
    with driver.session() as session:
        for r in session.run(f"MATCH (n:{ENTITY}) RETURN n._kind AS kind, properties(n) AS props"):
            nodes[r["kind"]].append(r["props"])
        for r in session.run(
            f"MATCH (a:{ENTITY})-[x]->(b:{ENTITY}) RETURN a.id AS s, b.id AS t, type(x) AS type,"
            " properties(x) AS props"
        ):
            relations[r["type"]].append({"s": r["s"], "t": r["t"], "props": r["props"]})
    return nodes, relations


def _in_batches(session: neo4j.Session, text: str, rows: list[Any], size: int) -> None:
    """Run ``text`` over ``rows`` (``$rows``), one transaction per ``size`` rows."""

    def work(tx: neo4j.ManagedTransaction, chunk: list[Any]) -> None:
        tx.run(text, rows=chunk).consume()

    for start in range(0, len(rows), size):
        session.execute_write(work, rows[start : start + size])


def _write_same(driver: neo4j.Driver, nodes: dict[str, list[Any]], relations: dict[str, list[Any]]) -> None:
    with driver.session() as session:
        for kind, props in nodes.items():
            _in_batches(
                session, f"UNWIND $rows AS r CREATE (n:{ENTITY}:{label(kind)}) SET n = r", props, SAME_BATCH
            )
        for rtype, rels in relations.items():
            text = (
                f"UNWIND $rows AS r MATCH (a:{ENTITY} {{id: r.s}}) MATCH (b:{ENTITY} {{id: r.t}})"
                f" CREATE (a)-[x:{rel_type(rtype)}]->(b) SET x = r.props"
            )
            _in_batches(session, text, rels, SAME_BATCH)


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
            neo4j_dev.wipe(driver)
            store = Neo4jStore(server.uri, server.user, server.password, timeout_s=600)
            try:
                seconds = timed(
                    lambda: shape.update(
                        report=ingest_paths(store, [structured], quarantine_dir=work / "neo4j-q")
                    )
                )
                if "nodes" not in shape:
                    shape["same"] = _stored(driver)
                    graph = store.project()
                    shape["nodes"] = [{"id": n, "props": _scalar_props(d)} for n, d in graph.nodes(data=True)]
                    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
                    for u, v, d in graph.edges(data=True):
                        by_type[d["type"]].append({"s": u, "t": v, "props": _scalar_props(d)})
                    shape["relations"] = by_type
            finally:
                store.close()
            return seconds

        def same() -> float:
            neo4j_dev.wipe(driver)
            seconds = timed(lambda: _write_same(driver, *shape["same"]))
            written = driver.execute_query("MATCH ()-[x]->() RETURN count(x) AS n").records[0]["n"]
            if written != sum(len(r) for r in shape["relations"].values()):  # not the same rows: say so
                raise RuntimeError(f"the same-rows reference wrote {written} relationships, not ckn's")
            return seconds

        def bare() -> float:
            neo4j_dev.wipe(driver)
            with driver.session() as session:
                session.run("CREATE INDEX bare_id IF NOT EXISTS FOR (n:BareNode) ON (n.id)").consume()
                session.run("CALL db.awaitIndexes()").consume()

            def write() -> None:
                with driver.session() as session:
                    text = "UNWIND $rows AS r CREATE (n:BareNode) SET n = r.props, n.id = r.id"
                    _in_batches(session, text, shape["nodes"], BATCH)
                    for rtype, rels in shape["relations"].items():
                        text = f"{_MATCH_ENDS} CREATE (a)-[x:`{rtype}`]->(b) SET x = r.props"
                        _in_batches(session, text, rels, BATCH)

            return timed(write)

        ckn_s, same_s, bare_s = rounds([ckn, same, bare], pairs)
    finally:
        driver.close()
        server.stop()
    relations = sum(len(r) for r in shape["relations"].values())
    per_s, share = relations / ckn_s, same_s / ckn_s
    rows = sum(f.rows for f in shape["report"].files)
    name = f"{name}: {rows:,} rows, {len(shape['nodes']):,} nodes, {relations:,} relationships"
    subject = f"{per_s:,.0f} relationships/s ({ckn_s:.1f} s)"
    return [
        line(
            name,
            subject,
            f"bare UNWIND CREATE of the same rows (every stored property, same schema, {SAME_BATCH:,} rows"
            f" a transaction) {relations / same_s:,.0f} relationships/s ({same_s:.1f} s)",
            share,
            ">= 10k relationships/s and >= 0.5x the bare write (speed)",
            per_s >= 10_000 and share >= 0.5,
        ),
        line(
            f"{name}, against minimal rows",
            subject,
            f"bare UNWIND CREATE of ids, kinds, names and user properties ({BATCH:,} rows a transaction)"
            f" {relations / bare_s:,.0f} relationships/s ({bare_s:.1f} s)",
            bare_s / ckn_s,
            "reported",
            True,
        ),
    ]
