"""Ways to tell the mesh's own containers to stand down, applied to real injected pods.

Each tampering changes a copy of a pod istioctl injected, as a user could before
submitting it (or as a Deployment's own ``istio-init``/``istio-proxy`` entries merge into
the injected ones), and names the code that must refuse it. Flag and variable names are
istio-iptables' and pilot-agent's own (see README.md for where Istio binds them).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Pod = dict[str, Any]
INIT_NAMES = ("istio-init", "istio-validation")
PROXY = "istio-proxy"


@dataclass(frozen=True)
class Tampering:
    name: str
    code: str
    change: Callable[[Pod], None]

    def apply(self, pod: Pod) -> Pod:
        tampered = copy.deepcopy(pod)
        self.change(tampered)
        return tampered


def containers(pod: Pod) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def mesh_container(pod: Pod, names: tuple[str, ...]) -> dict[str, Any] | None:
    return next((c for c in containers(pod) if c.get("name") in names), None)


def _init(pod: Pod) -> dict[str, Any]:
    found = mesh_container(pod, INIT_NAMES)
    assert found is not None, "no istio-init or istio-validation in this pod"
    return found


def _proxy(pod: Pod) -> dict[str, Any]:
    found = mesh_container(pod, (PROXY,))
    assert found is not None, "no istio-proxy in this pod"
    return found


def add_args(target: Callable[[Pod], dict[str, Any]], *args: str) -> Callable[[Pod], None]:
    def change(pod: Pod) -> None:
        target(pod).setdefault("args", []).extend(args)
    return change


def set_flag(flag: str, value: str) -> Callable[[Pod], None]:
    """Replace the value of an istio-iptables flag Istio wrote (``-x ""`` → ``-x value``)."""
    def change(pod: Pod) -> None:
        args = _init(pod)["args"]
        index = args.index(flag)
        args[index + 1] = value
    return change


def add_env(target: Callable[[Pod], dict[str, Any]], name: str,
            value: str) -> Callable[[Pod], None]:
    def change(pod: Pod) -> None:
        target(pod).setdefault("env", []).append({"name": name, "value": value})
    return change


def set_env(name: str, value: str) -> Callable[[Pod], None]:
    """Replace the value of a variable Istio wrote on istio-proxy."""
    def change(pod: Pod) -> None:
        for env in _proxy(pod)["env"]:
            if env["name"] == name:
                env["value"] = value
                return
        raise AssertionError(f"istio-proxy has no {name}")
    return change


def extra_proxy_mount(pod: Pod) -> None:
    pod["spec"].setdefault("volumes", []).append(
        {"name": "my-bootstrap", "configMap": {"name": "my-bootstrap"}})
    _proxy(pod).setdefault("volumeMounts", []).append(
        {"name": "my-bootstrap", "mountPath": "/etc/istio/custom-bootstrap"})


def impostor_init(pod: Pod) -> None:
    """A copy of the real istio-init among ``containers``: istio-cni skips such a pod."""
    impostor = copy.deepcopy(_init(pod))
    impostor["name"] = "istio-init"
    pod["spec"]["containers"].append(impostor)


def app_runs_as_proxy_uid(pod: Pod) -> None:
    """The app container as the UID istio-iptables leaves uncaptured (its ``-u``: 1337, or
    the namespace's UID on OpenShift; 1337 under TPROXY, where istio-proxy itself runs as 0)."""
    args = _init(pod)["args"]
    uid = int(args[args.index("-u") + 1])
    app = next(c for c in pod["spec"]["containers"] if c["name"] not in (PROXY, *INIT_NAMES))
    app.setdefault("securityContext", {})["runAsUser"] = uid


def app_runs_in_proxy_group(pod: Pod) -> None:
    """The app container in the group istio-iptables leaves uncaptured (``-g``, else ``-u``)."""
    args = _init(pod)["args"]
    gid = int(args[args.index("-g" if "-g" in args else "-u") + 1])
    app = next(c for c in pod["spec"]["containers"] if c["name"] not in (PROXY, *INIT_NAMES))
    app.setdefault("securityContext", {})["runAsGroup"] = gid


def app_runs_as(uid: int) -> Callable[[Pod], None]:
    def change(pod: Pod) -> None:
        app = next(c for c in pod["spec"]["containers"] if c["name"] not in (PROXY, *INIT_NAMES))
        app.setdefault("securityContext", {})["runAsUser"] = uid
    return change


def drop_run_validation(pod: Pod) -> None:
    _init(pod)["args"].remove("--run-validation")


EXCLUDED = "interception-excluded"
OVERRIDE = "proxy-override"

TAMPERINGS = (
    Tampering("init-arg-dry-run", EXCLUDED, add_args(_init, "--dry-run")),
    Tampering("init-arg-n", EXCLUDED, add_args(_init, "-n")),
    Tampering("init-arg-dry-run-equals-true", EXCLUDED, add_args(_init, "--dry-run=true")),
    Tampering("init-env-DRY_RUN", EXCLUDED, add_env(_init, "DRY_RUN", "true")),
    Tampering("init-env-CLEANUP_ONLY", EXCLUDED, add_env(_init, "CLEANUP_ONLY", "true")),
    Tampering("init-arg-cleanup-only", EXCLUDED, add_args(_init, "--cleanup-only")),
    Tampering("init-arg-exclude-interfaces-long", EXCLUDED,
              add_args(_init, "--istio-exclude-interfaces", "eth0")),
    Tampering("init-arg-exclude-interfaces-short", EXCLUDED, add_args(_init, "-c", "eth0")),
    Tampering("init-env-ISTIO_EXCLUDE_INTERFACES", EXCLUDED,
              add_env(_init, "ISTIO_EXCLUDE_INTERFACES", "eth0")),
    Tampering("init-env-owner-groups-exclude", EXCLUDED,
              add_env(_init, "ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE", "1000")),
    Tampering("init-env-owner-groups-include", EXCLUDED,
              add_env(_init, "ISTIO_OUTBOUND_OWNER_GROUPS", "1337")),
    Tampering("init-x-everything", EXCLUDED, set_flag("-x", "0.0.0.0/0")),
    Tampering("init-arg-service-exclude-cidr-long", EXCLUDED,
              add_args(_init, "--istio-service-exclude-cidr=0.0.0.0/0")),
    Tampering("init-env-ISTIO_SERVICE_EXCLUDE_CIDR", EXCLUDED,
              add_env(_init, "ISTIO_SERVICE_EXCLUDE_CIDR", "0.0.0.0/0")),
    Tampering("init-i-narrowed", EXCLUDED, set_flag("-i", "10.0.0.0/8")),
    Tampering("init-u-changed", EXCLUDED, set_flag("-u", "1000")),
    Tampering("init-g-added", EXCLUDED, add_args(_init, "-g", "1000")),
    Tampering("init-env-PROXY_UID", EXCLUDED, add_env(_init, "PROXY_UID", "1000")),
    Tampering("init-m-none", EXCLUDED, set_flag("-m", "NONE")),
    Tampering("init-arg-network-namespace", EXCLUDED,
              add_args(_init, "--network-namespace", "/var/run/netns/elsewhere")),
    Tampering("proxy-env-ISTIO_BOOTSTRAP_OVERRIDE", OVERRIDE,
              add_env(_proxy, "ISTIO_BOOTSTRAP_OVERRIDE", "/var/lib/istio/data/bootstrap.json")),
    Tampering("proxy-env-PROXY_CONFIG-discoveryAddress", OVERRIDE,
              set_env("PROXY_CONFIG", '{"discoveryAddress": "istiod.attacker.example:15012"}')),
    Tampering("proxy-arg-templateFile", OVERRIDE,
              add_args(_proxy, "--templateFile", "/var/lib/istio/data/envoy.json")),
    Tampering("proxy-arg-meshConfig", OVERRIDE,
              add_args(_proxy, "--meshConfig=/var/lib/istio/data/mesh.yaml")),
    Tampering("proxy-env-DISABLE_ENVOY", EXCLUDED,
              add_env(_proxy, "DISABLE_ENVOY", "true")),
    Tampering("proxy-extra-volume-mount", OVERRIDE, extra_proxy_mount),
    Tampering("impostor-istio-init-in-containers", "mesh-opt-out", impostor_init),
    Tampering("app-runs-as-proxy-uid", "proxy-uid", app_runs_as_proxy_uid),
    Tampering("app-runs-in-proxy-gid", "proxy-uid", app_runs_in_proxy_group),
)

# Only on istio-init: istio-validation is written with --skip-rule-apply by Istio itself.
INIT_ONLY: tuple[Tampering, ...] = (
    Tampering("init-arg-skip-rule-apply", EXCLUDED, add_args(_init, "--skip-rule-apply")),
    Tampering("init-env-SKIP_RULE_APPLY", EXCLUDED,
              add_env(_init, "SKIP_RULE_APPLY", "true")),
)
# Only on istio-validation: without --run-validation its --skip-rule-apply checks nothing.
VALIDATION_ONLY: tuple[Tampering, ...] = (
    Tampering("validation-without-run-validation", EXCLUDED, drop_run_validation),
)

# Changes that open nothing, on the profiles where a UID-based rule could mistake them:
# under TPROXY istio-proxy itself runs as UID 0 but istio-iptables exempts 1337; on
# OpenShift the namespace's UID is the proxy's and 1337 is an ordinary UID.
HARMLESS: tuple[tuple[str, str, Callable[[Pod], None]], ...] = (
    ("tproxy", "app-runs-as-root-under-tproxy", app_runs_as(0)),
    ("openshift-namespace-uid", "app-runs-as-1337-on-openshift", app_runs_as(1337)),
)
