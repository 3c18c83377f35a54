"""Neo4j going away and coming back under load: 503 with Retry-After at once, readiness, recovery.

A TCP proxy stands between the API's store and the test server, so the test can cut the connection
(as a stopped server refuses it) or swallow it (as an unreachable one does), and restore it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from ckn.api.app import create_app
from ckn.api.demo import load_sample
from ckn.graph.neo4j_store import Neo4jStore
from ckn.graph.settings import Settings
from tests.conftest import Neo4jTarget

pytestmark = pytest.mark.trust


class Proxy:
    """Forwards a loopback port to the server; :meth:`cut` refuses, :meth:`swallow` hangs, :meth:`restore`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.accepted = 0
        self.forwarding = True
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        self.forwarding = True
        if self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Like a stopped server: open connections close, new ones are refused."""
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the accepting thread (close alone does not, on Linux)
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self._close_all()

    def swallow(self) -> None:
        """Like an unreachable server: open connections close, new ones are accepted and never answered."""
        self.forwarding = False
        self._close_all()

    def _close_all(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._sockets.append(client)
            if not self.forwarding:
                continue  # held open, never answered
            upstream = socket.create_connection(self.target)
            self._sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxied(neo4j_target: Neo4jTarget, tmp_path) -> Iterator[tuple[TestClient, Proxy]]:  # type: ignore[no-untyped-def]
    neo4j_target.wipe()
    address = urlparse(neo4j_target.uri)
    proxy = Proxy(address.hostname or "127.0.0.1", address.port or 7687)
    store = Neo4jStore(
        f"bolt://127.0.0.1:{proxy.port}", neo4j_target.user, neo4j_target.password, connect_timeout_s=1.0
    )
    load_sample(store, tmp_path / "quarantine")
    app = create_app(Settings(home=tmp_path / "home"), store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, proxy
    proxy.restore()
    store.close()


def _recovered(client: TestClient) -> bool:
    """Whether the API is ready within 30 s, with its first questions asked (see ``api.app._WarmUp``)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready = client.get("/readyz")
        if ready.status_code == 200 and "first questions" not in ready.json()["warming"]:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("outage", ["cut", "swallow"])
def test_neo4j_away_gives_503_at_once_and_the_api_recovers(proxied, outage: str) -> None:  # type: ignore[no-untyped-def]
    client, proxy = proxied
    assert client.get("/stats").status_code == 200 and _recovered(client)  # the warm-up's questions asked

    getattr(proxy, outage)()
    first = client.get("/customers/C101")
    tried = proxy.accepted
    with ThreadPoolExecutor(4) as pool:  # load while it is away
        during = list(pool.map(lambda _: client.get("/stats"), range(20)))
    ready = client.get("/readyz")

    assert first.status_code == 503 and first.headers["content-type"] == "application/problem+json"
    assert int(first.headers["retry-after"]) >= 1
    assert "bolt" not in first.text and "Traceback" not in first.text
    assert {r.status_code for r in during} == {503} and all(r.headers.get("retry-after") for r in during)
    assert proxy.accepted == tried  # the circuit is open: nobody waited on the server again
    assert ready.status_code == 503

    proxy.restore()
    assert _recovered(client)
    assert client.get("/customers/C101").status_code == 200
