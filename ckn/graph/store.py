"""The storage port: one protocol of domain operations, implemented natively by each adapter.

Adapters: :class:`graph.embedded_store.EmbeddedStore` (SQLite with an in-memory traversal view, the
default) and :class:`graph.neo4j_store.Neo4jStore`. Nothing outside ``ckn/graph/`` knows which one it talks
to; the contract suite in ``tests/contract/`` runs every test against both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any, Protocol, TypeVar, runtime_checkable

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field

from ckn.graph.audit import AuditEntry
from ckn.graph.errors import LimitExceeded
from ckn.graph.expertise import Ahead, Known
from ckn.graph.model import Batch, Entity, NodeKind, Relation, RelType
from ckn.graph.names import NameIndex
from ckn.graph.shared import Taken

T = TypeVar("T")


class Direction(StrEnum):
    """Which way a traversal follows relationships."""

    OUT = "out"
    IN = "in"
    BOTH = "both"


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Counts(_Result):
    """How many facts a write created, updated (content or new evidence) or left unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            created=self.created + other.created,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
        )


class WriteResult(_Result):
    """Outcome of one or more batches."""

    entities: Counts = Counts()
    relations: Counts = Counts()

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            entities=self.entities + other.entities, relations=self.relations + other.relations
        )


class DeleteResult(_Result):
    """Outcome of deleting a source or erasing a subject."""

    entities_deleted: int = 0
    relations_deleted: int = 0
    facts_trimmed: int = 0
    """Facts that lost this evidence but are still supported by other sources."""
    facts_supported: int = 0
    """Facts the deleted sources supported (deleted, trimmed, or kept by a dry run's ``keep``), not
    counting the ``Source`` entities themselves."""


class Hop(_Result):
    """One relationship crossed by a traversal."""

    relation_id: str
    type: RelType
    source: str
    target: str


class Path(_Result):
    """A simple path: ``nodes[i]`` and ``nodes[i + 1]`` are joined by ``hops[i]``."""

    nodes: tuple[str, ...]
    hops: tuple[Hop, ...]

    @property
    def length(self) -> int:
        """Number of relationships on the path."""
        return len(self.hops)


class Subgraph(_Result):
    """Entities around a start node, with their distance, and the relationships among them."""

    start: str
    entities: tuple[Entity, ...]
    distances: dict[str, int]
    relations: tuple[Relation, ...]
    truncated: bool = False
    """True when ``limit`` cut the answer short."""


class Stats(_Result):
    """Counts by node kind and relationship type, and the graph version."""

    backend: str
    entities: dict[str, int]
    relations: dict[str, int]
    graph_version: int

    @property
    def total_entities(self) -> int:
        """All nodes."""
        return sum(self.entities.values())

    @property
    def total_relations(self) -> int:
        """All relationships."""
        return sum(self.relations.values())


class EvidenceFacts(_Result):
    """What :meth:`GraphStore.evidence` reads: the items about some subjects and who did what with them.

    An item (interaction, feedback, document) is *about* a subject when it has an ``ABOUT`` or
    ``DELIVERED_TO`` relation to it, or when the subject is a customer who ``PARTICIPATED_IN`` or
    ``SUBMITTED`` it; a customer's account is about the customer itself when a colleague
    ``OWNS_ACCOUNT`` of it. A colleague *acts* on an item when they ``AUTHORED``, ``RESOLVED`` or
    ``PARTICIPATED_IN`` it, own the account (``OWNS_ACCOUNT``), or the item ``ESCALATED_TO`` them.
    """

    about: tuple[tuple[str, str], ...] = ()
    """``(item, subject)`` pairs."""
    acts: tuple[tuple[str, str, str], ...] = ()
    """``(person, relation type, item)``, one per relationship (an item's every act, whoever did it)."""
    items: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Each item's :data:`ITEM_FIELDS` that are set."""
    people: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Each acting colleague's ``name`` and :data:`PERSON_FIELDS` that are set."""
    work: dict[str, int] = Field(default_factory=dict)
    """Each acting colleague's relationships of their own work (:data:`WORK_TYPES`), on every subject."""
    shown: dict[str, tuple[str, str]] = Field(default_factory=dict)
    """Some items' name and first source, where the store read them with the evidence (else empty)."""


