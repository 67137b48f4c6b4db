"""The environment of the mesh's own containers, and how a problem with it is reported.

Each variable is judged by a rule for its name (what its value does); a variable with no
rule, one taken from a Secret or ConfigMap (``valueFrom``, ``envFrom``) whose content is not
in the object, or one without a name is refused: its effect cannot be known here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from webhook.engine import fieldpath
from webhook.engine.context import as_dict, as_list
from webhook.engine.mesh_containers import MeshPod
from webhook.engine.podspec import ContainerView
from webhook.engine.proxy_override import ProxyConfigJudge, judge_proxy_config_json
from webhook.model.decision import Code, Violation

# Variables of istio-proxy that switch the capture off, or tell the control plane it is.
CAPTURE_SETTINGS = frozenset({"ISTIO_META_INTERCEPTION_MODE", "DISABLE_ENVOY"})
# A rule: (mesh, value) -> why the value lets traffic out, or "" when it is fine.
Rule = Callable[[MeshPod, str], str]


def problem(
    code: Code, container: ContainerView, what: str, why: str, path: str, value: str
) -> Violation:
    return Violation(code, f"{container.described} {what} {why}; remove it", path, value=value)


def env_values(container: ContainerView) -> Iterator[tuple[str, str]]:
    for item in as_list(container.body.get("env")):
        variable = as_dict(item)
        name, value = variable.get("name"), variable.get("value")
        if isinstance(name, str) and isinstance(value, str) and "valueFrom" not in variable:
            yield name, value


def judge_env(
    container: ContainerView,
    mesh: MeshPod,
    rule_of: Callable[[str], Rule | None],
    unknown: Code,
    *,
    downward: frozenset[str] = frozenset(),
    proxy_config: ProxyConfigJudge | None = None,
) -> Iterator[Violation]:
    env_path = fieldpath.key(container.path, "env")
    for item in as_list(container.body.get("env")):
        variable = as_dict(item)
        name = variable.get("name")
        if not isinstance(name, str):
            yield problem(
                unknown,
                container,
                "has an unnamed variable, which",
                "cannot be judged",
                env_path,
                "?",
            )
            continue
        path = fieldpath.key(env_path, name)
        value = variable.get("value")
        source = variable.get("valueFrom")
        if source is not None:
            if name in downward and set(as_dict(source)) <= {"fieldRef", "resourceFieldRef"}:
                continue
            yield problem(
                unknown,
                container,
                f"takes {fieldpath.shown(name)} from valueFrom, which",
                "cannot be judged",
                path,
                "valueFrom",
            )
            continue
        text = value if isinstance(value, str) else ""
        if proxy_config is not None and name == "PROXY_CONFIG":
            for issue in judge_proxy_config_json(text, proxy_config):
                yield Violation(
                    Code.PROXY_OVERRIDE,
                    f"{container.described} PROXY_CONFIG {issue}",
                    path,
                    value=text,
                )
            continue
        rule = rule_of(name)
        if rule is None:
            yield problem(
                unknown,
                container,
                f"sets {fieldpath.shown(name)}, which",
                "the injector never writes",
                path,
                text,
            )
            continue
        why = rule(mesh, text)
        if why:
            # A setting that narrows the capture is interception-excluded wherever it is.
            narrows = unknown is Code.INTERCEPTION_EXCLUDED or name in CAPTURE_SETTINGS
            yield problem(
                Code.INTERCEPTION_EXCLUDED if narrows else Code.PROXY_OVERRIDE,
                container,
                f"sets {name}={fieldpath.shown(text)}, which",
                why,
                path,
                text,
            )
    if container.body.get("envFrom"):
        yield problem(
            unknown,
            container,
            "takes its environment from envFrom, which",
            "cannot be judged",
            fieldpath.key(container.path, "envFrom"),
            "envFrom",
        )
