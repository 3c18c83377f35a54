"""The data generator: deterministic, messy in the planned ways, and ingestible."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ckn.graph.embedded_store import EmbeddedStore
from ckn.graph.errors import InvalidInput
from ckn.graph.model import NodeKind, RelType
from ckn.graph.store import Direction
from ckn.ingest.generate import _Weights, generate
from ckn.ingest.pipeline import ingest_paths


def _bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_same_seed_gives_the_same_bundle_and_another_seed_another(tmp_path: Path) -> None:
    generate(tmp_path / "a", "tiny", seed=3)
    generate(tmp_path / "b", "tiny", seed=3)
    generate(tmp_path / "c", "tiny", seed=4)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert _bytes(tmp_path / "a") != _bytes(tmp_path / "c")
    with pytest.raises(InvalidInput, match="unknown scale"):
        generate(tmp_path / "d", "huge")


def test_referrers_are_drawn_as_weighted_choices_would_draw_them() -> None:
    """The fast draw keeps bundles of a seed what they were (the same random numbers, the same picks)."""
    rng, twin = random.Random(11), random.Random(11)
    weights: list[int] = []
    fast = _Weights(500)
    for i in range(500):
        if i and rng.random() < 0.5:
            expected = rng.choices(range(len(weights)), weights=weights)[0]
            twin.random()
            assert fast.pick(twin) == expected
            weights[expected] += 3
            fast.add(expected, 3)
        elif i:
            twin.random()
        weights.append(1 + i % 4)
        fast.append(1 + i % 4)
    assert fast.total == sum(weights)


def test_the_bundle_is_messy_as_planned_and_ingests_with_its_duplicates_merged(tmp_path: Path) -> None:
    truth = generate(tmp_path / "bundle", "tiny", seed=5)
    customers = (tmp_path / "bundle" / "customers.csv").read_text(encoding="utf-8")
    assert any("\uff10" <= c <= "\uff19" for c in customers)  # full-width digits
    with pytest.raises(UnicodeDecodeError):
        (tmp_path / "bundle" / "feedback.csv").read_text(encoding="utf-8")  # GB18030
    assert json.loads((tmp_path / "bundle" / "truth.json").read_text(encoding="utf-8")) == truth

    store = EmbeddedStore(tmp_path / "store")
    report = ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")

    by_name = {Path(f.path).name: f for f in report.files}
    assert (
        by_name["hubspot_contacts.csv"].written.entities.created <= 1
    )  # all known people, one harvested org
    assert by_name["contacts.vcf"].written.entities.created <= 1
    assert {Path(f.path).name for f in report.files if f.status != "ingested"} == {"truth.json"}  # skipped
    assert 0 < report.quarantined < 50
    topic = next(iter(truth["topics"]))
    tacit = truth["topics"][topic]["tacit_holder"]
    resolved = store.get_relations(
        f"employee:{tacit}", types=[RelType.RESOLVED], direction=Direction.OUT, limit=1000
    )
    authored = store.get_relations(f"employee:{tacit}", types=[RelType.AUTHORED], direction=Direction.OUT)
    assert len(resolved) >= 5 and authored == []  # behaviour, no documents: a tacit holder
    assert store.stats().entities[NodeKind.KNOWLEDGE_ITEM.value] == 10 + 2 * 2  # documents, long articles
    store.close()
