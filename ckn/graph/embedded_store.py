"""The embedded store: SQLite (WAL, synchronous FULL) as the source of truth, compact arrays to traverse.

Zero configuration, no server. Every :meth:`EmbeddedStore.write` is one ``BEGIN IMMEDIATE``
transaction, so a batch is either wholly on disk when ``write`` returns (inside
:meth:`EmbeddedStore.write_behind`: when the block ends) or not there at all, even after ``kill -9``.
Reads that traverse use a compact in-memory adjacency (:mod:`graph.adjacency`), kept up to date with
this process's writes and rebuilt when another process has written. Ingests take the write lock
(:meth:`EmbeddedStore.writer`), an exclusive ``flock`` on a file beside the database.
"""

from __future__ import annotations

import fcntl
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any

import networkx as nx

from ckn.graph import changelog, expertise, fulltext, traversal
from ckn.graph import evidence as evidence_read
from ckn.graph.adjacency import Adjacency
from ckn.graph.audit import GENESIS, AuditEntry, canonical, chain_hash
from ckn.graph.behind import CommitsBehind
from ckn.graph.cache import Caches
from ckn.graph.errors import StoreUnavailable, StoreVersionError
from ckn.graph.heap import Projection, paused_gc
from ckn.graph.merge import WritePlan, keep_referenced, plan_source_deletion, plan_source_rename, plan_write
from ckn.graph.model import (
    Batch,
    Entity,
    EvidenceJson,
    NodeKind,
    Provenance,
    Relation,
    RelType,
    as_kind,
    as_type,
    utcnow,
)
from ckn.graph.names import NameIndex
from ckn.graph.shared import JOBS_KEPT, PRUNE_EVERY_S, REFILL_S, Taken, job_kept, jobs_cutoff, take
from ckn.graph.store import (
    ITEM_FIELDS,
    PERSON_FIELDS,
    REFERRAL_FIELDS,
    WORK_TYPES,
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

SCHEMA_VERSION = 7
"""Format of the files on disk; bump it with a migration in ``_MIGRATIONS``."""

DB_FILE = "ckn.sqlite3"
WRITER_LOCK = "writer.lock"
"""The file whose ``flock`` is the store's write lock (it holds the holder's name)."""
_CHUNK = 500  # ids per IN (...) list, well under SQLite's variable limit

PRAGMAS = (
    "busy_timeout = 60000",
    "journal_mode = WAL",
    "synchronous = FULL",  # a returned write is on disk, even across power loss
    "secure_delete = ON",  # erased data is overwritten, not left in free pages
    "foreign_keys = OFF",
    "cache_size = -65536",  # 64 MB, not SQLite's 2 MB: a bulk write's index pages stay at hand
)
"""The settings of the store's connection (the benchmark's bare writes use them too)."""


def set_pragmas(conn: sqlite3.Connection, pragmas: Iterable[str], *, wait_s: float) -> None:
    """Set a connection's pragmas, waiting up to ``wait_s`` for another connection's lock.

    SQLite does not wait (its busy timeout) to set the journal mode while another connection creates
    or changes the file: that one is tried again every few milliseconds.
    """
    for pragma in pragmas:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                conn.execute(f"PRAGMA {pragma}")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)


_SCHEMA_V1 = """
CREATE TABLE entities (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, props TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX entities_kind ON entities (kind, id);
CREATE TABLE relations (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL,
    key TEXT NOT NULL, props TEXT NOT NULL, valid_from TEXT, valid_to TEXT, updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX relations_source ON relations (source, type);
CREATE INDEX relations_target ON relations (target, type);
CREATE TABLE provenance (
    fact TEXT NOT NULL CHECK (fact IN ('e', 'r')), fact_id TEXT NOT NULL, key TEXT NOT NULL,
    source_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (fact, fact_id, key)
) WITHOUT ROWID;
CREATE INDEX provenance_source ON provenance (source_id);
CREATE TABLE checkpoints (job TEXT PRIMARY KEY, position TEXT NOT NULL, updated_at TEXT NOT NULL);
"""

_COVERING = (
    "DROP INDEX relations_source; CREATE INDEX relations_source ON relations (source, type, id, target);"
    " DROP INDEX relations_target; CREATE INDEX relations_target ON relations (target, type, id, source)"
)
"""A step from a node reads its relations' other ends from the index alone (not from each row), and
a page of them comes in id order as it did."""
SCHEMA = f"{_SCHEMA_V1};{_COVERING}"
"""The tables and indexes of the current format (benchmarks write the same rows into them bare)."""
_MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1,
    2: "CREATE TABLE suppressed (hash TEXT PRIMARY KEY, added_at TEXT NOT NULL) WITHOUT ROWID",
    3: "CREATE TABLE changes (version INTEGER PRIMARY KEY, entities TEXT NOT NULL, relations TEXT NOT NULL,"
    " deleted INTEGER NOT NULL)",
    # full-text search (see graph.fulltext): the FTS5 row of each searched item, by the item's id
    4: "CREATE TABLE search_rows (row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);"
    " CREATE VIRTUAL TABLE search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')",
    # kept evidence sums (see graph.expertise), counted from the stored items when the store migrates
    5: "CREATE TABLE known (subject TEXT NOT NULL, person TEXT NOT NULL, n INTEGER NOT NULL,"
    " outside INTEGER NOT NULL, dated REAL NOT NULL, undated REAL NOT NULL, doc_dated REAL NOT NULL,"
    " doc_undated REAL NOT NULL, latest REAL, PRIMARY KEY (subject, person)) WITHOUT ROWID;"
    " CREATE INDEX known_person ON known (person);"
    " CREATE TABLE ahead (subject TEXT NOT NULL, person TEXT NOT NULL, item TEXT NOT NULL,"
    " weight REAL NOT NULL, t REAL NOT NULL, authored INTEGER NOT NULL,"
    " PRIMARY KEY (subject, person, item)) WITHOUT ROWID;"
    " CREATE INDEX ahead_item ON ahead (item); CREATE INDEX ahead_person ON ahead (person);"
    " CREATE TABLE work_done (person TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    # covering indexes of the relations: about 20 s at the medium scale
    6: _COVERING,
    # each colleague's pieces of evidence on each subject in the order of their weight
    # (graph.expertise.piece_row), written from the stored items when the store migrates
    7: "CREATE TABLE pieces (subject TEXT NOT NULL, person TEXT NOT NULL, item TEXT NOT NULL,"
    " dated INTEGER NOT NULL, key REAL NOT NULL, t REAL, PRIMARY KEY (subject, person, item)) WITHOUT ROWID;"
    " CREATE INDEX pieces_order ON pieces (subject, person, dated, key DESC, item, t)",
}
"""Schema migrations: version -> SQL that takes a store from version - 1 to version."""


_ON_ITEMS = (
    # what they did with one of the items: their acts and the items, each a range of an index, met in
    # memory (the items are read once a statement); looking up each act's item instead is a read of a
    # page apiece: seconds when the store is not in the operating system's cache
    "SELECT source, type, target FROM relations INDEXED BY relations_source"
    " WHERE source IN ({people}) AND type IN ('AUTHORED', 'RESOLVED', 'PARTICIPATED_IN')"
    " AND target IN ({items})",
    # an escalation of one of the items, answered
    "SELECT target, type, source FROM relations INDEXED BY relations_target"
    " WHERE target IN ({people}) AND type = 'ESCALATED_TO' AND source IN ({items})",
)
"""What some colleagues did with some items (``{items}``: a query of their ids)."""
_ABOUT_IT = (
    "SELECT source FROM relations INDEXED BY relations_target"
    " WHERE target = :subject AND type IN ('ABOUT', 'DELIVERED_TO')"
)
_ITS_OWN = (  # a customer's items: those they took part in or submitted
    "SELECT target FROM relations INDEXED BY relations_source"
    " WHERE source = :subject AND type IN ('PARTICIPATED_IN', 'SUBMITTED')"
)
_ACTS_ABOUT = (
    # an account they own: about the customer itself
    "SELECT source, type, target FROM relations WHERE source IN ({people}) AND type = 'OWNS_ACCOUNT'"
    " AND target = :subject",
    *(statement.format(people="{people}", items=_ABOUT_IT) for statement in _ON_ITEMS),
)
"""What some colleagues did with the items about one subject (:meth:`EmbeddedStore.evidence_between`)."""
_ACTS_WITH_CUSTOMER = tuple(statement.format(people="{people}", items=_ITS_OWN) for statement in _ON_ITEMS)
"""What they did with a customer's own items (when the subject is a customer)."""


