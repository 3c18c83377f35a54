"""The Neo4j store: the production adapter, through the official ``neo4j`` driver.

Writes are managed transactions (retried by the driver on transient errors such as deadlocks), each
batch one transaction: lock the entities it touches, read them, merge in Python with the same rules as
the embedded store (:mod:`graph.merge`), write with ``UNWIND ... MERGE``, finding the locked nodes by
the element ids the lock statements returned. Inside ``write_behind()`` a batch runs in an explicit
transaction instead, committed behind (:mod:`graph.behind`). Reads are routed as reads.
Every statement comes from :mod:`graph.cypher`; this is the only module that imports ``neo4j``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from itertools import starmap
from typing import Any, TypeVar

import neo4j
import networkx as nx
from neo4j import GraphDatabase, ManagedTransaction, Query
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from ckn.graph import changelog, cypher, expertise, fulltext, names, traversal
from ckn.graph.audit import AuditEntry, canonical, chain_hash
from ckn.graph.behind import CommitsBehind
from ckn.graph.breaker import Breaker
from ckn.graph.cache import Caches
from ckn.graph.errors import CknError, LimitExceeded, NotFound, StoreUnavailable, StoreVersionError
from ckn.graph.heap import Projection
from ckn.graph.ids import relation_type_of
from ckn.graph.merge import WritePlan, keep_referenced, plan_source_deletion, plan_source_rename, plan_write
from ckn.graph.model import (
    RESERVED_PROPS,
    Batch,
    Entity,
    EvidenceJson,
    NodeKind,
    Provenance,
    Relation,
    RelType,
    utcnow,
)
from ckn.graph.shared import JOBS_KEPT, PRUNE_EVERY_S, REFILL_S, Taken, job_kept, jobs_cutoff, take
from ckn.graph.store import (
    AROUND_TYPES,
    CUSTOMER_ITEM_TYPES,
    DOSSIER_TYPES,
    ITEM_FIELDS,
    PERSON_FIELDS,
    REFERRAL_FIELDS,
    VALUED_TYPES,
    Around,
    Changes,
    DeleteResult,
    Demand,
    Direction,
    EvidenceFacts,
    Hop,
    KnownAbout,
    Limits,
    Reach,
    Stats,
    TextHit,
    TopicUse,
    WriteResult,
)
from ckn.graph.writer import WriterLock, holder_name

log = logging.getLogger(__name__)
T = TypeVar("T")

_CHUNK = 5000
SUBJECTS_READ_AT_ONCE = 100
"""Subjects whose kept sums one query reads (each query stays well inside its timeout)."""

Tx = ManagedTransaction | neo4j.Transaction
"""A write transaction: managed (the driver commits and retries it) or explicit (committed behind)."""

Nodes = dict[str, str]
"""Entity id -> the ``elementId`` of its node, as a lock statement of the transaction returned it."""


class _Unprinted(list[Any]):
    """A statement's list parameter (rows, ids) that prints as its length.

    The driver formats every statement's parameters for its debug log (``" ".join(map(repr, fields))``)
    before the logger decides whether to print them: for a batch of 10,000 rows that costs as much as
    encoding them, in the writer's thread, and a debug log would hold every customer's details. The
    encoder sends it as the list it is.
    """

    def __repr__(self) -> str:
        return f"<{len(self)} values>"


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters for the driver, their lists unprinted (see :class:`_Unprinted`)."""
    return {k: _Unprinted(v) if isinstance(v, list) else v for k, v in params.items()}


def _outage(exc: BaseException) -> bool:
    """Whether an error means the server is away (down, restarting, unreachable), not a bad query."""
    if isinstance(exc, ServiceUnavailable | SessionExpired | OSError):
        return True
    return isinstance(exc, Neo4jError) and "DatabaseUnavailable" in (exc.code or "")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, Neo4jError | DriverError) and exc.is_retryable()


GONE = "Neo.ClientError.Statement.EntityNotFound"
"""A node deleted by another transaction between a statement finding it and locking it."""

OLDEST_SERVER = (5, 26)
"""The oldest Neo4j ckn runs on: its statements use dynamic relationship types (new in 5.26)."""


def check_server(agent: str) -> None:
    """Refuse a server older than :data:`OLDEST_SERVER`, from its agent string (``Neo4j/5.26.12``)."""
    found = re.match(r"Neo4j/(\d+)\.(\d+)", agent)
    if found and (int(found[1]), int(found[2])) < OLDEST_SERVER:
        oldest = ".".join(map(str, OLDEST_SERVER))
        raise StoreVersionError(f"the server is {agent}; ckn needs Neo4j {oldest} or later")


def _user_props(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if not k.startswith("_") and k not in RESERVED_PROPS}


def _evidence(props: dict[str, Any]) -> tuple[Provenance, ...]:
    items = [Provenance.model_validate_json(p) for p in props.get("_prov", [])]
    return tuple(sorted(items, key=lambda p: (p.observed_at, p.key)))


def _first_source(stored: list[str]) -> str:
    """The source of the first of some stored evidence, as :func:`_evidence` orders it ("" for none).

    One piece (the most common) is read as JSON alone: validating it is most of the time an
    answer's evidence takes to read.
    """
    if len(stored) == 1:
        return str(json.loads(stored[0])["source_id"])
    first = _evidence({"_prov": stored})
    return first[0].source_id if first else ""


def _entity(props: dict[str, Any]) -> Entity:
    return Entity(
        id=props["id"],
        kind=NodeKind(props["_kind"]),
        name=props.get("name", ""),
        props=_user_props(props),
        provenance=_evidence(props),
    )


def _relation(source: str, target: str, rtype: str, props: dict[str, Any]) -> Relation:
    return Relation(
        type=RelType(rtype),
        source=source,
        target=target,
        key=props.get("key", ""),
        props=_user_props(props),
        valid_from=props.get("valid_from"),
        valid_to=props.get("valid_to"),
        provenance=_evidence(props),
    )


def _hops(found: Iterable[Sequence[str]]) -> tuple[Hop, ...]:
    """``(relation id, type, source, target)`` rows as hops, each relation once, in id order."""
    unique = {r: Hop(relation_id=r, type=RelType(t), source=s, target=e) for r, t, s, e in found}
    return tuple(unique[r] for r in sorted(unique))


def _stored_props(fact: Entity | Relation, fact_id: str, now: str, as_json: EvidenceJson) -> dict[str, Any]:
    stored: dict[str, Any] = {
        **fact.props,
        "id": fact_id,
        "_prov": [as_json(p) for p in fact.provenance],
        "_prov_sources": sorted({p.source_id for p in fact.provenance}),
        "_updated_at": now,
    }
    if isinstance(fact, Entity):
        stored.update(name=fact.name, _kind=fact.kind.value)
        if fact.kind in expertise.ITEM_KINDS:  # weighed by expert questions in the database
            stored["_when"] = expertise.dated(fact.props)
        if fact.kind in fulltext.SEARCHED:
            stored[fulltext.SEARCH_PROPERTY] = fulltext.searchable(fact) or ""
    else:
        stored["key"] = fact.key
        if fact.valid_from:
            stored["valid_from"] = fact.valid_from.isoformat()
        if fact.valid_to:
            stored["valid_to"] = fact.valid_to.isoformat()
    return stored


def _items_read(
    rows: list[neo4j.Record],
) -> tuple[set[tuple[str, str]], list[tuple[str, str, str]], dict[str, dict[str, Any]]]:
    """``about``, ``acts`` and ``items`` (see :class:`graph.store.EvidenceFacts`) of an evidence read."""
    about: set[tuple[str, str]] = set()
    acts: list[tuple[str, str, str]] = []
    items: dict[str, dict[str, Any]] = {}
    for item, subjects, done, values in rows[0]["items"] if rows else ():
        about.update((item, subject) for subject in subjects)
        acts.extend((person, rtype, item) for person, rtype in done)
        items[item] = {k: v for k, v in zip(ITEM_FIELDS, values, strict=True) if v is not None}
    return about, acts, items


