"""Small builders for the objects the scenarios send, written as a user would write them."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
# A pod exactly as Istio's sidecar injector leaves it (a policy case admitted for anyone).
INJECTED_POD = Path(__file__).resolve().parents[1] / "cases" / "mesh" / "allowed" / (
    "injected-sidecar.yaml")
PREFIX = "egressguard.io"
EGRESS_ANNOTATION = f"{PREFIX}/egress"
MODE_LABEL = f"{PREFIX}/mode"

_serial = itertools.count(1)


def unique(name: str) -> str:
    """A name not used before in this session (the cluster lives for the whole run)."""
    return f"{name}-{next(_serial)}"


def allow_label(destination: str) -> str:
    return f"{PREFIX}/allow-{destination}"


def pod_spec(
    *,
    service_account: str | None = None,
    containers: Sequence[Mapping[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [dict(c) for c in containers]
        if containers
        else [{"name": "app", "image": PAUSE_IMAGE}],
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    spec.update(extra)
    return spec


def metadata(
    name: str,
    namespace: str | None,
    *,
    egress: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    notes = dict(annotations or {})
    if egress is not None:
        notes[EGRESS_ANNOTATION] = egress
    if labels:
        meta["labels"] = dict(labels)
    if notes:
        meta["annotations"] = notes
    return meta


def pod(
    name: str,
    namespace: str,
    *,
    service_account: str | None = None,
    egress: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(name, namespace, egress=egress, labels=labels,
                             annotations=annotations),
        "spec": pod_spec(service_account=service_account, **spec),
    }


def deployment(
    name: str,
    namespace: str,
    *,
    service_account: str | None = None,
    egress: str | None = None,
    replicas: int = 1,
    labels: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": {**selector, **(labels or {})},
                    **({"annotations": {EGRESS_ANNOTATION: egress}} if egress else {}),
                },
                "spec": pod_spec(service_account=service_account, **spec),
            },
        },
    }


def namespace(name: str, *, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def injected_pod(name: str) -> dict[str, Any]:
    """Istio's injected pod (in namespace shop, service account checkout) named ``name``."""
    manifest: dict[str, Any] = yaml.safe_load(INJECTED_POD.read_text())
    manifest["metadata"]["name"] = name
    return manifest
