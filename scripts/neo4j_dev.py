#!/usr/bin/env python3
"""A real Neo4j Community 5.26 for development, tests and CI, without Docker.

Resolves Neo4j (embedded, with the Bolt connector) from Maven Central with the machine's Maven
(``scripts/neo4j/pom.xml``), compiles the tiny launcher ``scripts/neo4j/CknNeo4j.java`` with Java 17,
starts it on a free port of 127.0.0.1 with its data in a temporary directory, and waits until it
answers. Small by design: 1 GB heap, 256 MB page cache.

    python scripts/neo4j_dev.py start            # prints the CKN_* variables to export, runs until ^C
    python scripts/neo4j_dev.py classpath        # only resolve and compile (CI warms the cache)

Tests use :func:`start` / :meth:`Server.stop` directly (``tests/conftest.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "neo4j"
CACHE = Path(os.environ.get("CKN_DEV_CACHE_DIR", Path.home() / ".cache" / "ckn-neo4j-dev"))
PASSWORD = "ckn-test-password"  # noqa: S105 - a throwaway server on loopback


class Neo4jUnavailable(RuntimeError):
    """Java or Maven is missing, or the server did not start."""


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise Neo4jUnavailable(f"{tool} is not installed; the Neo4j test server needs Java 17 and Maven")
    return path


def build() -> tuple[Path, str]:
    """Resolve the class path and compile the launcher (cached by the hash of pom + source)."""
    digest = hashlib.sha256()
    for name in ("pom.xml", "CknNeo4j.java"):
        digest.update((HERE / name).read_bytes())
    out = CACHE / digest.hexdigest()[:16]
    classpath_file = out / "classpath.txt"
    if not (out / "CknNeo4j.class").exists():
        out.mkdir(parents=True, exist_ok=True)
        mvn, javac = _need("mvn"), _need("javac")
        _need("java")
        print("resolving Neo4j from Maven Central (first time only) ...", file=sys.stderr)
        subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(HERE / "pom.xml"),
                "dependency:build-classpath",
                f"-Dmdep.outputFile={classpath_file}",
            ],
            check=True,
        )
        subprocess.run(
            [javac, "-d", str(out), "-cp", classpath_file.read_text().strip(), str(HERE / "CknNeo4j.java")],
            check=True,
        )
    return out, classpath_file.read_text().strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running Neo4j test server."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path

    @property
    def uri(self) -> str:
        """Bolt URI of the server."""
        return f"bolt://127.0.0.1:{self.port}"

    password: str = PASSWORD
    user: str = "neo4j"

    def stop(self) -> None:
        """Shut the server down cleanly (SIGTERM, then SIGKILL after 60 s) and remove its data."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


RELATIONSHIP_GROUPING = 10
"""``db.relationship_grouping_threshold``, as in ``docker-compose.yml``: a node with this many
relationships keeps them apart by type and direction (Neo4j's default is 50), so a walk along one type
(the referrals of customers, who have a few dozen relationships of other types) reads only those."""


def start(*, heap: str = "1g", page_cache_mb: int = 256, timeout_s: float = 180.0) -> Server:
    """Start a server on a free loopback port and wait until Bolt accepts connections."""
    classes, classpath = build()
    java = _need("java")
    data_dir = Path(tempfile.mkdtemp(prefix="ckn-neo4j-"))
    log_path = data_dir / "server.log"
    port = _free_port()
    with log_path.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [
                java,
                f"-Xmx{heap}",
                f"-Xms{heap}",
                # the throughput collector: in bulk writes it spends about a sixth less CPU than G1
                # (the default), which on a shared two-core machine is time the tests get back
                "-XX:+UseParallelGC",
                "-cp",
                f"{classes}{os.pathsep}{classpath}",
                "CknNeo4j",
                str(data_dir / "db"),
                str(port),
                PASSWORD,
                str(page_cache_mb),
                str(RELATIONSHIP_GROUPING),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(process=process, port=port, data_dir=data_dir, log_path=log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise Neo4jUnavailable(f"Neo4j exited with {process.returncode}:\n{tail}")
        if b"CKN_NEO4J_READY" in log_path.read_bytes():
            return server
        time.sleep(0.5)
    server.stop()
    raise Neo4jUnavailable(f"Neo4j did not answer within {timeout_s:.0f} s")


def wipe(driver: Any) -> None:
    """Empty a database (a ``neo4j.Driver``'s) but for ckn's schema marker, so migrations need not run again.

    Relationships first, in batches: a hub's relationships deleted with it overflow a 1 GB heap.
    """
    with driver.session() as session:
        session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS").consume()
        session.run(
            "MATCH (n) WHERE NOT (n:CknMeta AND n.key = 'schema') "
            "CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


def main() -> int:
    """Command line: ``start`` (foreground until ^C) or ``classpath`` (resolve and compile only)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["start", "classpath"])
    args = parser.parse_args()
    if args.command == "classpath":
        classes, _ = build()
        print(classes)
        return 0
    server = start()
    print(f"export CKN_STORE=neo4j CKN_NEO4J_URI={server.uri} CKN_NEO4J_PASSWORD={server.password}")
    print("Neo4j is running; press ^C to stop it.", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
