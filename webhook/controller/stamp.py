"""Whether a live object is still what the controller applied, read from the object alone.

A leader remembers what it applied; a new one (a rolling update, a failover) remembers
nothing, yet has just listed every managed object. Each apply therefore carries, in the
annotation ``egressguard.io/applied-digest``, a digest of the document render wrote (render's
own output never carries it). A listed object is taken as in step, with no request, only when
all of these hold, and anything else is applied again:

- the digest equals the desired document's: the rules have not changed what it should be;
- no field manager but ``egressguard`` (operation ``Apply``) owns fields of the object itself.
  An edit (``kubectl edit``, ``patch``, ``replace``, another applier) that adds or changes a
  field records its manager; entries for a subresource (status, scale) are other controllers
  reporting, not edits of what we wrote;
- every field of the desired document is in the live object with the same value. The API
  server records no manager for an edit that only removes fields: the remover owns nothing
  and the removed fields just leave our entry, so only the content shows such an edit. Fields
  the API server adds (defaults) are allowed; a value it normalises differently counts as a
  difference, which costs a request, never a missed edit.

The annotation is in egressguard's domain, which the webhook's managed-object check treats as
configuring: only trusted principals change it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from webhook.controller.desired import FIELD_MANAGER, Document

DIGEST_ANNOTATION = "egressguard.io/applied-digest"


def digest(document: Mapping[str, Any]) -> str:
    """A digest of the document as render wrote it (keys sorted, so order does not count)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def stamped(document: Mapping[str, Any], value: str) -> Document:
    """The document the controller applies: render's, with the digest annotation."""
    applied: Document = copy.deepcopy(dict(document))
    metadata = applied.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), DIGEST_ANNOTATION: value}
    return applied


def live_digest(live: Mapping[str, Any]) -> str | None:
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(DIGEST_ANNOTATION) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) else None


def difference(live: Mapping[str, Any], document: Mapping[str, Any], value: str) -> str | None:
    """Why ``live`` may not be ``document`` as applied with digest ``value``; None when it is
    in step and needs no request."""
    found = live_digest(live)
    if found != value:
        return "no digest" if found is None else "another digest"
    others = foreign_managers(live)
    if others:
        return "fields owned by " + ", ".join(others)
    missing = first_mismatch(live, document, "")
    if missing is not None:
        return f"{missing or 'the object'} differs"
    return None


def foreign_managers(live: Mapping[str, Any]) -> list[str]:
    """Field managers other than our apply that own fields of the object itself; an entry
    that cannot be read counts as foreign."""
    entries = (live.get("metadata") or {}).get("managedFields")
    if not isinstance(entries, list) or not entries:
        return ["(no managed fields)"]
    found = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            found.append("(unreadable entry)")
            continue
        if entry.get("subresource"):
            continue
        manager, operation = entry.get("manager"), entry.get("operation")
        if manager == FIELD_MANAGER and operation == "Apply":
            continue
        found.append(f"{manager} ({operation})")
    return found


def first_mismatch(live: Any, desired: Any, path: str) -> str | None:
    """The path of the first desired field missing from ``live`` or different there; lists
    must match item by item, maps may carry more keys (the API server's defaults)."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return path
        for key, value in desired.items():
            if key not in live:
                return f"{path}.{key}" if path else str(key)
            found = first_mismatch(live[key], value, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return path
        for index, (item, value) in enumerate(zip(live, desired, strict=True)):
            found = first_mismatch(item, value, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return None if _same_scalar(live, desired) else path


def _same_scalar(live: Any, desired: Any) -> bool:
    # JSON has one number type (1 == 1.0), but a boolean is not a number.
    if isinstance(desired, bool) or isinstance(live, bool):
        return type(live) is type(desired) and live == desired
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return bool(live == desired)
    return type(live) is type(desired) and bool(live == desired)
