"""An employee who opted out of expertise inference is in no answer that infers expertise (every store)."""

from __future__ import annotations

import json

import pytest

from ckn.api.answers import (
    AnalysisOptions,
    analysis_answer,
    bus_factor_answer,
    departure_answer,
    experts_answer,
    tacit_answer,
)
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore
from ckn.queries.knowledge import everyone_on, knowledge_map

PRIVATE = "employee:private"  # resolved six calibration complaints, and opted out


@pytest.mark.parametrize(
    "ask",
    [
        lambda s, cfg: experts_answer(s, cfg, "topic:calib", include_left=True),
        tacit_answer,
        lambda s, cfg: bus_factor_answer(s, cfg, "topic:calib"),
        lambda s, cfg: [h.__dict__ for h in everyone_on(s, "topic:calib", limit=100)],
        lambda s, cfg: knowledge_map(s, top=100),
        lambda s, cfg: departure_answer(s, cfg, "employee:wang"),
        lambda s, cfg: analysis_answer(s, "employee-topic", "export", AnalysisOptions(format="json")),
        lambda s, cfg: analysis_answer(s, "practice", "communities"),
        lambda s, cfg: analysis_answer(s, "employee-topic", "pagerank"),
    ],
    ids=["experts", "tacit", "bus-factor", "holders", "map", "departure", "export", "practice", "pagerank"],
)
def test_an_opted_out_colleague_is_in_no_expertise_answer(planted: GraphStore, ask) -> None:  # type: ignore[no-untyped-def]
    answer = ask(planted, Settings())
    assert PRIVATE not in json.dumps(answer, ensure_ascii=False, default=str)
