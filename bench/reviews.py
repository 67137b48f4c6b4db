"""A realistic corpus of AdmissionReviews, as the API server sends them, from 1 to 64 KB.

Pods are created by the ReplicaSet controller (the common case: ownerReferences, a
pod-template-hash, env-heavy containers, projected service-account volumes), with and
without an egress request; some are refused (hostNetwork, NET_ADMIN, privileged, a
self-set entitlement label, a missing or expired grant). Besides pods: UPDATEs with their
``oldObject``, Deployments, ServiceEntries and EnvoyFilters, and pods with an injected
Istio sidecar. Sizes grow with environment variables, the usual reason pods get large.

The identities and hosts are those of :data:`bench.corpus.FIXED_GRANTS`, so every review
decides the same way against every repository size.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

KiB = 1024
SMALL = 1536  # pods asked for at most this size are built bare
ENVELOPE = 900  # about what the AdmissionReview around an object adds
REQUEST_ANNOTATION = "egressguard.io/egress"
CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
DEPLOYER = "system:serviceaccount:argocd:argocd-application-controller"


@dataclass(frozen=True, slots=True)
class Sample:
    """One review of the corpus: ``name`` says what it is (``pod-create/denied-hostnet``)."""

    name: str
    review: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def body(self) -> bytes:
        return orjson.dumps(self.review)


def _env(count: int, rng: random.Random) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    for index in range(count):
        if index % 5 == 4:
            env.append({"name": f"SECRET_{index}", "valueFrom": {"secretKeyRef": {
                "name": "app-secrets", "key": f"key-{index}"}}})
        else:
            value = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-./:")
                            for _ in range(rng.randint(8, 72)))
            env.append({"name": f"APP_SETTING_{index}", "value": value})
    return env


def container(name: str, *, image: str, env: int = 6, rng: random.Random,
              add: Iterable[str] = (), privileged: bool = False) -> dict[str, Any]:
    security: dict[str, Any] = {
        "runAsNonRoot": True, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
    }
    if add:
        security["capabilities"] = {"add": list(add)}
    if privileged:
        security = {"privileged": True}
    return {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": _env(env, rng),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
        "volumeMounts": [{"name": "kube-api-access", "readOnly": True,
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": security,
    }


def _sidecar(rng: random.Random) -> list[dict[str, Any]]:
    """istio-init and istio-proxy as the injector adds them (NET_ADMIN and NET_RAW allowed)."""
    init = {"name": "istio-init", "image": "docker.io/istio/proxyv2:1.24.0",
            "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m",
                     "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"],
            "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"],
                                                 "drop": ["ALL"]},
                                "runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False}}
    proxy = container("istio-proxy", image="docker.io/istio/proxyv2:1.24.0", env=20, rng=rng)
    proxy["args"] = ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"]
    proxy["securityContext"] = {"runAsUser": 1337, "runAsGroup": 1337, "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]}}
    return [init, proxy]


def pod(namespace: str, service_account: str, *, rng: random.Random, requests: str | None = None,
        labels: dict[str, str] | None = None, host_network: bool = False,
        add: Iterable[str] = (), privileged: bool = False, sidecar: bool = False,
        size: int = 0) -> dict[str, Any]:
    """A pod as the ReplicaSet controller creates it, grown to about ``size`` bytes."""
    template_hash = f"{rng.getrandbits(40):010x}"[:10]
    app = service_account
    annotations = {"kubectl.kubernetes.io/restartedAt": "2026-05-30T08:12:44Z",
                   "prometheus.io/scrape": "true", "prometheus.io/port": "9090"}
    if requests is not None:
        annotations[REQUEST_ANNOTATION] = requests
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{app}-{template_hash}-",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": namespace,
                       "pod-template-hash": template_hash, **(labels or {})},
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": f"{app}-{template_hash}", "controller": True,
                                 "blockOwnerDeletion": True,
                                 "uid": f"{rng.getrandbits(128):032x}"}],
        },
        "spec": {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": True,
            "containers": [container("app", image=f"registry.example.com/{namespace}/{app}:1.4.2",
                                     rng=rng, add=add, privileged=privileged)],
            "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300}],
        },
        "status": {},
    }
    if host_network:
        obj["spec"]["hostNetwork"] = True
    if sidecar:
        obj["spec"]["initContainers"] = [_sidecar(rng)[0]]
        obj["spec"]["containers"].append(_sidecar(rng)[1])
        obj["metadata"]["annotations"]["sidecar.istio.io/status"] = '{"initContainers":' \
            '["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"]}'
    if size and size <= SMALL:
        # A bare pod (a Job's, say): no probes, volumes, tolerations or environment.
        for key in ("volumes", "tolerations", "securityContext"):
            obj["spec"].pop(key, None)
        for key in ("env", "readinessProbe", "volumeMounts", "resources"):
            obj["spec"]["containers"][0].pop(key, None)
        obj["metadata"]["annotations"].pop("kubectl.kubernetes.io/restartedAt", None)
        obj["spec"]["containers"][0]["env"] = []
    _grow(obj["spec"]["containers"][0], obj, size - ENVELOPE, rng)
    return obj


def _grow(target: dict[str, Any], whole: dict[str, Any], size: int, rng: random.Random) -> None:
    """Adds environment variables to ``target`` until ``whole`` encodes to ``size`` bytes."""
    while len(orjson.dumps(whole)) < size:
        missing = size - len(orjson.dumps(whole))
        target["env"].extend(_env(max(1, missing // 110), rng))


def review(obj: dict[str, Any] | None, *, uid: str, kind: tuple[str, str, str],
           resource: str, operation: str = "CREATE", old: dict[str, Any] | None = None,
           username: str = CONTROLLER, groups: tuple[str, ...] = ()) -> dict[str, Any]:
    """The AdmissionReview the API server sends for one object."""
    group, version, kind_name = kind
    some = obj if obj is not None else old
    assert some is not None
    namespace = some.get("metadata", {}).get("namespace", "")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind_name},
            "resource": {"group": group, "version": version, "resource": resource},
            "requestKind": {"group": group, "version": version, "kind": kind_name},
            "requestResource": {"group": group, "version": version, "resource": resource},
            "name": some.get("metadata", {}).get("name", ""),
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": username,
                         "uid": "8f0c1f5e-2d4b-4f7a-9d55-0c5f0e7a1b2c",
                         "groups": [*groups, "system:serviceaccounts",
                                    "system:serviceaccounts:kube-system",
                                    "system:authenticated"]},
            "object": obj,
            "oldObject": old,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
            if operation == "CREATE" else
            {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions"},
        },
    }


POD = ("", "v1", "Pod")


def pod_review(*, requests: str = "dest-0.example.com:443, dest-1.example.com:443",
               size: int = 0, seed: int = 1) -> dict[str, Any]:
    """The *typical pod review*: shop/checkout's pod asking for two granted destinations."""
    rng = random.Random(seed)
    obj = pod("shop", "checkout", rng=rng, requests=requests, size=size)
    return review(obj, uid=f"bench-{seed:08d}", kind=POD, resource="pods")


