"""Names questions are read with, on both stores: found in a question, looked up by a name, an alias,
an e-mail, a phone or a CRM id, or spelled close. On Neo4j they are looked up in the database: a
serving process reads no name it is not asked about, and keeps none."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ckn.api.understand import entity_ref, search, subjects_of, understanding
from ckn.graph.errors import Ambiguous, NotFound
from ckn.graph.model import Batch, NodeKind
from ckn.graph.neo4j_store import Neo4jStore
from ckn.graph.store import GraphStore
from ckn.ingest.resolve import Resolver
from tests.factories import customer, employee, entity


@pytest.fixture
def named(store: GraphStore) -> GraphStore:
    store.write(
        Batch(
            entities=(
                customer(
                    "customer:C016",
                    "華東精密儀器",
                    aliases=["Huadong Precision", "ＨＤＪＭ"],
                    emails=["li.na@hdjm.cn"],
                    phones=["+8613800138000"],
                    external_ids=["crm:C016"],
                ),
                customer("customer:C017", "华东精密"),  # inside the longer name: the longer one is meant
                customer("customer:C018", "Store 12"),
                customer("customer:C019", "Store 13"),
                customer("customer:C020", "O'Brien Trading", aliases=["v2.5 Systems"]),
                employee("employee:E1", "张伟", aliases=["Zhang Wei"], emails=["zhang.wei@example.cn"]),
                employee("employee:E2", "张伟"),
                entity("product:x200", NodeKind.PRODUCT, "X-200 校准仪", aliases=["X200"]),
                entity("topic:calib", NodeKind.TOPIC, "校准 Calibration", aliases=["校准", "calibration"]),
                entity("topic:cs", NodeKind.TOPIC, "CS"),  # never inside a word: "CSV" names no topic
            )
        )
    )
    return store


@pytest.fixture
def looked_up(named: GraphStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphStore]:
    """The store, where a process that looks names up in it must never read every name."""
    if named.names is not None:

        def whole(*args: object, **kwargs: object) -> object:
            raise AssertionError("every name was read into the process")

        monkeypatch.setattr(Resolver, "from_store", whole)
        monkeypatch.setattr(named, "scan_entities", whole)
    yield named


def test_a_question_names_what_it_mentions_in_either_language(looked_up: GraphStore) -> None:
    assert subjects_of(looked_up, "谁懂 X200 的校准?") == ["product:x200", "topic:calib"]
    assert subjects_of(looked_up, "華東精密儀器 的 CSV 导出") == ["customer:C016"]  # longest, no "CS"
    assert subjects_of(looked_up, "华东 精密 last year") == ["customer:C017"]  # a stray space, folded
    assert subjects_of(looked_up, "ｈｄｊｍ orders") == ["customer:C016"]  # full-width, any case
    assert subjects_of(looked_up, "Store 13") == ["customer:C019"]
    assert subjects_of(looked_up, "who sold to li.na@HDJM.cn?", (NodeKind.CUSTOMER,)) == ["customer:C016"]
    assert subjects_of(looked_up, "who knows calibraton?") == ["topic:calib"]  # a close spelling
    assert subjects_of(looked_up, "nothing known here") == []


def test_a_reference_is_found_by_name_alias_email_phone_or_crm_id(looked_up: GraphStore) -> None:
    for typed in (
        "Huadong Precision",
        "huadong precision",
        "华东精密仪器",
        "li.na@HDJM.cn",
        "138 0013 8000",
        "C016",
    ):
        assert entity_ref(looked_up, typed) == "customer:C016", typed
    assert entity_ref(looked_up, "Zhang Wei", (NodeKind.EMPLOYEE,)) == "employee:E1"
    assert entity_ref(looked_up, "zhang.wei@example.cn", (NodeKind.EMPLOYEE,)) == "employee:E1"
    with pytest.raises(Ambiguous) as raised:
        entity_ref(looked_up, "張偉", (NodeKind.EMPLOYEE,))  # two colleagues have this name
    assert [c["id"] for c in raised.value.extra["candidates"]] == ["employee:E1", "employee:E2"]
    with pytest.raises(NotFound):
        entity_ref(looked_up, "Zhang Wei", (NodeKind.CUSTOMER,))  # a colleague's name, not a customer's
    assert entity_ref(looked_up, "Huadong Precison") == "customer:C016"  # close enough, and only one
    with pytest.raises(NotFound):
        entity_ref(looked_up, "Huadong Precison", exact=True)  # an erasure is never done to a look-alike


def test_search_finds_close_spellings_best_first(looked_up: GraphStore) -> None:
    found = search(looked_up, "Huadong Precison")
    assert found[0]["id"] == "customer:C016" and 70 <= float(str(found[0]["score"])) < 100
    exact = search(looked_up, "X200")
    assert exact[0]["id"] == "product:x200" and float(str(exact[0]["score"])) == 100
    for typed in ("O'Brien", "O'Brian Trading", "v2.5 systems"):  # apostrophes and points inside words
        assert search(looked_up, typed)[0]["id"] == "customer:C020", typed
    assert entity_ref(looked_up, "O'Brian Trading") == "customer:C020"


def test_a_pasted_page_is_read_as_far_as_a_question_goes(looked_up: GraphStore) -> None:
    page = " ".join(f"word{n} o'word{n} 字{n}" for n in range(400))
    assert subjects_of(looked_up, page) == [] and search(looked_up, page) == []
    assert subjects_of(looked_up, "X200 " + page + " 华东精密") == [
        "product:x200"
    ]  # the first 400 characters


def test_names_follow_renames_new_aliases_and_erasure(
    named: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    assert subjects_of(named, "华东精密 orders") == ["customer:C017"]
    other = store_factory()  # another process writes
    other.write(Batch(entities=(customer("customer:C017", "华东仪表", aliases=["HD Instruments"]),)))
    assert subjects_of(named, "华东仪表 orders") == ["customer:C017"]
    assert entity_ref(named, "HD Instruments") == "customer:C017"
    with pytest.raises(NotFound):
        entity_ref(named, "华东精密", exact=True)  # the old name is nobody's now

    other.write(Batch(entities=(customer("customer:C017", "华东仪表"),), replace=True))  # alias dropped
    with pytest.raises(NotFound):
        entity_ref(named, "HD Instruments", exact=True)

    asked = understanding(named)
    assert subjects_of(named, "華東精密儀器 orders") == ["customer:C016"]
    other.erase_entity("customer:C016")
    for typed in ("Huadong Precision", "li.na@hdjm.cn", "138 0013 8000"):
        with pytest.raises(NotFound):
            entity_ref(named, typed, exact=True)
    assert subjects_of(named, "華東精密儀器 orders", (NodeKind.CUSTOMER,)) == []
    if isinstance(named, Neo4jStore):  # nothing of it is left in the name index either
        found, _, _ = named._driver.execute_query(
            "MATCH (n:CknName) WHERE n.id = 'customer:C016' OR n.value = 'li.na@hdjm.cn'"
            " RETURN count(n) AS n",
            database_=named.database,
        )
        assert found[0]["n"] == 0
    now = understanding(named)  # what read the last question, which named it, is gone too
    assert now is not asked and not any(
        "華東精密儀器" in nlp.vocab.strings for nlp in now.analyzer.pipelines.values()
    )
