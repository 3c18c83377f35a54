"""The Cypher builders, and the server versions they need, checked without a server."""

from __future__ import annotations

import pytest

from ckn.graph import cypher
from ckn.graph.errors import InvalidLabel, StoreVersionError
from ckn.graph.model import NodeKind, RelType
from ckn.graph.neo4j_store import check_server


def test_every_relationship_type_has_a_uniqueness_constraint_in_the_migrations() -> None:
    statements = " ".join(s for version in cypher.MIGRATIONS.values() for s in version)
    for rtype in RelType:
        assert f"FOR ()-[r:{rtype.value}]-() REQUIRE r.id IS UNIQUE" in statements


def test_migrations_are_idempotent_statements() -> None:
    for statements in cypher.MIGRATIONS.values():
        for statement in statements:
            assert "IF NOT EXISTS" in statement or ("DROP" in statement and "IF EXISTS" in statement)


@pytest.mark.parametrize(
    "hostile", ["Customer) DETACH DELETE n //", "Customer`", "customer", "Entity", "KNOWS]-()", "CknMeta"]
)
def test_builders_refuse_anything_but_the_enums(hostile: str) -> None:
    with pytest.raises(InvalidLabel):
        cypher.label(hostile)
    with pytest.raises(InvalidLabel):
        cypher.rel_type(hostile)
    with pytest.raises(InvalidLabel):
        cypher.write_relations(hostile)
    with pytest.raises(InvalidLabel):
        cypher.list_entities(hostile)


def test_labels_and_types_are_spliced_only_after_checking() -> None:
    assert "n:Customer" in cypher.write_entities(NodeKind.CUSTOMER)
    assert "MERGE (a)-[r:REFERRED {id: row.id}]" in cypher.write_relations("REFERRED")
    assert "CREATE (a)-[r:$(row.type)]->(b)" in cypher.CREATE_RELATIONS  # a value, not spliced text
    assert "$rows" in cypher.write_relations(RelType.KNOWS)
    assert {t: t.value for t in RelType} == cypher.CHECKED_TYPES  # what rows give the dynamic type


def test_no_statement_has_an_unbounded_variable_length_pattern() -> None:
    texts = [v for v in vars(cypher).values() if isinstance(v, str)]
    texts += [cypher.expand(d) for d in ("out", "in", "both")]
    texts += [cypher.relations_of(d) for d in ("out", "in", "both")]
    for text in texts:
        assert "*]" not in text and "*.." not in text and "]-*" not in text


def test_a_server_older_than_the_dynamic_types_is_refused_with_its_version() -> None:
    for agent in ("Neo4j/5.26.0", "Neo4j/5.26.12", "Neo4j/2025.10.1", "Neo4j/6.0.0"):
        check_server(agent)
    with pytest.raises(StoreVersionError, match=r"Neo4j/5\.20\.0; ckn needs Neo4j 5\.26 or later"):
        check_server("Neo4j/5.20.0")
    with pytest.raises(StoreVersionError):
        check_server("Neo4j/4.4.30")
