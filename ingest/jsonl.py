"""Load ckn's native graph records (JSON Lines) into a store.

One JSON object a line, either ``{"entity": {...}}`` or ``{"relation": {...}}`` with the fields of
:class:`graph.model.Entity` / :class:`graph.model.Relation`. ``provenance`` may be left out: the
loader then records the file and the line as the evidence. A line that is not valid is set aside with
its line number and the reason, and the rest of the file is loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graph.errors import InvalidInput
from graph.model import Batch, Entity, NodeKind, Provenance, Relation
from graph.store import GraphStore, WriteResult

log = logging.getLogger(__name__)

EXTRACTOR = "ckn.jsonl"
EXTRACTOR_VERSION = "1"


@dataclass
class Rejected:
    """A line that was not loaded, and why."""

    line: int
    reason: str


@dataclass
class LoadReport:
    """What a load did."""

    source_id: str
    lines: int = 0
    written: WriteResult = field(default_factory=WriteResult)
    rejected: list[Rejected] = field(default_factory=list)


def source_id_for(path: Path) -> str:
    """The id of the Source entity for a file: its name and a digest of its content."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"source:{path.name}@{digest}"


def _record(raw: str, line: int, source_id: str) -> Entity | Relation:
    data = json.loads(raw)
    if not isinstance(data, dict) or len(data) != 1 or not ({"entity", "relation"} & data.keys()):
        raise InvalidInput('expected an object with one key, "entity" or "relation"')
    kind, body = next(iter(data.items()))
    if not isinstance(body, dict):
        raise InvalidInput(f'"{kind}" must be an object')
    body.setdefault(
        "provenance",
        [
            {
                "source_id": source_id,
                "locator": f"line {line}",
                "extractor": EXTRACTOR,
                "extractor_version": EXTRACTOR_VERSION,
            }
        ],
    )
    model: type[Entity] | type[Relation] = Entity if kind == "entity" else Relation
    return model.model_validate(body)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    return str(getattr(exc, "detail", exc))


def load_jsonl(store: GraphStore, path: Path, *, batch_size: int = 1000) -> LoadReport:
    """Load one JSON Lines file; entities first, then relations, in batches.

    A batch the store refuses (e.g. a relation to an unknown entity) is retried one fact at a time,
    so only the offending lines are rejected.
    """
    source_id = source_id_for(path)
    report = LoadReport(source_id=source_id)
    source = Entity(
        id=source_id,
        kind=NodeKind.SOURCE,
        name=path.name,
        props={"path": str(path), "format": "jsonl"},
        provenance=(
            Provenance(source_id=source_id, extractor=EXTRACTOR, extractor_version=EXTRACTOR_VERSION),
        ),
    )
    entities: list[tuple[int, Entity]] = [(0, source)]
    relations: list[tuple[int, Relation]] = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            report.lines += 1
            try:
                fact = _record(raw, number, source_id)
            except (ValueError, InvalidInput) as exc:
                report.rejected.append(Rejected(number, _reason(exc)))
                continue
            if isinstance(fact, Entity):
                entities.append((number, fact))
            else:
                relations.append((number, fact))
    for facts in (entities, relations):
        for start in range(0, len(facts), batch_size):
            report.written += _write_isolating(store, facts[start : start + batch_size], report)
    log.info("loaded %s: %s, %d rejected", path, report.written, len(report.rejected))
    return report


def _batch(facts: list[tuple[int, Any]]) -> Batch:
    return Batch(
        entities=tuple(f for _, f in facts if isinstance(f, Entity)),
        relations=tuple(f for _, f in facts if isinstance(f, Relation)),
    )


def _write_isolating(store: GraphStore, facts: list[tuple[int, Any]], report: LoadReport) -> WriteResult:
    try:
        return store.write(_batch(facts))
    except InvalidInput as exc:
        if len(facts) == 1:
            report.rejected.append(Rejected(facts[0][0], exc.detail))
            return WriteResult()
    total = WriteResult()
    for item in facts:
        total += _write_isolating(store, [item], report)
    return total
