"""The mesh config's ``defaultConfig``: the proxy configuration every proxy starts from.

A workload may set only some of its proxy's configuration (``proxy.istio.io/config``, judged
by :mod:`webhook.engine.proxy_override`); ``defaultConfig`` in the mesh config sets the same
fields for every proxy at once. So from an untrusted principal, a ``defaultConfig`` setting
what ``proxy-override`` refuses on a pod is ``mesh-config``, judged by the same rules (the
mesh's own istiod, in-cluster tracing collectors and the like are fine). Istio reads the field
as ``defaultConfig`` or ``default_config``; any other spelling, or both, cannot be read
confidently and is refused. Each problem carries its text as its value, so an UPDATE keeping
a setting the mesh config already had is only warned about.
"""

from __future__ import annotations

import re
from typing import Any

from webhook.engine.context import Context
from webhook.engine.proxy_override import (
    ProxyConfigJudge,
    UnreadableConfig,
    judge_fields,
    read_proxy_config,
)
from webhook.model.decision import Code, Violation

SPELLINGS = ("defaultConfig", "default_config")
PATH = "data.mesh.defaultConfig"
ASK = "only the security team sets what every proxy runs with"


def _violation(message: str, value: str) -> Violation:
    return Violation(Code.MESH_CONFIG, message[:200], PATH, infrastructure=True, value=value)


def _folded(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _default_config(mesh: dict[str, Any]) -> Any:
    """The defaultConfig mapping; raises UnreadableConfig when its spelling is doubtful."""
    found = [key for key in mesh if _folded(str(key)) == "defaultconfig"]
    if len(found) > 1:
        raise UnreadableConfig("defaultConfig is given twice")
    if not found:
        return None
    if found[0] not in SPELLINGS:
        raise UnreadableConfig(f"{found[0][:40]!r} is not how Istio spells defaultConfig")
    return mesh[found[0]]


def judge_default_config(ctx: Context, text: str) -> list[Violation]:
    """``mesh-config`` for each field of ``defaultConfig`` a pod could not set for itself."""
    try:
        default = _default_config(read_proxy_config(text))
    except UnreadableConfig as error:
        reason = f"the mesh config cannot be read confidently ({str(error)[:80]})"
        return [_violation(f"{reason}; write it plainly; {ASK}", "unreadable")]
    if default is None:
        return []
    if not isinstance(default, dict):
        return [_violation(f"defaultConfig is not a mapping; {ASK}", "not a mapping")]
    problems = judge_fields(default, ProxyConfigJudge.of(ctx.policy.config))
    return [_violation(f"mesh defaultConfig, for every proxy: {problem}; {ASK}", problem)
            for problem in problems]
