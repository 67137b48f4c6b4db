"""EnvoyFilters: the break-glass API that can rewrite any proxy, gateways included.

Three questions, each answered the strict way when the object cannot be read. Names are
matched exactly, as Istio matches them (``pilot/pkg/networking/core/envoyfilter``), with the
deprecated names older Istio versions still map (``envoy.http_connection_manager``).

- **Does it reach a gateway?** (``envoyfilter-gateway``) A filter in the mesh root namespace
  reaches every gateway, any other only the gateways in its own namespace. It applies to a
  gateway when it has no ``workloadSelector`` (or empty labels), a selector that does not
  contradict the gateway's (contradict: a shared key with another value), ``targetRefs``
  naming a ``Gateway`` (any group), or, in a gateway's namespace, a Service or ServiceEntry
  (which the gateway serves as a waypoint). A filter whose patches are all ``SIDECAR_INBOUND`` never
  applies to a gateway or waypoint (Istio patches their listeners in the ``GATEWAY`` and
  ``WAYPOINT`` contexts), so it reaches none; extension configs are inserted whatever their
  context, so a filter with one is never inbound-only.
- **Does it touch outbound traffic?** (``envoyfilter-outbound``) A patch whose context is
  ``SIDECAR_OUTBOUND``, ``ANY``, ``WAYPOINT`` or absent (anything but ``SIDECAR_INBOUND`` or
  ``GATEWAY``); a patch adding a listener in any context (``ADD``, or an ``INSERT_*`` that
  Istio turns into ``ADD`` for listeners), which can relay anywhere; a patch adding a cluster
  (``CLUSTER`` with an operation other than a merge or ``REMOVE``, or a ``BOOTSTRAP`` patch
  with static resources); a patch whose value names an ``outbound|`` cluster (or a gateway's
  ``outbound_.`` one) or routes by ``cluster_header``; a patch configuring Lua (Envoy opens
  Lua's whole standard library: ``os.execute`` runs a shell as the proxy's UID, which is never
  captured, and ``httpCall`` takes a cluster name the code may build) or a ``google_grpc``
  client (it dials its target itself, outside every cluster); a patch mentioning ORIGINAL_DST, a
  passthrough cluster or the dynamic forward proxy anywhere, in keys or strings, however cased
  or punctuated; and a patch spelling a field both in camelCase and snake_case. A ``REMOVE``
  opens nothing, in any context: it is judged only for protected filters.
- **Does it weaken a protected HTTP filter?** (``envoyfilter-protected-filter``) RBAC,
  ext_authz, Lua and Wasm filters (``envoy.filters.http.rbac``, the short ``rbac``, the legacy
  ``envoy.ext_authz``, their network-filter twins). ``REMOVE`` and ``REPLACE`` of one, in any
  context. We also count ``MERGE`` and ``MERGE_AND_REPLACE_LIST``: a proto merge can rewrite a
  filter's rules or set ``failure_mode_allow``, so it can disable a filter as surely as
  removing it. So do patches that reach every filter by naming none, and any patch that may
  drop or reorder the HTTP filters: ``REMOVE``, ``REPLACE`` or ``MERGE_AND_REPLACE_LIST`` of
  the HTTP connection manager, and ``MERGE_AND_REPLACE_LIST`` of a filter chain's filters or
  a listener's filter chains; and ``typed_per_filter_config`` for a protected filter
  (per-route settings such as ``disabled: true``). Inserting filters before them is not
  refused, nor is an HTTP filter patch under a network filter that is not the connection
  manager (Istio never applies it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings, as_dict, as_list
from webhook.engine.protojson import doubly_spelled, field
from webhook.engine.proxy_reach import gateway_reach, judge_proxy_extension
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject

__all__ = ["judge_envoy_filter", "judge_proxy_extension"]

CONTEXTS = {0: "ANY", 1: "SIDECAR_INBOUND", 2: "SIDECAR_OUTBOUND", 3: "GATEWAY", 4: "WAYPOINT"}
NOT_OUTBOUND = frozenset({"SIDECAR_INBOUND", "GATEWAY"})
APPLY_TO = {
    0: "INVALID", 1: "LISTENER", 2: "FILTER_CHAIN", 3: "NETWORK_FILTER", 4: "HTTP_FILTER",
    5: "ROUTE_CONFIGURATION", 6: "VIRTUAL_HOST", 7: "HTTP_ROUTE", 8: "CLUSTER",
    9: "EXTENSION_CONFIG", 10: "BOOTSTRAP", 11: "LISTENER_FILTER",
}
OPERATIONS = {
    0: "INVALID", 1: "MERGE", 2: "ADD", 3: "REMOVE", 4: "INSERT_BEFORE", 5: "INSERT_AFTER",
    6: "INSERT_FIRST", 7: "REPLACE", 8: "MERGE_AND_REPLACE_LIST",
}
MERGES = frozenset({"MERGE", "MERGE_AND_REPLACE_LIST"})
# Patches Istio applies whatever their match context says.
CONTEXT_FREE = frozenset({"EXTENSION_CONFIG", "BOOTSTRAP"})
# Operations that neither add an object nor only change one in place (for listeners and
# clusters every other operation, INSERT_* included, is an ADD in Istio).
NOT_ADDING = frozenset({*MERGES, "REMOVE"})
WEAKENING = frozenset({"REMOVE", "REPLACE", *MERGES})
# Operations on the HTTP connection manager that may drop or reorder its HTTP filters.
DROPPING = frozenset({"REMOVE", "REPLACE", "MERGE_AND_REPLACE_LIST"})
# The connection manager as Istio names it, and the deprecated name older versions map.
CONNECTION_MANAGER = frozenset({
    "envoy.filters.network.http_connection_manager", "envoy.http_connection_manager"})
# Lists whose wholesale replacement drops the connection manager: a filter chain's filters,
# a listener's filter chains (folded).
FILTER_LISTS = {"FILTER_CHAIN": frozenset({"filters"}),
                "LISTENER": frozenset({"filterchains", "defaultfilterchain"})}
# Cluster names of outbound traffic: the sidecar's outbound|port|subset|host clusters and a
# gateway's SNI-routed outbound_.port_.subset_.host ones.
OUTBOUND_CLUSTERS = ("outbound|", "outbound_.")
# Route fields that let the request itself pick any cluster by name (folded).
CLUSTER_BY_REQUEST = frozenset({"clusterheader", "clusterspecifierplugin"})
PROTECTED = frozenset({"rbac", "ext_authz", "extauthz", "lua", "wasm"})
# Folded (lower case, letters and digits only) markers of traffic sent to wherever it was
# going: original-destination clusters and listeners, Istio's passthrough clusters, DFP.
PASSTHROUGH = ("originaldst", "passthroughcluster", "dynamicforwardproxy")
STATIC_RESOURCES = frozenset({"staticresources"})
# Folded markers of configuration that leaves the proxy's clusters behind: Lua's type URLs
# (envoy.extensions.filters.http.lua.v3.Lua and LuaPerRoute; Envoy opens Lua's whole standard
# library, so os.execute runs a shell as the proxy's UID, which is never captured, and httpCall
# takes a cluster name the code may build), and a gRPC client that dials its target itself.
LUA_TYPE = "envoyextensionsfiltershttplua"
OWN_DIALER = "googlegrpc"
PER_FILTER_CONFIG = "typedperfilterconfig"
# Fields whose keys are data (label names, Envoy config), not Istio's protobuf fields.
OPAQUE_FIELDS = frozenset({"value", "labels", "metadata"})
FILTER_PATH = "match.listener.filterChain.filter"


def _violation(code: Code, message: str, path: str) -> Violation:
    return Violation(code, message, path, infrastructure=True)


def _fold(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _enum(value: Any, numbers: dict[int, str]) -> str:
    """An enum as Istio reads it: by name, or by number; "" when absent or unreadable."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return numbers.get(value, "?")
    return "" if value is None else "?"


