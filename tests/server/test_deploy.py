"""deploy/ as the cluster will read it: every manifest parses, and the fields that make
the webhook safe are what they must be (RELIABILITY 6, 9, 12-15). The pure-Python checks
always run; the kustomize render runs with any kubectl at hand (on PATH, or the one the
e2e build caches) and must agree with them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.engine.kinds import judged_kinds
from webhook.engine.pod_exec import MESH_CONTAINER_NAMES
from webhook.model.rules import CONTROL_PLANE_ENDPOINT_WRITERS
from webhook.server.settings import DEFAULT_READ_TIMEOUT

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SYSTEM = {"kube-system", "kube-public", "kube-node-lease", "egressguard-system"}
BUILT_IN_GROUPS = {"", "apps", "batch", "networking.k8s.io", "discovery.k8s.io", "autoscaling",
                   "policy"}
# The resource each judged kind is written through (CONNECT kinds: their subresource).
RESOURCES = {
    "Pod": "pods", "Deployment": "deployments", "ReplicaSet": "replicasets",
    "StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "Job": "jobs",
    "CronJob": "cronjobs", "ServiceEntry": "serviceentries", "EnvoyFilter": "envoyfilters",
    "Sidecar": "sidecars", "WorkloadEntry": "workloadentries", "ConfigMap": "configmaps",
    "NetworkPolicy": "networkpolicies", "Service": "services", "Endpoints": "endpoints",
    "EndpointSlice": "endpointslices", "Namespace": "namespaces",
    "WasmPlugin": "wasmplugins", "TrafficExtension": "trafficextensions",
    "Gateway": "gateways", "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules", "ProxyConfig": "proxyconfigs",
    "AuthorizationPolicy": "authorizationpolicies",
    "RequestAuthentication": "requestauthentications", "HTTPRoute": "httproutes",
    "TLSRoute": "tlsroutes", "TCPRoute": "tcproutes", "GRPCRoute": "grpcroutes",
    "UDPRoute": "udproutes", "ListenerSet": "listenersets",
    "CiliumNetworkPolicy": "ciliumnetworkpolicies",
    "CiliumClusterwideNetworkPolicy": "ciliumclusterwidenetworkpolicies",
    "CiliumEnvoyConfig": "ciliumenvoyconfigs",
    "CiliumClusterwideEnvoyConfig": "ciliumclusterwideenvoyconfigs",
    "CiliumLocalRedirectPolicy": "ciliumlocalredirectpolicies",
    "GlobalNetworkPolicy": "globalnetworkpolicies",
    "AdminNetworkPolicy": "adminnetworkpolicies",
    "BaselineAdminNetworkPolicy": "baselineadminnetworkpolicies",
    "ClusterNetworkPolicy": "clusternetworkpolicies",
    "NetworkSet": "networksets", "GlobalNetworkSet": "globalnetworksets",
    "PodExecOptions": "pods/exec", "PodAttachOptions": "pods/attach",
}
CONNECT_KINDS = {"PodExecOptions", "PodAttachOptions"}
# L3 policy kinds: DELETE of any of them is judged (a gateway namespace's fence).
POLICIES = {
    ("networking.k8s.io", "networkpolicies"), ("cilium.io", "ciliumnetworkpolicies"),
    ("cilium.io", "ciliumclusterwidenetworkpolicies"), ("crd.projectcalico.org", "networkpolicies"),
    ("crd.projectcalico.org", "globalnetworkpolicies"),
    ("policy.networking.k8s.io", "adminnetworkpolicies"),
    ("policy.networking.k8s.io", "baselineadminnetworkpolicies"),
    ("policy.networking.k8s.io", "clusternetworkpolicies"),
}
# What render writes (labelled app.kubernetes.io/managed-by: egressguard).
RENDERED = {
    ("", "configmaps"), ("", "services"), ("apps", "deployments"),
    ("autoscaling", "horizontalpodautoscalers"), ("policy", "poddisruptionbudgets"),
    ("networking.istio.io", "serviceentries"), ("networking.istio.io", "envoyfilters"),
    ("networking.istio.io", "sidecars"), ("networking.istio.io", "workloadentries"),
    ("networking.istio.io", "gateways"), ("networking.istio.io", "virtualservices"),
    ("networking.istio.io", "destinationrules"), ("security.istio.io", "authorizationpolicies"),
    ("extensions.istio.io", "wasmplugins"), ("extensions.istio.io", "trafficextensions"),
    ("gateway.networking.k8s.io", "gateways"), ("gateway.networking.k8s.io", "httproutes"),
    ("gateway.networking.k8s.io", "tlsroutes"), ("gateway.networking.k8s.io", "tcproutes"),
    ("gateway.networking.k8s.io", "grpcroutes"), ("gateway.networking.k8s.io", "udproutes"),
}
NAMESPACE_CONTROLLER = "system:serviceaccount:kube-system:namespace-controller"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomization_files(folder: Path) -> Iterator[Path]:
    """Every manifest a kustomization folder builds from, following folders it includes."""
    kustomization = documents(folder / "kustomization.yaml")[0]
    for entry in kustomization.get("resources", []):
        target = (folder / entry).resolve()
        if target.is_dir():
            yield from kustomization_files(target)
        else:
            yield target


def manifests(*folders: Path) -> list[dict[str, Any]]:
    """What the kustomizations apply; by default both install steps (deploy/, then the
    webhook configurations of deploy/webhooks)."""
    return [doc for folder in folders or (DEPLOY, DEPLOY / "webhooks")
            for path in kustomization_files(folder) for doc in documents(path)]


def one(docs: list[dict[str, Any]], kind: str, name: str = "egressguard") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def webhooks(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(d["kind"], hook) for d in docs
            if d["kind"].endswith("WebhookConfiguration") for hook in d["webhooks"]]


def validating(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The validating webhooks by the first part of their name (``status``, ...)."""
    return {hook["name"].split(".")[0]: hook for kind, hook in webhooks(docs)
            if kind == "ValidatingWebhookConfiguration"}


