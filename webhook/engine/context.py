"""What every check may read about the request being judged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webhook.model.decision import Violation
from webhook.model.review import AdmissionRequest, JSONObject
from webhook.model.rules import Policy


@dataclass(frozen=True, slots=True)
class Context:
    request: AdmissionRequest
    policy: Policy
    now: datetime
    namespace: str  # the object's, or request.namespace for pods from generateName
    trusted: bool  # the requester is one of the config's trusted principals


@dataclass(frozen=True, slots=True)
class Findings:
    """What a check found in one object.

    ``service_account`` is set for pods and pod templates: Exceptions naming a service
    account apply only to them; ``requested`` then holds the valid ``host:port`` entries of
    the request annotation. ``patch`` is the JSONPatch that adds entitlement labels.
    """

    violations: tuple[Violation, ...] = ()
    service_account: str | None = None
    patch: tuple[dict[str, Any], ...] = ()
    requested: tuple[str, ...] = ()


# Judges the state of one object (new or old); on UPDATE a violation found in both the
# old and the new object is not refused again.
StateCheck = Callable[[Context, JSONObject], Findings]
# Judges a change itself (old, new; either may be None): never diffed away on UPDATE.
TransitionCheck = Callable[[Context, JSONObject | None, JSONObject | None], tuple[Violation, ...]]


@dataclass(frozen=True, slots=True)
class KindHandler:
    state: StateCheck
    transition: TransitionCheck | None = None
    # Whether the kind's own transition check judges DELETE (managed-object judges every one).
    judge_delete: bool = False
    judge_connect: bool = False  # CONNECT is judged only for pods/exec and pods/attach


def metadata(obj: JSONObject) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def string_map(value: Any) -> dict[str, str]:
    """Labels or annotations as a str->str dict; anything else is dropped, never trusted."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def labels_of(obj: JSONObject) -> dict[str, str]:
    return string_map(metadata(obj).get("labels"))


def annotations_of(obj: JSONObject) -> dict[str, str]:
    return string_map(metadata(obj).get("annotations"))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
