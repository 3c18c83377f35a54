"""Bulk work with Python's cyclic garbage collector paused.

Building a projection, the traversal view, the evidence index or the resolver's index, and ingesting
a file, allocate millions of objects that live on (nodes, edges, index entries). CPython's collector
scans the whole heap every time it has grown by a quarter: on a large graph that is a large share of
building the evidence index or of a structured ingest, and none of it finds garbage, because these
objects hold no reference cycles (projections are made not to, see :class:`Projection`).
Inside :func:`paused_gc` the collector does not run; reference counting still frees everything as
usual. Long work that may make cycles (text extraction: building spaCy pipelines leaves some, and an
installed model's documents may) calls :func:`collect_young` between batches, after :func:`settle`
has put what it built first out of the way.

When the last open block ends, what is alive is moved out of the collector's sight (``gc.freeze``)
before it runs again: otherwise its first collections would scan everything the work built (a
projection of millions of edges, the resolver's index) and stall whatever request comes next for
seconds. What was frozen
goes back to the collector when the graph version changes (:func:`graph.cache.cached`).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import networkx as nx


class _Pause:
    """How many ``paused_gc`` blocks are open (in any thread), and whether the collector ran before."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.was_enabled = True


_pause = _Pause()


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic collector off.

    It is back on when the last open block ends, with what is alive then frozen (see above).
    """
    with _pause.lock:
        if _pause.depth == 0:
            _pause.was_enabled = gc.isenabled()
            gc.disable()
        _pause.depth += 1
    try:
        yield
    finally:
        with _pause.lock:
            _pause.depth -= 1
            if _pause.depth == 0 and _pause.was_enabled:
                gc.freeze()
                gc.enable()


def settle() -> None:
    """Inside a paused block, move what is alive now out of the collector's sight (``gc.freeze``).

    For a long-lived structure built at the start of bulk work (the resolver's index of a million
    names): the young collections the work runs later (:func:`collect_young`) would each look at all
    of it again otherwise. It goes back to the collector with the rest (see above).
    """
    gc.freeze()


def collect_young() -> None:
    """Free the reference cycles made since the last collection, looking only at young objects.

    Cheap: a full collection would look at everything the bulk work built.
    """
    gc.collect(1)


class Projection(nx.MultiDiGraph):  # type: ignore[misc]
    """A ``MultiDiGraph`` whose edge and degree views are made on each use, not cached on the graph.

    A cached view refers back to its graph: a reference cycle, so a dropped projection of millions of
    nodes and edges waits for a full collection (seconds) instead of being freed at once by reference
    counting. Stores return projections as this class; it behaves as a ``MultiDiGraph`` in every other
    way.
    """

    edges = property(nx.MultiDiGraph.edges.func)
    out_edges = property(nx.MultiDiGraph.out_edges.func)
    in_edges = property(nx.MultiDiGraph.in_edges.func)
    degree = property(nx.MultiDiGraph.degree.func)
    in_degree = property(nx.MultiDiGraph.in_degree.func)
    out_degree = property(nx.MultiDiGraph.out_degree.func)
