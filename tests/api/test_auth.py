"""Who may call what: API keys, roles, the policy table, and the server's refusal to serve open."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ckn.api.app import create_app
from ckn.api.auth import POLICY, Keys, RateLimits, check_exposure
from ckn.api.demo import load_sample
from ckn.api.web import PAGES
from ckn.graph.errors import ConfigError, InvalidInput, RateLimited
from ckn.graph.settings import Settings
from ckn.graph.shared import Taken
from ckn.graph.store import GraphStore

pytestmark = pytest.mark.trust


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def client(store: GraphStore, home: Path, tmp_path: Path) -> Iterator[TestClient]:
    load_sample(store, tmp_path / "quarantine")
    with TestClient(create_app(Settings(home=home), store=store), raise_server_exceptions=False) as client:
        yield client


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_operation_is_in_the_policy_table(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops}
    assert operations == set(POLICY) - PAGES


def test_once_a_key_exists_each_role_calls_what_the_table_allows(
    client: TestClient, store: GraphStore, home: Path
) -> None:
    keys = Keys(home)
    _, viewer = keys.create("看板 dashboard", "viewer")
    _, sales = keys.create("王芳", "sales")
    _, manager = keys.create("Li Na", "knowledge_manager")
    entities = store.stats().total_entities

    anonymous = client.get("/customers/C101")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
    assert client.get("/healthz").status_code == 200
    assert client.get("/customers/C101", headers=_as(viewer)).status_code == 403
    assert client.get("/knowledge/map", headers=_as(viewer)).status_code == 200
    assert client.get("/customers/C101", headers=_as(sales)).status_code == 200
    assert client.delete("/sources/source:x", headers=_as(sales)).status_code == 403
    assert client.delete("/sources/source:x", headers={"X-API-Key": manager}).status_code == 200
    assert client.get("/customers/C101", headers=_as(sales + "x")).status_code == 401
    assert store.stats().total_entities == entities  # nothing the refused calls asked for happened


def test_a_revoked_key_is_refused_and_no_secret_is_kept(client: TestClient, home: Path) -> None:
    keys = Keys(home)
    key, token = keys.create("ops", "admin")
    keys.create("other", "viewer")  # keeps authentication on after the revocation
    assert client.get("/stats", headers=_as(token)).status_code == 200

    keys.revoke(key.id)

    assert client.get("/stats", headers=_as(token)).status_code == 401
    assert token.split("_", 2)[2] not in (home / "keys.json").read_text(encoding="utf-8")


def test_the_server_refuses_to_serve_open_beyond_loopback(home: Path) -> None:
    keys = Keys(home)
    check_exposure("127.0.0.1", keys, insecure_no_auth=False)  # a single user's machine: fine
    with pytest.raises(InvalidInput, match="without authentication"):
        check_exposure("0.0.0.0", keys, insecure_no_auth=False)
    check_exposure("0.0.0.0", keys, insecure_no_auth=True)
    keys.create("ops", "admin")
    check_exposure("0.0.0.0", keys, insecure_no_auth=False)


def test_a_key_over_its_rate_gets_429_with_retry_after(store: GraphStore, home: Path, tmp_path: Path) -> None:
    load_sample(store, tmp_path / "quarantine")
    _, token = Keys(home).create("批量脚本 batch script", "sales")
    _, other = Keys(home).create("王芳", "sales")
    app = create_app(Settings(home=home, rate_limit_per_minute=3), store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = [client.get("/stats", headers=_as(token)).status_code for _ in range(4)]
        limited = client.get("/stats", headers=_as(token))
        elsewhere = client.get("/stats", headers=_as(other))

    assert answers[:3] == [200, 200, 200] and 429 in answers[3:] and limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert elsewhere.status_code == 200  # each key has its own share


def test_replicas_share_each_caller_s_rate(store_factory: Callable[..., GraphStore], home: Path) -> None:
    first, second = store_factory(), store_factory()  # two API processes of one store
    _, token = Keys(home).create("批量脚本 batch script", "sales")
    _, other = Keys(home).create("王芳", "sales")
    settings = Settings(home=home, rate_limit_per_minute=4)  # one more every 15 s
    with (
        TestClient(create_app(settings, store=first), raise_server_exceptions=False) as one,
        TestClient(create_app(settings, store=second), raise_server_exceptions=False) as two,
    ):
        started = time.monotonic()
        answers = [(one, two)[i % 2].get("/stats", headers=_as(token)) for i in range(8)]
        anonymous = [(one, two)[i % 2].get("/stats").status_code for i in range(8)]
        refilled = int((time.monotonic() - started) / 15)
        elsewhere = two.get("/stats", headers=_as(other))

    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4 and 4 <= statuses.count(200) <= 4 + refilled
    limited = answers[-1]
    assert limited.status_code == 429 and limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 15
    assert anonymous[:4] == [401] * 4 and anonymous.count(401) <= 4 + refilled and anonymous[-1] == 429
    assert elsewhere.status_code == 200  # each key has its own share
    if first.backend == "embedded":  # neither a caller's address nor a key's name is stored as such
        kept = b"".join(p.read_bytes() for p in first.home.glob("shared.sqlite*"))  # type: ignore[attr-defined]
        assert b"address" not in kept and b"testclient" not in kept and "批量".encode() not in kept


def test_replicas_taking_requests_ahead_let_through_no_more_than_the_limit(
    store_factory: Callable[..., GraphStore], home: Path
) -> None:
    first, second = store_factory(), store_factory()
    _, token = Keys(home).create("sync job", "sales")
    settings = Settings(home=home, rate_limit_per_minute=120)  # two a second: each takes two at a time
    with (
        TestClient(create_app(settings, store=first), raise_server_exceptions=False) as one,
        TestClient(create_app(settings, store=second), raise_server_exceptions=False) as two,
    ):
        started = time.monotonic()
        statuses = [(one, two)[i % 3 == 0].get("/stats", headers=_as(token)).status_code for i in range(150)]
        refilled = 2 * (time.monotonic() - started)

    assert 110 <= statuses.count(200) <= 120 + refilled
    assert statuses[-5:].count(429) >= 5 - math.ceil(refilled)  # refused once spent, bar what refilled


def test_concurrent_requests_of_one_key_ask_the_store_once_a_lease(store: GraphStore, home: Path) -> None:
    asked: list[int] = []

    class Counted:  # the store, counting how often it is asked
        def take_requests(self, bucket: str, want: int, per_minute: int) -> Taken:
            asked.append(want)
            return store.take_requests(bucket, want, per_minute)

    limits = RateLimits(600, home)  # ten a second: ten at a time

    def client() -> None:
        for _ in range(5):
            limits.take(Counted(), "key:k1")  # type: ignore[arg-type]

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limits.close()  # the lease taken ahead, if any, before the store closes

    assert asked[0] == 10 and len(asked) <= 5  # 40 requests: four leases (five, if one ran out of time)


def test_a_busy_key_takes_its_next_lease_ahead_and_its_requests_do_not_wait_for_the_store(
    store: GraphStore, home: Path
) -> None:
    """At ten a second or more, half through a lease the next is taken in the background: a request
    asks the store itself only when it has nothing taken (the first, here). Never more than the limit."""
    asking: list[str] = []

    class Counted:  # the store, noting which thread asks it
        def take_requests(self, bucket: str, want: int, per_minute: int) -> Taken:
            asking.append(threading.current_thread().name)
            return store.take_requests(bucket, want, per_minute)

    limits = RateLimits(600, home)
    for _ in range(34):  # a lease of ten, then three more taken ahead as each is half spent
        limits.take(Counted(), "key:sync")  # type: ignore[arg-type]
    limits.close()  # the leases being taken ahead, taken
    assert asking[0] == threading.current_thread().name and len(asking) == 4
    assert set(asking[1:]) == {"ckn-rate-ahead"}
    slow = RateLimits(180, home)  # three a second: taken when it runs out, never ahead
    for _ in range(7):
        slow.take(Counted(), "key:slow")  # type: ignore[arg-type]
    assert asking[4:] == [threading.current_thread().name] * 3
    with pytest.raises(RateLimited):  # no more than the key's minute, and what came back meanwhile
        for _ in range(700):
            limits.take(Counted(), "key:sync")  # type: ignore[arg-type]
    limits.close()


def test_a_home_that_cannot_keep_the_rate_secret_is_refused_at_start(
    tmp_path: Path, store: GraphStore
) -> None:
    home = tmp_path / "home"
    home.write_text("a file, not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rates\.secret"):
        create_app(Settings(home=home), store=store)


def test_me_says_who_a_key_is_and_what_its_role_may_call(client: TestClient, home: Path) -> None:
    opened = client.get("/me").json()
    assert opened["open"] is True and "POST /ingest" in opened["allowed"]
    _, sales = Keys(home).create("销售 desk", "sales")
    anonymous = client.get("/me").json()
    public = sorted(op for op, roles in POLICY.items() if not roles)
    assert anonymous == {"open": False, "who": None, "role": None, "allowed": public}
    mine = client.get("/me", headers={"Authorization": f"Bearer {sales}"}).json()
    assert mine["role"] == "sales" and "GET /experts" in mine["allowed"]
    assert "POST /ingest" not in mine["allowed"]
    refused = client.get("/me", headers={"Authorization": "Bearer ckn_not-a-key"})
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
