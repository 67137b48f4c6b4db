"""CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (``cilium.io/v2``): open egress.

Read against Cilium's own policy code (``pkg/policy/api``, ``pkg/policy/rule.go``,
``pkg/k8s/apis/cilium.io/utils``). An egress rule (in ``spec`` or any of ``specs``) reaches
outside the cluster through:

- ``toEntities`` ``world``, ``world-ipv4``, ``world-ipv6`` or ``all`` (or one Cilium does not
  know); ``toCIDR`` and ``toCIDRSet`` blocks that, minus their ``except``, leave the internal
  ranges; a ``toCIDRSet`` taken from a CiliumCIDRGroup (its addresses are not in the policy);
  any ``toFQDNs``; any ``toGroups`` (cloud security groups);
- ``toEndpoints`` selectors that may select identities outside: one naming a ``reserved:``
  label of the world, or one that escapes the namespace Cilium adds (see
  :func:`_endpoint_selector_reaches_outside`);
- ports or ICMP with no destination field at all: Cilium then allows those ports to every
  destination. ``toServices`` and ``toRequires`` do not narrow that (a ``toServices`` rule with
  ``toPorts`` allows the ports to the world: cilium/cilium#20067).

``egressDeny`` never opens anything. A clusterwide policy may also select the gateways' pods,
and Cilium adds its ingress rules to their NetworkPolicy: one admitting ingress to pods it
does not confine, by ``io.kubernetes.pod.namespace``, to namespaces other than the gateways'
is refused too. Every code here is an infrastructure code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from webhook.engine import fieldpath, network
from webhook.engine.context import Context, Findings, as_dict, as_list
from webhook.model.addresses import InternalRanges, parse_network
from webhook.model.decision import Code, Violation
from webhook.model.ipsets import first_outside
from webhook.model.review import JSONObject

# Entities inside the cluster; any other (world, world-ipv4, world-ipv6, all, unknown) is outside.
CLUSTER_ENTITIES = frozenset({
    "cluster", "cluster-mesh", "host", "init", "ingress", "unmanaged", "remote-node", "health",
    "none", "kube-apiserver",
})
# Reserved identity labels of addresses outside the cluster.
OUTSIDE_RESERVED = frozenset({"world", "world-ipv4", "world-ipv6", "aggregate-world", "unknown"})
# Label sources whose identities are addresses outside the cluster.
OUTSIDE_SOURCES = frozenset({"cidr", "fqdn", "cidrgroup"})
# Fields that name the destinations of a rule; an empty one selects nothing.
DESTINATION_FIELDS = ("toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toNodes", "toGroups",
                      "toFQDNs")
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
POSITIVE = frozenset({"In", "Exists"})
GATEWAY = "reach the internet through the egress gateway instead"


def _violation(message: str, path: str, value: str = "") -> Violation:
    return Violation(Code.NETPOL_OPEN_EGRESS, message, path, infrastructure=True, value=value)


# -- endpoint selectors ------------------------------------------------------------------


def _label(key: str) -> tuple[str, str]:
    """(source, key) of a selector key, as Cilium parses ``source:key``, ``$key`` and
    ``reserved.key``; a key without a source matches labels of any source."""
    if key.startswith("$"):
        return "reserved", key[1:]
    source, colon, name = key.partition(":")
    if colon:
        return source, name
    if key.startswith("reserved."):
        return "reserved", key[len("reserved."):]
    return "any", key


def _requirements(selector: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(source, key, operator, has values) of every requirement of a label selector."""
    found = [(*_label(str(k)), "In", True) for k in as_dict(selector.get("matchLabels"))]
    for expression in as_list(selector.get("matchExpressions")):
        expression = as_dict(expression)
        values = as_list(expression.get("values"))
        operator = expression.get("operator")
        found.append((*_label(str(expression.get("key"))), str(operator), bool(values)))
    return found


def _may_be_outside(source: str, key: str) -> bool:
    """Whether an identity of an address outside the cluster may carry this label."""
    if source == "reserved":
        return key in OUTSIDE_RESERVED
    if source in OUTSIDE_SOURCES:
        return True
    if source != "any":
        return False
    # Any source: a reserved name, a CIDR label, or an FQDN label (a dotted name that is not
    # one of Kubernetes' or Cilium's own label keys).
    own_key = key.startswith(("io.kubernetes.", "io.cilium."))
    dns_like = "." in key and "/" not in key and not own_key
    return key in OUTSIDE_RESERVED or parse_network(key) is not None or dns_like


def _endpoint_selector_reaches_outside(
    selector: dict[str, Any], *, clusterwide: bool, matches_init: bool
) -> bool:
    """Whether a ``toEndpoints`` selector may select an identity outside the cluster.

    Cilium leaves a selector naming any ``reserved:`` label as written. Otherwise it pins the
    selector to pods: to the policy's namespace (a CiliumNetworkPolicy, unless the selector
    names the namespace or its labels), or to any namespace (a clusterwide one, unless its
    own selector is for initializing pods). A selector as written reaches outside unless one of
    its positive requirements names a label only pods and nodes carry.
    """
    requirements = _requirements(selector)
    reserved = any(source == "reserved" for source, _, _, _ in requirements)
    keys = {(source, key) for source, key, _, _ in requirements if source in ("k8s", "any")}
    names_namespace = any(key == NAMESPACE_LABEL for _, key in keys)
    names_labels = any(key.startswith(NAMESPACE_LABELS_PREFIX) for _, key in keys)
    if not reserved and not names_namespace:
        if clusterwide and not matches_init:
            return False
        if not clusterwide and not names_labels:
            return False
    return not any(
        operator in POSITIVE and (has_values or operator == "Exists")
        and not _may_be_outside(source, key)
        for source, key, operator, has_values in requirements
    )


