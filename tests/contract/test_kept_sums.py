"""Expert answers from the sums each write keeps (graph.expertise), on every store.

The reference is the answer computed from every piece of evidence, read by a whole-graph scan
(``evidence._build``): after writes from another client, deletions of a source, an erasure, on the
planted fixture and on a generated bundle, and after a store written before the sums existed is
opened again, the kept sums must rank the same people with the same scores and the same evidence.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from ckn.graph.expertise import KEPT_HALF_LIFE_DAYS, Known
from ckn.graph.model import Batch, NodeKind, RelType
from ckn.graph.store import EvidenceFacts, GraphStore, KnownAbout
from ckn.ingest.generate import generate
from ckn.ingest.pipeline import ingest_paths
from ckn.queries import evidence
from ckn.queries.evidence import assemble, decayed
from ckn.queries.experts import Expert, counted, experts, from_evidence, kept_experts_each
from ckn.queries.knowledge import KNOWLEDGEABLE, MAP_EVIDENCE, knowledge_map
from tests.contract.conftest import NOW, _item
from tests.contract.test_live import _subjects, _writes_of_another_process
from tests.factories import entity, prov, rel

LATER = datetime(2031, 3, 1, tzinfo=UTC)
"""After every date in the test data: the kept sums can answer (nothing is dated after it)."""


def _oracle(store: GraphStore, subject: str, **options: Any) -> list[Expert]:
    return from_evidence(
        store,
        [subject],
        evidence._build(store),
        now=options.get("now", LATER),
        half_life_days=365.0,
        include_left=options.get("include_left", True),
        limit=options.get("limit", 50),
        evidence_shown=options.get("evidence_shown", 20),
        evidence_for=options.get("evidence_for"),
        min_strength=options.get("min_strength", 0.0),
        among=options.get("among"),
    )


def _kept(store: GraphStore, subject: str, *, now: datetime = LATER, **options: Any) -> list[Expert] | None:
    options = {"include_left": True, "limit": 50, "evidence_shown": 20, "evidence_for": None, **options}
    options = {"min_strength": 0.0, "among": None, **options}
    known = options.pop("known", None) or store.known_about(subject)
    return kept_experts_each(store, {subject: known}, now=now, **options)[subject]


def _assert_same(store: GraphStore, subjects: list[str]) -> int:
    """Every subject answered from the kept sums as from the evidence; how many had experts."""
    answered = 0
    together = store.known_about_each([*subjects, "topic:nothing-known"])  # one read for them all
    assert together == {**{s: store.known_about(s) for s in subjects}, "topic:nothing-known": KnownAbout()}
    for subject in subjects:
        kept = _kept(store, subject)
        assert kept is not None, subject
        assert kept == _oracle(store, subject), subject
        for shown in (1, 3):  # each one's strongest read from the kept pieces
            with pytest.MonkeyPatch.context() as side:
                side.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 1)
                theirs = _kept(store, subject, evidence_shown=shown)
            assert theirs == _oracle(store, subject, evidence_shown=shown), (subject, shown)
        assert _kept(store, subject, known=together[subject]) == kept, subject
        for floor in (0.0, 1.0, 2.0):  # the holders counted without ranking them (single-holder lists)
            everyone = {"limit": store.limits.max_page, "evidence_shown": 0, "min_strength": floor}
            holders = _oracle(store, subject, include_left=False, **everyone)
            assert counted(together[subject], LATER, floor) == len(holders), (subject, floor)
        answered += bool(kept)
    return answered


def test_kept_sums_answer_as_the_evidence_does_on_every_subject(planted: GraphStore) -> None:
    assert _assert_same(planted, _subjects(planted)) >= 5
    variants: list[dict[str, Any]] = [
        {"limit": 2, "evidence_shown": 3},
        {"evidence_shown": 0},
        {"min_strength": 1.0},
        {"include_left": False, "evidence_for": 1},
        {"among": {"employee:wang", "employee:old"}},
    ]
    for options in variants:
        assert _kept(planted, "topic:calib", **options) == _oracle(planted, "topic:calib", **options), options


def test_the_expert_question_reads_the_sums_not_the_subjects_evidence(
    planted: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _oracle(planted, "topic:calib", include_left=False, limit=10)
    monkeypatch.setattr(evidence, "kept_index", lambda store: None)  # the embedded index not built yet
    monkeypatch.setattr("ckn.queries.experts.kept_index", lambda store: None)

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("read every piece of evidence on the subject")

    monkeypatch.setattr(planted, "evidence", refused)
    assert experts(planted, ["topic:calib"], now=LATER) == expected
    assert expected[0].evidence and expected[0].employee_id == "employee:wang"


def test_evidence_dated_after_the_question_is_weighed_from_the_evidence(planted: GraphStore) -> None:
    assert _kept(planted, "topic:calib", now=datetime(2020, 1, 1, tzinfo=UTC)) is None
    early = experts(planted, ["topic:calib"], now=datetime(2020, 1, 1, tzinfo=UTC))
    assert early  # answered from the evidence instead
    assert experts(planted, ["topic:calib"], now=NOW)


def test_writes_deletions_and_erasure_from_another_client_keep_the_sums_exact(
    planted: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    other = store_factory()
    _writes_of_another_process(other)
    subjects = [*_subjects(planted), "customer:fresh"]
    _assert_same(planted, subjects)
    assert "employee:newbie" in [e.employee_id for e in _kept(planted, "customer:fresh") or []]

    other.write(Batch(entities=(), relations=()))  # nothing: nothing changes
    other.erase_entity("call:new")  # an item: its evidence leaves everyone's sums
    assert "employee:newbie" not in planted.known_about("topic:calib").sums
    _assert_same(planted, subjects)
    other.erase_entity("employee:wang")
    assert "employee:wang" not in planted.known_about("topic:calib").sums
    other.erase_entity("topic:export")
    assert not planted.known_about("topic:export").sums
    _assert_same(planted, [s for s in subjects if s != "topic:export"])
    for erased in ("call:new", "employee:wang", "topic:export"):  # no kept row names them
        assert _kept_rows_naming(planted, erased) == 0, erased


def _kept_rows_naming(store: GraphStore, entity_id: str) -> int:
    """The rows a store keeps for expert questions (sums, pieces ahead, pieces) that name an entity."""
    if store.backend == "embedded":
        conn = store._conn  # type: ignore[attr-defined]
        return sum(
            conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (entity_id,)).fetchone()[0]
            for table, columns in (
                ("known", ("subject", "person")),
                ("ahead", ("subject", "person", "item")),
                ("pieces", ("subject", "person", "item")),
            )
            for column in columns
        )
    found, _, _ = store._driver.execute_query(  # type: ignore[attr-defined]
        "MATCH (k:CknKnown|CknAhead|CknPiece) WHERE $id IN [k.subject, k.person, k.item]"
        " RETURN count(k) AS n",
        {"id": entity_id},
        database_=store.database,  # type: ignore[attr-defined]
    )
    return int(found[0]["n"])


def test_deleting_a_source_takes_its_evidence_out_of_the_sums(store: GraphStore, tmp_path: Path) -> None:
    generate(tmp_path / "bundle", "tiny", seed=17)
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    subjects = _subjects(store)
    assert _assert_same(store, subjects[:30] + subjects[-30:]) >= 20
    sources = sorted(
        {p.source_id for e in store.list_entities(NodeKind.INTERACTION, limit=5) for p in e.provenance}
    )
    store.delete_source(*sources)
    assert _assert_same(store, subjects[:30] + subjects[-30:]) >= 10


def test_a_store_written_before_the_sums_existed_counts_them_when_opened(
    store_factory: Callable[..., GraphStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 0)  # the items' dates are read exactly
    store = store_factory()
    generate(tmp_path / "bundle", "tiny", seed=19)
    ingest_paths(store, [tmp_path / "bundle"], quarantine_dir=tmp_path / "q")
    subjects = _subjects(store)[:25]
    before = {s: _kept(store, s) for s in subjects}
    if store.backend == "embedded":
        path = store.path  # type: ignore[attr-defined]
        store.close()
        with sqlite3.connect(path) as conn:
            conn.executescript(
                "DROP TABLE known; DROP TABLE work_done; DROP TABLE ahead; DROP TABLE pieces;"
                " UPDATE ckn_meta SET value = '4' WHERE key = 'schema_version';"
            )
    else:
        driver = store._driver  # type: ignore[attr-defined]
        driver.execute_query("MATCH (k:CknKnown|CknAhead|CknPiece) DELETE k")
        driver.execute_query("MATCH (n:Entity) REMOVE n._when")  # items kept no date of their own either
        driver.execute_query("MATCH (m:CknMeta {key: 'schema'}) SET m.version = 3")
        store.close()
    reopened = store_factory()
    assert {s: _kept(reopened, s) for s in subjects} == before
    assert _assert_same(reopened, subjects) >= 10


def test_evidence_dated_after_it_was_written_weighs_its_kind_until_its_date(
    planted: GraphStore, store_factory: Callable[..., GraphStore]
) -> None:
    """A meeting planned for later, a year mistyped: full weight until the date, then it decays."""
    other = store_factory()
    planned = _item(NodeKind.INTERACTION, "call:planned", "2030-06-01", channel="visit")
    typo = _item(NodeKind.KNOWLEDGE_ITEM, "doc:typo", "2062-01-01")
    other.write(Batch(entities=(planned, typo)))
    other.write(
        Batch(
            relations=(
                rel(RelType.PARTICIPATED_IN, "employee:junior", "call:planned"),
                rel(RelType.ABOUT, "call:planned", "topic:calib"),
                rel(RelType.AUTHORED, "employee:junior", "doc:typo"),
                rel(RelType.ABOUT, "doc:typo", "topic:calib"),
            )
        )
    )
    ahead = planted.known_about("topic:calib").ahead["employee:junior"]
    assert sorted((a.weight, a.authored) for a in ahead) == [(1.5, False), (3.0, True)]
    _assert_same(planted, _subjects(planted))  # 2031: the meeting has decayed, the document not yet
    junior = next(e for e in _kept(planted, "topic:calib") or [] if e.employee_id == "employee:junior")
    assert junior.documented == 3.0

    other.write(Batch(entities=(_item(NodeKind.KNOWLEDGE_ITEM, "doc:typo", "2026-01-01"),)))  # mended
    assert len(planted.known_about("topic:calib").ahead["employee:junior"]) == 1
    _assert_same(planted, _subjects(planted))
    other.erase_entity("call:planned")
    assert "employee:junior" not in planted.known_about("topic:calib").ahead
    _assert_same(planted, _subjects(planted))


def test_the_strongest_evidence_weighed_where_it_is_read_is_what_the_answer_shows(
    planted: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each colleague's strongest items, cut in the database, are the ones the reference shows."""
    monkeypatch.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 0)
    fewer = []
    for subject in ["topic:calib", "topic:export", "customer:hdjm"]:
        for shown in (1, 2):
            assert _kept(planted, subject, evidence_shown=shown) == _oracle(
                planted, subject, evidence_shown=shown
            )
        people = [e.employee_id for e in _oracle(planted, subject)]
        whole = planted.evidence_between(people, subject)
        cut = planted.evidence_between(people, subject, strongest=1, at=LATER.timestamp())
        assert {a for a in cut.acts} <= set(whole.acts)
        # weighed and cut in the database: one item each
        assert len(cut.items) == len({person for person, _, _ in cut.acts}) <= len(whole.items), subject
        fewer.append(len(cut.items) < len(whole.items))
    assert any(fewer)


