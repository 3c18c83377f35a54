"""Answers shared by the HTTP API and the CLI (``--json`` prints exactly what the endpoint returns)."""

from __future__ import annotations

from typing import Any

from graph.errors import InvalidInput
from graph.settings import Settings
from graph.store import GraphStore
from ingest.understand import subjects_of
from queries.experts import experts


def experts_answer(
    store: GraphStore,
    settings: Settings,
    query: str = "",
    *,
    product: str | None = None,
    customer: str | None = None,
    topic: str | None = None,
    limit: int = 10,
    include_left: bool = False,
) -> dict[str, Any]:
    """The experts on what ``query`` names (and on the product, customer, topic given by id or name)."""
    subjects = subjects_of(store, query) if query else []
    for named in (product, customer, topic):
        if named:
            found = subjects_of(store, named)
            if not found:
                raise InvalidInput(f"nothing known is called {named!r}")
            subjects += found
    subjects = list(dict.fromkeys(subjects))
    if not subjects:
        raise InvalidInput(f"no product, topic or customer recognised in {query!r}")
    ranked = experts(
        store,
        subjects,
        half_life_days=settings.expertise_half_life_days,
        include_left=include_left,
        limit=limit,
    )
    named_subjects = store.get_entities(subjects)
    return {
        "query": query,
        "subjects": [
            {"id": s, "name": named_subjects[s].name, "kind": named_subjects[s].kind.value} for s in subjects
        ],
        "experts": [
            {
                "employee_id": e.employee_id,
                "name": e.name,
                "score": e.score,
                "left": e.left,
                "focus": e.focus,
                "subjects": e.subjects,
                "evidence": [ev.__dict__ for ev in e.evidence],
            }
            for e in ranked
        ],
    }
