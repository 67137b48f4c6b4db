"""Mode ``envoy-per-destination`` (seed 003, Monzo): one small Envoy per destination.

Per destination, in its gateway's namespace: the Envoy's ConfigMap, a Deployment (three
replicas at least, held by the HorizontalPodAutoscaler), a Service, the autoscaler, a
PodDisruptionBudget and the NetworkPolicies. Shared: the CoreDNS rewrite that answers the
destination's names with its Service, so pods need no change (DNS hijack), and answers the
Envoys' marked names (``<name>.upstream.egressguard.invalid``) with the real ones, so that
they resolve through the cluster DNS without being sent to themselves.

There is no mesh identity here: the NetworkPolicy on the entitlement label is the whole of
the access control, so a grant opens the whole destination.
"""

from __future__ import annotations

import hashlib

from webhook.render.envoy_config import (
    bootstrap,
    container_ports,
    served_hosts,
    upstream_dns_name,
)
from webhook.render.network import (
    GatewayPods,
    cluster_dns_rule,
    destination_policies,
    resolver_rule,
)
from webhook.render.objects import Context, Document, RenderedFile, document
from webhook.render.plan import UPSTREAM_DNS_SUFFIX, DestinationPlan, dlp_notes
from webhook.render.yamltext import yaml_text

ENVOY_UID = 101  # the `envoy` user of the envoyproxy/envoy image
MIN_REPLICAS = 3
MAX_REPLICAS = 12
CPU_TARGET_PERCENT = 50
COREDNS_KEY = "egressguard.override"


def pod_labels(plan: DestinationPlan) -> dict[str, str]:
    return {"app.kubernetes.io/name": "egress-envoy", "app.kubernetes.io/instance": plan.name}


def port_name(protocol: str, number: int) -> str:
    return f"{protocol.lower()}-{number}"


def _config_map(ctx: Context, plan: DestinationPlan, config_text: str) -> Document:
    return document(
        "v1",
        "ConfigMap",
        ctx.metadata(plan.name, plan.gateway.namespace, labels=pod_labels(plan)),
        data={"envoy.yaml": config_text},
    )


def _deployment(ctx: Context, plan: DestinationPlan, config_text: str) -> Document:
    listening = container_ports(plan.ports)
    selector = pod_labels(plan)
    ports = [
        {
            "name": port_name(port.protocol, port.number),
            "containerPort": listening[port.number],
            "protocol": "TCP",
        }
        for port in plan.ports
    ]
    probe_port = ports[0]["containerPort"]
    digest = hashlib.sha256(config_text.encode()).hexdigest()[:16]
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
    return document(
        "apps/v1",
        "Deployment",
        ctx.metadata(
            plan.name,
            plan.gateway.namespace,
            labels=selector,
            annotations={
                ctx.key("replicas"): (
                    f"at least {MIN_REPLICAS}, set by the HorizontalPodAutoscaler; "
                    "spec.replicas is left out so that applying this file never scales a "
                    "busy gateway down"
                )
            },
        ),
        spec={
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": {**selector, "app.kubernetes.io/part-of": "egressguard"},
                    # A new config rolls the pods: Envoy reads its file once.
                    "annotations": {ctx.key("config-hash"): digest},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    # resolv.conf names the cluster DNS, which the Envoy asks for the names.
                    "dnsPolicy": "ClusterFirst",
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": ENVOY_UID,
                        "runAsGroup": ENVOY_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": "envoy",
                            "image": ctx.options.envoy_image,
                            "command": ["envoy"],
                            "args": [
                                "--config-path",
                                "/etc/envoy/envoy.yaml",
                                "--disable-hot-restart",
                                "--log-level",
                                "info",
                            ],
                            "ports": ports,
                            "readinessProbe": {
                                "tcpSocket": {"port": probe_port},
                                "periodSeconds": 5,
                            },
                            "livenessProbe": {
                                "tcpSocket": {"port": probe_port},
                                "initialDelaySeconds": 10,
                                "periodSeconds": 10,
                            },
                            # Let the Service drop this pod before Envoy stops listening.
                            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "10"]}}},
                            "resources": {
                                part: dict(values)
                                for part, values in ctx.options.envoy_resources.items()
                                if values
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "config", "mountPath": "/etc/envoy", "readOnly": True}
                            ],
                        }
                    ],
                    "topologySpreadConstraints": spread,
                    "volumes": [{"name": "config", "configMap": {"name": plan.name}}],
                },
            },
        },
    )


def _service(ctx: Context, plan: DestinationPlan) -> Document:
    listening = container_ports(plan.ports)
    return document(
        "v1",
        "Service",
        ctx.metadata(plan.name, plan.gateway.namespace, labels=pod_labels(plan)),
        spec={
            "type": "ClusterIP",
            "selector": pod_labels(plan),
            "ports": [
                {
                    "name": port_name(port.protocol, port.number),
                    "port": port.number,
                    "targetPort": listening[port.number],
                    "protocol": "TCP",
                }
                for port in plan.ports
            ],
        },
    )


