"""Writes through subresources, which a webhook sees only when they are registered by
name (``pods`` matches none of them): labels and annotations through ``pods/status`` and
``namespaces/status``, and a shell in the mesh's proxy through ``pods/exec`` and
``pods/attach``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl, Result
from .objects import MODE_LABEL, allow_label, injected_pod, namespace, pod, unique

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("egressguard")]

# An exec or attach that passed admission then fails here: the test cluster has no nodes.
NO_NODE = "does not have a host assigned"


def patch_status(kubectl: Kubectl, kind: str, name: str, patch: dict[str, Any],
                 namespace_: str | None = None) -> Result:
    where = ["-n", namespace_] if namespace_ else []
    return kubectl.run(
        "patch", kind, name, *where, "--subresource=status", "--type=merge",
        "-p", json.dumps(patch),
    )


def metadata_patch(*, labels: dict[str, str] | None = None,
                   annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta}


# -- pods/status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "code", "key"),
    [
        (metadata_patch(labels={allow_label("stripe"): "true"}), "managed-label",
         allow_label("stripe")),
        (metadata_patch(labels={"istio.io/dataplane-mode": "none"}), "mesh-opt-out",
         "istio.io/dataplane-mode"),
        (metadata_patch(annotations={
            "traffic.sidecar.istio.io/excludeOutboundIPRanges": "0.0.0.0/0"}),
         "interception-excluded", "traffic.sidecar.istio.io/excludeOutboundIPRanges"),
    ],
    ids=["entitlement-label", "ambient-opt-out-label", "exclude-annotation"],
)
def test_status_patch_of_a_pod_is_judged(
    developer: Kubectl, patch: dict[str, Any], code: str, key: str
) -> None:
    name = unique("status")
    expect.admitted(developer.apply(pod(name, "shop")))
    expect.denied(patch_status(developer, "pod", name, patch, "shop"), code)
    stored = expect.stored(developer, "pod", name, "shop")
    meta = stored["metadata"]
    assert key not in (meta.get("labels") or {}) and key not in (meta.get("annotations") or {})


def test_status_patch_of_a_pod_with_an_ordinary_label_is_admitted(developer: Kubectl) -> None:
    name = unique("status-ok")
    expect.admitted(developer.apply(pod(name, "shop")))
    patch = {**metadata_patch(labels={"team": "payments"}),
             "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    expect.admitted(patch_status(developer, "pod", name, patch, "shop"))
    assert expect.labels(expect.stored(developer, "pod", name, "shop"))["team"] == "payments"


def test_istio_cni_marking_an_ambient_pod_captured_is_admitted(
    developer: Kubectl, admin: Kubectl, egressguard: EgressguardCluster
) -> None:
    """istio-cni writes its enrollment annotation through pods/status (the lower privilege,
    says Istio's own source): that write is sent, and admitted."""
    name = unique("ambient")
    expect.admitted(developer.apply(pod(name, "shop", service_account="checkout")))
    patch = metadata_patch(annotations={"ambient.istio.io/redirection": "enabled"})
    result = admin.run(
        "patch", "pod", name, "-n", "shop", "--subresource=status", "--type=merge",
        "-p", json.dumps(patch), "--as=system:serviceaccount:istio-system:istio-cni",
        "--as-group=system:masters",
    )
    expect.admitted(result)
    stored = expect.stored(developer, "pod", name, "shop")
    assert stored["metadata"]["annotations"]["ambient.istio.io/redirection"] == "enabled"
    judged = [r for r in egressguard.webhook.audit_records()
              if r.get("name") == name and r.get("subResource") == "status"]
    assert [(r["user"], r["allowed"]) for r in judged] == [
        ("system:serviceaccount:istio-system:istio-cni", True)]


# -- namespaces/status -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "patch", "code", "key"),
    [
        ({}, {MODE_LABEL: "off"}, "namespace-mode", MODE_LABEL),
        ({"istio-injection": "enabled"}, {"istio-injection": None}, "mesh-opt-out",
         "istio-injection"),
    ],
    ids=["mode-off", "remove-injection"],
)
def test_status_patch_of_a_namespace_is_judged(
    developer: Kubectl, security: Kubectl, labels: dict[str, str],
    patch: dict[str, str | None], code: str, key: str,
) -> None:
    name = unique("ns-status")
    expect.admitted(security.create(namespace(name, labels=labels)))
    expect.denied(patch_status(developer, "namespace", name, {"metadata": {"labels": patch}}),
                  code)
    stored_labels = expect.labels(expect.stored(developer, "namespace", name))
    assert stored_labels.get(key) == labels.get(key)


# -- pods/exec and pods/attach ---------------------------------------------------------


@pytest.fixture(scope="module")
def sidecar_pod(developer: Kubectl) -> str:
    """A pod with Istio's sidecar (admitted: it is the injector's own output)."""
    name = unique("injected")
    expect.admitted(developer.apply(injected_pod(name)))
    return name


def exec_into(kubectl: Kubectl, name: str, container: str) -> Result:
    return kubectl.run("exec", name, "-n", "shop", "-c", container, "--", "/bin/sh", "-c", "id",
                       timeout=30)


def attach_to(kubectl: Kubectl, name: str, container: str) -> Result:
    return kubectl.run("attach", name, "-n", "shop", "-c", container, timeout=30)


CONNECTS = [exec_into, attach_to]
CONNECT_IDS = ["exec", "attach"]


@pytest.mark.parametrize("connect", CONNECTS, ids=CONNECT_IDS)
def test_shell_in_the_proxy_is_refused_for_a_developer(
    developer: Kubectl, sidecar_pod: str, connect: Any
) -> None:
    # Admission of a CONNECT runs before the API server looks for a node: the refusal
    # is egressguard's, not the missing kubelet's.
    result = connect(developer, sidecar_pod, "istio-proxy")
    expect.denied(result, "proxy-exec")
    assert NO_NODE not in result.stderr


@pytest.mark.parametrize("connect", CONNECTS, ids=CONNECT_IDS)
def test_shell_in_the_application_passes_admission(
    developer: Kubectl, sidecar_pod: str, connect: Any
) -> None:
    result = connect(developer, sidecar_pod, "checkout")
    assert not result.ok
    assert expect.DENIED not in result.stderr, result
    assert NO_NODE in result.stderr, result


@pytest.mark.parametrize("connect", CONNECTS, ids=CONNECT_IDS)
def test_shell_in_the_proxy_passes_admission_for_the_security_team(
    security: Kubectl, sidecar_pod: str, connect: Any
) -> None:
    result = connect(security, sidecar_pod, "istio-proxy")
    assert not result.ok
    assert expect.DENIED not in result.stderr, result
    assert NO_NODE in result.stderr, result
