"""The injection corpus: our workloads as Istio's real injector rewrites them.

``istioctl kube-inject`` runs offline on each fixture of ``fixtures/`` with each install
profile's injector config (profiles.py). Outputs are cached in
``~/.cache/egressguard/inject-corpus``, keyed by the pinned versions, the profile and
the fixture's bytes, so a test run after the first takes no istioctl time.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests import admission
from tests.e2e.gomodules import cache_dir
from tests.inject.profiles import (
    AMBIENT_OPENSHIFT,
    GATEWAY_CHART,
    PROFILES,
    RELEASE_VALUES,
    Profile,
    injector_config,
    render_chart,
)
from tests.inject.tools import istiod_render_name, pinned, run_tool

FIXTURES = Path(__file__).with_name("fixtures")
APP_NAMESPACE = "shop"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})


@dataclass(frozen=True)
class Injected:
    """One object as the injector emits it, and the Pod its controller creates from it."""

    source: str
    workload: dict[str, Any]
    tags: frozenset[str]

    @property
    def id(self) -> str:
        return self.source

    def pod(self) -> dict[str, Any]:
        return pod_of(self.workload)


def pod_of(workload: dict[str, Any]) -> dict[str, Any]:
    """The Pod a workload's controller creates (template metadata and spec, a fresh copy)."""
    kind = workload.get("kind")
    metadata = workload.get("metadata", {})
    if kind == "Pod":
        return copy.deepcopy(workload)
    if kind == "CronJob":
        template = workload["spec"]["jobTemplate"]["spec"]["template"]
    elif kind in WORKLOAD_KINDS:
        template = workload["spec"]["template"]
    else:
        raise ValueError(f"{kind} has no pod template")
    pod_metadata = copy.deepcopy(template.get("metadata") or {})
    pod_metadata.pop("creationTimestamp", None)
    pod_metadata["generateName"] = f"{metadata.get('name', 'pod')}-"
    pod_metadata["namespace"] = metadata.get("namespace", APP_NAMESPACE)
    spec = copy.deepcopy(template["spec"])
    if kind == "StatefulSet":
        # The StatefulSet controller adds a volume for each claim template (pod ordinal 0).
        for claim in workload["spec"].get("volumeClaimTemplates") or []:
            name = claim["metadata"]["name"]
            spec.setdefault("volumes", []).append({"name": name, "persistentVolumeClaim": {
                "claimName": f"{name}-{metadata.get('name', 'pod')}-0"}})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_metadata, "spec": spec}


# The injector's outputs run to thousands of lines; libyaml reads them ten times faster than
# PyYAML's own reader, as the same safe subset.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_documents(text: str) -> list[dict[str, Any]]:
    """The mappings of a YAML stream, read as ``yaml.safe_load_all`` reads them."""
    return [doc for doc in yaml.load_all(text, Loader=_LOADER) if isinstance(doc, dict)]


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.yaml"))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def kube_inject(profile: Profile, name: str, text: str) -> list[dict[str, Any]]:
    """``istioctl kube-inject`` of one document stream under one profile, cached by its inputs."""
    folder = cache_dir() / "inject-corpus" / f"{profile.name}-{profile.key()}"
    output = folder / f"{name}-{_digest(text)}.yaml"
    if not output.is_file():
        files = injector_config(profile, folder)
        injected = run_tool("istioctl", [
            "kube-inject", "--filename", "-",
            "--injectConfigFile", str(files.config), "--valuesFile", str(files.values),
            "--meshConfigFile", str(files.mesh),
            # Named, so istioctl does not look for a cluster's default revision.
            "--revision", "default",
        ], env=dict(profile.env), stdin=text)
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(injected)
        tmp.replace(output)
    return read_documents(output.read_text())


def profile_named(name: str) -> Profile:
    return next(profile for profile in PROFILES if profile.name == name)


OPENSHIFT_WEBHOOK = "openshift-namespace-uid"


@cache
def injected(profile: str, fixture: str) -> Injected:
    """One fixture (one object per file) as one profile's injector rewrites it."""
    if profile == OPENSHIFT_WEBHOOK:
        return openshift_injected(fixture)
    source = FIXTURES / f"{fixture}.yaml"
    documents = kube_inject(profile_named(profile), fixture, source.read_text())
    if len(documents) != 1:
        raise RuntimeError(f"{source}: one object per fixture, istioctl returned {len(documents)}")
    return Injected(f"{profile}/{fixture}", documents[0], profile_named(profile).tags)


