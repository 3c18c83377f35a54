"""The web app: one page and its script, served by the API at ``/``, built on the API's own answers.

The page (``web/index.html``, ``web/app.js``, ``web/app.css``) has no build step and loads nothing from
elsewhere: it calls the same endpoints a client would, with the API key the user gives it (kept in the
browser tab's session storage). ``GET /me`` tells it who the key is and what its role may call, so it
shows only the views and actions the role may use; the API still checks every call.
"""

from __future__ import annotations

import contextlib
import json
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ckn.api.auth import POLICY, PUBLIC, Keys, Tokens, bearer, identify
from ckn.api.deps import SettingsDep
from ckn.api.schemas import Me, QuarantinedRow
from ckn.graph.errors import NotFound

router = APIRouter(tags=["web"])

PAGES = frozenset({"GET /", "GET /app/{name}"})
"""The page and its files: public, and not API operations (they are not in the OpenAPI document)."""
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
"""The files of the page, and their media types."""
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self';"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Nothing but this server: no CDN, no inline script."""


_PLAIN = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
"""No sniffing, no framing (a framed page could be clicked into a merge), no referrer."""


def _asset(name: str) -> bytes:
    return resources.files("ckn.api").joinpath("web", name).read_bytes()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    """The web app."""
    return HTMLResponse(_asset("index.html"), headers={"Content-Security-Policy": _CSP, **_PLAIN})


@router.get("/app/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    """The web app's script and style."""
    if name not in ASSETS:
        raise NotFound(f"no file {name!r} in the web app")
    return Response(_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache", **_PLAIN})


@router.get("/me", tags=["operations"], response_model=Me)
def me(request: Request) -> dict[str, Any]:
    """Who the request's key or token is, its role, and the operations the role may call.

    ``open``: no key exists (a single user's API on their own machine): every operation is allowed.
    Without a key where one is needed, ``role`` is null and only public operations are listed.
    """
    keys: Keys = request.app.state.keys
    tokens: Tokens = request.app.state.tokens
    if not keys.active() and not tokens.enabled:
        return {"open": True, "who": None, "role": None, "allowed": sorted(POLICY)}
    token = bearer(request)
    if not token:
        return {"open": False, "who": None, "role": None, "allowed": _allowed(None)}
    who, role = identify(request, token)
    return {"open": False, "who": who, "role": role, "allowed": _allowed(role)}


def _allowed(role: str | None) -> list[str]:
    return sorted(op for op, roles in POLICY.items() if roles is PUBLIC or role in roles)


QUARANTINE_SHOWN = 500
"""Quarantined rows ``GET /quarantine`` lists at most (the newest files first)."""


@router.get("/quarantine", tags=["ingest"], response_model=list[QuarantinedRow])
def quarantine(settings: SettingsDep, limit: Annotated[int, Query(ge=1)] = 100) -> list[dict[str, Any]]:
    """Rows ingests through the API set aside, with their file, line and reason (newest files first)."""
    folder = settings.home / "quarantine"
    found: list[dict[str, Any]] = []
    wanted = min(limit, QUARANTINE_SHOWN)
    paths = (
        sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
        if folder.is_dir()
        else []
    )
    for path in paths:
        with contextlib.suppress(OSError), path.open(encoding="utf-8") as lines:
            for line in lines:
                with contextlib.suppress(ValueError):  # a line an ingest is still writing
                    entry = json.loads(line)
                    found.append({k: entry.get(k) for k in ("file", "line", "reason", "raw")})
                if len(found) >= wanted:
                    return found
    return found
