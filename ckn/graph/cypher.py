"""Every Cypher statement ckn sends, as builder functions (unit-tested without a server).

Values always travel as ``$parameters``. Labels and relationship types cannot be parameters in Cypher
5, so they are spliced in only after :func:`label` / :func:`rel_type` have checked them against the
enums *and* against a strict identifier pattern: a hostile string never reaches the server.

Layout in Neo4j: every entity is ``(:Entity:<Kind> {id, name, _kind, ...props})``; every relation is
``[:<TYPE> {id, key, valid_from, valid_to, ...props}]``; evidence is kept as ``_prov`` (JSON strings)
with ``_prov_sources`` beside it for deleting by source; ``_updated_at`` is when ckn last wrote it.
"""

from __future__ import annotations

import re

from ckn.graph.errors import InvalidLabel
from ckn.graph.fulltext import SEARCH_PROPERTY, SEARCHED
from ckn.graph.model import NodeKind, RelType, as_kind, as_type

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z_]{0,63}")

ENTITY = "Entity"
SEARCH_INDEX = "ckn_search"
META = "CknMeta"
CHECKPOINT = "CknCheckpoint"
AUDIT = "CknAudit"
SUPPRESSED = "CknSuppressed"
KNOWN = "CknKnown"
"""Kept evidence sums of a colleague on a subject (:mod:`graph.expertise`): not entities of the graph."""
AHEAD = "CknAhead"
"""A piece of evidence dated after it was written (:class:`graph.expertise.Ahead`)."""
PIECE = "CknPiece"
"""A colleague's piece of evidence on a subject, keyed in the order of its weight
(:func:`graph.expertise.piece_row`), so that the strongest are read from an index."""
CHANGE = "CknChange"
NAME = "CknName"
JOB = "CknJob"
RATE = "CknRate"
NAME_INDEX = "ckn_names"
"""What one graph version wrote (:mod:`graph.changelog`)."""


def label(kind: NodeKind | str) -> str:
    """A node label, checked against :class:`NodeKind` and the identifier pattern."""
    value = as_kind(kind).value
    if not _IDENTIFIER.fullmatch(value):  # defence in depth: the enum could be edited carelessly
        raise InvalidLabel(f"node kind {value!r} is not a safe identifier")
    return value


def rel_type(value: RelType | str) -> str:
    """A relationship type, checked against :class:`RelType` and the identifier pattern."""
    checked = as_type(value).value
    if not _IDENTIFIER.fullmatch(checked):
        raise InvalidLabel(f"relationship type {checked!r} is not a safe identifier")
    return checked


CHECKED_TYPES: dict[RelType, str] = {t: rel_type(t) for t in RelType}
"""Every relationship type, checked once: what a write's rows give a dynamic type (``$(row.type)``)."""


# -- schema migrations ---------------------------------------------------------------------------


def _relation_constraints() -> list[str]:
    return [
        f"CREATE CONSTRAINT ckn_rel_{rel_type(t).lower()} IF NOT EXISTS "
        f"FOR ()-[r:{rel_type(t)}]-() REQUIRE r.id IS UNIQUE"
        for t in RelType
    ]


MIGRATIONS: dict[int, list[str]] = {
    1: [
        f"CREATE CONSTRAINT ckn_entity_id IF NOT EXISTS FOR (n:{ENTITY}) REQUIRE n.id IS UNIQUE",
        f"CREATE INDEX ckn_entity_kind IF NOT EXISTS FOR (n:{ENTITY}) ON (n._kind)",
        f"CREATE CONSTRAINT ckn_meta_key IF NOT EXISTS FOR (m:{META}) REQUIRE m.key IS UNIQUE",
        f"CREATE CONSTRAINT ckn_checkpoint_job IF NOT EXISTS FOR (c:{CHECKPOINT}) REQUIRE c.job IS UNIQUE",
        *_relation_constraints(),
    ],
    2: [
        f"CREATE CONSTRAINT ckn_audit_seq IF NOT EXISTS FOR (a:{AUDIT}) REQUIRE a.seq IS UNIQUE",
        f"CREATE CONSTRAINT ckn_suppressed_hash IF NOT EXISTS FOR (s:{SUPPRESSED}) REQUIRE s.hash IS UNIQUE",
    ],
    # full-text search (graph.fulltext); the texts already stored get their search form in Python
    3: [
        f"CREATE FULLTEXT INDEX {SEARCH_INDEX} IF NOT EXISTS"
        f" FOR (n:{'|'.join(label(k) for k in SEARCHED)}) ON EACH [n.{SEARCH_PROPERTY}]"
        " OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}",
    ],
    # kept evidence sums (graph.expertise), counted from the stored items in Python
    4: [
        f"CREATE CONSTRAINT ckn_known_pair IF NOT EXISTS FOR (k:{KNOWN})"
        " REQUIRE (k.subject, k.person) IS UNIQUE",
        f"CREATE INDEX ckn_known_subject IF NOT EXISTS FOR (k:{KNOWN}) ON (k.subject)",
        f"CREATE INDEX ckn_known_person IF NOT EXISTS FOR (k:{KNOWN}) ON (k.person)",
        f"CREATE CONSTRAINT ckn_ahead_piece IF NOT EXISTS FOR (a:{AHEAD})"
        " REQUIRE (a.subject, a.person, a.item) IS UNIQUE",
        f"CREATE INDEX ckn_ahead_subject IF NOT EXISTS FOR (a:{AHEAD}) ON (a.subject)",
        f"CREATE INDEX ckn_ahead_person IF NOT EXISTS FOR (a:{AHEAD}) ON (a.person)",
        f"CREATE INDEX ckn_ahead_item IF NOT EXISTS FOR (a:{AHEAD}) ON (a.item)",
    ],
    # the change log (graph.changelog): starts empty, so whoever follows builds once first
    5: [f"CREATE CONSTRAINT ckn_change_version IF NOT EXISTS FOR (c:{CHANGE}) REQUIRE c.version IS UNIQUE"],
    # each item's date as a number (_when), set in Python on the items stored before (graph.expertise)
    6: [],
    # names looked up in the database (graph.names): written in Python for the entities stored before
    7: [
        f"CREATE INDEX ckn_name_id IF NOT EXISTS FOR (n:{NAME}) ON (n.id)",
        f"CREATE INDEX ckn_name_form IF NOT EXISTS FOR (n:{NAME}) ON (n.form)",
        f"CREATE INDEX ckn_name_key IF NOT EXISTS FOR (n:{NAME}) ON (n.key)",
        f"CREATE INDEX ckn_name_value IF NOT EXISTS FOR (n:{NAME}) ON (n.value)",
        f"CREATE FULLTEXT INDEX {NAME_INDEX} IF NOT EXISTS FOR (n:{NAME}) ON EACH [n.form]"
        " OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard-no-stop-words'}}",
    ],
    # each piece of evidence kept in the order of its weight (graph.expertise.piece_row), counted in Python
    8: [
        f"CREATE CONSTRAINT ckn_piece IF NOT EXISTS FOR (c:{PIECE})"
        " REQUIRE (c.subject, c.person, c.item) IS UNIQUE",
        f"CREATE INDEX ckn_piece_order IF NOT EXISTS FOR (c:{PIECE})"
        " ON (c.subject, c.person, c.dated, c.key)",
        f"CREATE INDEX ckn_piece_person IF NOT EXISTS FOR (c:{PIECE}) ON (c.person)",
        f"CREATE INDEX ckn_piece_item IF NOT EXISTS FOR (c:{PIECE}) ON (c.item)",
    ],
    # what the API processes share (graph.shared): ingest jobs and request rates
    9: [
        f"CREATE CONSTRAINT ckn_job_id IF NOT EXISTS FOR (j:{JOB}) REQUIRE j.id IS UNIQUE",
        f"CREATE INDEX ckn_job_created IF NOT EXISTS FOR (j:{JOB}) ON (j.created_at)",
        f"CREATE CONSTRAINT ckn_rate_key IF NOT EXISTS FOR (r:{RATE}) REQUIRE r.key IS UNIQUE",
        f"CREATE INDEX ckn_rate_at IF NOT EXISTS FOR (r:{RATE}) ON (r.at)",
    ],
    # pieces of one weight read smallest item first (a day's sync gives a colleague hundreds of them)
    10: [
        f"CREATE INDEX ckn_piece_ranked IF NOT EXISTS FOR (c:{PIECE})"
        " ON (c.subject, c.person, c.dated, c.key, c.item)",
        "DROP INDEX ckn_piece_order IF EXISTS",
    ],
}
"""Schema version -> idempotent statements that bring the database to it. Every relationship type
needs a uniqueness constraint on ``id`` (a unit test checks): add a migration when you add a type."""

