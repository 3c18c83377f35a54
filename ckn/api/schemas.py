"""Response models of the API (and of the CLI's ``--json``, which prints exactly the same)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ckn.graph.model import Entity, Provenance, Relation
from ckn.graph.store import Subgraph
from ckn.ingest.pipeline import IngestReport

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list; ``next_after`` is the cursor of the next page (None on the last)."""

    items: list[T]
    next_after: str | None


class ReviewDecision(BaseModel):
    """A reviewer's decision on a merge candidate."""

    entity_id: str
    candidate_id: str


class EntityOut(BaseModel):
    """An entity as the API shows it."""

    id: str
    kind: str
    name: str
    props: dict[str, Any]
    provenance: list[Provenance]

    @classmethod
    def of(cls, entity: Entity) -> EntityOut:
        """From the domain model."""
        return cls(
            id=entity.id,
            kind=entity.kind.value,
            name=entity.name,
            props=entity.props,
            provenance=list(entity.provenance),
        )


class RelationOut(BaseModel):
    """A relationship as the API shows it."""

    id: str
    type: str
    source: str
    target: str
    key: str
    props: dict[str, Any]
    valid_from: str | None
    valid_to: str | None
    provenance: list[Provenance]

    @classmethod
    def of(cls, rel: Relation) -> RelationOut:
        """From the domain model."""
        return cls(
            id=rel.id,
            type=rel.type.value,
            source=rel.source,
            target=rel.target,
            key=rel.key,
            props=rel.props,
            valid_from=rel.valid_from.isoformat() if rel.valid_from else None,
            valid_to=rel.valid_to.isoformat() if rel.valid_to else None,
            provenance=list(rel.provenance),
        )


class SubgraphOut(BaseModel):
    """A neighbourhood."""

    start: str
    entities: list[EntityOut]
    distances: dict[str, int]
    relations: list[RelationOut]
    truncated: bool

    @classmethod
    def of(cls, sub: Subgraph) -> SubgraphOut:
        """From the domain model."""
        return cls(
            start=sub.start,
            entities=[EntityOut.of(e) for e in sub.entities],
            distances=sub.distances,
            relations=[RelationOut.of(r) for r in sub.relations],
            truncated=sub.truncated,
        )


def ingest_report_json(report: IngestReport) -> dict[str, Any]:
    """An ingest report as the CLI's ``--json`` and the ingest job endpoint show it."""
    return {
        "quarantine_dir": report.quarantine_dir,
        "quarantined": report.quarantined,
        "written": report.written.model_dump(),
        "files": [
            {
                "path": f.path,
                "kind": f.kind,
                "status": f.status,
                "reason": f.reason,
                "source_id": f.source_id,
                "key": f.key,
                "replaces": f.replaces,
                "replacement": f.replacement.model_dump() if f.replacement else None,
                "replaced": f.replaced,
                "rows": f.rows,
                "quarantined": f.quarantined,
                "written": f.written.model_dump(),
                "seconds": round(f.seconds, 3),
                "rows_per_second": round(f.rows_per_second, 1),
                "words": f.words,
                "words_per_second": round(f.words_per_second, 1),
            }
            for f in report.files
        ],
    }
