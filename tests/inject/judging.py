"""Judge an object with the engine exactly as the policy cases and `validate` do."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from webhook.cli.validate import (
    Verdict,
    judge,
    namespace_labels_from_modes,
    request_for_document,
)
from webhook.loader import load_repository
from webhook.model.review import UserInfo
from webhook.model.rules import Policy

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Pods are created by controllers and people alike; neither is a trusted principal.
DEVELOPER = UserInfo(username="developer@example.com", groups=("system:authenticated",))


@cache
def example_policy() -> Policy:
    return load_repository(REPO / "rules").policy


def verdict(obj: dict[str, Any], *, default_namespace: str = "default") -> Verdict:
    """The engine's verdict on ``obj`` as a CREATE, in a namespace with no mode label
    (judged in the default mode, enforce)."""
    policy = example_policy()
    request = request_for_document(obj, user=DEVELOPER, default_namespace=default_namespace,
                                   uid="inject-corpus")
    return judge(request, policy, now=NOW,
                 namespace_labels=namespace_labels_from_modes(policy, {}))


def describe(result: Verdict) -> str:
    decision = result.decision
    return f"codes={list(decision.codes)} messages={list(decision.messages)}"
