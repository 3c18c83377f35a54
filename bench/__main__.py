"""``python -m bench [--scale small] [--pairs 5] [--out bench/results]``: run the benchmarks.

Every figure is a ratio to a reference measured in the same run, subject and reference alternating
(A B A B ...) so that load on the shared machine hits both alike; medians are reported. Results go to
``bench/results/results.json`` and a Markdown table ``bench/results/results.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from bench.ingest_bench import run_ingest_benchmarks
from bench.query_bench import run_query_benchmarks


def main() -> int:
    """Run the benchmarks and write the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="small", help="tiny, small, medium or large generated bundle")
    parser.add_argument("--pairs", type=int, default=5, help="A/B pairs per measurement (at least 5)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run_ingest_benchmarks(args.scale, max(args.pairs, 5), args.out / "work")
    results["lines"] += run_query_benchmarks(args.out / "work" / f"bundle-{args.scale}", args.out / "work")
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform()}
    (args.out / "results.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    table = [
        "| benchmark | subject | reference | ratio | target | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for line in results["lines"]:
        table.append(
            f"| {line['name']} | {line['subject']} | {line['reference']} | {line['ratio']:.2f} "
            f"| {line['target']} | {'pass' if line['pass'] else 'MISS'} |"
        )
    (args.out / "results.md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
