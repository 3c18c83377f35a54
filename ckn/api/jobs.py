"""Ingest jobs started over HTTP: the upload is saved, ingested in the background, its status polled.

A job's record is kept in the store (:mod:`graph.shared`), so any API process behind a load balancer
answers for it, and after a restart too. The process that holds a job says so every
:data:`graph.shared.HEARTBEAT_S`; a job queued or running that nobody has said so of for a minute
shows as ``interrupted`` (its process stopped; the data it wrote stays, and the same upload again
resumes or skips it like any ingest).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ckn.api.schemas import JobOut, ingest_report_json
from ckn.graph.errors import CknError, Conflict, NotFound, UploadTooLarge
from ckn.graph.model import NodeKind, utcnow
from ckn.graph.shared import HEARTBEAT_S, JOBS_KEPT, JOBS_KEPT_DAYS, job_live
from ckn.graph.store import GraphStore
from ckn.ingest.erasure import MASK, ErasureReport, Suppression, erase, masked_job
from ckn.ingest.pipeline import NlpOptions, Replace, ingest_paths
from ckn.ingest.tabular import NO_MAPPING, Mapping

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def safe_name(name: str) -> str:
    """An upload's name as a relative path of safe parts (``a/customers.csv``).

    No ``..``, no root, no odd characters: uploads choose their own names, and a folder upload keeps
    its subfolders.
    """
    parts = [_SAFE_NAME.sub("_", part).strip("._") for part in name.replace("\\", "/").split("/")]
    cleaned = "/".join(part for part in parts if part)
    return cleaned or "upload"


@dataclass
class Job:
    """One upload being ingested, or one erasure that outlasted its request."""

    id: str
    files: list[str]
    kind: str = "ingest"
    """``ingest`` (an upload) or ``erasure`` (``DELETE /customers/{id}``)."""
    status: str = "queued"
    """``queued``, ``running``, ``done`` or ``failed`` (``interrupted``: as a kept record shows it)."""
    created_at: str = field(default_factory=lambda: utcnow().isoformat())
    finished_at: str | None = None
    report: dict[str, Any] | None = None
    error: str | None = None

    def view(self) -> dict[str, Any]:
        """The job as the API shows it (and as its record is kept)."""
        return {name: getattr(self, name) for name in SHOWN}


SHOWN = tuple(f.name for f in fields(Job))
"""What a job's status shows (of a record kept by another version too: it may keep more)."""


def job_view(record: dict[str, Any]) -> dict[str, Any]:
    """A kept job as its status shows it (queued or running, but unheard of for a minute: interrupted)."""
    view = {k: record.get(k) for k in SHOWN}
    view["kind"] = view["kind"] or "ingest"  # kept before erasures were jobs
    if view["status"] in {"queued", "running"} and not job_live(record):
        view["status"] = "interrupted"
        view["error"] = "the server running this job stopped before it ended; " + (
            "erase the same customer again if they are still found (if not, everything of theirs was"
            " deleted or masked, and only its last step, the rebuild of the store's files, may not have"
            " run; the next erasure rebuilds them)"
            if view["kind"] == "erasure"
            else "what it wrote stays, and uploading the same files again resumes or skips them"
        )
    return view


def _masked_ref(entity_id: str) -> str:
    """An id with all but its kind masked (``customer:████``)."""
    kind, _, rest = entity_id.partition(":")
    return f"{kind}:{MASK * len(rest)}"


def _masked(view: dict[str, Any], suppression: Suppression) -> dict[str, Any]:
    """A job's view with what names an erased person masked."""
    return masked_job(view, suppression)[0] if suppression else view


