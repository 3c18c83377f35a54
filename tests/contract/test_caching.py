"""What is remembered between questions (every store): answers never push out what answers rely on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ckn.api.answers import AnalysisOptions, analysis_answer, experts_answer
from ckn.api.demo import load_sample
from ckn.graph.cache import Tier, cached
from ckn.graph.errors import Computing
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore, Limits
from ckn.queries import evidence


def test_many_distinct_analysis_requests_keep_the_evidence_index(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_sample(store, tmp_path / "quarantine")
    evidence.evidence_index(store)  # built: the embedded store keeps it from now on (Neo4j reads each time)
    builds = []
    real = evidence._build
    monkeypatch.setattr(evidence, "_build", lambda s: builds.append(1) or real(s))
    first = experts_answer(store, Settings(), "X200")

    for top in range(1, 101):  # 100 answers, each its own parameters
        analysis_answer(store, "knows", "pagerank", AnalysisOptions(top=top))
    again = experts_answer(store, Settings(), "X200")

    assert builds == [] and again == first


def test_a_request_does_not_wait_past_its_budget_for_what_another_is_computing(
    store_factory: Callable[..., GraphStore],
) -> None:
    store = store_factory(Limits(time_budget_s=0.2))
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(30)
        return "projection"

    first = threading.Thread(target=lambda: cached(store, ("slow",), slow, Tier.PROJECTION))
    first.start()
    started.wait(30)
    try:
        with pytest.raises(Computing) as waited:
            cached(store, ("slow",), lambda: "not this", Tier.PROJECTION)
    finally:
        release.set()
        first.join()

    assert int(waited.value.headers["Retry-After"]) >= 1
    assert cached(store, ("slow",), lambda: "not this", Tier.PROJECTION) == "projection"  # then kept
