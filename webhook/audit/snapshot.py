"""What the audit reads from a cluster, as plain data (so that judging it is pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Objects asked for in one list request (the API server pages longer lists).
PAGE_SIZE = 500

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every namespace with its labels, every object of the judged kinds (each with its
    ``apiVersion`` and ``kind``), the namespaces holding the fence, and the judged kinds
    the cluster does not serve."""

    namespaces: Mapping[str, Mapping[str, str]]
    objects: tuple[Document, ...] = ()
    fenced: frozenset[str] = frozenset()
    unserved: tuple[str, ...] = ()
    # Judged kinds the API server refused to list (403): the audit is incomplete.
    unreadable: tuple[str, ...] = ()
    # Owners of pods and workloads that are not themselves judged kinds, by uid (rarely
    # needed: a ReplicaSet's Deployment is a judged kind and so already in ``objects``).
    extra_owners: Mapping[str, Document] = field(default_factory=dict)


def metadata(document: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = document.get("metadata")
    return meta if isinstance(meta, dict) else {}


def labels_of(document: Mapping[str, Any]) -> dict[str, str]:
    labels = metadata(document).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