class Jobs:
    """The ingest jobs an API process runs, their records kept in the store for every process."""

    def __init__(
        self,
        upload_dir: Path,
        quarantine_dir: Path,
        batch_size: int,
        nlp: NlpOptions,
        match_threshold: int,
        lock_wait_s: float = 600.0,
        phone_region: str = "CN",
    ) -> None:
        self.upload_dir, self.quarantine_dir = upload_dir, quarantine_dir
        self.batch_size, self.nlp, self.match_threshold = batch_size, nlp, match_threshold
        self.lock_wait_s, self.phone_region = lock_wait_s, phone_region
        self._held: dict[str, tuple[Job, GraphStore]] = {}  # queued or running here, or not yet saved
        self._erasures: set[threading.Thread] = set()  # running here: the server waits for them to end
        self._held_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._stopped = threading.Event()
        self._saving = threading.Lock()  # a job's view is saved whole, one at a time: the last is the newest
        self._lock = threading.Lock()  # one ingest at a time: they share the resolver's view of the data

    def create(self) -> tuple[Job, Path]:
        """A new job and the folder its uploads are saved in."""
        job = Job(id=uuid.uuid4().hex[:12], files=[])
        folder = self.upload_dir / job.id
        folder.mkdir(parents=True, exist_ok=True)
        return job, folder

    def forget(self, job: Job, folder: Path) -> None:
        """Drop a job whose upload was refused."""
        shutil.rmtree(folder, ignore_errors=True)

    def hold(self, job: Job, store: GraphStore) -> None:
        """Keep a job's record and say it is held here until it ends (:data:`graph.shared.HEARTBEAT_S`)."""
        with self._held_lock:
            self._held[job.id] = (job, store)
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._heartbeat = threading.Thread(target=self._beat, name="ckn-jobs", daemon=True)
                self._heartbeat.start()
        self._save(job, store)

    def _save(self, job: Job, store: GraphStore) -> None:
        """Keep the job's record; one that ended and is kept is no longer held here.

        What names a person erased meanwhile (a file named after them, say) is masked in it.
        """
        try:
            with self._saving:
                store.save_job(_masked(job.view(), Suppression.of(store)))
        except Exception as exc:  # the store is away: the heartbeat tries again
            log.warning("could not keep the record of ingest job %s: %s", job.id, exc)
            return
        if job.finished_at is not None:
            with self._held_lock:
                self._held.pop(job.id, None)

    def close(self) -> None:
        """Wait for the erasures running here, then stop saying that jobs are held here.

        The server stops: its ingests will show as interrupted.
        """
        with self._held_lock:
            erasures = list(self._erasures)
        for thread in erasures:
            log.info("waiting for %s to end before stopping", thread.name)
            thread.join()
        self._stopped.set()
        with self._held_lock:
            heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.join(timeout=2 * HEARTBEAT_S)

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_S):
            with self._held_lock:
                held = list(self._held.values())
                if not held:
                    self._heartbeat = None
                    return
            for job, store in held:
                self._save(job, store)

    def get(self, store: GraphStore, job_id: str) -> dict[str, Any] | None:
        """A job as its status shows it: held here, or kept by any process of the store; or None."""
        with self._held_lock:
            held = self._held.get(job_id)
        if held is not None:  # here, however its record fares (as it is, while the store is away)
            try:
                return _masked(held[0].view(), Suppression.of(store))
            except CknError:
                return held[0].view()
        record = store.get_job(job_id)
        return None if record is None else job_view(record)

    def shown(self, store: GraphStore, job_id: str, kind: str) -> dict[str, Any]:
        """A job of ``kind`` as its status shows it (:meth:`get`).

        Raises:
            NotFound: there is no such job of that kind (or it is no longer kept).

        """
        job = self.get(store, job_id)
        if job is None or job["kind"] != kind:
            kept = f"the newest {JOBS_KEPT} of the last {JOBS_KEPT_DAYS} days are kept"
            raise NotFound(f"no {kind} job {job_id!r} ({kept})")
        return job

    def erase(
        self,
        store: GraphStore,
        entity_id: str,
        kinds: tuple[NodeKind, ...],
        *,
        lock_wait_s: float,
        answer_s: float,
        ended_later: Callable[[int], None],
    ) -> tuple[Job, ErasureReport | None]:
        """Erase a person in a thread of its own, under the store's write lock (:func:`ingest.erasure.erase`).

        Returns its job and, when it ended within ``answer_s`` seconds, its report; else the job goes on,
        its record kept for every process to answer for, and ``ended_later(status)`` is called when it
        ends (200, or the failure's status). Raises what kept it from starting (:class:`StoreBusy`
        after ``lock_wait_s``) or what made it fail within ``answer_s``.
        """
        deadline = time.monotonic() + answer_s
        job = Job(id=uuid.uuid4().hex[:12], files=[], kind="erasure")
        ended = threading.Event()
        gate = threading.Lock()  # who tells how it ended: the request (in time) or the job (later)
        outcome: dict[str, Any] = {"later": False}

        def run() -> None:
            status = 200
            try:
                with store.writer(wait_s=lock_wait_s):
                    job.status = "running"
                    report = erase(store, entity_id, self.quarantine_dir, kinds=kinds)
                    job.report = {
                        **report.model_dump(mode="json"),  # as kept: it does not point at them
                        "entity_id": _masked_ref(entity_id),
                        "items_deleted": [_masked_ref(i) for i in report.items_deleted],
                    }
                    job.status = "done"
                    outcome["report"] = report
            except CknError as exc:
                outcome["error"], status = exc, exc.status
                job.status, job.error = "failed", f"{exc.title}; see the server log"
                log.error("erasure job %s failed: %s", job.id, exc.detail)
            except Exception as exc:  # a job must end with a status, whatever happened
                log.exception("erasure job %s failed", job.id)
                outcome["error"], status = exc, 500
                job.status, job.error = "failed", "unexpected error; see the server log"
            finally:
                job.finished_at = utcnow().isoformat()
                with gate:
                    ended.set()
                    later = outcome["later"]
                if later:
                    self._save(job, store)
                    try:
                        ended_later(status)
                    except Exception:  # the erasure ended as its record says; a lost audit record is logged
                        log.exception("could not record how erasure job %s ended", job.id)
                with self._held_lock:
                    self._erasures.discard(thread)

        thread = threading.Thread(target=run, name=f"ckn-erasure-{job.id}", daemon=True)
        with self._held_lock:
            self._erasures.add(thread)
        thread.start()
        ended.wait(max(deadline - time.monotonic(), 0.0))
        with gate:
            outcome["later"] = not ended.is_set()
        if outcome["later"]:
            self.hold(job, store)
            return job, None
        if "error" in outcome:
            raise outcome["error"]
        return job, outcome["report"]

    def run(
        self,
        job: Job,
        folder: Path,
        store: GraphStore,
        mapping: Mapping = NO_MAPPING,
        *,
        keys: dict[Path, str],
        replace: Replace | None = None,
        dry_run: bool = False,
    ) -> None:
        """Ingest a job's files (called in the background), each as the source ``keys`` names."""
        with self._lock:
            job.status = "running"
            self._save(job, store)
            try:
                report = ingest_paths(
                    store,
                    list(keys),
                    quarantine_dir=self.quarantine_dir,
                    mapping=mapping,
                    batch_size=self.batch_size,
                    nlp=self.nlp,
                    match_threshold=self.match_threshold,
                    keys=keys,
                    replace=replace,
                    dry_run=dry_run,
                    lock_wait_s=self.lock_wait_s,
                    phone_region=self.phone_region,
                    on_wait=lambda holder: log.info("job %s waits for %s", job.id, holder),
                )
                for file in report.files:  # the user's names, not the server's folders
                    file.path = keys.get(Path(file.path), Path(file.path).name)
                report.quarantine_dir = "quarantine"  # on the server, beside its store: not a path to show
                job.report = ingest_report_json(report)
                job.status = "done"
            except CknError as exc:
                job.status, job.error = "failed", f"{exc.title}: {exc.detail}"
            except Exception:  # a job must end with a status, whatever happened
                log.exception("ingest job %s failed", job.id)
                job.status, job.error = "failed", "unexpected error; see the server log"
            finally:
                job.finished_at = utcnow().isoformat()
                shutil.rmtree(folder, ignore_errors=True)
                self._save(job, store)