SCHEMA_VERSION = max(MIGRATIONS)
AWAIT_INDEXES = "CALL db.awaitIndexes($s)"
"""Wait (up to ``$s`` seconds) until every index is online: before a migration drops one it replaced."""

GET_SCHEMA_VERSION = f"OPTIONAL MATCH (m:{META} {{key: 'schema'}}) RETURN m.version AS version"
SET_SCHEMA_VERSION = f"MERGE (m:{META} {{key: 'schema'}}) SET m.version = $version"
GET_GRAPH_VERSION = f"OPTIONAL MATCH (m:{META} {{key: 'graph'}}) RETURN coalesce(m.version, 0) AS version"
BUMP_GRAPH_VERSION = (
    f"MERGE (m:{META} {{key: 'graph'}}) SET m.version = coalesce(m.version, 0) + 1"
    " RETURN m.version AS version"
)
LOG_CHANGE = f"""
CREATE (:{CHANGE} {{version: $version, entities: $entities, relations: $relations, deleted: $deleted}})
WITH 1 AS logged
MATCH (c:{CHANGE}) WHERE c.version < $oldest
DELETE c
"""
"""A graph version's entry in the change log, and the entries it no longer keeps gone."""
CHANGES_AFTER = f"""
OPTIONAL MATCH (m:{META} {{key: 'graph'}})
RETURN coalesce(m.version, 0) AS now, COLLECT {{
  MATCH (c:{CHANGE}) WHERE c.version > $since
  RETURN [c.version, c.entities, c.relations, c.deleted]
}} AS entries
"""

# -- writes --------------------------------------------------------------------------------------

LOCK_ENTITIES = f"""
UNWIND $ids AS id
MERGE (n:{ENTITY} {{id: id}})
ON CREATE SET n._pending = true
ON MATCH SET n._kind = n._kind
RETURN n.id AS id, elementId(n) AS node, n._pending AS pending, properties(n) AS props
"""
"""Create-or-lock the entities of a batch; a node created here is a placeholder (``_pending``) until
the batch writes it, so two writers of one entity queue behind each other instead of losing updates.

Setting a property to its own value takes the node's write lock and changes nothing, so there is
nothing to undo before the commit (removing a property the node does not have takes no lock).

Both lock statements return each node's ``elementId``: the batch's writes find the nodes they locked by
it, a direct read of the node, instead of seeking the id index again for every row."""

LOCK_STORED = f"""
UNWIND $ids AS id
MATCH (n:{ENTITY} {{id: id}})
WHERE n._pending IS NULL
SET n._kind = n._kind
RETURN n.id AS id, elementId(n) AS node, n._kind AS kind
"""
"""Lock stored entities (see :data:`LOCK_ENTITIES`) and read their kinds: the endpoints of a batch's
relations, so none is deleted before the batch commits; entities to delete, so no relation to them
is committed unseen."""


_LOCKED_ENDS = """
MATCH (a) WHERE elementId(a) = row.source
MATCH (b) WHERE elementId(b) = row.target"""
"""A relation row's endpoints, by the element ids the batch's lock statements returned."""


def write_entities(kind: NodeKind | str) -> str:
    """Replace the properties of locked entities of one kind and label them.

    ``$rows``: ``{node, props}``, ``node`` the element id a lock statement returned.
    """
    return f"""
UNWIND $rows AS row
MATCH (n) WHERE elementId(n) = row.node
SET n = row.props, n:{label(kind)}
"""


def write_relations(rtype: RelType | str) -> str:
    """Write stored relations of one type, merged by id.

    ``$rows``: ``{id, source, target, props}``, ``source`` and ``target`` the element ids of locked
    endpoints.
    """
    return f"""
UNWIND $rows AS row{_LOCKED_ENDS}
MERGE (a)-[r:{rel_type(rtype)} {{id: row.id}}]->(b)
SET r = row.props
"""


