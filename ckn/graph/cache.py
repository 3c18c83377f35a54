"""Results remembered per store and graph version: projections, indexes, answers.

Anything computed from the whole graph (a projection, the evidence index, the gazetteer questions are
read with) is worth keeping until the next write; every layer above the port uses this one mechanism.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ckn.graph.heap import paused_gc
from ckn.graph.store import GraphStore

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
    It is computed with the cyclic collector paused, which leaves it out of the collector's sight
    (``gc.freeze``, see :mod:`graph.heap`): a projection holds millions of objects, and scanning them
    again at every full collection would add pauses of a tenth of a second to unrelated requests. When
    the graph version changes they are handed back to the collector, so that what the old version held
    is freed.
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
        with paused_gc():  # frozen when the outermost pause ends
            value = compute()
        with _lock:
            entry.values[key] = value
            while len(entry.values) > CACHED_PER_STORE:
                entry.values.pop(next(iter(entry.values)))
    return value
