"""End to end: a generated bundle, ingested, gives back the truth planted in it."""

from __future__ import annotations

from pathlib import Path

from ckn.graph.embedded_store import EmbeddedStore
from ckn.ingest.generate import generate
from ckn.ingest.pipeline import ingest_paths
from ckn.queries.experts import experts
from ckn.queries.knowledge import bus_factor, departure_impact, tacit_holders


def test_planted_experts_tacit_holders_and_single_holder_topic_are_found(tmp_path: Path) -> None:
    truth = generate(tmp_path / "bundle", "small", seed=7)
    store = EmbeddedStore(tmp_path / "store")
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    try:
        for topic, roles in truth["topics"].items():
            tacit = [t.employee_id for t in tacit_holders(store, f"topic:{topic}")]
            top = [e.employee_id for e in experts(store, [f"topic:{topic}"], limit=2)]
            assert tacit[0] == f"employee:{roles['tacit_holder']}", topic
            assert f"employee:{roles['documented_expert']}" not in tacit, topic
            assert f"employee:{roles['documented_expert']}" in top, topic
        single = truth["single_holder_topic"]
        found = bus_factor(store, f"topic:{single['topic']}")
        assert (found.bus_factor, found.holders) == (1, [f"employee:{single['holder']}"])
        lost = [loss.subject_id for loss in departure_impact(store, f"employee:{single['holder']}")]
        assert f"topic:{single['topic']}" in lost
    finally:
        store.close()
