"""Bounds on what requests in flight may make one replica hold and do at once.

A fail-closed webhook that is down stops pod creation cluster-wide, so no client, however
many requests it sends and however large, may push a replica past its memory or make
other reviews wait past their timeout:

* **In flight.** At most ``max_requests`` reviews are read or judged at once, holding at
  most ``max_bytes`` of bodies between them. A review past either bound is refused at
  once, never queued: with a 429 AdmissionReview when its body is small enough to read
  its uid cheaply (the API server relays it as ``429 TooManyRequests``, which clients
  retry), else an HTTP 429 (the API server then fails the call, which under
  ``failurePolicy: Fail`` is a refusal too). Either way the answer is "not allowed".
* **Off the event loop.** A review of ordinary size is decoded and judged on the event
  loop, in a few milliseconds at most. A large one is decoded and judged in one worker
  thread, where it cannot hold up the small reviews and health checks the loop answers
  meanwhile; the worker takes the smallest waiting review first, so no review waits
  behind a larger one.
* **Decision time.** Decoding and judging a large review together must end before a
  deadline shorter than the webhook timeout; a review that cannot be judged in time is
  refused, and one still waiting for the worker when its deadline passes is never started.
* **The loop first.** The event loop gives up the GIL around every socket wait, callback
  and TLS record it decrypts, and a thread that wants the GIL back waits up to the
  interpreter's switch interval (5 ms by default) while another thread runs Python. Paid
  per 16 KiB record while the worker judges, that made reading a few megabytes take
  seconds and every other review wait behind it; :func:`responsive_loop` shortens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

# Reviews up to this size are decoded and judged on the event loop: a few milliseconds
# at most, most of them well under one.
INLINE_BYTES = 256 * 1024
# An overloaded review this small is still read, to answer it as an AdmissionReview.
QUICK_REFUSAL_BYTES = 64 * 1024
# How long the event loop may wait for the GIL while the worker thread holds it.
SWITCH_INTERVAL = 0.0002


class Overloaded(Exception):
    """Too much is in flight: the review is refused without being judged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "requests" or "bytes": the metric label


class TooSlow(Exception):
    """The decision did not come within its deadline."""


_Job = tuple[Callable[[], Any], Future[Any]]


class SmallestFirst:
    """One worker thread running the calls given to it, the smallest first."""

    def __init__(self, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, _Job | None]] = queue.PriorityQueue()
        self._order = itertools.count()  # equal sizes in the order given; never compares jobs
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], T], *, size: int) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((size, next(self._order), (work, future)))
        return future

    def _work(self) -> None:
        while (job := self._queue.get()[2]) is not None:
            work, future = job
            if not future.set_running_or_notify_cancel():
                continue  # its deadline passed while it waited
            try:
                result = work()
            except BaseException as error:  # handed to the waiting request, as an executor does
                future.set_exception(error)
            else:
                future.set_result(result)

    def close(self) -> None:
        """Cancels what waits and stops the thread once the running call returns."""
        with contextlib.suppress(queue.Empty):
            while True:
                job = self._queue.get_nowait()[2]
                if job is not None:
                    job[1].cancel()
        self._queue.put((-1, -1, None))


@contextlib.contextmanager
def responsive_loop() -> Iterator[None]:
    """While serving: the interpreter's switch interval at most :data:`SWITCH_INTERVAL`."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@dataclass(slots=True)
class InFlight:
    """Counts reviews and body bytes in flight; :meth:`enter` is the one door."""

    max_requests: int
    max_bytes: int
    requests: int = 0
    bytes: int = 0
    _worker: SmallestFirst = field(default_factory=lambda: SmallestFirst("judge"))

    @contextlib.contextmanager
    def enter(self, reserved_bytes: int) -> Iterator[None]:
        """Holds one slot and ``reserved_bytes`` until the answer is built."""
        if self.requests >= self.max_requests:
            raise Overloaded("requests")
        if self.bytes + reserved_bytes > self.max_bytes:
            raise Overloaded("bytes")
        self.requests += 1
        self.bytes += reserved_bytes
        try:
            yield
        finally:
            self.requests -= 1
            self.bytes -= reserved_bytes

    @staticmethod
    def deadline(seconds: float) -> float:
        """The event-loop time ``seconds`` from now, for :meth:`run`."""
        return asyncio.get_running_loop().time() + seconds

    async def run(self, work: Callable[[], T], *, size: int, deadline: float) -> T:
        """``work()`` for a review of ``size`` bytes: inline when it is small, else in the
        worker thread, done by the event-loop time ``deadline`` (:class:`TooSlow` past it)."""
        if size <= INLINE_BYTES:
            return work()
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise TooSlow
        future = asyncio.wrap_future(self._worker.submit(work, size=size))
        try:
            return await asyncio.wait_for(future, timeout=remaining)
        except TimeoutError:
            raise TooSlow from None

    def close(self) -> None:
        self._worker.close()
