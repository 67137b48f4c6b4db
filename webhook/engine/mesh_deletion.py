"""Deleting the mesh's own configuration: ``mesh-config``.

Without its ``istio`` (or ``istio-<rev>``) ConfigMap, istiod serves Istio's built-in mesh
config, whose ``outboundTrafficPolicy`` is ``ALLOW_ANY``; without the injector's
ConfigMaps it injects no proxy the rules' checks expect. Deleting either undoes what the
mesh-config checks hold for its CREATEs and UPDATEs, so from an untrusted principal it is
refused as they are. A DELETE that does not say what it deletes (no ``oldObject``) of a
name that could be either is judged as deleting it.
"""

from __future__ import annotations

from webhook.engine import fieldpath
from webhook.engine.context import Context
from webhook.engine.injector import is_injector_configmap
from webhook.engine.meshconfig import MESH_CONFIGMAP, mesh_configmap_name
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject

ASK = "change it instead, or ask the security team"


def _named_like_mesh_config(ctx: Context) -> bool:
    name = ctx.request.name
    root = ctx.policy.config.mesh_root_namespace
    named = name == MESH_CONFIGMAP or name.startswith(f"{MESH_CONFIGMAP}-")
    return ctx.namespace == root and named


def judge_mesh_config_deletion(
    ctx: Context, old: JSONObject | None, new: JSONObject | None
) -> tuple[Violation, ...]:
    if ctx.request.operation != "DELETE":
        return ()
    subject = old if old is not None else {}
    name = fieldpath.shown(ctx.request.name)
    if is_injector_configmap(ctx, subject):
        message = (f"deleting the sidecar injector's ConfigMap {name} leaves istiod without "
                   f"the templates that capture a pod's traffic; {ASK}")
    elif mesh_configmap_name(ctx, subject) is not None or (
            old is None and _named_like_mesh_config(ctx)):
        message = (f"deleting the mesh config ConfigMap {name} makes istiod serve Istio's "
                   f"defaults, outboundTrafficPolicy ALLOW_ANY among them; {ASK}")
    else:
        return ()
    return (Violation(Code.MESH_CONFIG, message, "metadata.name", infrastructure=True,
                      value=ctx.request.name),)
