"""A bypass oracle for pods (security model v2): generated from the dangerous parts, judged
by an independent predicate per path out of the pod, and the engine must refuse whenever
the oracle says the pod escapes, in every mode that enforces.

The oracle is written from the product contract, not from the engine: each path is a small
predicate over the generated parts. The generator also mixes in parts that look dangerous
but are not (capture added, baseline capabilities, the mesh's own settings), so the engine
must admit a pod the oracle finds no way out of: the test holds in both directions.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.admission import request
from webhook.engine import evaluate
from webhook.loader import load_repository
from webhook.model.review import UserInfo
from webhook.model.rules import Policy

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
RULES = Path(__file__).parent.parent / "rules"
PROXY = "docker.io/istio/proxyv2:1.26.2"
ENFORCING_MODES = ({}, {"egressguard.io/mode": "enforce"}, {"egressguard.io/mode": "enforced?"})
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def policy() -> Policy:
    return load_repository(RULES).policy


def injected_pod() -> dict[str, Any]:
    """A pod as Istio's injector leaves it: nothing here lets traffic out."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                     "annotations": {}},
        "spec": {
            "serviceAccountName": "web",
            "initContainers": [{
                "name": "istio-init", "image": PROXY,
                "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m",
                         "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"],
                "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"],
                                                     "drop": ["ALL"]},
                                    "runAsUser": 0, "runAsGroup": 0},
            }],
            "containers": [
                {"name": "app", "image": "registry.example.com/shop/web:1"},
                {"name": "istio-proxy", "image": PROXY,
                 "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                 "env": [{"name": "PROXY_CONFIG", "value": "{}"},
                         {"name": "ISTIO_META_INTERCEPTION_MODE", "value": "REDIRECT"}],
                 "securityContext": {"runAsUser": 1337, "runAsGroup": 1337}},
            ],
        },
    }


# Each part: (name, path out it opens or None when harmless). Applied by `apply` below.
PARTS = {
    # off the pod network
    "hostNetwork": "node", "hostPID": "node", "hostIPC": "node", "hostPath": "node",
    "privileged": "node", "cap-sys-admin": "node", "cap-net-admin-app": "node",
    "seccomp-unconfined": "node", "apparmor-annotation": "node", "proc-unmasked": "node",
    # around the capture
    "inject-label-false": "capture", "inject-annotation-false": "capture",
    "dataplane-none": "capture", "exclude-ranges": "capture", "include-some": "capture",
    "init-exclude-all": "capture", "init-dry-run": "capture", "init-env-cleanup": "capture",
    "init-other-uid": "capture", "app-as-proxy-uid": "capture", "impostor-init": "capture",
    "proxy-bootstrap-env": "capture", "proxy-template-flag": "capture",
    "templates-grpc": "capture", "proxy-config-outside": "capture",
    # by identity
    "gateway-labels": "identity", "entitlement-label": "identity",
    # name resolution
    "dns-default": "dns",
    # harmless look-alikes
    "kubevirt": None, "dns-capture-env": None, "cap-chown": None, "seccomp-runtime": None,
    "emptydir": None, "inject-label-true-annotation-false": None, "tracing-inside": None,
    "app-uid-1000": None, "init-log-json": None, "fsgroup-1337": None,
}


