"""Field-level masking: what each role may not see, taken out of every answer wherever it sits.

:data:`HIDDEN` is the documented table of fields per role (beside :data:`api.auth.POLICY`, which says
what each role may call). The :class:`Masking` middleware applies it to every response body of a masked
role, whatever its shape: each object at any depth (entities inside paths, trees, evidence lists,
search hits, problem details) loses the hidden fields, and every other string is scrubbed of e-mail
addresses and phone numbers (free text, and exports: GraphML, GEXF, CSV, JSON).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ckn.api.audit import record
from ckn.api.auth import Role
from ckn.api.deps import SettingsDep, StoreDep
from ckn.api.jobs import Jobs
from ckn.api.schemas import ErasureJobOut, PersonExport
from ckn.api.understand import entity_ref
from ckn.graph.model import NodeKind
from ckn.ingest.erasure import ErasureReport, export_person

CONTACT = frozenset({"email", "emails", "phone", "phones", "mobile", "fax", "address", "addresses"})
"""Ways to reach a person."""
TEXT = frozenset(
    {"notes", "text", "snippet", "keyphrases", "resolution", "quote", "examples", "named_entities"}
)
"""Free text, which may say anything about anyone."""
SERVER = frozenset({"source_key", "quarantine_dir"})
"""Where a file was on the machine that ingested it: for those who ingest."""

HIDDEN: dict[Role, frozenset[str]] = {
    "viewer": CONTACT | TEXT | SERVER,
    "sales": SERVER,
    "marketing": CONTACT | SERVER,
    "knowledge_manager": frozenset(),
    "admin": frozenset(),
}
"""The fields each role does not see, at any depth of any answer. Roles with hidden contact fields also
get every other string scrubbed of e-mail addresses and phone numbers (free text, exports)."""

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w+@/.])(?:\+|00)?\d[\d\s().\-/]{5,20}\d(?![\w@])")
_DATE = re.compile(
    r"((?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])|\b\d{1,2}:\d{2}(?::\d{2})?)"
)
_ID_BEFORE = re.compile(
    r"(?:^|[^\w])(?:" + "|".join(k.value.lower() for k in NodeKind) + r"|crm|hubspot|salesforce|vcard):$"
)
"""``customer:`` and the like (an id's prefix): the number after it is an id, not a phone."""
MASKED = "[masked]"


def _phone_like(match: re.Match[str]) -> str:
    text = match.group()
    if _DATE.search(text):  # a date or a time beside a number: look at what is between them
        return "".join(p if _DATE.fullmatch(p) else PHONE.sub(_phone_like, p) for p in _DATE.split(text))
    if sum(c.isdigit() for c in text) < 7 or _ID_BEFORE.search(
        match.string[max(0, match.start() - 20) : match.start()]
    ):
        return text
    return MASKED


def scrub(text: str) -> str:
    """``text`` without e-mail addresses and phone numbers."""
    if "@" in text:
        text = EMAIL.sub(MASKED, text)
    return PHONE.sub(_phone_like, text) if any(c.isdigit() for c in text) else text


def mask(value: Any, hidden: frozenset[str]) -> Any:
    """``value`` (parsed JSON) with the ``hidden`` fields emptied at any depth.

    With contact fields hidden, every other string is scrubbed of contacts too.
    """
    contacts = not CONTACT.isdisjoint(hidden)
    if isinstance(value, dict):
        return {k: _emptied(v) if k in hidden else mask(v, hidden) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, hidden) for v in value]
    if isinstance(value, str) and contacts:
        return scrub(value)
    return value


def _emptied(value: Any) -> Any:
    """A hidden field's value replaced by an empty one of its type (answers keep their shape)."""
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    if isinstance(value, str):
        return MASKED
    return None