def _is_protected(name: str) -> bool:
    return any(token in PROTECTED for token in re.split(r"[./]", name.strip().lower()))


def _is_connection_manager(name: str) -> bool:
    return name in CONNECTION_MANAGER


def _walk(value: Any, path: str) -> Iterator[tuple[str, str | None, Any]]:
    """(path, key, node) for every node below ``value``, in document order, iteratively."""
    stack: list[tuple[str, str | None, Any]] = [(path, None, value)]
    while stack:
        where, name, node = stack.pop()
        yield where, name, node
        children: list[tuple[str, str | None, Any]]
        if isinstance(node, dict):
            children = [(fieldpath.key(where, str(k)), str(k), v) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(fieldpath.index(where, i), None, v) for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))


# -- one patch ---------------------------------------------------------------------------


def _outbound(entry: dict[str, Any], base: str) -> list[Violation]:
    match = as_dict(field(entry, "match"))
    patch = as_dict(field(entry, "patch"))
    apply_to = _enum(field(entry, "applyTo"), APPLY_TO)
    operation = _enum(field(patch, "operation"), OPERATIONS)
    if operation == "REMOVE":
        return []
    found: list[Violation] = []
    context = field(match, "context")
    name = "ANY" if context is None else _enum(context, CONTEXTS)
    if name not in NOT_OUTBOUND:
        message = (
            f"patch context {fieldpath.shown(name)} reaches sidecars' outbound traffic; use "
            "SIDECAR_INBOUND, or route outbound traffic through the egress gateway"
        )
        found.append(_violation(Code.ENVOYFILTER_OUTBOUND, message, f"{base}.match.context"))
    adds_cluster = apply_to == "CLUSTER" and operation not in NOT_ADDING
    if apply_to == "BOOTSTRAP":
        adds_cluster = any(
            key is not None and _fold(key) in STATIC_RESOURCES
            for _, key, _ in _walk(field(patch, "value"), "")
        )
    if adds_cluster:
        message = "patch adds a cluster, a way out that bypasses the egress gateway; remove it"
        found.append(_violation(Code.ENVOYFILTER_OUTBOUND, message, f"{base}.applyTo"))
    if apply_to == "LISTENER" and operation not in NOT_ADDING:
        message = "patch adds a listener, which can relay traffic to any cluster; remove it"
        found.append(_violation(Code.ENVOYFILTER_OUTBOUND, message, f"{base}.applyTo"))
    found.extend(_outbound_clusters(field(patch, "value"), f"{base}.patch.value"))
    found.extend(_own_way_out(field(patch, "value"), f"{base}.patch.value"))
    for where, key, node in _walk(entry, base):
        texts = [t for t in (key, node) if isinstance(t, str)]
        marked = next((t for t in texts if any(m in _fold(t) for m in PASSTHROUGH)), None)
        if marked is not None:
            message = (
                f"patch uses {fieldpath.shown(marked)}, which sends traffic to any original "
                "destination; route it through the egress gateway instead"
            )
            found.append(_violation(Code.ENVOYFILTER_OUTBOUND, message, where))
            break
    return found


