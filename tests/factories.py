"""Builders of test data: short to call, bilingual and a little messy, like the real thing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ckn.graph.model import Batch, Entity, NodeKind, Provenance, Relation, RelType
from ckn.graph.store import GraphStore, WriteResult

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def prov(source: str = "src:crm-export.csv", **kw: Any) -> Provenance:
    """Evidence from a source (a fixed time, so writes are repeatable)."""
    kw.setdefault("observed_at", T0)
    return Provenance(source_id=source, **kw)


def entity(
    entity_id: str, kind: NodeKind, name: str = "", *, source: str = "src:crm-export.csv", **props: Any
) -> Entity:
    """An entity with one piece of evidence."""
    return Entity(id=entity_id, kind=kind, name=name, props=props, provenance=(prov(source),))


def customer(entity_id: str, name: str = "", **kw: Any) -> Entity:
    """A customer."""
    return entity(entity_id, NodeKind.CUSTOMER, name, **kw)


def employee(entity_id: str, name: str = "", **kw: Any) -> Entity:
    """An employee."""
    return entity(entity_id, NodeKind.EMPLOYEE, name, **kw)


def rel(
    rtype: RelType, source: str, target: str, *, key: str = "", src: str = "src:crm-export.csv", **props: Any
) -> Relation:
    """A relation with one piece of evidence."""
    return Relation(type=rtype, source=source, target=target, key=key, props=props, provenance=(prov(src),))


def referral_chain(n: int, prefix: str = "c") -> tuple[list[Entity], list[Relation]]:
    """Customers c0 -> c1 -> ... -> c{n-1}, each referring the next."""
    people = [customer(f"customer:{prefix}{i}", f"客户{i} Customer {i}") for i in range(n)]
    links = [rel(RelType.REFERRED, people[i].id, people[i + 1].id) for i in range(n - 1)]
    return people, links


class Stopped(Exception):
    """An ingest stopped from outside (the process killed, the user's Ctrl-C)."""


class StopAtTheEnd:
    """A store whose ingest stops at its last write (the one that says the file is done)."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def write(self, batch: Batch) -> WriteResult:
        """The store's write, but for the last one of a file: :class:`Stopped`."""
        if batch.checkpoint is not None and batch.checkpoint.position == "done":
            raise Stopped
        return self._store.write(batch)


def dated_work() -> Batch:
    """One colleague's work on ``topic:t``: seven calls of 2026, a document of 2025, an undated note.

    At 2027-01-01, at a half-life of a year, the undated note weighs 1.5, the document (3.0, two years
    old) 0.75, July's call 2^(-184/365) = 0.71, June's 0.67, ..., January's 0.5.
    """
    calls = [
        entity(f"call:{n}", NodeKind.INTERACTION, f"通话 {n}", occurred_at=f"2026-0{n}-01")
        for n in range(1, 8)
    ]
    doc = entity("doc:old", NodeKind.KNOWLEDGE_ITEM, "旧 manual", created_at="2025-01-01")
    undated = entity("doc:undated", NodeKind.KNOWLEDGE_ITEM, "无日期 notes")
    items = (*calls, doc, undated)
    topic = entity("topic:t", NodeKind.TOPIC, "校准 calibration")
    return Batch(
        entities=(employee("employee:li", "李娜"), topic, *items),
        relations=(
            *(rel(RelType.PARTICIPATED_IN, "employee:li", c.id) for c in calls),
            rel(RelType.AUTHORED, "employee:li", doc.id),
            rel(RelType.AUTHORED, "employee:li", undated.id),
            *(rel(RelType.ABOUT, i.id, "topic:t") for i in items),
        ),
    )


def assert_reads_dated_work_in_order(store: GraphStore, pieces: list[tuple[str, bool]]) -> None:
    """``store`` holds :func:`dated_work`: one piece row per item (``pieces``: item, dated), and at
    2027-01-01 the three strongest read from them are the undated note, the document and July's call."""
    items = [e.id for e in dated_work().entities if e.id.startswith(("call:", "doc:"))]
    assert sorted(pieces) == sorted((i, i != "doc:undated") for i in items)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 0)
        at = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
        cut = store.evidence_between(["employee:li"], "topic:t", strongest=3, at=at)
    assert sorted(cut.items) == ["call:7", "doc:old", "doc:undated"]
