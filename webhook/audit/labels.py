"""Entitlement labels a pod carries against those it is entitled to now.

A pod gets its labels when it is created; a grant revoked or lapsed since leaves it with a
label (and so access) it should no longer have, and a grant added since leaves it without
one until it is recreated. What it is entitled to now is asked of the engine itself: the
pod, without its entitlement labels, judged as a CREATE with violations not counted (mode
``off``), is patched with exactly the labels it would get today.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from webhook.engine import evaluate
from webhook.model.review import UserInfo, request_for_object
from webhook.model.rules import Mode, Policy

LABELS_PATH = "/metadata/labels/"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def entitled_labels(pod: Mapping[str, Any], namespace: str, policy: Policy, *,
                    now: datetime) -> frozenset[str]:
    """The entitlement label keys the pod's identity gets on a CREATE now."""
    prefix = policy.config.entitlement_prefix
    meta = pod.get("metadata") if isinstance(pod.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    assert isinstance(labels, dict)
    kept = {k: v for k, v in labels.items() if not str(k).startswith(prefix)}
    bare = {**pod, "metadata": {**meta, "labels": kept}}
    request = request_for_object(bare, uid="audit-entitlement", user=UserInfo(),
                                 namespace=namespace)
    decision = evaluate(request, policy, now=now,
                        namespace_labels={policy.config.mode_label: Mode.OFF.value})
    return frozenset(
        _unescape(str(op["path"])[len(LABELS_PATH):]) for op in decision.patch
        if op.get("op") == "add" and str(op.get("path", "")).startswith(LABELS_PATH)
    )


def label_drift(pod: Mapping[str, Any], namespace: str, policy: Policy, *,
                now: datetime) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(stale, missing): entitlement labels the pod has but is not entitled to, and labels
    it is entitled to but lacks (or holds with a value other than "true")."""
    prefix = policy.config.entitlement_prefix
    meta = pod.get("metadata") if isinstance(pod.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    assert isinstance(labels, dict)
    entitled = entitled_labels(pod, namespace, policy, now=now)
    present = {str(k) for k in labels if str(k).startswith(prefix)}
    stale = tuple(sorted(present - entitled))
    missing = tuple(sorted(k for k in entitled if labels.get(k) != "true"))
    return stale, missing
