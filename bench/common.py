"""What every benchmark shares: alternating measurement, timing, memory, and the result line."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def alternate(
    subject: Callable[[], float], reference: Callable[[], float], pairs: int
) -> tuple[float, float]:
    """Median seconds of subject and reference, measured A B A B ... so load hits both alike."""
    a, b = [], []
    for _ in range(pairs):
        a.append(subject())
        b.append(reference())
    return statistics.median(a), statistics.median(b)


def timed(action: Callable[[], Any]) -> float:
    """Seconds ``action`` takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def rss_mb() -> float:
    """Resident memory of the running process now, in MB (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def line(
    name: str, subject: str, reference: str, ratio: float | None, target: str, passed: bool
) -> dict[str, Any]:
    """One benchmark result as the JSON and the table show it."""
    return {
        "name": name,
        "subject": subject,
        "reference": reference,
        "ratio": ratio,
        "target": target,
        "pass": passed,
    }
