"""Results remembered per store and graph version: projections, indexes, answers.

Anything computed from the whole graph (a projection, the evidence index, the gazetteer questions are
read with) is worth keeping until the next write; every layer above the port uses this one mechanism.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from ckn.graph.errors import Computing
from ckn.graph.heap import paused_gc
from ckn.graph.store import Changes, GraphStore

log = logging.getLogger(__name__)

T = TypeVar("T")


class Tier(StrEnum):
    """What a remembered result is, which says how long it is kept within a graph version."""

    CORE = "core"
    """A structure many answers rely on (the evidence index, the referral graph, the resolver): kept
    until the next write, never pushed out by other results."""
    PROJECTION = "projection"
    """A network projected for analysis (one per network and filter): the last few used are kept."""
    ANSWER = "answer"
    """One request's answer (per parameters): the last many used are kept."""


KEPT: dict[Tier, int | None] = {Tier.CORE: None, Tier.PROJECTION: 8, Tier.ANSWER: 64}
"""How many results of each tier are kept per store and graph version (None: all; the core is a
handful of named structures). Least recently used results go first."""


@dataclass
class _Versioned:
    version: object
    values: dict[Tier, OrderedDict[Hashable, Any]] = field(
        default_factory=lambda: {tier: OrderedDict() for tier in Tier}
    )
    locks: dict[Hashable, threading.Lock] = field(default_factory=dict)


@dataclass
class _Kept:
    state: tuple[int, Any] | None = None
    """The graph version the value is up to date with, and the value (one tuple: read without a lock)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    warming: bool = False
    advance: Callable[[Any, Changes], Any] | None = None
    """How writes are applied to it (what :func:`follow` calls)."""


class Caches:
    """What is remembered for one store: each store object holds its own (``store.caches``).

    Created with the store (by the app, the CLI or a test), and gone with it: nothing is kept in
    module state, and two stores never share an entry.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.versioned: _Versioned | None = None
        self.kept: dict[Hashable, _Kept] = {}
        self.generation = 0
        """Counts :meth:`forget` calls: a build that started before one is not kept."""

    def forget(self) -> None:
        """Drop everything remembered (after a deletion or an erasure: nothing erased stays in memory)."""
        with self.lock:
            self.generation += 1
            self.versioned = None
            for entry in self.kept.values():
                entry.state = None


def _caches(store: GraphStore) -> Caches:
    found: Caches = store.caches
    return found


def _kept_entry(
    store: GraphStore, key: Hashable, advance: Callable[[Any, Changes], Any] | None = None
) -> _Kept:
    caches = _caches(store)
    with caches.lock:
        entry = caches.kept.setdefault(key, _Kept())
        entry.advance = advance or entry.advance
        return entry


def _busy(budget: float) -> Computing:
    return Computing(
        f"this answer is being computed for another request; try again in {math.ceil(budget)} s",
        retry_after_s=math.ceil(budget),
    )


def _advanced(store: GraphStore, entry: _Kept, advance: Callable[[T, Changes], T | None]) -> T | None:
    """The entry brought up to date by ``advance`` (lock held), or None when it must be built again.

    A deletion anywhere (another process's erasure too) drops everything the store remembers.
    """
    if entry.state is None:
        return None
    version, value = entry.state
    if version == store.graph_version():
        return value  # type: ignore[no-any-return]
    changes = store.changes_since(version)
    if changes is not None and changes.deleted:
        _caches(store).forget()
        return None
    advanced, generation = None, _caches(store).generation
    try:
        advanced = None if changes is None else advance(value, changes)
    finally:
        if _caches(store).generation != generation:
            advanced = None  # something was erased meanwhile: what this read may hold it
        # built again when it cannot be advanced, or when advancing failed half way
        entry.state = None if advanced is None or changes is None else (changes.version, advanced)
    return advanced


def maintained(
    store: GraphStore,
    key: Hashable,
    build: Callable[[], T],
    advance: Callable[[T, Changes], T | None],
) -> T:
    """A structure kept in step with the graph: ``build()`` once, then ``advance(value, changes)``.

    After writes, what the store says changed (:meth:`graph.store.GraphStore.changes_since`) is
    applied to the structure; ``advance`` returns None (or the store cannot tell what changed) when it
    must be built again, here. Never dropped by other results, and not by writes that ``advance``
    applies. Requests wait for one update or build, for up to the store's time budget (then
    :class:`graph.errors.Computing`).
    """
    entry = _kept_entry(store, key, advance)
    state = entry.state
    if state is not None and state[0] == store.graph_version():
        return state[1]  # type: ignore[no-any-return]
    budget = store.limits.time_budget_s
    if not entry.lock.acquire(timeout=budget):
        raise _busy(budget)
    try:
        value = _advanced(store, entry, advance)
        if value is not None:
            return value
        return _build(store, entry, build)
    finally:
        entry.lock.release()


def _build(store: GraphStore, entry: _Kept, build: Callable[[], T]) -> T:
    caches = _caches(store)
    entry.state = None  # the old one is freed before the new one is built
    generation, version = caches.generation, store.graph_version()
    with paused_gc():
        value = build()
    if caches.generation == generation:  # nothing was erased meanwhile
        entry.state = (version, value)
    return value