_CONFIDENCE = (
    "SELECT fact_id, max(coalesce(json_extract(data, '$.confidence'), 1.0)) FROM provenance WHERE fact = 'r'"
)
"""Relationships' confidence: the highest of their evidence's (a piece that gives none counts 1.0)."""


_STRONGEST = """
WITH kth(key) AS (
  SELECT min(key) FROM (
    SELECT key FROM pieces WHERE subject = :subject AND person = :person AND dated = 1 AND t <= :now
    ORDER BY key DESC LIMIT :k)
),
least(w) AS (SELECT round(power(2.0, (key - :now) / 86400.0 / :h), 4) - 0.0002 FROM kth),
dated(item, key) AS (
  SELECT item, key FROM pieces
  WHERE subject = :subject AND person = :person AND dated = 1 AND key > (SELECT key FROM kth) AND t <= :now
  UNION ALL
  SELECT * FROM (
    SELECT item, key FROM pieces INDEXED BY pieces_order
    WHERE subject = :subject AND person = :person AND dated = 1 AND key = (SELECT key FROM kth) AND t <= :now
    ORDER BY item LIMIT :k)
  UNION ALL
  SELECT item, key FROM pieces
  WHERE subject = :subject AND person = :person AND dated = 1 AND key < (SELECT key FROM kth) AND t <= :now
    AND key >= (SELECT CASE WHEN w > 0 THEN :now + 86400.0 * :h * log2(w) ELSE -1.0e300 END FROM least)
),
found(item, w) AS (
  SELECT item, round(power(2.0, (key - :now) / 86400.0 / :h), 4) FROM dated
  UNION ALL
  SELECT item, round(key * 0.5, 4) FROM (
    SELECT item, key FROM pieces WHERE subject = :subject AND person = :person AND dated = 0
    ORDER BY key DESC, item LIMIT :k)
  UNION ALL
  SELECT item, round(weight, 4) FROM ahead WHERE subject = :subject AND person = :person AND t > :now
  UNION ALL
  SELECT item, round(power(2.0, (key - t) / 86400.0 / :h), 4) FROM pieces
  WHERE subject = :subject AND person = :person AND dated = 1 AND key > :later AND t > :now
)
SELECT item FROM found GROUP BY item ORDER BY max(w) DESC, item LIMIT :k"""
"""A colleague's ``:k`` strongest items on a subject at ``:now``, read in order from the kept pieces.

As Neo4j reads them (:data:`graph.cypher.STRONGEST_EACH`, parameters
:func:`graph.expertise.strongest_cut`): the dated ones down to the weight of the ``:k``-th with all
that may round to it (of its own weight, the ``:k`` first by item: a day's sync gives a colleague
hundreds of one weight), the ``:k`` first undated, and those dated after ``:now``; weighed from their
rows (a row's key is its weight shifted by its date), the ``:k`` first, ties by id. The caller reads
the acts on them and ranks exactly.
"""
_ACTS_ON = (
    "SELECT source, type, target FROM relations INDEXED BY relations_target WHERE target IN ({items})"
    " AND type IN ('AUTHORED', 'RESOLVED', 'PARTICIPATED_IN', 'OWNS_ACCOUNT') AND source = ?"
    " UNION ALL SELECT target, type, source FROM relations INDEXED BY relations_source"
    " WHERE source IN ({items}) AND type = 'ESCALATED_TO' AND target = ?"
)
"""A colleague's acts on some items: a few rows of an index per item."""


AUDIT_FILE = "audit.sqlite"
"""The audit log."""
SHARED_FILE = "shared.sqlite"
"""What the API processes of the store share (:mod:`graph.shared`): ingest jobs and request rates."""
SIDE_FILES = {
    AUDIT_FILE: (
        "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, record TEXT NOT NULL,"
        " prev TEXT NOT NULL, hash TEXT NOT NULL)",
        60_000,
    ),
    SHARED_FILE: (
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created_at TEXT NOT NULL,"
        " record TEXT NOT NULL);"
        "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);"
        "CREATE TABLE IF NOT EXISTS rates (key TEXT PRIMARY KEY, tokens REAL NOT NULL, at REAL NOT NULL);"
        "CREATE INDEX IF NOT EXISTS rates_at ON rates (at)",
        5_000,
    ),
}
"""Files beside the store, each with its schema and how long a write waits for another process's (ms):
their writes never wait for an ingest's. A request waits at most 5 s to be counted."""

_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
"""Properties as stored: compact, keys sorted (one encoder: ``json.dumps`` with options makes one
per call)."""


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


EXACT_JSON = sqlite3.sqlite_version_info >= (3, 38, 0)
"""Whether SQLite has ``->``, which picks a property as it is stored. ``json_extract`` makes it an SQL
value first: a number keeps 15 digits (``700.0000000000001`` comes back as ``700.0``) and a boolean
becomes 1 or 0."""


def _json_fields(fields: Sequence[str]) -> str:
    """SQL selecting only these properties, as a JSON object (names are checked identifiers)."""
    for name in fields:
        if not _FIELD.fullmatch(name):
            raise ValueError(f"not a property name: {name!r}")
    pick = "props -> '$.{}'" if EXACT_JSON else "json_extract(props, '$.{}')"
    pairs = ", ".join(f"'{name}', {pick.format(name)}" for name in fields)
    return f"json_object({pairs})"


def _loaded(props: str, sparse: bool) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(props)
    return {k: v for k, v in loaded.items() if v is not None} if sparse else loaded


def _add_edge(graph: nx.MultiDiGraph, source: str, target: str, key: str, data: dict[str, Any]) -> None:
    """What ``graph.add_edge(source, target, key=key, **data)`` does, without its per-call costs.

    ``data`` itself becomes the edge's attributes (the view shares one ``{"type": ...}`` per type):
    millions of edges take less time and memory.
    """
    nodes = graph._node  # ``in graph`` costs a method call per edge
    if source not in nodes or target not in nodes:
        graph.add_nodes_from((source, target))
    keys = graph._succ[source].get(target)
    if keys is None:
        keys = graph._succ[source][target] = graph._pred[target][source] = {}
    keys[key] = data


def _marks(items: Sequence[str]) -> str:
    return ",".join("?" * len(items))


def _job(kept: str) -> dict[str, Any]:
    """A job's record as kept, with how long ago it was heard of instead of when."""
    record = dict(json.loads(kept))
    heard = float(record.pop("heard_at", 0.0))
    return {**record, "heard_s_ago": time.time() - heard}


