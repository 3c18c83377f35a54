"""Commits that run behind: both stores' :meth:`graph.store.GraphStore.write_behind`.

Inside a block, a store runs a write's statements in the caller's thread and hands its commit to one
committer thread, so the caller prepares its next batch while the database commits. At most one
commit is in flight: every use of the store waits for it first (so reads see it, and the next write
reads the state it committed). A failed commit is told once, to the next write of a block or when the
block ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from ckn.graph.errors import StoreUnavailable


class CommitsBehind:
    """The committer thread of one store, its commit in flight and the failure not told yet."""

    def __init__(self) -> None:
        self._local = threading.local()  # .depth: this thread is inside write_behind()
        self._lock = threading.Lock()
        self._committer: ThreadPoolExecutor | None = None
        self._in_flight: Future[None] | None = None
        self._failed: BaseException | None = None

    @property
    def active(self) -> bool:
        """Whether this thread is inside a ``write_behind()`` block."""
        return getattr(self._local, "depth", 0) > 0

    @contextmanager
    def block(self) -> Iterator[None]:
        """The block: its writes may commit behind; it ends when the last is committed, or raises."""
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1
            self.wait()  # a block that raised keeps its own error
        self.check()

    def submit(self, commit: Callable[[], None]) -> None:
        """Run ``commit`` in the committer thread (the caller waited for the commit before)."""
        with self._lock:
            self._committer = self._committer or ThreadPoolExecutor(1, thread_name_prefix="ckn-commit")
            self._in_flight = self._committer.submit(commit)

    def wait(self) -> None:
        """Wait for the commit in flight, if any; keep its failure for :meth:`failure`."""
        with self._lock:
            if self._in_flight is not None:
                in_flight, self._in_flight = self._in_flight, None
                if (error := in_flight.exception()) is not None:
                    self._failed = error

    def check(self) -> None:
        """Before a write of a block: wait for the commit in flight; raise a failure not told yet."""
        self.wait()
        if error := self.failure():
            raise error

    def failure(self) -> StoreUnavailable | None:
        """The error of a commit that failed behind, told once."""
        with self._lock:
            failed, self._failed = self._failed, None
        if failed is None:
            return None
        error = StoreUnavailable(f"an earlier write of this block was not committed: {failed}")
        error.__cause__ = failed
        return error

    def close(self) -> None:
        """Wait for the commit in flight and stop the committer thread."""
        self.wait()
        if self._committer is not None:
            self._committer.shutdown()
