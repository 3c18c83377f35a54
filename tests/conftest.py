"""Fixtures shared by every test: the two real stores, and a per-store tally of results.

The Neo4j server is real (``scripts/neo4j_dev.py``), started once per test session. Without Java or
Maven the Neo4j tests skip with the reason, except under CI (``CI=true``), where they must run: a
server that cannot start is an error, and a run in which no Neo4j test passed fails.
``NEO4J_TEST_URI`` / ``NEO4J_TEST_PASSWORD`` point the tests at a server you run yourself instead
(for example the one of ``docker compose up``); its ``neo4j`` database is wiped.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ckn.graph.embedded_store import EmbeddedStore
from ckn.graph.store import GraphStore, Limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import neo4j_dev  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
STORES = ["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)]
TEST_LIMITS = Limits(max_depth=6, max_page=1000, max_expansion=100_000, max_paths=5_000)


class Neo4jTarget:
    """Where the test Neo4j is, and how to wipe it."""

    def __init__(self, uri: str, user: str, password: str) -> None:
        self.uri, self.user, self.password = uri, user, password

    def wipe(self) -> None:
        """Delete every node except the schema marker (so migrations need not run again)."""
        import neo4j

        with neo4j.GraphDatabase.driver(self.uri, auth=(self.user, self.password)) as driver:
            neo4j_dev.wipe(driver)

    def open(self, limits: Limits = TEST_LIMITS) -> GraphStore:
        """A store on the test server."""
        from ckn.graph.neo4j_store import Neo4jStore

        return Neo4jStore(self.uri, self.user, self.password, timeout_s=120, limits=limits)


@pytest.fixture(scope="session")
def neo4j_target() -> Iterator[Neo4jTarget]:
    """The test Neo4j server: yours (NEO4J_TEST_URI), or one started from Maven artifacts."""
    if os.environ.get("NEO4J_TEST_URI"):
        yield Neo4jTarget(
            os.environ["NEO4J_TEST_URI"],
            os.environ.get("NEO4J_TEST_USER", "neo4j"),
            os.environ.get("NEO4J_TEST_PASSWORD", ""),
        )
        return
    try:
        server = neo4j_dev.start()
    except neo4j_dev.Neo4jUnavailable as exc:
        if IN_CI:
            pytest.fail(f"Neo4j must run under CI but cannot start: {exc}", pytrace=False)
        pytest.skip(f"Neo4j test server unavailable: {exc}")
    try:
        yield Neo4jTarget(server.uri, server.user, server.password)
    finally:
        server.stop()


@pytest.fixture(params=STORES)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., GraphStore]]:
    """Opens stores on one fresh, empty database of the parametrised backend (call it again for a
    second client of the same database, as another process would be)."""
    opened: list[GraphStore] = []
    if request.param == "neo4j":
        target: Neo4jTarget = request.getfixturevalue("neo4j_target")
        target.wipe()

        def factory(limits: Limits = TEST_LIMITS) -> GraphStore:
            opened.append(target.open(limits))
            return opened[-1]
    else:

        def factory(limits: Limits = TEST_LIMITS) -> GraphStore:
            opened.append(EmbeddedStore(tmp_path / "store", limits=limits))
            return opened[-1]

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: Callable[..., GraphStore]) -> GraphStore:
    """An empty store of each backend."""
    return store_factory()


# -- per-store tally, printed at the end and enforced under CI -----------------------------------

_tally: dict[str, Counter[str]] = {"embedded": Counter(), "neo4j": Counter()}


def _backend_of(item_id: str) -> str | None:
    for backend in _tally:
        if f"[{backend}" in item_id or f"-{backend}]" in item_id or f"-{backend}-" in item_id:
            return backend
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each parametrised test's outcome under its store."""
    backend = _backend_of(report.nodeid)
    if backend is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _tally[backend][report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many tests passed, failed and were skipped on each store."""
    terminalreporter.section("results per store")
    for backend, counts in _tally.items():
        terminalreporter.write_line(
            f"store {backend}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, a run where the Neo4j tests did not run is a failure, whatever else passed."""
    selected_neo4j = any(_backend_of(i.nodeid) == "neo4j" for i in session.items)
    if IN_CI and selected_neo4j and _tally["neo4j"]["passed"] == 0 and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
