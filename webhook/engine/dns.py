"""Name resolution that steers a pod around the egress gateway.

The mesh sends a destination's traffic to the gateway by the name the pod resolves. A
resolver the cluster does not control, or a hostAliases entry pinning a destination's
name to an address, makes the pod connect somewhere the gateway never sees.
"""

from __future__ import annotations

import ipaddress

from webhook.engine import fieldpath
from webhook.engine.context import Context, as_dict, as_list
from webhook.engine.podspec import PodView, strings
from webhook.model.decision import Code, Violation
from webhook.model.hosts import normalize_host
from webhook.model.rules import Config


def _address(value: str) -> str | None:
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return None


def judge_dns(ctx: Context, pod: PodView) -> list[Violation]:
    found = []
    policy = pod.spec.get("dnsPolicy")
    if isinstance(policy, str) and policy.strip().lower() == "default":
        found.append(
            Violation(
                Code.DNS_OVERRIDE,
                "dnsPolicy: Default resolves names with the node's resolver, not the cluster's; "
                "use ClusterFirst",
                pod.spec_field("dnsPolicy"),
                value=policy,
            )
        )
    allowed = {_address(a) for a in ctx.policy.config.allowed_nameservers} - {None}
    base = pod.spec_field("dnsConfig", "nameservers")
    servers = strings(as_dict(pod.spec.get("dnsConfig")).get("nameservers"))
    for position, server in enumerate(servers):
        if _address(server) not in allowed:
            found.append(
                Violation(
                    Code.DNS_OVERRIDE,
                    f"nameserver {fieldpath.shown(server)} is not an allowed resolver; use the "
                    "cluster DNS (dns.allowedNameservers in config.yaml)",
                    fieldpath.index(base, position),
                    value=server,
                )
            )
    return found


def _control_plane(host: str, config: Config) -> bool:
    """A Service of the mesh root namespace (istiod, of any revision) in any form cluster DNS
    answers: ``istiod.istio-system``, with ``.svc`` or ``.svc.<clusterDomain>``. The sidecar
    dials istiod by that name for its configuration and certificates."""
    labels = host.split(".")
    if len(labels) < 2 or labels[1] != config.mesh_root_namespace.lower():
        return False
    rest = ".".join(labels[2:])
    return rest in ("", "svc", f"svc.{normalize_host(config.cluster_domain)}")


def judge_host_aliases(ctx: Context, pod: PodView) -> list[Violation]:
    found = []
    base = pod.spec_field("hostAliases")
    for position, alias in enumerate(as_list(pod.spec.get("hostAliases"))):
        entry = as_dict(alias)
        names = fieldpath.key(fieldpath.index(base, position), "hostnames")
        for offset, hostname in enumerate(strings(entry.get("hostnames"))):
            if _control_plane(normalize_host(hostname), ctx.policy.config):
                found.append(
                    Violation(
                        Code.HOST_ALIAS,
                        f"hostAliases pins {fieldpath.shown(hostname)} (a Service of the mesh "
                        "root namespace, from which the sidecar takes its configuration) to an "
                        "address; remove it",
                        fieldpath.index(names, offset),
                        value=hostname,
                    )
                )
                continue
            destination = ctx.policy.destination_for(normalize_host(hostname))
            if destination is None:
                continue
            found.append(
                Violation(
                    Code.HOST_ALIAS,
                    f"hostAliases pins {fieldpath.shown(hostname)} (destination "
                    f"{destination.name}) to an address, around the egress gateway; remove it",
                    fieldpath.index(names, offset),
                    value=hostname,
                )
            )
    return found
