"""The ``admission.k8s.io/v1`` AdmissionReview wire format, typed in one place.

Every field name the API server sends or expects (``uid``, ``patchType``, ``dryRun``,
``userInfo``, ``subResource``, ...) is spelled here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

ADMISSION_API_VERSION = "admission.k8s.io/v1"
ADMISSION_KIND = "AdmissionReview"

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
OPERATIONS: frozenset[str] = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
JSONObject = dict[str, Any]


class MalformedReview(ValueError):
    """The body is not an AdmissionReview we can judge; the server answers 400."""


class StatusWire(TypedDict, total=False):
    code: int
    message: str
    reason: str


class ResponseWire(TypedDict):
    uid: str
    allowed: bool
    status: NotRequired[StatusWire]
    patch: NotRequired[str]
    patchType: NotRequired[Literal["JSONPatch"]]
    warnings: NotRequired[list[str]]
    auditAnnotations: NotRequired[dict[str, str]]


class ReviewResponseWire(TypedDict):
    apiVersion: str
    kind: str
    response: ResponseWire


@dataclass(frozen=True, slots=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str


@dataclass(frozen=True, slots=True)
class GroupVersionResource:
    group: str
    version: str
    resource: str


@dataclass(frozen=True, slots=True)
class UserInfo:
    username: str = ""
    groups: tuple[str, ...] = ()
    uid: str = ""


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """The ``request`` of an AdmissionReview, checked for shape but not for policy."""

    uid: str
    kind: GroupVersionKind
    operation: str
    resource: GroupVersionResource = GroupVersionResource("", "", "")
    sub_resource: str = ""
    name: str = ""
    namespace: str = ""
    user: UserInfo = UserInfo()
    object: JSONObject | None = None
    old_object: JSONObject | None = None
    dry_run: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def _str(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedReview(f"{where} must be a string")
    return value


def _object(value: Any, where: str) -> JSONObject | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedReview(f"{where} must be an object or null")
    return value


def _gvk(value: Any, where: str) -> GroupVersionKind:
    if not isinstance(value, dict):
        raise MalformedReview(f"{where} must be an object with group, version and kind")
    kind = _str(value.get("kind"), f"{where}.kind")
    if not kind:
        raise MalformedReview(f"{where}.kind is required")
    return GroupVersionKind(
        _str(value.get("group"), f"{where}.group"),
        _str(value.get("version"), f"{where}.version"),
        kind,
    )


def _gvr(value: Any) -> GroupVersionResource:
    if not isinstance(value, dict):
        return GroupVersionResource("", "", "")
    return GroupVersionResource(
        _str(value.get("group"), "request.resource.group"),
        _str(value.get("version"), "request.resource.version"),
        _str(value.get("resource"), "request.resource.resource"),
    )


def _user(value: Any) -> UserInfo:
    if value is None:
        return UserInfo()
    if not isinstance(value, dict):
        raise MalformedReview("request.userInfo must be an object")
    groups = value.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise MalformedReview("request.userInfo.groups must be a list of strings")
    return UserInfo(
        _str(value.get("username"), "request.userInfo.username"),
        tuple(groups),
        _str(value.get("uid"), "request.userInfo.uid"),
    )


def parse_review(body: Any) -> AdmissionRequest:
    """Reads a decoded AdmissionReview; raises :class:`MalformedReview` naming what is wrong."""
    if not isinstance(body, dict):
        raise MalformedReview("the body must be a JSON object (an AdmissionReview)")
    if body.get("apiVersion") != ADMISSION_API_VERSION:
        raise MalformedReview(f"apiVersion must be {ADMISSION_API_VERSION}")
    if body.get("kind") != ADMISSION_KIND:
        raise MalformedReview(f"kind must be {ADMISSION_KIND}")
    request = body.get("request")
    if not isinstance(request, dict):
        raise MalformedReview("request is missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise MalformedReview("request.uid is missing or empty")
    operation = request.get("operation")
    if operation not in OPERATIONS:
        raise MalformedReview("request.operation must be CREATE, UPDATE, DELETE or CONNECT")
    dry_run = request.get("dryRun", False)
    if dry_run is not None and not isinstance(dry_run, bool):
        raise MalformedReview("request.dryRun must be a boolean")
    if operation in ("CREATE", "UPDATE") and not isinstance(request.get("object"), dict):
        # The API server always sends the object being written; without it there is nothing
        # to judge, and nothing may be admitted unjudged.
        raise MalformedReview(f"request.object is missing for a {operation}")
    return AdmissionRequest(
        uid=uid,
        kind=_gvk(request.get("kind"), "request.kind"),
        operation=operation,
        resource=_gvr(request.get("resource")),
        sub_resource=_str(request.get("subResource"), "request.subResource"),
        name=_str(request.get("name"), "request.name"),
        namespace=_str(request.get("namespace"), "request.namespace"),
        user=_user(request.get("userInfo")),
        object=_object(request.get("object"), "request.object"),
        old_object=_object(request.get("oldObject"), "request.oldObject"),
        dry_run=bool(dry_run),
    )


def review_response(response: ResponseWire) -> ReviewResponseWire:
    return {"apiVersion": ADMISSION_API_VERSION, "kind": ADMISSION_KIND, "response": response}


def request_for_object(
    obj: JSONObject,
    *,
    uid: str,
    user: UserInfo,
    operation: str = "CREATE",
    namespace: str = "",
    dry_run: bool = False,
) -> AdmissionRequest:
    """The request the API server would send for a plain object (used offline by the CLI)."""
    api_version = _str(obj.get("apiVersion"), "apiVersion")
    group, _, version = api_version.rpartition("/")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    return AdmissionRequest(
        uid=uid,
        kind=GroupVersionKind(group, version, _str(obj.get("kind"), "kind")),
        operation=operation,
        name=_str(metadata.get("name"), "metadata.name"),
        namespace=namespace or _str(metadata.get("namespace"), "metadata.namespace"),
        user=user,
        object=obj if operation != "DELETE" else None,
        old_object=obj if operation == "DELETE" else None,
        dry_run=dry_run,
    )
