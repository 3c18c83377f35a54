"""Entity resolution: one node for one customer, however many sources mention it.

Keys are tried strongest first: the CRM id, then e-mail, then canonical phone, then vCard UID or an
external id (HubSpot, Salesforce), then the normalised name within the kind (simplified characters,
NFKC, case-folded; only when exactly one entity has that name). The index starts from what the store
already holds and learns every record an ingest accepts, so later files of the same run resolve onto
earlier ones.
"""

from __future__ import annotations

import heapq
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from ckn.graph.heap import paused_gc
from ckn.graph.model import Entity, NodeKind
from ckn.graph.names import KEY_PROPS, NAMED_KINDS
from ckn.graph.names import strings as _strings
from ckn.graph.store import GraphStore
from ckn.ingest import normalise

RESOLVED_KINDS = NAMED_KINDS
MATCH_THRESHOLD = 90
"""Least name similarity (0-100, word order ignored) that makes two people a candidate for review."""
REVIEWED_KINDS = (NodeKind.CUSTOMER, NodeKind.EMPLOYEE)
_DIGITS = re.compile(r"\d+")
_NONE: frozenset[str] = frozenset()


@dataclass(slots=True)
class Known:
    """What the resolver knows of one entity."""

    kind: NodeKind
    name: str = ""
    aliases: set[str] = field(default_factory=set)
    keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    indexed: set[tuple[NodeKind, str]] = field(default_factory=set)
    """Every (kind, match key) of its names and aliases (and so its review blocks), for ``forget``."""


class Lookup:
    """How a reference a person typed is looked up: over :meth:`kind_of`, :meth:`by_keys` and :meth:`named`.

    A :class:`Resolver` answers them from what it learned; a serving process over a store that looks
    names up itself answers them from the store (``api.understand``).
    """

    def kind_of(self, entity_id: str) -> NodeKind | None:
        """The kind of a known entity."""
        raise NotImplementedError

    def by_keys(self, kind: NodeKind, **keys: Iterable[str]) -> str | None:
        """The entity of ``kind`` holding any of these key values (e.g. ``emails=[...]``), strongest first."""
        raise NotImplementedError

    def named(self, kind: NodeKind, name: str) -> set[str]:
        """Every entity of ``kind`` with this name or alias."""
        raise NotImplementedError

    def by_name(self, kind: NodeKind, name: str) -> str | None:
        """The one entity of ``kind`` with this name or alias (None when none or several)."""
        found = self.named(kind, name)
        return next(iter(found)) if len(found) == 1 else None

    def reference(self, kind: NodeKind, ref: str) -> str | None:
        """Resolve a reference cell that may hold an id, an e-mail address, a phone or a name."""
        ref = normalise.text(ref)
        if not ref:
            return None
        candidate = ref if ref.startswith(f"{kind.value.lower()}:") else f"{kind.value.lower()}:{ref}"
        if self.kind_of(candidate) is kind:
            return candidate
        if found := self.by_keys(kind, external_ids=[f"crm:{ref}"]):
            return found
        if "@" in ref:
            try:
                return self.by_keys(kind, emails=[normalise.email(ref)])
            except normalise.BadValue:
                return None
        if sum(c.isdigit() for c in ref) >= 6 and not any(c.isalpha() for c in ref):
            try:
                return self.by_keys(kind, phones=[normalise.phone(ref)])
            except normalise.BadValue:
                pass
        return self.by_name(kind, ref)


