"""The sidecar injector's ConfigMaps: ``istio-sidecar-injector`` and ``-<revision>`` in the
mesh root namespace (``mesh-config``).

Istio renders every injected pod from two keys. ``values`` holds the Helm values the
injection templates read (Istio's chart writes them as JSON, which this reader requires; Istio
also accepts YAML); a value that leaves traffic uncaptured is refused:

- ``global.proxy.excludeIPRanges`` or ``excludeOutboundPorts`` not empty, an
  ``includeIPRanges`` other than ``*`` (the defaults of the pod annotations of the same names);
- ``global.proxy.autoInject`` other than ``enabled`` (the injector's policy: ``disabled``
  injects only pods that ask);
- ``sidecarInjectorWebhook.neverInjectSelector`` not empty, or ``injectedAnnotations`` setting
  a ``traffic.sidecar.istio.io/`` annotation or ``sidecar.istio.io/inject``.

``config`` holds the injection templates themselves (Go templates that write the proxy and
``istio-init`` into every pod), the policy and the selectors: text no check can read for its
effect, so any change to it by an untrusted principal is refused (the violation carries a
digest of the text: a ConfigMap updated without touching it is only warned about).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings, as_dict, metadata
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject

INJECTOR = "istio-sidecar-injector"
ASK = "only the security team changes the sidecar injector"
# (path under values, what the value must be, why); None = absent or empty.
CAPTURE_VALUES: tuple[tuple[tuple[str, ...], str | None, str], ...] = (
    (("global", "proxy", "excludeIPRanges"), None, "excludes address ranges from capture"),
    (("global", "proxy", "excludeOutboundPorts"), None, "excludes ports from capture"),
    (("global", "proxy", "includeIPRanges"), "*", "captures only some address ranges"),
    (("global", "proxy", "autoInject"), "enabled", "injects only pods that ask"),
)
INTERCEPTION_ANNOTATIONS = ("traffic.sidecar.istio.io/", "sidecar.istio.io/inject")
MAX_TEXT = 1024 * 1024


def is_injector_configmap(ctx: Context, obj: JSONObject) -> bool:
    name = metadata(obj).get("name") or ctx.request.name
    named = name == INJECTOR or (isinstance(name, str) and name.startswith(f"{INJECTOR}-"))
    return named and ctx.namespace == ctx.policy.config.mesh_root_namespace


def _violation(message: str, path: str, value: str = "") -> Violation:
    return Violation(Code.MESH_CONFIG, message, path, infrastructure=True, value=value)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its pairs, duplicates kept."""


def _read_values(text: str) -> dict[str, Any] | str:
    """The values as a dict, or why they cannot be read confidently."""
    if len(text) > MAX_TEXT:
        return "values larger than 1 MiB"
    try:
        parsed = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return "values are not JSON (write them as Istio's chart does)"
    stack: list[Any] = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, _Pairs):
            keys = [k for k, _ in node]
            if len(set(keys)) != len(keys):
                return "a key is given twice in values"
            stack.extend(v for _, v in node)
        elif isinstance(node, list):
            stack.extend(node)
    if not isinstance(parsed, _Pairs):
        return "values are not a JSON object"
    return _as_dicts(parsed)  # type: ignore[no-any-return]


def _as_dicts(node: Any) -> Any:
    if isinstance(node, _Pairs):
        return {k: _as_dicts(v) for k, v in node}
    if isinstance(node, list):
        return [_as_dicts(v) for v in node]
    return node


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _judge_values(values: dict[str, Any]) -> list[Violation]:
    found: list[Violation] = []
    for path, expected, why in CAPTURE_VALUES:
        value = _lookup(values, path)
        if value is None or value == "" or value == expected:
            continue
        where = "data.values." + ".".join(path)
        shown = fieldpath.shown(value)
        message = f"injector value {'.'.join(path)}={shown} {why} for every pod; {ASK}"
        found.append(_violation(message, where, shown))
    webhook = as_dict(values.get("sidecarInjectorWebhook"))
    if webhook.get("neverInjectSelector"):
        message = f"injector neverInjectSelector keeps the pods it selects out of the mesh; {ASK}"
        found.append(_violation(message, "data.values.sidecarInjectorWebhook.neverInjectSelector",
                                json.dumps(webhook["neverInjectSelector"], sort_keys=True)))
    for key in as_dict(webhook.get("injectedAnnotations")):
        if str(key).startswith(INTERCEPTION_ANNOTATIONS):
            where = fieldpath.key("data.values.sidecarInjectorWebhook.injectedAnnotations", key)
            message = f"injector adds annotation {fieldpath.shown(key)} to every pod; {ASK}"
            found.append(_violation(message, where, str(key)))
    return found


def judge_injector(ctx: Context, obj: JSONObject) -> Findings:
    """``mesh-config`` for injector values that leave traffic uncaptured, and the templates."""
    if not is_injector_configmap(ctx, obj):
        return Findings()
    data = as_dict(obj.get("data"))
    found: list[Violation] = []
    values = data.get("values")
    if values is not None:
        read = _read_values(values) if isinstance(values, str) else "values are not text"
        if isinstance(read, str):
            found.append(_violation(f"{read}; {ASK}", "data.values"))
        else:
            found.extend(_judge_values(read))
    config = data.get("config")
    if config is not None:
        digest = hashlib.sha256(str(config).encode()).hexdigest()[:16]
        message = (
            "the injector's config (templates, policy, selectors) decides how every pod is "
            f"captured; {ASK}"
        )
        found.append(_violation(message, "data.config", digest))
    return Findings(violations=tuple(found))