CREATE_RELATIONS = f"""
UNWIND $rows AS row{_LOCKED_ENDS}
CREATE (a)-[r:$(row.type)]->(b)
SET r = row.props
"""
"""Create relations of any types (``$rows``: ``{type, source, target, props}``, the ends as in
:func:`write_relations`) none of which is stored (the batch read them under its endpoint locks), in
one statement, without looking for them first; the id is one of the properties, and each type's
uniqueness constraint still guards it. ``type`` is a :class:`RelType` value from
:data:`CHECKED_TYPES`: a dynamic type (Neo4j 5.26) is a value, never spliced into the statement's
text."""


def relations_by_id(rtype: RelType | str) -> str:
    """Relations of one type by id (``$ids``), through the type's uniqueness index."""
    return f"""
UNWIND $ids AS id
MATCH (a:{ENTITY})-[r:{rel_type(rtype)} {{id: id}}]->(b:{ENTITY})
RETURN a.id AS source, b.id AS target, type(r) AS type, properties(r) AS props
"""


def relations_by_ids(rtypes: list[str]) -> str:
    """Relations of several types by id (``$ids0``, ``$ids1``, ... one list a type), in one query."""
    return "\nUNION ALL\n".join(
        f"""
UNWIND $ids{n} AS id
MATCH (a:{ENTITY})-[r:{rel_type(rtype)} {{id: id}}]->(b:{ENTITY})
RETURN a.id AS source, b.id AS target, type(r) AS type, properties(r) AS props
"""
        for n, rtype in enumerate(rtypes)
    )


def delete_relations(rtype: RelType | str) -> str:
    """Delete relations of one type by id (``$ids``)."""
    return f"""
UNWIND $ids AS id
MATCH ()-[r:{rel_type(rtype)} {{id: id}}]->()
DELETE r
"""


TAKE_WRITER_LOCK = f"""
MERGE (m:{META} {{key: 'writer'}})
SET m.key = m.key
WITH m, m.holder IS NULL OR m.holder = $holder OR m.expires_at < timestamp() AS taken
SET m.holder = CASE WHEN taken THEN $holder ELSE m.holder END,
    m.expires_at = CASE WHEN taken THEN timestamp() + $lease_ms ELSE m.expires_at END
RETURN taken, m.holder AS holder
"""
"""Take the store's write lock if it is free or its lease ran out (the server's clock).

The node is locked (``SET m.key = m.key``) before its holder is read: two writers asking at once are
served one after the other, the second reading what the first wrote, never both taking it."""

RENEW_WRITER_LOCK = f"""
MATCH (m:{META} {{key: 'writer'}}) WHERE m.holder = $holder
SET m.expires_at = timestamp() + $lease_ms
RETURN m.holder AS holder
"""

RELEASE_WRITER_LOCK = f"""
MATCH (m:{META} {{key: 'writer'}}) WHERE m.holder = $holder
SET m.holder = null, m.expires_at = null
"""

SET_CHECKPOINT = f"MERGE (c:{CHECKPOINT} {{job: $job}}) SET c.position = $position, c.updated_at = $at"
GET_CHECKPOINT = f"MATCH (c:{CHECKPOINT} {{job: $job}}) RETURN c.position AS position"

DELETE_ENTITIES = f"""
UNWIND $ids AS id
MATCH (n:{ENTITY} {{id: id}})
DETACH DELETE n
"""

RELATIONS_TOUCHING = f"""
UNWIND $ids AS id
MATCH (n:{ENTITY} {{id: id}})-[r]-()
RETURN DISTINCT r.id AS id
"""

FACTS_OF_SOURCE_ENTITIES = f"""
MATCH (n:{ENTITY})
WHERE n.id IN $sources OR any(s IN n._prov_sources WHERE s IN $sources)
SET n._kind = n._kind
RETURN properties(n) AS props
"""
"""The entities a source supports, locked (see :data:`LOCK_ENTITIES`) and then read, so evidence a
concurrent batch adds to them is seen before they are trimmed or deleted."""

RENAME_ENTITY = f"MATCH (n:{ENTITY} {{id: $old}}) SET n.id = $new"
"""An entity under a new id (its properties and evidence are then written by the caller)."""
RENAME_CHECKPOINTS = f"""
MATCH (c:{CHECKPOINT}) WHERE c.job ENDS WITH ':' + $old
WITH c, left(c.job, size(c.job) - size($old)) + $new AS job
OPTIONAL MATCH (d:{CHECKPOINT} {{job: job}})
FOREACH (_ IN CASE WHEN d IS NULL THEN [1] ELSE [] END | SET c.job = job)
FOREACH (_ IN CASE WHEN d IS NULL THEN [] ELSE [1] END | DELETE c)
"""
"""A source's checkpoints (jobs named ``<what>:<source id>``) under its new id; a checkpoint the new
id already has (an ingest since) is the one kept."""

FACTS_OF_SOURCE_RELATIONS = f"""
MATCH (a:{ENTITY})-[r]->(b:{ENTITY})
WHERE any(s IN r._prov_sources WHERE s IN $sources)
SET r.key = r.key
RETURN a.id AS source, b.id AS target, type(r) AS type, properties(r) AS props
"""
"""The relations a source supports, locked and then read, as :data:`FACTS_OF_SOURCE_ENTITIES`."""

# -- reads ---------------------------------------------------------------------------------------

GET_ENTITIES = f"""
UNWIND $ids AS id
MATCH (n:{ENTITY} {{id: id}})
RETURN collect(n {{.*, {SEARCH_PROPERTY}: null}}) AS found
"""
"""Entities by id, in one record, without their search form (a second copy of their text)."""


def list_entities(kind: NodeKind | str | None) -> str:
    """A page of entities (of one kind) in id order after ``$after``, ``$limit`` long."""
    node = f"n:{ENTITY}:{label(kind)}" if kind is not None else f"n:{ENTITY}"
    return f"""
MATCH ({node})
WHERE n.id > $after
RETURN properties(n) AS props
ORDER BY n.id
LIMIT $limit
"""


