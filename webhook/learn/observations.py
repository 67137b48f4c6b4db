"""What the logs showed: who reached (or asked for) which host:port, and what was skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, order=True)
class Need:
    """An identity and a host:port it asked for or used."""

    namespace: str
    service_account: str
    host: str
    port: int

    @property
    def identity(self) -> str:
        return f"{self.namespace}/{self.service_account}"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


# A week of audit logs of a large cluster is millions of lines: each need keeps counts and
# its first line, and at most this many admission uids (to count requests, not lines).
MAX_REQUESTS_COUNTED = 1000
MAX_SKIPPED_KEPT = 1000  # skipped lines listed one by one; all are counted


@dataclass(slots=True)
class Evidence:
    """Where one need was seen: its first line, the admission requests, gateway lines."""

    first: str  # file:line
    requests: set[str] = field(default_factory=set)  # admission uids (mutate and validate log
    # the same request), at most MAX_REQUESTS_COUNTED
    gateway_lines: int = 0

    def merge(self, other: Evidence) -> None:
        room = MAX_REQUESTS_COUNTED - len(self.requests)
        self.requests.update(list(other.requests)[:max(room, 0)])
        self.gateway_lines += other.gateway_lines

    def describe(self) -> str:
        """``requested in 3 admission requests, first at audit.log:12``."""
        parts = []
        if self.requests:
            more = "+" if len(self.requests) >= MAX_REQUESTS_COUNTED else ""
            parts.append(f"requested in {len(self.requests)}{more} admission request(s)")
        if self.gateway_lines:
            parts.append(f"{self.gateway_lines} connection(s) at a gateway")
        return " and ".join(parts) + f", first at {self.first}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line that could not be read; nothing was taken from it."""

    where: str
    reason: str


@dataclass(frozen=True, slots=True, order=True)
class Unattributed:
    """Gateway traffic whose line names no identity: reported, never granted."""

    host: str
    port: int
    source: str  # the downstream address, as logged


@dataclass(slots=True)
class Reading:
    """Everything read from some log files."""

    needs: dict[Need, Evidence] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)  # the first MAX_SKIPPED_KEPT
    skipped_lines: int = 0
    ignored: Counter[str] = field(default_factory=Counter)  # reason -> lines (not malformed)
    unattributed: Counter[Unattributed] = field(default_factory=Counter)
    protocols: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # L7 evidence
    lines: int = 0

    def saw(self, need: Need, where: str, *, request: str = "") -> None:
        evidence = self.needs.get(need)
        if evidence is None:
            evidence = self.needs[need] = Evidence(where)
        if not request:
            evidence.gateway_lines += 1
        elif len(evidence.requests) < MAX_REQUESTS_COUNTED:
            evidence.requests.add(request)

    def skip(self, where: str, reason: str) -> None:
        self.skipped_lines += 1
        if len(self.skipped) < MAX_SKIPPED_KEPT:
            self.skipped.append(Skipped(where, reason))

    def extend(self, other: Reading) -> None:
        for need, evidence in other.needs.items():
            mine = self.needs.get(need)
            if mine is None:
                self.needs[need] = evidence
            else:
                mine.merge(evidence)
        self.skipped.extend(other.skipped[:max(MAX_SKIPPED_KEPT - len(self.skipped), 0)])
        self.skipped_lines += other.skipped_lines
        self.ignored.update(other.ignored)
        self.unattributed.update(other.unattributed)
        for key, protocols in other.protocols.items():
            self.protocols.setdefault(key, set()).update(protocols)
        self.lines += other.lines
