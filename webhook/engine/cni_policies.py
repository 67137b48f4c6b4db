"""Calico and Admin/Cluster NetworkPolicies: egress rules that reach outside the cluster.

**Calico** (``crd.projectcalico.org/v1`` NetworkPolicy and GlobalNetworkPolicy, read against
the CRDs in ``libcalico-go/config/crd``). An egress rule whose ``action`` is ``Allow`` or
``Pass`` (``Pass`` skips the policies after it in the tier, the fence included; any action
Calico does not know is judged as ``Allow``) opens egress when its destination has
``domains``, or names no endpoints (no ``selector``, ``namespaceSelector``,
``serviceAccounts`` or ``services``) and its ``nets`` (every address when absent) minus its
``notNets`` leave the internal ranges; a ``namespaceSelector`` that may match non-namespaced
resources (a negation or ``global()``) does not narrow it either, as it selects
GlobalNetworkSets, whose addresses the policy does not show (a trusted principal may have
written public ones). ``notSelector`` alone does not narrow it: addresses
outside the cluster carry no labels, so they match any negated selector. ``Deny`` and
``Log`` open nothing. A selector also matches NetworkSets and GlobalNetworkSets, so those are
judged too: a set holding an address outside (or, in Calico Enterprise, egress domains) lets
any policy that selects it out.

**Admin/Cluster NetworkPolicies** (``policy.networking.k8s.io``: AdminNetworkPolicy and
BaselineAdminNetworkPolicy ``v1alpha1``, ClusterNetworkPolicy ``v1alpha2``/``v1beta1``, read
against the Go types of ``sigs.k8s.io/network-policy-api``). An egress rule whose action is
``Allow``/``Accept`` or ``Pass`` (or unknown) opens egress with a peer whose ``networks``
reach outside or that has ``domainNames``, or with no peers. Peers by ``namespaces``,
``pods`` or ``nodes`` stay inside.

**Ingress to the gateways.** A cluster-wide policy (a GlobalNetworkPolicy, any Admin/Cluster
kind) may select a gateway's pods, and its ingress ``Allow`` is not bound by the gateway's
NetworkPolicy (which admits only entitled pods): an ANP ``Allow`` overrides it, a Calico
``Allow`` ordered first ends evaluation. One admitting ingress to pods it does not confine by
name (``kubernetes.io/metadata.name``) to namespaces other than the gateways' is refused.

Every code here is an infrastructure code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings, as_dict, as_list
from webhook.engine.network import gateway_ingress, named_namespaces
from webhook.model.addresses import InternalRanges
from webhook.model.decision import Code, Violation
from webhook.model.ipsets import EVERYWHERE, first_outside
from webhook.model.review import JSONObject

CLOSED_ACTIONS = frozenset({"deny", "log"})
# Destination fields that restrict a Calico rule to endpoints (pods, hosts, network sets).
CALICO_ENDPOINT_FIELDS = ("selector", "namespaceSelector", "serviceAccounts", "services")
CLUSTER_PEERS = ("namespaces", "pods", "nodes")
GATEWAY = "reach the internet through the egress gateway instead"
# A Calico namespaceSelector naming namespaces: ``<name label> == 'a'`` or ``in {'a', 'b'}``.
_CALICO_NAME = re.compile(
    r"\s*(?:kubernetes\.io/metadata\.name|projectcalico\.org/name)\s*"
    r"(?:==\s*(?P<one>'[^']*'|\"[^\"]*\")|in\s*\{(?P<many>[^}]*)\})\s*"
)
_CALICO_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
_CALICO_NEGATION = re.compile(r"!|not\s*in|global\s*\(")
_CALICO_VALUE = re.compile(r"\s*('[^']*'|\"[^\"]*\")\s*")


def _violation(message: str, path: str, value: str = "") -> Violation:
    return Violation(Code.NETPOL_OPEN_EGRESS, message, path, infrastructure=True, value=value)


def _action(rule: dict[str, Any]) -> str:
    action = rule.get("action")
    return action.strip().lower() if isinstance(action, str) else ""


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


# -- Calico ------------------------------------------------------------------------------


def _may_select_global(selector: Any) -> bool:
    """Whether a rule's ``namespaceSelector`` may match non-namespaced resources
    (GlobalNetworkSets, host endpoints). Calico rewrites it over the namespace labels and
    ``global()`` to ``!has(projectcalico.org/namespace)``; a global resource has neither, so
    only a negation (``!``, ``!=``, ``!has()``, ``not in``) or ``global()`` can match it: a
    selector of positive terms alone cannot. String literals are ignored; anything
    unreadable may."""
    if not isinstance(selector, str):
        return True
    terms = _CALICO_LITERAL.sub("''", selector)
    return _CALICO_NEGATION.search(terms) is not None


def _calico_destination(
    destination: dict[str, Any], base: str, internal: InternalRanges
) -> Iterator[Violation]:
    if _present(destination.get("domains")):
        yield _violation(f"destination domains are outside the cluster; {GATEWAY}",
                         f"{base}.domains")
    namespaces = destination.get("namespaceSelector")
    global_sets = _present(namespaces) and _may_select_global(namespaces)
    if not global_sets and any(_present(destination.get(n)) for n in CALICO_ENDPOINT_FIELDS):
        return
    nets = as_list(destination.get("nets")) or list(EVERYWHERE)
    outside = first_outside(internal, nets, as_list(destination.get("notNets")))
    if outside is None:
        return
    if global_sets:
        message = (f"namespaceSelector {fieldpath.shown(namespaces)} also selects "
                   "GlobalNetworkSets, whose addresses are not in this policy and may be "
                   "outside the cluster; select namespaces by labels they have (==, in, has()), "
                   f"not by negation or global(), or list internal nets; {GATEWAY}")
        yield _violation(message, f"{base}.namespaceSelector", str(namespaces))
        return
    where = f"{base}.nets" if "nets" in destination else base
    if "nets" in destination or "notNets" in destination:
        message = (f"destination reaches {fieldpath.shown(outside)}, outside the internal "
                   f"ranges; {GATEWAY}")
    else:
        message = f"rule without a destination selector or nets allows every address; {GATEWAY}"
    yield _violation(message, where, outside)


def _calico_named(selector: Any) -> frozenset[str] | None:
    """The namespaces a GlobalNetworkPolicy's ``namespaceSelector`` names; None for any other
    selector (or none: a GlobalNetworkPolicy without one selects every namespace)."""
    match = _CALICO_NAME.fullmatch(selector) if isinstance(selector, str) else None
    if match is None:
        return None
    if match.group("one") is not None:
        return frozenset({match.group("one")[1:-1]})
    names: set[str] = set()
    for item in match.group("many").split(","):
        value = _CALICO_VALUE.fullmatch(item)
        if value is None:
            return None
        names.add(value.group(1)[1:-1])
    return frozenset(names)


def judge_calico_policy(ctx: Context, obj: JSONObject) -> Findings:
    """``netpol-open-egress`` for Calico Allow/Pass egress rules reaching outside, and for a
    GlobalNetworkPolicy admitting ingress to a gateway namespace's pods."""
    spec = as_dict(obj.get("spec"))
    internal = ctx.policy.config.internal_ranges
    found: list[Violation] = []
    if ctx.request.kind.kind == "GlobalNetworkPolicy" and any(
        _action(as_dict(rule)) not in CLOSED_ACTIONS for rule in as_list(spec.get("ingress"))
    ):
        found.extend(gateway_ingress(ctx, "spec.ingress",
                                             _calico_named(spec.get("namespaceSelector"))))
    for i, rule in enumerate(as_list(spec.get("egress"))):
        rule = as_dict(rule)
        if _action(rule) in CLOSED_ACTIONS:
            continue
        found.extend(_calico_destination(as_dict(rule.get("destination")),
                                         f"spec.egress[{i}].destination", internal))
    return Findings(violations=tuple(found))