def relations_of(direction: str) -> str:
    """Relations touching ``$id`` (``$types`` or all), ``out``, ``in`` or ``both`` ways, in id order."""
    pattern = {
        "out": "(n)-[r]->(m)",
        "in": "(n)<-[r]-(m)",
        "both": "(n)-[r]-(m)",
    }[direction]
    return f"""
MATCH (n:{ENTITY} {{id: $id}})
MATCH {pattern}
WHERE $types IS NULL OR type(r) IN $types
RETURN DISTINCT startNode(r).id AS source, endNode(r).id AS target, type(r) AS type,
       properties(r) AS props
ORDER BY props.id
LIMIT $limit
"""


def expand(direction: str) -> str:
    """One traversal step from ``$ids`` (``$types`` or all; towards ``$towards`` or anywhere)."""
    pattern = {"out": "(n)-[r]->(m)", "in": "(n)<-[r]-(m)", "both": "(n)-[r]-(m)"}[direction]
    return f"""
UNWIND $ids AS id
MATCH (n:{ENTITY} {{id: id}})
MATCH {pattern}
WHERE ($types IS NULL OR type(r) IN $types) AND ($towards IS NULL OR m.id IN $towards)
RETURN DISTINCT r.id AS id, type(r) AS type, startNode(r).id AS source, endNode(r).id AS target
"""


def degree(direction: str, types: list[str] | None) -> str:
    """How many relationships one step from ``$ids`` crosses, counted per entity.

    The types are written into the pattern, so Neo4j answers from its degree counts.
    """
    typed = ":" + "|".join(rel_type(t) for t in types) if types else ""
    pattern = {"out": f"(n)-[{typed}]->()", "in": f"(n)<-[{typed}]-()", "both": f"(n)-[{typed}]-()"}[
        direction
    ]
    return f"""
UNWIND $ids AS id
MATCH (n:{ENTITY} {{id: id}})
RETURN sum(COUNT {{ {pattern} }}) AS degree
"""


PROJECT_NODES = f"""
MATCH (n:{ENTITY})
WHERE $kinds IS NULL OR n._kind IN $kinds
RETURN properties(n) AS props
"""

PROJECT_RELATIONS = f"""
MATCH (a:{ENTITY})-[r]->(b:{ENTITY})
WHERE ($types IS NULL OR type(r) IN $types)
  AND ($kinds IS NULL OR (a._kind IN $kinds AND b._kind IN $kinds))
RETURN a.id AS source, b.id AS target, type(r) AS type, properties(r) AS props
"""

PROJECT_NODE_FIELDS = f"""
MATCH (n:{ENTITY})
WHERE $kinds IS NULL OR n._kind IN $kinds
RETURN n.id AS id, n._kind AS kind, n.name AS name, [k IN $fields | n[k]] AS values
"""

PROJECT_RELATION_FIELDS = f"""
MATCH (a:{ENTITY})-[r]->(b:{ENTITY})
WHERE ($types IS NULL OR type(r) IN $types)
  AND ($kinds IS NULL OR (a._kind IN $kinds AND b._kind IN $kinds))
RETURN r.id AS id, a.id AS source, b.id AS target, type(r) AS type, r.valid_from AS valid_from,
       r.valid_to AS valid_to
"""

EVIDENCE_ITEMS = f"""
CALL () {{
  UNWIND $subjects AS sid
  MATCH (s:{ENTITY} {{id: sid}})
  CALL (s) {{
    MATCH (x:{ENTITY})-[:ABOUT|DELIVERED_TO]->(s) RETURN x
    UNION
    MATCH (s:Customer)-[:PARTICIPATED_IN|SUBMITTED]->(x:{ENTITY}) RETURN x
    UNION
    MATCH (s)<-[:OWNS_ACCOUNT]-(:Employee) RETURN s AS x
  }}
  RETURN x, s
  UNION
  UNWIND $items AS iid
  MATCH (x:{ENTITY} {{id: iid}})
  CALL (x) {{
    MATCH (x)-[:ABOUT|DELIVERED_TO]->(s:{ENTITY}) RETURN s
    UNION
    MATCH (s:Customer)-[:PARTICIPATED_IN|SUBMITTED]->(x) RETURN s
    UNION
    MATCH (x)<-[:OWNS_ACCOUNT]-(:Employee) RETURN x AS s
  }}
  RETURN x, s
  UNION
  UNWIND $items AS iid
  MATCH (x:{ENTITY} {{id: iid}})
  RETURN x, null AS s
}}
WITH x, collect(DISTINCT s.id) AS subjects
RETURN collect([
  x.id, subjects,
  [(p:Employee)-[r:AUTHORED|RESOLVED|PARTICIPATED_IN|OWNS_ACCOUNT]->(x) | [p.id, type(r)]]
  + [(x)-[r:ESCALATED_TO]->(p:Employee) | [p.id, type(r)]],
  [k IN $fields | x[k]]
]) AS items
"""
"""Every item about ``$subjects`` or among ``$items``: the subjects it is about, who did what with it,
its ``$fields`` (see :meth:`graph.store.GraphStore.evidence`), in one record (thousands of records
cost the driver more than one list of them)."""

TOPIC_USE = f"""
MATCH (t:{label(NodeKind.TOPIC)})
OPTIONAL MATCH (t)<-[:ABOUT]-(i:{ENTITY})
RETURN t.id AS topic, count(CASE WHEN i:{label(NodeKind.KNOWLEDGE_ITEM)} THEN 1 END) AS documents,
       count(i) AS items
"""
"""Every topic with the knowledge items and all items about it."""

SEARCH_TEXT = f"""
CALL db.index.fulltext.queryNodes('{SEARCH_INDEX}', $query, {{limit: $limit}}) YIELD node, score
RETURN node.id AS id, score ORDER BY score DESC, id
"""
"""Documents, interactions and feedback whose search form matches a Lucene query, best first."""

UNSEARCHABLE = f"""
MATCH (n:{ENTITY}) WHERE n._kind IN $kinds AND n.{SEARCH_PROPERTY} IS NULL
RETURN n.id AS id, n._kind AS kind, n.name AS name, properties(n) AS props LIMIT $limit
"""
"""Searched items without a search form yet (stored before full-text search existed)."""

