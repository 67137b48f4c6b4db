"""``render(policy, mode, options)``: the whole data plane of one mode, as files of documents.

Pure: no clock (``options.now`` decides which grants are active), no files, no YAML
parsing. The same rules and options always give the same files in the same order.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from webhook.model.rules import Policy
from webhook.render import ambient, per_destination, sidecar
from webhook.render.envoy_config import container_ports
from webhook.render.network import workload_baseline
from webhook.render.objects import Context, RenderedFile
from webhook.render.plan import RenderOptions, plan_destinations, workload_namespaces

Targets = list[tuple[str, dict[str, str], tuple[int, ...]]]


class RenderMode(enum.StrEnum):
    ISTIO_SIDECAR = "istio-sidecar"
    ISTIO_AMBIENT = "istio-ambient"
    ENVOY_PER_DESTINATION = "envoy-per-destination"


@dataclass(frozen=True, slots=True)
class Rendering:
    mode: RenderMode
    revision: str
    files: tuple[RenderedFile, ...]


def _envoy_targets(ctx: Context) -> Targets:
    by_namespace: dict[str, set[int]] = {}
    for plan in ctx.plans:
        if plan.concrete_hosts:
            ports = container_ports(plan.ports).values()
            by_namespace.setdefault(plan.gateway.namespace, set()).update(ports)
    return [
        (namespace, {"app.kubernetes.io/name": "egress-envoy"}, tuple(sorted(ports)))
        for namespace, ports in sorted(by_namespace.items())
    ]


FilesOf = Callable[[Context], tuple[RenderedFile, ...]]
TargetsOf = Callable[[Context], Targets]

# Per mode: its files, the gateway pods workloads may reach, whether workloads need istiod.
_MODES: dict[RenderMode, tuple[FilesOf, TargetsOf, bool]] = {
    RenderMode.ISTIO_SIDECAR: (sidecar.files, sidecar.baseline_targets, True),
    RenderMode.ISTIO_AMBIENT: (ambient.files, ambient.baseline_targets, False),
    RenderMode.ENVOY_PER_DESTINATION: (per_destination.files, _envoy_targets, False),
}


def baseline_files(ctx: Context, targets: Targets, *, istiod: bool) -> tuple[RenderedFile, ...]:
    return tuple(
        RenderedFile(
            f"namespace-{namespace}.yaml",
            (
                f"Baseline for {namespace}, a namespace with grants: its pods may reach cluster "
                "DNS and the egress gateways"
                + (" and istiod" if istiod else "")
                + ", nothing else, unless other NetworkPolicies allow more.",
            ),
            (workload_baseline(ctx, namespace, targets, istiod=istiod),),
        )
        for namespace in workload_namespaces(ctx.policy, ctx.plans)
    )


def render(policy: Policy, mode: RenderMode, options: RenderOptions) -> Rendering:
    """Everything ``mode`` needs to enforce ``policy``: one file per destination, plus the
    gateways', the workload namespaces' and (per-destination Envoys) CoreDNS's."""
    ctx = Context(policy=policy, options=options, plans=plan_destinations(policy, options))
    mode_files, targets, istiod = _MODES[mode]
    files = mode_files(ctx) + baseline_files(ctx, targets(ctx), istiod=istiod)
    return Rendering(mode=mode, revision=policy.revision, files=files)