def test_the_strongest_of_several_subjects_read_together_are_each_ones_own(planted: GraphStore) -> None:
    """Read at once (a question over every subject), each subject's strongest are those read alone.

    Where the store returns the items' names and first sources with them, they are the items' own.
    """
    subjects = ["topic:calib", "topic:export", "customer:hdjm", "topic:single"]
    asks = {s: [e.employee_id for e in _oracle(planted, s)][:3] for s in subjects}
    seen = planted.evidence_between(asks["topic:calib"], "topic:calib", strongest=2, at=LATER.timestamp())
    again = planted.get_entities(sorted(seen.items))  # also in an older note: that is its first source
    older = (prov("src:旧笔记 2025.txt", observed_at=datetime(2025, 1, 2, tzinfo=UTC)),)
    planted.write(Batch(entities=tuple(e.model_copy(update={"provenance": older}) for e in again.values())))
    together = planted.strongest_each(asks, strongest=2, at=LATER.timestamp())
    assert set(together) == set(subjects)
    assert any(together[s].acts for s in subjects)
    for subject, people in asks.items():
        alone = planted.evidence_between(people, subject, strongest=2, at=LATER.timestamp())
        assert together[subject] == alone, subject
        named = planted.get_entities(list(alone.items))
        for item, (name, source) in together[subject].shown.items():
            first = next((p.source_id for p in named[item].provenance), "")
            assert (name, source) == (named[item].name, first), item
            assert item not in again or source == "src:旧笔记 2025.txt"


