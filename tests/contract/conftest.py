"""The planted company the query contract tests ask questions about (every store)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ckn.graph.model import Batch, Entity, NodeKind, Relation, RelType
from ckn.graph.store import GraphStore
from tests.factories import customer, employee, entity, rel

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _item(kind: NodeKind, item_id: str, when: str, **props: object) -> Entity:
    key = "created_at" if kind is NodeKind.KNOWLEDGE_ITEM else "occurred_at"
    return entity(item_id, kind, item_id, **{key: when}, **props)


@pytest.fixture
def planted(store: GraphStore) -> GraphStore:
    people = [
        employee("employee:anna", "Anna Schmidt"),  # writes the manuals
        employee("employee:wang", "王芳"),  # resolves the tickets, writes nothing
        employee("employee:old", "Old Hand"),  # resolved as many, six years ago
        employee("employee:gone", "Left Already", left_at="2025-06-30T00:00:00+00:00"),
        employee("employee:private", "Opted Out", expertise_opt_out=True),
        employee("employee:spec", "Specialist"),  # one item on each of two topics, nothing else
        employee("employee:gen", "Generalist"),  # one on each, and twenty on other things
        employee("employee:owner", "李娜"),
        employee("employee:solo", "孙磊"),
        employee("employee:junior", "Junior"),
    ]
    subjects = [
        entity("topic:calib", NodeKind.TOPIC, "校准 Calibration", aliases=["校准", "calibration"]),
        entity("topic:export", NodeKind.TOPIC, "数据导出 Export"),
        entity("topic:other", NodeKind.TOPIC, "Other"),
        entity("topic:single", NodeKind.TOPIC, "固件回滚 Firmware rollback"),
        customer("customer:hdjm", "华东精密"),
    ]
    items: list[Entity] = []
    links: list[Relation] = []

    def act(person: str, rtype: RelType, item: Entity, topic: str) -> None:
        items.append(item)
        links.append(rel(rtype, person, item.id))
        links.append(rel(RelType.ABOUT, item.id, topic))

    for n in range(2):
        act(
            "employee:anna",
            RelType.AUTHORED,
            _item(NodeKind.KNOWLEDGE_ITEM, f"doc:{n}", "2026-09-01"),
            "topic:calib",
        )
    for n in range(4):
        act(
            "employee:wang",
            RelType.RESOLVED,
            _item(NodeKind.FEEDBACK, f"fb:w{n}", "2026-10-01"),
            "topic:calib",
        )
        act(
            "employee:old",
            RelType.RESOLVED,
            _item(NodeKind.FEEDBACK, f"fb:o{n}", "2020-10-01"),
            "topic:calib",
        )
    for n in range(6):
        act(
            "employee:gone",
            RelType.RESOLVED,
            _item(NodeKind.FEEDBACK, f"fb:g{n}", "2026-10-01"),
            "topic:calib",
        )
        act(
            "employee:private",
            RelType.RESOLVED,
            _item(NodeKind.FEEDBACK, f"fb:p{n}", "2026-10-01"),
            "topic:calib",
        )
    for who in ("spec", "gen"):
        for topic in ("calib", "export"):
            item = _item(NodeKind.INTERACTION, f"call:{who}-{topic}", "2026-10-15", channel="call")
            act(f"employee:{who}", RelType.PARTICIPATED_IN, item, f"topic:{topic}")
    for n in range(20):
        item = _item(NodeKind.INTERACTION, f"call:gen-other{n}", "2026-10-15", channel="call")
        act("employee:gen", RelType.PARTICIPATED_IN, item, "topic:other")
    for n in range(3):  # one person knows the firmware rollback, a junior was on one call
        act(
            "employee:solo",
            RelType.RESOLVED,
            _item(NodeKind.FEEDBACK, f"fb:s{n}", "2026-10-10"),
            "topic:single",
        )
    act(
        "employee:junior",
        RelType.PARTICIPATED_IN,
        _item(NodeKind.INTERACTION, "call:junior", "2026-10-12", channel="call"),
        "topic:single",
    )
    links.append(rel(RelType.SUBTOPIC_OF, "topic:single", "topic:calib"))
    visit = _item(NodeKind.INTERACTION, "visit:hdjm", "2026-10-20", channel="visit")
    items.append(visit)
    links += [
        rel(RelType.OWNS_ACCOUNT, "employee:owner", "customer:hdjm"),
        rel(RelType.PARTICIPATED_IN, "employee:owner", visit.id),
        rel(RelType.PARTICIPATED_IN, "customer:hdjm", visit.id),
    ]
    store.write(Batch(entities=(*people, *subjects, *items)))
    store.write(Batch(relations=tuple(links)))
    return store
