"""Long work off the request: imports, label sheets, exports, documents and verification run as jobs.

A job is a row in the app's own database (`core.models.Job`: who started it, its parameters, its state,
its final progress, its result file in the one file store) and one message on huey's queue that carries
only the job's id. The queue is huey's SQLite storage by default (`JOBS_DB`, a file under instance/, no
server needed) and Redis in production (`REDIS_URL`); the job service is `flask --app wsgi jobs worker`.

The page that starts a job records it, puts it on the queue and redirects to the job's page at once. The
worker claims the job (queued → running, atomically, so two workers never run one job), runs the kind's
function and ends it done or failed. Progress while it runs is written to the queue's key-value store, not
the database: an import holds SQLite's write lock for its whole transaction, and the page must still see
its rows counted. A job's audit entry is written in the same transaction that marks it done (see
`JobContext.finish`), so the entry exists exactly when the result does. A job that raises a domain error
fails with that reason; one that breaks unexpectedly is put back on the queue until `JOBS_ATTEMPTS` is used
up, then fails. The work of every kind is all-or-nothing (an import is one transaction), so a failed or
killed job applied nothing. The CLI calls the same functions directly, without a queue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app
from flask_babel import force_locale
from sqlalchemy import CursorResult, select, update

from core.db import N_, DomainError, Session, db, known, utcnow, write
from core.files import FileStore, safe_name
from core.models import Job, StoredFile, User
from core.people.permissions import can_see_job
from core.web import context

log = logging.getLogger("khruphan.jobs")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
RETRY, SKIPPED = "retry", "skipped"
TASK_NAME = "khruphan.run_job"
EXTENSION = "khruphan.jobs"
PROGRESS_EVERY = 0.5  # seconds between two progress writes of one job


class JobFailed(DomainError):
    """The job cannot succeed (the input turned out bad): it fails with this reason at once, not retried.

    `outcome` is kept with the failed job for its page (an import's bad rows)."""

    def __init__(self, message: str, outcome: dict[str, Any] | None = None, **params: Any):
        super().__init__(message, **params)
        self.outcome = outcome or {}


class RetryLater(Exception):
    """Raised to huey so that it puts the job back on the queue after an unexpected error."""


@dataclass(frozen=True)
class Kind:
    name: str
    run: Callable[[JobContext], None]
    title: str  # an English msgid: what the job page calls the job
    result_endpoint: str | None = None  # a page that shows the job's outcome (?job=<id>), besides any file
    show_result: bool = False  # the finished job's page goes straight to that page


_KINDS: dict[str, Kind] = {}


def register(
    name: str,
    run: Callable[[JobContext], None],
    *,
    title: str,
    result_endpoint: str | None = None,
    show_result: bool = False,
) -> None:
    """Declare a kind of job: `run(ctx)` does the work (the packages register theirs when imported)."""
    _KINDS[name] = Kind(name, run, title, result_endpoint, show_result)


def kind_of(name: str) -> Kind | None:
    return _KINDS.get(name)


# --- the queue -----------------------------------------------------------------------------------


def make_huey(config: dict[str, Any]):
    """The huey instance the configuration asks for: immediate (in-process), Redis, or SQLite (default)."""
    from huey import MemoryHuey, RedisHuey, SqliteHuey

    if config.get("JOBS_IMMEDIATE"):
        return MemoryHuey("khruphan", immediate=True, results=False)
    if config.get("REDIS_URL"):
        return RedisHuey("khruphan", url=config["REDIS_URL"], results=False)
    path = Path(config["JOBS_DB"])
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("khruphan", filename=str(path), results=False)


class Queue:
    """One app's huey instance (made when first used), with the one task that runs a job by its id."""

    def __init__(self, app: Flask, huey: Any = None):
        self.app = app
        self._huey = huey
        self._task: Any = None

    @property
    def huey(self) -> Any:
        if self._huey is None:
            self._huey = make_huey(self.app.config)
        return self._huey

    @property
    def task(self) -> Any:
        if self._task is None:
            attempts = max(1, int(self.app.config.get("JOBS_ATTEMPTS") or 1))
            self._task = self.huey.task(retries=attempts - 1, retry_delay=2, name=TASK_NAME)(self._run)
        return self._task

    def _run(self, job_id: str) -> None:
        if execute(self.app, job_id, queue=self) == RETRY:
            raise RetryLater(job_id)

    def enqueue(self, job_id: str) -> None:
        self.task(job_id)

    def put_progress(self, job_id: str, done: int, total: int | None) -> None:
        self.huey.put(f"kp-progress:{job_id}", (int(done), total))

    def get_progress(self, job_id: str) -> tuple[int, int | None] | None:
        value = self.huey.get(f"kp-progress:{job_id}", peek=True)
        return tuple(value) if value else None

    def clear_progress(self, job_id: str) -> None:
        self.huey.get(f"kp-progress:{job_id}")  # get without peek removes the key

    def consumer(self, workers: int | None = None, **options: Any):
        """huey's consumer for this queue (threads: the work is mostly in the database and in C code)."""
        workers = workers or int(self.app.config.get("JOBS_WORKERS") or 2)
        self.task  # noqa: B018  (the consumer must know the task)
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=False, **options)


