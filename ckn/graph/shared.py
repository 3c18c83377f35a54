"""What the API processes serving one store share through it: ingest jobs and request rates.

A load balancer may send a job's status request, or a key's next request, to any replica, and a
replica may restart; so both live in the store (the embedded store's side file ``shared.sqlite``,
nodes in Neo4j), not in the process that saw them first.

Rates are token buckets: a key holds at most ``per_minute`` requests and gains ``per_minute`` a
minute. A bucket left alone for a minute is full again, the same as no bucket, so buckets older than
that are dropped: the store keeps a caller only while they are being counted, and under a hash (an
address is personal data).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

JOBS_KEPT = 1000
"""Ingest jobs whose records are kept; the oldest beyond that are forgotten."""
HEARTBEAT_S = 10.0
"""How often the process running a job (or holding it in its queue) says so."""
INTERRUPTED_AFTER_S = 60.0
"""A job queued or running that nobody has said so of for this long was interrupted."""
REFILL_S = 60.0
"""An empty bucket is full again after this long (it gains its ``per_minute`` a minute)."""


class Taken(NamedTuple):
    """What a bucket gave: ``granted`` requests, or none and ``wait_s`` until it has one again."""

    granted: int
    wait_s: float


def bucket_key(key: str) -> str:
    """A caller as their bucket is stored (a key's id or an address, hashed)."""
    return hashlib.sha256(f"ckn-rate\n{key}".encode()).hexdigest()


def take(
    held: tuple[float, float] | None, want: int, per_minute: int, now: float
) -> tuple[Taken, float, float]:
    """Up to ``want`` requests from a bucket that ``held`` (tokens, at) or is new; then what it holds.

    ``now`` and ``at`` are seconds since the epoch; a clock behind the one that wrote ``at`` adds
    nothing (replicas' clocks differ a little) and never moves ``at`` back.
    """
    rate = per_minute / REFILL_S
    tokens, at = held if held is not None else (float(per_minute), now)
    tokens = min(float(per_minute), tokens + max(0.0, now - at) * rate)
    granted = min(want, int(tokens))
    left = tokens - granted
    return Taken(granted, 0.0 if granted else (1 - left) / rate), left, max(at, now)