def _confidence(evidence: list[str] | None) -> float:
    """The best confidence among a fact's stored evidence (as :class:`graph.model.Provenance` JSON).

    Read from the JSON's own ``"confidence":`` field, not by decoding it: a referral tree reads one for
    each of thousands of referrals. A ``"`` inside a string is escaped, so no text in a field matches.
    """
    found = (_CONFIDENCE.search(p) for p in evidence or ())
    return max((float(m[1]) if m else 1.0 for m in found), default=1.0)


_CONFIDENCE = re.compile(r'"confidence":\s*(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)')


def _people(rows: Iterable[list[Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Colleagues' names and :data:`PERSON_FIELDS` that are set, and their counts of own work.

    From ``[id, name, fields, count]`` rows (:data:`cypher.EVIDENCE_PEOPLE`).
    """
    people: dict[str, dict[str, Any]] = {}
    work: dict[str, int] = {}
    for person, name, values, count in rows:
        people[person], work[person] = _person(name, values), int(count)
    return people, work


def _person(name: str | None, values: list[Any]) -> dict[str, Any]:
    """A colleague's ``name`` and the :data:`PERSON_FIELDS` that are set (``values``, in their order)."""
    return {**{k: v for k, v in zip(PERSON_FIELDS, values, strict=True) if v is not None}, "name": name or ""}


def _between(subject_id: str, rows: list[Any]) -> EvidenceFacts:
    """:data:`cypher.EVIDENCE_BETWEEN` or one subject of :data:`cypher.STRONGEST_EACH`, read.

    ``[person, name, fields, [[types, item, fields(, name, stored evidence)], ...]]`` a colleague.
    """
    acts: set[tuple[str, str, str]] = set()
    items: dict[str, dict[str, Any]] = {}
    shown: dict[str, tuple[str, str]] = {}
    people: dict[str, dict[str, Any]] = {}
    for person, name, values, done in rows:
        people[person] = _person(name, values)
        for rtypes, item, fields, *named in done:
            acts.update((person, rtype, item) for rtype in rtypes)
            items[item] = {k: v for k, v in zip(ITEM_FIELDS, fields, strict=True) if v is not None}
            if named:
                shown[item] = (named[0] or "", _first_source(named[1] or []))
    return EvidenceFacts.model_construct(
        about=tuple((item, subject_id) for item in sorted(items)),
        acts=tuple(sorted(acts)),
        items=items,
        people=people,
        shown=shown,
    )


def known_about_params(subjects: list[str]) -> dict[str, Any]:
    """The parameters of :data:`cypher.KNOWN_ABOUT` for some subjects."""
    return {"subjects": subjects, "fields": list(PERSON_FIELDS), "no_date": math.nan}


def strongest_params(strongest: int, at: float) -> dict[str, Any]:
    """The parameters of :data:`cypher.STRONGEST_EACH` besides the subjects and the people."""
    return {
        **expertise.strongest_cut(strongest, at),
        "weights": expertise.ACT_WEIGHTS,
        "meeting": expertise.WEIGHTS["meeting"],
        "deep": expertise.DEEP_CHANNELS,
    }


_BUILDING_S = 24 * 3600
"""How long a migration waits for a new index to be built before it drops the one it replaces."""


def _q(text: str, timeout: float) -> Query:
    return Query(text, timeout=timeout)


class _Names:
    """Names looked up in the database (:class:`graph.names.NameIndex`): indexed ``CknName`` rows."""

    def __init__(self, read: Callable[..., list[neo4j.Record]]) -> None:
        self._read = read

    @staticmethod
    def _found(records: Iterable[neo4j.Record]) -> list[names.Name]:
        return sorted(names.Name(r["form"], r["id"], NodeKind(r["kind"])) for r in records)

    def found_in(self, forms: Sequence[str]) -> list[names.Name]:
        """See :meth:`graph.names.NameIndex.found_in`: one index seek per form."""
        return self._found(self._read(cypher.NAMES_FOUND_IN, forms=sorted(set(forms)))) if forms else []

    def named(self, key: str) -> list[names.Name]:
        """See :meth:`graph.names.NameIndex.named`."""
        return self._found(self._read(cypher.NAMED, key=key)) if key else []

    def keyed(self, values: Sequence[str]) -> dict[str, list[names.Name]]:
        """See :meth:`graph.names.NameIndex.keyed`."""
        found: dict[str, list[names.Name]] = defaultdict(list)
        for r in self._read(cypher.KEYED, values=sorted(set(values))) if values else ():
            found[r["prop"]].append(names.Name(r["form"], r["id"], NodeKind(r["kind"])))
        return {prop: sorted(rows) for prop, rows in found.items()}

    def like(self, text: str, *, limit: int) -> list[names.Name]:
        """See :meth:`graph.names.NameIndex.like`: the full-text index of the folded names."""
        query = names.like_query(text)
        if query is None:
            return []
        return [
            names.Name(r["form"], r["id"], NodeKind(r["kind"]))
            for r in self._read(cypher.NAMES_LIKE, query=query, limit=limit)
        ]


def _job(row: neo4j.Record) -> dict[str, Any]:
    """A job's record as kept, with how long ago it was heard of by the database's clock."""
    return {**json.loads(row["record"]), "heard_s_ago": row["ago_ms"] / 1000}


class Neo4jStore(traversal.Traversals):
    """Neo4j implementation of :class:`graph.store.GraphStore`."""

    backend = "neo4j"
    answers_in_place = True

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        *,
        database: str = "neo4j",
        timeout_s: float = 30.0,
        limits: Limits | None = None,
        lock_lease_s: float = 10.0,
        connect_timeout_s: float = 1.0,
    ) -> None:
        """Connect, check the server answers, and bring the schema up to date.

        ``timeout_s`` bounds a query; ``connect_timeout_s`` bounds connecting and the retries of a
        transient failure, so a request meets an outage within it (then the circuit opens: see
        :mod:`graph.breaker`).
        """
        self.limits = limits or Limits()
        self.caches = Caches()
        self.database = database
        self._timeout = timeout_s
        self._pruned_at = 0.0  # when this client last dropped the rate buckets full again
        self._behind = CommitsBehind()
        self._breaker = Breaker("Neo4j", _outage)
        self._driver = GraphDatabase.driver(
            uri,
            auth=(user, password),
            connection_timeout=connect_timeout_s,
            connection_acquisition_timeout=connect_timeout_s * 2.5,  # a busy server: not an outage
            max_transaction_retry_time=0,  # ckn retries transient errors itself, not outages (_retrying)
            notifications_min_severity="OFF",  # schema hints on an empty database are noise, not errors
        )
        try:
            self._driver.verify_connectivity()
        except (ServiceUnavailable, AuthError, OSError, Neo4jError) as exc:
            self._driver.close()
            raise StoreUnavailable(f"cannot reach Neo4j at {uri}: {exc}") from None
        try:
            check_server(self._driver.get_server_info().agent)
        except StoreVersionError:
            self._driver.close()
            raise
        self._holder = holder_name()
        self._lease_ms = int(lock_lease_s * 1000)
        self._writer = WriterLock(
            self._take_writer, self._release_writer, self._renew_writer, renew_every_s=lock_lease_s / 4
        )
        self.names: names.NameIndex | None = _Names(self._read)
        self._migrate()

    # -- one writer at a time ------------------------------------------------------------------------

    def writer(
        self, *, wait_s: float, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[None]:
        """See :meth:`graph.store.GraphStore.writer`: a lease on a lock node, renewed while held.

        The lease (``lock_lease_s``) is timed by the server's clock, so replicas on other machines
        agree; a writer killed with ``kill -9`` blocks the next one until its lease runs out.
        """
        return self._writer.held(wait_s, on_wait)

    def _take_writer(self) -> str | None:
        def work(tx: ManagedTransaction) -> str | None:
            (record,) = self._run(tx, cypher.TAKE_WRITER_LOCK, holder=self._holder, lease_ms=self._lease_ms)
            return None if record["taken"] else str(record["holder"])

        result: str | None = self._lock_write(work)
        return result

    def _renew_writer(self) -> bool:
        def work(tx: ManagedTransaction) -> bool:
            records = self._run(tx, cypher.RENEW_WRITER_LOCK, holder=self._holder, lease_ms=self._lease_ms)
            return bool(records)

        try:
            renewed: bool = self._lock_write(work)
        except (Neo4jError, DriverError, OSError) as exc:
            log.warning("could not renew the write lock's lease: %s", exc)
            return True  # the next renewal tries again; the lease has time left
        return renewed

    def _release_writer(self) -> None:
        try:
            self._lock_write(lambda tx: self._run(tx, cypher.RELEASE_WRITER_LOCK, holder=self._holder))
        except (Neo4jError, DriverError, OSError) as exc:  # the writes are committed; the lease runs out
            log.warning("could not release the write lock (its lease runs out by itself): %s", exc)

    def _lock_write(self, work: Any) -> Any:
        """A write of the lock node: past the circuit breaker (the lease has its own timing)."""

        def once() -> Any:
            with self._driver.session(database=self.database) as session:
                return session.execute_write(work)

        return self._retrying(once)

    # -- plumbing ----------------------------------------------------------------------------------

    def _read(self, text: str, **params: Any) -> list[neo4j.Record]:
        """Every record of one read statement, run on its own.

        Auto-commit: one round trip, where a managed transaction takes two (its commit apart); our own
        retries stand in for the driver's. No bookmarks are passed: on one server (Community) a read
        sees every write committed before it; a cluster would need them.
        """
        self._behind.wait()
        query, values = _q(text, self._timeout), _params(params)

        def once() -> list[neo4j.Record]:
            mode = neo4j.READ_ACCESS
            with self._driver.session(database=self.database, default_access_mode=mode) as session:
                return list(session.run(query, values))

        with self._breaker.guard():
            return self._retrying(once)

    def _retrying(self, call: Callable[[], T]) -> T:
        """``call()``, tried again after a transient error (a deadlock, a leader switch).

        For up to the query timeout. An outage is tried once more at once (the error may come from a
        pooled connection the server closed), then not again: it opens the circuit.
        """
        deadline, delay, fresh = time.monotonic() + self._timeout, 0.05, True
        while True:
            try:
                return call()
            except Exception as exc:
                if _outage(exc) and fresh:  # a pooled connection gone stale: once more, on a new one
                    fresh = False
                    continue
                if _outage(exc) or not _retryable(exc) or time.monotonic() + delay > deadline:
                    raise
                log.info("transient Neo4j error (%s); trying again", exc)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _write_tx(self, work: Any) -> Any:
        self._behind.wait()
        return self._managed_write(work)

    def _managed_write(self, work: Any) -> Any:
        def once() -> Any:
            with self._driver.session(database=self.database) as session:
                return session.execute_write(work)

        with self._breaker.guard():
            return self._retrying(once)

    def _begin(self, work: Any) -> tuple[neo4j.Session, neo4j.Transaction, Any]:
        """``work`` run in an explicit transaction left open for its commit; retried as managed ones are."""
        deadline, delay = time.monotonic() + self._timeout, 0.1
        while True:
            session = self._driver.session(database=self.database)
            try:
                tx = session.begin_transaction()
                return session, tx, work(tx)
            except BaseException as exc:
                session.close()  # rolls the transaction back
                if not _retryable(exc) or time.monotonic() + delay > deadline:
                    raise
                log.info("write transaction failed (%s); trying again", exc)
            time.sleep(delay)
            delay *= 2

    def _commit(
        self,
        session: neo4j.Session,
        tx: neo4j.Transaction,
        work: Any,
        new_relations: list[dict[str, Any]],
        kept: list[Callable[[Tx], None]],
    ) -> None:
        """Create a batch's new relations, keep the sums, commit (behind); a transient error: again."""
        try:
            if new_relations:
                self._run(tx, cypher.CREATE_RELATIONS, rows=new_relations)
            for keep in kept:
                keep(tx)
            tx.commit()
            return
        except Exception as exc:
            if not _retryable(exc):
                raise
            log.warning("a commit behind failed (%s); writing its batch again", exc)
        finally:
            session.close()
        self._managed_write(work)

    @staticmethod
    def _run(tx: Tx, text: str, **params: Any) -> list[neo4j.Record]:
        return list(tx.run(text, _params(params)))

    def _index_stored_texts(self) -> None:
        """Give the items stored before full-text search existed their search form."""
        kinds = [k.value for k in fulltext.SEARCHED]
        while found := self._read(cypher.UNSEARCHABLE, kinds=kinds, limit=5000):
            rows = [
                {
                    "id": r["id"],
                    "form": fulltext.searchable(
                        Entity.model_construct(
                            id=r["id"], kind=NodeKind(r["kind"]), name=r["name"] or "", props=r["props"]
                        )
                    )
                    or "",
                }
                for r in found
            ]
            self._driver.execute_query(
                _q(cypher.SET_SEARCH_FORM, self._timeout), {"rows": rows}, database_=self.database
            )

    def _date_stored_items(self) -> None:
        """Give the items stored before expert questions weighed them in the database their ``_when``.

        Under the write lock: no write changes an item's date between its read and its update here.
        """
        kinds, after = [k.value for k in expertise.ITEM_KINDS], ""
        fields = ["occurred_at", "submitted_at", "created_at"]
        with self.writer(wait_s=self._timeout):
            while found := self._read(
                cypher.DATES_AFTER, after=after, kinds=kinds, fields=fields, limit=10_000
            ):
                rows = [
                    {"id": r["id"], "when": expertise.dated(dict(zip(fields, r["values"], strict=True)))}
                    for r in found
                ]
                self._driver.execute_query(
                    _q(cypher.SET_DATES, self._timeout), {"rows": rows}, database_=self.database
                )
                after = found[-1]["id"]

    def _name_stored_entities(self) -> None:
        """Write the name rows of the entities stored before names were looked up in the database.

        Under the write lock: no write renames an entity between its read and its rows here.
        """
        kinds, after = [k.value for k in names.NAMED_KINDS], ""
        fields = ["aliases", *names.KEY_PROPS]
        with self.writer(wait_s=self._timeout):
            while found := self._read(
                cypher.NAMED_AFTER, after=after, kinds=kinds, fields=fields, limit=5000
            ):
                rows = [
                    row
                    for r in found
                    for row in names.rows(
                        Entity.model_construct(
                            id=r["id"],
                            kind=NodeKind(r["kind"]),
                            name=r["name"] or "",
                            props=dict(zip(fields, r["values"], strict=True)),
                        )
                    )
                ]
                self._driver.execute_query(
                    _q(cypher.FORGET_NAMES, self._timeout),
                    {"ids": [r["id"] for r in found]},
                    database_=self.database,
                )
                self._driver.execute_query(
                    _q(cypher.WRITE_NAMES, self._timeout), {"rows": rows}, database_=self.database
                )
                after = found[-1]["id"]

    def _migrate(self) -> None:
        records = self._read(cypher.GET_SCHEMA_VERSION)
        current = records[0]["version"] or 0
        if current > cypher.SCHEMA_VERSION:
            raise StoreVersionError(
                f"Neo4j database {self.database!r} has ckn schema {current}; this ckn knows up to"
                f" {cypher.SCHEMA_VERSION}: upgrade ckn"
            )
        for version in range(current + 1, cypher.SCHEMA_VERSION + 1):
            log.info("migrating Neo4j database %s to ckn schema %d", self.database, version)
            for statement in cypher.MIGRATIONS[version]:
                if statement.startswith("DROP"):  # its replacement is built first: questions go on using it
                    wait = {"s": _BUILDING_S}
                    self._driver.execute_query(
                        _q(cypher.AWAIT_INDEXES, _BUILDING_S), wait, database_=self.database
                    )
                self._driver.execute_query(_q(statement, self._timeout), database_=self.database)
            if version == 3:
                self._index_stored_texts()
            if version == 4:
                self._count_known()
            if version == 6:
                self._date_stored_items()
            if version == 7:
                self._name_stored_entities()
            if version == 8:
                self._count_pieces()
            self._driver.execute_query(
                _q(cypher.SET_SCHEMA_VERSION, self._timeout), {"version": version}, database_=self.database
            )

    # -- writes ------------------------------------------------------------------------------------

    def write_behind(self) -> AbstractContextManager[None]:
        """See :meth:`graph.store.GraphStore.write_behind` and :mod:`graph.behind`.

        Here a write runs its statements (locks, reads, entity writes) in the caller's thread, in an
        explicit transaction, and returns; the statement creating its new relations (its largest) and
        the commit, where the server applies the batch to its store and indexes, run behind while the
        caller prepares the next batch. The next write starts once it is committed, so it sees every
        node the batch created.
        """
        return self._behind.block()

    def write(self, batch: Batch) -> WriteResult:
        """See :meth:`graph.store.GraphStore.write`."""
        new_relations: list[dict[str, Any]] = []  # behind: created with the commit
        kept: list[Callable[[Tx], None]] = []  # behind: the kept sums, after those relations

        def work(tx: Tx, defer: bool = False) -> WritePlan:
            nodes: Nodes = {}

            def load_entities(ids: list[str]) -> dict[str, Entity]:
                rows = self._run(tx, cypher.LOCK_ENTITIES, ids=sorted(ids))
                nodes.update((r["id"], r["node"]) for r in rows)
                return {r["id"]: _entity(r["props"]) for r in rows if not r["pending"]}

            def load_kinds(ids: list[str]) -> dict[str, NodeKind]:
                rows = self._lock_stored(tx, ids, nodes)
                return {r["id"]: NodeKind(r["kind"]) for r in rows}

            plan = plan_write(batch, load_entities, load_kinds, lambda ids: self._relations_by_id(tx, ids))
            touched, created = expertise.touched_by(plan)
            if plan.delete_entities:  # locked first: no relation to them is added meanwhile
                self._lock_stored(tx, plan.delete_entities, nodes)
            touched |= self._touched_by_deletion(tx, plan.delete_entities)
            touched |= expertise.touched_items((), self._ends(tx, plan.delete_relations))
            if plan.delete_entities or plan.delete_relations:  # the rest are locked already (endpoints)
                self._lock_stored(tx, sorted(touched - created), nodes)  # read as they stay
            was = self._contributions(tx, touched - created, as_kept=True)
            now, as_json = utcnow().isoformat(), EvidenceJson()
            self._persist_entities(tx, plan, nodes, now, as_json)
            if plan.delete_entities or plan.delete_relations:
                self._lock_stored(tx, plan.delete_entities, nodes)
                self._delete(tx, plan.delete_entities, plan.delete_relations)
            if batch.checkpoint is not None:
                self._run(
                    tx,
                    cypher.SET_CHECKPOINT,
                    job=batch.checkpoint.job,
                    position=batch.checkpoint.position,
                    at=utcnow().isoformat(),
                )
            if plan.changed:
                self._bump(tx, plan)
            new_relations[:] = self._persist_relations(tx, plan, nodes, now, as_json, defer=defer)
            kept[:] = [lambda tx_: self._keep_known(tx_, touched, was)]
            if not defer or not new_relations:  # else after the new relations, with the commit
                kept.pop()(tx)
            return plan

        if not self._behind.active:
            plan: WritePlan = self._write_tx(work)
            return plan.result()
        self._behind.check()
        session, tx, plan = self._begin(lambda tx_: work(tx_, defer=True))
        self._behind.submit(lambda: self._commit(session, tx, work, new_relations, kept))
        return plan.result()

    def _bump(self, tx: Tx, plan: WritePlan | None = None) -> None:
        """A new graph version, with what changed in the change log (``plan`` None: a deletion)."""
        (bumped,) = self._run(tx, cypher.BUMP_GRAPH_VERSION)
        logged = changelog.entry(int(bumped["version"]), plan)
        self._run(tx, cypher.LOG_CHANGE, oldest=logged.oldest_kept, **logged._asdict())

    def _lock_stored(self, tx: Tx, ids: Iterable[str], nodes: Nodes) -> list[neo4j.Record]:
        """Lock stored entities (:data:`cypher.LOCK_STORED`), noting their nodes in ``nodes``."""
        rows = self._run(tx, cypher.LOCK_STORED, ids=sorted(ids))
        nodes.update((r["id"], r["node"]) for r in rows)
        return rows

    def _persist(self, tx: Tx, plan: WritePlan) -> None:
        """Write a plan whose facts are all stored (locked by the caller)."""
        nodes: Nodes = {}
        ends = {r.source for r in plan.relations} | {r.target for r in plan.relations}
        self._lock_stored(tx, ends | {e.id for e in plan.entities}, nodes)
        now, as_json = utcnow().isoformat(), EvidenceJson()
        self._persist_entities(tx, plan, nodes, now, as_json)
        self._persist_relations(tx, plan, nodes, now, as_json)

    def _persist_entities(
        self, tx: Tx, plan: WritePlan, nodes: Nodes, now: str, as_json: EvidenceJson
    ) -> None:
        by_kind: dict[NodeKind, list[dict[str, Any]]] = defaultdict(list)
        for entity in plan.entities:
            by_kind[entity.kind].append(
                {"node": nodes[entity.id], "props": _stored_props(entity, entity.id, now, as_json)}
            )
        for kind, rows in sorted(by_kind.items()):
            self._run(tx, cypher.write_entities(kind), rows=rows)
        named = [e for e in plan.entities if e.kind in names.NAMED_KINDS]
        stored = {fact_id for fact, fact_id in plan.restated if fact == "e"}
        if renamed := [e.id for e in named if e.id in stored]:  # their names as they are now, no other
            self._run(tx, cypher.FORGET_NAMES, ids=renamed)
        if named:
            self._run(tx, cypher.WRITE_NAMES, rows=[row for e in named for row in names.rows(e)])

    def _persist_relations(
        self, tx: Tx, plan: WritePlan, nodes: Nodes, now: str, as_json: EvidenceJson, *, defer: bool = False
    ) -> list[dict[str, Any]]:
        """Write a plan's relations: those stored before merged per type, the new ones in one statement.

        ``nodes``: the element ids of the endpoints, which the caller locked.

        ``defer``: return the new ones' rows instead of creating them. A batch written behind creates
        them with its commit, in the committer thread, so the server writes them (its largest
        statement) while the caller converts the next batch (see :meth:`write_behind`).
        """
        stored = {fact_id for fact, fact_id in plan.restated if fact == "r"}
        merged: dict[RelType, list[dict[str, Any]]] = defaultdict(list)
        new: list[dict[str, Any]] = []
        for rel in plan.relations:
            rel_id = rel.id  # a hash: computed once
            row = {
                "source": nodes[rel.source],
                "target": nodes[rel.target],
                "props": _stored_props(rel, rel_id, now, as_json),
            }
            if rel_id in stored:
                merged[rel.type].append({**row, "id": rel_id})
            else:
                new.append({**row, "type": cypher.CHECKED_TYPES[rel.type]})
        for rtype, rows in sorted(merged.items()):
            self._run(tx, cypher.write_relations(rtype), rows=rows)
        if defer:
            return new
        if new:
            self._run(tx, cypher.CREATE_RELATIONS, rows=new)
        return []

    def _relations_by_id(self, tx: Tx | None, ids: Sequence[str]) -> dict[str, Relation]:
        by_type: dict[str, list[str]] = defaultdict(list)
        for rid in dict.fromkeys(ids):
            prefix = relation_type_of(rid)
            if prefix in RelType.__members__.values():
                by_type[prefix].append(rid)
        found: dict[str, Relation] = {}
        if tx is not None:  # writes: one type at a time, as the write path always did
            for rtype, chunk_ids in sorted(by_type.items()):
                for r in self._run(tx, cypher.relations_by_id(rtype), ids=chunk_ids):
                    rel = _relation(r["source"], r["target"], r["type"], r["props"])
                    found[rel.id] = rel
            return found
        types = sorted(by_type)  # reads: every type in one round trip
        params = {f"ids{n}": by_type[t] for n, t in enumerate(types)}
        for r in self._read(cypher.relations_by_ids(types), **params) if types else ():
            rel = _relation(r["source"], r["target"], r["type"], r["props"])
            found[rel.id] = rel
        return found

    def _doomed(self, tx: Tx, entity_ids: list[str], relation_ids: list[str]) -> set[str]:
        """The relations deleting these entities and relations removes."""
        doomed = set(relation_ids)
        doomed.update(r["id"] for r in self._run(tx, cypher.RELATIONS_TOUCHING, ids=entity_ids))
        return doomed

    def _delete(self, tx: Tx, entity_ids: list[str], relation_ids: list[str]) -> int:
        """Delete relations and entities (which the caller locked, so no relation to them is unseen)."""
        doomed = self._doomed(tx, entity_ids, relation_ids)
        by_type: dict[str, list[str]] = defaultdict(list)
        for rid in relation_ids:
            if relation_type_of(rid) in RelType.__members__.values():  # other ids name nothing
                by_type[relation_type_of(rid)].append(rid)
        for rtype, ids in sorted(by_type.items()):
            self._run(tx, cypher.delete_relations(rtype), ids=ids)
        self._run(tx, cypher.DELETE_ENTITIES, ids=entity_ids)
        self._run(tx, cypher.FORGET_NAMES, ids=entity_ids)
        return len(doomed)

    # -- kept evidence sums (graph.expertise) ---------------------------------------------------------

    def _touched_by_deletion(self, tx: Tx, entity_ids: Sequence[str]) -> set[str]:
        """The items whose evidence deleting these entities (with their relations) changes."""
        if not entity_ids:
            return set()
        rows = self._run(tx, cypher.RELATION_ENDS, ids=sorted(entity_ids))
        kinds = self._run(tx, cypher.GET_KINDS, ids=sorted(entity_ids))
        ends = [(r["type"], r["source"], r["target"]) for r in rows]
        return expertise.touched_items(((r["id"], r["kind"]) for r in kinds), ends)

    def _ends(self, tx: Tx, relation_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        if not relation_ids:
            return []
        return [(r.type, r.source, r.target) for r in self._relations_by_id(tx, relation_ids).values()]

    def _contributions(self, tx: Tx, items: Collection[str], *, as_kept: bool = False) -> expertise.Counted:
        """What these items add to the kept sums, as the transaction sees them now.

        ``as_kept``: their pieces dated ahead are those kept apart as such (the state a write finds);
        else those dated after now (the state it leaves).
        """
        if not items:
            return expertise.Counted()
        found = sorted(items)
        kept = {r["item"] for r in self._run(tx, cypher.KEPT_AHEAD, items=found)} if as_kept else None
        rows = self._run(tx, cypher.EVIDENCE_ITEMS, subjects=[], items=found, fields=list(ITEM_FIELDS))
        about, acts, values = _items_read(rows)
        return expertise.contributions(about, acts, values, expertise.dated_ahead(kept))

    def _keep_known(
        self,
        tx: Tx,
        touched: Collection[str],
        was: expertise.Counted,
        *,
        sums: bool = True,
        pieces: bool = True,
    ) -> None:
        """Add to the kept sums what the touched items add now, less what they added before.

        And replace the rows of their pieces (:func:`graph.expertise.piece_row`). ``sums``,
        ``pieces``: which of the two (a database counted again when it is upgraded).
        """
        change = expertise.difference(was, self._contributions(tx, touched))
        if pieces and (change.unpieced or change.pieces):
            gone = [list(g) for g in sorted(change.unpieced)]
            rows = [expertise.piece_row(p, *found) for p, found in sorted(change.pieces.items())]
            for start in range(0, max(len(gone), len(rows)), _CHUNK):
                end = start + _CHUNK
                self._run(tx, cypher.KEEP_PIECES, gone=gone[start:end], rows=rows[start:end])
        if not sums:
            return
        rows = [
            {"subject": subject, "person": person, **known._asdict()}
            for (person, subject), known in sorted(change.sums.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]
        for start in range(0, len(rows), _CHUNK):
            self._run(tx, cypher.KEEP_KNOWN, rows=rows[start : start + _CHUNK])
        if change.gone or change.ahead:
            ahead = [
                {"person": p, "subject": s, "item": i, "weight": a.weight, "t": a.t, "authored": a.authored}
                for (p, s, i), a in sorted(change.ahead.items())
            ]
            self._run(tx, cypher.KEEP_AHEAD, gone=[list(g) for g in sorted(change.gone)], rows=ahead)

    def _count_known(self) -> None:
        """Count the kept sums of a database written before they existed, a few thousand items at a time.

        Under the write lock, from nothing: two processes opening the database, or a count cut short
        and run again, never count a piece twice.
        """
        with self.writer(wait_s=self._timeout):
            if (self._read(cypher.GET_SCHEMA_VERSION)[0]["version"] or 0) >= 4:
                return  # another process counted them while this one waited
            while self._read(cypher.HAS_KEPT_SUMS):
                self._managed_write(lambda tx: self._run(tx, cypher.DROP_KEPT_SUMS, limit=_CHUNK))
            self._count_items(pieces=False)  # counted when the schema that keeps them is there

    def _count_pieces(self) -> None:
        """Write the piece rows of a database written before they existed (as :meth:`_count_known`).

        From nothing: a count cut short and run again writes each once.
        """
        with self.writer(wait_s=self._timeout):
            if (self._read(cypher.GET_SCHEMA_VERSION)[0]["version"] or 0) >= 8:
                return  # another process wrote them while this one waited
            while self._read(cypher.HAS_PIECES):
                self._managed_write(lambda tx: self._run(tx, cypher.DROP_PIECES, limit=_CHUNK))
            self._count_items(sums=False)

    def _count_items(self, *, sums: bool = True, pieces: bool = True) -> None:
        kinds, after = [k.value for k in expertise.ITEM_KINDS], ""
        while found := self._read(cypher.ITEMS_AFTER, kinds=kinds, after=after, limit=_CHUNK):
            items = [r["id"] for r in found]
            self._managed_write(
                lambda tx, items=items: self._keep_known(
                    tx, items, expertise.Counted(), sums=sums, pieces=pieces
                )
            )
            after = items[-1]

    def referrals_below(self, customer_id: str, *, depth: int) -> Reach:
        """See :meth:`graph.store.GraphStore.referrals_below`: one breadth-first search in the database."""
        self.limits.check_depth(depth)
        rows = self._read(cypher.referrals_below(depth), id=customer_id, fields=list(REFERRAL_FIELDS))
        reached = rows[0]["reached"] if rows else []
        if not reached:
            raise NotFound(f"no customer with id {customer_id!r}", entity_id=customer_id)
        depth_of = {node: d for node, d, *_ in reached}
        customers: dict[str, dict[str, Any]] = {}
        referrals: list[tuple[str, str, str, list[str] | None]] = []
        for node, d, name, values, out in reached:
            customers[node] = {
                "name": name or "",
                **{k: v for k, v in zip(REFERRAL_FIELDS, values, strict=True) if v is not None},
            }
            for relation, target, evidence in out:
                if relation is not None and (d < depth or target in depth_of):  # the last ones: cycles only
                    referrals.append((relation, node, target, evidence))
        if len(referrals) > self.limits.max_expansion:
            raise LimitExceeded(
                "the traversal touches too many relationships; lower the depth or name relationship types"
            )
        referrals.sort(key=lambda r: r[:3])
        return Reach.model_construct(
            customers=customers, referrals=tuple((r, s, t, _confidence(e)) for r, s, t, e in referrals)
        )

    def customer_around(self, customer_id: str) -> Around | None:
        """See :meth:`graph.store.GraphStore.customer_around`: one query."""
        rows = self._read(
            cypher.customer_around(DOSSIER_TYPES, CUSTOMER_ITEM_TYPES, AROUND_TYPES),
            id=customer_id,
            valued=[cypher.rel_type(t) for t in VALUED_TYPES],
        )
        if not rows:
            return None
        row = rows[0]
        customer = _entity(row["me"])
        touching = _hops(row["hops"])
        relations = (_relation(*found) for found in row["valued"])
        return Around.model_construct(
            customer=customer,
            hops=touching,
            relations={r.id: r for r in relations},
            entities={  # the ends of its relationships: itself too, when it has any
                **({customer.id: customer} if touching else {}),
                **{e.id: e for e in map(_entity, row["entities"])},
            },
            around=_hops(row["around"]),
        )

    def known_about(self, subject_id: str) -> KnownAbout:
        """See :meth:`graph.store.GraphStore.known_about`: the kept nodes, by the subject's index."""
        return self.known_about_each([subject_id])[subject_id]

    def known_about_each(self, subject_ids: Sequence[str]) -> dict[str, KnownAbout]:
        """See :meth:`graph.store.GraphStore.known_about_each`.

        One query per hundred subjects, with the people they name (a few hundred colleagues hold the
        sums of every subject: each is read once a query, not once a subject).
        """
        wanted = list(dict.fromkeys(subject_ids))
        found = {s: KnownAbout() for s in wanted}
        for start in range(0, len(wanted), SUBJECTS_READ_AT_ONCE):
            chunk = wanted[start : start + SUBJECTS_READ_AT_ONCE]
            for record in self._read(cypher.KNOWN_ABOUT, **known_about_params(chunk)):
                people, work = _people(record["people"])
                for subject, (colleagues, *columns), ahead in record["found"]:
                    columns[-1] = [None if math.isnan(t) else t for t in columns[-1]]  # latest
                    counted = zip(
                        colleagues, starmap(expertise.Known, zip(*columns, strict=True)), strict=True
                    )
                    # a colleague the sums name but not ``people`` was erased while the query ran
                    sums = {p: known for p, known in counted if p in people}
                    pieces: dict[str, list[expertise.Ahead]] = {}
                    for person, weight, t, authored in ahead:
                        pieces.setdefault(person, []).append(expertise.Ahead(weight, t, bool(authored)))
                    found[subject] = KnownAbout.model_construct(
                        sums=sums,
                        people={p: people[p] for p in sums},
                        work={p: work[p] for p in sums},
                        ahead=pieces,
                    )
        return found

    def _people(self, ids: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
        """Colleagues' names and :data:`PERSON_FIELDS` that are set, and their counts of own work."""
        rows = self._read(cypher.EVIDENCE_PEOPLE, ids=ids, fields=list(PERSON_FIELDS)) if ids else []
        return _people([[r["id"], r["name"], r["values"], r["work"]] for r in rows])

    def evidence_between(
        self, people: Sequence[str], subject_id: str, *, strongest: int | None = None, at: float = 0.0
    ) -> EvidenceFacts:
        """See :meth:`graph.store.GraphStore.evidence_between`: one query from the colleagues' side.

        With ``strongest``, as :meth:`strongest_each` on the one subject.
        """
        if strongest is not None:
            return self.strongest_each({subject_id: people}, strongest=strongest, at=at)[subject_id]
        rows = self._read(
            cypher.EVIDENCE_BETWEEN,
            subject=subject_id,
            people=list(dict.fromkeys(people)),
            item_fields=list(ITEM_FIELDS),
            person_fields=list(PERSON_FIELDS),
        )
        return _between(subject_id, rows[0]["people"] if rows else [])

    def strongest_each(
        self, asks: Mapping[str, Sequence[str]], *, strongest: int, at: float
    ) -> dict[str, EvidenceFacts]:
        """See :meth:`graph.store.GraphStore.strongest_each`: weighed and cut in the database.

        One query per hundred subjects (:data:`cypher.STRONGEST_EACH`); a few more items than asked
        are returned, so that rounding there cannot change which the caller shows.
        """
        pairs = [[subject, list(dict.fromkeys(people))] for subject, people in asks.items()]
        found = {subject: EvidenceFacts() for subject in asks}
        for start in range(0, len(pairs), SUBJECTS_READ_AT_ONCE):
            for r in self._read(
                cypher.STRONGEST_EACH,
                asks=pairs[start : start + SUBJECTS_READ_AT_ONCE],
                item_fields=list(ITEM_FIELDS),
                person_fields=list(PERSON_FIELDS),
                **strongest_params(strongest, at),
            ):
                found[r["subject"]] = _between(r["subject"], r["found"])
        return found

    def delete_source(
        self, *source_ids: str, dry_run: bool = False, keep: Iterable[str] = ()
    ) -> DeleteResult:
        """See :meth:`graph.store.GraphStore.delete_source`."""
        sources, kept = list(source_ids), set(keep)

        def work(tx: ManagedTransaction) -> DeleteResult:
            entities, relations = self._source_facts(tx, sources)
            plan = plan_source_deletion(sources, entities, relations, kept)
            touching = self._doomed(tx, plan.delete_entities, [])
            keep_referenced(plan, self._relations_by_id(tx, sorted(touching)).values(), sources)
            if dry_run:
                return plan.result(len(self._doomed(tx, plan.delete_entities, plan.delete_relations)))
            self._run(tx, cypher.LOCK_STORED, ids=sorted(plan.delete_entities))
            touched = self._touched_by_deletion(tx, plan.delete_entities)
            touched |= expertise.touched_items((), self._ends(tx, plan.delete_relations))
            self._run(tx, cypher.LOCK_STORED, ids=sorted(touched))
            was = self._contributions(tx, touched, as_kept=True)
            deleted = self._delete(tx, plan.delete_entities, plan.delete_relations)
            self._keep_known(tx, touched, was)
            trimmed = WritePlan.restating(plan.trimmed_entities, plan.trimmed_relations)
            self._persist(tx, trimmed)
            if deleted or plan.delete_entities or trimmed.changed:
                self._bump(tx)
            return plan.result(relations_deleted=deleted)

        result: DeleteResult = self._write_tx(work)
        self.caches.forget()  # nothing deleted stays in this process's memory
        return result

    def _source_facts(self, tx: Tx, sources: list[str]) -> tuple[list[Entity], list[Relation]]:
        """The facts with evidence from these sources, and their ``Source`` entities, locked and read."""
        entities = [
            _entity(r["props"]) for r in self._run(tx, cypher.FACTS_OF_SOURCE_ENTITIES, sources=sources)
        ]
        relations = [
            _relation(r["source"], r["target"], r["type"], r["props"])
            for r in self._run(tx, cypher.FACTS_OF_SOURCE_RELATIONS, sources=sources)
        ]
        return entities, relations

    def erase_entity(self, entity_id: str) -> DeleteResult:
        """See :meth:`graph.store.GraphStore.erase_entity`.

        The entity leaves the graph; Neo4j's transaction logs keep old records until they rotate out
        (``db.tx_log.rotation.retention_policy``), which the operator must set to honour erasure.
        """

        def work(tx: ManagedTransaction) -> DeleteResult:
            if not self._run(tx, cypher.LOCK_STORED, ids=[entity_id]):
                self._run(tx, cypher.FORGET_KNOWN, id=entity_id)  # whatever is left of it, even if gone
                return DeleteResult()
            touched = self._touched_by_deletion(tx, [entity_id])
            self._run(tx, cypher.LOCK_STORED, ids=sorted(touched))
            was = self._contributions(tx, touched, as_kept=True)
            deleted = self._delete(tx, [entity_id], [])
            self._keep_known(tx, touched, was)
            self._run(tx, cypher.FORGET_KNOWN, id=entity_id)
            self._bump(tx)
            return DeleteResult(entities_deleted=1, relations_deleted=deleted)

        result: DeleteResult = self._write_tx(work)
        self.caches.forget()  # nothing deleted stays in this process's memory
        return result

    def scrub(self) -> bool:
        """See :meth:`graph.store.GraphStore.scrub`: nothing the driver can do (True).

        Neo4j keeps old records in its transaction logs until they rotate out
        (``db.tx_log.rotation.retention_policy``, which the operator sets short to honour erasure),
        and its full-text indexes keep deleted entries until Lucene merges their segments.
        """
        return True

    def rename_source(self, source_id: str, to: Entity) -> int:
        """See :meth:`graph.store.GraphStore.rename_source`; old records: see :meth:`erase_entity`."""

        def work(tx: ManagedTransaction) -> int:
            entities, relations = self._source_facts(tx, [source_id])
            touching = sorted(self._doomed(tx, [source_id], []))
            relations += self._relations_by_id(tx, touching).values()
            plan = plan_source_rename(source_id, to, entities, relations)
            self._delete(tx, [], touching)  # written back moved
            if self._run(tx, cypher.LOCK_STORED, ids=[to.id]):  # the new id is there (an ingest since)
                self._delete(tx, [source_id], [])
            else:
                self._run(tx, cypher.RENAME_ENTITY, old=source_id, new=to.id)
            self._run(tx, cypher.RENAME_CHECKPOINTS, old=source_id, new=to.id)
            self._persist(tx, plan)
            self._bump(tx)
            return len(plan.entities) + len(plan.relations) - 1

        restated: int = self._write_tx(work)
        self.caches.forget()
        return restated

    # -- reads -------------------------------------------------------------------------------------

    def get_entity(self, entity_id: str) -> Entity | None:
        """See :meth:`graph.store.GraphStore.get_entity`."""
        return self.get_entities([entity_id]).get(entity_id)

    def get_entities(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        """See :meth:`graph.store.GraphStore.get_entities`."""
        ids = list(dict.fromkeys(entity_ids))
        found: dict[str, Entity] = {}
        for start in range(0, len(ids), _CHUNK):
            for r in self._read(cypher.GET_ENTITIES, ids=ids[start : start + _CHUNK]):
                for props in r["found"]:
                    entity = _entity(props)
                    found[entity.id] = entity
        return found

    def list_entities(
        self, kind: NodeKind | None = None, *, after: str = "", limit: int = 100
    ) -> list[Entity]:
        """See :meth:`graph.store.GraphStore.list_entities`."""
        self.limits.check_page(limit)
        rows = self._read(cypher.list_entities(kind), after=after, limit=limit)
        return [_entity(r["props"]) for r in rows]

    def get_relations_by_id(self, relation_ids: Sequence[str]) -> dict[str, Relation]:
        """See :meth:`graph.store.GraphStore.get_relations_by_id`."""
        return self._relations_by_id(None, relation_ids)

    @staticmethod
    def _type_values(types: Iterable[RelType] | None) -> list[str] | None:
        return None if types is None else sorted({cypher.rel_type(t) for t in types})

    def get_relations(
        self,
        entity_id: str,
        *,
        types: Iterable[RelType] | None = None,
        direction: Direction = Direction.BOTH,
        limit: int = 100,
    ) -> list[Relation]:
        """See :meth:`graph.store.GraphStore.get_relations`."""
        self.limits.check_page(limit)
        rows = self._read(
            cypher.relations_of(Direction(direction).value),
            id=entity_id,
            types=self._type_values(types),
            limit=limit,
        )
        return [_relation(r["source"], r["target"], r["type"], r["props"]) for r in rows]

    def expand(
        self,
        entity_ids: Sequence[str],
        *,
        types: Iterable[RelType] | None,
        direction: Direction,
        towards: Collection[str] | None = None,
    ) -> list[Hop]:
        """See :meth:`graph.store.GraphStore.expand`."""
        rows = self._read(
            cypher.expand(Direction(direction).value),
            ids=list(entity_ids),
            types=self._type_values(types),
            towards=None if towards is None else list(towards),
        )
        return list(_hops((r["id"], r["type"], r["source"], r["target"]) for r in rows))

    def degree(
        self,
        entity_ids: Sequence[str],
        *,
        types: Iterable[RelType] | None,
        direction: Direction,
        at_most: int | None = None,
    ) -> int:
        """See :meth:`graph.store.GraphStore.degree` (counted whole: Neo4j keeps degree counts)."""
        text = cypher.degree(Direction(direction).value, self._type_values(types))
        return int(self._read(text, ids=list(entity_ids))[0]["degree"] or 0)

    def project(
        self,
        *,
        kinds: Iterable[NodeKind] | None = None,
        types: Iterable[RelType] | None = None,
        fields: Sequence[str] | None = None,
    ) -> nx.MultiDiGraph:
        """See :meth:`graph.store.GraphStore.project`."""
        kind_values = None if kinds is None else sorted({cypher.label(k) for k in kinds})
        type_values = self._type_values(types)
        graph = Projection()
        if fields is not None:
            return self._project_fields(graph, kind_values, type_values, list(fields))
        nodes = [_entity(r["props"]) for r in self._read(cypher.PROJECT_NODES, kinds=kind_values)]
        for entity in sorted(nodes, key=lambda e: e.id):
            graph.add_node(entity.id, **entity.props, kind=entity.kind.value, name=entity.name)
        if type_values == []:  # entities only
            return graph
        rows = self._read(cypher.PROJECT_RELATIONS, kinds=kind_values, types=type_values)
        relations = [_relation(r["source"], r["target"], r["type"], r["props"]) for r in rows]
        for rel in sorted(relations, key=lambda r: r.id):
            graph.add_edge(
                rel.source,
                rel.target,
                key=rel.id,
                **rel.props,
                type=rel.type.value,
                valid_from=rel.valid_from.isoformat() if rel.valid_from else None,
                valid_to=rel.valid_to.isoformat() if rel.valid_to else None,
            )
        return graph

    def _project_fields(
        self, graph: nx.MultiDiGraph, kinds: list[str] | None, types: list[str] | None, fields: list[str]
    ) -> nx.MultiDiGraph:
        """A projection with only some node properties and no edge properties (large graphs stay cheap)."""
        nodes = self._read(cypher.PROJECT_NODE_FIELDS, kinds=kinds, fields=fields)
        for r in sorted(nodes, key=lambda r: r["id"]):
            values = {k: v for k, v in zip(fields, r["values"], strict=True) if v is not None}
            graph.add_node(r["id"], **values, kind=r["kind"], name=r["name"] or "")
        if types == []:  # entities only
            return graph
        rows = self._read(cypher.PROJECT_RELATION_FIELDS, kinds=kinds, types=types)
        for r in sorted(rows, key=lambda r: r["id"]):
            graph.add_edge(
                r["source"],
                r["target"],
                key=r["id"],
                type=r["type"],
                valid_from=r["valid_from"],
                valid_to=r["valid_to"],
            )
        return graph

    def scan_entities(
        self, *, kinds: Iterable[NodeKind], fields: Sequence[str]
    ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """See :meth:`graph.store.GraphStore.scan_entities`."""
        wanted, names = sorted({cypher.label(k) for k in kinds}), list(fields)
        for r in self._stream(cypher.PROJECT_NODE_FIELDS, kinds=wanted, fields=names):
            values = {k: v for k, v in zip(names, r["values"], strict=True) if v is not None}
            yield r["id"], r["kind"], r["name"] or "", values

    def scan_relations(self, *, types: Iterable[RelType]) -> Iterator[tuple[str, str, str]]:
        """See :meth:`graph.store.GraphStore.scan_relations`."""
        for r in self._stream(cypher.PROJECT_RELATION_FIELDS, kinds=None, types=self._type_values(types)):
            yield r["source"], r["target"], r["type"]

    def _stream(self, text: str, **params: Any) -> Iterator[neo4j.Record]:
        """Records as the server sends them (a read transaction), not all held at once."""
        self._behind.wait()
        with (
            self._breaker.guard(),
            self._driver.session(database=self.database, default_access_mode=neo4j.READ_ACCESS) as session,
        ):
            yield from session.run(_q(text, self._timeout), _params(params))

    # -- suppression list and audit log ------------------------------------------------------------

    def evidence(self, subject_ids: Sequence[str] = (), *, item_ids: Sequence[str] = ()) -> EvidenceFacts:
        """See :meth:`graph.store.GraphStore.evidence`: two queries, bounded by the subjects' items."""
        rows = self._read(
            cypher.EVIDENCE_ITEMS,
            subjects=list(dict.fromkeys(subject_ids)),
            items=list(dict.fromkeys(item_ids)),
            fields=list(ITEM_FIELDS),
        )
        about, acts, items = _items_read(rows)
        people, work = self._people(sorted({p for p, _, _ in acts}))
        return EvidenceFacts.model_construct(
            about=tuple(sorted(about)), acts=tuple(sorted(acts)), items=items, people=people, work=work
        )

    def topic_use(self) -> list[TopicUse]:
        """See :meth:`graph.store.GraphStore.topic_use`: one aggregate query."""
        return [
            TopicUse(topic_id=r["topic"], documents=int(r["documents"]), items=int(r["items"]))
            for r in self._read(cypher.TOPIC_USE)
        ]

    def search_text(self, query: str, *, limit: int) -> list[TextHit]:
        """See :meth:`graph.store.GraphStore.search_text`: the full-text index (Lucene, ``cjk`` analyzer)."""
        self.limits.check_page(limit)
        expression = fulltext.lucene_query(query)
        if expression is None:
            return []
        found = self._read(cypher.SEARCH_TEXT, query=expression, limit=limit)
        return [TextHit(id=r["id"], score=round(float(r["score"]), 4)) for r in found]

    def unmet_demand(self) -> list[Demand]:
        """See :meth:`graph.store.GraphStore.unmet_demand`: one aggregate query."""
        return [
            Demand(
                topic_id=r["topic"],
                name=r["name"] or "",
                asked=int(r["asked"]),
                complaints=int(r["complaints"]),
                examples=tuple(r["examples"]),
            )
            for r in self._read(cypher.UNMET_DEMAND)
        ]

    def changes_since(self, version: int) -> Changes | None:
        """See :meth:`graph.store.GraphStore.changes_since`: read from the change log (``CknChange``)."""
        (found,) = self._read(cypher.CHANGES_AFTER, since=version)
        return changelog.changes(version, int(found["now"]), sorted(tuple(e) for e in found["entries"]))

    def suppress(self, hashes: Iterable[str]) -> None:
        """See :meth:`graph.store.GraphStore.suppress`."""
        rows, at = sorted(set(hashes)), utcnow().isoformat()
        self._write_tx(lambda tx: self._run(tx, cypher.SUPPRESS, hashes=rows, at=at))

    def suppressed(self) -> frozenset[str]:
        """See :meth:`graph.store.GraphStore.suppressed`."""
        return frozenset(str(r["hash"]) for r in self._read(cypher.LIST_SUPPRESSED))

    def append_audit(self, record: dict[str, Any]) -> AuditEntry:
        """See :meth:`graph.store.GraphStore.append_audit`: the chain's head node is locked first."""
        text = canonical(record)

        def work(tx: ManagedTransaction) -> AuditEntry:
            self._run(tx, cypher.LOCK_AUDIT)
            (head,) = self._run(tx, cypher.READ_AUDIT_HEAD)
            seq, prev = int(head["seq"]) + 1, str(head["hash"])
            digest = chain_hash(prev, text)
            self._run(tx, cypher.APPEND_AUDIT, seq=seq, record=text, prev=prev, hash=digest)
            return AuditEntry(seq=seq, record=record, prev=prev, hash=digest)

        entry: AuditEntry = self._managed_write(work)
        return entry

    def read_audit(self, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        """See :meth:`graph.store.GraphStore.read_audit`."""
        rows = self._read(cypher.READ_AUDIT, after=after, limit=limit)
        return [
            AuditEntry(seq=r["seq"], record=json.loads(r["record"]), prev=r["prev"], hash=r["hash"])
            for r in rows
        ]

    # -- ingest jobs and request rates (graph.shared) -------------------------------------------------

    def save_job(self, record: dict[str, Any], *, heard: bool = True) -> None:
        """See :meth:`graph.store.GraphStore.save_job`: when, by the database's clock."""
        text = json.dumps(job_kept(record), ensure_ascii=False)

        def work(tx: ManagedTransaction) -> None:
            found = {"id": record["id"], "created_at": record["created_at"], "record": text}
            self._run(tx, cypher.SAVE_JOB, **found, heard=heard)
            self._run(tx, cypher.FORGET_OLD_JOBS, kept=JOBS_KEPT, cutoff=jobs_cutoff())

        self._managed_write(work)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """See :meth:`graph.store.GraphStore.get_job`."""
        rows = self._read(cypher.GET_JOB, id=job_id)
        return _job(rows[0]) if rows else None

    def jobs(self) -> list[dict[str, Any]]:
        """See :meth:`graph.store.GraphStore.jobs`."""
        return [_job(r) for r in self._read(cypher.JOBS)]

    def take_requests(self, bucket: str, want: int, per_minute: int) -> Taken:
        """See :meth:`graph.store.GraphStore.take_requests`: the bucket's node, locked, read, then set."""

        def work(tx: ManagedTransaction) -> Taken:
            self._run(tx, cypher.LOCK_RATE, key=bucket)
            (row,) = self._run(tx, cypher.READ_RATE, key=bucket)
            held = None if row["tokens"] is None else (float(row["tokens"]), float(row["at"]))
            taken, tokens = take(held, want, per_minute, float(row["now"]))
            self._run(tx, cypher.KEEP_RATE, key=bucket, tokens=tokens, at=float(row["now"]))
            return taken

        try:
            taken: Taken = self._managed_write(work)
        except Neo4jError as exc:  # the bucket was dropped, full, between finding and locking it
            if exc.code != GONE:
                raise
            taken = self._managed_write(work)
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            self._drop_full_rates()
        return taken

    def _drop_full_rates(self) -> None:
        """Drop the buckets full again, in a transaction of its own (a failure loses nothing: next time)."""

        def work(tx: ManagedTransaction) -> None:
            (locked,) = self._run(tx, cypher.FULL_RATES, refill_s=REFILL_S)
            self._run(tx, cypher.FORGET_FULL_RATES, keys=locked["keys"], refill_s=REFILL_S)

        try:
            self._managed_write(work)
        except (CknError, Neo4jError, DriverError) as exc:
            log.warning("could not drop the rate buckets full again (next time): %s", exc)

    def get_checkpoint(self, job: str) -> str | None:
        """See :meth:`graph.store.GraphStore.get_checkpoint`."""
        rows = self._read(cypher.GET_CHECKPOINT, job=job)
        return None if not rows else str(rows[0]["position"])

    def stats(self) -> Stats:
        """See :meth:`graph.store.GraphStore.stats`."""
        entities = {r["kind"]: r["n"] for r in self._read(cypher.COUNT_ENTITIES) if r["kind"]}
        relations = {}
        for rtype in RelType:
            count = self._read(cypher.count_relations(rtype))[0]["n"]
            if count:
                relations[rtype.value] = count
        return Stats(
            backend=self.backend, entities=entities, relations=relations, graph_version=self.graph_version()
        )

    def graph_version(self) -> int:
        """See :meth:`graph.store.GraphStore.graph_version`."""
        return int(self._read(cypher.GET_GRAPH_VERSION)[0]["version"])

    def prepare(self) -> None:
        """See :meth:`graph.store.GraphStore.prepare`: Neo4j answers in the database; nothing to build."""

    def warming(self) -> list[str]:
        """See :meth:`graph.store.GraphStore.warming`."""
        return []

    def ping(self) -> None:
        """See :meth:`graph.store.GraphStore.ping`."""
        try:
            self._read(cypher.PING)
        except (ServiceUnavailable, Neo4jError, OSError) as exc:
            log.error("Neo4j does not answer: %s", exc)
            raise StoreUnavailable("Neo4j does not answer; see the server log", retry_after_s=5) from None

    def close(self) -> None:
        """See :meth:`graph.store.GraphStore.close`."""
        self._behind.close()
        self._driver.close()