def init_app(app: Flask) -> None:
    """Give the app its queue (nothing connects yet: the storage opens on first use)."""
    app.extensions[EXTENSION] = Queue(app)


def queue_of(app: Flask | None = None) -> Queue:
    return (app or current_app).extensions[EXTENSION]


# --- starting and reading jobs -------------------------------------------------------------------


def start(session: Session, kind: str, owner: User | None, params: dict[str, Any], *, lang: str = "th") -> Job:
    """Record a job and put it on the queue; the request that starts it returns at once."""
    if kind not in _KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    origin = context.current_origin()
    job = Job(
        id=secrets.token_urlsafe(18),
        kind=kind,
        owner_id=owner.id if owner is not None else None,
        params={
            **params,
            "_origin": {"ip": origin.ip, "user_agent": origin.user_agent, "request_id": origin.request_id},
        },
        lang=lang if lang in ("th", "en") else "th",
        status=QUEUED,
        done=0,
        total=None,
        attempts=0,
        message="",
        message_params={},
        outcome={},
        result_name="",
        error="",
        error_params={},
        created_at=utcnow(),
    )
    with write(session):
        session.add(job)
        session.commit()
    job_id = job.id
    try:
        queue_of().enqueue(job_id)
    except Exception:  # the queue's server is down: say so on the job's page rather than fail the request
        log.exception("could not put job %s on the queue", job_id)
        _end(session, job_id, FAILED, error=N_("The job service cannot be reached; try again later."))
    job = known(session.get(Job, job_id), "job")
    session.expunge(job)
    session.rollback()  # leave no read transaction open: the worker's changes must be seen next
    return job


def job_for(session: Session, job_id: str, user: User | None) -> Job | None:
    """The job if `user` started it; None otherwise (others are told it does not exist)."""
    if user is None or not job_id or len(job_id) > 32:
        return None
    if not (session.new or session.dirty or session.deleted):
        session.rollback()  # a read transaction left open would not see what the worker wrote since
    job = session.get(Job, job_id, populate_existing=True)
    return job if can_see_job(user, job) else None


def progress_of(job: Job) -> tuple[int, int | None]:
    """(done, total) of a job: live from the queue while it runs, else as recorded."""
    if job.status == RUNNING:
        try:
            live = queue_of().get_progress(job.id)
        except Exception:  # the queue is unreachable: show what the database has
            live = None
        if live:
            return live
    return job.done, job.total


def percent(done: int, total: int | None) -> int | None:
    if not total:
        return None
    return max(0, min(100, int(done * 100 / total)))


# --- running a job -------------------------------------------------------------------------------