EGRESS_NAMESPACE = "istio-egress"
EGRESS_RELEASE = "istio-egressgateway"


def _cached(name: str, key: str, produce: Callable[[], str]) -> list[dict[str, Any]]:
    output = cache_dir() / "inject-corpus" / "infrastructure" / f"{name}-{key}.yaml"
    if not output.is_file():
        text = produce()
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(output)
    return read_documents(output.read_text())


def helm_gateway() -> list[dict[str, Any]]:
    """The egress gateway Deployment of Istio's ``gateway`` chart (``image: auto``,
    ``inject.istio.io/templates: gateway``), injected by the default install's injector."""

    def produce() -> str:
        documents = render_chart(GATEWAY_CHART, EGRESS_RELEASE, EGRESS_NAMESPACE,
                                 ("service.type=ClusterIP",))
        return yaml.safe_dump_all([doc for doc in documents if doc.get("kind") == "Deployment"])

    rendered = _cached("helm-gateway-chart", _digest(pinned("ISTIO_VERSION"), "ClusterIP"),
                       produce)
    return kube_inject(PROFILES[0], "helm-gateway", yaml.safe_dump_all(rendered))


def istioctl_install(name: str) -> list[dict[str, Any]]:
    """The Deployment ``name`` of what ``istioctl install`` applies (``manifest generate``,
    offline) with an egress gateway: istiod, the ingress gateway and the egress gateway, each
    a pod the injector leaves alone (opted out by label and annotation)."""

    def produce() -> str:
        return run_tool("istioctl", [
            "manifest", "generate",
            "--set", "components.egressGateways[0].enabled=true",
            "--set", f"components.egressGateways[0].name={EGRESS_RELEASE}",
            "--set", f"components.egressGateways[0].namespace={EGRESS_NAMESPACE}",
            *(arg for value in RELEASE_VALUES for arg in ("--set", f"values.{value}")),
        ])

    documents = _cached("istioctl-egress-gateway", _digest(pinned("ISTIO_VERSION"),
                                                           *RELEASE_VALUES), produce)
    return [doc for doc in documents if doc.get("kind") == "Deployment"
            and doc["metadata"]["name"] == name]


# A namespace as OpenShift annotates it: istiod gives the proxy the top UID of its range
# and the first supplemental group's top GID (pkg/kube/inject/openshift.go).
OPENSHIFT_UID = 1000689999
OPENSHIFT_NAMESPACE = {
    "apiVersion": "v1", "kind": "Namespace",
    "metadata": {"name": APP_NAMESPACE, "annotations": {
        "openshift.io/sa.scc.uid-range": "1000680000/10000",
        "openshift.io/sa.scc.supplemental-groups": "1000680000/10000",
    }},
}
PLAIN_NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NAMESPACE}}


def _istiod_render(command: str, profile: Profile, namespace: dict[str, Any], env: dict[str, str],
                   stdin: str | None = None, *extra: str) -> str:
    folder = cache_dir() / "inject-corpus" / f"{profile.name}-{profile.key()}"
    files = injector_config(profile, folder)
    namespace_file = folder / f"namespace-{_digest(json.dumps(namespace, sort_keys=True))}.json"
    namespace_file.write_text(json.dumps(namespace))
    return run_tool(istiod_render_name(), [
        command, "--config", str(files.config), "--values", str(files.values),
        "--mesh", str(files.mesh), "--namespace", str(namespace_file), *extra,
    ], env=env, stdin=stdin)


