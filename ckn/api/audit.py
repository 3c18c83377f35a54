"""The audit trail: every call of the API (but liveness and readiness) and every change made from the CLI.

A record says who (the key's id and name, or the local user), in which role, which operation, the ids of
the subjects it resolved, the status, when, and the request id (``X-Request-ID`` or a new one). It never
holds what was asked or answered: a name or an e-mail typed into a request is recorded as the id it
resolved to. The store keeps the records in a hash chain (:mod:`graph.audit`); ``ckn audit verify``
checks it.
"""

from __future__ import annotations

import getpass
import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ckn.api.deps import StoreDep
from ckn.api.schemas import AuditPage
from ckn.graph.audit import AuditEntry, Verdict, verify
from ckn.graph.errors import CknError
from ckn.graph.model import utcnow
from ckn.graph.store import GraphStore

log = logging.getLogger(__name__)

_SUBJECTS: ContextVar[list[str] | None] = ContextVar("ckn_audit_subjects", default=None)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
UNAUDITED = frozenset({"/healthz", "/readyz"})


def note_subject(entity_id: str) -> None:
    """Record that the current request is about ``entity_id`` (called where references are resolved)."""
    subjects = _SUBJECTS.get()
    if subjects is not None and entity_id not in subjects and len(subjects) < 50:
        subjects.append(entity_id)


def record(
    store: GraphStore,
    *,
    who: str,
    role: str,
    operation: str,
    subjects: list[str],
    status: int,
    request_id: str,
) -> AuditEntry:
    """Append one record to the store's audit log."""
    return store.append_audit(
        {
            "at": utcnow().isoformat(),
            "who": who,
            "role": role,
            "operation": operation,
            "subjects": subjects,
            "status": status,
            "request_id": request_id,
        }
    )


def record_local(store: GraphStore, operation: str, subjects: list[str], status: int = 0) -> AuditEntry:
    """Record a change made from the command line (``status`` 0: done), by the local user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return record(
        store,
        who=f"local:{user}",
        role="local",
        operation=operation,
        subjects=subjects,
        status=status,
        request_id=uuid.uuid4().hex,
    )


class AuditTrail:
    """ASGI middleware: one audit record for each request, written once its answer has been sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting its status; then record it."""
        if scope["type"] != "http" or scope.get("path") in UNAUDITED:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id  # for work that outlasts the request
        status = 500
        subjects: list[str] = []
        token = _SUBJECTS.set(subjects)

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            _SUBJECTS.reset(token)
            await self._write(scope, subjects, status, request_id)

    @staticmethod
    async def _write(scope: Scope, subjects: list[str], status: int, request_id: str) -> None:
        state: dict[str, Any] = scope.get("state") or {}
        route = scope.get("route")
        operation = f"{scope.get('method')} {getattr(route, 'path', None) or 'unknown route'}"
        store = scope["app"].state.store
        if store is None:
            return
        try:
            await run_in_threadpool(
                record,
                store,
                who=state.get("who", "anonymous"),
                role=state.get("role", "none"),
                operation=operation,
                subjects=subjects,
                status=status,
                request_id=request_id,
            )
        except CknError as exc:  # the answer was sent; a lost record is logged, never hidden
            log.error("could not write the audit record of request %s: %s", request_id, exc.detail)
        except Exception:
            log.exception("could not write the audit record of request %s", request_id)


def all_entries(store: GraphStore) -> Iterator[AuditEntry]:
    """The whole audit log, oldest first, read a page at a time."""
    after = 0
    while page := store.read_audit(after=after, limit=1000):
        yield from page
        after = page[-1].seq


router = APIRouter(tags=["privacy"])


@router.get("/audit")
def audit_log(
    store: StoreDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> AuditPage:
    """The audit log, oldest first: who called what, about whom, when (never what was answered)."""
    store.limits.check_page(limit)
    entries = store.read_audit(after=after, limit=limit)
    return AuditPage(items=entries, next_after=entries[-1].seq if len(entries) == limit else None)


@router.get("/audit/verify")
def audit_verify(store: StoreDep) -> Verdict:
    """Check the audit log's hash chain from its first record: intact, or where it breaks."""
    return verify(all_entries(store))
