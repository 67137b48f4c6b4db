"""Namespaces: the labels that put a namespace in the mesh and set egressguard's mode.

Those labels configure how everything inside the namespace is judged, so they cannot be
changed by those they constrain (RELIABILITY 7): only trusted principals may opt a namespace
out of the mesh, and set, change or remove its mode label. Both codes are infrastructure
codes here; ``namespace-mode`` is also enforced whatever the namespace's mode.
"""

from __future__ import annotations

from webhook.engine import fieldpath
from webhook.engine.context import Context, Findings, labels_of
from webhook.model.decision import Code, Violation
from webhook.model.review import JSONObject

INJECTION = "istio-injection"
INJECTION_ON = "enabled"
DATAPLANE = "istio.io/dataplane-mode"
DATAPLANE_ON = "ambient"
MESH_LABELS = {INJECTION: INJECTION_ON, DATAPLANE: DATAPLANE_ON}
# The control plane revision whose injector serves the namespace: another value, or none,
# can leave its pods with no injector at all.
REVISION = "istio.io/rev"
ASK = "ask the security team"


def _violation(code: Code, message: str, label: str) -> Violation:
    return Violation(code, message, fieldpath.key("metadata.labels", label), infrastructure=True)


def judge_namespace(ctx: Context, obj: JSONObject) -> Findings:
    """``mesh-opt-out`` for a mesh label set to anything but its "in the mesh" value.

    Values are compared exactly, as Istio's injector selects ``istio-injection=enabled``:
    ``Enabled`` turns injection off as surely as ``disabled`` does.
    """
    labels = labels_of(obj)
    found: list[Violation] = []
    for label, on in MESH_LABELS.items():
        value = labels.get(label)
        if value is not None and value != on:
            message = (
                f"namespace label {label}={fieldpath.shown(value)} takes its pods out of the "
                f"mesh; set it to {on} or remove it, or {ASK}"
            )
            found.append(_violation(Code.MESH_OPT_OUT, message, label))
    return Findings(violations=tuple(found))


def judge_namespace_change(
    ctx: Context, old: JSONObject | None, new: JSONObject | None
) -> tuple[Violation, ...]:
    """``mesh-opt-out`` for removing a mesh label; ``namespace-mode`` for touching the mode.

    Adding a mode label to an existing namespace counts as changing it.
    """
    if new is None:
        return ()
    before = labels_of(old) if old is not None else {}
    after = labels_of(new)
    found: list[Violation] = []
    if old is not None:
        for label in MESH_LABELS:
            if label in before and label not in after:
                message = f"removing namespace label {label} may take pods out of the mesh; {ASK}"
                found.append(_violation(Code.MESH_OPT_OUT, message, label))
        if REVISION in before and before.get(REVISION) != after.get(REVISION):
            what = (
                f"changing namespace label {REVISION} to {fieldpath.shown(after[REVISION])}"
                if REVISION in after
                else f"removing namespace label {REVISION}"
            )
            message = f"{what} may leave its pods with no sidecar injector; {ASK}"
            found.append(_violation(Code.MESH_OPT_OUT, message, REVISION))
    mode_label = ctx.policy.config.mode_label
    if before.get(mode_label) != after.get(mode_label):
        if old is None:
            what = f"creating a namespace with label {mode_label}"
        elif mode_label not in after:
            what = f"removing label {mode_label}"
        else:
            what = f"setting label {mode_label}={fieldpath.shown(after[mode_label])}"
        message = f"{what} is refused: only the security team sets egressguard's mode"
        found.append(_violation(Code.NAMESPACE_MODE, message, mode_label))
    return tuple(found)
