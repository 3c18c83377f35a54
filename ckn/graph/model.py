"""The domain model: node kinds, relationship types, provenance, entities and relations.

Entities and relations are frozen pydantic models with deterministic ids (see :mod:`graph.ids`), so
writing the same fact twice merges onto the same node or relationship. Every fact carries at least one
:class:`Provenance` record: the store keeps the union of them and deletes a fact when its last source is
deleted. Kinds and types are enums; nothing else can become a label or a relationship type.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator, model_validator

from ckn.graph.errors import InvalidLabel
from ckn.graph.ids import relation_id

MAX_TEXT_PROPERTY = 100_000
"""Longest string a property may hold (characters); longer text belongs in a document store."""


class NodeKind(StrEnum):
    """Kinds of nodes; each becomes a Neo4j label."""

    CUSTOMER = "Customer"
    EMPLOYEE = "Employee"
    PRODUCT = "Product"
    TOPIC = "Topic"
    KNOWLEDGE_ITEM = "KnowledgeItem"
    INTERACTION = "Interaction"
    FEEDBACK = "Feedback"
    SOURCE = "Source"
    DEPARTMENT = "Department"
    SEGMENT = "Segment"
    CANDIDATE = "Candidate"
    """A person or organisation named in text and not yet confirmed (see ``ckn review``)."""


class RelType(StrEnum):
    """Kinds of relationships; each becomes a Neo4j relationship type."""

    REFERRED = "REFERRED"
    WORKS_AT = "WORKS_AT"
    OWNS_ACCOUNT = "OWNS_ACCOUNT"
    REPORTS_TO = "REPORTS_TO"
    MEMBER_OF = "MEMBER_OF"
    IN_SEGMENT = "IN_SEGMENT"
    PARTICIPATED_IN = "PARTICIPATED_IN"
    ABOUT = "ABOUT"
    AUTHORED = "AUTHORED"
    RESOLVED = "RESOLVED"
    ESCALATED_TO = "ESCALATED_TO"
    SUBMITTED = "SUBMITTED"
    MENTIONS = "MENTIONS"
    PURCHASED = "PURCHASED"
    DELIVERED_TO = "DELIVERED_TO"
    KNOWS = "KNOWS"
    KNOWS_ABOUT = "KNOWS_ABOUT"
    SUBTOPIC_OF = "SUBTOPIC_OF"
    SAME_AS = "SAME_AS"
    DERIVED_FROM = "DERIVED_FROM"


_K = NodeKind
_ANY: frozenset[NodeKind] = frozenset(NodeKind)
_PEOPLE = frozenset({_K.CUSTOMER, _K.EMPLOYEE})
_SUBJECTS = frozenset({_K.PRODUCT, _K.TOPIC, _K.CUSTOMER})

RELATION_SCHEMA: dict[RelType, tuple[frozenset[NodeKind], frozenset[NodeKind]]] = {
    RelType.REFERRED: (_PEOPLE, frozenset({_K.CUSTOMER})),
    RelType.WORKS_AT: (frozenset({_K.CUSTOMER}), frozenset({_K.CUSTOMER})),
    RelType.OWNS_ACCOUNT: (frozenset({_K.EMPLOYEE}), frozenset({_K.CUSTOMER})),
    RelType.REPORTS_TO: (frozenset({_K.EMPLOYEE}), frozenset({_K.EMPLOYEE})),
    RelType.MEMBER_OF: (frozenset({_K.EMPLOYEE}), frozenset({_K.DEPARTMENT})),
    RelType.IN_SEGMENT: (frozenset({_K.CUSTOMER}), frozenset({_K.SEGMENT})),
    RelType.PARTICIPATED_IN: (_PEOPLE, frozenset({_K.INTERACTION})),
    RelType.ABOUT: (
        frozenset({_K.INTERACTION, _K.FEEDBACK, _K.KNOWLEDGE_ITEM}),
        frozenset({_K.PRODUCT, _K.TOPIC, _K.CUSTOMER}),
    ),
    RelType.AUTHORED: (frozenset({_K.EMPLOYEE}), frozenset({_K.KNOWLEDGE_ITEM})),
    RelType.RESOLVED: (frozenset({_K.EMPLOYEE}), frozenset({_K.FEEDBACK, _K.INTERACTION})),
    RelType.ESCALATED_TO: (frozenset({_K.INTERACTION, _K.FEEDBACK}), frozenset({_K.EMPLOYEE})),
    RelType.SUBMITTED: (frozenset({_K.CUSTOMER}), frozenset({_K.FEEDBACK})),
    RelType.MENTIONS: (
        frozenset({_K.KNOWLEDGE_ITEM, _K.INTERACTION, _K.FEEDBACK}),
        _ANY,
    ),
    RelType.PURCHASED: (frozenset({_K.CUSTOMER}), frozenset({_K.PRODUCT})),
    RelType.DELIVERED_TO: (frozenset({_K.KNOWLEDGE_ITEM}), frozenset({_K.CUSTOMER})),
    RelType.KNOWS: (_PEOPLE, _PEOPLE),
    RelType.KNOWS_ABOUT: (frozenset({_K.EMPLOYEE}), _SUBJECTS),
    RelType.SUBTOPIC_OF: (frozenset({_K.TOPIC}), frozenset({_K.TOPIC})),
    RelType.SAME_AS: (_ANY, _ANY),
    RelType.DERIVED_FROM: (_ANY, frozenset({_K.SOURCE})),
}
"""Which kinds each relationship type may join (source kinds, target kinds)."""


def as_kind(value: NodeKind | str) -> NodeKind:
    """``value`` as a node kind, or :class:`graph.errors.InvalidLabel`."""
    try:
        return NodeKind(value)
    except ValueError:
        raise InvalidLabel(f"unknown node kind {str(value)[:80]!r}") from None


def as_type(value: RelType | str) -> RelType:
    """``value`` as a relationship type, or :class:`graph.errors.InvalidLabel`."""
    try:
        return RelType(value)
    except ValueError:
        raise InvalidLabel(f"unknown relationship type {str(value)[:80]!r}") from None


Scalar = str | int | float | bool | None
PropValue = Scalar | list[str] | list[int] | list[float] | list[bool]
Props = dict[str, PropValue]


def utcnow() -> datetime:
    """The current time, timezone-aware, UTC, truncated to milliseconds (as stores keep it)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


