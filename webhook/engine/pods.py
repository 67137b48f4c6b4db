"""Pods and the pod templates of workloads: every pod rule, and the entitlement patch.

The same rules judge a Pod and the template of a Deployment, ReplicaSet, StatefulSet,
DaemonSet, Job or CronJob, so `kubectl apply` of a workload fails at once rather than later
inside its ReplicaSet. Only a Pod CREATE is patched: templates are not, and pods get their
labels when they are created.
"""

from __future__ import annotations

from dataclasses import replace

from webhook.engine.context import Context, Findings
from webhook.engine.dns import judge_dns, judge_host_aliases
from webhook.engine.entitlement import (
    entitlement_of,
    judge_gateway_labels,
    judge_managed_labels,
    label_patch,
)
from webhook.engine.mesh import judge_mesh
from webhook.engine.mesh_containers import mesh_pod
from webhook.engine.node_escape import judge_node_escape
from webhook.engine.pod_security import judge_containers, judge_host_network
from webhook.engine.podspec import PodView, pod_view, template_view
from webhook.model.decision import Violation
from webhook.model.review import JSONObject

MAX_MESSAGE = 200


def judge_pod(ctx: Context, obj: JSONObject) -> Findings:
    """A Pod on CREATE, UPDATE, or through ``pods/ephemeralcontainers`` (the whole Pod)."""
    request = ctx.request
    patchable = request.operation == "CREATE" and not request.sub_resource
    return _judge(ctx, pod_view(obj), patch_target=obj if patchable else None)


def judge_workload(ctx: Context, obj: JSONObject) -> Findings:
    return _judge(ctx, template_view(ctx.request.kind.kind, obj), patch_target=None)


def _judge(ctx: Context, pod: PodView, *, patch_target: JSONObject | None) -> Findings:
    service_account = pod.service_account
    entitlement = entitlement_of(ctx, pod, service_account)
    managed = judge_managed_labels(ctx, pod, service_account, entitlement.destinations)
    if ctx.policy.config.is_infrastructure(ctx.namespace, service_account):
        # The mesh's own gateways, waypoints and node agents need what no workload may have
        # (the node's network, the proxy's UID, a gateway's labels); labels stay egressguard's.
        violations = managed
    else:
        mesh = mesh_pod(pod, ctx.policy.config)
        violations = [
            *entitlement.violations,
            *managed,
            *judge_gateway_labels(ctx, pod),
            *judge_host_network(pod),
            *judge_node_escape(pod),
            *judge_containers(pod, mesh),
            *judge_mesh(pod, mesh, ctx.policy.config),
            *judge_dns(ctx, pod),
            *judge_host_aliases(ctx, pod),
        ]
    patch = (
        label_patch(ctx, patch_target, entitlement.destinations) if patch_target is not None else ()
    )
    return Findings(
        violations=tuple(_bounded(v) for v in violations),
        service_account=service_account,
        patch=patch,
        requested=entitlement.requested,
    )


def _bounded(violation: Violation) -> Violation:
    """Messages become kubectl warnings; pathological names must not make them long."""
    if len(violation.message) < MAX_MESSAGE:
        return violation
    return replace(violation, message=violation.message[: MAX_MESSAGE - 2] + "…")
