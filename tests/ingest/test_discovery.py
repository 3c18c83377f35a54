"""Knowledge from documents alone: topics, names, authors, search and first-person referrals, on every store.

The articles in ``tests/data/articles`` were written for these tests: a Chinese article on after-sales
knowledge sharing (its author in the front matter), an English onboarding playbook and a bilingual
meeting note sent as an e-mail.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ckn.api.understand import search
from ckn.graph.model import Batch, NodeKind, RelType
from ckn.graph.store import Direction, GraphStore
from ckn.ingest import review
from ckn.ingest.discovery import topic_key
from ckn.ingest.erasure import erase
from ckn.ingest.generate import generate
from ckn.ingest.pipeline import NlpOptions, ingest_paths
from ckn.queries.experts import experts
from ckn.queries.knowledge import knowledge_map, topics
from ckn.queries.referrals import referral_tree
from tests.factories import customer
from tests.ingest.test_documents import _pdf

BUNDLE = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"
ARTICLES = Path(__file__).resolve().parents[1] / "data" / "articles"
ARTICLE_ZH = "knowledgeitem:售后知识共享实践"
PLAYBOOK = "knowledgeitem:onboarding-playbook"
MEETING = "knowledgeitem:x200-review-meeting"
GENERIC = {
    "问题",
    "方法",
    "研究",
    "本文",
    "客户",
    "企业",
    "document",
    "problem",
    "method",
    "research",
    "data",
}


@pytest.fixture
def articles_store(store: GraphStore, tmp_path: Path) -> GraphStore:
    ingest_paths(store, [BUNDLE], quarantine_dir=tmp_path / "q")
    ingest_paths(store, [ARTICLES], quarantine_dir=tmp_path / "q")
    return store


def _about(store: GraphStore, item: str) -> dict[str, str]:
    hops = store.expand([item], types=[RelType.ABOUT], direction=Direction.OUT)
    found = store.get_entities([h.target for h in hops])
    return {e.name: e.id for e in found.values()}


def _topic(store: GraphStore, name: str) -> str:
    (found,) = [t.id for t in topics(store, limit=1000) if t.name == name]
    return found


def test_each_article_s_central_topic_is_discovered_and_no_generic_word_is_one(
    articles_store: GraphStore,
) -> None:
    listed = topics(articles_store, discovered=True, limit=1000)
    names = {t.name for t in listed}
    assert {"知识共享", "隐性知识", "知识库", "data migration", "validation report"} <= names
    assert not names & GENERIC
    assert {"知识共享", "隐性知识"} <= set(_about(articles_store, ARTICLE_ZH))
    assert "data migration" in _about(articles_store, PLAYBOOK)
    zh = articles_store.get_entity(ARTICLE_ZH)
    assert zh is not None and zh.props["keyphrases"][:2] == ["知识共享", "知识库"]  # type: ignore[index]
    sharing = next(t for t in listed if t.name == "知识共享")
    assert sharing.discovered and sharing.documents == 1 and sharing.confidence is not None


def test_a_discovered_topic_keeps_the_span_it_came_from(articles_store: GraphStore) -> None:
    topic = _topic(articles_store, "知识共享")
    (about,) = articles_store.get_relations(
        ARTICLE_ZH, types=[RelType.ABOUT], direction=Direction.OUT, limit=100
    )[:0] or [r for r in articles_store.get_relations(topic, types=[RelType.ABOUT], direction=Direction.IN)]
    (evidence,) = about.provenance
    text = str(articles_store.get_entity(ARTICLE_ZH).props["text"])  # type: ignore[union-attr]
    assert evidence.extractor == "ckn_topics_v1" and evidence.start is not None and evidence.end is not None
    assert text[evidence.start : evidence.end] == "知识共享"
    assert about.props["count"] >= 10


def test_discovered_topics_nest_under_the_topics_their_names_contain_and_link_to_master_data(
    articles_store: GraphStore,
) -> None:
    def broader(name: str) -> set[str]:
        hops = articles_store.expand(
            [_topic(articles_store, name)], types=[RelType.SUBTOPIC_OF], direction=Direction.OUT
        )
        return {h.target for h in hops}

    assert _topic(articles_store, "知识库") in broader("知识库记录")
    assert "topic:calibration" in broader("calibration history")  # an alias of a master-data topic
    assert "topic:drift" in broader("drift review")
    assert all(t.id != "topic:calibration" for t in topics(articles_store, discovered=True, limit=1000))


def test_topic_names_merge_across_scripts_widths_case_and_plurals() -> None:
    assert topic_key("知識共享") == topic_key("知识共享")
    assert topic_key("Ｘ２００ Calibration") == topic_key("x200 calibration")
    assert topic_key("Validation Reports") == topic_key("validation report")
    assert topic_key("data migration projects") == "data migration project"
    assert topic_key("process") == "process"


def test_search_finds_documents_by_the_words_in_their_body_chinese_and_english(
    articles_store: GraphStore,
) -> None:
    def documents(query: str) -> dict[str, dict[str, object]]:
        return {
            str(h["id"]): h for h in search(articles_store, query, limit=50) if h["kind"] == "KnowledgeItem"
        }

    found = documents("知识共享")
    assert ARTICLE_ZH in found
    hit = found[ARTICLE_ZH]
    snippet = str(hit["snippet"])
    start, end = hit["highlights"][0]  # type: ignore[index]
    assert snippet[start:end] == "知识共享"
    assert "知识共享" in {a["name"] for a in hit["about"]}  # type: ignore[union-attr]
    assert set(documents("隱性知識")) == {ARTICLE_ZH}  # traditional characters find simplified text
    assert set(documents("calibration history")) == {PLAYBOOK}
    assert set(documents("温度记录")) == {MEETING}  # the Chinese half of a bilingual e-mail
    assert set(documents("Brightline")) == {PLAYBOOK}
    assert documents("quantum entanglement") == {}
    names = [h for h in search(articles_store, "知识共享", limit=50) if h["kind"] == "Topic"]
    assert names and names[0]["name"] == "知识共享"  # the topic and the article, together


def test_an_author_in_document_metadata_puts_them_on_the_knowledge_map(
    articles_store: GraphStore, tmp_path: Path
) -> None:
    def authors(item: str) -> set[str]:
        return {r.source for r in articles_store.get_relations(item, types=[RelType.AUTHORED])}

    assert authors(ARTICLE_ZH) == {"employee:E01"}  # front matter: author: 王芳
    assert authors(MEETING) == {"employee:E02"}  # From: Anna Schmidt <anna.schmidt@example.com>
    meeting = articles_store.get_entity(MEETING)
    assert meeting is not None and meeting.name.startswith("Meeting note: X200 drift review")
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    (pdfs / "handover.pdf").write_bytes(_pdf("Handover of the CloudSync onboarding.", author="David Chen"))
    ingest_paths(articles_store, [pdfs], quarantine_dir=tmp_path / "q")
    assert authors("knowledgeitem:handover") == {"employee:E04"}

    sharing = _topic(articles_store, "知识共享")
    (top, *_) = experts(articles_store, [sharing])
    assert top.employee_id == "employee:E01"
    row = next(r for r in knowledge_map(articles_store) if r["subject_id"] == sharing)
    assert "employee:E01" in {h["employee_id"] for h in row["holders"]}  # type: ignore[attr-defined]


def test_names_found_in_text_are_candidates_never_experts_until_confirmed(
    articles_store: GraphStore, tmp_path: Path
) -> None:
    named = {c.name: c for c in review.list_named(articles_store)}
    assert {"王经理", "李工", "苏州远航科技有限公司", "Dr. Helen Park", "Brightline Logistics Ltd"} <= set(
        named
    )
    assert named["苏州远航科技有限公司"].label == "ORG" and named["李工"].label == "PERSON"
    assert not {"王芳", "Anna Schmidt", "张伟"} & set(named)  # known people are linked, not candidates
    candidates = {c.id for c in named.values()}
    for topic in topics(articles_store, limit=1000):
        assert not {e.employee_id for e in experts(articles_store, [topic.id], limit=50)} & candidates

    helen = named["Dr. Helen Park"].id
    result = review.confirm(articles_store, helen)
    colleague = articles_store.get_entity(result.kept)
    assert (
        colleague is not None and colleague.kind is NodeKind.EMPLOYEE and colleague.name == "Dr. Helen Park"
    )
    assert articles_store.get_entity(helen) is None
    mentions = articles_store.get_relations(result.kept, types=[RelType.MENTIONS], direction=Direction.IN)
    assert [r.source for r in mentions] == [PLAYBOOK]

    review.merge_named(articles_store, named["王经理"].id, "employee:E01")
    wang = articles_store.get_entity("employee:E01")
    assert wang is not None and "王经理" in wang.props["aliases"]  # type: ignore[operator]
    review.dismiss(articles_store, named["李工"].id)

    ingest_paths(articles_store, [ARTICLES], quarantine_dir=tmp_path / "q2")  # the same texts again
    again = {c.name for c in review.list_named(articles_store)}
    assert not {"Dr. Helen Park", "王经理", "李工"} & again
    assert "苏州远航科技有限公司" in again
    dismissed = {c.name: c.decision for c in review.list_named(articles_store, include_decided=True)}
    assert dismissed["李工"] == "dismissed"


def test_referrals_stated_in_the_first_person_reach_the_referrer_s_tree(
    store: GraphStore, tmp_path: Path
) -> None:
    folder = tmp_path / "crm"
    folder.mkdir()
    for name in ("customers.csv", "employees.csv", "products.csv"):
        shutil.copy(BUNDLE / name, folder)
    (folder / "feedback.csv").write_text(
        "feedback_id,submitted_at,customer_id,product_id,rating,kind,text\n"
        'F-90,2026-11-02,C102,X200,5,praise,"Great. We were referred by Acme Labs GmbH last spring."\n'
        "F-91,2026-11-03,C105,K9,5,praise,我们是经华东精密仪器有限公司介绍才找到贵司的，服务很好。\n"
        "F-92,2026-11-04,C104,CS,4,question,我们是经朋友公司推荐才找到贵司的，想了解定时导出。\n",
        encoding="utf-8",
    )
    ingest_paths(store, [folder], quarantine_dir=tmp_path / "q")

    acme, _ = referral_tree(store, "customer:C103")
    assert "customer:C102" in {child.customer_id for child in acme.children}
    hdjm, _ = referral_tree(store, "customer:C100")
    assert "customer:C105" in {child.customer_id for child in hdjm.children}
    into_c105 = store.get_relations("customer:C105", types=[RelType.REFERRED], direction=Direction.IN)
    (stated,) = [r for r in into_c105 if r.source == "customer:C100"]
    assert [(p.extractor, p.confidence) for p in stated.provenance] == [("ckn_stated_referrals_v1", 0.5)]
    unnamed = store.get_entity("feedback:F-92")
    assert unnamed is not None and unnamed.props["stated_referrers"] == ["朋友公司"]


def test_discovery_can_be_turned_off(store: GraphStore, tmp_path: Path) -> None:
    ingest_paths(store, [ARTICLES], quarantine_dir=tmp_path / "q", nlp=NlpOptions(discover=False))
    assert store.stats().entities.get(NodeKind.CANDIDATE.value, 0) == 0
    assert topics(store, discovered=True) == []


def test_erasing_someone_erases_the_names_discovery_found_for_them(
    articles_store: GraphStore, tmp_path: Path
) -> None:
    articles_store.write(
        Batch(entities=(customer("customer:helen", "Helen Park", emails=["helen@brightline.example"]),))
    )
    report = erase(articles_store, "customer:helen", tmp_path / "q")
    assert report.clean
    assert "Dr. Helen Park" not in {c.name for c in review.list_named(articles_store, include_decided=True)}
    assert not [h for h in search(articles_store, "Helen Park", limit=50) if h["kind"] == "KnowledgeItem"]
    assert {"李工", "Brightline Logistics Ltd"} <= {c.name for c in review.list_named(articles_store)}


def test_generated_articles_without_crm_metadata_yield_their_topics_authors_names_and_referrals(
    store: GraphStore, tmp_path: Path
) -> None:
    truth = generate(tmp_path / "bundle", scale="tiny", seed=11)["discovered"]
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")

    listed = {t.name: t for t in topics(store, discovered=True, limit=1000)}
    assert not set(listed) & GENERIC
    for name, planted in truth["topics"].items():
        assert listed[name].documents >= planted["documents"]
        (top, *_) = experts(store, [listed[name].id])
        assert top.employee_id == f"employee:{planted['author']}"
    assert set(truth["names"]) <= {c.name for c in review.list_named(store)}
    for referrer, referred in truth["stated_referrals"]:
        tree, _ = referral_tree(store, referrer)
        assert referred in {child.customer_id for child in tree.children}