RESERVED_PROPS = frozenset({"id", "name", "kind", "type", "key", "valid_from", "valid_to"})
"""Property names the model itself uses; with names starting ``_`` they cannot be user properties."""


_PLAIN = frozenset({str, int, float, bool, type(None)})
_LISTS: tuple[frozenset[type], ...] = (
    frozenset({str}),
    frozenset({int}),
    frozenset({float}),
    frozenset({bool}),
    frozenset(),
)


def _scalar(key: str, value: object) -> Scalar:
    if isinstance(value, str):  # an enum's or another subclass's text, as plain text
        result: Scalar = str.__str__(value)
    elif isinstance(value, bool):  # before numbers: a yes/no is an Integral too
        result = value
    elif isinstance(value, numbers.Integral):
        result = int(value)
    elif isinstance(value, numbers.Real | Decimal):
        result = float(value)
    elif value is None:
        result = None
    else:
        raise ValueError(f"property {key!r} holds a {type(value).__name__}, not text, a number or a yes/no")
    if isinstance(result, str) and len(result) > MAX_TEXT_PROPERTY:
        raise ValueError(f"property {key!r} is longer than {MAX_TEXT_PROPERTY} characters")
    if isinstance(result, float) and math.isnan(result):
        raise ValueError(f"property {key!r} is NaN")
    return result


def _value(key: str, value: object) -> PropValue:
    """One property's value as stores keep it (the slow way: any value that is not plainly so)."""
    if not isinstance(value, list | tuple | set | frozenset):
        return _scalar(key, value)
    items = [_scalar(key, v) for v in value]
    types = frozenset(map(type, items))
    if types == {int, float}:
        return [float(v) for v in items]  # type: ignore[arg-type]
    if types not in _LISTS:
        raise ValueError(f"property {key!r} is a list of mixed or empty values; one kind of value per list")
    return items  # type: ignore[return-value]


def _plain(value: object) -> bool:
    """Whether a value is already as stores keep it (the usual case, checked fast)."""
    kind = type(value)
    if kind is str:
        return len(value) <= MAX_TEXT_PROPERTY  # type: ignore[arg-type]
    if kind is float:
        return not math.isnan(value)  # type: ignore[arg-type]
    if kind is list:
        return frozenset(map(type, value)) in _LISTS and all(map(_plain, value))  # type: ignore[call-overload]
    return kind in _PLAIN


def _check_props(props: object) -> Props:
    """Properties as stores keep them: plain text, numbers, yes/no, empty, or a list of one of them.

    Hand-written: pydantic's validation of the union of these types costs about half a microsecond a
    value, and ingest checks millions. Values of other types that mean one of these (an enum member, a
    numpy number, a tuple) are converted; anything else is refused.
    """
    if not isinstance(props, dict):
        raise ValueError("properties are a mapping of names to values")
    checked: Props = {}
    for key, value in props.items():
        if not isinstance(key, str) or not key or key[0] == "_" or key in RESERVED_PROPS:
            raise ValueError(f"property name {key!r} is reserved or empty")
        checked[key] = value if _plain(value) else _value(key, value)
    return checked


