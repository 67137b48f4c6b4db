"""Who controls an object: a pod's ReplicaSet's Deployment, a Job's CronJob.

Warnings for a pod that a controller created go to that controller, never to a person;
the audit names the top controller it can see so the warning is shown where people look.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webhook.audit.findings import ObjectRef
from webhook.audit.snapshot import Document, metadata

MAX_DEPTH = 5  # Pod -> ReplicaSet -> Deployment -> (an operator's own kind) -> ...


def ref_of(document: Mapping[str, Any]) -> ObjectRef:
    meta = metadata(document)
    return ObjectRef(str(document.get("apiVersion") or ""), str(document.get("kind") or ""),
                     str(meta.get("namespace") or ""),
                     str(meta.get("name") or meta.get("generateName") or ""),
                     str(meta.get("uid") or ""))


def _controller_reference(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    references = metadata(document).get("ownerReferences")
    if not isinstance(references, list):
        return None
    for reference in references:
        if isinstance(reference, dict) and reference.get("controller") is True:
            return reference
    return None


class Owners:
    """Top controllers, looked up through the objects the audit listed."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self._by_uid: dict[str, Document] = {}
        for document in documents:
            uid = metadata(document).get("uid")
            if isinstance(uid, str) and uid:
                self._by_uid[uid] = document

    def top(self, document: Mapping[str, Any]) -> ObjectRef | None:
        """The outermost controller of ``document``, or None when nothing controls it. An
        owner the audit did not list is named from the owner reference itself."""
        found: ObjectRef | None = None
        namespace = str(metadata(document).get("namespace") or "")
        current: Mapping[str, Any] = document
        for _ in range(MAX_DEPTH):
            reference = _controller_reference(current)
            if reference is None:
                break
            uid = str(reference.get("uid") or "")
            listed = self._by_uid.get(uid)
            if listed is None:
                return ObjectRef(str(reference.get("apiVersion") or ""),
                                 str(reference.get("kind") or ""), namespace,
                                 str(reference.get("name") or ""), uid)
            found, current = ref_of(listed), listed
        return found