class JobContext:
    """What a job's function gets: its parameters, its owner, the session, and progress and result helpers."""

    def __init__(self, job: Job, owner: User | None, queue: Queue | None, config: Any):
        self.id = job.id
        self.kind = job.kind
        self.params: dict[str, Any] = {k: v for k, v in (job.params or {}).items() if k != "_origin"}
        self.owner = owner
        self.lang = job.lang
        self.config = config
        self.session: Session = db.session
        self.store = FileStore(config["EVIDENCE_DIR"])
        self.done = 0
        self.total: int | None = None
        self.sealed = False
        self._queue = queue
        self._last_write = 0.0
        self._seal: Callable[[Session], None] | None = None

    def progress(self, done: int | None = None, total: int | None = None, *, add: int = 0, force: bool = False) -> None:
        """Set (or `add` to) the work done and the total; written to the queue at most every half second."""
        if total is not None:
            self.total = int(total)
        if done is not None:
            self.done = int(done)
        self.done += int(add)
        now = time.monotonic()
        if self._queue is not None and (force or now - self._last_write >= PROGRESS_EVERY):
            self._last_write = now
            try:
                self._queue.put_progress(self.id, self.done, self.total)
            except Exception:  # progress is a courtesy; the work goes on
                log.warning("could not write the progress of job %s", self.id, exc_info=True)

    def temp_path(self, suffix: str = "") -> Path:
        """A new empty file beside the file store (same disk, so keeping it is a rename)."""
        folder = Path(self.config["EVIDENCE_DIR"]) / ".jobs"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, suffix=suffix, prefix=f"{self.id[:8]}-")
        os.close(fd)
        return Path(name)

    def finish(
        self,
        *,
        path: Path | None = None,
        data: bytes | None = None,
        name: str = "",
        mime: str = "",
        outcome: dict[str, Any] | None = None,
        message: str = "",
        **params: Any,
    ) -> Callable[[Session], None]:
        """Keep the result file in the store now; return what marks the job done.

        Call the returned function inside the transaction that records the job's audit entry (services
        take it as `before_commit`), so that the entry and the result come into being together; a job that
        records nothing is marked done by the runner.
        """
        digest, size = None, 0
        if path is not None:
            digest, size = _keep_file(self.store, Path(path))
        elif data is not None:
            digest, size = self.store.write(data), len(data)
        owner_id = self.owner.id if self.owner is not None else None
        finished = self.total if self.total is not None else self.done
        values = {
            "status": DONE,
            "done": finished,
            "total": self.total,
            "message": message,
            "message_params": _plain(params),
            "outcome": outcome or {},
            "result_sha256": digest,
            "result_name": safe_name(name) if digest else "",
            "error": "",
            "error_params": {},
            "finished_at": utcnow(),
        }

        def seal(session: Session) -> None:
            if digest is not None and session.get(StoredFile, digest) is None:
                _insert_file(
                    session,
                    {
                        "sha256": digest,
                        "size": size,
                        "mime": mime or "application/octet-stream",
                        "original_name": safe_name(name),
                        "width": None,
                        "height": None,
                        "uploaded_by_id": owner_id,
                        "uploaded_at": utcnow(),
                    },
                )
            session.execute(update(Job).where(Job.id == self.id).values(**values))
            self.sealed = True

        self._seal = seal
        return seal


