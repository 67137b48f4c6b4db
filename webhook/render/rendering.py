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
from webhook.render.fence import CLUSTER_FENCES, namespace_fence
from webhook.render.objects import Context, RenderedFile
from webhook.render.plan import (
    FenceKind,
    RenderOptions,
    plan_destinations,
    workload_namespaces,
)


class RenderMode(enum.StrEnum):
    ISTIO_SIDECAR = "istio-sidecar"
    ISTIO_AMBIENT = "istio-ambient"
    ENVOY_PER_DESTINATION = "envoy-per-destination"


@dataclass(frozen=True, slots=True)
class Rendering:
    mode: RenderMode
    revision: str
    files: tuple[RenderedFile, ...]


# Per mode: its files.
_MODES: dict[RenderMode, Callable[[Context], tuple[RenderedFile, ...]]] = {
    RenderMode.ISTIO_SIDECAR: sidecar.files,
    RenderMode.ISTIO_AMBIENT: ambient.files,
    RenderMode.ENVOY_PER_DESTINATION: per_destination.files,
}


def fence_files(ctx: Context) -> tuple[RenderedFile, ...]:
    """The fence: one per namespace (those with grants and those asked for), or one for
    the cluster in the CNI's kind."""
    kind = ctx.options.fence
    if kind is not FenceKind.NAMESPACES:
        return (
            RenderedFile(
                "fence.yaml",
                (
                    f"The fence for every namespace but the exempt ones, as a {kind.value} "
                    "policy: egress to the cluster and the internal ranges only.",
                ),
                (CLUSTER_FENCES[kind](ctx),),
            ),
        )
    exempt = ctx.policy.config.exempt_namespaces
    namespaces = sorted(
        {*workload_namespaces(ctx.policy, ctx.plans), *ctx.options.fence_namespaces} - exempt
    )
    return tuple(
        RenderedFile(
            f"namespace-{namespace}.yaml",
            (
                f"The fence for {namespace}: its pods may reach the cluster and the internal "
                "ranges; the internet only through an egress gateway.",
            ),
            (namespace_fence(ctx, namespace),),
        )
        for namespace in namespaces
    )


def render(policy: Policy, mode: RenderMode, options: RenderOptions) -> Rendering:
    """Everything ``mode`` needs to enforce ``policy``: one file per destination, plus the
    gateways', the fence and (per-destination Envoys) CoreDNS's."""
    ctx = Context(policy=policy, options=options, plans=plan_destinations(policy, options))
    files = _MODES[mode](ctx) + fence_files(ctx)
    return Rendering(mode=mode, revision=policy.revision, files=files)