# (name, weight, how to build the pod): the pod mix all three servers are measured with.
# Every case is judged by the checks the OPA policy implements too (bench/opa/).
def _pod_cases() -> list[tuple[str, int, dict[str, Any]]]:
    return [
        ("granted-2", 30, {"namespace": "shop", "service_account": "checkout",
                           "requests": "dest-0.example.com:443, dest-1.example.com:443"}),
        ("granted-wildcard", 8, {"namespace": "shop", "service_account": "cart",
                                 "requests": "api.dest-3.example.com:443"}),
        ("granted-open", 6, {"namespace": "data", "service_account": "etl",
                             "requests": "dest-4.example.com:443, dest-7.example.com:443"}),
        ("no-request", 24, {"namespace": "shop", "service_account": "checkout"}),
        ("no-grants", 10, {"namespace": "web", "service_account": "frontend"}),
        ("denied-grant-missing", 4, {"namespace": "shop", "service_account": "cart",
                                     "requests": "dest-2.example.com:443"}),
        ("denied-grant-expired", 2, {"namespace": "data", "service_account": "report",
                                     "requests": "dest-5.example.com:443"}),
        ("denied-unknown-host", 2, {"namespace": "shop", "service_account": "checkout",
                                    "requests": "unknown.example.org:443"}),
        ("denied-wrong-port", 2, {"namespace": "shop", "service_account": "checkout",
                                  "requests": "dest-0.example.com:8443"}),
        ("denied-managed-label", 3, {"namespace": "shop", "service_account": "cart",
                                     "labels": {"egressguard.io/allow-dest-0": "true"}}),
        ("denied-hostnet", 3, {"namespace": "shop", "service_account": "checkout",
                               "host_network": True}),
        ("denied-net-admin", 3, {"namespace": "shop", "service_account": "checkout",
                                 "add": ["NET_ADMIN"]}),
        ("denied-privileged", 3, {"namespace": "data", "service_account": "etl",
                                  "privileged": True}),
    ]


# Pod sizes (bytes) and their weights: most pods are a few KB, a few are large.
POD_SIZES = ((1 * KiB, 10), (2 * KiB, 25), (4 * KiB, 30), (8 * KiB, 20), (16 * KiB, 8),
             (32 * KiB, 4), (64 * KiB, 3))


def pod_mix(count: int = 200, *, seed: int = 7) -> list[Sample]:
    """Controller-created pod CREATEs, allowed and refused, 1 to 64 KB, in a fixed order."""
    rng = random.Random(seed)
    cases = _pod_cases()
    names = [c[0] for c in cases]
    weights = [c[1] for c in cases]
    samples = []
    for index in range(count):
        (chosen,) = rng.choices(range(len(cases)), weights=weights)
        (size,) = rng.choices([s for s, _ in POD_SIZES], weights=[w for _, w in POD_SIZES])
        obj = pod(rng=rng, size=size, **cases[chosen][2])
        samples.append(Sample(f"pod-create/{names[chosen]}",
                              review(obj, uid=f"pod-{seed}-{index:06d}", kind=POD,
                                     resource="pods")))
    return samples