def _matches_init(spec: dict[str, Any]) -> bool:
    return any(source == "reserved" and key == "init"
               for source, key, _, _ in _requirements(as_dict(spec.get("endpointSelector"))))


# -- one egress rule ---------------------------------------------------------------------


def _cidr_sets(rule: dict[str, Any], base: str, internal: InternalRanges) -> Iterator[Violation]:
    for j, cidr in enumerate(as_list(rule.get("toCIDR"))):
        outside = first_outside(internal, [cidr])
        if outside is not None:
            message = (f"toCIDR {fieldpath.shown(cidr)} reaches outside the internal ranges; "
                       f"{GATEWAY}")
            yield _violation(message, f"{base}.toCIDR[{j}]", outside)
    for j, entry in enumerate(as_list(rule.get("toCIDRSet"))):
        entry = as_dict(entry)
        where = f"{base}.toCIDRSet[{j}]"
        if "cidr" not in entry:
            message = "toCIDRSet from a CiliumCIDRGroup cannot be judged here; list the CIDRs"
            yield _violation(message, where)
            continue
        outside = first_outside(internal, [entry["cidr"]], as_list(entry.get("except")))
        if outside is not None:
            message = (f"toCIDRSet {fieldpath.shown(entry['cidr'])} reaches "
                       f"{fieldpath.shown(outside)} outside the internal ranges; {GATEWAY}")
            yield _violation(message, f"{where}.cidr", outside)


def _open_rule(
    rule: dict[str, Any], base: str, internal: InternalRanges, *, clusterwide: bool, init: bool
) -> Iterator[Violation]:
    if not any(isinstance(rule.get(name), list) for name in DESTINATION_FIELDS):
        if as_list(rule.get("toPorts")) or as_list(rule.get("icmps")):
            unnarrowed = [n for n in ("toServices", "toRequires") if rule.get(n) is not None]
            what = f"{unnarrowed[0]} does not narrow ports: " if unnarrowed else ""
            message = (f"{what}egress rule with ports but no destination allows them to every "
                       f"address; {GATEWAY}")
            yield _violation(message, base)
        return
    for j, entity in enumerate(as_list(rule.get("toEntities"))):
        if not isinstance(entity, str) or entity not in CLUSTER_ENTITIES:
            message = f"toEntities {fieldpath.shown(entity)} reaches outside the cluster; {GATEWAY}"
            yield _violation(message, f"{base}.toEntities[{j}]", str(entity))
    yield from _cidr_sets(rule, base, internal)
    for name, what in (("toFQDNs", "DNS names"), ("toGroups", "cloud security groups")):
        if as_list(rule.get(name)):
            message = f"{name} allows {what} outside the cluster; {GATEWAY}"
            yield _violation(message, f"{base}.{name}")
    for j, selector in enumerate(as_list(rule.get("toEndpoints"))):
        if _endpoint_selector_reaches_outside(as_dict(selector), clusterwide=clusterwide,
                                              matches_init=init):
            message = f"toEndpoints selector may select the world, not only pods; {GATEWAY}"
            yield _violation(message, f"{base}.toEndpoints[{j}]")


def _named_namespaces(selector: Any) -> frozenset[str] | None:
    """The namespaces an endpoint selector names by Cilium's namespace label, of any source."""
    found: frozenset[str] | None = None
    for key in (NAMESPACE_LABEL, f"k8s:{NAMESPACE_LABEL}", f"any:{NAMESPACE_LABEL}"):
        named = network.named_namespaces(selector, key)
        if named is not None:
            found = named if found is None else found & named
    return found


def _gateway_ingress(ctx: Context, spec: dict[str, Any], where: str) -> tuple[Violation, ...]:
    """A clusterwide rule for pods (not a host policy's ``nodeSelector``) with an ingress rule
    that admits something (``{}`` admits nothing)."""
    if "endpointSelector" not in spec and "nodeSelector" in spec:
        return ()
    if not any(as_dict(rule) for rule in as_list(spec.get("ingress"))):
        return ()
    return network.gateway_ingress(ctx, f"{where}.ingress",
                                   _named_namespaces(spec.get("endpointSelector")),
                                   name_label=NAMESPACE_LABEL)


def judge_cilium_policy(ctx: Context, obj: JSONObject) -> Findings:
    """``netpol-open-egress`` for egress rules reaching outside (module docstring), and for
    a clusterwide policy admitting ingress to a gateway namespace's pods."""
    clusterwide = ctx.request.kind.kind == "CiliumClusterwideNetworkPolicy"
    internal = ctx.policy.config.internal_ranges
    specs = [("spec", as_dict(obj.get("spec")))]
    specs += [(f"specs[{k}]", as_dict(s)) for k, s in enumerate(as_list(obj.get("specs")))]
    found: list[Violation] = []
    for where, spec in specs:
        if clusterwide:
            found.extend(_gateway_ingress(ctx, spec, where))
        init = _matches_init(spec)
        for i, rule in enumerate(as_list(spec.get("egress"))):
            found.extend(_open_rule(as_dict(rule), f"{where}.egress[{i}]", internal,
                                    clusterwide=clusterwide, init=init))
    return Findings(violations=tuple(found))
