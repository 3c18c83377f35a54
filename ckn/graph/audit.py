"""The audit log's records and their hash chain (stores keep them; this says what they are).

Each record says who did what (key id or local user, role, operation, the subject ids it touched, the
status, the request id) and never the personal data itself. Its ``hash`` is the SHA-256 of the previous
record's hash and its own canonical JSON, so changing, removing or reordering a record breaks every
hash after it: :func:`verify` finds the first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

GENESIS = ""
"""The ``prev`` of the first record."""


class AuditEntry(BaseModel):
    """One record as stored: its place in the log, its content, and the chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    record: dict[str, Any]
    prev: str
    hash: str


def canonical(record: dict[str, Any]) -> str:
    """The record as hashed: compact JSON with sorted keys."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def chain_hash(prev: str, record_json: str) -> str:
    """The hash of a record that follows ``prev``."""
    return hashlib.sha256(f"{prev}\n{record_json}".encode()).hexdigest()


class Verdict(BaseModel):
    """What :func:`verify` found: how many records it checked, and the first broken one, if any."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    records: int
    intact: bool
    broken_at: int | None = None
    reason: str | None = None
    head: str | None = None
    """The last record's hash: kept elsewhere, it shows records cut from the end too."""


def verify(entries: Iterable[AuditEntry]) -> Verdict:
    """Check a log read in order from its first record."""
    prev, expected_seq, count = GENESIS, None, 0
    for entry in entries:
        count += 1
        if expected_seq is not None and entry.seq != expected_seq:
            return Verdict(records=count, intact=False, broken_at=entry.seq, reason="a record is missing")
        if entry.prev != prev:
            reason = "the chain to the record before is broken"
            return Verdict(records=count, intact=False, broken_at=entry.seq, reason=reason)
        if chain_hash(prev, canonical(entry.record)) != entry.hash:
            return Verdict(records=count, intact=False, broken_at=entry.seq, reason="the record was changed")
        prev, expected_seq = entry.hash, entry.seq + 1
    return Verdict(records=count, intact=True, head=prev or None)