def _outbound_clusters(value: Any, base: str) -> list[Violation]:
    """The first place in a patch value that names an outbound cluster or lets the request
    name one: traffic sent there leaves the pod straight for the host, not the gateway."""
    for where, key, node in _walk(value, base):
        if key is not None and _fold(key) in CLUSTER_BY_REQUEST:
            message = (f"{key} lets a request pick any cluster, outbound ones included; "
                       "route to named local clusters")
            return [_violation(Code.ENVOYFILTER_OUTBOUND, message, where)]
        named = next((t for t in (key, node) if isinstance(t, str)
                      and any(m in t.lower() for m in OUTBOUND_CLUSTERS)), None)
        if named is not None:
            message = (f"patch names outbound cluster {fieldpath.shown(named)}, which skips "
                       "the egress gateway; route external traffic through the gateway")
            return [_violation(Code.ENVOYFILTER_OUTBOUND, message, where)]
    return []


def _own_way_out(value: Any, base: str) -> list[Violation]:
    """The first Lua program or self-dialling gRPC client in a patch value: what either
    reaches cannot be read from the patch, and the proxy's own traffic is never captured."""
    for where, key, node in _walk(value, base):
        if isinstance(node, str) and LUA_TYPE in _fold(node):
            message = (
                "a Lua filter runs any code in the proxy, as the proxy's UID that the sidecar "
                "never captures (os.execute, httpCall to any cluster); use a declarative filter "
                "such as header_mutation, or ask the security team"
            )
            return [_violation(Code.ENVOYFILTER_OUTBOUND, message, where)]
        if key is not None and _fold(key) == OWN_DIALER:
            message = (
                f"{key} dials its target itself, outside the proxy's clusters and the sidecar's "
                "capture; ask the security team"
            )
            return [_violation(Code.ENVOYFILTER_OUTBOUND, message, where)]
    return []


def _network_filter(entry: dict[str, Any]) -> dict[str, Any]:
    listener = as_dict(field(as_dict(field(entry, "match")), "listener"))
    return as_dict(field(as_dict(field(listener, "filterChain")), "filter"))


