"""Run every benchmark at one scale and write ``results.json``, ``results.md`` and ``results.png``.

Every figure is a ratio to a reference measured in the same run, subject and reference alternating
(A B A B ...) so that load on the shared machine hits both alike; medians are reported, with the
versions of what ran. Parts:

1. ingest into the embedded store (structured rows vs a bare batched SQLite write; text vs bare
   ``nlp.pipe``), on the structured files and a slice of the interactions;
2. structured ingest into Neo4j vs a bare ``UNWIND CREATE`` (needs Java and Maven, as the tests do);
3. the whole bundle into the embedded store once: time, peak memory, bytes per relationship;
4. query latency through HTTP on that store vs ``/healthz``;
5. live answers (:mod:`bench.live_bench`): cold start, freshness after another process writes and
   memory of ``ckn serve``, on that store and on Neo4j holding a copy of it;
6. the web app's views in Debian's Chromium over ``ckn serve`` on that store: time to each answer on
   screen (:mod:`bench.web_bench`);
7. network analysis at a million edges (a hundred thousand at ``tiny`` and ``small``) vs igraph;
8. referral trees where customers refer each other in rings, on both stores, against the walk the
   contract suite checks trees with (:mod:`bench.rings_bench`; the same at every scale).
"""

from __future__ import annotations

import json
import platform
import resource
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ckn.bench.analysis_bench import run_analysis_benchmarks
from ckn.bench.common import line, rss_mb
from ckn.bench.ingest_bench import prepare, run_ingest_benchmarks
from ckn.bench.live_bench import run_live_parts
from ckn.bench.neo4j_bench import run_neo4j_benchmarks
from ckn.bench.query_bench import run_query_benchmarks
from ckn.bench.rings_bench import run_rings_benchmarks
from ckn.bench.web_bench import run_web_benchmarks
from ckn.graph.embedded_store import EmbeddedStore
from ckn.ingest.pipeline import ingest_paths

ANALYSIS_NODES = {"tiny": 10_000, "small": 10_000, "medium": 100_000, "large": 100_000}
"""Nodes of the synthetic analysis network (about ten edges each)."""
PARTS = ("ingest", "neo4j", "bundle", "queries", "live", "web", "analysis", "rings")


def run(scale: str, pairs: int, out: Path, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Run the benchmarks, write the results under ``out`` and return them."""
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    bundle, structured = prepare(scale, work)
    lines: list[dict[str, Any]] = []
    started = time.perf_counter()
    results: dict[str, Any] = {"scale": scale, "pairs": pairs, "lines": lines, "versions": _versions()}

    def save() -> None:  # after every part: a part that fails later loses nothing measured before it
        results["seconds"] = round(time.perf_counter() - started)
        (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
        (out / "results.md").write_text(table(results), encoding="utf-8")

    if "ingest" in parts:
        lines += run_ingest_benchmarks(bundle, structured, pairs, work)
        save()
    if "neo4j" in parts:
        lines += run_neo4j_benchmarks(structured, work, pairs)
        save()
    store_dir = work / f"query-store-{scale}"
    if "bundle" in parts or ("queries" in parts and not (store_dir / "done").exists()):
        lines.append(_whole_bundle(bundle, store_dir, work))
        save()
    if "queries" in parts:
        lines += run_query_benchmarks(store_dir, work)
        save()
    if "live" in parts:
        small_dir = None
        if scale != "small":
            small_bundle, _ = prepare("small", work)
            small_dir = work / "query-store-small"
            if not (small_dir / "done").exists():
                _whole_bundle(small_bundle, small_dir, work)
        if not (store_dir / "done").exists():
            lines.append(_whole_bundle(bundle, store_dir, work))
        lines += run_live_parts(store_dir, small_dir, work, scale)
        save()
    if "web" in parts:
        if not (store_dir / "done").exists():
            lines.append(_whole_bundle(bundle, store_dir, work))
        lines += run_web_benchmarks(store_dir, work, scale)
        save()
    if "analysis" in parts:
        lines += run_analysis_benchmarks(work, pairs, nodes=ANALYSIS_NODES.get(scale, 100_000))
        save()
    if "rings" in parts:
        lines += run_rings_benchmarks(work)
    save()
    chart(results, out / "results.png")
    return results


def _whole_bundle(bundle: Path, store_dir: Path, work: Path) -> dict[str, Any]:
    """The whole generated bundle into a fresh embedded store, once (it is also the query store)."""
    shutil.rmtree(store_dir, ignore_errors=True)
    before = rss_mb()
    store = EmbeddedStore(store_dir)
    started = time.perf_counter()
    report = ingest_paths(store, [bundle], quarantine_dir=work / "query-q")
    seconds = time.perf_counter() - started
    relations = sum(store.stats().relations.values())
    store.close()
    (store_dir / "done").write_text("ok\n", encoding="utf-8")
    on_disk = sum(f.stat().st_size for f in store_dir.glob("ckn.sqlite3*"))
    rows = sum(f.rows for f in report.files)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return line(
        f"whole bundle into the embedded store ({rows:,} rows, {relations:,} relationships)",
        f"{seconds:,.0f} s, {rows / seconds:,.0f} rows/s, {relations / seconds:,.0f} relationships/s",
        f"peak RSS {peak:,.0f} MB (started at {before:,.0f} MB); store {on_disk / 2**20:,.0f} MB on disk, "
        f"{on_disk / max(relations, 1):,.0f} bytes per relationship",
        None,
        "reported (the large bundle must ingest and serve on one 24 GB machine)",
        True,
    )


def _versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("ckn", "networkx", "igraph", "leidenalg", "spacy", "neo4j", "fastapi", "uvicorn"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def table(results: dict[str, Any]) -> str:
    """The Markdown table of a run."""
    rows = [
        f"Scale {results['scale']}, {results['pairs']} A/B pairs, {results['seconds']} s; "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
        "",
        "| benchmark | subject | reference | ratio | target | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for found in results["lines"]:
        ratio = "" if found["ratio"] is None else f"{found['ratio']:.2f}"
        verdict = "pass" if found["pass"] else "MISS"
        if found["target"].startswith("reported"):
            verdict = "-"
        rows.append(
            f"| {found['name']} | {found['subject']} | {found['reference']} | {ratio} "
            f"| {found['target']} | {verdict} |"
        )
    return "\n".join(rows) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    """A bar chart of the ratios: green where the target is met, red where missed, grey if only reported."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [f for f in results["lines"] if f["ratio"] is not None]
    if not measured:
        return
    figure, axes = plt.subplots(figsize=(10, 0.45 * len(measured) + 1.2))
    labels = [f["name"].split(" (")[0][:60] for f in measured]
    axes.barh(
        labels,
        [f["ratio"] for f in measured],
        color=[_colour(f) for f in measured],
    )
    axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel("ratio to the same-run reference (log scale; see the target of each line)")
    axes.set_title(f"ckn benchmarks, scale {results['scale']}: green meets its target, red misses it")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _colour(found: dict[str, Any]) -> str:
    if found["target"].startswith("reported"):
        return "#9a9a9a"
    return "#3a9d5d" if found["pass"] else "#c8553d"