SET_SEARCH_FORM = f"""
UNWIND $rows AS row MATCH (n:{ENTITY} {{id: row.id}}) SET n.{SEARCH_PROPERTY} = row.form
"""

UNMET_DEMAND = f"""
MATCH (t:Topic)
WHERE NOT EXISTS {{ MATCH (t)<-[:ABOUT]-(:KnowledgeItem) }}
CALL (t) {{
  MATCH (t)<-[:ABOUT]-(x:{ENTITY})
  WHERE x:Feedback OR (x:Interaction AND x.channel = 'ticket')
  RETURN count(*) AS asked, sum(CASE WHEN x.feedback_kind = 'complaint' THEN 1 ELSE 0 END) AS complaints
}}
CALL (t) {{
  MATCH (t)<-[:ABOUT]-(x:{ENTITY})
  WHERE x:Feedback OR (x:Interaction AND x.channel = 'ticket')
  WITH DISTINCT x.id AS example ORDER BY example LIMIT 5
  RETURN collect(example) AS examples
}}
WITH t, asked, complaints, examples WHERE asked > 0
RETURN t.id AS topic, t.name AS name, asked, complaints, examples
"""

RELATION_ENDS = f"""
UNWIND $ids AS id
MATCH (n:{ENTITY} {{id: id}})-[r]-(m:{ENTITY})
WITH DISTINCT r, n, m
RETURN type(r) AS type, startNode(r).id AS source, endNode(r).id AS target, n._kind AS kind
"""
"""Every relation touching some entities, with its type and ends (what deleting them takes away)."""

GET_KINDS = f"UNWIND $ids AS id MATCH (n:{ENTITY} {{id: id}}) RETURN n.id AS id, n._kind AS kind"

ITEMS_AFTER = f"""
MATCH (n:{ENTITY}) WHERE n.id > $after AND n._kind IN $kinds
RETURN n.id AS id ORDER BY n.id LIMIT $limit
"""
"""The next items in id order (counting the kept sums of a database, a page at a time)."""

KEEP_KNOWN = f"""
UNWIND $rows AS row
MERGE (k:{KNOWN} {{subject: row.subject, person: row.person}})
ON CREATE SET k.n = 0, k.outside = 0, k.dated = 0.0, k.undated = 0.0, k.doc_dated = 0.0, k.doc_undated = 0.0
SET k.n = k.n + row.n, k.outside = k.outside + row.outside, k.dated = k.dated + row.dated,
    k.undated = k.undated + row.undated, k.doc_dated = k.doc_dated + row.doc_dated,
    k.doc_undated = k.doc_undated + row.doc_undated,
    k.latest = CASE WHEN k.latest IS NULL OR row.latest > k.latest THEN coalesce(row.latest, k.latest)
                    ELSE k.latest END
WITH k WHERE k.n <= 0
DELETE k
"""
"""Add a change to the kept sums (:mod:`graph.expertise`); a row with nothing left goes."""

FORGET_KNOWN = f"""
CALL () {{
  MATCH (k:{KNOWN} {{person: $id}}) RETURN k UNION MATCH (k:{KNOWN} {{subject: $id}}) RETURN k
  UNION MATCH (k:{AHEAD} {{person: $id}}) RETURN k UNION MATCH (k:{AHEAD} {{subject: $id}}) RETURN k
  UNION MATCH (k:{AHEAD} {{item: $id}}) RETURN k
  UNION MATCH (k:{PIECE} {{person: $id}}) RETURN k UNION MATCH (k:{PIECE} {{item: $id}}) RETURN k
  UNION MATCH (k:{PIECE}) WHERE k.subject = $id AND k.person IS NOT NULL AND k.item IS NOT NULL RETURN k
}}
DELETE k
"""

HAS_KEPT_SUMS = f"MATCH (k) WHERE k:{KNOWN} OR k:{AHEAD} RETURN 1 AS found LIMIT 1"
HAS_PIECES = f"MATCH (k:{PIECE}) RETURN 1 AS found LIMIT 1"
DROP_PIECES = f"MATCH (k:{PIECE}) WITH k LIMIT $limit DELETE k"
DROP_KEPT_SUMS = f"MATCH (k) WHERE k:{KNOWN} OR k:{AHEAD} WITH k LIMIT $limit DELETE k"

KEPT_AHEAD = f"UNWIND $items AS item MATCH (a:{AHEAD} {{item: item}}) RETURN DISTINCT a.item AS item"
"""Which of some items have pieces kept apart as dated ahead."""


def _replace_pieces(label: str, fields: list[str]) -> str:
    """Delete the rows ``$gone`` (``[person, subject, item]``), then merge ``$rows`` with ``fields``."""
    values = ", ".join(f"a.{f} = row.{f}" for f in fields)
    return f"""
CALL () {{
  UNWIND $gone AS g
  MATCH (a:{label} {{subject: g[1], person: g[0], item: g[2]}})
  DELETE a
}}
CALL () {{
  UNWIND $rows AS row
  MERGE (a:{label} {{subject: row.subject, person: row.person, item: row.item}})
  SET {values}
}}
"""


KEEP_AHEAD = _replace_pieces(AHEAD, ["weight", "t", "authored"])
"""Replace the pieces dated ahead of the items a write touched."""
KEEP_PIECES = _replace_pieces(PIECE, ["dated", "key", "t"])
"""Replace the rows of the pieces of evidence a write changed (:func:`graph.expertise.piece_row`)."""

WORK_COUNT = "COUNT { (p)-[:AUTHORED|RESOLVED|PARTICIPATED_IN]->() }"
"""A colleague ``p``'s relationships of their own work (:data:`graph.store.WORK_TYPES`)."""