def _weakened_filter(
    entry: dict[str, Any], base: str, operation: str, apply_to: str
) -> Violation | None:
    """REMOVE, REPLACE or a merge of a protected filter, or of every filter by naming none."""
    network_filter = _network_filter(entry)
    fix = "protected filters (RBAC, ext_authz, Lua, Wasm) are changed by the security team only"
    if apply_to == "HTTP_FILTER":
        parent = field(network_filter, "name")
        if isinstance(parent, str) and parent and not _is_connection_manager(parent):
            return None  # Istio applies HTTP filter patches under the connection manager only
        name = field(as_dict(field(network_filter, "subFilter")), "name")
        where = f"{base}.{FILTER_PATH}.subFilter.name"
    else:
        name = field(network_filter, "name")
        where = f"{base}.{FILTER_PATH}.name"
    if not isinstance(name, str) or not name.strip():
        message = f"{operation} of {apply_to} without a filter name reaches every filter; {fix}"
        return _violation(Code.ENVOYFILTER_PROTECTED_FILTER, message, where)
    drops_all = apply_to == "NETWORK_FILTER" and operation in DROPPING
    if _is_protected(name) or (drops_all and _is_connection_manager(name)):
        message = f"{operation} of {fieldpath.shown(name)}; {fix}"
        return _violation(Code.ENVOYFILTER_PROTECTED_FILTER, message, where)
    return None


def _protected(entry: dict[str, Any], base: str) -> list[Violation]:
    patch = as_dict(field(entry, "patch"))
    operation = _enum(field(patch, "operation"), OPERATIONS)
    apply_to = _enum(field(entry, "applyTo"), APPLY_TO)
    found: list[Violation] = []
    fix = "protected filters (RBAC, ext_authz, Lua, Wasm) are changed by the security team only"
    if operation in WEAKENING and apply_to in ("HTTP_FILTER", "NETWORK_FILTER"):
        weakened = _weakened_filter(entry, base, operation, apply_to)
        if weakened is not None:
            found.append(weakened)
    lists = FILTER_LISTS.get(apply_to, frozenset())
    if operation == "MERGE_AND_REPLACE_LIST" and isinstance(field(patch, "value"), dict):
        replaced = [str(k) for k in field(patch, "value") if _fold(str(k)) in lists]
        if replaced:
            message = f"replacing the {replaced[0]} list drops the HTTP filters; {fix}"
            found.append(_violation(Code.ENVOYFILTER_PROTECTED_FILTER, message,
                                    fieldpath.key(f"{base}.patch.value", replaced[0])))
    for where, key, node in _walk(field(patch, "value"), f"{base}.patch.value"):
        if key is not None and _fold(key) == PER_FILTER_CONFIG and isinstance(node, dict):
            names = [str(k) for k in node if _is_protected(str(k))]
            if names:
                message = f"per-route config for {fieldpath.shown(names[0])} can disable it; {fix}"
                found.append(_violation(Code.ENVOYFILTER_PROTECTED_FILTER, message, where))
                break
    return found


def _inbound_only(entry: dict[str, Any]) -> bool:
    """A patch for sidecars' inbound traffic, which Istio never applies to a gateway.

    Extension configs (and bootstrap patches) are inserted whatever the context says, so they
    are never inbound-only.
    """
    context = field(as_dict(field(entry, "match")), "context")
    if _enum(field(entry, "applyTo"), APPLY_TO) in CONTEXT_FREE:
        return False
    return context is not None and _enum(context, CONTEXTS) == "SIDECAR_INBOUND"


def judge_envoy_filter(ctx: Context, obj: JSONObject) -> Findings:
    """The three EnvoyFilter codes; see the module docstring for what each refuses."""
    spec = as_dict(obj.get("spec"))
    patches = [as_dict(entry) for entry in as_list(field(spec, "configPatches"))]
    found = [] if patches and all(map(_inbound_only, patches)) else gateway_reach(ctx, spec)
    for path in doubly_spelled(spec, "spec", skip=OPAQUE_FIELDS):
        message = f"{path} is spelled both in camelCase and snake_case; keep one"
        found.append(_violation(Code.ENVOYFILTER_OUTBOUND, message, path))
    for i, entry in enumerate(as_list(field(spec, "configPatches"))):
        base = f"spec.configPatches[{i}]"
        found.extend(_outbound(as_dict(entry), base))
        found.extend(_protected(as_dict(entry), base))
    return Findings(violations=tuple(found))
