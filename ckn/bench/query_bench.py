"""Query latency through HTTP, against a trivial ``/healthz`` call measured in the same run.

The API runs on uvicorn on 127.0.0.1 over the embedded store holding an ingested generated bundle;
each endpoint and ``/healthz`` are called alternately (A B A B ...), and p50/p95/p99 are reported.
"""

from __future__ import annotations

import resource
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ckn.api.app import create_app
from ckn.bench.common import line, rss_mb
from ckn.graph.embedded_store import EmbeddedStore
from ckn.graph.settings import Settings

QUERIES = {
    "experts": "/experts?q=calibration",
    "experts on two subjects": "/experts?q=calibration drift",
    "who-knows": "/customers/customer:C0000001/relationships",
    "referral tree (depth 6)": "/customers/{top_referrer}/referrals?depth=6",
    "customer 360": "/customers/customer:C0000001",
    "search": "/search?q=calibration",
    "tacit": "/knowledge/tacit?topic=calibration",
    "bus factor": "/knowledge/bus-factor?subject=calibration",
    "holders": "/holders/topic:calibration",
    "intro paths": "/paths/intro?employee_id=employee:E00000&customer_id=customer:C0000001",
    "referrers": "/referrers?top=10",
    "referral stats": "/referrals/stats",
    "departure impact": "/employees/{top_expert}/departure-impact",
    "knowledge map": "/knowledge/map",
    "knowledge gaps": "/knowledge/gaps",
    "analysis: referrer PageRank": "/analysis/referral/pagerank?reverse=true",
}
TARGETS = {"experts": (50.0, 10.0), "referral tree (depth 6)": (100.0, None)}
"""p95 targets: milliseconds, and the most times the /healthz p95 (issue 6; stated there at 1M edges)."""


def _target_text(target: float | None, times: float | None) -> str:
    if target is None:
        return "reported"
    return f"p95 <= {target:g} ms" + (f" and <= {times:g}x /healthz" if times else "")


def _first_id(answer: Any) -> str:
    """The id of the first entry of a ranked answer (a list, or a dict holding one)."""
    ranked = answer if isinstance(answer, list) else next(v for v in answer.values() if isinstance(v, list))
    first = ranked[0]
    return str(first.get("id") or first.get("customer_id"))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_query_benchmarks(store_dir: Path, work: Path, calls: int = 50) -> list[dict[str, Any]]:
    """Latency lines for each query, as ratios to /healthz measured alternately.

    The first expert question after the store opens builds the evidence index (once per graph
    version); it is reported on its own line. Every query is called once before it is measured (what
    it caches per graph version is filled; that first call is reported too), then 50 times, or fewer
    for slow ones (at least 5), each call followed by a ``/healthz`` call.
    """
    before = rss_mb()
    store = EmbeddedStore(store_dir)
    relations = sum(store.stats().relations.values())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(Settings(home=work / "query-home"), store=store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    lines: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            started = time.perf_counter()
            client.get(QUERIES["experts"]).raise_for_status()
            cold = time.perf_counter() - started
            lines.append(
                line(
                    f"first expert question after a change ({relations:,} relationships)",
                    f"{cold:.1f} s (builds the evidence index for this graph version)",
                    "-",
                    None,
                    "reported",
                    True,
                )
            )
            top = client.get("/referrers", params={"top": 1}).json()
            expert = client.get(QUERIES["experts"]).json()["experts"][0]["employee_id"]
            values = {"top_referrer": _first_id(top), "top_expert": expert}
            for name, template in QUERIES.items():
                url = template.format(**values)
                subject, reference = [], []
                started = time.perf_counter()
                answer = client.get(url)  # a first call fills what is cached per graph version
                first = time.perf_counter() - started
                if answer.is_error:  # e.g. a cap of CKN_TIME_BUDGET_S or CKN_MAX_EXPANSION: say so
                    problem = answer.json()
                    lines.append(
                        line(
                            f"query {name} (HTTP, embedded store, {relations:,} relationships)",
                            f"HTTP {answer.status_code} after {first:.1f} s: {problem.get('detail')}",
                            "-",
                            None,
                            _target_text(*TARGETS.get(name, (None, None))),
                            name not in TARGETS,
                        )
                    )
                    continue
                for _ in range(calls if first < 0.2 else max(5, min(calls, int(10 / first)))):
                    started = time.perf_counter()
                    client.get(url).raise_for_status()
                    subject.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    client.get("/healthz").raise_for_status()
                    reference.append((time.perf_counter() - started) * 1000)
                p95, health95 = _percentile(subject, 0.95), _percentile(reference, 0.95)
                target, times = TARGETS.get(name, (None, None))
                lines.append(
                    line(
                        f"query {name} (HTTP, embedded store, {relations:,} relationships)",
                        f"p50 {statistics.median(subject):.1f} ms, p95 {p95:.1f} ms, "
                        f"p99 {_percentile(subject, 0.99):.1f} ms ({len(subject)} calls; "
                        f"first {first * 1000:,.0f} ms)",
                        f"/healthz p95 {health95:.1f} ms",
                        p95 / health95,
                        _target_text(target, times),
                        target is None or (p95 <= target and (times is None or p95 / health95 <= times)),
                    )
                )
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            lines.append(
                line(
                    f"memory of the serving process ({relations:,} relationships)",
                    f"RSS {rss_mb():,.0f} MB after every query above (views and indexes built)",
                    f"{before:,.0f} MB before the store opened; peak of the benchmark process {peak:,.0f} MB",
                    None,
                    "reported (the large bundle must ingest and serve on one 24 GB machine)",
                    True,
                )
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
    return lines