def masked_body(body: bytes, content_type: str, hidden: frozenset[str]) -> bytes:
    """A response body without the ``hidden`` fields, its strings scrubbed."""
    if "json" in content_type:
        try:
            return json.dumps(mask(json.loads(body), hidden), ensure_ascii=False).encode()
        except ValueError:
            pass
    if CONTACT.isdisjoint(hidden):
        return body
    return scrub(body.decode("utf-8", errors="replace")).encode()


class Masking:
    """ASGI middleware: the body of every answer to a masked role, masked (see :data:`HIDDEN`).

    The role is the one :func:`api.auth.authorize` found for the request's key; an open API (no key
    exists) masks nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; hold a masked role's answer until it is whole, then mask it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []

        async def masking_send(message: Message) -> None:
            nonlocal start
            role = (scope.get("state") or {}).get("role")
            hidden = HIDDEN.get(role, CONTACT | TEXT | SERVER) if role else frozenset()
            if not hidden:  # the role is known before the answer starts
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            content_type = dict(headers).get(b"content-type", b"").decode("latin-1")
            body = masked_body(b"".join(parts), content_type, hidden)
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, masking_send)


ERASE_WAIT_S = 10.0
"""How long an erasure asked over HTTP waits for a running ingest (then: 409, try again)."""
ERASE_ANSWER_S = 20.0
"""How long ``DELETE /customers/{id}`` waits for the erasure to end before it answers 202 with the job to
poll: erasing from a large store takes minutes, longer than a load balancer waits for an answer."""

router = APIRouter(tags=["privacy"])


@router.delete(
    "/customers/{customer_id}",
    response_model=ErasureReport,
    responses={202: {"model": ErasureJobOut, "description": "Still erasing: poll the job's `status_url`."}},
)
def erase_customer(request: Request, store: StoreDep, settings: SettingsDep, customer_id: str) -> Any:
    """Erase a customer and every trace of them, and keep them out of later ingests (for good).

    Answers with the verification report; when the erasure takes longer than 20 s, with a 202 and the
    job to poll (``GET /erasures/{id}``), while it goes on.
    """
    customer_id = entity_ref(store, customer_id, (NodeKind.CUSTOMER,), exact=True)
    jobs: Jobs = request.app.state.jobs
    wait_s = min(settings.write_lock_wait_s, ERASE_WAIT_S)
    asked = {
        "who": getattr(request.state, "who", "anonymous"),
        "role": getattr(request.state, "role", "none"),
    }
    asked["request_id"] = getattr(request.state, "request_id", "")

    def ended_later(status: int) -> None:  # the request's own record says 202
        record(store, operation="erasure job ended", subjects=[customer_id], status=status, **asked)

    job, report = jobs.erase(
        store,
        customer_id,
        (NodeKind.CUSTOMER,),
        lock_wait_s=wait_s,
        answer_s=ERASE_ANSWER_S,
        ended_later=ended_later,
    )
    if report is not None:
        return report
    url = f"/erasures/{job.id}"
    return JSONResponse(
        _erasure_view({**job.view(), "status_url": url}), status_code=202, headers={"Location": url}
    )


@router.get("/erasures/{job_id}", response_model=ErasureJobOut, response_model_exclude_unset=True)
def erasure_job(request: Request, job_id: str) -> dict[str, Any]:
    """Status of an erasure that outlasted its request, with its report when it is done."""
    jobs: Jobs = request.app.state.jobs
    return _erasure_view(jobs.shown(request.app.state.store, job_id, "erasure"))


def _erasure_view(job: dict[str, Any]) -> dict[str, Any]:
    """An erasure job as its status shows it (it has no files)."""
    return {k: v for k, v in job.items() if k != "files"}


@router.get("/customers/{customer_id}/export")
def export_customer(store: StoreDep, settings: SettingsDep, customer_id: str) -> PersonExport:
    """Everything held about a customer, machine-readable (an access request)."""
    customer_id = entity_ref(store, customer_id, (NodeKind.CUSTOMER,), exact=True)
    return PersonExport(**export_person(store, customer_id, settings.home / "quarantine"))
