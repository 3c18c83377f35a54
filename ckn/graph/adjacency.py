"""The embedded store's traversal view: every relation's ends, type and id, in compact arrays.

Traversals read only adjacency: who is joined to whom, by which type of relation, with which id. A
networkx graph would hold that in over twice the memory of these arrays. Here nodes are numbered and
each direction is a CSR (offsets by node number; neighbour and relation number side by side in
``int32`` arrays; types in an ``int8`` array by relation number), most of the memory being the
relation id strings.

Relations written after the build go to short per-node lists beside the arrays (a write adds, it never
changes the ends or type of a relation: both are part of its id). A deletion drops the whole view; the
store builds it again on the next read.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable

import numpy as np
import numpy.typing as npt

from ckn.graph.model import RelType
from ckn.graph.store import Direction, Hop

TYPES = tuple(RelType)
_CODE = {t.value: i for i, t in enumerate(TYPES)}


class _Csr:
    """One direction: the relations of node ``u`` are ``edge[offsets[u]:offsets[u + 1]]``."""

    def __init__(self, start: npt.NDArray[np.int32], other: npt.NDArray[np.int32], nodes: int) -> None:
        order = np.argsort(start, kind="stable").astype(np.int32)
        self.offsets = np.zeros(nodes + 1, np.int64)
        np.cumsum(np.bincount(start, minlength=nodes), out=self.offsets[1:])
        self.other = other[order]
        self.edge = order
        self.more: dict[int, list[tuple[int, int]]] = {}
        """Relations added after the build: node -> [(other node, relation number)]."""

    def size(self, node: int) -> int:
        """How many relations ``node`` has this way."""
        built = self.offsets[node + 1] - self.offsets[node] if node + 1 < len(self.offsets) else 0
        return int(built) + len(self.more.get(node, ()))

    def around(self, node: int) -> tuple[list[int], list[int]]:
        """The neighbours and relation numbers of ``node`` (built and added)."""
        others: list[int] = []
        edges: list[int] = []
        if node + 1 < len(self.offsets):  # not a node added after the build
            lo, hi = self.offsets[node], self.offsets[node + 1]
            others, edges = self.other[lo:hi].tolist(), self.edge[lo:hi].tolist()
        for other, edge in self.more.get(node, ()):
            others.append(other)
            edges.append(edge)
        return others, edges


class Adjacency:
    """Ids, types and ends of every relation, read by :meth:`expand` and :meth:`degree`."""

    def __init__(self, entity_ids: Iterable[str], relations: Iterable[tuple[str, str, str, str]]) -> None:
        """Build from the entity ids and the ``(id, type, source, target)`` of every relation."""
        self.ids: list[str] = list(entity_ids)
        self.number: dict[str, int] = {e: i for i, e in enumerate(self.ids)}
        self.rids: list[str] = []
        sources, targets, types = array("i"), array("i"), array("b")
        number, rids, code = self.number, self.rids, _CODE  # a loop over millions: locals only
        for rid, rtype, source, target in relations:
            s, t = number.get(source), number.get(target)
            rids.append(rid)
            sources.append(self._node(source) if s is None else s)
            targets.append(self._node(target) if t is None else t)
            types.append(code[rtype])
        self.types = types
        start = np.frombuffer(sources, np.int32) if sources else np.zeros(0, np.int32)
        end = np.frombuffer(targets, np.int32) if targets else np.zeros(0, np.int32)
        self.out, self.into = _Csr(start, end, len(self.ids)), _Csr(end, start, len(self.ids))

    def _node(self, entity_id: str) -> int:
        number = self.number.get(entity_id)
        if number is None:
            number = self.number[entity_id] = len(self.ids)
            self.ids.append(entity_id)
        return number

    def add(self, entity_ids: Iterable[str], relations: Iterable[tuple[str, RelType, str, str]]) -> None:
        """Add entities and relations that were not in the store before (``(id, type, source, target)``)."""
        for entity_id in entity_ids:
            self._node(entity_id)
        for rid, rtype, source, target in relations:
            edge, s, t = len(self.rids), self._node(source), self._node(target)
            self.rids.append(rid)
            self.types.append(_CODE[rtype.value])
            self.out.more.setdefault(s, []).append((t, edge))
            self.into.more.setdefault(t, []).append((s, edge))

    def linked(self, node_id: str, wanted: Collection[RelType], outgoing: bool) -> list[tuple[str, RelType]]:
        """The other ends and types of ``node_id``'s relations of these types, one per relation."""
        u = self.number.get(node_id)
        if u is None:
            return []
        codes = {_CODE[t.value] for t in wanted}
        others, edges = (self.out if outgoing else self.into).around(u)
        ids, types = self.ids, self.types
        return [(ids[o], TYPES[types[e]]) for o, e in zip(others, edges, strict=True) if types[e] in codes]

    def count(self, node_id: str, wanted: Collection[RelType], outgoing: bool) -> int:
        """How many relations of these types ``node_id`` has this way."""
        u = self.number.get(node_id)
        if u is None:
            return 0
        codes, types = {_CODE[t.value] for t in wanted}, self.types
        return sum(types[e] in codes for e in (self.out if outgoing else self.into).around(u)[1])

    def _sides(self, direction: Direction) -> list[tuple[bool, _Csr]]:
        out, into = (True, self.out), (False, self.into)
        return {Direction.OUT: [out], Direction.IN: [into]}.get(direction, [out, into])

    def expand(
        self,
        entity_ids: Iterable[str],
        wanted: Collection[RelType] | None,
        direction: Direction,
        towards: Collection[str] | None,
    ) -> list[Hop]:
        """See :meth:`graph.store.GraphStore.expand`."""
        codes = None if wanted is None else {_CODE[t.value] for t in wanted}
        ids, types, rids = self.ids, self.types, self.rids
        found: dict[str, Hop] = {}
        for node in entity_ids:
            u = self.number.get(node)
            if u is None:
                continue
            for outgoing, side in self._sides(direction):
                for other, edge in zip(*side.around(u), strict=True):
                    if codes is not None and types[edge] not in codes:
                        continue
                    other_id = ids[other]
                    if towards is not None and other_id not in towards:
                        continue
                    source, target = (node, other_id) if outgoing else (other_id, node)
                    # the view holds only what the store validated when it was written
                    found[rids[edge]] = Hop.model_construct(
                        relation_id=rids[edge], type=TYPES[types[edge]], source=source, target=target
                    )
        return [found[rid] for rid in sorted(found)]

    def degree(
        self,
        entity_ids: Iterable[str],
        wanted: Collection[RelType] | None,
        direction: Direction,
        at_most: int | None,
    ) -> int:
        """See :meth:`graph.store.GraphStore.degree`."""
        codes = None if wanted is None else {_CODE[t.value] for t in wanted}
        types = self.types
        count = 0
        for node in entity_ids:
            u = self.number.get(node)
            if u is None:
                continue
            for _, side in self._sides(direction):
                if codes is None:
                    count += side.size(u)
                else:
                    count += sum(types[e] in codes for e in side.around(u)[1])
            if at_most is not None and count > at_most:
                break
        return count