def test_colleagues_whose_scores_round_alike_are_ranked_by_id_however_few_are_asked_for() -> None:
    """Scores shown alike (to four decimals) rank by id, also when only the first is asked for.

    ``log1p(1)`` and ``log1p(1.000004)`` both show as 0.6931: ``a`` comes before ``b``, although
    ``b``'s unrounded score is higher. The ranking of many colleagues picks its candidates from the
    unrounded scores first; it must keep those that rounding can still put first.
    """
    people = ("employee:b", "employee:a", "employee:c")
    known = KnownAbout(
        sums={p: Known(n=1, undated=u) for p, u in zip(people, (2.000008, 2.0, 1.0), strict=True)},
        people={p: {"name": p.upper()} for p in people},
        work=dict.fromkeys(people, 0),
    )
    options: dict[str, Any] = {"include_left": False, "evidence_shown": 0, "evidence_for": None}
    for limit in (1, 2, 3):
        nowhere = cast(GraphStore, None)  # nothing to read: no evidence is shown
        found = kept_experts_each(
            nowhere, {"topic:t": known}, now=LATER, limit=limit, min_strength=0.0, among=None, **options
        )["topic:t"]
        assert found is not None
        assert [e.employee_id for e in found] == ["employee:a", "employee:b", "employee:c"][:limit]
        assert [e.score for e in found] == [0.6931, 0.6931, 0.4055][:limit]
        assert found.total == 3
        assert counted(known, LATER, 0.0) == 3
        assert counted(known, LATER, 1.0) == 2