def judge_calico_network_set(ctx: Context, obj: JSONObject) -> Findings:
    """``netpol-open-egress`` for a NetworkSet or GlobalNetworkSet holding outside addresses."""
    spec = as_dict(obj.get("spec"))
    internal = ctx.policy.config.internal_ranges
    found: list[Violation] = []
    for i, net in enumerate(as_list(spec.get("nets"))):
        outside = first_outside(internal, [net])
        if outside is not None:
            message = (f"network set address {fieldpath.shown(net)} is outside the internal "
                       "ranges, where any policy selecting the set lets pods go; remove it")
            found.append(_violation(message, f"spec.nets[{i}]", outside))
    if _present(spec.get("allowedEgressDomains")):
        message = f"network set egress domains are outside the cluster; {GATEWAY}"
        found.append(_violation(message, "spec.allowedEgressDomains"))
    return Findings(violations=tuple(found))


# -- AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy ---------------


def _admin_peers(rule: dict[str, Any], base: str, internal: InternalRanges) -> Iterator[Violation]:
    peers = rule.get("to")
    if not isinstance(peers, list) or not peers:
        yield _violation(f"egress rule without peers may allow every address; {GATEWAY}",
                         f"{base}.to")
        return
    for j, peer in enumerate(peers):
        peer = as_dict(peer)
        where = f"{base}.to[{j}]"
        for k, network in enumerate(as_list(peer.get("networks"))):
            outside = first_outside(internal, [network])
            if outside is not None:
                message = (f"network {fieldpath.shown(network)} reaches outside the internal "
                           f"ranges; {GATEWAY}")
                yield _violation(message, f"{where}.networks[{k}]", outside)
        if _present(peer.get("domainNames")):
            yield _violation(f"domainNames are outside the cluster; {GATEWAY}",
                             f"{where}.domainNames")
        known = (*CLUSTER_PEERS, "networks", "domainNames")
        if not any(peer.get(name) is not None for name in known):
            yield _violation("egress peer names nothing this version knows; name the peer",
                             where)


def _admin_subject_named(subject: dict[str, Any]) -> frozenset[str] | None:
    if "namespaces" in subject:
        return named_namespaces(subject.get("namespaces"))
    return named_namespaces(as_dict(subject.get("pods")).get("namespaceSelector"))


def judge_admin_policy(ctx: Context, obj: JSONObject) -> Findings:
    """``netpol-open-egress`` for Allow/Accept/Pass egress rules reaching outside, and for
    Allow/Accept/Pass ingress rules whose subject may be a gateway namespace's pods."""
    spec = as_dict(obj.get("spec"))
    internal = ctx.policy.config.internal_ranges
    found: list[Violation] = []
    if any(_action(as_dict(rule)) != "deny" for rule in as_list(spec.get("ingress"))):
        found.extend(gateway_ingress(
            ctx, "spec.ingress", _admin_subject_named(as_dict(spec.get("subject")))))
    for i, rule in enumerate(as_list(spec.get("egress"))):
        rule = as_dict(rule)
        if _action(rule) == "deny":
            continue
        found.extend(_admin_peers(rule, f"spec.egress[{i}]", internal))
    return Findings(violations=tuple(found))