def _autoscaler(ctx: Context, plan: DestinationPlan) -> Document:
    return document(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        ctx.metadata(plan.name, plan.gateway.namespace, labels=pod_labels(plan)),
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.name},
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT},
                    },
                }
            ],
        },
    )


def _disruption_budget(ctx: Context, plan: DestinationPlan) -> Document:
    return document(
        "policy/v1",
        "PodDisruptionBudget",
        ctx.metadata(plan.name, plan.gateway.namespace, labels=pod_labels(plan)),
        spec={"maxUnavailable": 1, "selector": {"matchLabels": pod_labels(plan)}},
    )


def gateway_pods(plan: DestinationPlan) -> GatewayPods:
    listening = container_ports(plan.ports)
    return GatewayPods(
        namespace=plan.gateway.namespace,
        selector=pod_labels(plan),
        ports=tuple(sorted(listening.values())),
        shared_with={},
    )


def notes(plan: DestinationPlan) -> tuple[str, ...]:
    found = []
    if plan.wildcard_hosts:
        granted = ", ".join(plan.granted_names) or "none"
        found.append(
            f"{', '.join(plan.wildcard_hosts)} not rendered: CoreDNS can rewrite a wildcard "
            "only with a regex rule, whose answer cannot be renamed back to the name each pod "
            "asked for (clients drop such answers), and this Envoy dials fixed names. Rendered "
            f"instead the names granted under it: {granted}."
        )
    for port in plan.ports:
        if port.protocol == "TCP" and len(plan.concrete_hosts) > 1:
            found.append(
                f"Port {port.number}/TCP carries no name, so every name of {plan.name} "
                f"reaching it goes to {served_hosts(plan, port)[0]}. Give a TCP destination "
                "one host to be exact."
            )
    found += dlp_notes(plan, proxy="gateway", mechanism="Lua filter in envoy.yaml")
    return tuple(found)


def destination_file(ctx: Context, plan: DestinationPlan) -> RenderedFile:
    name = f"destination-{plan.name}.yaml"
    if not plan.concrete_hosts:
        return RenderedFile(
            name,
            (*notes(plan), f"Nothing to run for {plan.name}: no name it covers can be routed."),
            (),
        )
    config_text = yaml_text(bootstrap(plan, ctx.options))
    documents = [
        _config_map(ctx, plan, config_text),
        _deployment(ctx, plan, config_text),
        _service(ctx, plan),
        _autoscaler(ctx, plan),
        _disruption_budget(ctx, plan),
        *destination_policies(
            ctx,
            plan,
            gateway_pods(plan),
            extra_egress=[
                resolver_rule(ctx.options.upstream_resolvers)
                if ctx.options.upstream_resolvers
                else cluster_dns_rule()
            ],
        ),
    ]
    return RenderedFile(name, notes(plan), tuple(documents))


def coredns_rules(ctx: Context) -> list[tuple[str, str]]:
    """(name asked, name answered) for every exact rewrite, sorted.

    Each destination name is answered with its Envoy's Service; unless the Envoys ask
    resolvers of their own, each marked name is answered with the real name. An exact
    rewrite also renames the answer back to the name asked, so clients accept it.
    """
    rules = []
    for plan in ctx.plans:
        for host in plan.concrete_hosts:
            rules.append((host, ctx.service_host(plan.name, plan.gateway.namespace)))
            marked = upstream_dns_name(host, ctx.options)
            if marked != host:
                rules.append((marked, host))
    return sorted(rules)


def coredns_file(ctx: Context) -> RenderedFile:
    """The rewrite rules, as a ConfigMap to mount into CoreDNS and import."""
    text = "".join(
        f"rewrite name exact {asked} {answered}\n" for asked, answered in coredns_rules(ctx)
    )
    config_map = document(
        "v1",
        "ConfigMap",
        ctx.metadata("egressguard-coredns", "kube-system"),
        data={COREDNS_KEY: text},
    )
    note = (
        "DNS hijack: CoreDNS answers each destination name with its Envoy's Service. "
        "Mount this ConfigMap into the CoreDNS pods (e.g. at /etc/coredns/custom) and add "
        "`import /etc/coredns/custom/*.override` inside the `.:53 { }` block of the "
        "Corefile, before `kubernetes`. Exact rewrites rename the answer back to the name "
        "asked for."
    )
    if not ctx.options.upstream_resolvers:
        note += (
            f" The Envoys ask the cluster DNS for <name>.{UPSTREAM_DNS_SUFFIX}, answered "
            "here with the real name's addresses: without these rules they reach nothing."
        )
    return RenderedFile("coredns.yaml", (note,), (config_map,))


def files(ctx: Context) -> tuple[RenderedFile, ...]:
    return (*(destination_file(ctx, plan) for plan in ctx.plans), coredns_file(ctx))
