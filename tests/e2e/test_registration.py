"""What the webhook configurations of deploy/ send to egressguard, proven with egressguard
stopped: a write that is sent fails closed, naming the webhook that sent it; a write that
is left out (by its kind, or by a matchCondition before the call) goes through.

This is registration alone, whatever the engine concludes: each kind of SPEC §7.4 reaches
the webhook, and what must never wait for it (the kubelets' status updates, the control
plane's Endpoints, CONNECTs into application containers, other ConfigMaps, deletions of
what egressguard does not manage) does not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl, Result
from .objects import injected_pod, namespace, unique
from .stopped import endpoints_follow_the_pod, service_with_a_pod, webhook_stopped

pytestmark = [pytest.mark.e2e]

MANAGED = {"app.kubernetes.io/managed-by": "egressguard"}
NO_NODE = "does not have a host assigned"


def obj(api_version: str, kind: str, name: str, namespace_: str | None,
        spec: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace_:
        meta["namespace"] = namespace_
    document = {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}
    if spec is not None:
        document["spec"] = spec
    return document


# One small, valid object of every kind registered besides v1's, and the webhook that
# must receive it.
BACKEND = {"backendRefs": [{"name": "web", "port": 80}]}
CILIUM = {"endpointSelector": {}, "egress": [{"toEndpoints": [{}]}]}
NEW_KINDS: list[tuple[str, dict[str, Any]]] = [
    ("infrastructure", obj("networking.istio.io/v1", "Gateway", "g", "shop",
                           {"selector": {"app": "web"}})),
    ("infrastructure", obj("networking.istio.io/v1", "VirtualService", "vs", "shop",
                           {"hosts": ["web"]})),
    ("infrastructure", obj("networking.istio.io/v1", "DestinationRule", "dr", "shop",
                           {"host": "web"})),
    ("infrastructure", obj("networking.istio.io/v1beta1", "ProxyConfig", "pc", "shop",
                           {"concurrency": 2})),
    ("infrastructure", obj("security.istio.io/v1", "AuthorizationPolicy", "ap", "shop", {})),
    ("infrastructure", obj("security.istio.io/v1", "RequestAuthentication", "ra", "shop", {})),
    ("infrastructure", obj("gateway.networking.k8s.io/v1", "Gateway", "gw", "shop", {
        "gatewayClassName": "istio",
        "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]})),
    ("infrastructure", obj("gateway.networking.k8s.io/v1", "HTTPRoute", "hr", "shop", {})),
    ("infrastructure", obj("gateway.networking.k8s.io/v1", "GRPCRoute", "gr", "shop", {})),
    ("infrastructure", obj("gateway.networking.k8s.io/v1alpha2", "TLSRoute", "tl", "shop",
                           {"hostnames": ["web.example"], "rules": [BACKEND]})),
    ("infrastructure", obj("gateway.networking.k8s.io/v1alpha2", "TCPRoute", "tc", "shop",
                           {"rules": [BACKEND]})),
    ("infrastructure", obj("gateway.networking.k8s.io/v1alpha2", "UDPRoute", "ud", "shop",
                           {"rules": [BACKEND]})),
    ("infrastructure", obj("gateway.networking.k8s.io/v1", "ListenerSet", "ls", "shop",
                           {"parentRef": {"name": "web"},
                            "listeners": [{"name": "http", "port": 8080, "protocol": "HTTP"}]})),
    ("policies", obj("cilium.io/v2", "CiliumNetworkPolicy", "cnp", "shop", CILIUM)),
    ("policies", obj("cilium.io/v2", "CiliumClusterwideNetworkPolicy", "ccnp", None, CILIUM)),
    ("policies", obj("crd.projectcalico.org/v1", "NetworkPolicy", "calico", "shop", {})),
    ("policies", obj("crd.projectcalico.org/v1", "GlobalNetworkPolicy", "gnp", None, {})),
    ("policies", obj("crd.projectcalico.org/v1", "NetworkSet", "ns", "shop",
                     {"nets": ["10.1.0.0/16"]})),
    ("policies", obj("crd.projectcalico.org/v1", "GlobalNetworkSet", "gns", None,
                     {"nets": ["10.1.0.0/16"]})),
    ("policies", obj("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy", "anp", None,
                     {"priority": 10, "subject": {"namespaces": {}}})),
    ("policies", obj("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy",
                     "default", None, {"subject": {"namespaces": {}}})),
    ("policies", obj("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy", "cnp", None,
                     {"tier": "Admin", "priority": 10, "subject": {"namespaces": {}}})),
]


def config_map(name: str, namespace_: str, data: dict[str, str] | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    document = obj("v1", "ConfigMap", name, namespace_, data=data or {})
    if labels:
        document["metadata"]["labels"] = labels
    return document


def failed_closed(result: Result, webhook: str) -> None:
    assert not result.ok, f"expected the write to wait for egressguard:\n{result}"
    assert f'failed calling webhook "{webhook}.validate.egressguard.io"' in result.stderr, result


def went_through(result: Result) -> None:
    assert result.ok, f"expected the write never to reach egressguard:\n{result}"


def status_patch(kubectl: Kubectl, kind: str, name: str, patch: dict[str, Any],
                 *where: str, subresource: str = "status") -> Result:
    return kubectl.run("patch", kind, name, *where, f"--subresource={subresource}",
                       "--type=merge", "-p", json.dumps(patch))


@pytest.fixture(scope="module")
def prepared(egressguard: EgressguardCluster) -> dict[str, str]:
    """Objects to write to while egressguard is down, created while it is up."""
    security = egressguard.security
    names = {
        "pod": unique("reg-pod"),
        "namespace": unique("reg-ns"),
        "managed": unique("reg-managed"),
        "unmanaged": unique("reg-unmanaged"),
        "service": unique("reg-svc"),
        "configmap": unique("reg-cm"),
        "plain-configmap": unique("reg-plain-cm"),
        "web": unique("reg-web"),
    }
    for root in ("istio-system",):
        if not security.run("get", "namespace", root).ok:
            expect.admitted(security.create(namespace(root)))
    expect.admitted(security.apply(config_map(
        "istio", "istio-system", {"mesh": "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"})))
    expect.admitted(security.apply(injected_pod(names["pod"])))
    expect.admitted(security.create(namespace(names["namespace"])))
    entry = {"hosts": ["web.shop.svc.cluster.local"], "location": "MESH_INTERNAL",
             "resolution": "STATIC", "endpoints": [{"address": "10.1.2.3"}],
             "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]}
    managed = obj("networking.istio.io/v1", "ServiceEntry", names["managed"], "shop", entry)
    managed["metadata"]["labels"] = dict(MANAGED)
    expect.admitted(security.apply(managed))
    expect.admitted(security.apply(
        obj("networking.istio.io/v1", "ServiceEntry", names["unmanaged"], "shop", entry)))
    service = obj("v1", "Service", names["service"], "shop",
                  {"ports": [{"port": 80}], "selector": {"app": names["service"]}})
    service["metadata"]["labels"] = dict(MANAGED)
    expect.admitted(security.apply(service))
    expect.admitted(security.apply(config_map(names["configmap"], "shop", labels=MANAGED)))
    expect.admitted(security.apply(config_map(names["plain-configmap"], "shop")))
    # A Service and its pod, whose Endpoints the controllers write while egressguard is
    # down.
    service_with_a_pod(security, names["web"])
    return names


@pytest.fixture(scope="module")
def down(egressguard: EgressguardCluster, prepared: dict[str, str]) -> Iterator[dict[str, str]]:
    with webhook_stopped(egressguard):
        yield prepared


# -- sent: fails closed while egressguard is down ----------------------------------------


@pytest.mark.parametrize(("webhook", "document"), NEW_KINDS,
                         ids=[d["kind"] + "-" + d["apiVersion"].split("/")[0]
                              for _, d in NEW_KINDS])
def test_every_new_kind_is_sent(
    down: dict[str, str], developer: Kubectl, webhook: str, document: dict[str, Any]
) -> None:
    failed_closed(developer.apply(document, "--dry-run=server"), webhook)


Write = Callable[[dict[str, str], Kubectl, Kubectl], Result]


def finalize_with_label(names: dict[str, str], admin: Kubectl) -> Result:
    """PUT namespaces/<name>/finalize with a label added: the API server keeps it."""
    stored = admin.get_json("namespace", names["namespace"])
    stored["metadata"].setdefault("labels", {})["team"] = "x"
    return admin.run("replace", "--raw", f"/api/v1/namespaces/{names['namespace']}/finalize",
                     "-f", "-", stdin=json.dumps(stored))


SENT: list[tuple[str, str, Write]] = [
    ("pod-status-label", "status", lambda n, dev, adm: status_patch(
        dev, "pod", n["pod"], {"metadata": {"labels": {"team": "x"}}}, "-n", "shop")),
    ("pod-status-annotation", "status", lambda n, dev, adm: status_patch(
        dev, "pod", n["pod"], {"metadata": {"annotations": {"note": "x"}}}, "-n", "shop")),
    ("namespace-status-label", "status", lambda n, dev, adm: status_patch(
        dev, "namespace", n["namespace"], {"metadata": {"labels": {"team": "x"}}})),
    ("namespace-finalize-label", "status", lambda n, dev, adm: finalize_with_label(n, adm)),
    ("service-status-label", "status", lambda n, dev, adm: status_patch(
        adm, "service", n["service"], {"metadata": {"labels": {"team": "x"}}}, "-n", "shop")),
    ("exec-proxy", "connect", lambda n, dev, adm: dev.run(
        "exec", n["pod"], "-n", "shop", "-c", "istio-proxy", "--", "id")),
    ("attach-proxy", "connect", lambda n, dev, adm: dev.run(
        "attach", n["pod"], "-n", "shop", "-c", "istio-proxy")),
    ("endpoints-by-a-user", "endpoints", lambda n, dev, adm: dev.apply(obj(
        "v1", "Endpoints", "hand-written", "shop",
        subsets=[{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]))),
    ("mesh-config", "meshconfig", lambda n, dev, adm: adm.apply(
        config_map("istio", "istio-system", {"mesh": "{}"}), "--dry-run=server")),
    ("revision-mesh-config", "meshconfig", lambda n, dev, adm: adm.apply(
        config_map("istio-canary", "istio-system", {"mesh": "{}"}), "--dry-run=server")),
    ("injector-config", "meshconfig", lambda n, dev, adm: adm.apply(
        config_map("istio-sidecar-injector", "istio-system", {"config": "{}"}),
        "--dry-run=server")),
    ("revision-injector-config", "meshconfig", lambda n, dev, adm: adm.apply(
        config_map("istio-sidecar-injector-canary", "istio-system", {"config": "{}"}),
        "--dry-run=server")),
    ("delete-mesh-config", "meshconfig", lambda n, dev, adm: adm.run(
        "delete", "configmap", "istio", "-n", "istio-system", "--dry-run=server")),
    ("delete-managed-serviceentry", "managed", lambda n, dev, adm: dev.run(
        "delete", "serviceentry.networking.istio.io", n["managed"], "-n", "shop",
        "--dry-run=server")),
    ("delete-managed-service", "managed", lambda n, dev, adm: dev.run(
        "delete", "service", n["service"], "-n", "shop", "--dry-run=server")),
    ("update-managed-configmap", "managed", lambda n, dev, adm: dev.run(
        "label", "configmap", n["configmap"], "-n", "shop", "team=x", "--dry-run=server")),
]


@pytest.mark.parametrize(("webhook", "write"), [(w, f) for _, w, f in SENT],
                         ids=[i for i, _, _ in SENT])
def test_sent(down: dict[str, str], developer: Kubectl, admin: Kubectl,
              webhook: str, write: Write) -> None:
    failed_closed(write(down, developer, admin), webhook)


# -- left out: goes through while egressguard is down -----------------------------------

NOT_SENT: list[tuple[str, Write]] = [
    ("pod-status-conditions", lambda n, dev, adm: status_patch(
        dev, "pod", n["pod"], {"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "Probe"}]}}, "-n", "shop")),
    ("namespace-status-conditions", lambda n, dev, adm: status_patch(
        dev, "namespace", n["namespace"], {"status": {"conditions": [
            {"type": "NamespaceDeletionContentFailure", "status": "False"}]}})),
    ("other-configmap-in-the-root-namespace", lambda n, dev, adm: adm.apply(
        config_map("istio-ca-root-cert", "istio-system", {"root-cert.pem": "x"}),
        "--dry-run=server")),
    ("leader-election-configmap", lambda n, dev, adm: adm.apply(
        config_map("istio-leader", "istio-system"), "--dry-run=server")),
    ("configmap-named-istio-elsewhere", lambda n, dev, adm: dev.apply(
        config_map("istio", "shop", {"mesh": "{}"}), "--dry-run=server")),
    ("unmanaged-configmap-update", lambda n, dev, adm: dev.run(
        "label", "configmap", n["plain-configmap"], "-n", "shop", "team=x",
        "--dry-run=server")),
    ("delete-unmanaged-serviceentry", lambda n, dev, adm: dev.run(
        "delete", "serviceentry.networking.istio.io", n["unmanaged"], "-n", "shop",
        "--dry-run=server")),
]


@pytest.mark.parametrize("write", [f for _, f in NOT_SENT], ids=[i for i, _ in NOT_SENT])
def test_left_out(down: dict[str, str], developer: Kubectl, admin: Kubectl,
                  write: Write) -> None:
    went_through(write(down, developer, admin))


@pytest.mark.parametrize("verb", ["exec", "attach"])
def test_connect_into_an_application_container_is_left_out(
    down: dict[str, str], developer: Kubectl, verb: str
) -> None:
    extra = ["--", "id"] if verb == "exec" else []
    result = developer.run(verb, down["pod"], "-n", "shop", "-c", "checkout", *extra,
                           timeout=30)
    # It passed admission and failed where the missing kubelet is looked for.
    assert NO_NODE in result.stderr, result


def test_control_plane_endpoints_are_left_out(down: dict[str, str], admin: Kubectl) -> None:
    """The endpoint controllers keep a Service's Endpoints and EndpointSlices current
    while egressguard is down."""
    # What a kubelet writes: it changes no label or annotation, so it is not sent either.
    endpoints_follow_the_pod(admin, down["web"], "10.244.1.7")
