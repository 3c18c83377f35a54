"""What is remembered between questions (every store): answers never push out what answers rely on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ckn.api.answers import AnalysisOptions, analysis_answer, experts_answer
from ckn.api.demo import load_sample
from ckn.graph.cache import Tier, cached, follow
from ckn.graph.errors import Computing
from ckn.graph.model import Batch
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore, Limits
from ckn.queries import evidence
from tests.factories import customer


def test_many_distinct_analysis_requests_keep_the_evidence_index(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_sample(store, tmp_path / "quarantine")
    evidence.evidence_index(store)  # built: kept from now on
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


def test_a_serving_process_applies_writes_from_another_as_they_land(
    store_factory: Callable[..., GraphStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept structures follow the writes, so the next question does not apply them itself."""
    served = store_factory()
    load_sample(served, tmp_path / "quarantine")
    kept = evidence.evidence_index(served)
    stop = threading.Event()
    follower = follow(served, stop, every_s=0.01)
    try:
        other = store_factory()
        other.write(Batch(entities=(customer("customer:new-follow", "新客户 Followed"),)))
        version = other.graph_version()
        entry = served.caches.kept[("evidence-index",)]
        for _ in range(500):  # applied in the background (at most five seconds)
            if entry.state and entry.state[0] == version:
                break
            stop.wait(0.01)
        monkeypatch.setattr(evidence, "advance", lambda *a: pytest.fail("the question applied the write"))
        assert experts_answer(served, Settings(), "X200")["experts"]
        assert entry.state is not None and entry.state[0] == version and entry.state[1] is not kept
    finally:
        stop.set()
        follower.join()  # before the stores close under it
