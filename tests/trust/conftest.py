"""The trust battery's API: the sample, a seeded canary customer, and a key for every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ckn.api.app import create_app
from ckn.api.auth import ROLES, Keys
from ckn.api.demo import load_sample
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore, Stats
from ckn.ingest.pipeline import ingest_paths

CANARY_NAME, CANARY_EMAIL, CANARY_PHONE = "Zebulon Quixley", "zebulon.quixley@canary.example", "13555550199"
CUSTOMERS = f"""customer_id,name,kind,organization_id,email,phone,city,segment,owner_employee_id,referred_by
C900,{CANARY_NAME},person,C100,{CANARY_EMAIL},+86 135-5555-0199,上海,SMB,E03,C101
"""
NOTES = f"回电 135 5555 0199 或 {CANARY_EMAIL.upper()}"
INTERACTIONS = (
    "interaction_id,occurred_at,channel,direction,employee_id,customer_id,product_id,subject,notes\n"
    f'I900,2026-11-20 10:00,call,inbound,E03,C900,X200,X200 报价,"{NOTES}"\n'
)


@dataclass
class Trusted:
    """The API under test, its store, and a key per role."""

    client: TestClient
    store: GraphStore
    tokens: dict[str, str]

    def headers(self, role: str | None) -> dict[str, str]:
        """The headers of a request as ``role`` (None: without a key)."""
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def state(self) -> Stats:
        """What the graph holds (counts and version: any write changes it)."""
        return self.store.stats()


@pytest.fixture
def trusted(store: GraphStore, tmp_path: Path) -> Iterator[Trusted]:
    home = tmp_path / "home"
    load_sample(store, home / "quarantine")
    seed = tmp_path / "canary"
    seed.mkdir()
    (seed / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (seed / "interactions.csv").write_text(INTERACTIONS, encoding="utf-8")
    report = ingest_paths(store, [seed], quarantine_dir=home / "quarantine")
    assert report.quarantined == 0 and store.get_entity("customer:C900") is not None
    keys = Keys(home)
    tokens = {role: keys.create(f"{role} 测试", role)[1] for role in ROLES}
    settings = Settings(home=home, rate_limit_per_minute=1_000_000)
    with TestClient(create_app(settings, store=store), raise_server_exceptions=False) as client:
        yield Trusted(client, store, tokens)