MAX_UPLOAD_BYTES = 200 * 2**20
router = APIRouter(tags=["ingest"])
_CHUNK = 2**20


class UploadLimit:
    """ASGI middleware: a request body above ``limit`` bytes gets a 413 as soon as that is known.

    Known from its ``Content-Length``, or while it arrives; never after it was read whole.
    """

    def __init__(self, app: ASGIApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = MAX_UPLOAD_BYTES + 2**20 if limit is None else limit  # the files and their form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body."""
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = exceeded = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                exceeded = True
                raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if exceeded:  # the form parser turned the stop into its own error: answer 413 instead
                if not started:
                    started = True
                    await self._refuse(send)
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = UploadTooLarge(f"uploads are limited to {MAX_UPLOAD_BYTES / 2**20:g} MiB in all").problem()
        await JSONResponse(body, status_code=413, media_type="application/problem+json")(
            {"type": "http"}, _no_body, send
        )


class _TooLarge(Exception):
    """The request body went past the upload limit."""


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


@router.post("/ingest", status_code=202, response_model=JobOut, response_model_exclude_unset=True)
async def start_ingest(
    request: Request,
    background: BackgroundTasks,
    files: Annotated[
        list[UploadFile],
        File(
            min_length=1,
            description="CSV exports, vCards, documents; a name may keep its folder (a/customers.csv).",
        ),
    ],
    preset: Annotated[str | None, Form(description="hubspot or salesforce")] = None,
    source: Annotated[
        str | None,
        Form(description="Name the upload's sources: each file is source/its name (default: its name)."),
    ] = None,
    mode: Annotated[
        Literal["merge", "replace"],
        Form(
            description="merge (default): add to what is stored; replace: each file replaces the "
            "older versions of its source, deleting the facts only they supported."
        ),
    ] = "merge",
    yes: Annotated[bool, Form(description="Replace even when it deletes more than the set share.")] = False,
    dry_run: Annotated[bool, Form(description="Read and report, write nothing.")] = False,
) -> dict[str, Any]:
    """Upload files and ingest them in the background; poll the returned ``status_url``."""
    mapping = Mapping.preset(preset) if preset else NO_MAPPING
    settings = request.app.state.settings
    jobs: Jobs = request.app.state.jobs
    store: GraphStore = request.app.state.store
    job, folder = jobs.create()
    keys: dict[Path, str] = {}
    total = 0
    try:
        for upload in files:
            name = safe_name(upload.filename or "upload")
            key = f"{source.strip('/')}/{name}" if source else name
            target = folder / name
            if target in keys:
                raise Conflict(f"two uploads are named {name!r}; name them apart (a folder each)")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                while chunk := await upload.read(_CHUNK):
                    total += len(chunk)
                    if total > MAX_UPLOAD_BYTES:
                        raise UploadTooLarge(
                            f"uploads are limited to {MAX_UPLOAD_BYTES / 2**20:g} MiB in all"
                        )
                    out.write(chunk)
            keys[target] = key
            job.files.append(name)
    except CknError:
        jobs.forget(job, folder)
        raise
    replace = Replace(confirmed=yes, max_share=settings.replace_max_share) if mode == "replace" else None
    await run_in_threadpool(jobs.hold, job, store)
    background.add_task(jobs.run, job, folder, store, mapping, keys=keys, replace=replace, dry_run=dry_run)
    return {**job.view(), "status_url": f"/ingest/jobs/{job.id}"}


@router.get("/ingest/jobs/{job_id}", response_model=JobOut, response_model_exclude_unset=True)
def ingest_job(request: Request, job_id: str) -> dict[str, Any]:
    """Status of an ingest job, with its report when it is done."""
    jobs: Jobs = request.app.state.jobs
    return jobs.shown(request.app.state.store, job_id, "ingest")
