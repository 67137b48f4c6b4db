"""Objects and AdmissionReviews for the example rules in ``rules/`` (built by
:mod:`tests.admission`, the one request builder)."""

from __future__ import annotations

from typing import Any

from tests.admission import review, uid

__all__ = [
    "host_network_pod",
    "pod",
    "pod_review",
    "review",
    "secret_review",
    "stripe_pod",
    "uid",
]


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
    return review(obj, **kwargs)


def stripe_pod() -> dict[str, Any]:
    """Granted api.stripe.com:443 in rules/: admitted, and labelled by /mutate."""
    return pod("checkout", service_account="checkout",
               annotations={"egressguard.io/egress": "api.stripe.com:443"})


def host_network_pod() -> dict[str, Any]:
    return pod("sneaky", hostNetwork=True)


def secret_review(**kwargs: Any) -> dict[str, Any]:
    """A kind the engine does not judge: always admitted, never patched."""
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}}
    return review(obj, **kwargs)
