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
    subject_s, reference_s = rounds([subject, reference], pairs)
    return subject_s, reference_s


def rounds(actions: list[Callable[[], float]], count: int) -> list[float]:
    """Median seconds of each action, measured in turn (A B C A B C ...) ``count`` times."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(count):
        for action, measured in zip(actions, times, strict=True):
            measured.append(action())
    return [statistics.median(measured) for measured in times]


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
