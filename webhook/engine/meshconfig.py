"""The mesh config: ConfigMap ``istio`` (and a revision's ``istio-<rev>``) in the mesh root
namespace, its ``mesh`` key.

Istio reads ``data.mesh`` as YAML over its built-in defaults, and the default
``outboundTrafficPolicy.mode`` is ``ALLOW_ANY``. So a mesh config that does not say
``REGISTRY_ONLY`` leaves the mesh open just as one that says ``ALLOW_ANY``: both are
``sidecar-allow-any``. Istio accepts the field as ``outboundTrafficPolicy`` or
``outbound_traffic_policy`` and the mode as a name or a number (``1`` is ``ALLOW_ANY``);
``ALLOW_ANY_DYNAMIC_DNS`` (``3``, Istio 1.31) lets traffic out to any host as well. The
``defaultConfig`` every proxy starts from is judged by :mod:`webhook.engine.mesh_defaults`.

Text this engine cannot read confidently is refused with a message saying so (fail closed):
YAML that :func:`webhook.syntax.yamlstrict.read_strict` refuses (a key given twice among it),
and keys that a lenient parser might read differently from Istio — a case or punctuation
variant such as ``OutboundTrafficPolicy`` (RELIABILITY 24). Other ConfigMaps are not judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from webhook.engine.context import Context, Findings, as_dict, metadata
from webhook.engine.mesh_defaults import judge_default_config
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject
from webhook.syntax.yamlstrict import YamlError, read_strict

MESH_CONFIGMAP = "istio"
INJECTOR = "istio-sidecar-injector"
MESH_KEY = "mesh"
POLICY_KEYS = ("outboundTrafficPolicy", "outbound_traffic_policy")
MODE_PATH = "data.mesh.outboundTrafficPolicy.mode"
UNREADABLE_PATH = "data.mesh"
FIX = "set outboundTrafficPolicy.mode: REGISTRY_ONLY"
# Real mesh configs are a few KiB; reading is linear but not free, and webhooks must be quick.
MAX_TEXT = 256 * 1024


@dataclass(frozen=True, slots=True)
class OutboundMode:
    """What the mesh config makes of outbound traffic: open or not, and why."""

    allow_any: bool
    reason: str = ""  # why it is open; empty when registry-only
    unreadable: bool = False


REGISTRY_ONLY = OutboundMode(allow_any=False)
_ABSENT = object()


def _folded(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _single(node: dict[str, Any], names: tuple[str, ...], where: str) -> Any:
    """The value of the one key spelled as ``names`` (``_ABSENT`` when there is none); an
    OutboundMode when that is doubtful."""
    folded = _folded(names[0])
    found = [(key, value) for key, value in node.items() if _folded(key) == folded]
    if len(found) > 1:
        return _unreadable(f"{where} is given {len(found)} times")
    if not found:
        return _ABSENT
    key, value = found[0]
    if key not in names:
        return _unreadable(f"{key[:40]!r} is not how Istio spells {names[0]}")
    return value


def _unreadable(reason: str) -> OutboundMode:
    return OutboundMode(allow_any=True, reason=reason, unreadable=True)


def _default(reason: str) -> OutboundMode:
    return OutboundMode(allow_any=True, reason=f"{reason}, so Istio's default ALLOW_ANY applies")


def read_outbound_mode(text: str) -> OutboundMode:
    """How the mesh config text sets the outbound traffic policy, read the strict way."""
    if len(text) > MAX_TEXT:
        return _unreadable(f"the mesh config is larger than {MAX_TEXT // 1024} KiB")
    try:
        root = read_strict(text).value
    except YamlError as error:
        return _unreadable(f"the mesh config cannot be read confidently: {error}")
    if root is None:
        return _default("the mesh config is empty")
    if not isinstance(root, dict):
        return _unreadable("the mesh config is not a mapping")
    policy = _single(root, POLICY_KEYS, "outboundTrafficPolicy")
    if isinstance(policy, OutboundMode):
        return policy
    if policy is _ABSENT or policy is None:
        return _default("the mesh config does not set outboundTrafficPolicy")
    if not isinstance(policy, dict):
        return _unreadable("outboundTrafficPolicy is not a mapping")
    mode = _single(policy, ("mode",), "outboundTrafficPolicy.mode")
    if isinstance(mode, OutboundMode):
        return mode
    if mode is _ABSENT:
        return _default("outboundTrafficPolicy has no mode")
    # The reader keeps quoted text as text, so '0' stays a string; bool is no number here.
    if mode == "REGISTRY_ONLY" or (type(mode) is int and mode == 0):
        return REGISTRY_ONLY
    if mode == "ALLOW_ANY" or (type(mode) is int and mode == 1):
        return OutboundMode(allow_any=True, reason="the mesh config sets ALLOW_ANY")
    if mode == "ALLOW_ANY_DYNAMIC_DNS" or (type(mode) is int and mode == 3):
        reason = "the mesh config sets ALLOW_ANY_DYNAMIC_DNS, which resolves any host"
        return OutboundMode(allow_any=True, reason=reason)
    return _unreadable("outboundTrafficPolicy.mode is neither REGISTRY_ONLY nor ALLOW_ANY")


def _has_mesh_key(obj: JSONObject | None) -> bool:
    return obj is not None and MESH_KEY in as_dict(obj.get("data"))


def mesh_configmap_name(ctx: Context, obj: JSONObject) -> str | None:
    """``istio``, or a revision's ``istio-<rev>`` (one with a mesh key, or replacing one);
    None for any other ConfigMap. The injector's ConfigMaps are never mesh configs."""
    if ctx.namespace != ctx.policy.config.mesh_root_namespace:
        return None
    name = metadata(obj).get("name") or ctx.request.name
    if not isinstance(name, str) or name.startswith(INJECTOR):
        return None
    if name == MESH_CONFIGMAP:
        return name
    revision = name.startswith(f"{MESH_CONFIGMAP}-")
    if revision and (_has_mesh_key(obj) or _has_mesh_key(ctx.request.old_object)):
        return name
    return None


def judge_mesh_config(ctx: Context, obj: JSONObject) -> Findings:
    """``sidecar-allow-any`` for a mesh config that leaves outbound traffic open;
    ``mesh-config`` for a ``defaultConfig`` setting what a pod may not set itself."""
    name = mesh_configmap_name(ctx, obj)
    if name is None:
        return Findings()
    data = as_dict(obj.get("data"))
    text = data.get(MESH_KEY)
    if text is None:
        mode = _default("the ConfigMap has no mesh key")
    elif not isinstance(text, str):
        mode = _unreadable("data.mesh is not text")
    else:
        mode = read_outbound_mode(text)
    # Text that cannot be read is refused once, below, as sidecar-allow-any.
    found = [] if mode.unreadable or text is None else judge_default_config(ctx, str(text))
    if not mode.allow_any:
        return Findings(violations=tuple(found))
    if mode.unreadable:
        message = f"{mode.reason[:120]}; write it plainly and {FIX}"
        path = UNREADABLE_PATH
    else:
        message = f"{mode.reason}; {FIX} in the {name} ConfigMap's mesh key"
        path = MODE_PATH
    found.append(Violation(Code.SIDECAR_ALLOW_ANY, message, path, infrastructure=True))
    return Findings(violations=tuple(found))
