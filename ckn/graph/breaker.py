"""A circuit breaker: once a server is found unreachable, callers are told so at once for a while.

Without one, every request waits out its own connection attempts and retries while the server is down
(a pile of timeouts). With it, the first failure opens the circuit for ``cool_down_s``: calls in that
time fail at once with :class:`graph.errors.StoreUnavailable` (a 503 with ``Retry-After``); the first
call after it tries the server again, and closes the circuit when it answers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ckn.graph.errors import StoreUnavailable


class Breaker:
    """The circuit of one store's connection; ``outage`` says which errors mean the server is away."""

    def __init__(self, what: str, outage: Callable[[BaseException], bool], cool_down_s: float = 5.0) -> None:
        self.what, self.outage, self.cool_down_s = what, outage, cool_down_s
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        """Whether calls are refused at once now."""
        return time.monotonic() < self._open_until

    def check(self) -> None:
        """Refuse at once while the circuit is open.

        Raises:
            StoreUnavailable: it is; ``Retry-After`` says when the server is tried again.

        """
        wait = self._open_until - time.monotonic()
        if wait > 0:
            raise StoreUnavailable(
                f"{self.what} is unreachable; ckn tries it again in {math.ceil(wait)} s",
                retry_after_s=max(1, math.ceil(wait)),
            )

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run a call to the server: refused while open; an outage opens the circuit, success closes it."""
        self.check()
        try:
            yield
        except BaseException as exc:
            if not self.outage(exc):
                raise
            with self._lock:
                self._open_until = time.monotonic() + self.cool_down_s
            raise StoreUnavailable(
                f"{self.what} is unreachable; ckn tries it again in {math.ceil(self.cool_down_s)} s",
                retry_after_s=max(1, math.ceil(self.cool_down_s)),
            ) from None
        if self._open_until:
            with self._lock:
                self._open_until = 0.0
