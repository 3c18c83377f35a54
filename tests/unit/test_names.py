"""Names found in a text through an index that is asked only about the stretches of the text equal
those a gazetteer of every name finds: the same mentions, linked to the same entities."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from ckn.api.understand import gazetteer_in
from ckn.graph.model import Entity, NodeKind
from ckn.graph.names import Name, rows
from ckn.ingest.nlp import Gazetteer
from ckn.ingest.resolve import Resolver
from tests.factories import entity

PIECES = [
    "华东",
    "精密",
    "仪器",
    "華東",
    "校准",
    "X-200",
    "x200",
    "CS",
    "CSV",
    "Zhang",
    "Wei",
    "张伟",
    "Ａ",
    "b",
]
NOISE = [" ", "  ", "的", "，", "?", "-", "and", "li.na@hdjm.cn", "138 0013 8000", "ＣＳＶ"]


class _Index:
    """An index over name rows in memory: what a store's name index answers."""

    def __init__(self, entities: Sequence[Entity]) -> None:
        self.forms: dict[str, list[Name]] = defaultdict(list)
        self.values: dict[str, list[tuple[str, Name]]] = defaultdict(list)
        for e in entities:
            for row in rows(e):
                if "form" in row:
                    self.forms[row["form"]].append(Name(row["form"], row["id"], NodeKind(row["kind"])))
                if "value" in row:
                    name = Name(row["value"], row["id"], NodeKind(row["kind"]))
                    self.values[row["value"]].append((row["prop"], name))
        self.asked: list[str] = []

    def found_in(self, forms: Sequence[str]) -> list[Name]:
        self.asked += forms
        return sorted(n for f in forms for n in self.forms.get(f, ()))

    def keyed(self, values: Sequence[str]) -> dict[str, list[Name]]:
        found: dict[str, list[Name]] = defaultdict(list)
        for value in values:
            for prop, name in self.values.get(value, ()):
                found[prop].append(name)
        return found


def _entities(rng: random.Random) -> list[Entity]:
    kinds = [NodeKind.CUSTOMER, NodeKind.EMPLOYEE, NodeKind.PRODUCT, NodeKind.TOPIC, NodeKind.SEGMENT]
    found = []
    for n in range(40):
        kind = rng.choice(kinds)
        name = "".join(rng.choice(PIECES) + rng.choice(["", "", " "]) for _ in range(rng.randint(1, 3)))
        aliases = ["".join(rng.sample(PIECES, 2)) for _ in range(rng.randint(0, 2))]
        contacts = {"emails": ["li.na@hdjm.cn"], "phones": ["+8613800138000"]} if n % 7 == 3 else {}
        found.append(entity(f"{kind.value.lower()}:{n:02d}", kind, name.strip(), aliases=aliases, **contacts))
    return found


def test_names_found_through_the_index_equal_those_of_a_gazetteer_of_every_name() -> None:
    rng = random.Random(7)
    for _ in range(20):
        entities = _entities(rng)
        resolver = Resolver(reviews=False)
        for e in sorted(entities, key=lambda e: e.id):
            resolver.learn(e)
        every, index = Gazetteer.from_resolver(resolver), _Index(entities)
        for _ in range(30):
            text = "".join(rng.choice(PIECES + NOISE) for _ in range(rng.randint(1, 12)))
            found = gazetteer_in(index, text)  # type: ignore[arg-type]
            assert found.find(text) == every.find(text), text
            assert {k: t for k, t in found.keys.items()} == {k: every.keys[k] for k in found.keys}, text


def test_only_the_stretches_of_a_text_a_name_can_be_are_asked_about() -> None:
    index = _Index([])
    gazetteer_in(index, "谁懂 X200?")  # type: ignore[arg-type]
    assert "谁懂" in index.asked and "x200" in index.asked and "懂 x200?" in index.asked
    assert not any(f != f.strip() or len(f) < 2 for f in index.asked)  # names are never padded