def _keep_file(store: FileStore, path: Path) -> tuple[str, int]:
    """Move a finished temporary file into the store under its SHA-256 (hashed in pieces, never read whole)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for piece in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(piece)
            size += len(piece)
    sha = digest.hexdigest()
    target = store.path_of(sha)
    if target.exists() and target.stat().st_size == size:
        path.unlink()
        return sha, size
    target.parent.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(path, target)
    return sha, size


def _insert_file(session: Session, values: dict[str, Any]) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(dialect_insert(StoredFile).values(**values).on_conflict_do_nothing())


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for k, v in params.items()}


def _end(
    session: Session,
    job_id: str,
    status: str,
    *,
    error: str = "",
    error_params: dict | None = None,
    done: int | None = None,
    total: int | None = None,
    outcome: dict[str, Any] | None = None,
) -> None:
    session.rollback()  # what the job left pending (or half done) is not part of its end
    values: dict[str, Any] = {"status": status, "error": error[:500], "error_params": _plain(error_params or {})}
    if outcome:
        values["outcome"] = outcome
    if status in (DONE, FAILED):
        values["finished_at"] = utcnow()
    if done is not None:
        values["done"] = done
    if total is not None:
        values["total"] = total
    with write(session):
        session.execute(update(Job).where(Job.id == job_id).values(**values))
        session.commit()


def execute(app: Flask, job_id: str, queue: Queue | None = None) -> str:
    """Run one queued job to its end in this thread; returns done, failed, retry or skipped.

    The worker calls this through huey; tests call it directly. A request context (built on BASE_URL)
    lets the work build links and translate as in a request; the job's own language is forced.
    """
    queue = queue if queue is not None else app.extensions.get(EXTENSION)
    # an app context of its own first: a request context would otherwise join one already pushed (a test's),
    # and share its session and `g`
    with app.app_context(), app.test_request_context("/", base_url=app.config["BASE_URL"]):
        session = db.session
        try:
            return _execute(app, session, job_id, queue)
        finally:
            session.rollback()
            db.session.remove()


def _execute(app: Flask, session: Session, job_id: str, queue: Queue | None) -> str:
    with write(session):
        claimed = cast(  # an UPDATE's result is a CursorResult
            CursorResult,
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == QUEUED)
                .values(status=RUNNING, started_at=utcnow(), attempts=Job.attempts + 1)
            ),
        ).rowcount
        session.commit()
    if claimed != 1:
        return SKIPPED  # done already, or another worker has it
    job = known(session.get(Job, job_id), "job")
    attempts, kind = job.attempts, _KINDS.get(job.kind)
    origin = (job.params or {}).get("_origin") or {}
    context.set_origin(str(origin.get("ip", "")), str(origin.get("user_agent", "")), origin.get("request_id"))
    owner = session.get(User, job.owner_id) if job.owner_id is not None else None
    if kind is None:
        _end(session, job_id, FAILED, error=N_("This kind of job is not known to this version of the app."))
        return FAILED
    if owner is not None and not owner.active:
        _end(session, job_id, FAILED, error=N_("The account that started this job is no longer active."))
        return FAILED
    ctx = JobContext(job, owner, queue, app.config)
    session.rollback()
    try:
        with force_locale(job.lang):
            kind.run(ctx)
            if not ctx.sealed:
                seal = ctx._seal or ctx.finish()
                with write(session):
                    seal(session)
                    session.commit()
    except DomainError as err:
        session.rollback()
        _end(
            session,
            job_id,
            FAILED,
            error=err.message,
            error_params=dict(err.params),
            done=ctx.done,
            total=ctx.total,
            outcome=getattr(err, "outcome", None),
        )
        return FAILED
    except Exception as err:  # an unexpected break: nothing was committed; retried while attempts remain
        session.rollback()
        log.exception("job %s (%s) failed on attempt %d", job_id, ctx.kind, attempts)
        max_attempts = max(1, int(app.config.get("JOBS_ATTEMPTS") or 1))
        if attempts < max_attempts and queue is not None:
            _end(
                session,
                job_id,
                QUEUED,
                error=N_("The job stopped with an unexpected error (%(error)s); it is tried again."),
                error_params={"error": type(err).__name__},
            )
            return RETRY
        _end(
            session,
            job_id,
            FAILED,
            error=N_("The job stopped with an unexpected error (%(error)s); nothing was applied."),
            error_params={"error": type(err).__name__},
        )
        return FAILED
    finally:
        if queue is not None:
            try:
                queue.clear_progress(job_id)
            except Exception:
                log.warning("could not clear the progress of job %s", job_id, exc_info=True)
    return DONE


def recover(app: Flask) -> int:
    """At the job service's start: jobs left running by a service that died are queued again (or fail when
    their attempts are used up); every queued job is put on the queue again, since its message may be lost
    (a second message for one job is harmless: only one claim succeeds). Returns how many were queued."""
    queue = queue_of(app)
    max_attempts = max(1, int(app.config.get("JOBS_ATTEMPTS") or 1))
    with app.app_context():
        session = db.session
        with write(session):
            for job in session.execute(select(Job).where(Job.status == RUNNING)).scalars():
                if job.attempts < max_attempts:
                    job.status = QUEUED
                else:
                    job.status, job.finished_at = FAILED, utcnow()
                    job.error = N_("The job service stopped while this job ran; nothing was applied.")
                    job.error_params = {}
            session.commit()
        waiting = session.execute(select(Job.id).where(Job.status == QUEUED).order_by(Job.created_at)).scalars().all()
        session.rollback()
        db.session.remove()
    for job_id in waiting:
        queue.enqueue(job_id)
    return len(waiting)


def run_worker(app: Flask, workers: int | None = None) -> None:
    """The job service: recover what a stopped service left, then run huey's consumer until a signal."""
    queue = queue_of(app)
    if queue.huey.immediate:
        raise RuntimeError("JOBS_IMMEDIATE is set: jobs run inside the requests, there is nothing to serve")
    count = recover(app)
    log.info("job service starting; %d job(s) waiting", count)
    queue.consumer(workers).run()


def start_consumer_thread(app: Flask, workers: int = 1, queue: Queue | None = None):
    """huey's consumer in threads of this process, leaving signals alone (tests, the browser tests' server).

    Stop it with `.stop(graceful=True)`."""
    from huey.consumer import Consumer

    class _InProcess(Consumer):
        def _set_signal_handlers(self) -> None:  # the host process keeps its own
            pass

    queue = queue or queue_of(app)
    queue.task  # noqa: B018  (the consumer must know the task)
    consumer = _InProcess(
        queue.huey,
        workers=workers,
        worker_type="thread",
        periodic=False,
        initial_delay=0.05,
        max_delay=0.5,
        backoff=1.5,
    )
    consumer.start()
    return consumer
