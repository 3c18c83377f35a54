"""The rules that find topics, names and first-person referrals in text (no store needed)."""

from __future__ import annotations

import pytest

from ckn.ingest.discovery import broader, key_phrases, names, self_referrals, singular, topic_key
from ckn.ingest.nlp import blank_pipeline


@pytest.mark.parametrize(
    ("text", "referrer"),
    [
        ("Northwind referred us to you last year.", "Northwind"),
        ("We were introduced by our friends at Contoso Ltd.", "Contoso Ltd"),
        ("Thanks to Fabrikam's recommendation we called you.", "Fabrikam"),
        ("经朋友王总介绍，我们联系了贵司。", "王总"),
        ("华东精密推荐了我们。", "华东精密"),
        ("我们是经朋友公司推荐才找到贵司的", "朋友公司"),
    ],
)
def test_a_referral_stated_in_the_first_person_names_its_referrer(text: str, referrer: str) -> None:
    (found,) = self_referrals(text)
    assert found.referrer == referrer and text[found.start : found.end] == referrer


@pytest.mark.parametrize(
    "text", ["Northwind referred Contoso.", "他们是经朋友介绍的。", "Please refer to the manual."]
)
def test_other_people_s_referrals_are_not_the_speaker_s(text: str) -> None:
    assert self_referrals(text) == []


def test_plurals_and_scripts_fold_into_one_key() -> None:
    assert [singular(w) for w in ("companies", "processes", "reports", "status", "analysis")] == [
        "company",
        "process",
        "report",
        "status",
        "analysis",
    ]
    assert topic_key("客戶知識管理") == "客户知识管理"


def test_a_topic_nests_under_the_longest_topics_its_name_contains() -> None:
    known = {"知识管理": "t1", "知识": "t2", "管理": "t3", "data migration": "t4", "data": "t5"}
    assert broader("客户知识管理", known) == ["知识管理"]
    assert broader("data migration project", known) == ["data migration"]


def test_short_texts_have_no_topics_and_generic_words_never_are() -> None:
    nlp = blank_pipeline("zh")
    assert key_phrases(nlp("知识共享很重要。知识共享需要方法。"), "zh") == []
    long = "我们研究这个问题的方法。" * 40 + "售后知识共享的流程。" * 5
    found = [p.name for p in key_phrases(nlp(long), "zh")]
    assert "售后知识共享" in found or "知识共享" in found
    assert not {"问题", "方法", "研究", "这个", "我们"} & set(found)


def test_titles_suffixes_and_surnames_make_names() -> None:
    zh = blank_pipeline("zh")
    text = "王经理和李工在苏州远航科技有限公司讨论了方案。张伟表示同意。"
    found = {(n.text, n.label) for n in names(zh(text), "zh")}
    assert {
        ("王经理", "PERSON"),
        ("李工", "PERSON"),
        ("苏州远航科技有限公司", "ORG"),
        ("张伟", "PERSON"),
    } <= found
    en = blank_pipeline("en")
    text = "Dr. Helen Park met Tom Becker, the service manager, at Brightline Logistics Ltd."
    found = {(n.text, n.label) for n in names(en(text), "en", blocked=[(0, 14)])}
    assert found == {("Tom Becker", "PERSON"), ("Brightline Logistics Ltd", "ORG")}  # Dr. Helen Park is known