def current(
    store: GraphStore,
    key: Hashable,
    build: Callable[[], T],
    advance: Callable[[T, Changes], T | None],
    *,
    start: bool = True,
) -> T | None:
    """A :func:`maintained` structure brought up to date, or None while it is built in the background.

    For answers that can be given another way meanwhile: a request never waits for a whole build (at
    first, after a deletion, or after a bulk load), which :func:`warm` starts (unless not ``start``).
    """
    entry = _kept_entry(store, key, advance)
    state = entry.state
    if state is not None and state[0] == store.graph_version():
        return state[1]  # type: ignore[no-any-return]
    if state is not None:
        budget = store.limits.time_budget_s
        if not entry.lock.acquire(timeout=budget):
            raise _busy(budget)
        try:
            value = _advanced(store, entry, advance)
        finally:
            entry.lock.release()
        if value is not None:
            return value
    if start:
        warm(store, key, build, advance)
    return None


def warming(store: GraphStore) -> list[str]:
    """The :func:`maintained` structures being built in the background for this store."""
    caches = _caches(store)
    with caches.lock:
        entries = dict(caches.kept)
    return sorted(
        str(key[0]) if isinstance(key, tuple) else str(key) for key, e in entries.items() if e.warming
    )


def warm(
    store: GraphStore,
    key: Hashable,
    build: Callable[[], T],
    advance: Callable[[T, Changes], T | None],
    *,
    after: threading.Thread | None = None,
) -> threading.Thread | None:
    """Build a :func:`maintained` structure in a background thread (once), so later requests find it.

    ``after``: a build to wait for first (two builds at once on two cores starve the requests).
    Returns the thread, or None when it is built or being built already.
    """
    entry, caches = _kept_entry(store, key, advance), _caches(store)
    with caches.lock:
        if entry.warming or entry.state is not None:
            return None
        entry.warming = True

    def run() -> None:
        try:
            if after is not None:
                after.join()
            with entry.lock:
                if _advanced(store, entry, advance) is None:
                    _build(store, entry, build)
        except Exception:  # the next request that needs it tries again, and sees the error
            log.exception("building %s in the background failed", key)
        finally:
            entry.warming = False

    thread = threading.Thread(target=run, name=f"ckn-warm-{key}", daemon=True)
    thread.start()
    return thread


FOLLOW_EVERY_S = 0.05
"""How often a serving process looks for writes to apply to what it keeps (:func:`follow`)."""


def follow(
    store: GraphStore,
    stop: threading.Event,
    every_s: float = FOLLOW_EVERY_S,
    *,
    after: threading.Thread | None = None,
) -> threading.Thread:
    """Apply writes (this process's or another's) to the kept structures as they land, in a thread.

    A question after a write then finds what it needs up to date instead of applying the write itself
    first. A structure a request is already bringing up to date is left to it; one that must be built
    again is left to the next request (or :func:`warm`). Starts once ``after`` (a build at start) is
    done, and runs until ``stop`` is set.
    """

    def run() -> None:
        if after is not None:
            after.join()
        seen = -1
        while not stop.wait(every_s):
            try:
                version = store.graph_version()
                if version == seen:
                    continue
                store.prepare()  # the store's own (the embedded store's traversal view)
                with _caches(store).lock:
                    entries = list(_caches(store).kept.values())
                for entry in entries:
                    state, advance = entry.state, entry.advance
                    if state is None or advance is None or state[0] == version:
                        continue
                    if entry.lock.acquire(blocking=False):
                        try:
                            _advanced(store, entry, advance)
                        finally:
                            entry.lock.release()
                seen = version
            except Exception:  # a store away, or a failed update: requests see it themselves
                log.warning("following the store's writes failed; answers bring themselves up to date")
                stop.wait(1.0)

    thread = threading.Thread(target=run, name="ckn-follow", daemon=True)
    thread.start()
    return thread


def cached(store: GraphStore, key: Hashable, compute: Callable[[], T], tier: Tier = Tier.CORE) -> T:
    """``compute()``, remembered for the store's current graph version, in its ``tier``.

    Answers and projections are kept apart from the core structures: however many distinct analysis
    requests come, the evidence index an expert question needs stays.

    Any write makes a new graph version, which drops everything remembered for the store. Requests
    asking for the same thing at the same time wait for one computation instead of each doing it, for
    up to the store's time budget; then they get :class:`graph.errors.Computing` (a 503 with
    ``Retry-After``) rather than a pile of waiting requests.
    It is computed with the cyclic collector paused, which leaves it out of the collector's sight
    (``gc.freeze``, see :mod:`graph.heap`): a projection holds millions of objects, and scanning them
    again at every full collection would add pauses of a tenth of a second to unrelated requests. When
    the graph version changes they are handed back to the collector, so that what the old version held
    is freed.
    """
    version = store.graph_version()
    caches = _caches(store)
    with caches.lock:
        entry = caches.versioned
        if entry is None or entry.version != version:
            if entry is not None:
                gc.unfreeze()  # what the old version held can be collected (networkx graphs hold cycles)
            entry = caches.versioned = _Versioned(version)
        kept = entry.values[tier]
        if key in kept:
            kept.move_to_end(key)
            return kept[key]  # type: ignore[no-any-return]
        key_lock = entry.locks.setdefault((tier, key), threading.Lock())
    budget = store.limits.time_budget_s
    if not key_lock.acquire(timeout=budget):  # another request computes it: wait no longer than this
        raise Computing(
            f"this answer is being computed for another request; try again in {math.ceil(budget)} s",
            retry_after_s=math.ceil(budget),
        )
    try:
        with caches.lock:
            if key in kept:
                return kept[key]  # type: ignore[no-any-return]
        with paused_gc():  # frozen when the outermost pause ends
            value = compute()
        with caches.lock:
            kept[key] = value
            limit = KEPT[tier]
            while limit is not None and len(kept) > limit:
                old, _ = kept.popitem(last=False)
                entry.locks.pop((tier, old), None)
    finally:
        key_lock.release()
    return value