class KnownAbout(_Result):
    """What :meth:`GraphStore.known_about` reads: the kept sums of everyone's evidence on one subject."""

    sums: dict[str, Known] = Field(default_factory=dict)
    """Each colleague with evidence on it: their sums (:class:`graph.expertise.Known`)."""
    people: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Each of them: ``name`` and :data:`PERSON_FIELDS` that are set."""
    work: dict[str, int] = Field(default_factory=dict)
    """Each of them: relationships of their own work (:data:`WORK_TYPES`), on every subject."""
    ahead: dict[str, list[Ahead]] = Field(default_factory=dict)
    """Each one's pieces dated after they were written (counted in ``sums``, weighed apart)."""


class Reach(_Result):
    """What :meth:`GraphStore.referrals_below` reads: customers some referral steps below one."""

    customers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Each customer reached: ``name`` and :data:`REFERRAL_FIELDS` that are set."""
    referrals: tuple[tuple[str, str, str, float], ...] = ()
    """``(relation id, referrer, referred, confidence)``: the best confidence of its evidence."""


class Around(_Result):
    """What :meth:`GraphStore.customer_around` reads: one customer and what its dossier shows."""

    customer: Entity
    hops: tuple[Hop, ...] = ()
    """The relationships of the :data:`DOSSIER_TYPES` touching the customer, in id order."""
    relations: dict[str, Relation] = Field(default_factory=dict)
    """Those of the :data:`VALUED_TYPES` among them, whole (their values are shown)."""
    entities: dict[str, Entity] = Field(default_factory=dict)
    """The ends of :attr:`hops` (the customer too, when it has any), and the subjects of the customer's
    interactions and feedback."""
    around: tuple[Hop, ...] = ()
    """``RESOLVED`` and ``ABOUT`` relationships touching the customer's interactions and feedback (what
    it ``PARTICIPATED_IN`` or ``SUBMITTED``), in id order."""


DOSSIER_TYPES = (
    RelType.PARTICIPATED_IN,
    RelType.SUBMITTED,
    RelType.PURCHASED,
    RelType.OWNS_ACCOUNT,
    RelType.WORKS_AT,
    RelType.DELIVERED_TO,
)
"""Relationships with a customer its dossier shows (not its referrals, which a referral tree shows, nor
look-alikes and mentions: a top referrer has hundreds)."""
VALUED_TYPES = (RelType.OWNS_ACCOUNT, RelType.PURCHASED)
"""Relationships with a customer whose own values (dates, amounts) its dossier shows."""
AROUND_TYPES = (RelType.RESOLVED, RelType.ABOUT)
"""What a customer's dossier reads around its interactions and feedback: who resolved, what about."""

REFERRAL_FIELDS = ("lifetime_value", "acquired_at")
"""What referral answers read of a customer besides the name."""


ABOUT_TYPES = (RelType.ABOUT, RelType.DELIVERED_TO)
"""Item -> subject."""
CUSTOMER_ITEM_TYPES = (RelType.PARTICIPATED_IN, RelType.SUBMITTED)
"""Customer -> item."""
WORK_TYPES = (RelType.AUTHORED, RelType.RESOLVED, RelType.PARTICIPATED_IN)
"""Colleague -> item: their own work."""
ACT_TYPES = (*WORK_TYPES, RelType.OWNS_ACCOUNT, RelType.ESCALATED_TO)
"""Everything that makes a piece of evidence (``ESCALATED_TO`` goes item -> colleague)."""
ITEM_FIELDS = ("occurred_at", "submitted_at", "created_at", "channel")
PERSON_FIELDS = ("left_at", "expertise_opt_out")


