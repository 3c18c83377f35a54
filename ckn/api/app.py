"""The HTTP API: ``create_app()`` builds it; routes are a few lines each over ``graph`` and ``queries``.

Every error is an RFC 9457 ``application/problem+json`` document: ckn's own errors carry their status
(:mod:`graph.errors`), request validation is a 422, unknown routes a 404, and anything unexpected a
500 without a stack trace.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ckn.api.answers import router as answers_router
from ckn.api.answers import warm_up
from ckn.api.audit import AuditTrail, note_subject
from ckn.api.audit import router as audit_router
from ckn.api.auth import Keys, RateLimits, Tokens, authorize
from ckn.api.deps import SettingsDep, StoreDep
from ckn.api.jobs import Jobs, UploadLimit
from ckn.api.jobs import router as jobs_router
from ckn.api.privacy import Masking
from ckn.api.privacy import router as privacy_router
from ckn.api.schemas import (
    Decided,
    EntityOut,
    Health,
    NameDecision,
    Page,
    Ready,
    RelationOut,
    ReviewDecision,
    SubgraphOut,
)
from ckn.api.understand import entity_ref, understanding_loads
from ckn.api.understand import prepare as prepare_understanding
from ckn.api.web import router as web_router
from ckn.graph.cache import follow, warming
from ckn.graph.errors import CknError, Computing, InvalidInput, NotFound
from ckn.graph.factory import open_store
from ckn.graph.model import NodeKind, RelType
from ckn.graph.settings import Settings, load_settings
from ckn.graph.store import DeleteResult, Direction, GraphStore, Path, Stats, Subgraph
from ckn.ingest import review
from ckn.ingest.pipeline import NlpOptions
from ckn.queries.evidence import prepare
from ckn.queries.knowledge import Holder, everyone_on
from ckn.queries.referrals import prepare as prepare_referrals

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


def nlp_options(settings: Settings) -> NlpOptions:
    """Extraction options from the settings (shared by the API and the CLI)."""
    models = {"zh": settings.spacy_model_zh, "en": settings.spacy_model_en}
    return NlpOptions(
        models={lang: model for lang, model in models.items() if model},
        batch_size=settings.nlp_batch_size,
        n_process=settings.nlp_processes,
        discover=settings.discover,
    )


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CknError)
    async def ckn_error(_: Request, exc: CknError) -> JSONResponse:
        if exc.status >= 500 and not isinstance(exc, Computing):  # Computing: busy, say when to come back
            log.error("%s: %s", type(exc).__name__, exc.detail)
        return JSONResponse(exc.problem(), status_code=exc.status, media_type=PROBLEM, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return _problem(422, "Invalid request", "the request does not match the API", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, "HTTP error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _problem(500, "Internal error", "an unexpected error occurred; see the server log")


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "additionalProperties": True,
}
"""RFC 9457: every error answer, whatever its status (its other members name the ids concerned)."""


def _document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI document that every operation's errors are ``application/problem+json``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            problem = {"$ref": "#/components/schemas/Problem"}
            for operations in schema["paths"].values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)  # FastAPI's own validation shape: ckn answers a problem
                    for status in ("4XX", "5XX"):
                        responses[status] = {
                            "description": "a problem (RFC 9457)",
                            "content": {PROBLEM: {"schema": problem}},
                        }
            for name in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


TypesQuery = Annotated[
    list[RelType] | None, Query(description="Relationship types to follow (all if omitted).")
]


def _install_state(app: FastAPI, settings: Settings) -> None:
    """What the routes share besides the store: keys, rate limits, ingest jobs, settings, the warm-up."""
    app.state.settings = settings
    app.state.warmed = None  # the warm-up, once the app starts (_keep_in_step)
    app.state.keys = Keys(settings.home)
    app.state.tokens = Tokens(
        settings.jwt_issuer, settings.jwt_audience, settings.jwks_url, settings.jwt_role_claim
    )
    app.state.rate_limits = RateLimits(settings.rate_limit_per_minute, settings.home)
    app.state.jobs = Jobs(
        settings.home / "uploads",
        settings.home / "quarantine",
        settings.batch_size,
        nlp_options(settings),
        settings.match_threshold,
        settings.write_lock_wait_s,
        settings.phone_region,
    )


def _mount(app: FastAPI) -> None:
    """The middleware (the last added is outermost) and the routers of the other modules."""
    app.add_middleware(UploadLimit)
    app.add_middleware(Masking)
    app.add_middleware(AuditTrail)  # outermost: it records the status the client got
    for router in (jobs_router, answers_router, privacy_router, audit_router, names, web_router):
        app.include_router(router)


names = APIRouter()
"""The review of people and organisations named in text (``Candidate`` entities)."""


@names.get("/review/names", tags=["review"])
def review_names(
    store: StoreDep, include_decided: bool = False, limit: Annotated[int, Query(ge=1)] = 100
) -> list[review.NamedCandidate]:
    """People and organisations named in text that master data does not know, most mentioned first."""
    return review.list_named(store, include_decided=include_decided, limit=limit)


@names.post("/review/names/confirm", tags=["review"])
def review_confirm(store: StoreDep, decision: NameDecision) -> review.MergeResult:
    """Make a named candidate a colleague or a customer (``as_kind``); undo with ``/review/undo``."""
    kind = NodeKind(decision.as_kind) if decision.as_kind else None
    return review.confirm(store, decision.candidate_id, as_kind=kind, reviewer="api")


@names.post("/review/names/merge", tags=["review"])
def review_merge(store: StoreDep, decision: NameDecision) -> review.MergeResult:
    """Merge a named candidate into a known colleague or customer (``into``)."""
    if not decision.into:
        raise InvalidInput("say into whom the candidate merges (into)")
    into = entity_ref(store, decision.into, (NodeKind.EMPLOYEE, NodeKind.CUSTOMER))
    return review.merge_named(store, decision.candidate_id, into, reviewer="api")


@names.post("/review/names/dismiss", tags=["review"])
def review_dismiss(store: StoreDep, decision: NameDecision) -> Decided:
    """Mark a named candidate as no one to know, for good."""
    review.dismiss(store, decision.candidate_id, reviewer="api")
    return Decided(status="dismissed")


WARM_UP_WAIT_S = 5.0
"""Longest ``/readyz`` waits for the warm-up (:class:`_WarmUp`) once the names are loaded; after it the
process is ready, and ``warming`` lists the warm-up until it is done."""


class _WarmUp:
    """The first question of each kind, asked once at start (:func:`api.answers.warm_up`), in a thread."""

    def __init__(self, store: GraphStore, settings: Settings, *, after: threading.Thread | None) -> None:
        self._started: float | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(store, settings, after), name="ckn-warm-up", daemon=True
        )
        """Asks the questions (builds at start wait for it)."""
        self.thread.start()

    def _run(self, store: GraphStore, settings: Settings, after: threading.Thread | None) -> None:
        if after is not None:
            after.join()
        if self._stop.is_set():
            return
        self._started = time.monotonic()
        try:
            asked = warm_up(store, settings, stop=self._stop)
            log.info("warmed up (%s) in %.1f s", ", ".join(asked) or "nothing to ask", self.took_s())
        except Exception:  # users' questions will show it, if it is not the store having been away
            log.exception("the warm-up's questions failed; serving all the same")

    def took_s(self) -> float:
        """Seconds since the questions started (0 before)."""
        return 0.0 if self._started is None else time.monotonic() - self._started

    def running(self) -> bool:
        """Whether the questions are still being asked."""
        return self.thread.is_alive()

    def stop(self) -> None:
        """Ask no more questions, and wait a while for the one being asked (the store closes after it)."""
        self._stop.set()
        self.thread.join(timeout=WARM_UP_WAIT_S)

    def holds_readiness(self) -> bool:
        """Whether ``/readyz`` waits for it: running, for at most :data:`WARM_UP_WAIT_S`."""
        return self.running() and self.took_s() < WARM_UP_WAIT_S


def _keep_in_step(store: GraphStore, settings: Settings) -> tuple[threading.Event, _WarmUp | None]:
    """Start building what this serving process keeps, then follow the writes; set the event to stop.

    What questions are read with comes first (every question needs it; ``/readyz`` waits for it). On a
    store that answers in place (Neo4j), a question of each kind follows (the warm-up: ``/readyz`` waits
    for it too, for a while); the embedded store builds the rest, which its answers are read from, in
    the background: on two cores, builds at the same time as these starve the requests.
    """
    names = prepare_understanding(store)
    warmed = _WarmUp(store, settings, after=names) if store.answers_in_place else None
    first = warmed.thread if warmed is not None else names
    evidence = prepare(store, after=first)
    prepare_referrals(store, after=evidence or first)
    stop = threading.Event()
    if not store.answers_in_place:  # on Neo4j the next question reads the change log itself
        follow(store, stop, after=evidence or first)
    return stop, warmed


def _stop_serving(app: FastAPI) -> None:
    """Ask the warm-up to stop and wait for it, the leases taken ahead and the jobs' heartbeat.

    Before the store closes: none of them uses it after.
    """
    if app.state.warmed is not None:
        app.state.warmed.stop()
    app.state.rate_limits.close()
    app.state.jobs.close()


def _ready(store: GraphStore, warmed: _WarmUp | None) -> Ready:
    """Whether the store answers, questions can be understood and the first of each kind were asked.

    A 503 with ``Retry-After`` while the store is away, while the names questions are read with are
    loaded at start, and then while the warm-up asks its questions (at most :data:`WARM_UP_WAIT_S`);
    then ``warming`` lists what is still being built to make answers faster (they are served meanwhile).
    """
    store.ping()
    if understanding_loads(store):
        raise Computing("loading what questions are read with", retry_after_s=1)
    if warmed is not None and warmed.holds_readiness():
        raise Computing("asking a first question of each kind, to warm the store", retry_after_s=1)
    answering = ["first questions"] if warmed is not None and warmed.running() else []
    return Ready(status="ready", store=store.backend, warming=[*store.warming(), *warming(store), *answering])


COLLECTOR_THRESHOLDS = (50_000, 10, 10)
"""Python's cycle collector, as a serving process runs it: an answer over every subject decodes a few
hundred thousand objects that live until it is sent, and at the default thresholds (700, 10, 10) the
collector walks them again and again while they arrive (a quarter of the knowledge map's time on
Neo4j). Collections of the youngest objects every 50,000 allocations keep short-lived cycles cheap."""


@contextmanager
def _serving_collector() -> Iterator[None]:
    """The cycle collector at :data:`COLLECTOR_THRESHOLDS` while the app serves; as it was, after."""
    before = gc.get_threshold()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def create_app(settings: Settings | None = None, *, store: GraphStore | None = None) -> FastAPI:
    """Build the API over ``store``, or over the store ``settings`` (or the environment) name."""
    owns_store = store is None
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with _serving_collector():
            if app.state.store is None:
                app.state.store = open_store(settings)
            stop, app.state.warmed = _keep_in_step(app.state.store, settings)
            yield
            stop.set()
            _stop_serving(app)
            if owns_store:
                app.state.store.close()

    app = FastAPI(
        title="ckn: customer knowledge network",
        version="0.1.0",
        description="Who knows what about our customers, products and topics, and how we know it.",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
    )
    app.state.store = store
    _install_state(app, settings)
    _install_error_handlers(app)
    _document_problems(app)
    _mount(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @app.get("/readyz", tags=["operations"])
    def readyz(store: StoreDep, request: Request) -> Ready:
        """Readiness: the store answers and questions are understood and warm (see :func:`_ready`)."""
        return _ready(store, request.app.state.warmed)

    @app.get("/stats", tags=["graph"])
    def stats(store: StoreDep) -> Stats:
        """Counts of entities by kind and relationships by type."""
        return store.stats()

    @app.get("/entities", tags=["graph"])
    def list_entities(
        store: StoreDep,
        kind: NodeKind | None = None,
        after: str = "",
        limit: Annotated[int, Query(ge=1)] = 100,
    ) -> Page[EntityOut]:
        """Entities in id order; pass the last id of a page as ``after`` to get the next."""
        items = store.list_entities(kind, after=after, limit=limit)
        return Page[EntityOut](
            items=[EntityOut.of(e) for e in items], next_after=items[-1].id if len(items) == limit else None
        )

    @app.get("/entities/{entity_id}", tags=["graph"])
    def get_entity(store: StoreDep, entity_id: str) -> EntityOut:
        """One entity with every piece of evidence behind it (an id, an id as imported, or a name)."""
        entity = store.get_entity(entity_ref(store, entity_id))
        if entity is None:
            raise NotFound(f"no entity with id {entity_id!r}", entity_id=entity_id)
        return EntityOut.of(entity)

    @app.get("/entities/{entity_id}/relations", tags=["graph"])
    def get_relations(
        store: StoreDep,
        entity_id: str,
        types: TypesQuery = None,
        direction: Direction = Direction.BOTH,
        limit: Annotated[int, Query(ge=1)] = 100,
    ) -> list[RelationOut]:
        """Relationships touching one entity."""
        entity_id = entity_ref(store, entity_id)
        rels = store.get_relations(entity_id, types=types, direction=direction, limit=limit)
        return [RelationOut.of(r) for r in rels]

    @app.get("/entities/{entity_id}/neighbourhood", tags=["graph"])
    def neighbourhood(
        store: StoreDep,
        entity_id: str,
        depth: Annotated[int, Query(ge=1)] = 1,
        types: TypesQuery = None,
        direction: Direction = Direction.BOTH,
        limit: Annotated[int, Query(ge=1)] = 200,
    ) -> SubgraphOut:
        """Entities within ``depth`` steps, nearest first; 422 above the depth cap."""
        sub: Subgraph = store.neighbourhood(
            entity_ref(store, entity_id), depth=depth, types=types, direction=direction, limit=limit
        )
        return SubgraphOut.of(sub)

    @app.get("/paths", tags=["graph"])
    def paths(
        store: StoreDep,
        source: str,
        target: str,
        max_depth: Annotated[int, Query(ge=1)] = 4,
        types: TypesQuery = None,
        direction: Direction = Direction.BOTH,
        limit: Annotated[int, Query(ge=1)] = 10,
    ) -> list[Path]:
        """Simple paths between two entities, shortest first; 422 above the depth cap."""
        source, target = entity_ref(store, source), entity_ref(store, target)
        return store.paths(source, target, max_depth=max_depth, types=types, direction=direction, limit=limit)

    @app.get("/holders/{subject_id}", tags=["knowledge"])
    def holders(
        store: StoreDep, settings: SettingsDep, subject_id: str, limit: Annotated[int, Query(ge=1)] = 20
    ) -> list[Holder]:
        """Colleagues with evidence on a product, topic or customer: documents written vs work done."""
        subject_id = entity_ref(store, subject_id, (NodeKind.PRODUCT, NodeKind.TOPIC, NodeKind.CUSTOMER))
        return everyone_on(store, subject_id, half_life_days=settings.expertise_half_life_days, limit=limit)

    @app.get("/review", tags=["review"])
    def review_list(store: StoreDep, include_decided: bool = False) -> list[review.Candidate]:
        """Merge candidates: people who may be one person, best score first."""
        return review.list_candidates(store, include_decided=include_decided)

    @app.post("/review/accept", tags=["review"])
    def review_accept(store: StoreDep, decision: ReviewDecision) -> review.MergeResult:
        """Merge ``entity_id`` into ``candidate_id``; reversible with ``/review/undo``."""
        return review.accept(store, decision.entity_id, decision.candidate_id, reviewer="api")

    @app.post("/review/reject", tags=["review"])
    def review_reject(store: StoreDep, decision: ReviewDecision) -> Decided:
        """Keep two candidates apart for good."""
        review.reject(store, decision.entity_id, decision.candidate_id, reviewer="api")
        return Decided(status="rejected")

    @app.post("/review/undo", tags=["review"])
    def review_undo(store: StoreDep, decision: ReviewDecision) -> review.MergeResult:
        """Undo a merge: ``candidate_id`` is the entity that was kept, ``entity_id`` the merged one."""
        return review.undo(store, decision.candidate_id, decision.entity_id)

    @app.delete("/sources/{source_id}", tags=["graph"])
    def delete_source(store: StoreDep, source_id: str) -> DeleteResult:
        """Remove a source's evidence; facts nothing else supports go with it."""
        if not source_id:
            raise InvalidInput("source id is empty")
        note_subject(source_id)
        return store.delete_source(source_id)

    return app
