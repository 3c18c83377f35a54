"""Small helpers every query shares."""

from __future__ import annotations

from ckn.graph.errors import InvalidInput, NotFound
from ckn.graph.model import Entity, NodeKind
from ckn.graph.store import GraphStore


def require(store: GraphStore, entity_id: str, kind: NodeKind) -> Entity:
    """The entity, which must exist and be of ``kind``.

    Raises:
        NotFound: no such entity.
        InvalidInput: it is of another kind.

    """
    return checked(store.get_entity(entity_id), entity_id, kind)


def checked(entity: Entity | None, entity_id: str, kind: NodeKind) -> Entity:
    """``entity``, read as ``entity_id``, which must exist and be of ``kind`` (see :func:`require`)."""
    if entity is None:
        raise NotFound(f"no entity with id {entity_id!r}", entity_id=entity_id)
    if entity.kind is not kind:
        raise InvalidInput(f"{entity_id} is of kind {entity.kind.value}, not {kind.value}")
    return entity
