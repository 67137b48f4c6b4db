"""The audit log: one JSON line per admission decision on stdout (SPEC §6).

Every decision is recorded, dry-run requests included (they carry ``dryRun: true``), and
so are requests egressguard failed to judge (``allowed: false`` with an ``error``): an
auditor must be able to account for every answer the API server received. Operational
logs go to stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest


def _name(request: AdmissionRequest) -> str:
    if request.name:
        return request.name
    obj = request.object if request.object is not None else request.old_object
    metadata = obj.get("metadata") if obj is not None else None
    if isinstance(metadata, dict):
        for key in ("name", "generateName"):
            value = metadata.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


class AuditLog:
    """Writes audit records through ``sink`` (stdout in production)."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        self._sink = sink

    def record(
        self,
        *,
        time: datetime,
        webhook: str,
        request: AdmissionRequest,
        decision: Decision | None,
        duration_seconds: float,
        rules_revision: str,
        error: str = "",
    ) -> None:
        entry: dict[str, Any] = {
            "time": time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "webhook": webhook,
            "uid": request.uid,
            "kind": request.kind.kind,
            "group": request.kind.group,
            "namespace": request.namespace,
            "name": _name(request),
            "operation": request.operation,
            "subResource": request.sub_resource,
            "user": request.user.username,
            "dryRun": request.dry_run,
            "mode": decision.mode.value if decision is not None else "",
            "allowed": decision.allowed if decision is not None else False,
            "codes": list(decision.codes) if decision is not None else [],
            "patched": bool(decision and decision.patch and webhook == "mutate"),
            "duration": round(duration_seconds, 6),  # seconds, SPEC §6
            "rulesRevision": rules_revision,
        }
        if error:
            entry["error"] = error
        self._sink(orjson.dumps(entry).decode())