KNOWN_ABOUT = f"""
UNWIND $subjects AS subject
CALL (subject) {{
  MATCH (k:{KNOWN} {{subject: subject}})
  RETURN [collect(k.person), collect(k.n), collect(k.outside), collect(k.dated), collect(k.undated),
          collect(k.doc_dated), collect(k.doc_undated), collect(coalesce(k.latest, $no_date))] AS sums
}}
CALL (subject) {{
  MATCH (a:{AHEAD} {{subject: subject}})
  WITH a ORDER BY a.person, a.item
  RETURN collect([a.person, a.weight, a.t, a.authored]) AS ahead
}}
WITH collect([subject, sums, ahead]) AS found
CALL (found) {{
  UNWIND found AS one
  UNWIND one[1][0] AS pid
  WITH DISTINCT pid
  MATCH (p:{ENTITY} {{id: pid}})
  RETURN collect([p.id, p.name, [k IN $fields | p[k]], {WORK_COUNT}]) AS people
}}
RETURN found, people
"""
"""Everyone's kept sums on each of some subjects, and the colleagues they name, each once.

``found``: ``[subject, sums, pieces ahead]`` a subject, its sums as columns (colleagues, then each field
of :class:`graph.expertise.Known` in order; ``$no_date`` for a sum without a date); ``people``: ``[id,
name, fields, count of own work]`` a colleague (as :data:`EVIDENCE_PEOPLE`). Columns are decoded in a
fraction of the time of a row each (a question over every subject reads tens of thousands).
"""


_IN_INDEX_ORDER = "ORDER BY c.subject DESC, c.person DESC, c.dated DESC, c.key DESC, c.item DESC"
"""Strongest first (ties by item backwards: only the ``$k``-th's key is taken from it), in the order of
the index ``ckn_piece_ranked`` read backwards (naming every property it holds lets the planner read it
in order and stop at the limit, instead of sorting all the rows)."""
_TIES_IN_INDEX_ORDER = "ORDER BY c.subject, c.person, c.dated, c.key, c.item"
"""Pieces of one weight (one key), smallest item first: ``ckn_piece_ranked`` read forwards."""
_RANKED = f"c:{PIECE}(subject, person, dated, key, item)"
"""The index ``ckn_piece_ranked``, named: the planner may take another (a new index has no statistics)."""


def _first_pieces(*, dated: bool) -> str:
    """A colleague's (``p``) first ``$k`` dated or undated pieces on ``subject``, as ``item, w`` rows.

    Read in order (``ckn_piece_ranked``): the ``$k``-th's key, then every piece above it (fewer than
    ``$k``), the ``$k`` first by item of its own key (a day's sync gives a colleague hundreds of pieces
    of one weight: the others are never read), and, dated, those below it that may round to its weight
    (two steps below it: an answer ranks rounded weights, ties by id). An undated piece weighs half
    its kind's weight, its key: pieces of one kind tie exactly, so none below the ``$k``-th's key can
    rank among the first.
    """
    node = f"c:{PIECE} {{subject: subject, person: p.id, dated: {str(dated).lower()}"
    ranked = f"USING INDEX {_RANKED}"
    when = " AND c.t <= $now" if dated else ""
    weight = "round(2.0 ^ ((key - $now) / 86400.0 / $h), 4)" if dated else "round(key * 0.5, 4)"
    below = f"""
      UNION
      WITH p, subject, kth, round(2.0 ^ ((kth - $now) / 86400.0 / $h), 4) - 0.0002 AS least
      MATCH ({node}}}) {ranked}
      WHERE c.key >= CASE WHEN least > 0 THEN $now + 86400.0 * $h * log(least) / log(2.0) ELSE -1.0e300 END
        AND c.key < kth AND c.item IS NOT NULL{when}
      RETURN c.key AS key, c.item AS item"""
    return f"""
    MATCH ({node}}}) {ranked} WHERE c.key IS NOT NULL AND c.item IS NOT NULL{when}
    WITH c {_IN_INDEX_ORDER} LIMIT $k
    WITH min(c.key) AS kth
    CALL (p, subject, kth) {{
      MATCH ({node}}}) {ranked} WHERE c.key > kth AND c.item IS NOT NULL{when}
      RETURN c.key AS key, c.item AS item
      UNION
      MATCH ({node}, key: kth}}) {ranked} WHERE c.item IS NOT NULL{when}
      WITH c {_TIES_IN_INDEX_ORDER} LIMIT $k
      RETURN c.key AS key, c.item AS item{below if dated else ""}
    }}
    RETURN item, {weight} AS w"""


EVIDENCE_BETWEEN = f"""
MATCH (s:{ENTITY} {{id: $subject}})
UNWIND $people AS pid
MATCH (p:{ENTITY} {{id: pid}}) WHERE p:Employee
CALL (p, s) {{
  CALL (p, s) {{
    MATCH (p)-[r:AUTHORED|RESOLVED|PARTICIPATED_IN|OWNS_ACCOUNT]->(x)
    WHERE x = s OR EXISTS {{ (x)-[:ABOUT|DELIVERED_TO]->(s) }}
       OR (s:Customer AND EXISTS {{ (s)-[:PARTICIPATED_IN|SUBMITTED]->(x) }})
    RETURN x, type(r) AS t
    UNION ALL
    MATCH (x)-[r:ESCALATED_TO]->(p)
    WHERE EXISTS {{ (x)-[:ABOUT|DELIVERED_TO]->(s) }}
       OR (s:Customer AND EXISTS {{ (s)-[:PARTICIPATED_IN|SUBMITTED]->(x) }})
    RETURN x, type(r) AS t
  }}
  WITH x, collect(t) AS ts
  RETURN collect([ts, x.id, [k IN $item_fields | x[k]]]) AS acts
}}
RETURN collect([p.id, p.name, [k IN $person_fields | p[k]], acts]) AS people
"""
"""What some colleagues did with the items about one subject, found from their side.

See :meth:`graph.store.GraphStore.evidence_between`.
"""

