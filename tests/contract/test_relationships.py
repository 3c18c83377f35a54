"""Sales: relationship strength with a customer, and warm introductions. Every store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ckn.graph.errors import InvalidInput, LimitExceeded
from ckn.graph.model import Batch, NodeKind, RelType
from ckn.graph.store import GraphStore
from ckn.queries.relationships import warm_intros, who_knows
from tests.factories import customer, employee, entity, rel

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def accounts(store: GraphStore) -> GraphStore:
    def touch(n: int, channel: str, when: str, direction: str) -> object:
        return entity(
            f"interaction:{n}",
            NodeKind.INTERACTION,
            f"{channel} {n}",
            channel=channel,
            occurred_at=f"{when}T10:00:00+00:00",
            direction=direction,
        )

    items = [
        touch(1, "visit", "2026-10-20", "outbound"),
        touch(2, "call", "2026-10-25", "inbound"),  # mei: deep, both ways
        touch(3, "email", "2026-10-28", "outbound"),
        touch(4, "email", "2026-10-29", "outbound"),  # tom: shallow
        touch(5, "email", "2026-10-30", "outbound"),
        touch(6, "meeting", "2021-01-10", "outbound"),  # old: a meeting five years ago
    ]
    who = {1: "mei", 2: "mei", 3: "tom", 4: "tom", 5: "tom", 6: "old"}
    store.write(
        Batch(
            entities=(
                employee("employee:mei", "梅"),
                employee("employee:tom", "Tom"),
                employee("employee:old", "Old"),
                employee("employee:new", "New Hire"),
                employee("employee:gone", "Gone", left_at="2026-01-01T00:00:00+00:00"),
                customer("customer:buyer", "Buyer 采购"),
                *items,
            )
        )
    )
    links = [rel(RelType.PARTICIPATED_IN, f"employee:{who[n]}", f"interaction:{n}") for n in who]
    links += [rel(RelType.PARTICIPATED_IN, "customer:buyer", f"interaction:{n}") for n in who]
    links += [
        rel(RelType.KNOWS, "employee:new", "employee:tom", strength=0.5),
        rel(RelType.KNOWS, "employee:new", "employee:mei", strength=0.9),
        rel(RelType.OWNS_ACCOUNT, "employee:gone", "customer:buyer"),
    ]
    store.write(Batch(relations=tuple(links)))
    return store


def test_relationship_strength_weighs_channel_depth_recency_and_reciprocity(accounts: GraphStore) -> None:
    ranked = who_knows(accounts, "customer:buyer", now=NOW)

    assert [r.employee_id for r in ranked] == ["employee:mei", "employee:tom", "employee:old"]
    mei, tom, old = ranked
    assert (mei.interactions, mei.reciprocity, mei.channels) == (2, 1.0, {"call": 1, "visit": 1})
    assert (tom.interactions, tom.reciprocity) == (3, 0.5)  # more e-mails, one way: still below mei
    assert mei.last_interaction is not None and mei.last_interaction["id"] == "interaction:2"
    assert old.strength < 0.2  # a meeting five years ago has faded
    with pytest.raises(InvalidInput):
        who_knows(accounts, "employee:mei", now=NOW)


def test_warm_introductions_are_ranked_by_their_weakest_tie(accounts: GraphStore) -> None:
    found = warm_intros(accounts, "employee:new", "customer:buyer", now=NOW)

    first, second = found[:2]
    assert [n for n in first["nodes"] if not n.startswith("interaction:")] == [
        "employee:new",
        "employee:mei",
        "customer:buyer",
    ]
    assert first["weakest_tie"] == 0.9  # new knows mei (0.9); mei knows the buyer well
    assert second["nodes"][1] == "employee:tom" and second["weakest_tie"] == 0.5
    assert (
        first["ties"][1]["via"] == "interactions"
        and first["ties"][1]["last_interaction"]["id"] == "interaction:2"
    )
    people = [tuple(n for n in p["nodes"] if not n.startswith("interaction:")) for p in found]
    assert len(set(people)) == len(people)  # one path per chain of people
    with pytest.raises(LimitExceeded):
        warm_intros(accounts, "employee:new", "customer:buyer", max_depth=9, now=NOW)