def test_the_knowledge_map_shows_each_subject_as_its_experts_answer_does(planted: GraphStore) -> None:
    """Every subject's holders and their evidence on the map, read together, equal the reference."""
    rows = knowledge_map(planted, now=NOW, half_life_days=KEPT_HALF_LIFE_DAYS, top=2)
    assert len(rows) >= 3
    for row in rows:
        reference = _oracle(
            planted,
            row["subject_id"],
            now=NOW,
            include_left=False,
            limit=200,
            evidence_shown=MAP_EVIDENCE,
            evidence_for=2,
            min_strength=KNOWLEDGEABLE,
        )
        assert row["holders_total"] == len(reference), row["subject_id"]
        assert [(h["employee_id"], [e["item_id"] for e in h["evidence"]]) for h in row["holders"]] == [
            (e.employee_id, [x.item_id for x in e.evidence]) for e in reference[:2]
        ], row["subject_id"]
        assert [[e["item_name"] for e in h["evidence"]] for h in row["holders"]] == [
            [x.item_name for x in e.evidence] for e in reference[:2]
        ]


def _strongest_in_python(facts: EvidenceFacts, subject: str, at: datetime, k: int) -> dict[str, list[str]]:
    """Each colleague's ``k`` strongest items, ranked as an answer ranks them (the reference)."""
    index = assemble(facts)
    rows = index.rows(subject)
    weight = np.round(decayed(index, rows, at, KEPT_HALF_LIFE_DAYS), 4)
    ranked: dict[str, list[tuple[float, str]]] = {}
    for person, item, w in zip(rows.person, rows.item, weight, strict=True):
        ranked.setdefault(index.people[person], []).append((-float(w), index.items[item]))
    return {person: [item for _, item in sorted(found)[:k]] for person, found in ranked.items()}


def _weighing(planted: GraphStore) -> list[str]:
    """Evidence of every kind about ``topic:weigh``, by two colleagues (who are returned)."""
    items = [
        _item(NodeKind.FEEDBACK, "w:resolved", "2030-12-01"),
        _item(NodeKind.KNOWLEDGE_ITEM, "w:authored", "2030-12-01"),
        entity("w:undated-doc", NodeKind.KNOWLEDGE_ITEM, "无日期 manual"),
        entity("w:undated-call", NodeKind.INTERACTION, "undated call", channel="call"),
        _item(NodeKind.INTERACTION, "w:visit", "2026-06-01", channel="visit"),
        _item(NodeKind.INTERACTION, "w:call", "2026-09-01", channel="call"),
        _item(NodeKind.INTERACTION, "w:later", "2030-06-01", channel="call"),
        _item(NodeKind.INTERACTION, "w:tie-b", "2026-09-01", channel="call"),
        _item(NodeKind.INTERACTION, "w:tie-a", "2026-09-01", channel="call"),
        _item(NodeKind.FEEDBACK, "w:escalated", "2029-01-01"),
    ]
    acts = [
        rel(RelType.RESOLVED, "employee:junior", "w:resolved"),
        rel(RelType.AUTHORED, "employee:junior", "w:authored"),
        rel(RelType.AUTHORED, "employee:junior", "w:undated-doc"),
        *(
            rel(RelType.PARTICIPATED_IN, "employee:junior", i)
            for i in ["w:undated-call", "w:visit", "w:call", "w:later", "w:tie-b", "w:tie-a"]
        ),
        rel(RelType.RESOLVED, "employee:junior", "w:later"),  # two acts on one item: the strongest counts
        rel(RelType.ESCALATED_TO, "w:escalated", "employee:junior"),
        rel(RelType.PARTICIPATED_IN, "employee:wang", "w:visit"),
        rel(RelType.RESOLVED, "employee:wang", "w:call"),
    ]
    planted.write(
        Batch(
            entities=(entity("topic:weigh", NodeKind.TOPIC, "称重 Weighing"), *items),
            relations=(*acts, *(rel(RelType.ABOUT, i.id, "topic:weigh") for i in items)),
        )
    )
    return ["employee:junior", "employee:wang"]


