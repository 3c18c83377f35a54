"""Network analysis at a million edges, against igraph on the same projection.

A synthetic network with community structure (``nodes`` customers in communities of 100, each
customer knowing ~18 people of its own community and ~4 outside) is written into the embedded store
as ``KNOWS`` relations, projected with :func:`queries.analysis.network` as a user's question would,
and then each measure is timed against igraph on an igraph graph built directly from the same edges:

- PageRank (weighted) against ``Graph.pagerank``;
- communities (Leiden, modularity) against ``Graph.community_leiden`` with the same parameters;
- sampled betweenness against ``Graph.betweenness`` from the same seeded sources.

The projection itself and its one-off igraph copy (both cached per graph version) are reported apart,
with the memory they take.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path
from typing import Any

import igraph as ig
import numpy as np

from ckn.bench.common import alternate, line, rss_mb, timed
from ckn.graph.embedded_store import EmbeddedStore
from ckn.graph.model import Batch, Entity, NodeKind, Provenance, Relation, RelType
from ckn.queries import analysis

COMMUNITY = 100
SOURCES = 64
"""Sources of the sampled betweenness (the same seeded sample for ckn and igraph)."""


def synthetic_edges(nodes: int, seed: int = 7) -> np.ndarray:
    """Unique undirected edges (u < v) with planted communities of :data:`COMMUNITY` nodes."""
    rng = np.random.default_rng(seed)
    inside_u = np.repeat(np.arange(nodes), 9)
    inside_v = inside_u // COMMUNITY * COMMUNITY + rng.integers(0, COMMUNITY, len(inside_u))
    outside_u = np.repeat(np.arange(nodes), 2)
    outside_v = rng.integers(0, nodes, len(outside_u))
    u = np.concatenate([inside_u, outside_u])
    v = np.minimum(np.concatenate([inside_v, outside_v]), nodes - 1)
    pairs = np.stack([np.minimum(u, v), np.maximum(u, v)], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0)


def _write(store: EmbeddedStore, nodes: int, edges: np.ndarray, chunk: int = 50_000) -> None:
    evidence = (Provenance(source_id="source:bench", locator="synthetic", extractor="bench"),)
    people = [
        Entity(id=f"customer:S{i:07d}", kind=NodeKind.CUSTOMER, name=f"S{i}", provenance=evidence)
        for i in range(nodes)
    ]
    for start in range(0, nodes, chunk):
        store.write(Batch(entities=tuple(people[start : start + chunk])))
    for start in range(0, len(edges), chunk):
        store.write(
            Batch(
                relations=tuple(
                    Relation(
                        type=RelType.KNOWS,
                        source=f"customer:S{u:07d}",
                        target=f"customer:S{v:07d}",
                        props={"weight": 1.0},
                        provenance=evidence,
                    )
                    for u, v in edges[start : start + chunk]
                )
            )
        )


def run_analysis_benchmarks(work: Path, pairs: int, nodes: int = 100_000) -> list[dict[str, Any]]:
    """Lines for PageRank, communities and sampled betweenness (ckn vs igraph), plus size and memory."""
    folder = work / "analysis-store"
    edges = synthetic_edges(nodes)
    marker = folder / "done"
    if not marker.exists() or marker.read_text(encoding="utf-8").strip() != str(len(edges)):
        shutil.rmtree(folder, ignore_errors=True)
        store = EmbeddedStore(folder)
        _write(store, nodes, edges)
        store.close()
        marker.write_text(f"{len(edges)}\n", encoding="utf-8")
    store = EmbeddedStore(folder)
    before = rss_mb()
    project_s = timed(lambda: analysis.network(store, "knows"))
    graph = analysis.network(store, "knows")
    projected = rss_mb()
    convert_s = timed(lambda: analysis.pagerank(graph))  # the first call also makes the igraph copy
    converted = rss_mb()
    n_edges = graph.number_of_edges()
    reference = ig.Graph(n=nodes, edges=edges.tolist(), directed=False)
    reference.es["weight"] = [1.0] * len(edges)
    names = sorted(graph.nodes)
    sources = analysis.sample_sources(len(names), SOURCES, seed=7)
    size = f"{graph.number_of_nodes():,} nodes, {n_edges:,} edges"
    lines = [
        line(
            f"projection of the knows network ({size}), embedded store",
            f"{project_s:.1f} s, +{projected - before:,.0f} MB "
            f"({(projected - before) * 2**20 / n_edges:,.0f} bytes/edge)",
            f"igraph copy {convert_s:.1f} s (with the first PageRank), +{converted - projected:,.0f} MB",
            None,
            "reported (once per graph version, cached)",
            True,
        )
    ]
    subject, ref = alternate(
        lambda: timed(lambda: analysis.pagerank(graph)),
        lambda: timed(lambda: reference.pagerank(weights="weight", directed=False)),
        pairs,
    )
    lines.append(_versus(f"PageRank ({size})", subject, ref, "igraph pagerank", 1.5))
    subject, ref = alternate(
        lambda: timed(lambda: analysis.communities(graph, method="leiden")),
        lambda: timed(
            lambda: reference.community_leiden(
                objective_function="modularity", weights="weight", n_iterations=-1
            )
        ),
        pairs,
    )
    lines.append(_versus(f"communities, Leiden ({size})", subject, ref, "igraph community_leiden", 3.0))
    subject, ref = alternate(
        lambda: timed(lambda: analysis.betweenness(graph, sample=SOURCES)),
        lambda: timed(lambda: reference.betweenness(sources=sources, directed=False)),
        pairs,
    )
    lines.append(
        _versus(f"betweenness, {SOURCES} sampled sources ({size})", subject, ref, "igraph betweenness", 1.5)
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store_bytes = sum(f.stat().st_size for f in folder.glob("ckn.sqlite3*"))
    lines.append(
        line(
            f"embedded store on disk ({n_edges:,} relations)",
            f"{store_bytes / 2**20:,.0f} MB ({store_bytes / n_edges:,.0f} bytes/edge)",
            f"peak RSS of the benchmark so far {peak:,.0f} MB",
            None,
            "reported",
            True,
        )
    )
    store.close()
    return lines


def _versus(name: str, subject: float, reference: float, what: str, most: float) -> dict[str, Any]:
    return line(
        name,
        f"ckn {subject:.2f} s",
        f"{what} {reference:.2f} s",
        subject / reference,
        f"<= {most:g}x igraph (time)",
        subject / reference <= most,
    )


def main() -> None:
    """``python -m ckn.bench.analysis_bench``: only this benchmark (for development)."""
    started = time.perf_counter()
    for found in run_analysis_benchmarks(Path("bench/results/work"), pairs=5):
        print(found)
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