class Resolver(Lookup):
    """Finds the id an incoming record or reference belongs to."""

    def __init__(self, *, reviews: bool = True) -> None:
        self.reviews = reviews
        """Whether it finds look-alikes (:meth:`similar`, what an ingest's review needs); a resolver
        that only looks names and keys up (a serving process's) keeps no review blocks."""
        self.known: dict[str, Known] = {}
        self._by_key: dict[tuple[NodeKind, str, str], str] = {}
        self._by_name: dict[tuple[NodeKind, str], set[str]] = defaultdict(set)
        self._blocks: dict[tuple[NodeKind, str, int], dict[str, str]] = defaultdict(dict)
        """Review blocks by kind, first letter and length: entity id -> its match key with the words
        sorted (see :meth:`similar`)."""
        self._same: dict[tuple[NodeKind, str], set[str]] = defaultdict(set)
        """People by their name's words sorted, for names too short to be alike without being the same."""
        self.new: set[str] = set()
        """Ids learned for the first time since :meth:`begin` (what the source being ingested brings)."""

    @classmethod
    def from_store(cls, store: GraphStore, *, reviews: bool = True) -> Resolver:
        """A resolver that knows every customer, employee, product, topic, department and segment.

        Reads only what resolution uses (kind, name, aliases, key properties), without evidence.
        ``reviews``: see :attr:`reviews`.
        """
        resolver = cls(reviews=reviews)
        with paused_gc():  # see graph.heap: millions of index entries, no cycles
            scanned = store.scan_entities(kinds=RESOLVED_KINDS, fields=("aliases", *KEY_PROPS))
            # in id order, whatever order the store gives: the first entity learned with a key keeps it
            for entity_id, kind, name, data in sorted(scanned):
                resolver._learn(entity_id, NodeKind(kind), name, data)
        resolver.begin()
        return resolver

    def begin(self) -> set[str]:
        """Start counting ids as new (see :attr:`new`, returned); a source's ingest calls this first."""
        self.new = set()
        return self.new

    def learn(self, entity: Entity) -> None:
        """Index an entity under its id, name, aliases and key properties.

        Only the kinds that rows refer to (:data:`RESOLVED_KINDS`) are kept: interactions, feedback and
        documents are never looked up, and there are millions of them.
        """
        self._learn(entity.id, entity.kind, entity.name, entity.props)

    def learn_all(self, facts: Iterable[object]) -> None:
        """:meth:`learn` the entities among ``facts``."""
        for fact in facts:
            if isinstance(fact, Entity):
                self.learn(fact)

    def _learn(self, entity_id: str, kind: NodeKind, name: str, props: Mapping[str, object]) -> None:
        if kind not in RESOLVED_KINDS:
            return
        known = self.known.get(entity_id)
        if known is None:
            known = self.known[entity_id] = Known(kind)
            self.new.add(entity_id)
        if name and name != known.name:  # learned again (as read, then as written): nothing new
            known.name = name
            key = normalise.match_key(name)
            if key:  # a name of spaces is no name to look up
                self._by_name[(kind, key)].add(entity_id)
                known.indexed.add((kind, key))
            if self.reviews and kind in REVIEWED_KINDS and key:
                words = _sorted_words(key)
                self._blocks[_block(kind, words)][entity_id] = words
                self._same[(kind, words)].add(entity_id)
        for alias in _strings(props.get("aliases")):
            if alias in known.aliases:
                continue
            known.aliases.add(alias)
            if alias_key := normalise.match_key(alias):
                self._by_name[(kind, alias_key)].add(entity_id)
                known.indexed.add((kind, alias_key))
        for prop in KEY_PROPS:
            for value in _strings(props.get(prop)):
                known.keys[prop].add(value)
                self._by_key.setdefault((kind, prop, value), entity_id)

    def knows(self, entity: Entity) -> bool:
        """Whether ``entity`` is known as it is: same kind and name, the same aliases and keys."""
        known = self.known.get(entity.id)
        if known is None:
            return entity.kind not in RESOLVED_KINDS
        return (
            known.kind == entity.kind
            and (not entity.name or entity.name == known.name)
            and set(_strings(entity.props.get("aliases"))) == known.aliases
            and all(set(_strings(entity.props.get(p))) == known.keys.get(p, _NONE) for p in KEY_PROPS)
        )

    def forget(self, entity_id: str) -> None:
        """Drop an entity learned ahead of time that was never written (its row was quarantined)."""
        known = self.known.pop(entity_id, None)
        self.new.discard(entity_id)
        if known is None:
            return
        for prop, values in known.keys.items():
            for value in values:
                if self._by_key.get((known.kind, prop, value)) == entity_id:
                    del self._by_key[(known.kind, prop, value)]
        for kind, key in known.indexed:
            self._by_name[(kind, key)].discard(entity_id)
            if key:
                words = _sorted_words(key)
                self._blocks[_block(kind, words)].pop(entity_id, None)
                self._same[(kind, words)].discard(entity_id)

    def kind_of(self, entity_id: str) -> NodeKind | None:
        """The kind of a known entity."""
        known = self.known.get(entity_id)
        return known.kind if known else None

    def keys_of(self, entity_id: str, prop: str) -> AbstractSet[str]:
        """The identifying values (e-mails, phones, external ids) known for an entity (read-only)."""
        known = self.known.get(entity_id)
        return known.keys.get(prop, _NONE) if known else _NONE

    def by_keys(self, kind: NodeKind, **keys: Iterable[str]) -> str | None:
        """The entity of ``kind`` holding any of these key values (e.g. ``emails=[...]``), strongest first."""
        for prop in KEY_PROPS:
            for value in keys.get(prop, ()):
                found = self._by_key.get((kind, prop, value))
                if found:
                    return found
        return None

    def named(self, kind: NodeKind, name: str) -> set[str]:
        """Every entity of ``kind`` with this name or alias."""
        return set(self._by_name.get((kind, normalise.match_key(name)), set()))

    def by_name(self, kind: NodeKind, name: str) -> str | None:
        """The one entity of ``kind`` with this name or alias (None when none or several)."""
        found = self._by_name.get((kind, normalise.match_key(name)), set())
        return next(iter(found)) if len(found) == 1 else None

    def similar(self, kind: NodeKind, name: str, threshold: int = MATCH_THRESHOLD) -> list[tuple[str, float]]:
        """Known people of ``kind`` whose name is at least ``threshold`` similar, best first.

        Names are compared in match form with word order ignored (``Wei Zhang`` is ``Zhang Wei``), only
        within the blocks of their first sorted word's first character and of the lengths that can
        reach ``threshold``, so it stays fast at scale. Blocks hold the names with their words already
        sorted: ``ratio`` on them is ``token_sort_ratio`` without sorting every known name again.
        """
        if not self.reviews:
            raise ValueError("this resolver keeps no review blocks: build it with reviews=True")
        key = normalise.match_key(name)
        if not key:
            return []
        words = _sorted_words(key)
        same = self._same.get((kind, words), ())
        if len(same) >= 5:  # five of exactly this name score 100: the best five are the first five ids
            return [(entity_id, 100.0) for entity_id in heapq.nsmallest(5, same)]
        kind_, letter, length = _block(kind, words)
        # ratio = 200 * matches / (length + other length) >= threshold bounds the other length (whole
        # numbers: exact bounds, ratio is not rounded)
        shortest = -(-length * threshold // (200 - threshold))
        longest = (
            length * (200 - threshold) // threshold
            if threshold > 0
            else max((n for k, c, n in self._blocks if (k, c) == (kind_, letter)), default=0)
        )
        found: list[tuple[str, float, str]] = []
        if 200 * length / (2 * length + 1) < threshold:  # too short for another spelling to be alike
            found = [(words, 100.0, entity_id) for entity_id in self._same.get((kind, words), ())]
        else:
            for other_length in range(shortest, longest + 1):
                block = self._blocks.get((kind_, letter, other_length))
                if block:
                    found += process.extract(
                        words, block, scorer=fuzz.ratio, score_cutoff=threshold, limit=None
                    )
        digits = _DIGITS.findall(words)  # "Store 12" and "Store 13" are two stores, however alike the rest
        alike = [
            (entity_id, float(score)) for other, score, entity_id in found if _DIGITS.findall(other) == digits
        ]
        return sorted(alike, key=lambda x: (-x[1], x[0]))[:5]  # the same five, whatever the order learned


def _block(kind: NodeKind, words: str) -> tuple[NodeKind, str, int]:
    """The review block of a name in sorted-words form: its kind, first letter and length."""
    return kind, words[0], len(words)


def _sorted_words(key: str) -> str:
    return " ".join(sorted(key.split()))