def apply(pod: dict[str, Any], part: str) -> None:
    meta, spec = pod["metadata"], pod["spec"]
    init, app, proxy = spec["initContainers"][0], spec["containers"][0], spec["containers"][1]
    labels, annotations = meta["labels"], meta["annotations"]
    app_context = app.setdefault("securityContext", {})
    match part:
        case "hostNetwork" | "hostPID" | "hostIPC":
            spec[part] = True
        case "hostPath":
            spec.setdefault("volumes", []).append({"name": "h", "hostPath": {"path": "/var/run"}})
        case "privileged":
            app_context["privileged"] = True
        case "cap-sys-admin":
            app_context.setdefault("capabilities", {}).setdefault("add", []).append("sys_admin")
        case "cap-net-admin-app":
            app_context.setdefault("capabilities", {}).setdefault("add", []).append("NET_ADMIN")
        case "seccomp-unconfined":
            spec.setdefault("securityContext", {})["seccompProfile"] = {"type": "Unconfined"}
        case "apparmor-annotation":
            annotations["container.apparmor.security.beta.kubernetes.io/app"] = "unconfined"
        case "proc-unmasked":
            app_context["procMount"] = "Unmasked"
        case "inject-label-false":
            labels["sidecar.istio.io/inject"] = "false"
        case "inject-annotation-false":
            if "sidecar.istio.io/inject" not in labels:
                annotations["sidecar.istio.io/inject"] = "false"
        case "dataplane-none":
            labels["istio.io/dataplane-mode"] = "none"
        case "exclude-ranges":
            annotations["traffic.sidecar.istio.io/excludeOutboundIPRanges"] = "0.0.0.0/0"
        case "include-some":
            annotations["traffic.sidecar.istio.io/includeOutboundIPRanges"] = "10.0.0.0/8"
        case "init-exclude-all":
            init["args"][init["args"].index("-x") + 1] = "0.0.0.0/0"
        case "init-dry-run":
            init["args"].append("-n")
        case "init-env-cleanup":
            init.setdefault("env", []).append({"name": "CLEANUP_ONLY", "value": "true"})
        case "init-other-uid":
            init["args"][init["args"].index("-u") + 1] = "1000"
        case "app-as-proxy-uid":
            app_context["runAsUser"] = 1337
        case "impostor-init":
            spec["containers"].append({"name": "istio-init", "image": "busybox"})
        case "proxy-bootstrap-env":
            proxy["env"].append({"name": "ISTIO_BOOTSTRAP_OVERRIDE", "value": "/b.json"})
        case "proxy-template-flag":
            proxy["args"] += ["--templateFile", "/t.json"]
        case "templates-grpc":
            annotations["inject.istio.io/templates"] = "grpc-agent"
        case "proxy-config-outside":
            annotations["proxy.istio.io/config"] = (
                '{"tracing": {"zipkin": {"address": "zipkin.example.com:9411"}}}')
        case "gateway-labels":
            labels["istio"] = "egressgateway"
        case "entitlement-label":
            labels["egressguard.io/allow-stripe"] = "true"
        case "dns-default":
            spec["dnsPolicy"] = "Default"
        case "kubevirt":
            annotations["traffic.sidecar.istio.io/kubevirtInterfaces"] = "net1"
            init["args"] += ["-k", "net1"]
        case "dns-capture-env":
            proxy["env"].append({"name": "ISTIO_META_DNS_CAPTURE", "value": "true"})
            init.setdefault("env", []).append({"name": "ISTIO_META_DNS_CAPTURE", "value": "true"})
        case "cap-chown":
            app_context.setdefault("capabilities", {}).setdefault("add", []).append("CHOWN")
        case "seccomp-runtime":
            app_context["seccompProfile"] = {"type": "RuntimeDefault"}
        case "emptydir":
            spec.setdefault("volumes", []).append({"name": "e", "emptyDir": {}})
        case "inject-label-true-annotation-false":
            if "sidecar.istio.io/inject" not in labels:
                labels["sidecar.istio.io/inject"] = "true"
                annotations["sidecar.istio.io/inject"] = "false"
        case "tracing-inside":
            if "proxy.istio.io/config" not in annotations:
                annotations["proxy.istio.io/config"] = (
                    '{"tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}}}')
        case "app-uid-1000":
            app_context.setdefault("runAsUser", 1000)
        case "init-log-json":
            init["args"].append("--log_as_json")
        case "fsgroup-1337":
            spec.setdefault("securityContext", {})["fsGroup"] = 1337


# --- the oracle: one predicate per path out, over the finished pod ----------------------------

