"""What an audit finds, as values: the CLI prints them, the reports and the metric count them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Result(enum.StrEnum):
    """What the webhook would do with the object if it were written now."""

    REFUSED = "refused"  # the namespace's mode refuses it (or the code is always enforced)
    WARNED = "warned"  # admitted with warnings (warn mode)


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """One object of the cluster, as a person and a report name it."""

    api_version: str
    kind: str
    namespace: str  # "" when cluster-scoped
    name: str
    uid: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def as_json(self) -> dict[str, str]:
        return {"apiVersion": self.api_version, "kind": self.kind,
                "namespace": self.namespace, "name": self.name, "uid": self.uid}


@dataclass(frozen=True, slots=True)
class Violated:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Finding:
    """An object the webhook would refuse or warn about now, and why.

    ``owner`` is the top controller of a pod or workload (a ReplicaSet's Deployment, a
    Job's CronJob) when the audit saw it: warnings meant for controller-created pods reach
    no person, so they are shown on the owner.
    """

    object: ObjectRef
    result: Result
    violations: tuple[Violated, ...]
    owner: ObjectRef | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.code for v in self.violations))

    def as_json(self) -> dict[str, Any]:
        return {
            "object": self.object.as_json(),
            "result": self.result.value,
            "codes": list(self.codes),
            "messages": [v.message for v in self.violations],
            "owner": self.owner.as_json() if self.owner is not None else None,
        }


@dataclass(frozen=True, slots=True)
class LabelDrift:
    """A pod whose entitlement labels differ from what its identity is entitled to now:
    ``stale`` ones keep access that was revoked or lapsed (the pod must be recreated to
    lose it), ``missing`` ones were granted since the pod started (a restart adds them)."""

    pod: ObjectRef
    service_account: str
    stale: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    owner: ObjectRef | None = None

    def as_json(self) -> dict[str, Any]:
        return {"pod": self.pod.as_json(), "serviceAccount": self.service_account,
                "stale": list(self.stale), "missing": list(self.missing),
                "owner": self.owner.as_json() if self.owner is not None else None}


@dataclass(frozen=True, slots=True)
class Readiness:
    """One namespace: its mode, and what stands between it and ``enforce``."""

    namespace: str
    mode: str
    fenced: bool
    # code -> how many objects enforce mode would refuse for it
    blockers: Mapping[str, int] = field(default_factory=dict)
    refused_objects: int = 0

    @property
    def ready(self) -> bool:
        return self.fenced and not self.refused_objects

    @property
    def line(self) -> str:
        """What a person reads: enforcing, ready, or what to fix first."""
        problems = []
        if self.refused_objects:
            codes = ", ".join(f"{code} {count}" for code, count in sorted(self.blockers.items()))
            noun = "object" if self.refused_objects == 1 else "objects"
            problems.append(f"{self.refused_objects} {noun} would be refused ({codes})")
        if not self.fenced:
            problems.append("no egressguard-fence NetworkPolicy")
        if self.mode == "enforce":
            return "enforcing" + (f"; {'; '.join(problems)}" if problems else "")
        if not problems:
            return "ready for enforce"
        return "not ready: " + "; ".join(problems)

    def as_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "mode": self.mode, "fenced": self.fenced,
                "ready": self.ready, "refusedObjects": self.refused_objects,
                "blockers": dict(sorted(self.blockers.items())), "summary": self.line}


@dataclass(frozen=True, slots=True)
class Audit:
    """The whole result, in a stable order (namespace, kind, name)."""

    findings: tuple[Finding, ...] = ()
    labels: tuple[LabelDrift, ...] = ()
    unfenced: tuple[str, ...] = ()
    readiness: tuple[Readiness, ...] = ()
    # Judged kinds the cluster does not serve (a CRD not installed), "group/Kind".
    unserved: tuple[str, ...] = ()
    # Judged kinds the audit was not allowed to list: what it reports is incomplete.
    unreadable: tuple[str, ...] = ()
    objects: int = 0

    @property
    def clean(self) -> bool:
        return not (self.findings or self.labels or self.unfenced)

    def violation_counts(self) -> dict[tuple[str, str], int]:
        """(code, namespace) -> objects listed with that code: ``egressguard_violations``."""
        counts: dict[tuple[str, str], int] = {}
        for finding in self.findings:
            for code in finding.codes:
                key = (code, finding.object.namespace)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def as_json(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "findings": [f.as_json() for f in self.findings],
            "labels": [d.as_json() for d in self.labels],
            "unfenced": list(self.unfenced),
            "readiness": [r.as_json() for r in self.readiness],
            "unserved": list(self.unserved),
            "unreadable": list(self.unreadable),
        }