STRONGEST_EACH = f"""
UNWIND $asks AS ask
WITH ask[0] AS subject, ask[1] AS people
CALL (subject, people) {{
UNWIND people AS pid
MATCH (p:{ENTITY} {{id: pid}}) WHERE p:Employee
CALL (p, subject) {{
  CALL (p, subject) {{
{_first_pieces(dated=True)}
    UNION
{_first_pieces(dated=False)}
    UNION
    MATCH (a:{AHEAD} {{subject: subject, person: p.id}}) USING INDEX a:{AHEAD}(subject, person, item)
    WHERE a.item IS NOT NULL AND a.t > $now
    RETURN a.item AS item, round(a.weight, 4) AS w
    UNION
    MATCH (c:{PIECE} {{subject: subject, person: p.id, dated: true}}) USING INDEX {_RANKED}
    WHERE c.key > $later AND c.item IS NOT NULL AND c.t > $now
    RETURN c.item AS item, round(2.0 ^ ((c.key - c.t) / 86400.0 / $h), 4) AS w
  }}
  WITH item, max(w) AS w ORDER BY w DESC, item LIMIT $k  // weighed by their rows: only these are read
  MATCH (x:{ENTITY} {{id: item}})
  MATCH (x)-[r]-(q) WHERE q = p AND (  // from the item, which has a few relationships, not from p
    (startNode(r) = p AND type(r) IN ['AUTHORED', 'RESOLVED', 'PARTICIPATED_IN', 'OWNS_ACCOUNT'])
    OR (endNode(r) = p AND type(r) = 'ESCALATED_TO'))
  WITH x, type(r) AS t
  WITH x, collect(t) AS ts, max(CASE WHEN t = 'PARTICIPATED_IN' AND x.channel IN $deep THEN $meeting
                                ELSE $weights[t] END) AS base
  WITH x, ts, round(base * 0.5 ^ (CASE WHEN x._when IS NULL THEN 1.0 WHEN x._when >= $now THEN 0.0
                                       ELSE ($now - x._when) / 86400.0 / $h END), 4) AS w
  ORDER BY w DESC, x.id
  LIMIT $k
  RETURN collect([ts, x.id, [k IN $item_fields | x[k]], x.name, x._prov]) AS acts
}}
RETURN collect([p.id, p.name, [k IN $person_fields | p[k]], acts]) AS found
}}
RETURN subject, found
"""
"""Each colleague's ``$k`` strongest items at ``$now`` (POSIX seconds) on each of some subjects.

``$asks``: ``[subject, colleagues]`` pairs (see :meth:`graph.store.GraphStore.strongest_each`). The
candidates are read in order from the kept pieces (:data:`PIECE`, :func:`graph.expertise.piece_row`):
the dated ones down to the weight of the ``$k``-th, with all that may round to it (an answer ranks
rounded weights, ties by id), and the ``$k`` first undated (:func:`_first_pieces`: of a tie at the
cut, only the ``$k`` first by id are read); those dated after ``$now`` (kept as :data:`AHEAD` when
dated after they were written; from ``$later`` on, all the others, for a question about a past day:
:func:`graph.expertise.strongest_cut`). They are weighed from their rows first (a row's key is its
weight shifted by its date) and only the ``$k`` first, ties by id, are read: a day's CRM sync can give
one colleague hundreds of pieces of one weight, whose items and relationships are then not walked.
Those are weighed again from the items, as :func:`graph.expertise.code` and the kept half-life ``$h``
(days) weigh them, from the date each item keeps beside it (``_when``), and cut: a few rows each
instead of all their work. Each item comes with its name and stored evidence (for its first source),
so that an answer shows it without another read.
"""


DATES_AFTER = f"""
MATCH (n:{ENTITY}) WHERE n.id > $after AND n._kind IN $kinds
RETURN n.id AS id, [k IN $fields | n[k]] AS values ORDER BY n.id LIMIT $limit
"""
"""Items (and customers) in id order after ``$after``, with their date fields (to keep ``_when``)."""
SET_DATES = f"UNWIND $rows AS row MATCH (n:{ENTITY} {{id: row.id}}) SET n._when = row.when"


def referrals_below(depth: int) -> str:
    """The customers within ``depth`` referral steps below one, with every referral out of them.

    A breadth-first search in the database, unrolled a step per level: each level is the customers
    the one before referred, each once, and a customer's depth is the first level it is in, its
    fewest steps. Its cost follows the customers and referrals it reaches, at most ``depth`` times
    over. (``ANY SHORTEST`` with the far end left open traces paths: on a few thousand customers who
    refer each other in rings, depth 6 took seconds where depth 4 took a tenth of one.) ``depth`` is
    checked by the caller.
    """
    customer = label(NodeKind.CUSTOMER)
    level = f"""CALL (frontier) {{
  UNWIND frontier AS f
  MATCH (f)-[:REFERRED]->(b:{customer})
  RETURN collect(DISTINCT b) AS next
}}
WITH next AS frontier, levels + [next] AS levels
"""
    return f"""
MATCH (root:{ENTITY} {{id: $id}}) WHERE root:{customer}
WITH [root] AS frontier, [[root]] AS levels
{level * int(depth)}UNWIND range(0, size(levels) - 1) AS d
UNWIND levels[d] AS c
WITH c, min(d) AS d
CALL (c) {{
  OPTIONAL MATCH (c)-[r:REFERRED]->(b:{customer})
  RETURN collect([r.id, b.id, r._prov]) AS out
}}
RETURN collect([c.id, d, c.name, [f IN $fields | c[f]], out]) AS reached
"""


def customer_around(
    shown: tuple[RelType, ...], items: tuple[RelType, ...], around: tuple[RelType, ...]
) -> str:
    """A customer 360's reads in one round trip.

    One entity (``$id``); if it is a customer, its relationships of the ``shown`` types (with the
    ``$valued`` ones' properties) and their other ends, and the ``around`` relationships of what it
    reaches by the ``items`` types, with the ends ``ABOUT`` points to.
    """
    touching = "|".join(rel_type(t) for t in shown)
    to_items = "|".join(rel_type(t) for t in items)
    near = "|".join(rel_type(t) for t in around)
    return f"""
MATCH (c:{ENTITY} {{id: $id}})
CALL (c) {{
  MATCH (c:{label(NodeKind.CUSTOMER)})-[r:{touching}]-(m)
  WITH DISTINCT r, m
  RETURN collect([r.id, type(r), startNode(r).id, endNode(r).id]) AS hops,
         collect(CASE WHEN type(r) IN $valued
                      THEN [startNode(r).id, endNode(r).id, type(r), properties(r)] END) AS valued,
         collect(DISTINCT m) AS ends
}}
CALL (c) {{
  MATCH (c:{label(NodeKind.CUSTOMER)})-[:{to_items}]->()-[a:{near}]-()
  WITH DISTINCT a
  RETURN collect([a.id, type(a), startNode(a).id, endNode(a).id]) AS around,
         collect(DISTINCT CASE WHEN type(a) = '{rel_type(RelType.ABOUT)}' THEN endNode(a) END) AS subjects
}}
RETURN c {{.*, {SEARCH_PROPERTY}: null}} AS me, hops, valued, around,
       [n IN ends + subjects | n {{.*, {SEARCH_PROPERTY}: null}}] AS entities
"""


