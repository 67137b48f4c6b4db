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


@dataclass(frozen=True, slots=True)
class Seen:
    """One log line's evidence of a need: from the audit log (``requested``) or a gateway."""

    need: Need
    where: str  # file:line
    request: str = ""  # the admission uid (mutate and validate log the same request)


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

    seen: list[Seen] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)  # reason -> lines (not malformed)
    unattributed: Counter[Unattributed] = field(default_factory=Counter)
    protocols: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # L7 evidence
    lines: int = 0

    def extend(self, other: Reading) -> None:
        self.seen.extend(other.seen)
        self.skipped.extend(other.skipped)
        self.ignored.update(other.ignored)
        self.unattributed.update(other.unattributed)
        for key, protocols in other.protocols.items():
            self.protocols.setdefault(key, set()).update(protocols)
        self.lines += other.lines
