"""The HTTP API over each store: answers, pagination, and problem+json for every error."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ckn.api import app as app_module
from ckn.api.answers import warm_up
from ckn.api.app import COLLECTOR_THRESHOLDS, create_app
from ckn.api.demo import load_sample
from ckn.graph.cache import Caches
from ckn.graph.model import Batch, NodeKind
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore
from ckn.ingest.nlp import TextAnalyzer
from tests.factories import customer, entity


@pytest.fixture
def client(store: GraphStore, tmp_path) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    load_sample(store, tmp_path / "quarantine")
    with TestClient(create_app(store=store), raise_server_exceptions=False) as client:
        yield client


def _is_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and "Traceback" not in response.text
    return body


def test_health_and_readiness(client: TestClient, store: GraphStore) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 60
    while (answer := client.get("/readyz")).status_code == 503 and time.monotonic() < deadline:
        assert _is_problem(answer, 503)["detail"] in {LOADING, WARMING}
        assert int(answer.headers["Retry-After"]) >= 1  # questions understood once it says ready
        time.sleep(0.1)
    ready = answer.json()
    assert (ready["status"], ready["store"]) == ("ready", store.backend)
    assert "question-understanding" not in ready["warming"]
    while ready["warming"] and time.monotonic() < deadline:  # the embedded store builds its view and index
        time.sleep(0.1)
        ready = client.get("/readyz").json()
    assert ready["warming"] == []


LOADING = "loading what questions are read with"
WARMING = "asking a first question of each kind, to warm the store"


def test_the_warm_up_asks_a_question_of_each_kind_a_user_asks_first(store: GraphStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    assert warm_up(store, settings) == []  # nothing to ask about yet
    load_sample(store, tmp_path / "quarantine")
    assert warm_up(store, settings) == ["experts", "who knows", "customer 360", "referral tree"]
    stopping = threading.Event()
    stopping.set()  # the app stops: no more questions
    assert warm_up(store, settings, stop=stopping) == []


def test_on_neo4j_ready_waits_for_the_warm_up_for_a_while_and_a_failed_one_serves_all_the_same(
    store: GraphStore, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Right after Neo4j starts, a first expert question takes seconds: a serving process asks one
    question of each kind before it says it is ready (for at most WARM_UP_WAIT_S). The embedded store
    builds what its answers are read from in the background instead, and does not wait."""
    load_sample(store, tmp_path / "quarantine")
    asked, asking = threading.Event(), threading.Event()

    def slow_warm_up(*_: object, **__: object) -> list[str]:
        asking.set()
        asked.wait(30)
        raise RuntimeError("the warm-up failed")

    monkeypatch.setattr(app_module, "warm_up", slow_warm_up)
    monkeypatch.setattr(app_module, "WARM_UP_WAIT_S", 2.0)
    with TestClient(create_app(store=store), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 30
        while (answer := client.get("/readyz")).status_code == 503 and time.monotonic() < deadline:
            if _is_problem(answer, 503)["detail"] == WARMING:
                break
            time.sleep(0.05)
        if store.answers_in_place:
            assert asking.wait(5) and _is_problem(answer, 503)["detail"] == WARMING
            while (answer := client.get("/readyz")).status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "first questions" in answer.json()["warming"]  # ready after a while, still asking
        else:
            assert answer.status_code == 200 and not asking.is_set()
        asked.set()
        while "first questions" in client.get("/readyz").json()["warming"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/readyz").status_code == 200
        assert client.get("/experts", params={"q": "X200 校准"}).json()["experts"]


def test_a_serving_app_runs_the_cycle_collector_less_often_and_gives_the_process_its_own_back(
    store: GraphStore,
) -> None:
    """Answers over every subject decode hundreds of thousands of objects: while it serves, the app
    collects the youngest every 50,000 allocations; once it stops, the process has its thresholds back."""
    before = gc.get_threshold()
    assert before != COLLECTOR_THRESHOLDS
    with TestClient(create_app(store=store)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    assert gc.get_threshold() == before


def test_not_ready_until_questions_can_be_understood_then_the_first_question_is_understood(
    store: GraphStore, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    load_sample(store, tmp_path / "quarantine")
    loading, built = threading.Event(), TextAnalyzer._build  # the names, where kept, come before
    monkeypatch.setattr(TextAnalyzer, "_build", lambda analyzer: loading.wait(30) and built(analyzer))
    with TestClient(create_app(store=store), raise_server_exceptions=False) as client:
        waiting = _is_problem(client.get("/readyz"), 503)
        loading.set()
        deadline = time.monotonic() + 30
        while (answer := client.get("/readyz")).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answer.status_code == 200 and answer.json()["status"] == "ready"
        assert client.get("/experts", params={"q": "X200 校准"}).json()["subjects"]
    assert waiting["detail"] == LOADING


def test_an_entity_comes_with_its_evidence(client: TestClient) -> None:
    body = client.get("/entities/customer:C101").json()
    assert body["name"] == "张伟"
    assert body["props"]["phones"] == ["+8613800138000"]
    sources = sorted(e["source_id"].split("@")[0] for e in body["provenance"])
    assert sources == ["source:contacts.vcf", "source:customers.csv", "source:hubspot_contacts.csv"]
    crm = next(e for e in body["provenance"] if e["source_id"].startswith("source:customers.csv"))
    assert crm["locator"] == "line 3" and crm["extractor"] == "ckn.customers"


def test_entities_are_paginated(client: TestClient) -> None:
    ids: list[str] = []
    after = ""
    for _ in range(10):
        page = client.get("/entities", params={"kind": "Customer", "limit": 4, "after": after}).json()
        ids += [e["id"] for e in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert len(ids) == 10 and ids == sorted(set(ids))
    assert "customer:C101" in ids


def test_neighbourhood_and_paths(client: TestClient) -> None:
    params = {"types": "REFERRED", "direction": "out", "depth": 3}
    sub = client.get("/entities/customer:C101/neighbourhood", params=params).json()
    assert sub["distances"] == {
        "customer:C101": 0,
        "customer:C102": 1,
        "customer:C103": 1,
        "customer:C105": 1,
        "customer:C106": 2,
    }
    types = ["KNOWS", "OWNS_ACCOUNT", "WORKS_AT"]
    paths = client.get(
        "/paths", params={"source": "employee:E04", "target": "customer:C101", "types": types}
    ).json()
    assert paths[0]["nodes"] == ["employee:E04", "employee:E03", "customer:C101"]
    assert [h["type"] for h in paths[0]["hops"]] == ["KNOWS", "OWNS_ACCOUNT"]


def test_holders_separate_documented_from_behavioural_evidence(client: TestClient) -> None:
    holders = {h["name"]: h for h in client.get("/holders/topic:calibration").json()}
    assert {name: h["tacit"] for name, h in holders.items()} == {
        "王芳": True,
        "Anna Schmidt": False,
        "李娜": False,
    }
    assert {e["item_id"] for e in holders["王芳"]["behavioural_evidence"]} == {
        "interaction:T-881",
        "interaction:T-902",
        "feedback:F-31",
    }
    assert holders["王芳"]["documented"] == 0
    anna = holders["Anna Schmidt"]
    assert [e["item_name"] for e in anna["documented_evidence"]] == ["X200 Setup & Calibration Guide"]
    assert anna["documented"] > 0 and anna["evidence_count"] >= 1


@pytest.mark.parametrize(
    ("url", "status", "title"),
    [
        ("/entities/customer:nobody", 404, "Not found"),
        ("/entities/customer:C101/neighbourhood?depth=50", 422, "Request exceeds a limit"),
        ("/entities/customer:C101/neighbourhood?types=DROP_ALL", 422, "Invalid request"),
        ("/entities/customer:C101/neighbourhood?depth=abc", 422, "Invalid request"),
        ("/entities?limit=100000", 422, "Request exceeds a limit"),
        ("/entities?kind=Customer)%20DETACH%20DELETE%20n", 422, "Invalid request"),
        ("/paths?source=employee:E04&target=customer:C101&max_depth=7", 422, "Request exceeds a limit"),
        ("/paths?source=employee:E04", 422, "Invalid request"),
        ("/no/such/route", 404, "HTTP error"),
    ],
)
def test_bad_requests_get_problem_json_never_a_500(
    client: TestClient, url: str, status: int, title: str
) -> None:
    assert _is_problem(client.get(url), status)["title"] == title


def test_an_unexpected_failure_is_a_500_problem_without_a_trace(store: GraphStore) -> None:
    class Broken:
        backend = "broken"
        answers_in_place = True
        caches = Caches()
        names = None

        def prepare(self) -> None:
            pass

        def ping(self) -> None:
            raise RuntimeError("disk on fire at /secret/path")

    with TestClient(create_app(store=Broken()), raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        body = _is_problem(client.get("/readyz"), 500)
    assert "secret" not in str(body)


def test_the_openapi_document_describes_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/readyz", "/entities/{entity_id}", "/paths", "/holders/{subject_id}"} <= set(
        spec["paths"]
    )


def test_the_review_list_over_http(client: TestClient, store: GraphStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ckn.ingest.pipeline import ingest_paths

    extra = tmp_path / "customers_new.csv"
    extra.write_text("customer_id,name,email\nN1,Maria Lopes,maria.lopes@gmail.example\n", encoding="utf-8")
    ingest_paths(store, [extra], quarantine_dir=tmp_path / "q")

    listed = client.get("/review").json()
    assert [(c["entity_id"], c["candidate_id"]) for c in listed] == [("customer:N1", "customer:C104")]
    decision = {"entity_id": "customer:N1", "candidate_id": "customer:C104"}
    assert client.post("/review/accept", json=decision).json()["kept"] == "customer:C104"
    assert client.get("/entities/customer:N1").status_code == 404
    assert client.post("/review/undo", json=decision).status_code == 200
    assert client.get("/entities/customer:N1").status_code == 200
    assert client.post("/review/reject", json={"entity_id": "x", "candidate_id": "y"}).status_code == 404


def test_experts_in_chinese_or_english_wording_give_the_same_answer(client: TestClient) -> None:
    chinese = client.get("/experts", params={"q": "校准"}).json()
    english = client.get("/experts", params={"q": "who knows calibration?"}).json()
    fuzzy = client.get("/experts", params={"q": "calibraton"}).json()  # a typo
    assert (
        chinese["subjects"]
        == english["subjects"]
        == fuzzy["subjects"]
        == [{"id": "topic:calibration", "name": "校准 Calibration", "kind": "Topic"}]
    )
    assert [e["employee_id"] for e in chinese["experts"]] == [e["employee_id"] for e in english["experts"]]
    top = chinese["experts"][0]
    assert top["name"] == "王芳"
    assert {"interaction:T-881", "interaction:T-902", "feedback:F-31"} <= {
        ev["item_id"] for ev in top["evidence"]
    }
    assert all(ev["source_id"].startswith("source:") for ev in top["evidence"])


def test_experts_on_a_product_and_a_customer(client: TestClient) -> None:
    answer = client.get("/experts", params={"product": "X200", "customer": "华东精密仪器有限公司"}).json()
    assert [s["id"] for s in answer["subjects"]] == ["product:X200", "customer:C100"]
    assert answer["experts"][0]["name"] == "李娜"  # owns the account, met them, wrote the visit note


def test_experts_for_something_unknown_is_a_problem(client: TestClient) -> None:
    body = _is_problem(client.get("/experts", params={"q": "qqqqxxxx"}), 422)
    assert "no product, topic or customer recognised" in body["detail"]


def test_knowledge_manager_answers_over_http(client: TestClient) -> None:
    tacit = client.get("/knowledge/tacit", params={"topic": "校准"}).json()
    assert tacit["subject"] == "topic:calibration"
    assert [t["name"] for t in tacit["tacit_holders"]] == ["王芳"]
    at_risk = client.get("/knowledge/bus-factor").json()["subjects"]
    assert {b["subject_id"] for b in at_risk} >= {"product:CS"}
    assert all(b["bus_factor"] == 1 for b in at_risk)
    one = client.get("/knowledge/bus-factor", params={"subject": "calibration"}).json()["subjects"][0]
    assert one["subject_id"] == "topic:calibration" and "employee:E01" in one["holders"]
    departure = client.get("/employees/employee:E03/departure-impact").json()
    assert "product:CS" in {loss["subject_id"] for loss in departure["uncovered"]}
    assert client.get("/employees/topic:calibration/departure-impact").status_code == 422


def test_marketing_answers_over_http(client: TestClient) -> None:
    down = client.get("/customers/customer:C101/referrals").json()
    assert [c["customer_id"] for c in down["tree"]["children"]] == [
        "customer:C102",
        "customer:C103",
        "customer:C105",
    ]
    assert down["tree"]["branch_customers"] == 4 and down["cycles"] == []
    up = client.get("/customers/customer:C106/referrals", params={"direction": "up"}).json()
    assert [c["customer_id"] for c in up["chain"]] == ["customer:C104"]
    assert client.get("/referrers", params={"top": 1}).json()[0]["customer_id"] == "customer:C101"
    stats = client.get("/referrals/stats").json()
    assert stats["referred"] == 4 and stats["cycles"] == []
    assert _is_problem(client.get("/customers/customer:C101/referrals", params={"depth": 9}), 422)
    assert _is_problem(
        client.get("/customers/customer:C101/referrals", params={"direction": "sideways"}), 422
    )


def test_the_customer_360_of_a_customer_from_several_sources_is_one_record(client: TestClient) -> None:
    d = client.get("/customers/customer:C101").json()
    assert d["identity"]["name"] == "张伟"
    assert [s.split("@")[0] for s in d["identity"]["sources"]] == [
        "source:contacts.vcf",
        "source:customers.csv",
        "source:hubspot_contacts.csv",
    ]
    assert d["identity"]["organization"] == [{"id": "customer:C100", "name": "华东精密仪器有限公司"}]
    assert d["channels"]["emails"] == ["zhang.wei@hdjm.cn", "zhangwei1985@example.cn"]
    assert d["behaviour"]["interactions"] == 2 and d["behaviour"]["last_interaction"].startswith("2026-11-05")
    assert [o["name"] for o in d["owners"]] == ["李娜"]
    assert d["completeness"] == {"score": 4, "of": 5, "missing": ["value"]}
    liu = client.get("/customers/customer:C102").json()
    assert (
        liu["needs"]["feedback"][0]["id"] == "feedback:F-31"
        and liu["needs"]["feedback"][0]["resolved"] is True
    )
    assert liu["open_complaints"] == []
    assert client.get("/customers/employee:E01").status_code == 422
    assert client.get("/customers/customer:nobody").status_code == 404


def test_search_finds_names_and_aliases_in_either_script(client: TestClient) -> None:
    assert client.get("/search", params={"q": "華東精密"}).json()[0]["id"] == "customer:C100"  # traditional
    assert client.get("/search", params={"q": "X-200 spectrometer"}).json()[0]["id"] == "product:X200"
    assert client.get("/search", params={"q": "calibraton"}).json()[0]["id"] == "topic:calibration"
    assert client.get("/search", params={"q": "qqqq zzzz"}).json() == []
    assert client.get("/search").status_code == 422


def test_who_knows_and_intro_over_http(client: TestClient) -> None:
    ranked = client.get("/customers/customer:C101/relationships").json()
    assert ranked[0]["employee_id"] == "employee:E03" and ranked[0]["owner"] is True
    intro = client.get(
        "/paths/intro", params={"employee_id": "employee:E04", "customer_id": "customer:C101"}
    ).json()
    assert intro[0]["names"][:2] == ["David Chen", "李娜"] and intro[0]["nodes"][-1] == "customer:C101"
    too_deep = {"employee_id": "employee:E04", "customer_id": "customer:C101", "max_depth": 8}
    assert _is_problem(client.get("/paths/intro", params=too_deep), 422)


def test_knowledge_map_and_gaps_over_http(client: TestClient) -> None:
    service = client.get("/knowledge/map", params={"department": "客户服务部"}).json()
    assert {h["name"] for row in service for h in row["holders"]} == {"王芳"}
    everyone = client.get("/knowledge/map").json()
    assert {"product:X200", "topic:calibration"} <= {row["subject_id"] for row in everyone}
    assert client.get("/knowledge/gaps").json() == []  # every asked-about topic has a document
    first = client.get("/knowledge/map", params={"top": 1}).json()
    assert all(len(row["holders"]) == 1 <= row["holders_total"] for row in first)
    assert _is_problem(client.get("/knowledge/map", params={"top": 0}), 422)


def test_departure_successors_include_colleagues_of_the_same_customers(client: TestClient) -> None:
    losses = {
        loss["subject_id"]: loss
        for loss in client.get("/employees/employee:E03/departure-impact").json()["uncovered"]
    }
    account = losses["customer:C100"]
    assert account["remaining_holders"] == []
    assert account["successors"][0] == {
        "employee_id": "employee:E01",
        "name": "王芳",
        "why": "works with the same customers",
        "score": 1.0,
    }


def test_network_analysis_over_http(client: TestClient) -> None:
    rank = client.get("/analysis/referral/pagerank", params={"reverse": True, "top": 1}).json()
    assert rank["ranking"][0]["id"] == "customer:C101" and "referrers collect it" in rank["measure"]
    brokers = client.get("/analysis/collaboration/brokers").json()
    assert brokers["ranking"][0]["name"] == "王芳"
    found = client.get("/analysis/knows/communities", params={"method": "louvain"}).json()
    assert found["nodes"] == sum(c["size"] for c in found["communities"])
    graphml = client.get("/analysis/referral/export", params={"format": "graphml"})
    assert graphml.headers["content-type"].startswith("application/xml") and "<graphml" in graphml.text
    assert _is_problem(client.get("/analysis/nonsense/pagerank"), 422)
    assert _is_problem(client.get("/analysis/referral/magic"), 422)


def test_ranked_answers_are_paged_with_limit_and_offset(client: TestClient) -> None:
    everyone = client.get("/experts", params={"q": "X200", "limit": 3}).json()["experts"]
    second = client.get("/experts", params={"q": "X200", "limit": 1, "offset": 1}).json()["experts"]
    assert second == everyone[1:2]
    referrers = client.get("/referrers", params={"top": 10}).json()
    assert client.get("/referrers", params={"top": 2, "offset": 2}).json() == referrers[2:4]
    assert _is_problem(client.get("/experts", params={"q": "X200", "limit": 999, "offset": 999}), 422)
    assert _is_problem(client.get("/referrers", params={"offset": -1}), 422)


def test_more_analysis_over_http(client: TestClient) -> None:
    suggested = client.get("/analysis/collaboration/suggestions", params={"top": 1}).json()
    assert suggested["suggestions"][0]["shared"]
    assert client.get("/analysis/referral/ambassadors", params={"top": 1}).json()["ambassadors"][0]["id"] == (
        "customer:C101"
    )
    assert client.get("/analysis/collaboration/departments").json()["silos"] == []
    around = client.get(
        "/analysis/referral/pagerank", params={"node": "customer:C105", "reverse": True}
    ).json()
    assert around["ranking"][0]["id"] == "customer:C105"


def test_ids_as_imported_and_names_are_understood(client: TestClient, store: GraphStore) -> None:
    by_crm_id = client.get("/customers/C101")
    by_name = client.get("/customers/张伟")
    departure = client.get("/employees/E01/departure-impact")
    entity = client.get("/entities/王芳")

    assert by_crm_id.status_code == 200 and by_crm_id.json()["identity"]["id"] == "customer:C101"
    assert by_name.status_code == 200 and by_name.json()["identity"]["id"] == "customer:C101"
    assert departure.status_code == 200 and departure.json()["employee_id"] == "employee:E01"
    assert entity.status_code == 200 and entity.json()["id"] == "employee:E01"
    _is_problem(client.get("/customers/Nobody%20At%20All"), 404)


def test_expert_questions_take_ids_as_imported(client: TestClient, store: GraphStore) -> None:
    asked = {  # "CS" and "C101" are no one's name: only the CRM export's ids
        "/experts?q=CS": ["product:CS"],
        "/experts?product=CS&customer=C101": ["product:CS", "customer:C101"],
        "/experts?topic=calibration": ["topic:calibration"],
    }
    for url, subjects in asked.items():
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text)
        assert [s["id"] for s in answer.json()["subjects"]] == subjects, url
    assert client.get("/knowledge/tacit", params={"topic": "CS"}).json()["subject"] == "product:CS"
    one = client.get("/knowledge/bus-factor", params={"subject": "C101"}).json()["subjects"]
    assert [b["subject_id"] for b in one] == ["customer:C101"]

    store.write(Batch(entities=(customer("customer:CS", "Cee Ess Ltd"),)))  # now a customer's id too
    both = _is_problem(client.get("/experts", params={"q": "CS"}), 409)
    assert {c["id"] for c in both["candidates"]} == {"product:CS", "customer:CS"}
    assert client.get("/experts", params={"product": "CS"}).json()["subjects"][0]["id"] == "product:CS"
    _is_problem(client.get("/knowledge/tacit", params={"topic": "CS"}), 409)  # neither is a topic

    store.write(Batch(entities=(entity("topic:t9", NodeKind.TOPIC, "C101"),)))  # a topic called "C101"
    named = _is_problem(client.get("/experts", params={"q": "C101"}), 409)
    assert {c["id"] for c in named["candidates"]} == {"customer:C101", "topic:t9"}


def test_a_name_several_customers_share_lists_them(client: TestClient, store: GraphStore) -> None:
    twins = [customer("customer:LQ1", "李强 Li Qiang"), customer("customer:LQ2", "李强 Li Qiang")]
    store.write(Batch(entities=tuple(twins)))

    body = _is_problem(client.get("/customers/李强 Li Qiang"), 409)

    assert {c["id"] for c in body["candidates"]} == {"customer:LQ1", "customer:LQ2"}
    assert "customer:LQ1" in body["detail"]


def test_every_operation_declares_the_schema_of_its_answer(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    untyped = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
            declared = "$ref" in schema or schema.get("items", {}).get("$ref") or schema.get("properties")
            if not declared:
                untyped.append(f"{method.upper()} {path}")
    assert untyped == []


@pytest.mark.parametrize(
    "url",
    [
        "/experts?q=calibration",
        "/knowledge/tacit",
        "/knowledge/bus-factor",
        "/employees/E01/departure-impact",
        "/customers/C101/referrals",
        "/customers/C102/referrals?direction=up",
        "/referrers",
        "/referrals/stats",
        "/customers/C101",
        "/search?q=张伟",
        "/customers/C101/relationships",
        "/paths/intro?employee_id=E01&customer_id=C101",
        "/knowledge/map",
        "/knowledge/gaps",
        "/analysis/referral/pagerank",
        "/analysis/collaboration/communities",
        "/review",
    ],
)
def test_real_answers_match_their_declared_schema(client: TestClient, url: str) -> None:
    answer = client.get(url)  # the app validates each answer against its model: a mismatch is a 500
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
