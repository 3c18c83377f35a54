"""Referral cycles are listed the same by every process (not in an order hashing happens to give)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ckn.queries.referrals import cycles_among

LIST_CYCLES = """
import json, random, sys
from ckn.queries.referrals import cycles_among
pick = random.Random(5)
out = {f"customer:K{n:03d}": [f"customer:K{(n + s) % 300:03d}" for s in (1, 17)] for n in range(300)}
for n in range(300):
    out[f"customer:K{n:03d}"].append(f"customer:K{pick.randrange(300):03d}")
cycles, on_cycle = cycles_among(out, 20)
print(json.dumps([cycles, sorted(on_cycle)]))
"""


def test_every_process_lists_the_same_cycles_of_rings_within_rings() -> None:
    answers = set()
    for seed in ("1", "2", "3"):
        run = subprocess.run(
            [sys.executable, "-c", LIST_CYCLES],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        answers.add(run.stdout)
    assert len(answers) == 1
    cycles, on_cycle = json.loads(answers.pop())
    assert len(cycles) == 20 and len(on_cycle) == 300
    assert all(cycle == sorted(cycle) for cycle in cycles) and cycles == sorted(cycles)


def test_customers_on_no_cycle_are_left_out_and_a_self_referral_is_a_cycle() -> None:
    out = {"a": ["b"], "b": ["c"], "c": ["b"], "d": ["d", "a"], "e": []}
    assert cycles_among(out, 10) == ([["b", "c"], ["d"]], {"b", "c", "d"})
    assert cycles_among({}, 10) == ([], set())