class EmbeddedStore(traversal.Traversals):
    """SQLite implementation of :class:`graph.store.GraphStore`, with a compact traversal view in memory."""

    backend = "embedded"
    answers_in_place = False
    names: NameIndex | None = None  # a process keeps the names (api.understand)

    def __init__(self, home: Path, *, limits: Limits | None = None) -> None:
        """Open (and create if needed) the store in directory ``home``."""
        self.limits = limits or Limits()
        self.caches = Caches()
        self.home = Path(home)
        self.path = self.home / DB_FILE
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the embedded store at {self.path}: {exc}") from None
        self._lock = threading.RLock()
        self._behind = CommitsBehind()
        self._view: Adjacency | None = None
        self._view_version = -1
        self._view_building: threading.Thread | None = None
        self._view_generation = 0
        self._last_changes: tuple[int, int, Changes | None] | None = None
        """Counts deletions and the close: a view built before one is not installed."""
        set_pragmas(self._conn, PRAGMAS, wait_s=60.0)
        self._migrate()
        self._lock_file: IO[str] | None = None
        self._sides: dict[str, sqlite3.Connection] = {}
        self._side_locks = {name: threading.Lock() for name in SIDE_FILES}  # one user of a file's at a time
        self._sides_closed = False
        self._pruned_at = 0.0
        self._writer = WriterLock(self._take_writer, self._release_writer)

    # -- one writer at a time -----------------------------------------------------------------------

    def writer(
        self, *, wait_s: float, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[None]:
        """See :meth:`graph.store.GraphStore.writer`: an exclusive ``flock`` on ``writer.lock``."""
        return self._writer.held(wait_s, on_wait)

    def _take_writer(self) -> str | None:
        handle = (self.home / WRITER_LOCK).open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            return holder
        handle.seek(0)
        handle.truncate()
        handle.write(holder_name())
        handle.flush()
        self._lock_file = handle
        return None

    def _release_writer(self) -> None:
        if self._lock_file is not None:
            self._lock_file.truncate(0)
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # -- schema -----------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._tx() as cur:
            tables = {r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "ckn_meta" not in tables:
                raise StoreVersionError(
                    f"{self.path} is not a ckn store; point CKN_HOME at an empty or ckn directory"
                )
            if "ckn_meta" not in tables:
                cur.execute("CREATE TABLE ckn_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                cur.executemany(
                    "INSERT INTO ckn_meta VALUES (?, ?)", [("schema_version", "0"), ("graph_version", "0")]
                )
            version = int(self._meta(cur, "schema_version"))
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self.path} was written by a newer ckn (store format {version}; this ckn reads up"
                    f" to {SCHEMA_VERSION}); upgrade ckn, or export with the newer one"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                log.info("migrating %s to store format %d", self.path, target)
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        cur.execute(statement)
                if target == 4:
                    self._index_stored_texts(cur)
                if target == 5:
                    self._count_known(cur, pieces=False)  # written when the table that keeps them is there
                if target == 7:
                    self._count_known(cur, sums=False)
                cur.execute("UPDATE ckn_meta SET value = ? WHERE key = 'schema_version'", (str(target),))

    @staticmethod
    def _meta(cur: sqlite3.Cursor, key: str) -> str:
        row = cur.execute("SELECT value FROM ckn_meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The connection to this thread alone, once a write-behind commit still running has finished.

        Every use of the connection holds this: the commit runs in another thread, without the lock.
        """
        with self._lock:
            self._behind.wait()
            yield

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        behind = self._behind.active
        with self._locked():
            if behind:
                self._behind.check()
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            if behind:
                self._behind.submit(lambda: self._commit(cur))
            else:
                self._commit(cur)

    def _commit(self, cur: sqlite3.Cursor) -> None:
        """Commit; one that fails is rolled back and drops the view (the write had already updated it)."""
        try:
            cur.execute("COMMIT")  # SQLite lets go of Python's lock while it writes and syncs
        except BaseException:
            self._view = None
            if self._conn.in_transaction:
                cur.execute("ROLLBACK")
            raise

    def write_behind(self) -> AbstractContextManager[None]:
        """See :meth:`graph.store.GraphStore.write_behind` and :mod:`graph.behind`.

        Here a write returns once its rows are in the transaction; the commit (writing and syncing the
        log, about a third of a bulk write) runs behind while the caller prepares the next batch. A
        failed commit is rolled back and raised by this thread's next write, or when the block ends.
        """
        return self._behind.block()

    def _bump(self, cur: sqlite3.Cursor, plan: WritePlan | None = None) -> int:
        """A new graph version, with what changed in the change log (``plan`` None: a deletion)."""
        cur.execute("UPDATE ckn_meta SET value = value + 1 WHERE key = 'graph_version'")
        logged = changelog.entry(int(self._meta(cur, "graph_version")), plan)
        cur.execute("DELETE FROM changes WHERE version < ?", (logged.oldest_kept,))
        cur.execute("INSERT INTO changes VALUES (?, ?, ?, ?)", logged)
        return logged.version

    def changes_since(self, version: int) -> Changes | None:
        """See :meth:`graph.store.GraphStore.changes_since`: read from the change log.

        The last answer is kept while the graph does not change: every structure kept in step asks
        the same question after a write (the evidence index, the resolver, the gazetteer).
        """
        with self._locked():
            now = self.graph_version()
            if self._last_changes is not None and self._last_changes[:2] == (version, now):
                return self._last_changes[2]
            found = self._changes(self._conn, version)
            self._last_changes = (version, now, found)
            return found

    @staticmethod
    def _changes(conn: sqlite3.Connection | sqlite3.Cursor, version: int) -> Changes | None:
        now = int(conn.execute("SELECT value FROM ckn_meta WHERE key = 'graph_version'").fetchone()[0])
        sql = "SELECT version, entities, relations, deleted FROM changes WHERE version > ? ORDER BY version"
        return changelog.changes(version, now, conn.execute(sql, (version,)))

    def _provenance(self, fact: str, ids: Sequence[str]) -> dict[str, list[Provenance]]:
        found: dict[str, list[Provenance]] = {}
        for chunk in _chunks(ids):
            rows = self._conn.execute(
                f"SELECT fact_id, data FROM provenance WHERE fact = ? AND fact_id IN ({_marks(chunk)})",  # noqa: S608
                (fact, *chunk),
            )
            for fact_id, data in rows:
                found.setdefault(fact_id, []).append(Provenance.model_validate_json(data))
        for items in found.values():
            items.sort(key=lambda p: (p.observed_at, p.key))
        return found

    def _entities_from_rows(self, rows: Iterable[tuple[str, str, str, str]]) -> list[Entity]:
        rows = list(rows)
        evidence = self._provenance("e", [r[0] for r in rows])
        return [
            Entity(id=i, kind=NodeKind(k), name=n, props=json.loads(p), provenance=tuple(evidence[i]))
            for i, k, n, p in rows
        ]

    def _relations_from_rows(self, rows: Iterable[tuple[Any, ...]]) -> list[Relation]:
        rows = list(rows)
        evidence = self._provenance("r", [r[0] for r in rows])
        return [
            Relation(
                type=RelType(t),
                source=s,
                target=d,
                key=k,
                props=json.loads(p),
                valid_from=vf,
                valid_to=vt,
                provenance=tuple(evidence[i]),
            )
            for i, t, s, d, k, p, vf, vt in rows
        ]

    _REL_COLUMNS = "id, type, source, target, key, props, valid_from, valid_to"

    def _select_relations(self, where: str, params: Sequence[Any], limit: int = -1) -> list[Relation]:
        sql = f"SELECT {self._REL_COLUMNS} FROM relations WHERE {where} ORDER BY id LIMIT ?"  # noqa: S608
        return self._relations_from_rows(self._conn.execute(sql, [*params, limit]))

    # -- writes ------------------------------------------------------------------------------------

    def write(self, batch: Batch) -> WriteResult:
        """See :meth:`graph.store.GraphStore.write`."""
        with self._tx() as cur:
            before = int(self._meta(cur, "graph_version"))
            plan = plan_write(batch, self.get_entities, self._kinds, self.get_relations_by_id)
            touched, created = expertise.touched_by(plan)
            touched |= self._touched_by_deletion(cur, plan.delete_entities, plan.delete_relations)
            was = self._contributions(touched - created, as_kept=True)
            self._persist(cur, plan)
            if plan.delete_entities or plan.delete_relations:
                self._delete(cur, plan.delete_entities, plan.delete_relations)
            self._keep_known(cur, expertise.difference(was, self._contributions(touched)))
            if batch.checkpoint is not None:
                cur.execute(
                    "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
                    (batch.checkpoint.job, batch.checkpoint.position, utcnow().isoformat()),
                )
            if plan.changed:  # in the transaction: a commit that fails drops the view
                self._apply_to_view(cur, plan, before, self._bump(cur, plan))
        return plan.result()

    def _persist(self, cur: sqlite3.Cursor, plan: WritePlan) -> None:
        entities, relations, evidence = self.rows_of(plan)
        cur.executemany("INSERT OR REPLACE INTO entities VALUES (?, ?, ?, ?, ?)", entities)
        cur.executemany("INSERT OR REPLACE INTO relations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", relations)
        cur.executemany("DELETE FROM provenance WHERE fact = ? AND fact_id = ?", plan.restated)
        cur.executemany("INSERT INTO provenance VALUES (?, ?, ?, ?, ?)", evidence)
        texts = [(e.id, e.kind, e.name, e.props) for e in plan.entities if e.kind in fulltext.SEARCHED]
        if texts:
            self._index_texts(cur, texts)

    @classmethod
    def _index_stored_texts(cls, cur: sqlite3.Cursor) -> None:
        """Index the texts stored before full-text search existed, a page at a time (by kind and id)."""
        sql = "SELECT id, name, props FROM entities WHERE kind = ? AND id > ? ORDER BY id LIMIT ?"
        for kind in fulltext.SEARCHED:
            after = ""
            while page := cur.execute(sql, (kind.value, after, _CHUNK)).fetchall():
                cls._index_texts(cur, [(i, kind, n, json.loads(p)) for i, n, p in page])
                after = page[-1][0]

    @staticmethod
    def _index_texts(cur: sqlite3.Cursor, items: Sequence[tuple[str, NodeKind, str, dict[str, Any]]]) -> None:
        """(Re)index these items' texts for :meth:`search_text`, in the write's transaction."""
        ids = [i for i, _, _, _ in items]
        EmbeddedStore._unindex(cur, ids)
        rows = []
        for item_id, kind, name, props in items:
            form = fulltext.searchable(Entity.model_construct(id=item_id, kind=kind, name=name, props=props))
            if form:
                rows.append((item_id, fulltext.fts_body(form)))
        if rows:
            cur.executemany("INSERT INTO search_rows (id) VALUES (?)", [(i,) for i, _ in rows])
            numbers = EmbeddedStore._rows_of(cur, [i for i, _ in rows])
            cur.executemany(
                "INSERT INTO search (rowid, body) VALUES (?, ?)", [(numbers[i], b) for i, b in rows]
            )

    @staticmethod
    def _rows_of(cur: sqlite3.Cursor, ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(ids)):
            sql = f"SELECT id, row FROM search_rows WHERE id IN ({_marks(chunk)})"  # noqa: S608
            found.update(cur.execute(sql, chunk).fetchall())
        return found

    @staticmethod
    def _unindex(cur: sqlite3.Cursor, ids: Sequence[str]) -> None:
        numbers = EmbeddedStore._rows_of(cur, ids)
        if numbers:
            cur.executemany("DELETE FROM search WHERE rowid = ?", [(n,) for n in numbers.values()])
            cur.executemany("DELETE FROM search_rows WHERE row = ?", [(n,) for n in numbers.values()])

    @staticmethod
    def rows_of(
        plan: WritePlan,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rows of the entities, relations and provenance tables that write ``plan``."""
        now = utcnow().isoformat()
        entities = [(e.id, e.kind.value, e.name, _json(e.props), now) for e in plan.entities]
        relations = [
            (
                r.id,
                r.type.value,
                r.source,
                r.target,
                r.key,
                _json(r.props),
                r.valid_from.isoformat() if r.valid_from else None,
                r.valid_to.isoformat() if r.valid_to else None,
                now,
            )
            for r in plan.relations
        ]
        as_json = EvidenceJson()
        evidence = [
            (fact, f.id, p.key, p.source_id, as_json(p))
            for fact, items in (("e", plan.entities), ("r", plan.relations))
            for f in items
            for p in f.provenance
        ]
        return entities, relations, evidence

    def _kinds(self, ids: list[str]) -> dict[str, NodeKind]:
        found: dict[str, NodeKind] = {}
        for chunk in _chunks(ids):
            sql = f"SELECT id, kind FROM entities WHERE id IN ({_marks(chunk)})"  # noqa: S608
            found.update((i, NodeKind(k)) for i, k in self._conn.execute(sql, chunk))
        return found

    @staticmethod
    def _doomed(cur: sqlite3.Cursor, entity_ids: Sequence[str], relation_ids: Sequence[str]) -> set[str]:
        """The relations deleting these entities and relations removes."""
        doomed = set(relation_ids)
        for chunk in _chunks(list(entity_ids)):
            marks = _marks(chunk)
            sql = f"SELECT id FROM relations WHERE source IN ({marks}) OR target IN ({marks})"  # noqa: S608
            doomed.update(r[0] for r in cur.execute(sql, (*chunk, *chunk)))
        return doomed

    def _delete(self, cur: sqlite3.Cursor, entity_ids: Sequence[str], relation_ids: Sequence[str]) -> int:
        """Delete entities (with every relation touching them) and relations; return relations deleted."""
        doomed = self._doomed(cur, entity_ids, relation_ids)
        self._unindex(cur, entity_ids)
        for fact, ids in (("e", list(entity_ids)), ("r", sorted(doomed))):
            table = "entities" if fact == "e" else "relations"
            for chunk in _chunks(ids):
                marks = _marks(chunk)
                cur.execute(f"DELETE FROM {table} WHERE id IN ({marks})", chunk)  # noqa: S608
                sql = f"DELETE FROM provenance WHERE fact = ? AND fact_id IN ({marks})"  # noqa: S608
                cur.execute(sql, (fact, *chunk))
        return len(doomed)

    # -- kept evidence sums (graph.expertise) ---------------------------------------------------------

    def _touched_by_deletion(
        self, cur: sqlite3.Cursor, entity_ids: Sequence[str], relation_ids: Sequence[str]
    ) -> set[str]:
        """The items whose evidence deleting these entities and relations changes."""
        if not entity_ids and not relation_ids:
            return set()
        ends: list[tuple[str, str, str]] = []
        for chunk in _chunks(sorted(self._doomed(cur, entity_ids, relation_ids))):
            sql = f"SELECT type, source, target FROM relations WHERE id IN ({_marks(chunk)})"  # noqa: S608
            ends.extend(cur.execute(sql, chunk))
        return expertise.touched_items(self._kinds(list(entity_ids)).items(), ends)

    def _contributions(self, items: Collection[str], *, as_kept: bool = False) -> expertise.Counted:
        """What these items add to the kept sums, as the transaction sees them now.

        ``as_kept``: their pieces dated ahead are those kept apart as such (the state a write finds);
        else those dated after now (the state it leaves).
        """
        if not items:
            return expertise.Counted()
        wanted = sorted(items)
        kept: set[str] | None = None
        if as_kept:
            kept = set()
            for chunk in _chunks(wanted):
                sql = f"SELECT DISTINCT item FROM ahead WHERE item IN ({_marks(chunk)})"  # noqa: S608
                kept.update(r[0] for r in self._conn.execute(sql, chunk))
        facts = evidence_read.gather(self._linked, self._fields, lambda people: {}, (), wanted)
        return expertise.contributions(facts.about, facts.acts, facts.items, expertise.dated_ahead(kept))

    @staticmethod
    def _keep_known(
        cur: sqlite3.Cursor, change: expertise.Counted, *, sums: bool = True, pieces: bool = True
    ) -> None:
        """Add a change to the kept sums; a colleague's row on a subject goes when nothing is left of it.

        And replace the rows of the pieces it changed (:func:`graph.expertise.piece_row`). ``sums``,
        ``pieces``: which of the two (a store counted again when it migrates).
        """
        if pieces:
            cur.executemany(
                "DELETE FROM pieces WHERE subject = ? AND person = ? AND item = ?",
                [(s, p, i) for p, s, i in sorted(change.unpieced)],
            )
            rows = (expertise.piece_row(p, *found) for p, found in sorted(change.pieces.items()))
            cur.executemany(
                "INSERT OR REPLACE INTO pieces VALUES (?, ?, ?, ?, ?, ?)",
                [(r["subject"], r["person"], r["item"], int(r["dated"]), r["key"], r["t"]) for r in rows],
            )
        if not sums:
            return
        work = change.work
        cur.executemany(
            "DELETE FROM ahead WHERE person = ? AND subject = ? AND item = ?", sorted(change.gone)
        )
        cur.executemany(
            "INSERT OR REPLACE INTO ahead VALUES (?, ?, ?, ?, ?, ?)",
            [(s, p, i, a.weight, a.t, int(a.authored)) for (p, s, i), a in sorted(change.ahead.items())],
        )
        cur.executemany(
            "INSERT INTO known VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject, person) DO UPDATE SET"
            " n = n + excluded.n, outside = outside + excluded.outside, dated = dated + excluded.dated,"
            " undated = undated + excluded.undated, doc_dated = doc_dated + excluded.doc_dated,"
            " doc_undated = doc_undated + excluded.doc_undated,"
            " latest = CASE WHEN latest IS NULL THEN excluded.latest WHEN excluded.latest IS NULL THEN latest"
            " ELSE max(latest, excluded.latest) END",
            [
                (subject, person, k.n, k.outside, k.dated, k.undated, k.doc_dated, k.doc_undated, k.latest)
                for (person, subject), k in sorted(change.sums.items())
            ],
        )
        gone = [(subject, person) for (person, subject), k in change.sums.items() if k.n < 0]
        cur.executemany("DELETE FROM known WHERE subject = ? AND person = ? AND n <= 0", gone)
        cur.executemany(
            "INSERT INTO work_done VALUES (?, ?) ON CONFLICT (person) DO UPDATE SET n = n + excluded.n",
            sorted(work.items()),
        )
        fewer = [(p,) for p, d in work.items() if d < 0]
        cur.executemany("DELETE FROM work_done WHERE person = ? AND n <= 0", fewer)

    def _count_known(self, cur: sqlite3.Cursor, *, sums: bool = True, pieces: bool = True) -> None:
        """Count the kept sums (or pieces) of a store written before they existed, 5,000 items at a time."""
        kinds = [k.value for k in expertise.ITEM_KINDS]
        after = ""
        while True:
            sql = f"SELECT id FROM entities WHERE kind IN ({_marks(kinds)}) AND id > ? ORDER BY id LIMIT 5000"  # noqa: S608
            items = [r[0] for r in cur.execute(sql, (*kinds, after))]
            if not items:
                return
            self._keep_known(cur, self._contributions(items), sums=sums, pieces=pieces)
            after = items[-1]

    def delete_source(
        self, *source_ids: str, dry_run: bool = False, keep: Iterable[str] = ()
    ) -> DeleteResult:
        """See :meth:`graph.store.GraphStore.delete_source`."""
        with self._tx() as cur:
            entities, relations = self._source_facts(cur, source_ids)
            plan = plan_source_deletion(source_ids, entities, relations, set(keep))
            touching = self._doomed(cur, plan.delete_entities, [])
            keep_referenced(plan, self.get_relations_by_id(sorted(touching)).values(), source_ids)
            if dry_run:
                return plan.result(len(self._doomed(cur, plan.delete_entities, plan.delete_relations)))
            touched = self._touched_by_deletion(cur, plan.delete_entities, plan.delete_relations)
            was = self._contributions(touched, as_kept=True)
            deleted = self._delete(cur, plan.delete_entities, plan.delete_relations)
            self._keep_known(cur, expertise.difference(was, self._contributions(touched)))
            trimmed = WritePlan.restating(plan.trimmed_entities, plan.trimmed_relations)
            self._persist(cur, trimmed)
            if deleted or plan.delete_entities or trimmed.changed:
                self._bump(cur)
        self._forget()
        return plan.result(relations_deleted=deleted)

    def _source_facts(
        self, cur: sqlite3.Cursor, source_ids: Sequence[str]
    ) -> tuple[list[Entity], list[Relation]]:
        """The facts with evidence from these sources, and their ``Source`` entities."""
        marks = _marks(source_ids)
        rows = cur.execute(
            f"SELECT DISTINCT fact, fact_id FROM provenance WHERE source_id IN ({marks})",  # noqa: S608
            list(source_ids),
        ).fetchall()
        entity_ids = sorted({i for f, i in rows if f == "e"} | set(self._kinds(list(source_ids))))
        relations = self.get_relations_by_id(sorted(i for f, i in rows if f == "r"))
        return list(self.get_entities(entity_ids).values()), list(relations.values())

    def erase_entity(self, entity_id: str) -> DeleteResult:
        """See :meth:`graph.store.GraphStore.erase_entity` (:meth:`scrub` then leaves no copy on disk)."""
        with self._tx() as cur:
            exists = bool(self._kinds([entity_id]))
            touched = self._touched_by_deletion(cur, [entity_id], []) if exists else set()
            was = self._contributions(touched, as_kept=True)
            deleted = self._delete(cur, [entity_id], []) if exists else 0
            self._keep_known(cur, expertise.difference(was, self._contributions(touched)))
            cur.execute("DELETE FROM known WHERE person = ? OR subject = ?", (entity_id, entity_id))
            cur.execute("DELETE FROM ahead WHERE person = ?1 OR subject = ?1 OR item = ?1", (entity_id,))
            cur.execute("DELETE FROM pieces WHERE person = ?1 OR subject = ?1 OR item = ?1", (entity_id,))
            cur.execute("DELETE FROM work_done WHERE person = ?", (entity_id,))
            if exists:
                self._bump(cur)
        self._forget()
        return DeleteResult(entities_deleted=int(exists), relations_deleted=deleted)

    def rename_source(self, source_id: str, to: Entity) -> int:
        """See :meth:`graph.store.GraphStore.rename_source`."""
        with self._tx() as cur:
            entities, relations = self._source_facts(cur, [source_id])
            touching = self.get_relations_by_id(sorted(self._doomed(cur, [source_id], []))).values()
            plan = plan_source_rename(source_id, to, entities, [*relations, *touching])
            self._delete(cur, [source_id], [])  # and the relations touching it: written back moved
            self._persist(cur, plan)
            jobs = [j for (j,) in cur.execute("SELECT job FROM checkpoints") if j.endswith(f":{source_id}")]
            for job in jobs:  # a checkpoint the new id already has (an ingest since) is the one kept
                new_job = f"{job.removesuffix(source_id)}{to.id}"
                copy = "INSERT OR IGNORE INTO checkpoints SELECT ?, position, updated_at FROM checkpoints"
                cur.execute(f"{copy} WHERE job = ?", (new_job, job))
                cur.execute("DELETE FROM checkpoints WHERE job = ?", (job,))
            self._bump(cur)
        self._forget()
        return len(plan.entities) + len(plan.relations) - 1

    def scrub(self) -> bool:
        """See :meth:`graph.store.GraphStore.scrub`: the store is written again, page by page.

        secure_delete zeroes the space a deletion frees, but not the copies of rows a page split or
        merge moved elsewhere earlier (they stay in the unused middle of pages); the full-text index
        holds the erased words in its older segments until they are merged into one; the WAL holds
        the old page images until a checkpoint copies the new ones over them and truncates it. So
        the index is merged, the store vacuumed (rebuilt in fresh pages: it needs its own size free
        on disk for a while, and as much again in the WAL) and the WAL truncated; so are the WALs of
        the side files (the kept jobs).

        A reader in another thread or process can keep a WAL from being truncated (each try waits for
        it as long as the file's busy timeout): then False.
        """
        with self._tx() as cur:
            cur.execute("INSERT INTO search (search) VALUES ('optimize')")
        rebuild = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        try:  # a connection of its own: this process's reads go on meanwhile (from the old pages)
            set_pragmas(rebuild, PRAGMAS, wait_s=60)
            rebuild.execute("VACUUM")
            busy = rebuild.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            rebuild.close()
        for name in SIDE_FILES:
            with self._side(name) as side:
                busy += side.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy

    def _forget(self) -> None:
        """After a deletion: the view and everything remembered go (built again, in the background)."""
        with self._locked():
            self._view, self._view_generation = None, self._view_generation + 1
            self._last_changes = None
        self.caches.forget()

    # -- reads -------------------------------------------------------------------------------------

    def get_entity(self, entity_id: str) -> Entity | None:
        """See :meth:`graph.store.GraphStore.get_entity`."""
        return self.get_entities([entity_id]).get(entity_id)

    def get_entities(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        """See :meth:`graph.store.GraphStore.get_entities`."""
        rows: list[tuple[str, str, str, str]] = []
        with self._locked():
            for chunk in _chunks(list(dict.fromkeys(entity_ids))):
                sql = f"SELECT id, kind, name, props FROM entities WHERE id IN ({_marks(chunk)})"  # noqa: S608
                rows.extend(self._conn.execute(sql, chunk))
            return {e.id: e for e in self._entities_from_rows(rows)}

    def list_entities(
        self, kind: NodeKind | None = None, *, after: str = "", limit: int = 100
    ) -> list[Entity]:
        """See :meth:`graph.store.GraphStore.list_entities`."""
        self.limits.check_page(limit)
        where, params = ("id > ?", [after])
        if kind is not None:
            where, params = "kind = ? AND id > ?", [as_kind(kind).value, after]
        sql = f"SELECT id, kind, name, props FROM entities WHERE {where} ORDER BY id LIMIT ?"  # noqa: S608
        with self._locked():
            return self._entities_from_rows(self._conn.execute(sql, [*params, limit]))

    def get_relations_by_id(self, relation_ids: Sequence[str]) -> dict[str, Relation]:
        """See :meth:`graph.store.GraphStore.get_relations_by_id`."""
        found: dict[str, Relation] = {}
        with self._locked():
            for chunk in _chunks(list(dict.fromkeys(relation_ids))):
                found.update((r.id, r) for r in self._select_relations(f"id IN ({_marks(chunk)})", chunk))
        return found

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
        ends = {Direction.OUT: "source = ?", Direction.IN: "target = ?"}
        where = ends.get(direction, "(source = ? OR target = ?)")
        params: list[Any] = [entity_id] * where.count("?")
        if types is not None:
            wanted = sorted({as_type(t).value for t in types})
            where += f" AND type IN ({_marks(wanted)})"
            params += wanted
        with self._locked():
            return self._select_relations(where, params, limit)

    def expand(
        self,
        entity_ids: Sequence[str],
        *,
        types: Iterable[RelType] | None,
        direction: Direction,
        towards: Collection[str] | None = None,
    ) -> list[Hop]:
        """See :meth:`graph.store.GraphStore.expand`: the view, or indexed reads until it is built."""
        wanted = None if types is None else {as_type(t) for t in types}
        view = self._view_when_built()
        if view is not None:
            return view.expand(entity_ids, wanted, direction, towards)
        found: dict[str, Hop] = {}
        for rid, rtype, source, target, outgoing in self._relations_near(entity_ids, wanted, direction):
            if towards is None or (target if outgoing else source) in towards:
                found[rid] = Hop.model_construct(
                    relation_id=rid, type=RelType(rtype), source=source, target=target
                )
        return [found[rid] for rid in sorted(found)]

    def degree(
        self,
        entity_ids: Sequence[str],
        *,
        types: Iterable[RelType] | None,
        direction: Direction,
        at_most: int | None = None,
    ) -> int:
        """See :meth:`graph.store.GraphStore.degree`: the view, or indexed reads until it is built."""
        wanted = None if types is None else {as_type(t) for t in types}
        view = self._view_when_built()
        if view is not None:
            return view.degree(entity_ids, wanted, direction, at_most)
        ids, typed = list(dict.fromkeys(entity_ids)), sorted(wanted or ())
        ways = {Direction.OUT: ("source",), Direction.IN: ("target",)}.get(direction, ("source", "target"))
        count, cap = 0, -1 if at_most is None else at_most + 1
        with self._locked():
            for near in ways:
                for chunk in _chunks(ids):
                    sql = f"SELECT 1 FROM relations WHERE {near} IN ({_marks(chunk)})"  # noqa: S608
                    if wanted is not None:
                        sql += f" AND type IN ({_marks(typed)})"
                    counted = f"SELECT count(*) FROM ({sql} LIMIT ?)"  # noqa: S608
                    count += int(self._conn.execute(counted, (*chunk, *typed, cap)).fetchone()[0])
                    if at_most is not None and count > at_most:
                        return count
        return count

    def _relations_near(
        self, entity_ids: Iterable[str], wanted: set[RelType] | None, direction: Direction
    ) -> Iterator[tuple[str, str, str, str, bool]]:
        """``(id, type, source, target, outgoing)`` of the relations touching these entities (indexed)."""
        ids = list(dict.fromkeys(entity_ids))
        typed = sorted(wanted or ())
        ways = {Direction.OUT: (True,), Direction.IN: (False,)}.get(direction, (True, False))
        with self._locked():
            for outgoing in ways:
                near = "source" if outgoing else "target"
                for chunk in _chunks(ids):
                    sql = f"SELECT id, type, source, target FROM relations WHERE {near} IN ({_marks(chunk)})"  # noqa: S608
                    if wanted is not None:
                        sql += f" AND type IN ({_marks(typed)})"
                    for row in self._conn.execute(sql, (*chunk, *typed)).fetchall():
                        yield (*row, outgoing)

    def project(
        self,
        *,
        kinds: Iterable[NodeKind] | None = None,
        types: Iterable[RelType] | None = None,
        fields: Sequence[str] | None = None,
    ) -> nx.MultiDiGraph:
        """See :meth:`graph.store.GraphStore.project`."""
        graph = Projection()
        props_sql = "props" if fields is None else _json_fields(fields)
        node_sql, node_params = f"SELECT id, kind, name, {props_sql} FROM entities", []  # noqa: S608
        if kinds is not None:
            wanted = sorted({as_kind(k).value for k in kinds})
            node_sql += f" WHERE kind IN ({_marks(wanted)})"
            node_params = wanted
        rel_props_sql = "props" if fields is None else "'{}'"  # with fields, edges carry no properties
        rel_sql = f"SELECT id, type, source, target, {rel_props_sql}, valid_from, valid_to FROM relations"  # noqa: S608
        rel_params: list[str] = []
        if types is not None:
            wanted_types = sorted({as_type(t).value for t in types})
            rel_sql += f" WHERE type IN ({_marks(wanted_types)})"
            rel_params = wanted_types
        sparse = fields is not None
        with self._locked():
            for node, kind, name, props in self._conn.execute(node_sql + " ORDER BY id", node_params):
                graph.add_node(node, **_loaded(props, sparse), kind=kind, name=name)
            relations = (
                []
                if types is not None and not rel_params
                else self._conn.execute(rel_sql + " ORDER BY id", rel_params)
            )
            nodes = graph._node
            for rid, rtype, source, target, props, vf, vt in relations:
                if source in nodes and target in nodes:
                    attrs = {} if sparse else json.loads(props)
                    attrs.update(type=rtype, valid_from=vf, valid_to=vt)
                    _add_edge(graph, source, target, rid, attrs)
        return graph

    def scan_entities(
        self, *, kinds: Iterable[NodeKind], fields: Sequence[str]
    ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """See :meth:`graph.store.GraphStore.scan_entities`."""
        wanted = sorted({as_kind(k).value for k in kinds})
        sql = f"SELECT id, kind, name, {_json_fields(fields)} FROM entities WHERE kind IN ({_marks(wanted)})"  # noqa: S608
        for entity_id, kind, name, values in self._snapshot(sql, wanted):
            yield entity_id, kind, name, _loaded(values, sparse=True)

    def scan_relations(self, *, types: Iterable[RelType]) -> Iterator[tuple[str, str, str]]:
        """See :meth:`graph.store.GraphStore.scan_relations`."""
        wanted = sorted({as_type(t).value for t in types})
        sql = f"SELECT source, target, type FROM relations WHERE type IN ({_marks(wanted)})"  # noqa: S608
        yield from self._snapshot(sql, wanted)

    def _snapshot(self, sql: str, params: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """The rows of one query, read through a connection of their own.

        A consistent snapshot that holds no lock: a scan of millions of rows neither blocks writers
        nor is disturbed by them, and one left unfinished blocks nobody.
        """
        with self._locked():
            pass  # commits running behind are finished first, so the snapshot holds every write
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        try:
            yield from conn.execute(sql, params)
        finally:
            conn.close()

    def topic_use(self) -> list[TopicUse]:
        """See :meth:`graph.store.GraphStore.topic_use`: one aggregate over the relations' target index."""
        sql = """
            SELECT t.id, coalesce(sum(r.source LIKE 'knowledgeitem:%'), 0), count(r.id)
            FROM entities t LEFT JOIN relations r ON r.target = t.id AND r.type = 'ABOUT'
            WHERE t.kind = 'Topic' GROUP BY t.id
        """
        with self._locked():
            rows = self._conn.execute(sql).fetchall()
        return [TopicUse(topic_id=t, documents=d, items=n) for t, d, n in rows]

    def search_text(self, query: str, *, limit: int) -> list[TextHit]:
        """See :meth:`graph.store.GraphStore.search_text`: FTS5, ranked by BM25."""
        self.limits.check_page(limit)
        expression = fulltext.fts_query(query)
        if expression is None:
            return []
        sql = (
            "SELECT r.id, bm25(search) FROM search JOIN search_rows r ON r.row = search.rowid"
            " WHERE search MATCH ? ORDER BY bm25(search), r.id LIMIT ?"
        )
        with self._locked():
            rows = self._conn.execute(sql, (expression, limit)).fetchall()
        return [TextHit(id=i, score=round(-rank, 4)) for i, rank in rows]

    def unmet_demand(self) -> list[Demand]:
        """See :meth:`graph.store.GraphStore.unmet_demand`: one aggregate query over the indexes."""
        sql = """
            WITH asking AS (
                SELECT r.target AS topic, r.source AS item,
                       json_extract(i.props, '$.feedback_kind') = 'complaint' AS complaint
                FROM entities t
                JOIN relations r ON r.target = t.id AND r.type = 'ABOUT'
                JOIN entities i ON i.id = r.source
                WHERE t.kind = 'Topic'
                  AND (i.kind = 'Feedback'
                       OR (i.kind = 'Interaction' AND json_extract(i.props, '$.channel') = 'ticket'))
                  AND NOT EXISTS (
                      SELECT 1 FROM relations d JOIN entities k ON k.id = d.source
                      WHERE d.target = t.id AND d.type = 'ABOUT' AND k.kind = 'KnowledgeItem'
                  )
            )
            SELECT a.topic, t.name, count(*), coalesce(sum(a.complaint), 0),
                   (SELECT json_group_array(item) FROM (
                        SELECT DISTINCT item FROM asking b WHERE b.topic = a.topic ORDER BY item LIMIT 5))
            FROM asking a JOIN entities t ON t.id = a.topic
            GROUP BY a.topic
        """
        with self._locked():
            rows = self._conn.execute(sql).fetchall()
        return [
            Demand(
                topic_id=topic,
                name=name,
                asked=asked,
                complaints=complaints,
                examples=tuple(json.loads(examples)),
            )
            for topic, name, asked, complaints, examples in rows
        ]

    def evidence(self, subject_ids: Sequence[str] = (), *, item_ids: Sequence[str] = ()) -> EvidenceFacts:
        """See :meth:`graph.store.GraphStore.evidence`: indexed reads of the relations and fields."""
        with self._locked():
            return evidence_read.gather(self._linked, self._fields, self._work, subject_ids, item_ids)

    def known_about(self, subject_id: str) -> KnownAbout:
        """See :meth:`graph.store.GraphStore.known_about`: the kept rows, by the subject's key."""
        with self._locked(), self._snapshot_read():
            rows = self._conn.execute(
                "SELECT person, n, outside, dated, undated, doc_dated, doc_undated, latest FROM known"
                " WHERE subject = ?",
                (subject_id,),
            ).fetchall()
            sums = {r[0]: expertise.Known(*r[1:]) for r in rows}
            ahead: dict[str, list[expertise.Ahead]] = {}
            dated_ahead = self._conn.execute(
                "SELECT person, weight, t, authored FROM ahead WHERE subject = ? ORDER BY person, item",
                (subject_id,),
            )
            for person, weight, t, authored in dated_ahead:
                ahead.setdefault(person, []).append(expertise.Ahead(weight, t, bool(authored)))
            found = self._fields(sorted(sums), PERSON_FIELDS)
            work: dict[str, int] = {}
            for chunk in _chunks(sorted(sums)):
                sql = f"SELECT person, n FROM work_done WHERE person IN ({_marks(chunk)})"  # noqa: S608
                work.update(self._conn.execute(sql, chunk))
        return KnownAbout.model_construct(
            sums=sums,
            people={p: {**found[p][2], "name": found[p][1]} for p in sums if p in found},
            work={p: work.get(p, 0) for p in sums},
            ahead=ahead,
        )

    def referrals_below(self, customer_id: str, *, depth: int) -> Reach:
        """See :meth:`graph.store.GraphStore.referrals_below`: the walk, then only what the answer shows.

        :func:`graph.traversal.referral_walk`, then the customers' fields and each referral's confidence
        alone, in one state of the store; not whole entities and relationships with all their evidence:
        from a cold file cache every customer reached costs a page read or two fewer (a top referrer's
        tree reaches 1,600 and more).
        """
        with self._locked(), self._snapshot_read():
            seen, hops = traversal.referral_walk(self, customer_id, depth)
            customers = self._fields(seen, REFERRAL_FIELDS)
            confidence: dict[str, float] = {}
            for chunk in _chunks(sorted(hops)):
                marks = _marks(chunk)
                sql = f"{_CONFIDENCE} AND fact_id IN ({marks}) GROUP BY fact_id"
                confidence.update(self._conn.execute(sql, chunk))
        return Reach.model_construct(
            customers={i: {"name": name, **values} for i, (_, name, values) in customers.items()},
            referrals=tuple(
                (rid, hop.source, hop.target, float(confidence.get(rid, 1.0)))
                for rid, hop in sorted(hops.items())
            ),
        )

    def known_about_each(self, subject_ids: Sequence[str]) -> dict[str, KnownAbout]:
        """See :meth:`graph.store.GraphStore.known_about_each`: each by its key (local reads)."""
        return {s: self.known_about(s) for s in dict.fromkeys(subject_ids)}

    @contextmanager
    def _snapshot_read(self) -> Iterator[None]:
        """Reads that see one state of the store (another process's write lands before or after)."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            if self._conn.in_transaction:  # not when an error rolled it back (raised as it was)
                self._conn.execute("COMMIT")

    def strongest_each(
        self, asks: Mapping[str, Sequence[str]], *, strongest: int, at: float
    ) -> dict[str, EvidenceFacts]:
        """See :meth:`graph.store.GraphStore.strongest_each`: :meth:`evidence_between` each (local reads)."""
        return {
            subject: self.evidence_between(people, subject, strongest=strongest, at=at)
            for subject, people in asks.items()
        }

    def evidence_between(
        self, people: Sequence[str], subject_id: str, *, strongest: int | None = None, at: float = 0.0
    ) -> EvidenceFacts:
        """See :meth:`graph.store.GraphStore.evidence_between`: acts and items met in memory.

        Their acts and the subject's items are each one range of an index. ``strongest``: each
        colleague's strongest items and :data:`graph.expertise.STRONGEST_MARGIN` more, read in order
        from the kept pieces (:data:`_STRONGEST`), so that Python's exact ranking decides.
        """
        wanted = list(dict.fromkeys(people))
        acts: list[tuple[str, str, str]] = []
        with self._locked():
            found = self._fields(wanted if strongest is not None else [subject_id, *wanted], PERSON_FIELDS)
            if strongest is not None:
                cut = {**expertise.strongest_cut(strongest, at), "subject": subject_id}
                for person in wanted:
                    items = [r[0] for r in self._conn.execute(_STRONGEST, {**cut, "person": person})]
                    if items:
                        sql = _ACTS_ON.format(items=_marks(items))
                        acts.extend(self._conn.execute(sql, (*items, person, *items, person)))
            else:
                customer = found.get(subject_id, ("",))[0] == NodeKind.CUSTOMER.value
                statements = _ACTS_ABOUT + (_ACTS_WITH_CUSTOMER if customer else ())
                for chunk in _chunks(wanted):
                    named: dict[str, Any] = {f"p{n}": person for n, person in enumerate(chunk)}
                    marks = ", ".join(f":{key}" for key in named)
                    for statement in statements:
                        sql = statement.format(people=marks)
                        acts.extend(self._conn.execute(sql, {**named, "subject": subject_id}))
            items = sorted({item for _, _, item in acts})
            values = self._fields(items, ITEM_FIELDS)
        return EvidenceFacts.model_construct(
            about=tuple((item, subject_id) for item in items if item in values),
            acts=tuple(sorted(set(acts))),
            items={i: {k: v for k, v in values[i][2].items() if v is not None} for i in items if i in values},
            people={
                p: {**found[p][2], "name": found[p][1]}
                for p in wanted
                if p in found and found[p][0] == NodeKind.EMPLOYEE.value
            },
        )

    def _linked(
        self, nodes: Sequence[str], types: tuple[RelType, ...], outgoing: bool
    ) -> list[tuple[str, str, RelType]]:
        way = Direction.OUT if outgoing else Direction.IN
        return [
            (source, target, RelType(rtype)) if outgoing else (target, source, RelType(rtype))
            for _, rtype, source, target, _ in self._relations_near(nodes, set(types), way)
        ]

    def _work(self, people: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(people, 0)
        for chunk in _chunks(people):
            sql = (
                f"SELECT source, count(*) FROM relations WHERE source IN ({_marks(chunk)})"  # noqa: S608
                f" AND type IN ({_marks(WORK_TYPES)}) GROUP BY source"
            )
            counts.update(self._conn.execute(sql, (*chunk, *WORK_TYPES)))
        return counts

    def _fields(self, ids: Sequence[str], fields: Sequence[str]) -> dict[str, evidence_read.Found]:
        found: dict[str, evidence_read.Found] = {}
        for chunk in _chunks(ids):
            sql = f"SELECT id, kind, name, {_json_fields(fields)} FROM entities WHERE id IN ({_marks(chunk)})"  # noqa: S608
            for entity_id, kind, name, values in self._conn.execute(sql, chunk):
                found[entity_id] = (kind, name, _loaded(values, sparse=True))
        return found

    def get_checkpoint(self, job: str) -> str | None:
        """See :meth:`graph.store.GraphStore.get_checkpoint`."""
        with self._locked():
            row = self._conn.execute("SELECT position FROM checkpoints WHERE job = ?", (job,)).fetchone()
        return None if row is None else str(row[0])

    # -- suppression list and audit log ------------------------------------------------------------

    def suppress(self, hashes: Iterable[str]) -> None:
        """See :meth:`graph.store.GraphStore.suppress`."""
        at = utcnow().isoformat()
        with self._tx() as cur:
            cur.executemany("INSERT OR IGNORE INTO suppressed VALUES (?, ?)", [(h, at) for h in hashes])

    def suppressed(self) -> frozenset[str]:
        """See :meth:`graph.store.GraphStore.suppressed`."""
        with self._locked():
            return frozenset(r[0] for r in self._conn.execute("SELECT hash FROM suppressed"))

    @contextmanager
    def _side(self, name: str, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A side file beside the store (:data:`SIDE_FILES`): its writes never wait for an ingest's.

        ``write``: in a ``BEGIN IMMEDIATE`` transaction (one writer at a time, in every process).

        Raises:
            StoreUnavailable: the file cannot be opened or written (locked past its wait, read-only,
                full), or the store was closed.

        """
        schema, wait_ms = SIDE_FILES[name]
        with self._side_locks[name]:
            if self._sides_closed:
                raise StoreUnavailable("the store is closed")
            try:
                conn = self._sides.get(name)
                if conn is None:
                    conn = sqlite3.connect(self.home / name, isolation_level=None, check_same_thread=False)
                    pragmas = (
                        f"busy_timeout = {wait_ms}",
                        "journal_mode = WAL",
                        "synchronous = FULL",
                        "secure_delete = ON",  # a job's record masked by an erasure is overwritten
                    )
                    set_pragmas(conn, pragmas, wait_s=wait_ms / 1000)
                    conn.executescript(schema)
                    self._sides[name] = conn
                if not write:
                    yield conn
                    return
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                log.error("%s beside the store at %s does not answer: %s", name, self.path, exc)
                raise StoreUnavailable(
                    f"{name} beside the store does not answer; see the server log"
                ) from None

    def append_audit(self, record: dict[str, Any]) -> AuditEntry:
        """See :meth:`graph.store.GraphStore.append_audit` (``BEGIN IMMEDIATE``: one chain for all)."""
        text = canonical(record)
        with self._side(AUDIT_FILE, write=True) as conn:
            last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            digest = chain_hash(prev, text)
            conn.execute("INSERT INTO audit VALUES (?, ?, ?, ?)", (seq, text, prev, digest))
        return AuditEntry(seq=seq, record=record, prev=prev, hash=digest)

    def read_audit(self, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        """See :meth:`graph.store.GraphStore.read_audit`."""
        with self._side(AUDIT_FILE) as conn:
            rows = conn.execute(
                "SELECT seq, record, prev, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            )
            return [AuditEntry(seq=s, record=json.loads(r), prev=p, hash=h) for s, r, p, h in rows]

    # -- ingest jobs and request rates (graph.shared) -------------------------------------------------

    def save_job(self, record: dict[str, Any], *, heard: bool = True) -> None:
        """See :meth:`graph.store.GraphStore.save_job`: every process of this store runs on this machine."""
        kept = job_kept(record)
        with self._side(SHARED_FILE, write=True) as conn:
            if heard:
                kept["heard_at"] = time.time()
            elif row := conn.execute("SELECT record FROM jobs WHERE id = ?", (record["id"],)).fetchone():
                kept["heard_at"] = json.loads(row[0]).get("heard_at", 0.0)
            conn.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)",
                (record["id"], record["created_at"], json.dumps(kept, ensure_ascii=False)),
            )
            conn.execute(
                "DELETE FROM jobs WHERE created_at < ? OR id IN"
                " (SELECT id FROM jobs ORDER BY created_at DESC, id LIMIT -1 OFFSET ?)",
                (jobs_cutoff(), JOBS_KEPT),
            )

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """See :meth:`graph.store.GraphStore.get_job`."""
        with self._side(SHARED_FILE) as conn:
            row = conn.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row[0])

    def jobs(self) -> list[dict[str, Any]]:
        """See :meth:`graph.store.GraphStore.jobs`."""
        with self._side(SHARED_FILE) as conn:
            rows = conn.execute("SELECT record FROM jobs ORDER BY created_at DESC, id").fetchall()
        return [_job(row[0]) for row in rows]

    def take_requests(self, bucket: str, want: int, per_minute: int) -> Taken:
        """See :meth:`graph.store.GraphStore.take_requests`: the bucket's row, in one transaction."""
        with self._side(SHARED_FILE, write=True) as conn:
            now = time.time()  # every process of this store runs on this machine: one clock
            row = conn.execute("SELECT tokens, at FROM rates WHERE key = ?", (bucket,)).fetchone()
            taken, tokens = take(row, want, per_minute, now)
            conn.execute("INSERT OR REPLACE INTO rates VALUES (?, ?, ?)", (bucket, tokens, now))
            if now - self._pruned_at > PRUNE_EVERY_S:  # full again: as good as none
                conn.execute("DELETE FROM rates WHERE at < ?", (now - REFILL_S,))
                self._pruned_at = now
        return taken

    def stats(self) -> Stats:
        """See :meth:`graph.store.GraphStore.stats`."""
        with self._locked():
            entities = dict(self._conn.execute("SELECT kind, count(*) FROM entities GROUP BY kind"))
            relations = dict(self._conn.execute("SELECT type, count(*) FROM relations GROUP BY type"))
        return Stats(
            backend=self.backend, entities=entities, relations=relations, graph_version=self.graph_version()
        )

    def graph_version(self) -> int:
        """See :meth:`graph.store.GraphStore.graph_version`."""
        with self._locked():
            return int(self._meta(self._conn.cursor(), "graph_version"))

    def ping(self) -> None:
        """See :meth:`graph.store.GraphStore.ping`."""
        try:
            with self._locked():
                self._conn.execute("SELECT count(*) FROM ckn_meta").fetchone()
        except sqlite3.Error as exc:
            log.error("the embedded store at %s does not answer: %s", self.path, exc)
            raise StoreUnavailable("the embedded store does not answer; see the server log") from None

    def close(self) -> None:
        """See :meth:`graph.store.GraphStore.close`."""
        with self._locked():
            self._conn.close()
            self._view, self._view_generation = None, self._view_generation + 1
        self._sides_closed = True
        for name, lock in self._side_locks.items():
            with lock:
                if (conn := self._sides.pop(name, None)) is not None:
                    conn.close()
        self._behind.close()

    # -- the traversal view (graph.adjacency) ----------------------------------------------------------------

    def _view_when_built(self) -> Adjacency | None:
        """The traversal view if it is built (brought up to date), else None, with a build started.

        The view is built in the background through a connection of its own (seconds at millions of
        relations); until then traversals read the relations through the indexes.
        """
        with self._locked():
            if self._view is not None:
                version = self.graph_version()
                if self._view_version > version:  # it holds a write that was rolled back
                    self._view = None
                elif self._view_version < version:
                    self._catch_up(self._conn)
                if self._view is not None:
                    return self._view
            if self._view_building is None or not self._view_building.is_alive():
                self._view_building = threading.Thread(
                    target=self._build_view_behind, name="ckn-traversal-view", daemon=True
                )
                self._view_building.start()
            return None

    def prepare(self) -> None:
        """See :meth:`graph.store.GraphStore.prepare`: the traversal view."""
        self._view_when_built()

    def warming(self) -> list[str]:
        """See :meth:`graph.store.GraphStore.warming`."""
        building = self._view_building is not None and self._view_building.is_alive()
        return ["traversal view"] if building else []

    def _build_view_behind(self) -> None:
        generation = self._view_generation
        try:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            try:
                conn.execute("BEGIN")  # one snapshot: the version and the rows agree
                version = int(self._meta(conn.cursor(), "graph_version"))
                with paused_gc():
                    view = self._build_view(conn)
                conn.execute("COMMIT")
            finally:
                conn.close()
        except sqlite3.Error:
            log.exception("building the traversal view failed; traversals read the indexes")
            return
        with self._locked():
            if self._view_generation != generation:
                return  # closed, or something was deleted meanwhile: what it read may be gone
            if self._view is None or self._view_version < version:
                self._view, self._view_version = view, version

    def _catch_up(self, conn: sqlite3.Connection | sqlite3.Cursor) -> None:
        """Apply what the change log says was written since the view's version (or drop the view)."""
        changes = self._changes(conn, self._view_version)
        if self._view is None or changes is None or changes.deleted:
            self._view = None
            return
        self._view.add(
            changes.entities, ((h.relation_id, h.type, h.source, h.target) for h in changes.relations)
        )
        self._view_version = changes.version

    @staticmethod
    def _build_view(conn: sqlite3.Connection) -> Adjacency:
        return Adjacency(
            (r[0] for r in conn.execute("SELECT id FROM entities")),
            conn.execute("SELECT id, type, source, target FROM relations"),
        )

    def _apply_to_view(self, cur: sqlite3.Cursor, plan: WritePlan, before: int, after: int) -> None:
        """Called in the write's transaction (the lock held)."""
        if self._view is not None and self._view_version < before:
            self._catch_up(cur)  # someone else wrote in between: the log has theirs and this write
            return
        deleted = plan.delete_entities or plan.delete_relations
        if self._view is None or self._view_version != before or deleted:
            self._view = None  # deletions: rebuild on next read
            return
        stored = {fact_id for fact, fact_id in plan.restated if fact == "r"}  # already in the view
        self._view.add(
            (e.id for e in plan.entities),
            ((r.id, r.type, r.source, r.target) for r in plan.relations if r.id not in stored),
        )
        self._view_version = after
