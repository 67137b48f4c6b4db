"""Reviewing rules changes: the effective-access diff of two Policies, and ``explain``.

Pure like the engine: Policies and ``now`` in, values out. Loading the two sides (from
folders or git revisions) and printing belong to the CLI; this package imports only the
model and the engine, so what a pull request comment says is what the webhook decides.
"""

from webhook.review.access import EVERYONE, Principal, Reach, effective_access
from webhook.review.access_changes import AccessChange, Direction
from webhook.review.diff import PolicyDiff, diff_policies
from webhook.review.explain import (
    HostExplanation,
    IdentityExplanation,
    explain_host,
    explain_identity,
)
from webhook.review.risks import RiskFlag, RiskKind, risk_flags

__all__ = [
    "EVERYONE",
    "AccessChange",
    "Direction",
    "HostExplanation",
    "IdentityExplanation",
    "PolicyDiff",
    "Principal",
    "Reach",
    "RiskFlag",
    "RiskKind",
    "diff_policies",
    "effective_access",
    "explain_host",
    "explain_identity",
    "risk_flags",
]
