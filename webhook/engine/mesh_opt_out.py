"""Ways a pod keeps itself out of the sidecar's capture: ``mesh-opt-out``.

Istio's injector decides by the ``sidecar.istio.io/inject`` label, or the annotation when
the label is absent; it injects nothing for a pod already carrying
``sidecar.istio.io/status``; it injects only what ``inject.istio.io/templates`` names; and
with ``sidecar.istio.io/nativeSidecar: "false"`` it runs istio-init after the pod's own init
containers, which therefore are never captured. istio-cni skips a pod that has a container
named ``istio-init``. Ambient leaves out a pod labelled ``istio.io/dataplane-mode: none``.

A pod whose every container is the mesh's gateway or waypoint proxy is the mesh's own
infrastructure, and is exempt.
"""

from __future__ import annotations

from webhook.engine import fieldpath
from webhook.engine.mesh_containers import MESH_CONTAINERS, MeshPod
from webhook.engine.podspec import PodView
from webhook.model.decision import Code, Violation

INJECT = "sidecar.istio.io/inject"
DATAPLANE_MODE = "istio.io/dataplane-mode"
TEMPLATES = "inject.istio.io/templates"
STATUS = "sidecar.istio.io/status"
NATIVE_SIDECAR = "sidecar.istio.io/nativeSidecar"
# Istio injects only for these values of sidecar.istio.io/inject (or none); any other
# value, "false" and "no" and typos alike, disables injection.
INJECT_ON = frozenset({"", "y", "yes", "true", "on"})
# The injector template that adds the sidecar and its capture; gateways and waypoints use theirs.
CAPTURING_TEMPLATE = "sidecar"
PROXY_TEMPLATES = frozenset({"sidecar", "gateway", "waypoint"})


def _opt_out(message: str, path: str, value: str) -> Violation:
    return Violation(Code.MESH_OPT_OUT, message, path, value=value)


def judge_opt_out(pod: PodView, mesh: MeshPod) -> list[Violation]:
    if mesh.proxy_only:
        return []
    found = _inject_switch(pod)
    for where, values in (("label", pod.labels), ("annotation", pod.annotations)):
        path_of = pod.label_path if where == "label" else pod.annotation_path
        mode = values.get(DATAPLANE_MODE)
        if mode is not None and mode.strip().lower() == "none":
            found.append(
                _opt_out(
                    f"{where} {DATAPLANE_MODE}={fieldpath.shown(mode)} keeps the pod out of "
                    "the mesh and its egress gateway; remove it",
                    path_of(DATAPLANE_MODE),
                    mode,
                )
            )
    annotations = pod.annotations
    templates = annotations.get(TEMPLATES)
    if templates is not None:
        names = {name.strip() for name in templates.split(",")}
        if CAPTURING_TEMPLATE not in names:
            found.append(
                _opt_out(
                    f"{TEMPLATES}={fieldpath.shown(templates)} injects no sidecar that captures "
                    f"the pod's traffic; remove it or include {CAPTURING_TEMPLATE}",
                    pod.annotation_path(TEMPLATES),
                    templates,
                )
            )
    if STATUS in annotations and mesh.proxy is None:
        found.append(
            _opt_out(
                f"{STATUS} without the mesh's istio-proxy makes the injector and istio-cni skip "
                "the pod; remove the annotation",
                pod.annotation_path(STATUS),
                "",
            )
        )
    if annotations.get(NATIVE_SIDECAR) == "false":
        own = [
            c.name
            for c in pod.containers()
            if c.list_name == "initContainers" and not mesh.is_mesh(c)
        ]
        if own:
            found.append(
                _opt_out(
                    f'{NATIVE_SIDECAR}: "false" runs init container '
                    f'"{fieldpath.shown(own[0])}" before the capture starts; remove the annotation',
                    pod.annotation_path(NATIVE_SIDECAR),
                    ",".join(own),
                )
            )
    for container in pod.containers():
        if (
            container.name in MESH_CONTAINERS
            and container.list_name != "ephemeralContainers"
            and not mesh.is_mesh(container)
        ):
            found.append(
                _opt_out(
                    f"{container.described} takes the name of the mesh's own container without "
                    "being it, so istio-cni skips the pod; rename it",
                    container.path,
                    container.name,
                )
            )
    return found


def _inject_switch(pod: PodView) -> list[Violation]:
    """The label decides when present; otherwise the annotation (as Istio's injector reads)."""
    label = pod.labels.get(INJECT)
    if label is not None:
        where, value, path = "label", label, pod.label_path(INJECT)
    else:
        annotation = pod.annotations.get(INJECT)
        if annotation is None:
            return []
        where, value, path = "annotation", annotation, pod.annotation_path(INJECT)
    if value.lower() in INJECT_ON:
        return []
    return [
        _opt_out(
            f"{where} {INJECT}={fieldpath.shown(value)} keeps the pod out of the mesh and its "
            "egress gateway; remove it",
            path,
            value,
        )
    ]
