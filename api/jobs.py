"""Ingest jobs started over HTTP: the upload is saved, ingested in the background, its status polled.

Jobs live in the memory of the API process (a restart forgets them; the data they wrote stays, and
running the same upload again resumes or skips it like any ingest).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Request, UploadFile

from api.schemas import ingest_report_json
from graph.errors import CknError, LimitExceeded, NotFound
from graph.model import utcnow
from graph.store import GraphStore
from ingest.pipeline import NlpOptions, ingest_paths
from ingest.tabular import NO_MAPPING, Mapping

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def safe_name(name: str) -> str:
    """A file name without directories or odd characters (uploads choose their own names)."""
    cleaned = _SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return cleaned or "upload"


@dataclass
class Job:
    """One upload being ingested."""

    id: str
    files: list[str]
    status: str = "queued"
    """``queued``, ``running``, ``done`` or ``failed``."""
    created_at: str = field(default_factory=lambda: utcnow().isoformat())
    finished_at: str | None = None
    report: dict[str, Any] | None = None
    error: str | None = None

    def view(self) -> dict[str, Any]:
        """The job as the API shows it."""
        return {
            "id": self.id,
            "status": self.status,
            "files": self.files,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "report": self.report,
            "error": self.error,
        }


class Jobs:
    """The ingest jobs of one API process."""

    def __init__(
        self, upload_dir: Path, quarantine_dir: Path, batch_size: int, nlp: NlpOptions, match_threshold: int
    ) -> None:
        self.upload_dir, self.quarantine_dir = upload_dir, quarantine_dir
        self.batch_size, self.nlp, self.match_threshold = batch_size, nlp, match_threshold
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()  # one ingest at a time: they share the resolver's view of the data

    def create(self, uploads: list[tuple[str, bytes]]) -> tuple[Job, Path]:
        """Save the uploaded files of a new job; return the job and its folder."""
        job = Job(id=uuid.uuid4().hex[:12], files=[])
        folder = self.upload_dir / job.id
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in uploads:
            target = folder / safe_name(name)
            target.write_bytes(data)
            job.files.append(target.name)
        self._jobs[job.id] = job
        return job, folder

    def get(self, job_id: str) -> Job | None:
        """A job by id."""
        return self._jobs.get(job_id)

    def run(self, job: Job, folder: Path, store: GraphStore, mapping: Mapping = NO_MAPPING) -> None:
        """Ingest a job's folder (called in the background)."""
        with self._lock:
            job.status = "running"
            try:
                report = ingest_paths(
                    store,
                    [folder],
                    quarantine_dir=self.quarantine_dir,
                    mapping=mapping,
                    batch_size=self.batch_size,
                    nlp=self.nlp,
                    match_threshold=self.match_threshold,
                )
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


MAX_UPLOAD_BYTES = 200 * 2**20
router = APIRouter(tags=["ingest"])


@router.post("/ingest", status_code=202)
async def start_ingest(
    request: Request,
    background: BackgroundTasks,
    files: Annotated[list[UploadFile], File(description="CSV exports, vCards, documents.")],
    preset: Annotated[str | None, Form(description="hubspot or salesforce")] = None,
) -> dict[str, Any]:
    """Upload files and ingest them in the background; poll the returned ``status_url``."""
    mapping = Mapping.preset(preset) if preset else NO_MAPPING
    uploads = []
    total = 0
    for upload in files:
        data = await upload.read(MAX_UPLOAD_BYTES + 1 - total)
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise LimitExceeded(f"uploads are limited to {MAX_UPLOAD_BYTES // 2**20} MiB in all")
        uploads.append((upload.filename or "upload", data))
    jobs: Jobs = request.app.state.jobs
    job, folder = jobs.create(uploads)
    background.add_task(jobs.run, job, folder, request.app.state.store, mapping)
    return {**job.view(), "status_url": f"/ingest/jobs/{job.id}"}


@router.get("/ingest/jobs/{job_id}")
def ingest_job(request: Request, job_id: str) -> dict[str, Any]:
    """Status of an ingest job, with its report when it is done."""
    job: Job | None = request.app.state.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no ingest job {job_id!r} (jobs are forgotten when the server restarts)")
    return job.view()
