"""Bearer tokens of an identity provider: JWTs checked against its JWKS (keys made by the test)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from ckn.api.app import create_app
from ckn.api.auth import Keys, check_exposure
from ckn.api.demo import load_sample
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore

pytestmark = pytest.mark.trust

ISSUER, AUDIENCE = "https://login.example.cn/realms/ckn", "ckn-api"


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[Any, str]]:
    """An identity provider: a signing key, and its public half served as a JWKS on loopback."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [public | {"kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()
    server.server_close()


def _token(key: Any, **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1024", "exp": int(time.time()) + 300} | claims
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def client(store: GraphStore, tmp_path: Path, provider: tuple[Any, str]) -> Iterator[TestClient]:
    load_sample(store, tmp_path / "quarantine")
    settings = Settings(
        home=tmp_path / "home", jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_url=provider[1]
    )
    with TestClient(create_app(settings, store=store), raise_server_exceptions=False) as client:
        yield client


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_of_the_provider_carries_its_role(client: TestClient, provider: tuple[Any, str]) -> None:
    key, _ = provider
    sales = _token(key, ckn_role="sales")
    marketing = _token(key, ckn_role=["offline_access", "marketing"])

    assert client.get("/customers/C101").status_code == 401  # a provider is set: the API is closed
    assert client.get("/customers/C101", headers=_as(sales)).status_code == 200
    shown = client.get("/customers/C101", headers=_as(marketing)).json()
    assert shown["channels"]["emails"] == []  # masked for marketing
    assert client.delete("/sources/source:x", headers=_as(sales)).status_code == 403


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 60},
        {"aud": "another-api"},
        {"iss": "https://evil.example"},
    ],
    ids=["expired", "audience", "issuer"],
)
def test_a_token_that_is_not_valid_is_refused(
    client: TestClient, provider: tuple[Any, str], claims: dict[str, Any]
) -> None:
    answer = client.get("/stats", headers=_as(_token(provider[0], ckn_role="admin", **claims)))
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


def test_a_token_signed_by_another_key_or_without_a_role_is_refused(
    client: TestClient, provider: tuple[Any, str]
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert client.get("/stats", headers=_as(_token(stranger, ckn_role="admin"))).status_code == 401
    assert client.get("/stats", headers=_as(_token(provider[0], ckn_role="owner"))).status_code == 403
    assert client.get("/stats", headers=_as(_token(provider[0], ckn_role=7))).status_code == 403


def test_a_provider_counts_as_authentication_for_serving_beyond_loopback(tmp_path: Path) -> None:
    check_exposure("0.0.0.0", Keys(tmp_path), insecure_no_auth=False, tokens=True)