def _assert_cut_as_reference(store: GraphStore, people: list[str], subject: str) -> None:
    """Each colleague's ``k`` strongest, cut where they are read, equal the reference, for every ``k``."""
    whole = store.evidence_between(people, subject)
    days = [LATER, datetime(2027, 1, 1, tzinfo=UTC), datetime(2030, 7, 1, tzinfo=UTC)]
    for at in [*days, datetime(2026, 7, 1, tzinfo=UTC)]:  # the last: a day before dates written already
        for k in range(1, 12):
            cut = store.evidence_between(people, subject, strongest=k, at=at.timestamp())
            reference = _strongest_in_python(whole, subject, at, k)
            found = _strongest_in_python(cut, subject, at, k)
            assert found == reference, (at, k)
            assert sorted(cut.items) == sorted({i for items in reference.values() for i in items})


def test_each_rule_of_weighing_holds_where_the_strongest_are_read(
    planted: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kinds, meetings, decay, undated and not-yet-dated items, ties: the cut equals the reference."""
    monkeypatch.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 0)
    _assert_cut_as_reference(planted, _weighing(planted), "topic:weigh")


def test_items_whose_weights_round_alike_are_ranked_by_id_where_the_strongest_are_read(
    planted: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty calls a minute apart weigh the same to four decimals: the first by id are the strongest,
    though they are the oldest."""
    monkeypatch.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 0)
    calls = [
        _item(NodeKind.INTERACTION, f"r:{n:02d}", f"2026-11-30T10:{n:02d}:00", channel="call")
        for n in range(30)
    ]
    planted.write(
        Batch(
            entities=(entity("topic:round", NodeKind.TOPIC, "四舍五入 Rounding"), *calls),
            relations=(
                *(rel(RelType.PARTICIPATED_IN, "employee:junior", c.id) for c in calls),
                *(rel(RelType.ABOUT, c.id, "topic:round") for c in calls),
            ),
        )
    )
    _assert_cut_as_reference(planted, ["employee:junior"], "topic:round")
    cut = planted.evidence_between(["employee:junior"], "topic:round", strongest=3, at=LATER.timestamp())
    assert sorted(cut.items) == ["r:00", "r:01", "r:02"]