EVIDENCE_PEOPLE = f"""
UNWIND $ids AS pid
MATCH (p:{ENTITY} {{id: pid}})
RETURN p.id AS id, p.name AS name, [k IN $fields | p[k]] AS values, {WORK_COUNT} AS work
"""

COUNT_ENTITIES = f"MATCH (n:{ENTITY}) RETURN n._kind AS kind, count(*) AS n"


def count_relations(rtype: RelType | str) -> str:
    """Count relations of one type (answered from the counts store)."""
    return f"MATCH ()-[r:{rel_type(rtype)}]->() RETURN count(r) AS n"


PING = "RETURN 1 AS ok"

# -- suppression list and audit log ----------------------------------------------------------------

SUPPRESS = f"UNWIND $hashes AS h MERGE (s:{SUPPRESSED} {{hash: h}}) ON CREATE SET s.added_at = $at"
LIST_SUPPRESSED = f"MATCH (s:{SUPPRESSED}) RETURN s.hash AS hash"
LOCK_AUDIT = f"MERGE (m:{META} {{key: 'audit'}}) ON CREATE SET m.seq = 0, m.hash = '' SET m.key = m.key"
"""The chain's head, locked (``SET``), so appends from replicas queue up."""
READ_AUDIT_HEAD = f"MATCH (m:{META} {{key: 'audit'}}) RETURN m.seq AS seq, m.hash AS hash"
"""The head, read once locked (a statement of its own: one that locks may read before it does)."""
APPEND_AUDIT = f"""
MATCH (m:{META} {{key: 'audit'}})
CREATE (:{AUDIT} {{seq: $seq, record: $record, prev: $prev, hash: $hash}})
SET m.seq = $seq, m.hash = $hash
"""
READ_AUDIT = f"""
MATCH (a:{AUDIT}) WHERE a.seq > $after
RETURN a.seq AS seq, a.record AS record, a.prev AS prev, a.hash AS hash ORDER BY a.seq LIMIT $limit
"""


# -- ingest jobs and request rates (graph.shared) --------------------------------------------------

SAVE_JOB = f"""
MERGE (j:{JOB} {{id: $id}}) SET j.created_at = $created_at, j.record = $record,
  j.heard_at = CASE WHEN $heard THEN timestamp() ELSE j.heard_at END
"""
"""An ingest job's record, and when it was kept by the database's clock (shared by every replica)."""
FORGET_OLD_JOBS = f"""
MATCH (j:{JOB}) WHERE j.created_at IS NOT NULL
WITH j ORDER BY j.created_at DESC, j.id
WITH collect(j) AS newest_first
UNWIND range(0, size(newest_first) - 1) AS i
WITH newest_first[i] AS j, i WHERE i >= $kept OR j.created_at < $cutoff
DELETE j
"""
_JOB_ROW = "j.record AS record, timestamp() - coalesce(j.heard_at, 0) AS ago_ms"
"""A kept job, and how long ago (ms, by the database's clock) its process last said it holds it."""
GET_JOB = f"MATCH (j:{JOB} {{id: $id}}) RETURN {_JOB_ROW}"
JOBS = f"MATCH (j:{JOB}) RETURN {_JOB_ROW} ORDER BY j.created_at DESC, j.id"
LOCK_RATE = f"MERGE (r:{RATE} {{key: $key}}) SET r.key = r.key"
"""A caller's bucket, locked (``SET``), so replicas take from it one at a time."""
READ_RATE = f"""
MATCH (r:{RATE} {{key: $key}})
RETURN r.tokens AS tokens, r.at AS at, timestamp() / 1000.0 AS now
"""
"""The bucket, read once locked (a statement of its own: one that locks may read before it does), and
the time by the database's clock, which every replica shares."""
KEEP_RATE = f"MATCH (r:{RATE} {{key: $key}}) SET r.tokens = $tokens, r.at = $at"
FULL_RATES = f"""
MATCH (r:{RATE}) WHERE r.at < timestamp() / 1000.0 - $refill_s
WITH r LIMIT 10000
SET r.key = r.key
RETURN collect(r.key) AS keys
"""
"""Buckets full again (untouched for a minute: as good as none), locked to be dropped."""
FORGET_FULL_RATES = f"""
UNWIND $keys AS key
MATCH (r:{RATE} {{key: key}}) WHERE r.at < timestamp() / 1000.0 - $refill_s
DELETE r
"""
"""The buckets locked by :data:`FULL_RATES` that are still full again, looked at once locked (a
request may have taken from one meanwhile)."""

# -- names (graph.names) --------------------------------------------------------------------------------

FORGET_NAMES = f"UNWIND $ids AS id MATCH (n:{NAME} {{id: id}}) DELETE n"
"""Drop the name rows of these entities (before writing their names again, or deleting them)."""
WRITE_NAMES = f"UNWIND $rows AS row CREATE (n:{NAME}) SET n = row"
NAMES_FOUND_IN = f"""
UNWIND $forms AS form
MATCH (n:{NAME} {{form: form}})
RETURN n.form AS form, n.id AS id, n.kind AS kind
"""
NAMED = f"MATCH (n:{NAME} {{key: $key}}) RETURN n.key AS form, n.id AS id, n.kind AS kind"
KEYED = f"""
UNWIND $values AS value
MATCH (n:{NAME} {{value: value}})
RETURN n.prop AS prop, n.value AS form, n.id AS id, n.kind AS kind
"""
NAMES_LIKE = f"""
CALL db.index.fulltext.queryNodes('{NAME_INDEX}', $query, {{limit: $limit}}) YIELD node, score
RETURN node.form AS form, node.id AS id, node.kind AS kind ORDER BY score DESC, form, id
"""
NAMED_AFTER = f"""
MATCH (n:{ENTITY}) WHERE n.id > $after AND n._kind IN $kinds
RETURN n.id AS id, n._kind AS kind, n.name AS name, [k IN $fields | n[k]] AS values ORDER BY n.id LIMIT $limit
"""
"""Named entities in id order after ``$after``, with their aliases and keys (to write their names)."""
