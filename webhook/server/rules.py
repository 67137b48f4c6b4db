"""The rules being served, and reloading them when the repository changes.

A reload reads the whole new repository first, in a worker thread; only a repository that
loads completely replaces the served one, in a single reference assignment. A request
reads :attr:`RulesState.snapshot` once and judges with that snapshot only, so each
request sees one consistent Policy (RELIABILITY 26, 27). A repository that does not load
keeps the old snapshot; the reason is logged with file and line and counted.

A repository that loads can still be a broken change: an empty or half-synced checkout
loads as "no rules", and with no gateways configured nothing protects them. So a loaded
repository must also pass a sanity floor (RELIABILITY 33): at least one gateway and one
destination, and, while rules are served, no sudden drop to under half of the
destinations and grants served. A change that fails it is refused, logged and counted,
like one that does not load. A deliberate large removal is served after a restart (the
first load of a replica only checks the floor).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from webhook.model.rules import Policy
from webhook.server.metrics import Metrics
from webhook.server.settings import RulesLoader
from webhook.server.watching import changes, watch_roots

log = logging.getLogger("egressguard.rules")
RETRY_AFTER_WATCH_FAILURE = 5.0


@dataclass(frozen=True, slots=True)
class RulesSnapshot:
    """One loaded repository: what a request judges with, from start to end."""

    policy: Policy
    generation: int
    revision: str
    loaded_at: datetime


def describe_failure(error: Exception) -> list[str]:
    """The lines that say why a repository did not load (``file:line: message``)."""
    problems = getattr(error, "problems", None)
    if problems:
        return [str(problem) for problem in problems]
    return [f"{type(error).__name__}: {error}"]


# A change keeping less than this share of the destinations and grants served is refused.
LARGEST_DROP = 0.5
# Below this many destinations and grants, a change is not judged by its size.
DROP_CHECKED_FROM = 10


def _size(policy: Policy) -> int:
    return len(policy.destinations) + len(policy.grants)


def below_floor(policy: Policy, served: Policy | None) -> tuple[str, str] | None:
    """(metric reason, message) when ``policy`` must not replace ``served``; else None."""
    if not policy.config.gateways:
        return "no-gateways", ("config.yaml configures no gateways; an empty or partly "
                               "synced repository is not a rules change")
    if not policy.destinations:
        return "no-destinations", ("the repository holds no destinations; an empty or partly "
                                   "synced repository is not a rules change")
    if served is not None and _size(served) >= DROP_CHECKED_FROM \
            and _size(policy) < _size(served) * LARGEST_DROP:
        return "large-drop", (
            f"the change keeps {len(policy.destinations)} destinations and "
            f"{len(policy.grants)} grants of {len(served.destinations)} and "
            f"{len(served.grants)} served; a drop this large is refused while serving (a "
            "restart serves it)"
        )
    return None


def settle_heap() -> None:
    """Collect once after a swap, then freeze what survives.

    A large Policy is hundreds of thousands of long-lived objects; left to the cyclic
    garbage collector, each full collection walks them all, a pause of ~100 ms at 100,000
    grants in the middle of some admission request. Frozen objects are still freed by
    reference counting when the next swap drops them; unfreezing first lets the one
    collection here reclaim any cycles among them.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class RulesState:
    """Holds the served snapshot; :meth:`reload` is the only writer."""

    def __init__(self, path: Path, loader: RulesLoader, metrics: Metrics,
                 clock: Callable[[], datetime]) -> None:
        self.path = path
        self._loader = loader
        self._metrics = metrics
        self._clock = clock
        self.snapshot: RulesSnapshot | None = None
        self.last_error: list[str] = []
        self._lock = asyncio.Lock()

    async def reload(self) -> bool:
        """Loads the repository again; True when a new revision is now served."""
        async with self._lock:  # one load at a time; a burst of events is one reload
            try:
                loaded = await asyncio.to_thread(self._loader, self.path)
            except Exception as error:  # a broken repository, or one we cannot read
                self.last_error = describe_failure(error)
                self._metrics.reload_errors.labels(what="rules").inc()
                served = self.snapshot.revision if self.snapshot else "nothing"
                log.error(
                    "rules in %s do not load; still serving %s:\n  %s",
                    self.path, served, "\n  ".join(self.last_error),
                )
                return False
            policy = loaded.policy
            for warning in getattr(loaded, "warnings", ()) or ():
                log.warning("rules: %s", warning)
            current = self.snapshot
            refused = below_floor(policy, current.policy if current else None)
            if refused is not None:
                reason, message = refused
                self.last_error = [message]
                self._metrics.rules_refused.labels(reason=reason).inc()
                log.error("rules in %s refused as a broken change; still serving %s: %s",
                          self.path, current.revision if current else "nothing", message)
                return False
            if current is not None and policy.revision and policy.revision == current.revision:
                self.last_error = []
                return False
            generation = current.generation + 1 if current else 1
            snapshot = RulesSnapshot(
                policy=policy,
                generation=generation,
                revision=policy.revision,
                loaded_at=self._clock(),
            )
            self.snapshot = snapshot  # the swap: one reference assignment
            del current, loaded
            settle_heap()
            self.last_error = []
            self._metrics.rules_loaded_now(
                generation=generation, revision=snapshot.revision, at=snapshot.loaded_at
            )
            log.info(
                "serving rules %s (generation %d) from %s: %d destinations, %d grants",
                snapshot.revision or "(no revision)", generation, self.path,
                len(snapshot.policy.destinations), len(snapshot.policy.grants),
            )
            return True

    async def watch(self, *, debounce_ms: int, stop: asyncio.Event) -> None:
        """Reloads after every debounced batch of changes until ``stop`` is set."""
        while not stop.is_set():
            try:
                batches: AsyncIterator[None] = changes(
                    lambda: watch_roots(self.path), debounce_ms=debounce_ms, stop=stop
                )
                async for _ in batches:
                    await self.reload()
            except Exception:
                log.exception("watching %s failed; retrying", self.path)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=RETRY_AFTER_WATCH_FAILURE)