def test_the_strongest_follow_every_write_that_changes_them(
    planted: GraphStore, store_factory: Callable[..., GraphStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item no longer about the subject, one dated again, a call that became a visit, an act taken
    back, an item erased, a new one: written by another client, each cut still equals the reference."""
    monkeypatch.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 0)
    people = _weighing(planted)
    other = store_factory()
    changes = [
        Batch(delete_relations=(rel(RelType.ABOUT, "w:authored", "topic:weigh").id,)),
        Batch(entities=(_item(NodeKind.INTERACTION, "w:tie-b", "2030-11-30", channel="call"),)),
        Batch(entities=(_item(NodeKind.INTERACTION, "w:call", "2026-09-01", channel="visit"),)),
        Batch(delete_relations=(rel(RelType.RESOLVED, "employee:junior", "w:later").id,)),
        Batch(delete_entities=("w:resolved",)),
        Batch(
            entities=(entity("w:fresh", NodeKind.KNOWLEDGE_ITEM, "新 note", created_at="2030-12-31"),),
            relations=(
                rel(RelType.AUTHORED, "employee:wang", "w:fresh"),
                rel(RelType.ABOUT, "w:fresh", "topic:weigh"),
            ),
        ),
    ]
    for change in changes:
        other.write(change)
        _assert_cut_as_reference(planted, people, "topic:weigh")
    other.erase_entity("w:visit")
    _assert_cut_as_reference(planted, people, "topic:weigh")
    gone = planted.evidence_between(people, "topic:weigh", strongest=20, at=LATER.timestamp()).items
    assert not {"w:authored", "w:resolved", "w:visit"} & set(gone) and "w:fresh" in gone


def test_dates_written_oddly_are_weighed_as_python_reads_them_where_the_strongest_are_read(
    planted: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A date only Python reads (``20261201``), one only SQLite would (30 November rolled into December),
    a number: each colleague's strongest are still the reference's, with no margin at all."""
    monkeypatch.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 0)
    odd = {"o:basic": "20261201", "o:rolled": "2026-11-31", "o:hour": "2026-12-01T10", "o:number": 46000}
    items = [
        *(
            entity(i, NodeKind.KNOWLEDGE_ITEM, i, occurred_at=d, created_at="2020-01-01")
            for i, d in odd.items()
        ),
        *(_item(NodeKind.KNOWLEDGE_ITEM, f"o:plain{n}", f"2026-0{n}-01") for n in range(1, 7)),
    ]
    planted.write(
        Batch(
            entities=(entity("topic:odd", NodeKind.TOPIC, "日期 Dates"), *items),
            relations=(
                *(rel(RelType.AUTHORED, "employee:junior", i.id) for i in items),
                *(rel(RelType.ABOUT, i.id, "topic:odd") for i in items),
            ),
        )
    )
    whole = planted.evidence_between(["employee:junior"], "topic:odd")
    for at in [datetime(2026, 12, 6, tzinfo=UTC), LATER]:
        for k in range(1, 11):
            cut = planted.evidence_between(["employee:junior"], "topic:odd", strongest=k, at=at.timestamp())
            assert _strongest_in_python(cut, "topic:odd", at, k) == _strongest_in_python(
                whole, "topic:odd", at, k
            ), (at, k)


def test_a_colleagues_strongest_among_many_alike_are_the_first_by_id(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CRM sync of a day's visits gives one colleague dozens of pieces of one weight: the strongest
    shown are those with the first ids among them, as the reference ranks them, however many are cut."""
    monkeypatch.setattr("ckn.graph.expertise.STRONGEST_MARGIN", 0)
    visits = [_item(NodeKind.INTERACTION, f"visit:{n * 7 % 30:02d}", "2026-10-01") for n in range(30)]
    visits += [_item(NodeKind.INTERACTION, f"visit:day{n}", f"2026-09-{n + 10}") for n in range(3)]
    notes = [_item(NodeKind.KNOWLEDGE_ITEM, f"note:{n}", "2026-02-01") for n in range(3)]
    undated = [entity(f"memo:{n}", NodeKind.KNOWLEDGE_ITEM, f"memo {n}") for n in range(3)]
    people = [
        entity("employee:tian", NodeKind.EMPLOYEE, "田静"),
        entity("employee:bo", NodeKind.EMPLOYEE, "Bo"),
    ]
    topic = entity("topic:visits", NodeKind.TOPIC, "巡检 Site visits")
    links = [rel(RelType.PARTICIPATED_IN, "employee:tian", v.id) for v in visits]
    links += [rel(RelType.AUTHORED, "employee:tian", i.id) for i in (*notes, *undated)]
    links += [rel(RelType.RESOLVED, "employee:bo", v.id) for v in visits[::5]]
    links += [rel(RelType.ABOUT, i.id, topic.id) for i in (*visits, *notes, *undated)]
    store.write(Batch(entities=(*people, topic, *visits, *notes, *undated), relations=tuple(links)))
    for shown in (1, 4, 20, 40):
        for now in (LATER, datetime(2026, 10, 2, tzinfo=UTC)):
            kept = _kept(store, "topic:visits", evidence_shown=shown, now=now)
            assert kept == _oracle(store, "topic:visits", evidence_shown=shown, now=now), (shown, now)
    first = _kept(store, "topic:visits", evidence_shown=12, now=datetime(2026, 10, 2, tzinfo=UTC))
    assert first is not None
    tian = [e.item_id for e in next(e for e in first if e.employee_id == "employee:tian").evidence]
    that_day = [item for item in tian if item.startswith("visit:") and not item.startswith("visit:day")]
    assert 0 < len(that_day) < 30 and that_day == [f"visit:{n:02d}" for n in range(len(that_day))], tian
