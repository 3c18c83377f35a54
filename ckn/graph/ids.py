"""Deterministic ids from natural keys, so re-ingest merges onto the same node.

An entity id is ``<kind>:<key>``: the CRM id when the record has one (``customer:C-1001``), otherwise a
uuid5 of the normalised natural key (e-mail, name) so the same key always gives the same id.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from functools import lru_cache

NAMESPACE = uuid.UUID("6f1c2a0e-3b7d-5c55-9e8a-4b1d2c3e4f50")
"""Namespace of every uuid5 ckn derives; changing it would change every derived id."""
_NAMESPACE_BYTES = NAMESPACE.bytes


def uuid5(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))``, without building a ``UUID`` (ingest derives millions)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def normalise_key(text: str) -> str:
    """NFKC, case-folded, inner white space collapsed: the form natural keys are compared in."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def entity_id(kind: str, crm_id: str | None = None, *, natural_key: str | None = None) -> str:
    """Id of an entity of ``kind`` from its CRM id, or else from a natural key (e-mail, name).

    Args:
        kind: the node kind's value, e.g. ``"Customer"``.
        crm_id: the id the source system gave the record; kept readable in the id.
        natural_key: used when there is no CRM id; normalised, then hashed.

    """
    prefix = kind.lower()
    if crm_id is not None and crm_id.strip():
        return f"{prefix}:{unicodedata.normalize('NFKC', crm_id).strip()}"
    if natural_key is None or not natural_key.strip():
        raise ValueError("an entity id needs a CRM id or a natural key")
    return f"{prefix}:{uuid5(f'{prefix}|{normalise_key(natural_key)}')}"


@lru_cache(maxsize=1 << 18)  # ids are asked for again and again while merging (a few batches' worth)
def relation_id(rel_type: str, source: str, target: str, key: str = "") -> str:
    """Id of a relationship, ``<TYPE>:<uuid5>``: the same type, endpoints and key give the same id.

    The type prefix lets a store find a relationship by id through its type's index.
    """
    return f"{rel_type}:{uuid5(chr(31).join((rel_type, source, target, key)))}"


def relation_type_of(relation_id_: str) -> str:
    """The type prefix of a relation id (``""`` when it has none)."""
    return relation_id_.partition(":")[0] if ":" in relation_id_ else ""


BULK_PREFIXES = ("interaction:", "feedback:", "knowledgeitem:", "source:")
"""Id prefixes of the kinds there are millions of (interactions, feedback, documents, sources):
structures about people and subjects skip their changes without reading them."""
