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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ckn.graph.errors import DanglingRelation, InvalidInput
from ckn.graph.model import Batch, Entity, NodeKind, Provenance, Relation
from ckn.graph.store import GraphStore, WriteResult
from ckn.ingest.erasure import Suppression, masked_source

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
    suppressed: list[int] = field(default_factory=list)
    """Lines about people erased before (:mod:`ingest.erasure`): not loaded."""


def source_id_for(path: Path) -> str:
    """The id of the Source entity for a file: its name and a digest of its content."""
    hasher = hashlib.sha256()
    with path.open("rb") as handle:  # read in pieces: the file is streamed, never held whole
        while chunk := handle.read(2**20):
            hasher.update(chunk)
    digest = hasher.hexdigest()[:12]
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
    fact = model.model_validate(body)
    _kept_alike(fact.props)
    return fact


_LONGEST = 2**63
"""Whole numbers both stores keep lie within 64 bits (Neo4j's driver refuses the others)."""


def _kept_alike(props: dict[str, Any]) -> None:
    """Refuse a value that one store would not keep as the other does.

    An infinite number (JSON's ``Infinity``): SQLite's JSON functions cannot read it back; a whole
    number beyond 64 bits: Neo4j cannot write it.
    """
    for key, value in props.items():
        for one in value if isinstance(value, list) else (value,):
            if type(one) is float and math.isinf(one):
                raise InvalidInput(f"property {key!r} is infinite; give a number")
            if type(one) is int and not -_LONGEST <= one < _LONGEST:
                raise InvalidInput(f"property {key!r} is a whole number beyond 64 bits; give it as text")


def refusal(exc: Exception) -> str:
    """Why a record or row was refused, in a line: where in it, then what (a validation's first error)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    return str(getattr(exc, "detail", exc))


def load_jsonl(
    store: GraphStore, path: Path, *, batch_size: int = 1000, lock_wait_s: float = 600.0
) -> LoadReport:
    """Load one JSON Lines file in batches as it is read, holding the store's write lock.

    Entities are written as their batches fill, relations after the entities read before them; a
    relation whose end comes further down the file waits for the end of the file. A batch the store
    refuses is retried one fact at a time, so only the offending lines are rejected.
    """
    with store.writer(wait_s=lock_wait_s):
        return _load(store, path, batch_size)


def _load(store: GraphStore, path: Path, batch_size: int) -> LoadReport:
    suppression = Suppression.of(store)
    named = source_id_for(path)
    source = Entity(
        id=named,
        kind=NodeKind.SOURCE,
        name=path.name,
        props={"path": str(path), "format": "jsonl"},
        provenance=(Provenance(source_id=named, extractor=EXTRACTOR, extractor_version=EXTRACTOR_VERSION),),
    )
    if suppression:  # a file named after a person erased before: named as the erasure renamed it
        source = masked_source(source, suppression)
    source_id = source.id
    report = LoadReport(source_id=source_id)
    entities: list[tuple[int, Entity]] = [(0, source)]
    relations: list[tuple[int, Relation]] = []
    later: list[tuple[int, Relation]] = []  # relations to entities further down the file

    def flush(every: bool) -> None:
        if entities and (every or len(entities) >= batch_size or len(relations) >= batch_size):
            report.written += _write_isolating(store, entities, report)
            entities.clear()
        if relations and (every or len(relations) >= batch_size):
            report.written += _write_isolating(store, relations, report, later)
            relations.clear()

    with path.open(encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            report.lines += 1
            try:
                fact = _record(raw, number, source_id)
            except (ValueError, InvalidInput) as exc:
                report.rejected.append(Rejected(number, refusal(exc)))
                continue
            if suppression and (
                suppression.entity(fact) if isinstance(fact, Entity) else suppression.relation(fact)
            ):
                report.suppressed.append(number)  # an erased person's: not brought back
                continue
            if suppression:
                fact = suppression.scrubbed(fact)  # a text or a document's id that names them: masked
            if isinstance(fact, Entity):
                entities.append((number, fact))
            else:
                relations.append((number, fact))
            flush(every=False)
    flush(every=True)
    for start in range(0, len(later), batch_size):
        report.written += _write_isolating(store, later[start : start + batch_size], report)
    report.rejected.sort(key=lambda r: r.line)
    log.info("loaded %s: %s, %d rejected", path, report.written, len(report.rejected))
    return report


def _batch(facts: list[tuple[int, Any]]) -> Batch:
    return Batch(
        entities=tuple(f for _, f in facts if isinstance(f, Entity)),
        relations=tuple(f for _, f in facts if isinstance(f, Relation)),
    )


def _write_isolating(
    store: GraphStore,
    facts: list[tuple[int, Any]],
    report: LoadReport,
    later: list[tuple[int, Relation]] | None = None,
) -> WriteResult:
    """Write a batch; if refused, each fact on its own.

    A bad fact is rejected; with ``later``, a relation to an entity not there yet waits there for
    the end of the file instead.
    """
    try:
        return store.write(_batch(facts))
    except InvalidInput as exc:
        if len(facts) == 1:
            if later is not None and isinstance(exc, DanglingRelation):
                later.append(facts[0])
            else:
                report.rejected.append(Rejected(facts[0][0], exc.detail))
            return WriteResult()
    total = WriteResult()
    for item in facts:
        total += _write_isolating(store, [item], report, later)
    return total