CheckedProps = Annotated[Props, PlainValidator(_check_props)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


@lru_cache(maxsize=1 << 18)  # the same evidence is keyed again and again while merging (a few batches)
def _evidence_key(source_id: str, locator: str, start: int | None, end: int | None, extractor: str) -> str:
    parts = [source_id, locator, str(start), str(end), extractor]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


class Provenance(_Frozen):
    """Where a fact came from: the source, the place in it, the extractor, the confidence, the time."""

    source_id: Annotated[str, Field(min_length=1, max_length=500)]
    locator: str = ""
    """Place in the source that is not a character span, e.g. ``line 12`` or ``page 3``."""
    start: int | None = Field(default=None, ge=0)
    """Character offset where the evidence starts (mentions in text)."""
    end: int | None = Field(default=None, ge=0)
    extractor: Annotated[str, Field(min_length=1)] = "manual"
    extractor_version: str = "1"
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    observed_at: datetime = Field(default_factory=utcnow)

    @field_validator("observed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        result = _as_utc(value)
        assert result is not None
        return result

    @model_validator(mode="after")
    def _span(self) -> Provenance:
        if (self.start is None) != (self.end is None):
            raise ValueError("start and end offsets go together")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end offset is before start offset")
        return self

    @property
    def key(self) -> str:
        """Identity of this evidence: the same source, place and extractor is the same evidence."""
        return _evidence_key(self.source_id, self.locator, self.start, self.end, self.extractor)

    def to_json(self) -> str:
        """Compact JSON, as stores keep it."""
        return self.model_dump_json()


class EvidenceJson:
    """:meth:`Provenance.to_json` for one write: the facts of one row share their evidence, encoded once.

    Keyed by object identity, so keep one only while the facts it encodes are alive (one write).
    """

    def __init__(self) -> None:
        self._encoded: dict[int, str] = {}

    def __call__(self, evidence: Provenance) -> str:
        """The JSON of ``evidence``."""
        found = self._encoded.get(id(evidence))
        if found is None:
            found = self._encoded[id(evidence)] = evidence.to_json()
        return found


def _content_hash(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Entity(_Frozen):
    """A node: a customer, employee, product, topic, knowledge item, interaction, ..."""

    id: Annotated[str, Field(min_length=1, max_length=500)]
    kind: NodeKind
    name: str = ""
    props: CheckedProps = Field(default_factory=dict)
    provenance: tuple[Provenance, ...] = Field(min_length=1)

    def content_hash(self) -> str:
        """Hash of what the entity says (not where it was said), to detect unchanged rewrites."""
        return _content_hash({"kind": self.kind.value, "name": self.name, "props": self.props})


class Relation(_Frozen):
    """A relationship between two entities, with optional validity in time.

    ``key`` tells apart parallel relations of one type between the same pair (e.g. two mentions of a
    product at different offsets of one document); leave it empty when there is at most one.
    """

    type: RelType
    source: Annotated[str, Field(min_length=1, max_length=500)]
    target: Annotated[str, Field(min_length=1, max_length=500)]
    key: str = ""
    props: CheckedProps = Field(default_factory=dict)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    provenance: tuple[Provenance, ...] = Field(min_length=1)

    @field_validator("valid_from", "valid_to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @model_validator(mode="after")
    def _interval(self) -> Relation:
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self

    @property
    def id(self) -> str:
        """Deterministic id from type, endpoints and key."""
        return relation_id(self.type.value, self.source, self.target, self.key)

    def with_ends(self, rename: Callable[[str], str]) -> Relation:
        """The relation with each end renamed by ``rename`` (itself when neither changes)."""
        source, target = rename(self.source), rename(self.target)
        if (source, target) == (self.source, self.target):
            return self
        return self.model_copy(update={"source": source, "target": target})

    def content_hash(self) -> str:
        """Hash of what the relation says (not where it was said)."""
        return _content_hash(
            {
                "props": self.props,
                "valid_from": self.valid_from.isoformat() if self.valid_from else None,
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            }
        )


class Checkpoint(_Frozen):
    """Progress of a resumable job, written in the same transaction as the batch it follows."""

    job: Annotated[str, Field(min_length=1)]
    position: str


class Batch(_Frozen):
    """What one write transaction holds: entities, relations, deletions, then the checkpoint."""

    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()
    checkpoint: Checkpoint | None = None
    delete_entities: tuple[str, ...] = ()
    """Entities to delete (with every relation touching them), after the writes."""
    delete_relations: tuple[str, ...] = ()
    """Relations to delete by id, after the writes."""
    replace: bool = False
    """Write the facts exactly as given (properties and evidence) instead of merging them onto the
    stored ones: for corrections such as merging two entities and undoing it."""


def check_relation_kinds(relation: Relation, source_kind: NodeKind, target_kind: NodeKind) -> str | None:
    """Return why ``relation`` may not join these kinds, or None when it may."""
    sources, targets = RELATION_SCHEMA[relation.type]
    if source_kind not in sources or target_kind not in targets:
        return (
            f"{relation.type.value} may not go from {source_kind.value} to {target_kind.value}"
            f" ({relation.source} -> {relation.target})"
        )
    return None
