"""The domain model: deterministic ids, validation that protects the stores."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import numpy as np
import pytest
from pydantic import ValidationError

from ckn.graph.ids import entity_id, relation_id
from ckn.graph.model import MAX_TEXT_PROPERTY, Entity, NodeKind, Provenance, Relation, RelType
from tests.factories import prov


def test_ids_are_deterministic_from_natural_keys() -> None:
    assert entity_id("Customer", "C-1001") == "customer:C-1001"
    assert entity_id("Customer", "Ｃ-1001") == "customer:C-1001"  # full-width letters
    by_mail = entity_id("Customer", natural_key="Zhang.Wei@HDJM.cn ")
    assert by_mail == entity_id("Customer", natural_key="zhang.wei@hdjm.cn")
    assert by_mail != entity_id("Employee", natural_key="zhang.wei@hdjm.cn")
    with pytest.raises(ValueError, match="needs a CRM id or a natural key"):
        entity_id("Customer", "  ")


def test_relation_ids_depend_on_type_endpoints_and_key() -> None:
    a = relation_id("KNOWS", "x", "y")
    assert a == relation_id("KNOWS", "x", "y")
    assert a.startswith("KNOWS:")
    assert (
        len(
            {
                a,
                relation_id("KNOWS", "y", "x"),
                relation_id("KNOWS", "x", "y", "2"),
                relation_id("REFERRED", "x", "y"),
            }
        )
        == 4
    )


def test_facts_without_evidence_are_refused() -> None:
    with pytest.raises(ValidationError, match="provenance"):
        Entity(id="x", kind=NodeKind.TOPIC, provenance=())


@pytest.mark.parametrize("key", ["_prov", "id", "kind", "", "valid_to"])
def test_reserved_property_names_are_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="reserved or empty"):
        Entity(id="x", kind=NodeKind.TOPIC, props={key: 1}, provenance=(prov(),))


def test_oversized_and_nested_properties_are_refused() -> None:
    with pytest.raises(ValidationError, match="longer than"):
        Entity(
            id="x", kind=NodeKind.TOPIC, props={"text": "长" * (MAX_TEXT_PROPERTY + 1)}, provenance=(prov(),)
        )
    with pytest.raises(ValidationError):
        Entity(id="x", kind=NodeKind.TOPIC, props={"nested": {"a": 1}}, provenance=(prov(),))  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (["张伟", 3], "mixed"),
        ([True, 2], "mixed"),
        ([None], "mixed or empty"),
        ([float("nan")], "NaN"),
        (float("nan"), "NaN"),
        (b"\xe5\xbc\xa0", "holds a bytes"),
        (datetime(2026, 1, 5), "holds a datetime"),
        ([["VIP"]], "holds a list"),
    ],
)
def test_property_values_a_store_cannot_keep_as_they_are_are_refused(value: object, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        Entity(id="x", kind=NodeKind.TOPIC, props={"v": value}, provenance=(prov(),))  # type: ignore[dict-item]


def test_property_values_that_mean_text_numbers_or_lists_are_stored_as_such() -> None:
    class Tier(StrEnum):
        GOLD = "金卡"

    props = {
        "tier": Tier.GOLD,
        "orders": np.int64(12),
        "share": np.float64(0.25),
        "credit": Decimal("1.5"),
        "tags": ("vip", "华东"),
        "scores": [1, 2.5],
        "vip": True,
        "note": None,
        "empty": [],
    }
    stored = Entity(id="x", kind=NodeKind.TOPIC, props=props, provenance=(prov(),)).props  # type: ignore[arg-type]
    assert stored == {
        "tier": "金卡",
        "orders": 12,
        "share": 0.25,
        "credit": 1.5,
        "tags": ["vip", "华东"],
        "scores": [1.0, 2.5],
        "vip": True,
        "note": None,
        "empty": [],
    }
    assert [type(stored[k]) for k in ("tier", "orders", "share", "credit", "tags")] == [
        str,
        int,
        float,
        float,
        list,
    ]
    assert stored is not props  # the frozen fact keeps its own copy


def test_provenance_checks_offsets_and_confidence() -> None:
    with pytest.raises(ValidationError, match="go together"):
        Provenance(source_id="s", start=3)
    with pytest.raises(ValidationError, match="before start"):
        Provenance(source_id="s", start=5, end=2)
    with pytest.raises(ValidationError):
        Provenance(source_id="s", confidence=1.5)


def test_validity_interval_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValidationError, match="valid_to is before valid_from"):
        Relation(
            type=RelType.OWNS_ACCOUNT,
            source="e",
            target="c",
            valid_from="2026-02-01",
            valid_to="2026-01-01",
            provenance=(prov(),),  # type: ignore[arg-type]
        )


def test_models_are_frozen() -> None:
    e = Entity(id="x", kind=NodeKind.TOPIC, provenance=(prov(),))
    with pytest.raises(ValidationError):
        e.name = "changed"  # type: ignore[misc]


def test_derived_ids_stay_what_earlier_versions_stored() -> None:
    # computed with uuid.uuid5 before ids were derived without building UUID objects
    assert entity_id("Customer", natural_key="Zhang.Wei@HDJM.cn") == (
        "customer:7e578b99-ef46-5115-b9c9-a8a3a01471e6"
    )
    assert relation_id("KNOWS", "customer:C1", "customer:张伟") == (
        "KNOWS:dffda167-3359-5829-8073-fc81cde99446"
    )