def deployment(namespace: str, service_account: str, *, rng: random.Random,
               requests: str | None, size: int) -> dict[str, Any]:
    template = pod(namespace, service_account, rng=rng, requests=requests, size=size)
    meta = template["metadata"]
    for key in ("generateName", "ownerReferences", "namespace"):
        meta.pop(key, None)
    meta["labels"].pop("pod-template-hash", None)
    template.pop("status", None)
    template.pop("apiVersion", None)
    template.pop("kind", None)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": service_account, "namespace": namespace,
                     "labels": {"app.kubernetes.io/name": service_account},
                     "annotations": {"argocd.argoproj.io/tracking-id":
                                     f"{namespace}:apps/Deployment:{namespace}/{service_account}"}},
        "spec": {"replicas": 3, "revisionHistoryLimit": 10,
                 "selector": {"matchLabels": {"app.kubernetes.io/name": service_account}},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": template},
    }


def service_entry(namespace: str, host: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": {"name": host.replace(".", "-"), "namespace": namespace},
        "spec": {"hosts": [host], "location": "MESH_EXTERNAL", "resolution": "DNS",
                 "ports": [{"number": port, "name": "tls", "protocol": "TLS"}]},
    }


def envoy_filter(namespace: str, *, context: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
        "metadata": {"name": "add-header", "namespace": namespace},
        "spec": {
            "workloadSelector": {"labels": {"app.kubernetes.io/name": "checkout"}},
            "configPatches": [{
                "applyTo": "HTTP_FILTER",
                "match": {"context": context, "listener": {"filterChain": {"filter": {
                    "name": "envoy.filters.network.http_connection_manager",
                    "subFilter": {"name": "envoy.filters.http.router"}}}}},
                "patch": {"operation": "INSERT_BEFORE", "value": {
                    "name": "envoy.filters.http.lua",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                        "inlineCode": "function envoy_on_request(h) end"}}},
            }],
        },
    }


def full_corpus(*, seed: int = 11) -> list[Sample]:
    """One or more reviews of every kind egressguard sees, for the by-kind benchmarks."""
    rng = random.Random(seed)
    samples = [s for s in pod_mix(40, seed=seed)]
    for index, size in enumerate((2 * KiB, 8 * KiB, 32 * KiB)):
        new = pod("shop", "checkout", rng=rng, requests="dest-0.example.com:443", size=size)
        new["metadata"]["name"] = f"checkout-{index}"
        new["metadata"]["labels"]["egressguard.io/allow-dest-0"] = "true"
        old = orjson.loads(orjson.dumps(new))
        new["metadata"]["labels"]["release"] = "canary"
        samples.append(Sample("pod-update/relabel", review(
            new, uid=f"upd-{index}", kind=POD, resource="pods", operation="UPDATE", old=old,
            username="system:serviceaccount:argocd:argocd-application-controller")))
        sidecar = pod("shop", "checkout", rng=rng, requests="dest-1.example.com:443",
                      sidecar=True, size=size)
        samples.append(Sample("pod-create/sidecar", review(
            sidecar, uid=f"sc-{index}", kind=POD, resource="pods")))
        deploy = deployment("shop", "checkout", rng=rng, requests="dest-2.example.com:443",
                            size=size)
        samples.append(Sample("deployment-create/granted", review(
            deploy, uid=f"dep-{index}", kind=("apps", "v1", "Deployment"),
            resource="deployments", username=DEPLOYER)))
        changed = orjson.loads(orjson.dumps(deploy))
        changed["spec"]["replicas"] = 5
        samples.append(Sample("deployment-update/scale", review(
            changed, uid=f"depu-{index}", kind=("apps", "v1", "Deployment"),
            resource="deployments", operation="UPDATE", old=deploy, username=DEPLOYER)))
    istio = ("networking.istio.io", "v1", "ServiceEntry")
    for index, (host, port) in enumerate((("dest-0.example.com", 443),
                                          ("dest-8.example.com", 8443),
                                          ("evil.example.net", 443))):
        samples.append(Sample(
            "serviceentry-create/" + ("uncovered" if host.startswith("evil") else "covered"),
            review(service_entry("shop", host, port), uid=f"se-{index}", kind=istio,
                   resource="serviceentries", username="alice")))
    filters = ("networking.istio.io", "v1alpha3", "EnvoyFilter")
    for index, context in enumerate(("SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY")):
        samples.append(Sample(
            f"envoyfilter-create/{context.lower()}",
            review(envoy_filter("shop", context=context), uid=f"ef-{index}", kind=filters,
                   resource="envoyfilters", username="alice")))
    return samples


def write_bodies(path: Path, samples: Iterable[Sample]) -> Path:
    """One encoded review per line (JSON lines), what the load generator sends in turn."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(sample.body + b"\n" for sample in samples))
    return path


def read_bodies(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line]
