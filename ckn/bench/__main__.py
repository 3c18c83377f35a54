"""``python -m ckn.bench [--scale small] [--pairs 5] [--out bench/results] [--only PART ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ckn.bench.run import PARTS, run, table


def main() -> int:
    """Run the benchmarks and print the table."""
    parser = argparse.ArgumentParser(description="ckn benchmarks: ratios to same-run references.")
    parser.add_argument("--scale", default="small", help="tiny, small, medium or large generated bundle")
    parser.add_argument("--pairs", type=int, default=5, help="A/B pairs per measurement (at least 5)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--only", nargs="*", choices=PARTS, default=list(PARTS), help="parts to run")
    args = parser.parse_args()
    results = run(args.scale, max(args.pairs, 5), args.out, tuple(args.only))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
