"""Judging a cluster's objects with the webhook's engine, purely.

Each object is judged as the admission path would judge its CREATE now: the same
``webhook.engine.evaluate``, the namespace's labels (so its mode), by a principal the rules
do not trust, so that an object a team could not create today is listed whoever created
it. Two things are left out on purpose, and said so in the docs:

- objects egressguard applied itself (its managed-by label and its field manager): they
  are the rules' own output, reviewed with the rules;
- the mode label of a Namespace: the audit reads each namespace's mode from it, and only
  changing it is refused (``namespace-mode``), never having it.

A namespace not in enforce mode is judged a second time as enforce, which is what the
warn -> enforce readiness line reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from webhook.audit.findings import Audit, Finding, LabelDrift, Readiness, Result, Violated
from webhook.audit.labels import label_drift
from webhook.audit.owners import Owners, ref_of
from webhook.audit.snapshot import Document, Snapshot, labels_of, metadata
from webhook.controller.desired import owned_by_us
from webhook.engine import Decision, evaluate, resolve_mode
from webhook.model.review import UserInfo, request_for_object
from webhook.model.rules import Mode, Policy

NOBODY = UserInfo(username="system:egressguard:audit")


def _group_kind(document: Mapping[str, Any]) -> tuple[str, str]:
    return str(document.get("apiVersion") or "").rpartition("/")[0], str(document.get("kind"))


def _for_judging(document: Document, policy: Policy) -> Document:
    if _group_kind(document) != ("", "Namespace"):
        return document
    meta = dict(metadata(document))
    meta["labels"] = {k: v for k, v in labels_of(document).items()
                      if k != policy.config.mode_label}
    return {**document, "metadata": meta}


def _judge(document: Document, policy: Policy, *, now: datetime,
           labels: Mapping[str, str] | None) -> Decision:
    namespace = str(metadata(document).get("namespace") or "")
    request = request_for_object(document, uid="audit", user=NOBODY, namespace=namespace)
    return evaluate(request, policy, now=now, namespace_labels=labels)


def audit(snapshot: Snapshot, policy: Policy, *, now: datetime) -> Audit:
    """Everything the audit reports about ``snapshot`` under ``policy`` at ``now``."""
    config = policy.config
    exempt = config.exempt_namespaces
    owners = Owners([*snapshot.objects, *snapshot.extra_owners.values()])
    judged = sorted(set(snapshot.namespaces) - exempt)
    findings: list[Finding] = []
    drift: list[LabelDrift] = []
    blockers: dict[str, dict[str, int]] = {namespace: {} for namespace in judged}
    refused: dict[str, int] = dict.fromkeys(judged, 0)
    judged_objects = 0
    for document in snapshot.objects:
        namespace = str(metadata(document).get("namespace") or "")
        if namespace in exempt or (isinstance(document.get("metadata"), dict)
                                   and owned_by_us(document)):
            continue
        if _group_kind(document) == ("", "Namespace") and \
                str(metadata(document).get("name")) in exempt:
            continue
        judged_objects += 1
        subject = _for_judging(document, policy)
        labels = snapshot.namespaces.get(namespace) if namespace else {}
        decision = _judge(subject, policy, now=now, labels=labels)
        ref, owner = ref_of(document), owners.top(document)
        if decision.violations:
            findings.append(Finding(
                ref, Result.REFUSED if not decision.allowed else Result.WARNED,
                tuple(Violated(v.code.value, v.message) for v in decision.violations), owner))
        if namespace in blockers:
            if decision.mode is not Mode.ENFORCE:
                forced = {**(labels or {}), config.mode_label: Mode.ENFORCE.value}
                decision = _judge(subject, policy, now=now, labels=forced)
            if not decision.allowed:
                refused[namespace] += 1
                for code in dict.fromkeys(v.code.value for v in decision.violations):
                    blockers[namespace][code] = blockers[namespace].get(code, 0) + 1
        if _group_kind(document) == ("", "Pod") and namespace:
            stale, missing = label_drift(document, namespace, policy, now=now)
            if stale or missing:
                spec = document.get("spec")
                account = str((spec.get("serviceAccountName") if isinstance(spec, dict)
                               else None) or "default")
                drift.append(LabelDrift(ref, account, stale, missing, owner))
    readiness = tuple(
        Readiness(namespace, resolve_mode(config, snapshot.namespaces.get(namespace))[0].value,
                  namespace in snapshot.fenced, blockers[namespace], refused[namespace])
        for namespace in judged
    )
    return Audit(
        findings=tuple(sorted(findings, key=lambda f: (f.object.namespace, f.object.kind,
                                                       f.object.name))),
        labels=tuple(sorted(drift, key=lambda d: (d.pod.namespace, d.pod.name))),
        unfenced=tuple(namespace for namespace in judged if namespace not in snapshot.fenced),
        readiness=readiness,
        unserved=snapshot.unserved,
        unreadable=snapshot.unreadable,
        objects=judged_objects,
    )
