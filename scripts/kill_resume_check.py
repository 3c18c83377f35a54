#!/usr/bin/env python3
"""Check the resume guarantee at scale.

N random ``kill -9`` during an ingest of R rows, each followed by the same command, must give the
graph and the quarantine of one uninterrupted run.

    .venv/bin/python scripts/kill_resume_check.py --rows 100000 --kills 20

Uses the embedded store in a temporary directory and ``ckn ingest`` as a user runs it. Prints what it
compared and exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ckn.graph.embedded_store import EmbeddedStore  # noqa: E402
from tests.ingest.test_resume import _bundle  # noqa: E402

CKN = [sys.executable, "-c", "from ckn.api.cli import main; main()"]


def _snapshot(home: Path) -> tuple[int, int, list[str]]:
    store = EmbeddedStore(home)
    try:
        graph = store.project()
        nodes = sorted(graph.nodes(data=True), key=lambda n: n[0])
        edges = sorted(graph.edges(keys=True))
        digest = hash((repr(nodes), repr(edges)))
    finally:
        store.close()
    quarantine = sorted(
        line
        for f in (home / "quarantine").glob("*.jsonl")
        for line in f.read_text(encoding="utf-8").splitlines()
    )
    return digest, len(edges), quarantine


def main() -> int:
    """Run the check."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="customers, and as many interactions")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ckn-kill-"))
    print(f"working in {work}")
    bundle = work / "bundle"
    _bundle(bundle, args.rows // 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CKN_")}

    def ingest(home: Path) -> subprocess.Popen[bytes]:
        run_env = {**env, "CKN_HOME": str(home), "CKN_BATCH_SIZE": "500"}
        cmd = [*CKN, "ingest", str(bundle), "--quarantine-dir", str(home / "quarantine")]
        return subprocess.Popen(cmd, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    started = time.perf_counter()
    ingest(work / "reference").wait()
    once = time.perf_counter() - started
    print(f"uninterrupted ingest of {args.rows:,} rows: {once:.1f} s")
    expected = _snapshot(work / "reference")

    rng = random.Random(args.seed)
    kills = 0
    while kills < args.kills:
        proc = ingest(work / "killed")
        time.sleep(rng.uniform(1.0, max(1.1, once / 3)))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    final = ingest(work / "killed")
    final.wait()
    got = _snapshot(work / "killed")
    same = got == expected
    print(
        f"{kills} kills; graph {'identical' if got[:2] == expected[:2] else 'DIFFERENT'} "
        f"({expected[1]:,} relationships); quarantine {len(got[2])} rows, "
        f"{'identical' if got[2] == expected[2] else 'DIFFERENT'}"
    )
    return 0 if same and kills == args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
