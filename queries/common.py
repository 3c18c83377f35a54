"""Small helpers every query shares."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from graph.errors import InvalidInput, NotFound
from graph.model import Entity, NodeKind
from graph.store import GraphStore


def moment(props: dict[str, Any], *keys: str) -> datetime | None:
    """The first of ``keys`` that holds an ISO date or time, as an aware datetime (UTC when unzoned)."""
    for key in keys:
        value = props.get(key)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def require(store: GraphStore, entity_id: str, kind: NodeKind) -> Entity:
    """The entity, which must exist and be of ``kind``.

    Raises:
        NotFound: no such entity.
        InvalidInput: it is of another kind.

    """
    entity = store.get_entity(entity_id)
    if entity is None:
        raise NotFound(f"no entity with id {entity_id!r}", entity_id=entity_id)
    if entity.kind is not kind:
        raise InvalidInput(f"{entity_id} is a {entity.kind.value}, not of kind {kind.value}")
    return entity


T = TypeVar("T")
CACHED_PER_STORE = 64
"""How many results (networks, measures, indexes) are kept per store for its current graph version."""


@dataclass
class _StoreCache:
    version: object
    values: dict[Hashable, Any] = field(default_factory=dict)
    locks: dict[Hashable, threading.Lock] = field(default_factory=dict)


_caches: weakref.WeakKeyDictionary[Any, _StoreCache] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def cached(store: GraphStore, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, remembered for the store's current graph version.

    Any write makes a new graph version, which drops everything remembered for the store. Requests
    asking for the same thing at the same time wait for one computation instead of each doing it.
    What was computed is then moved out of the garbage collector's sight (``gc.freeze``): a projection
    holds millions of objects, and scanning them again at every full collection would add pauses of a
    tenth of a second to unrelated requests. When the graph version changes they are handed back to the
    collector, so that what the old version held is freed.
    """
    version = store.graph_version()
    with _lock:
        entry = _caches.get(store)
        if entry is None or entry.version != version:
            if entry is not None:
                gc.unfreeze()  # what the old version held can be collected (networkx graphs hold cycles)
            entry = _caches[store] = _StoreCache(version)
        if key in entry.values:
            return entry.values[key]  # type: ignore[no-any-return]
        key_lock = entry.locks.setdefault(key, threading.Lock())
    with key_lock:
        with _lock:
            if key in entry.values:
                return entry.values[key]  # type: ignore[no-any-return]
        value = compute()
        gc.freeze()
        with _lock:
            entry.values[key] = value
            while len(entry.values) > CACHED_PER_STORE:
                entry.values.pop(next(iter(entry.values)))
    return value