def conditions(hook: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: " ".join(c["expression"].split()) for c in hook.get("matchConditions", [])}


def quoted(expression: str) -> set[str]:
    return set(re.findall(r"'([^']*)'", expression))


def registered(docs: list[dict[str, Any]],
               hooks: list[dict[str, Any]] | None = None) -> dict[tuple[str, str], set[str]]:
    """(group, resource) -> operations, across the validating webhooks (or ``hooks``)."""
    found: dict[tuple[str, str], set[str]] = {}
    for hook in hooks if hooks is not None else list(validating(docs).values()):
        for rule in hook["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    found.setdefault((group, resource), set()).update(rule["operations"])
    return found


# -- the files --------------------------------------------------------------------------


def test_every_yaml_file_in_deploy_parses_into_kubernetes_objects() -> None:
    # The Helm chart's templates are not YAML until rendered (tests/deploy renders them).
    files = sorted(p for p in DEPLOY.rglob("*.yaml") if "helm" not in p.relative_to(DEPLOY).parts)
    assert len(files) >= 10
    for path in files:
        for doc in documents(path):
            assert "kind" in doc, f"{path} has a document without kind"
            if doc["kind"] != "Kustomization":
                assert doc.get("apiVersion") and doc["metadata"].get("name"), path


@pytest.mark.parametrize("folder", [DEPLOY, DEPLOY / "base", DEPLOY / "overlays" / "git-sync",
                                    DEPLOY / "monitoring", DEPLOY / "webhooks"],
                         ids=["deploy", "base", "git-sync", "monitoring", "webhooks"])
def test_every_file_a_kustomization_names_exists(folder: Path) -> None:
    kustomization = documents(folder / "kustomization.yaml")[0]
    for entry in kustomization.get("resources", []):
        assert (folder / entry).exists(), f"{folder}: resource {entry} is missing"
    for patch in kustomization.get("patches", []):
        assert (folder / patch["path"]).is_file(), f"{folder}: patch {patch['path']} is missing"


# -- the webhook configurations --------------------------------------------------------


def test_every_webhook_fails_closed_without_side_effects() -> None:
    hooks = webhooks(manifests())
    assert {kind for kind, _ in hooks} == {
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"
    }
    for kind, hook in hooks:
        assert hook["failurePolicy"] == "Fail", hook["name"]
        assert hook["sideEffects"] == "None", hook["name"]
        assert hook["matchPolicy"] == "Equivalent", hook["name"]
        assert hook["admissionReviewVersions"] == ["v1"], hook["name"]
        assert DEFAULT_READ_TIMEOUT < hook["timeoutSeconds"] <= 15, hook["name"]
        service = hook["clientConfig"]["service"]
        assert (service["name"], service["namespace"], service["port"]) == (
            "egressguard", "egressguard-system", 443)
        assert service["path"] == ("/mutate" if kind.startswith("Mutating") else "/validate")
        assert "caBundle" not in hook["clientConfig"], "caBundle is set by the certs Job"


def test_no_webhook_can_block_the_control_plane_or_its_own_recovery() -> None:
    for _, hook in webhooks(manifests()):
        (expression,) = hook["namespaceSelector"]["matchExpressions"]
        assert expression["key"] == "kubernetes.io/metadata.name", hook["name"]
        assert expression["operator"] == "NotIn", hook["name"]
        assert set(expression["values"]) == SYSTEM, hook["name"]
        assert "objectSelector" not in hook, "users control object labels (RELIABILITY 8)"


def test_the_mutating_webhook_sees_pod_creation_only() -> None:
    hooks = [h for kind, h in webhooks(manifests()) if kind.startswith("Mutating")]
    assert [rule for h in hooks for rule in h["rules"]] == [{
        "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
        "resources": ["pods"], "scope": "Namespaced",
    }]


def test_every_kind_the_engine_judges_is_registered_for_validation() -> None:
    found = registered(manifests())
    for group, kind in judged_kinds():
        operations = found.get((group, RESOURCES[kind]))
        needed = {"CONNECT"} if kind in CONNECT_KINDS else {"CREATE", "UPDATE"}
        assert operations is not None and needed <= operations, (group, kind)


def test_subresources_are_registered_explicitly() -> None:
    """A rule for ``pods`` matches none of its subresources (RELIABILITY 6)."""
    found = registered(manifests())
    assert found[("", "pods/ephemeralcontainers")] >= {"UPDATE"}
    for resource in ("pods/status", "services/status", "namespaces/status",
                     "namespaces/finalize"):
        assert found[("", resource)] == {"UPDATE"}, resource
    for resource in ("pods/exec", "pods/attach"):
        assert found[("", resource)] == {"CONNECT"}, resource


def test_status_writes_are_sent_only_when_they_change_labels_or_annotations() -> None:
    hook = validating(manifests())["status"]
    assert {r for rule in hook["rules"] for r in rule["resources"]} == {
        "pods/status", "services/status", "namespaces/status", "namespaces/finalize"}
    (expression,) = conditions(hook).values()
    for field in ("labels", "annotations"):
        assert f"object.metadata.{field}" in expression
        assert f"oldObject.metadata.{field}" in expression


def test_connect_is_sent_for_the_mesh_containers_and_unnamed_ones() -> None:
    hook = validating(manifests())["connect"]
    assert registered(manifests(), [hook]) == {
        ("", "pods/exec"): {"CONNECT"}, ("", "pods/attach"): {"CONNECT"}}
    (expression,) = conditions(hook).values()
    assert quoted(expression) - {""} == set(MESH_CONTAINER_NAMES)
    assert "!has(object.container)" in expression


def test_custom_resources_are_registered_in_every_version() -> None:
    """matchPolicy Equivalent reaches another version only through a listed one."""
    for hook in validating(manifests()).values():
        for rule in hook["rules"]:
            if not set(rule["apiGroups"]) <= BUILT_IN_GROUPS:
                assert rule["apiVersions"] == ["*"], (hook["name"], rule["apiGroups"])


def test_delete_is_registered_for_policies_and_what_render_writes() -> None:
    docs = manifests()
    deletes = {key for key, ops in registered(docs).items() if "DELETE" in ops}
    assert deletes == POLICIES | RENDERED
    hooks = validating(docs)
    # Every policy DELETE is sent; of the rest only those of managed objects.
    assert {k for k, ops in registered(docs, [hooks["policies"]]).items()
            if "DELETE" in ops} == POLICIES
    assert {k for k, ops in registered(docs, [hooks["managed"]]).items()
            if "DELETE" in ops} == RENDERED - POLICIES
    managed = conditions(hooks["managed"])["managed-by-egressguard"]
    assert "oldObject.metadata.labels['app.kubernetes.io/managed-by'] == 'egressguard'" in managed
    for name in ("policies", "managed"):
        leave_out = conditions(hooks[name])["not-the-namespace-controller"]
        assert "request.operation != 'DELETE'" in leave_out
        assert NAMESPACE_CONTROLLER in quoted(leave_out)


def test_control_plane_endpoint_writers_are_left_out_before_the_call() -> None:
    hooks = validating(manifests())
    endpoints = {("", "endpoints"), ("discovery.k8s.io", "endpointslices")}
    hook = hooks.pop("endpoints")
    assert set(registered(manifests(), [hook])) == endpoints
    assert not endpoints & set(registered(manifests(), list(hooks.values())))
    (expression,) = conditions(hook).values()
    assert expression.startswith("!(request.userInfo.username in [")
    assert quoted(expression) == set(CONTROL_PLANE_ENDPOINT_WRITERS)


def test_only_the_mesh_configuration_and_managed_configmaps_reach_the_webhook() -> None:
    hooks = {name: h for name, h in validating(manifests()).items()
             if any("configmaps" in r["resources"] for r in h["rules"])}
    assert set(hooks) == {"meshconfig", "managed"}
    mesh = hooks["meshconfig"]
    assert all(r["resources"] == ["configmaps"] for r in mesh["rules"])
    (expression,) = conditions(mesh).values()
    assert "request.namespace == 'istio-system'" in expression
    assert "request.name == 'istio'" in expression
    assert "request.name.startsWith('istio-sidecar-injector')" in expression
    assert "'mesh' in object.data" in expression and "'mesh' in oldObject.data" in expression
    assert "managed-by-egressguard" in conditions(hooks["managed"])


# -- the workload ----------------------------------------------------------------------


def test_the_deployment_is_highly_available_and_locked_down() -> None:
    docs = manifests()
    deployment = one(docs, "Deployment")
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["affinity"]["podAntiAffinity"]
    one(docs, "PriorityClass", pod["priorityClassName"])
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "https", "scheme": "HTTPS"}
    assert container["ports"] == [{"name": "https", "containerPort": 8443, "protocol": "TCP"},
                                  {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert "--metrics-port=9090" in container["args"]
    read_timeout = next(float(a.split("=", 1)[1]) for a in container["args"]
                        if a.startswith("--read-timeout="))
    assert all(read_timeout < h["timeoutSeconds"] for _, h in webhooks(docs))


def test_the_service_maps_443_to_the_https_port_and_9090_to_metrics() -> None:
    https, metrics = one(manifests(), "Service")["spec"]["ports"]
    assert (https["port"], https["targetPort"]) == (443, "https")
    assert (metrics["name"], metrics["port"], metrics["targetPort"]) == ("metrics", 9090, "metrics")


def test_rbac_is_least_privilege() -> None:
    docs = manifests()
    assert one(docs, "ClusterRole")["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}
    ]
    (rule,) = one(docs, "ClusterRole", "egressguard-certs")["rules"]
    assert rule["resourceNames"] == ["egressguard"] and rule["verbs"] == ["get", "patch"]
    assert set(rule["resources"]) == {
        "mutatingwebhookconfigurations", "validatingwebhookconfigurations"}


def test_the_git_sync_overlay_pins_git_sync_and_serves_its_checkout() -> None:
    patch = documents(DEPLOY / "overlays" / "git-sync" / "git-sync.yaml")[0]
    pod = patch["spec"]["template"]["spec"]
    images = [c["image"] for c in [*pod["initContainers"], *pod["containers"]] if "image" in c]
    assert images and all(re.fullmatch(r"registry\.k8s\.io/git-sync/git-sync:v4\.\d+\.\d+", i)
                          for i in images)
    (webhook,) = [c for c in pod["containers"] if c["name"] == "egressguard"]
    assert any(a.startswith("--rules=/rules/current/") for a in webhook["args"])


# -- the real render -------------------------------------------------------------------


def kubectl() -> str | None:
    cache = Path(os.environ.get("EGRESSGUARD_CACHE", Path.home() / ".cache" / "egressguard"))
    built = sorted(cache.glob("controlplane-*/kubectl"))
    return str(built[-1]) if built else shutil.which("kubectl")


@pytest.mark.parametrize("folder", ["deploy", "deploy/overlays/git-sync"])
def test_kustomize_renders_what_the_checks_above_read(folder: str) -> None:
    binary = kubectl()
    if binary is None:
        pytest.skip("no kubectl here; the pure-Python checks above still ran")
    rendered = []
    for step in (folder, "deploy/webhooks"):  # the webhook configurations come second
        result = subprocess.run([binary, "kustomize", str(REPO / step)], capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        rendered += [d for d in yaml.safe_load_all(result.stdout) if d]
    assert {d["metadata"].get("namespace") for d in rendered
            if d["kind"] in ("Deployment", "Service", "ServiceAccount", "Job", "CronJob")} == {
        "egressguard-system"}
    source = {h["name"]: h for _, h in webhooks(manifests())}
    assert {h["name"]: h for _, h in webhooks(rendered)} == source
    deployment = one(rendered, "Deployment")
    (image,) = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]
                if c["name"] == "egressguard"}
    assert re.fullmatch(r"[\w./-]+/egressguard:[\w.]+", image)


def test_only_the_api_server_and_prometheus_can_reach_the_webhook_pods() -> None:
    """RELIABILITY 34: the webhook port is closed to the pod network (any workload of the
    cluster); the metrics port is open only to namespaces labelled for scraping."""
    docs = manifests()
    policy = one(docs, "NetworkPolicy", "egressguard-ingress")
    deployment = one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # git-sync and the watch go out
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["spec"]["ingress"]}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert set(by_port) == {port["name"] for port in container["ports"]}
    (webhook_peer,) = by_port["https"]
    assert webhook_peer["ipBlock"]["except"], "the pod network must be excluded"
    (metrics_peer,) = by_port["metrics"]
    assert metrics_peer == {"namespaceSelector": {"matchLabels": {
        "egressguard.io/scrape-metrics": "true"}}}


def test_the_memory_limit_leaves_room_for_the_bodies_in_flight() -> None:
    """RELIABILITY 29: the in-flight body budget fits the container's memory limit, beside
    the rules and the interpreter of every worker and the supervisor."""
    from webhook.server.settings import DEFAULT_MAX_IN_FLIGHT_BYTES, MiB

    container = one(manifests(), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    (workers,) = [int(arg.split("=")[1]) for arg in container["args"]
                  if arg.startswith("--workers=")]
    # Each worker: its share of the bodies (parsed, about twice their size), the rules and
    # the interpreter; and the supervisor.
    per_worker = DEFAULT_MAX_IN_FLIGHT_BYTES // workers * 2 + 128 * MiB
    assert workers * per_worker + 96 * MiB <= int(limit[:-2]) * MiB