BASELINE = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
            "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}


def leaves_the_pod_network(pod: dict[str, Any]) -> bool:
    spec = pod["spec"]
    if any(spec.get(k) is True for k in ("hostNetwork", "hostPID", "hostIPC")):
        return True
    if any("hostPath" in v for v in spec.get("volumes", [])):
        return True
    if spec.get("securityContext", {}).get("seccompProfile", {}).get("type") == "Unconfined":
        return True
    if "unconfined" in pod["metadata"]["annotations"].values():
        return True
    app = spec["containers"][0].get("securityContext", {})
    caps = {c.upper().removeprefix("CAP_") for c in app.get("capabilities", {}).get("add", [])}
    return bool(caps - BASELINE) or app.get("privileged") is True or "procMount" in app


def goes_around_the_capture(pod: dict[str, Any]) -> bool:
    meta, spec = pod["metadata"], pod["spec"]
    labels, annotations = meta["labels"], meta["annotations"]
    inject = labels.get("sidecar.istio.io/inject", annotations.get("sidecar.istio.io/inject"))
    if inject == "false" or labels.get("istio.io/dataplane-mode") == "none":
        return True
    if annotations.get("traffic.sidecar.istio.io/excludeOutboundIPRanges"):
        return True
    if annotations.get("traffic.sidecar.istio.io/includeOutboundIPRanges", "*") != "*":
        return True
    if annotations.get("inject.istio.io/templates", "sidecar") != "sidecar":
        return True
    if "example.com" in annotations.get("proxy.istio.io/config", ""):
        return True
    init, app, proxy = spec["initContainers"][0], spec["containers"][0], spec["containers"][1]
    args = init["args"]
    if args[args.index("-x") + 1] or args[args.index("-u") + 1] != "1337" or "-n" in args:
        return True
    if any(e["name"] == "CLEANUP_ONLY" for e in init.get("env", [])):
        return True
    if app.get("securityContext", {}).get("runAsUser") == 1337:
        return True
    if any(c["name"] == "istio-init" for c in spec["containers"]):
        return True
    if any(e["name"] == "ISTIO_BOOTSTRAP_OVERRIDE" for e in proxy["env"]):
        return True
    return "--templateFile" in proxy["args"]


def wears_another_identity(pod: dict[str, Any]) -> bool:
    labels = pod["metadata"]["labels"]
    return labels.get("istio") == "egressgateway" or "egressguard.io/allow-stripe" in labels


def resolves_elsewhere(pod: dict[str, Any]) -> bool:
    return pod["spec"].get("dnsPolicy") == "Default"


PATHS = (leaves_the_pod_network, goes_around_the_capture, wears_another_identity,
         resolves_elsewhere)


def escapes(pod: dict[str, Any]) -> list[str]:
    return [path.__name__ for path in PATHS if path(pod)]


@SETTINGS
@given(parts=st.lists(st.sampled_from(sorted(PARTS)), max_size=4, unique=True),
       labels=st.sampled_from(ENFORCING_MODES))
def test_the_engine_refuses_every_pod_the_oracle_finds_a_way_out_of(
    parts: list[str], labels: dict[str, str]
) -> None:
    pod = injected_pod()
    for part in parts:
        apply(pod, part)
    judged = request(copy.deepcopy(pod), kind=("", "v1", "Pod"), namespace="shop",
                     user=UserInfo("developer@example.com"))
    decision = evaluate(judged, policy(), now=NOW, namespace_labels=labels)
    ways_out = escapes(pod)
    assert decision.allowed is not bool(ways_out), (parts, ways_out, decision.messages)


def test_every_dangerous_part_is_seen_by_the_oracle() -> None:
    """The oracle is not vacuous: each dangerous part alone is a way out, each harmless one
    is not."""
    for part, path in PARTS.items():
        pod = injected_pod()
        apply(pod, part)
        assert bool(escapes(pod)) is (path is not None), part
