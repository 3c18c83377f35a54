"""``ckn serve --workers N``: several processes answer alike, and see what another process ingests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from ckn.api.demo import load_sample
from ckn.graph.store import GraphStore
from tests.ingest.test_resume import CKN, _env

CUSTOMERS = "customer_id,name,kind,city\nC950,周晓梅,person,成都\n"


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_workers_answer_alike_and_see_another_process_ingest(
    store: GraphStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue("neo4j_target").uri if store.backend == "neo4j" else ""
    home = tmp_path / "store" if store.backend == "embedded" else tmp_path / "home"
    load_sample(store, home / "quarantine")
    env, port = _env(store, home, uri), _port()
    server = subprocess.Popen(
        [*CKN, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        stats = {httpx.get(f"{base}/stats", timeout=30).text for _ in range(12)}
        assert len(stats) == 1  # every worker answers alike

        extra = tmp_path / "extra"
        extra.mkdir()
        (extra / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
        ingest = subprocess.run(
            [*CKN, "ingest", str(extra)], env=env, capture_output=True, text=True, check=False
        )
        assert ingest.returncode == 0, ingest.stderr

        seen = [httpx.get(f"{base}/customers/C950", timeout=30).status_code for _ in range(12)]
        assert seen == [200] * 12  # whichever worker answers sees the new customer
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode()[-2000:]
