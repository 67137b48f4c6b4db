"""CiliumEnvoyConfig and CiliumClusterwideEnvoyConfig (``cilium.io/v2``): the node's Envoy.

With Cilium's L7 traffic management, a CiliumEnvoyConfig hands Envoy resources (listeners,
clusters, routes, ``spec.resources``) to the Envoy that Cilium runs on each node, outside
every pod, and its ``spec.services`` redirect the traffic of Kubernetes Services to those
listeners. That Envoy connects upstream from the node: outside every pod's NetworkPolicy (the
fence lets pods reach in-cluster Services, so a pod can reach the redirected one) and outside
the mesh. Whoever writes one can give the pods that reach one of its Services a path to any
address, around the egress gateways.

What a set of Envoy resources can reach does not show in its shape (static and DNS clusters,
original-destination clusters, dynamic forward proxies, gRPC services dialled by URI), so from
an untrusted principal every CiliumEnvoyConfig is ``egress-route``: external routes come from
the rules repository. Cilium's operator writes them for Cilium's Ingress and Gateway API, and
must be a trusted principal where those run.

An UPDATE that leaves ``spec`` as it was (labels, annotations) introduces nothing: the
violation's value is a digest of ``spec``, so only a changed ``spec`` is refused.
"""

from __future__ import annotations

import hashlib

import orjson

from webhook.engine.context import Context, Findings
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject


def _spec_digest(obj: JSONObject) -> str:
    """A digest of ``spec``. One that is this object's alone when ``spec`` cannot be encoded
    (nested past the encoder's depth): the old and the new object of an UPDATE then never
    share it, and the UPDATE is judged as new."""
    try:
        text = orjson.dumps(obj.get("spec"), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return f"unencodable:{id(obj)}"
    return "sha256:" + hashlib.sha256(text).hexdigest()[:16]


def judge_envoy_config(ctx: Context, obj: JSONObject) -> Findings:
    kind = ctx.request.kind.kind
    message = (
        f"a {kind} configures the Envoy Cilium runs on each node, which connects from the "
        "node, outside every pod's NetworkPolicy and the egress gateways; send external "
        "traffic through a Destination in the rules repo, or ask the security team to apply "
        "this as a trusted principal"
    )
    violation = Violation(Code.EGRESS_ROUTE, message, "spec", infrastructure=True,
                          value=_spec_digest(obj))
    return Findings(violations=(violation,))
