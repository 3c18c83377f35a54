"""What is remembered between questions (every store): answers never push out what answers rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckn.api.answers import AnalysisOptions, analysis_answer, experts_answer
from ckn.api.demo import load_sample
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore
from ckn.queries import evidence


def test_many_distinct_analysis_requests_keep_the_evidence_index(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_sample(store, tmp_path / "quarantine")
    builds = []
    real = evidence._build
    monkeypatch.setattr(evidence, "_build", lambda s: builds.append(1) or real(s))
    first = experts_answer(store, Settings(), "X200")

    for top in range(1, 101):  # 100 answers, each its own parameters
        analysis_answer(store, "knows", "pagerank", AnalysisOptions(top=top))
    again = experts_answer(store, Settings(), "X200")

    assert builds == [1] and again == first
