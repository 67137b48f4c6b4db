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
* **Decision time.** A large review is judged in one worker thread, off the event loop,
  under a deadline shorter than the webhook timeout: health checks and small reviews keep
  being answered meanwhile, and a review that cannot be judged in time is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# Reviews up to this size are judged on the event loop: a few hundred microseconds.
INLINE_BYTES = 256 * 1024
# An overloaded review this small is still read, to answer it as an AdmissionReview.
QUICK_REFUSAL_BYTES = 64 * 1024


class Overloaded(Exception):
    """Too much is in flight: the review is refused without being judged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "requests" or "bytes": the metric label


class TooSlow(Exception):
    """The decision did not come within its deadline."""


@dataclass(slots=True)
class InFlight:
    """Counts reviews and body bytes in flight; :meth:`enter` is the one door."""

    max_requests: int
    max_bytes: int
    requests: int = 0
    bytes: int = 0
    _judge: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge")
    )

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

    async def judge(self, decide: Callable[[], T], *, size: int, deadline: float) -> T:
        """``decide()`` inline when the review is small, else in the worker thread within
        ``deadline`` seconds (:class:`TooSlow` past it)."""
        if size <= INLINE_BYTES:
            return decide()
        future = asyncio.get_running_loop().run_in_executor(self._judge, decide)
        try:
            return await asyncio.wait_for(future, timeout=deadline)
        except TimeoutError:
            raise TooSlow from None

    def close(self) -> None:
        self._judge.shutdown(wait=False, cancel_futures=True)