class Demand(_Result):
    """A topic customers ask or complain about that no knowledge item is about."""

    topic_id: str
    name: str
    asked: int
    """Feedback and tickets about it (once per relationship)."""
    complaints: int
    """Those of them that are complaints."""
    examples: tuple[str, ...]
    """The first five of those items, by id."""


class TopicUse(_Result):
    """How much is said about one topic."""

    topic_id: str
    documents: int
    """Knowledge items about it (its document frequency)."""
    items: int
    """Documents, interactions and feedback about it."""


class TextHit(_Result):
    """A document, interaction or feedback whose text has every word of a query."""

    id: str
    score: float
    """Higher is better (the store's own relevance: BM25 on FTS5, Lucene's on Neo4j)."""


class Changes(_Result):
    """What the writes after a graph version did (:meth:`GraphStore.changes_since`)."""

    version: int
    """The graph version these changes lead to."""
    entities: frozenset[str] = frozenset()
    """Entities created or changed."""
    relations: tuple[Hop, ...] = ()
    """Relationships created."""
    restated: frozenset[str] = frozenset()
    """Ids of relationships that were there and changed (properties or evidence)."""
    deleted: bool = False
    """Whether anything was deleted (what was is not listed: a structure kept in step starts again)."""


class Limits(_Result):
    """Caps every traversal obeys; a request above a cap fails with :class:`LimitExceeded`."""

    max_depth: int = Field(default=6, ge=1, le=10)
    max_page: int = Field(default=1000, ge=1)
    max_expansion: int = Field(default=200_000, ge=1)
    """Relationships a single traversal may look at before it gives up."""
    max_paths: int = Field(default=10_000, ge=1)
    """Paths enumerated before ranking; more means the request is too broad."""
    time_budget_s: float = Field(default=10.0, gt=0)
    """Seconds one traversal or answer may take before it stops with :class:`LimitExceeded`."""

    def deadline(self) -> Deadline:
        """A clock for one request: ``check()`` refuses to go on past the time budget."""
        return Deadline(self.time_budget_s)

    def check_depth(self, depth: int) -> None:
        """Refuse a depth outside 1..max_depth."""
        if not 1 <= depth <= self.max_depth:
            raise LimitExceeded(
                f"depth must be between 1 and {self.max_depth}, got {depth}", max_depth=self.max_depth
            )

    def check_page(self, limit: int) -> None:
        """Refuse a page size outside 1..max_page."""
        if not 1 <= limit <= self.max_page:
            raise LimitExceeded(
                f"limit must be between 1 and {self.max_page}, got {limit}", max_page=self.max_page
            )


