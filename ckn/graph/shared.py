"""What the API processes serving one store share through it: ingest jobs and request rates.

A load balancer may send a job's status request, or a key's next request, to any replica, and a
replica may restart; so both live in the store (the embedded store's side file ``shared.sqlite``,
nodes in Neo4j), not in the process that saw them first.

Rates are token buckets, one per caller, named by a keyed hash the API makes (the store never sees
a key or an address): a bucket holds at most ``per_minute`` requests and gains ``per_minute`` a
minute, by the store's clock (Neo4j's for every replica). A bucket left alone for a minute is full
again, the same as none, so such buckets are dropped (:data:`PRUNE_EVERY_S`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

JOBS_KEPT = 1000
"""Ingest jobs whose records are kept; the oldest beyond that are forgotten."""
JOBS_KEPT_DAYS = 30
"""Ingest jobs are forgotten this many days after they started, however few there are."""
HEARTBEAT_S = 10.0
"""How often the process running a job (or holding it in its queue) says so."""
INTERRUPTED_AFTER_S = 60.0
"""A job queued or running that nobody has said so of for this long was interrupted."""
REFILL_S = 60.0
"""An empty bucket is full again after this long (it gains its ``per_minute`` a minute)."""
PRUNE_EVERY_S = 60.0
"""How often a store drops the buckets full again (at most; on the next request after that)."""


class Taken(NamedTuple):
    """What a bucket gave: ``granted`` requests, or none and ``wait_s`` until it has one again."""

    granted: int
    wait_s: float


def take(held: tuple[float, float] | None, want: int, per_minute: int, now: float) -> tuple[Taken, float]:
    """Up to ``want`` requests from a bucket that ``held`` (tokens, at) or is new; then what it holds.

    ``now`` and ``at``: seconds by the store's clock.
    """
    rate = per_minute / REFILL_S
    tokens, at = held if held is not None else (float(per_minute), now)
    tokens = min(float(per_minute), tokens + max(0.0, now - at) * rate)
    granted = min(want, int(tokens))
    left = tokens - granted
    return Taken(granted, 0.0 if granted else (1 - left) / rate), left


def jobs_cutoff() -> str:
    """The ``created_at`` before which job records are forgotten (:data:`JOBS_KEPT_DAYS` ago)."""
    return (datetime.now(UTC) - timedelta(days=JOBS_KEPT_DAYS)).isoformat()


def job_kept(record: dict[str, Any]) -> dict[str, Any]:
    """What a store keeps of an ingest job's record: not when it was heard of (the store notes that)."""
    return {k: v for k, v in record.items() if k not in {"heard_at", "heard_s_ago"}}


def job_live(record: dict[str, Any]) -> bool:
    """Whether a kept job is queued or running and its process said so within :data:`INTERRUPTED_AFTER_S`.

    By the store's clock (``heard_s_ago``, see :meth:`graph.store.GraphStore.get_job`): the hosts of
    several API processes may not agree.
    """
    queued_or_running = record.get("status") in {"queued", "running"}
    return queued_or_running and float(record["heard_s_ago"]) <= INTERRUPTED_AFTER_S