def webhook_inject(profile: Profile, fixture: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """The Pod of a fixture as istiod's injection webhook patches it on OpenShift, where the
    proxy's UID comes from the namespace (the path istioctl kube-inject cannot take)."""
    pod = pod_of(yaml.safe_load((FIXTURES / f"{fixture}.yaml").read_text()))
    review = admission.review(
        pod, kind=("", "v1", "Pod"), namespace=APP_NAMESPACE, name="", request_uid="corpus",
        user="system:serviceaccount:kube-system:replicaset-controller", groups=())
    text = json.dumps(review, sort_keys=True)

    def produce() -> str:
        return _istiod_render("inject", profile, namespace, {"PLATFORM": "openshift"}, text)

    documents = _cached(f"webhook-{profile.name}-{fixture}",
                        _digest(profile.key(), istiod_render_name(), text,
                                json.dumps(namespace, sort_keys=True)), produce)
    return documents[0]


def waypoint(profile: Profile, namespace: dict[str, Any]) -> list[dict[str, Any]]:
    """The waypoint Deployment istiod creates for a Gateway of class istio-waypoint."""
    def produce() -> str:
        return _istiod_render("waypoint", profile, namespace, {"PILOT_ENABLE_AMBIENT": "true"})

    return _cached(f"waypoint-{profile.name}",
                   _digest(profile.key(), istiod_render_name(),
                           json.dumps(namespace, sort_keys=True)), produce)


OPENSHIFT_FIXTURES = ("web-deployment", "init-containers", "multi-container", "job")


@cache
def openshift_injected(fixture: str) -> Injected:
    pod = webhook_inject(profile_named("openshift"), fixture, OPENSHIFT_NAMESPACE)
    return Injected(f"{OPENSHIFT_WEBHOOK}/{fixture}", pod, frozenset({"cni"}))


INFRASTRUCTURE: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "helm-gateway-chart": helm_gateway,
    "istioctl-install-egress-gateway": lambda: istioctl_install(EGRESS_RELEASE),
    "istioctl-install-ingress-gateway": lambda: istioctl_install("istio-ingressgateway"),
    "istioctl-install-istiod": lambda: istioctl_install("istiod"),
}
# Waypoints istiod creates in an application's namespace, as the Gateway's own account.
WAYPOINTS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "istiod-waypoint": lambda: waypoint(profile_named("ambient"), PLAIN_NAMESPACE),
    "istiod-waypoint-openshift": lambda: waypoint(AMBIENT_OPENSHIFT, OPENSHIFT_NAMESPACE),
}


@cache
def infrastructure(name: str) -> Injected:
    """A Deployment of the mesh's own, as Istio's installers (or istiod) produce it."""
    produce = INFRASTRUCTURE[name] if name in INFRASTRUCTURE else WAYPOINTS[name]
    deployments = [doc for doc in produce() if doc.get("kind") == "Deployment"]
    if len(deployments) != 1:
        raise RuntimeError(f"{name}: expected one Deployment, found {len(deployments)}")
    return Injected(name, deployments[0], frozenset({"gateway"}))


@dataclass(frozen=True)
class OptOut:
    """An ordinary workload that asks the injector to leave it uncaptured, as the injector
    (or, for a forged status, the user) leaves it; ``code`` must refuse it."""

    source: str
    pod: dict[str, Any]
    code: str

    @property
    def id(self) -> str:
        return self.source


def _annotated(fixture: str, annotations: dict[str, str]) -> tuple[dict[str, Any], str]:
    document = yaml.safe_load((FIXTURES / f"{fixture}.yaml").read_text())
    template = document if document["kind"] == "Pod" else document["spec"]["template"]
    template.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
    return document, yaml.safe_dump(document)


def _gateway_template_on_app() -> dict[str, Any]:
    """The gateway template on an application: istio-proxy runs as a router, no capture."""
    _, text = _annotated("web-deployment", {"inject.istio.io/templates": "gateway"})
    return pod_of(kube_inject(profile_named("default"), "web-gateway-template", text)[0])


def _native_false_with_init_containers() -> dict[str, Any]:
    """Classic sidecars forced on a native install: istio-init runs after the pod's own
    init containers, which are never captured."""
    _, text = _annotated("init-containers", {"sidecar.istio.io/nativeSidecar": "false"})
    return pod_of(kube_inject(profile_named("native"), "init-containers-native-false", text)[0])


def _forged_status() -> dict[str, Any]:
    """The status annotation of an injected twin on a pod the injector never saw: the
    injector and istio-cni both take the pod as injected already."""
    status = injected("default", "web-deployment").pod()["metadata"]["annotations"][
        "sidecar.istio.io/status"]
    document, _ = _annotated("web-deployment", {"sidecar.istio.io/status": status})
    return pod_of(document)


OPT_OUTS: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "gateway-template-on-app": (_gateway_template_on_app, "mesh-opt-out"),
    "native-sidecar-false-with-init-containers": (_native_false_with_init_containers,
                                                  "mesh-opt-out"),
    "forged-sidecar-status": (_forged_status, "mesh-opt-out"),
}


@cache
def opt_out(name: str) -> OptOut:
    produce, code = OPT_OUTS[name]
    return OptOut(name, produce(), code)
