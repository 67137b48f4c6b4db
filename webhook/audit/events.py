"""Which warnings become Events on an owning object, and when again (pure).

A warning returned for a pod that a ReplicaSet or a Job created reaches that controller,
never a person. The audit shows it where people look: an Event on the top owner (the
Deployment, the CronJob), which ``kubectl describe`` lists. One Event per owner and set of
codes, again only after ``repeat`` has passed, and at most ``per_run`` per audit, so a
broken Deployment with a hundred pods does not flood the API server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from webhook.audit.findings import Finding, ObjectRef

REASON = "EgressguardViolation"
MAX_MESSAGE = 1000  # the API server keeps at most 1 KiB of an Event's message
DEFAULT_REPEAT = timedelta(hours=1)
DEFAULT_PER_RUN = 50


@dataclass(frozen=True, slots=True)
class OwnerEvent:
    owner: ObjectRef
    codes: tuple[str, ...]
    message: str

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return (self.owner.uid or str(self.owner), self.codes)


def owner_events(findings: Iterable[Finding]) -> list[OwnerEvent]:
    """One Event per owner of pods with findings, naming the pods and what is wrong."""
    by_owner: dict[ObjectRef, list[Finding]] = {}
    for finding in findings:
        if finding.object.kind == "Pod" and finding.owner is not None:
            by_owner.setdefault(finding.owner, []).append(finding)
    events = []
    for owner, found in sorted(by_owner.items()):
        codes = tuple(sorted({code for f in found for code in f.codes}))
        first = found[0]
        others = f" (and {len(found) - 1} more pods)" if len(found) > 1 else ""
        what = "would be refused" if first.result.value == "refused" else "warned"
        details = "; ".join(f"[{v.code}] {v.message}" for v in first.violations)
        message = f"pod {first.object.name}{others} {what} by egressguard: {details}"
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        events.append(OwnerEvent(owner, codes, message))
    return events


class Throttle:
    """Remembers what was said when: the same owner and codes again only after ``repeat``."""

    def __init__(self, *, repeat: timedelta = DEFAULT_REPEAT,
                 per_run: int = DEFAULT_PER_RUN) -> None:
        self.repeat, self.per_run = repeat, per_run
        self._said: dict[tuple[str, tuple[str, ...]], datetime] = {}

    def due(self, events: Iterable[OwnerEvent], now: datetime) -> list[OwnerEvent]:
        """The events to emit now (and remembered as emitted); owners no longer listed are
        forgotten, so a problem that comes back is said again at once."""
        events = list(events)
        current = {event.key for event in events}
        self._said = {key: at for key, at in self._said.items() if key in current}
        chosen: list[OwnerEvent] = []
        for event in events:
            last = self._said.get(event.key)
            if last is not None and now - last < self.repeat:
                continue
            if len(chosen) >= self.per_run:
                break
            chosen.append(event)
            self._said[event.key] = now
        return chosen