class Deadline:
    """The time budget of one request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    def check(self) -> None:
        """Raise :class:`LimitExceeded` once the budget is spent."""
        if time.monotonic() > self.until:
            raise LimitExceeded(
                f"the request took longer than its budget of {self.seconds:g} s; ask for less",
                time_budget_s=self.seconds,
            )


@runtime_checkable
class GraphStore(Protocol):
    """Domain operations on the customer knowledge graph."""

    backend: str
    limits: Limits
    answers_in_place: bool
    """True when questions about a few subjects are best asked of the store each time (Neo4j computes
    them where the data lives); False when answers come from structures this process keeps in step
    with the store's change log (the embedded store)."""
    caches: Any
    """What is remembered for this store (:class:`graph.cache.Caches`): each store object its own."""
    names: NameIndex | None
    """Where names are looked up: the store itself (Neo4j keeps indexed name rows, so no API process
    holds every name); None when a process reads every name once and keeps them in step with the
    change log (the embedded store)."""

    def write(self, batch: Batch) -> WriteResult:
        """Upsert a batch of entities and relations (and its checkpoint) in one transaction.

        Merging: an entity keeps its kind; a non-empty name replaces the old one; properties merge key by
        key (``None`` removes a key); provenance is the union of the evidence. Relations merge the same
        way on (type, source, target, key). Writing the same batch twice changes nothing.

        Raises:
            DanglingRelation: an endpoint is neither in the store nor in the batch.
            SchemaViolation: a relation joins kinds its type does not allow, or an id changes kind.

        """
        ...

    def write_behind(self) -> AbstractContextManager[None]:
        """A block whose writes may return before they are durable: bulk loads overlap I/O with work.

        Every write is still atomic, and reads see it at once. Writes are durable when the block ends
        (it raises if one failed); after a crash inside the block, each batch is wholly there or not at
        all, so a checkpoint written with its batch stays true. A store may keep its writes synchronous.
        """
        ...

    def writer(
        self, *, wait_s: float, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[None]:
        """Hold the store's write lock while the block runs: one ingest at a time, across processes.

        A second writer waits (``on_wait(holder)`` is called once when it starts waiting) for up to
        ``wait_s`` seconds, then gets :class:`graph.errors.StoreBusy`. A writer killed with
        ``kill -9`` lets go of it: the embedded store's lock file is unlocked by the system, Neo4j's
        lease runs out. Re-entrant in the thread that holds it.
        """
        ...

    def get_entity(self, entity_id: str) -> Entity | None:
        """One entity with all its provenance, or None."""
        ...

    def get_entities(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        """The entities among ``entity_ids`` that exist, by id."""
        ...

    def list_entities(
        self, kind: NodeKind | None = None, *, after: str = "", limit: int = 100
    ) -> list[Entity]:
        """Entities in id order, after the id ``after`` (keyset pagination)."""
        ...

    def get_relations_by_id(self, relation_ids: Sequence[str]) -> dict[str, Relation]:
        """The relations among ``relation_ids`` that exist, by id."""
        ...

    def get_relations(
        self,
        entity_id: str,
        *,
        types: Iterable[RelType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 100,
    ) -> list[Relation]:
        """Relations touching one entity, in id order."""
        ...

    def expand(
        self,
        entity_ids: Sequence[str],
        *,
        types: Iterable[RelType] | None,
        direction: Direction,
        towards: Collection[str] | None = None,
    ) -> list[Hop]:
        """Every relationship touching the given entities (one traversal step), in id order.

        ``towards``: only the relationships whose other end is one of these entities.
        """
        ...

    def degree(
        self,
        entity_ids: Sequence[str],
        *,
        types: Iterable[RelType] | None,
        direction: Direction,
        at_most: int | None = None,
    ) -> int:
        """How many relationships :meth:`expand` of these entities would cross (each entity counted).

        ``at_most``: the count may stop anywhere above this (the caller only compares).
        """
        ...

    def neighbourhood(
        self,
        entity_id: str,
        *,
        depth: int = 1,
        types: Iterable[RelType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 200,
    ) -> Subgraph:
        """Entities within ``depth`` steps, nearest first (ties by id), capped at ``limit``."""
        ...

    def paths(
        self,
        source_id: str,
        target_id: str,
        *,
        max_depth: int = 4,
        types: Iterable[RelType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 10,
    ) -> list[Path]:
        """Simple paths of at most ``max_depth`` steps, shortest first, then by node and relation ids."""
        ...

    def project(
        self,
        *,
        kinds: Iterable[NodeKind] | None = None,
        types: Iterable[RelType] | None = None,
        fields: Sequence[str] | None = None,
    ) -> nx.MultiDiGraph:
        """The graph (or the part with these kinds and types) as networkx, for analysis.

        Nodes carry ``kind``, ``name`` and their properties; edges are keyed by relation id and carry
        ``type``, ``valid_from``, ``valid_to`` (ISO strings or None) and their properties. ``fields``
        loads only those properties of nodes (the ones that are set) and none of edges, which is much
        cheaper on large graphs (millions of edges).
        """
        ...

    def scan_entities(
        self, *, kinds: Iterable[NodeKind], fields: Sequence[str]
    ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """``(id, kind, name, {field: value})`` of every entity of these kinds, one at a time, in no order.

        Only the ``fields`` that are set are given. For indexes over millions of entities, which a
        projection would hold in many gigabytes. Writes made while it runs may or may not be seen.
        """
        ...

    def scan_relations(self, *, types: Iterable[RelType]) -> Iterator[tuple[str, str, str]]:
        """``(source, target, type)`` of every relation of these types, one at a time, in no order."""
        ...

    def evidence(self, subject_ids: Sequence[str] = (), *, item_ids: Sequence[str] = ()) -> EvidenceFacts:
        """The evidence about these subjects (every item about them) and in these items (about anything).

        Read where the data lives, bounded by the subjects' neighbourhood: what expert questions on
        a few subjects need, without any whole-graph structure.
        """
        ...

    def referrals_below(self, customer_id: str, *, depth: int) -> Reach:
        """The customers reached by following referrals down from one, at most ``depth`` steps.

        With every referral out of a customer fewer than ``depth`` steps down, and the referrals among
        the customers reached out of those ``depth`` steps down (the cycles). Costs what it reaches.

        Raises:
            NotFound: no such customer.
            LimitExceeded: more referrals than the expansion cap.

        """
        ...

    def customer_around(self, customer_id: str) -> Around | None:
        """One entity and what a customer 360 shows of it (:class:`Around`), or None when there is none.

        Of an entity that is not a customer, only the entity (a colleague has thousands of
        interactions). Costs what the dossier shows: the customer's relationships of the
        :data:`DOSSIER_TYPES`, their other ends, and one step further from its interactions and feedback.
        """
        ...

    def known_about(self, subject_id: str) -> KnownAbout:
        """Everyone's kept evidence sums on one subject (:mod:`graph.expertise`), with their names.

        Read from what each write keeps in step: a few hundred rows, however much evidence there is.
        """
        ...

    def known_about_each(self, subject_ids: Sequence[str]) -> dict[str, KnownAbout]:
        """:meth:`known_about` for each of many subjects (a question over every topic), by subject.

        Neo4j reads them in one query instead of one round trip each.
        """
        ...

    def evidence_between(
        self, people: Sequence[str], subject_id: str, *, strongest: int | None = None, at: float = 0.0
    ) -> EvidenceFacts:
        """The evidence of these colleagues about one subject: their acts on the items about it.

        Bounded by the colleagues' own work. ``strongest`` (what an expert answer shows for its first
        few): only each one's that many strongest items at ``at`` (POSIX seconds) at the kept
        half-life, read in order from the kept pieces, and all their acts on them (a store may return
        more; the caller ranks).
        ``work`` is not filled.
        """
        ...

    def strongest_each(
        self, asks: Mapping[str, Sequence[str]], *, strongest: int, at: float
    ) -> dict[str, EvidenceFacts]:
        """:meth:`evidence_between` with ``strongest`` for each subject in ``asks`` (its colleagues).

        A question over every subject (the knowledge map) shows the strongest evidence of each one's
        first holders: Neo4j reads them together instead of one round trip a subject.
        """
        ...

    def search_text(self, query: str, *, limit: int) -> list[TextHit]:
        """Documents, interactions and feedback whose title and text have every word of ``query``, best first.

        Chinese and English (see :mod:`graph.fulltext`); read from the store's full-text index.
        """
        ...

    def topic_use(self) -> list[TopicUse]:
        """Every topic with the items about it, counted where the data lives, in no particular order."""
        ...

    def unmet_demand(self) -> list[Demand]:
        """Topics customers ask about and no ``KnowledgeItem`` is about, in no particular order.

        Asked: a ``Feedback``, or an interaction on the ``ticket`` channel, is ``ABOUT`` them.
        Aggregated where the data lives (a Cypher query; SQL on the embedded store), per topic.
        """
        ...

    def changes_since(self, version: int) -> Changes | None:
        """What changed after graph version ``version``, or None when the store cannot tell.

        Structures kept in step with the graph (the evidence index, the referral graph) apply these
        instead of being built again; None means build again.
        """
        ...

    def delete_source(
        self, *source_ids: str, dry_run: bool = False, keep: Iterable[str] = ()
    ) -> DeleteResult:
        """Remove the evidence of sources; facts no other source supports are deleted.

        ``dry_run``: change nothing, say what would change, counting the facts in ``keep`` (ids of
        facts a new version would write) as supported elsewhere.
        """
        ...

    def erase_entity(self, entity_id: str) -> DeleteResult:
        """Erase a subject: the entity, every relation touching it, all their evidence (see :meth:`scrub`)."""
        ...

    def scrub(self) -> bool:
        """After an erasure: no copy of what it deleted or masked is left in the store's own files.

        Called once at its end (it may rewrite the whole store). False when a copy may be left for
        now (a reader kept a log from being cleared): the next scrub clears it.
        """
        ...

    def rename_source(self, source_id: str, to: Entity) -> int:
        """Give a source a new id (a file named after an erased person): ``to`` is its entity renamed.

        Every piece of evidence from it is restated as coming from ``to``, and its ingest checkpoint
        goes with it; the old id is left nowhere in the graph. Returns how many facts were restated.
        """
        ...

    def get_checkpoint(self, job: str) -> str | None:
        """The last position a job committed, or None."""
        ...

    def suppress(self, hashes: Iterable[str]) -> None:
        """Add hashed keys of erased people to the suppression list (kept for good)."""
        ...

    def suppressed(self) -> frozenset[str]:
        """Every hashed key on the suppression list (small: a few per erased person)."""
        ...

    def append_audit(self, record: dict[str, Any]) -> AuditEntry:
        """Append a record to the audit log, chained to the last one (one chain across processes)."""
        ...

    def read_audit(self, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Audit records with ``seq`` above ``after``, oldest first."""
        ...

    def save_job(self, record: dict[str, Any], *, heard: bool = True) -> None:
        """Keep an ingest job's record (``record["id"]``; it replaces the one kept before).

        The store notes when, by its own clock (every process shares it: hosts' clocks may differ);
        not when ``heard`` is false (the record changed, not the job: an erasure masked it).
        Only the newest :data:`graph.shared.JOBS_KEPT` are kept, by ``record["created_at"]``, and none
        older than :data:`graph.shared.JOBS_KEPT_DAYS`.
        """
        ...

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """An ingest job's record as last kept, with ``heard_s_ago`` (seconds since then), or None."""
        ...

    def jobs(self) -> list[dict[str, Any]]:
        """Every ingest job's record kept (at most :data:`graph.shared.JOBS_KEPT`), newest first.

        Each as :meth:`get_job` gives it.
        """
        ...

    def take_requests(self, bucket: str, want: int, per_minute: int) -> Taken:
        """Up to ``want`` requests from a caller's bucket (:mod:`graph.shared`), one for every process.

        ``bucket``: the caller as the API names them (a keyed hash, never a key or an address).
        """
        ...

    def stats(self) -> Stats:
        """Counts by kind and type, and the graph version (it grows with every change)."""
        ...

    def graph_version(self) -> int:
        """A number that grows with every change (cheap: for caches keyed on the graph's state)."""
        ...

    def prepare(self) -> None:
        """Start building, in the background, what makes answers faster (a server calls it at start).

        Answers never wait for it: until it is built they read the indexes.
        """
        ...

    def warming(self) -> list[str]:
        """What :meth:`prepare` is still building (empty when done, or when the store builds nothing)."""
        ...

    def ping(self) -> None:
        """Raise :class:`graph.errors.StoreUnavailable` unless the store answers."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


def write_all(
    store: GraphStore,
    entities: Iterable[Entity] = (),
    relations: Iterable[Relation] = (),
    *,
    batch_size: int = 1000,
) -> WriteResult:
    """Write entities, then relations, in transactions of ``batch_size`` facts each."""
    total = WriteResult()
    for chunk in _chunks(list(entities), batch_size):
        total += store.write(Batch(entities=tuple(chunk)))
    for rel_chunk in _chunks(list(relations), batch_size):
        total += store.write(Batch(relations=tuple(rel_chunk)))
    return total


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
