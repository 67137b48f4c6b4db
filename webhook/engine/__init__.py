"""The policy engine: one pure function from an admission request to a Decision.

No HTTP, no files, no clock: the caller passes the rules snapshot, the namespace's labels
and ``now``. The webhook, the offline CLI and CI all call :func:`evaluate`, so a decision
in CI equals the decision in the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from webhook.engine.context import Context, Findings, KindHandler, metadata
from webhook.engine.kinds import handler_for_operation
from webhook.engine.managed import deletion_empties_namespace, judge_managed_change
from webhook.engine.modes import resolve_mode
from webhook.engine.verdict import Judged, decide
from webhook.model.decision import Decision
from webhook.model.review import AdmissionRequest
from webhook.model.rules import Mode, Policy

__all__ = ["Decision", "evaluate", "namespace_of", "resolve_mode"]


def namespace_of(request: AdmissionRequest) -> str:
    """The namespace an object lives in; "" for cluster-scoped objects.

    The API server puts a Namespace's own name in ``request.namespace``; a Namespace lives
    in no namespace, so the Exceptions and mode of the namespace it names never apply to it.
    """
    if (request.kind.group, request.kind.kind) == ("", "Namespace"):
        return ""
    if request.namespace:
        return request.namespace
    for obj in (request.object, request.old_object):
        if obj is not None:
            value = metadata(obj).get("namespace")
            if isinstance(value, str) and value:
                return value
    return ""


def _is_exempt_namespace_object(request: AdmissionRequest, policy: Policy) -> bool:
    """A Namespace object named in exemptNamespaces is left out like its contents."""
    if (request.kind.group, request.kind.kind) != ("", "Namespace"):
        return False
    obj = request.object if request.object is not None else request.old_object
    name = request.name or (metadata(obj).get("name") if obj is not None else "")
    return isinstance(name, str) and name in policy.config.exempt_namespaces


def _judge(ctx: Context, handler: KindHandler) -> Judged:
    request = ctx.request
    new, old = request.object, request.old_object
    # DELETE takes a state away rather than adding one: only transition checks judge it
    # (the kind's own where it judges DELETE, and managed-object for every kind).
    found = handler.state(ctx, new) if new is not None else Findings()
    violations = list(found.violations)
    preexisting = []
    if request.operation == "UPDATE" and new is not None and old is not None:
        before = {v.key for v in handler.state(ctx, old).violations}
        preexisting = [v for v in violations if v.key in before]
        violations = [v for v in violations if v.key not in before]
    deleting = request.operation == "DELETE"
    if handler.transition is not None and (handler.judge_delete or not deleting):
        violations.extend(handler.transition(ctx, old, new))
    if request.operation in ("UPDATE", "DELETE"):
        # Where the kind's own check already refuses the change at the managed-by label
        # (NetworkPolicies, with netpol-open-egress since v1), it is not reported twice.
        claimed = {v.path for v in violations}
        violations.extend(
            v for v in judge_managed_change(ctx, old, new) if v.path not in claimed
        )
    return Judged(
        violations=tuple(violations),
        preexisting=tuple(preexisting),
        service_account=found.service_account,
        patch=found.patch,
        requested=found.requested,
    )


def evaluate(
    request: AdmissionRequest,
    policy: Policy,
    *,
    now: datetime,
    namespace_labels: Mapping[str, str] | None,
    cluster_scoped: bool | None = None,
    namespace_terminating: bool = False,
) -> Decision:
    """Judges one request against one rules snapshot.

    ``namespace_labels`` are the labels of the object's namespace, or ``None`` when they
    could not be read (judged as ``enforce``); ``namespace_terminating`` says the namespace
    is being deleted, so its objects' DELETEs are admitted. The function never raises on any
    object shape: a value it cannot read is judged as the stricter reading.
    """
    config = policy.config
    handler = handler_for_operation(request.kind.group, request.kind.kind, request.operation)
    namespace = namespace_of(request)
    if handler is None:
        return Decision(allowed=True, mode=config.default_mode)
    if namespace in config.exempt_namespaces or _is_exempt_namespace_object(request, policy):
        return Decision(allowed=True, mode=Mode.OFF)
    if deletion_empties_namespace(request, namespace_terminating=namespace_terminating):
        return Decision(allowed=True, mode=config.default_mode)
    if request.operation == "CONNECT":
        if not handler.judge_connect:
            return Decision(allowed=True, mode=config.default_mode)
        # The options object names the container; a CONNECT without one is judged as empty.
        if request.object is None:
            request = replace(request, object={})

    if cluster_scoped is None:
        # The API server fills request.namespace with a Namespace's own name (since 1.20),
        # yet a Namespace is cluster-scoped and always judged in enforce mode (SPEC §3).
        is_namespace = (request.kind.group, request.kind.kind) == ("", "Namespace")
        cluster_scoped = is_namespace or not namespace
    notes: tuple[str, ...] = ()
    if cluster_scoped:
        mode = Mode.ENFORCE
    else:
        mode, notes = resolve_mode(config, namespace_labels)
    trusted = config.trusted.trusts(request.user.username, request.user.groups)
    ctx = Context(request=request, policy=policy, now=now, namespace=namespace, trusted=trusted)
    return decide(
        _judge(ctx, handler),
        policy=policy,
        mode=mode,
        namespace=namespace,
        trusted=trusted,
        now=now,
        notes=notes,
    )
