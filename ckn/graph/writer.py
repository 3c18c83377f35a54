"""One writer at a time: the store-wide lock that ingests hold, whichever process runs them.

Each store takes the lock its own way (a lock file for the embedded store, a lease on a node in
Neo4j); :func:`hold` is what they share: wait for it with a deadline, say once that we wait, keep a
lease alive while it is held, and let it go.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ckn.graph.errors import StoreBusy

log = logging.getLogger(__name__)

POLL_S = 0.2


def holder_name() -> str:
    """Who takes the lock, as a person reading the wait message can tell: host, process, a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WriterLock:
    """A store's write lock, re-entrant in the thread that holds it (an ingest inside an ingest).

    Threads of one process take it in turn too (an ingest job and an erasure of one API process): a
    store's own lock may not tell them apart (Neo4j's lease names the process).
    """

    def __init__(
        self,
        take: Callable[[], str | None],
        release: Callable[[], None],
        renew: Callable[[], bool] | None = None,
        renew_every_s: float = 10.0,
    ) -> None:
        self._take, self._release, self._renew = take, release, renew
        self._renew_every_s = renew_every_s
        self._owner: int | None = None
        self._depth = 0
        self._threads = threading.Lock()

    @contextmanager
    def held(self, wait_s: float, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the lock while the block runs (see :func:`hold`)."""
        if self._owner == threading.get_ident():
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        deadline = time.monotonic() + wait_s
        if not self._threads.acquire(timeout=max(wait_s, 0.0)):
            raise StoreBusy(
                f"another ingest of this process is writing to this store; waited {wait_s:g} s "
                "(CKN_WRITE_LOCK_WAIT_S): try again when it is done"
            )
        try:
            with hold(
                self._take,
                self._release,
                wait_s=max(deadline - time.monotonic(), 0.0),
                on_wait=on_wait,
                renew=self._renew,
                renew_every_s=self._renew_every_s,
            ):
                self._owner = threading.get_ident()
                try:
                    yield
                finally:
                    self._owner = None
        finally:
            self._threads.release()


@contextmanager
def hold(
    take: Callable[[], str | None],
    release: Callable[[], None],
    *,
    wait_s: float,
    on_wait: Callable[[str], None] | None = None,
    renew: Callable[[], bool] | None = None,
    renew_every_s: float = 10.0,
) -> Iterator[None]:
    """Hold a lock while the block runs.

    ``take()`` tries once: ``None`` when it took the lock, else who holds it. ``on_wait(holder)`` is
    called once if the lock is busy; after ``wait_s`` seconds of trying, :class:`StoreBusy` is
    raised. ``renew()`` (a lease) is called every ``renew_every_s`` while held; it returns False when
    the lease was lost.

    Raises:
        StoreBusy: the lock was still held by another writer after ``wait_s``.

    """
    deadline = time.monotonic() + wait_s
    told = False
    while (holder := take()) is not None:
        if time.monotonic() >= deadline:
            raise StoreBusy(
                f"another ingest is writing to this store ({holder}); waited {wait_s:g} s "
                "(CKN_WRITE_LOCK_WAIT_S): try again when it is done"
            )
        if not told and on_wait is not None:
            on_wait(holder)
            told = True
        time.sleep(POLL_S)
    stop = threading.Event()
    keeper = None
    if renew is not None:

        def keep() -> None:
            while not stop.wait(renew_every_s):
                if not renew():
                    log.error("the store's write lock was lost (its lease ran out); writes may overlap")

        keeper = threading.Thread(target=keep, name="ckn-writer-lease", daemon=True)
        keeper.start()
    try:
        yield
    finally:
        stop.set()
        if keeper is not None:
            keeper.join()
        release()
