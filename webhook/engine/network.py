"""Kubernetes networking objects: NetworkPolicies, Services, Endpoints and EndpointSlices.

NetworkPolicies are the fence that lets pods reach a gateway only with its entitlement label,
so besides open egress rules (a state check) any change to the fence around the gateways,
and to the policies egressguard itself manages, is refused (a transition check, which
DELETE requests reach too). Every code here is an infrastructure code.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings, as_dict, as_list, labels_of, metadata
from webhook.engine.hosts_local import is_cluster_local
from webhook.model.addresses import InternalRanges
from webhook.model.decision import Code, Violation
from webhook.model.ipsets import first_outside
from webhook.model.review import JSONObject
from webhook.model.rules import CONTROL_PLANE_ENDPOINT_WRITERS

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "egressguard"
ASK = "ask the security team"


def _violation(code: Code, message: str, path: str, *, value: str = "") -> Violation:
    return Violation(code, message, path, infrastructure=True, value=value)


def is_address(value: str) -> bool:
    """An IP address or CIDR, as opposed to a host name (which could resolve anywhere)."""
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return False
    return True


# -- NetworkPolicy -----------------------------------------------------------------------


def _open_peers(
    rule: dict[str, Any], base: str, internal: InternalRanges
) -> list[Violation]:
    to = rule.get("to")
    if not isinstance(to, list) or not to:
        message = (
            "egress rule without `to` allows every destination; list the peers it may "
            "reach and reach the internet through the egress gateway"
        )
        return [_violation(Code.NETPOL_OPEN_EGRESS, message, f"{base}.to")]
    found: list[Violation] = []
    for j, peer in enumerate(to):
        peer = as_dict(peer)
        where = f"{base}.to[{j}]"
        if "ipBlock" in peer:
            block = as_dict(peer["ipBlock"])
            cidr = block.get("cidr")
            outside = first_outside(internal, [cidr], as_list(block.get("except")))
            if outside is not None:
                message = (
                    f"ipBlock {fieldpath.shown(cidr)} reaches {fieldpath.shown(outside)}, outside "
                    "the internal ranges; reach external hosts through the egress gateway instead"
                )
                found.append(_violation(Code.NETPOL_OPEN_EGRESS, message, f"{where}.ipBlock.cidr",
                                        value=outside))
        elif "podSelector" not in peer and "namespaceSelector" not in peer:
            message = "egress peer with no selector or ipBlock may allow everything; name the peer"
            found.append(_violation(Code.NETPOL_OPEN_EGRESS, message, where))
    return found


def judge_network_policy(ctx: Context, obj: JSONObject) -> Findings:
    """``netpol-open-egress`` for egress rules open to all, or ipBlocks reaching outside.

    Rules are judged whatever ``policyTypes`` says. (A DELETE never reaches a state check:
    it is judged by :func:`judge_network_policy_change`.)
    """
    spec = as_dict(obj.get("spec"))
    found: list[Violation] = []
    for i, rule in enumerate(as_list(spec.get("egress"))):
        found.extend(
            _open_peers(as_dict(rule), f"spec.egress[{i}]", ctx.policy.config.internal_ranges)
        )
    return Findings(violations=tuple(found))


def _changed(old: JSONObject, new: JSONObject) -> bool:
    """Whether an update changes what the policy enforces, or when it goes away.

    The spec and the labels count (selectors and tooling read labels), and so do
    ownerReferences (the garbage collector deletes a policy whose owner goes). Annotations,
    finalizers and bookkeeping (resourceVersion, managedFields) do not: they change no rule.
    """
    before, after = metadata(old), metadata(new)
    try:
        return (
            as_dict(old.get("spec")) != as_dict(new.get("spec"))
            or as_dict(before.get("labels")) != as_dict(after.get("labels"))
            or as_list(before.get("ownerReferences")) != as_list(after.get("ownerReferences"))
        )
    except RecursionError:  # too deep to compare: judged as a change (fail closed)
        return True


def judge_network_policy_change(
    ctx: Context, old: JSONObject | None, new: JSONObject | None
) -> tuple[Violation, ...]:
    """Any change in a gateway namespace; changing or deleting an egressguard-managed policy.

    Shared by every policy kind of the fence (Kubernetes, Cilium, Calico, Admin/Cluster).
    """
    if old is not None and new is not None and not _changed(old, new):
        return ()
    action = "deleting" if new is None else "creating" if old is None else "changing"
    kind = ctx.request.kind.kind or "NetworkPolicy"
    found: list[Violation] = []
    if ctx.namespace in ctx.policy.config.gateway_namespaces:
        message = (
            f"{action} a {kind} in gateway namespace {ctx.namespace} is refused; "
            f"policies there fence the egress gateway: {ASK}"
        )
        found.append(_violation(Code.NETPOL_OPEN_EGRESS, message, "metadata.namespace"))
    label_path = fieldpath.key("metadata.labels", MANAGED_BY)
    if old is None and new is None and ctx.request.operation == "DELETE":
        message = f"cannot tell whether this {kind} is managed by egressguard; {ASK}"
        found.append(_violation(Code.NETPOL_OPEN_EGRESS, message, label_path))
    elif old is not None and labels_of(old).get(MANAGED_BY) == MANAGER:
        message = f"{action} a {kind} managed by egressguard is refused; {ASK}"
        found.append(_violation(Code.NETPOL_OPEN_EGRESS, message, label_path))
    return tuple(found)


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def named_namespaces(selector: Any, key: str = NAMESPACE_NAME_LABEL) -> frozenset[str] | None:
    """The namespaces a label selector is confined to by name (``key`` equal to, or ``In``,
    some values); None when it may select a namespace of any name."""
    selector = as_dict(selector)
    confined: frozenset[str] | None = None
    value = as_dict(selector.get("matchLabels")).get(key)
    if isinstance(value, str):
        confined = frozenset({value})
    for expression in as_list(selector.get("matchExpressions")):
        expression = as_dict(expression)
        values = expression.get("values")
        if (expression.get("key") != key or expression.get("operator") != "In"
                or not isinstance(values, list)):
            continue
        named = frozenset(v for v in values if isinstance(v, str))
        confined = named if confined is None else confined & named
    return confined


def gateway_ingress(
    ctx: Context, path: str, confined: frozenset[str] | None,
    name_label: str = NAMESPACE_NAME_LABEL,
) -> tuple[Violation, ...]:
    """``netpol-open-egress`` for a cluster-wide policy that admits ingress to pods it does
    not confine to namespaces other than the gateways'.

    A gateway's NetworkPolicy admits only pods with its entitlement label, but a cluster-wide
    policy is not bound by it: an AdminNetworkPolicy ``Allow`` overrides NetworkPolicies, a
    Calico ``Allow`` ordered first ends evaluation, and Cilium adds every allow rule up. So
    whatever the cluster-wide policy admits reaches the gateway, entitled or not.
    """
    gateways = ctx.policy.config.gateway_namespaces
    if confined is not None and not confined & gateways:
        return ()
    kind = ctx.request.kind.kind or "cluster-wide policy"
    article = "an" if kind[:1] in "AEIOU" else "a"
    if confined is None:
        pods = f"pods of any namespace (gateway namespaces {', '.join(sorted(gateways))} too)"
    else:
        pods = f"pods of gateway namespace {', '.join(sorted(confined & gateways))}"
    message = (
        f"{article} {kind} admitting ingress to {pods} lets pods without an entitlement "
        "reach the egress gateway around its NetworkPolicy; select your own namespaces by name "
        f"({name_label}) or write a namespaced policy, or {ASK}"
    )
    return (_violation(Code.NETPOL_OPEN_EGRESS, message, path),)


# -- Service, Endpoints, EndpointSlice ---------------------------------------------------


def _external_name(ctx: Context, spec: dict[str, Any]) -> list[Violation]:
    """``externalname-service`` unless the target is a cluster-local name."""
    kind = spec.get("type")
    if not isinstance(kind, str) or kind.strip().lower() != "externalname":
        return []
    target = spec.get("externalName")
    if isinstance(target, str) and is_cluster_local(target, ctx.policy.config.cluster_domain):
        return []
    message = (
        f"Service of type ExternalName points at {fieldpath.shown(target)} around the egress "
        "gateway; request the host with the egress annotation instead"
    )
    return [_violation(Code.EXTERNALNAME_SERVICE, message, "spec.type",
                       value=target if isinstance(target, str) else "")]


def _external_ips(ctx: Context, spec: dict[str, Any]) -> list[Violation]:
    """``external-ip`` for each externalIP.

    kube-proxy captures traffic to a Service's externalIPs on every node, from every pod and
    gateway, so a public address there hijacks the gateway's own connections to it
    (CVE-2020-8554): no one may do this. An internal address is taken over the same way and
    belongs to no namespace the webhook can see: it may be the resolver the cluster DNS
    forwards to (a VPC's, whose answers tell the egress gateway where an approved host is), a
    gateway's pod or another team's, so from an untrusted principal it is refused too
    (``infrastructure``: a trusted principal may publish an internal address).
    """
    found: list[Violation] = []
    internal = ctx.policy.config.internal_ranges
    for i, address in enumerate(as_list(spec.get("externalIPs"))):
        if isinstance(address, str) and internal.contains(address):
            message = (
                f"externalIP {fieldpath.shown(address)} would capture every pod's traffic to "
                "it, on every node (it may be the resolver the cluster DNS asks, a gateway's "
                "pod or another team's); expose the Service through its ClusterIP, a NodePort "
                "or a LoadBalancer instead, or ask the security team"
            )
            found.append(Violation(Code.EXTERNAL_IP, message, f"spec.externalIPs[{i}]",
                                   value=address, infrastructure=True))
            continue
        message = (
            f"externalIP {fieldpath.shown(address)} is outside the internal ranges and would "
            "capture every pod's traffic to it, the gateway's too; use an internal address"
        )
        shown = address if isinstance(address, str) else ""
        found.append(Violation(Code.EXTERNAL_IP, message, f"spec.externalIPs[{i}]", value=shown))
    return found


def judge_local_redirect(ctx: Context, obj: JSONObject) -> Findings:
    """``external-ip`` for a CiliumLocalRedirectPolicy that takes traffic which is not its
    namespace's.

    Cilium redirects traffic to ``spec.redirectFrontend.addressMatcher.ip`` from every pod on
    a node, in any namespace, to the policy's own pods there. At a public address that is the
    gateway's own connections to it: refused for everyone. An internal address belongs to no
    namespace the webhook can see: it may be the cluster DNS (whose answers the gateway
    trusts for where an approved host is), a gateway's Service or another team's, so from an
    untrusted principal it is refused too (``infrastructure``: the platform's node-local DNS
    policy is written by a trusted one; Cilium's ``--lrp-address-matcher-cidrs`` narrows it
    further). A ``serviceMatcher`` may name only a Service of the policy's own namespace (as
    Cilium's CRD says): one elsewhere (the cluster DNS, a gateway) would take other
    namespaces' traffic, so it is refused however Cilium treats it."""
    frontend = as_dict(as_dict(obj.get("spec")).get("redirectFrontend"))
    if "serviceMatcher" in frontend:
        service = as_dict(frontend.get("serviceMatcher"))
        namespace = service.get("namespace")
        if namespace == ctx.namespace:
            return Findings()
        message = (f"a local redirect of Service {fieldpath.shown(service.get('serviceName'))} "
                   f"in namespace {fieldpath.shown(namespace)} would take that namespace's "
                   "traffic on a node; redirect only Services of this policy's namespace")
        return Findings(violations=(Violation(
            Code.EXTERNAL_IP, message, "spec.redirectFrontend.serviceMatcher.namespace",
            value=str(namespace)),))
    if "addressMatcher" not in frontend:
        return Findings()
    address = as_dict(frontend.get("addressMatcher")).get("ip")
    if isinstance(address, str) and ctx.policy.config.internal_ranges.contains(address):
        message = (
            f"a local redirect of address {fieldpath.shown(address)} takes every namespace's "
            "traffic to it on a node (it may be the cluster DNS, a gateway's Service or "
            "another team's); redirect a Service of this namespace (serviceMatcher) instead, "
            "or ask the security team"
        )
        return Findings(violations=(Violation(
            Code.EXTERNAL_IP, message, "spec.redirectFrontend.addressMatcher.ip", value=address,
            infrastructure=True),))
    message = (
        f"redirect address {fieldpath.shown(address)} is outside the internal ranges: Cilium "
        "would send every pod's traffic to it on a node, the gateway's too, to this policy's "
        "pods; use an internal address"
    )
    shown = address if isinstance(address, str) else ""
    return Findings(violations=(Violation(
        Code.EXTERNAL_IP, message, "spec.redirectFrontend.addressMatcher.ip", value=shown),))


def judge_service(ctx: Context, obj: JSONObject) -> Findings:
    """``externalname-service`` (Istio treats an ExternalName as an approved external host)
    and ``external-ip``."""
    spec = as_dict(obj.get("spec"))
    return Findings(violations=(*_external_name(ctx, spec), *_external_ips(ctx, spec)))


def _outside(address: Any, what: str, path: str) -> Violation:
    shown = fieldpath.shown(address)
    if isinstance(address, str) and not is_address(address):
        message = f"{what} {shown} is not an IP address, so never provably private; use private IPs"
    else:
        message = (
            f"{what} {shown} is outside the private ranges; reach external hosts through the "
            "egress gateway instead"
        )
    return _violation(Code.EXTERNAL_ENDPOINT, message, path)


def _written_by_control_plane(ctx: Context) -> bool:
    """Endpoints the control plane derives itself (from pods, or the API server's own
    address for ``default/kubernetes``) are not a user's choice of destination; pods with a
    public host IP were judged (``host-network``) when they were created."""
    return ctx.request.user.username in CONTROL_PLANE_ENDPOINT_WRITERS


def judge_endpoints(ctx: Context, obj: JSONObject) -> Findings:
    """``external-endpoint`` for any ready or not-ready address outside the private ranges."""
    if _written_by_control_plane(ctx):
        return Findings()
    found: list[Violation] = []
    for i, subset in enumerate(as_list(obj.get("subsets"))):
        for group in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(as_list(as_dict(subset).get(group))):
                ip = as_dict(address).get("ip")
                if not isinstance(ip, str) or not ctx.policy.config.internal_ranges.contains(ip):
                    found.append(_outside(ip, "endpoint", f"subsets[{i}].{group}[{j}].ip"))
    return Findings(violations=tuple(found))


def judge_endpoint_slice(ctx: Context, obj: JSONObject) -> Findings:
    """``external-endpoint`` for addresses outside the private ranges; FQDN ones included.

    A host name (``addressType: FQDN``) resolves to whatever its owner says later, so it is
    never provably private.
    """
    if _written_by_control_plane(ctx):
        return Findings()
    found: list[Violation] = []
    internal = ctx.policy.config.internal_ranges
    for i, endpoint in enumerate(as_list(obj.get("endpoints"))):
        for j, address in enumerate(as_list(as_dict(endpoint).get("addresses"))):
            if not isinstance(address, str) or not internal.contains(address):
                found.append(_outside(address, "endpoint", f"endpoints[{i}].addresses[{j}]"))
    return Findings(violations=tuple(found))
