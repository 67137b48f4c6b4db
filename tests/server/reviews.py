"""AdmissionReviews as the API server sends them, for the example rules in ``rules/``."""

from __future__ import annotations

import itertools
from typing import Any

_uids = itertools.count(1)


def uid() -> str:
    return f"00000000-0000-4000-8000-{next(_uids):012d}"


def review(obj: dict[str, Any] | None, *, kind: tuple[str, str, str], operation: str = "CREATE",
           namespace: str = "", name: str = "", user: str = "developer",
           dry_run: bool = False, old: dict[str, Any] | None = None,
           request_uid: str | None = None) -> dict[str, Any]:
    group, version, kind_name = kind
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": request_uid or uid(),
            "kind": {"group": group, "version": version, "kind": kind_name},
            "resource": {"group": group, "version": version,
                         "resource": kind_name.lower() + "s"},
            "operation": operation,
            "namespace": namespace,
            "name": name,
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": old,
            "dryRun": dry_run,
        },
    }


def pod(name: str = "app", *, namespace: str = "shop", service_account: str | None = None,
        annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
        **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.k8s.io/pause"}]}
    if service_account:
        body["serviceAccountName"] = service_account
    body.update(spec)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {},
                     "annotations": annotations or {}},
        "spec": body,
    }


def pod_review(obj: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    obj = obj if obj is not None else pod()
    return review(obj, kind=("", "v1", "Pod"), namespace=obj["metadata"]["namespace"],
                  name=obj["metadata"]["name"], **kwargs)


def stripe_pod() -> dict[str, Any]:
    """Granted api.stripe.com:443 in rules/: admitted, and labelled by /mutate."""
    return pod("checkout", service_account="checkout",
               annotations={"egressguard.io/egress": "api.stripe.com:443"})


def host_network_pod() -> dict[str, Any]:
    return pod("sneaky", hostNetwork=True)


def secret_review(**kwargs: Any) -> dict[str, Any]:
    """A kind the engine does not judge: always admitted, never patched."""
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}}
    return review(obj, kind=("", "v1", "Secret"), namespace="shop", name="s", **kwargs)
