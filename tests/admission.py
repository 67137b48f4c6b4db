"""The one builder of admission requests for every test.

:func:`review` writes an AdmissionReview as the API server sends it (what server tests
POST); :func:`request` is the same review read by :func:`webhook.model.review.parse_review`,
the server's own reader (what engine tests pass to ``evaluate``). So an engine test judges
exactly what the server would have judged for the same review, and a field the reader
refuses fails the test that builds it rather than reaching the engine unread.

By default the kind comes from the object's ``apiVersion`` and ``kind``, the name and
namespace from its metadata (a Namespace's own name, as the API server sends it since
1.20); hostile objects whose metadata holds no strings give them explicitly.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from webhook.model.review import (
    ADMISSION_API_VERSION,
    ADMISSION_KIND,
    AdmissionRequest,
    GroupVersionKind,
    UserInfo,
    parse_review,
)

DEVELOPER = UserInfo(username="developer", groups=("system:authenticated",))
Kind = GroupVersionKind | tuple[str, str, str]
User = UserInfo | str

_uids = itertools.count(1)


def uid() -> str:
    """A fresh request uid, as the API server gives every review its own."""
    return f"00000000-0000-4000-8000-{next(_uids):012d}"


def kind_of(obj: dict[str, Any] | None) -> GroupVersionKind:
    """The group, version and kind an object's ``apiVersion`` and ``kind`` name."""
    body = obj or {}
    group, _, version = str(body.get("apiVersion", "v1")).rpartition("/")
    return GroupVersionKind(group, version, str(body.get("kind", "")))


def _metadata_string(obj: dict[str, Any] | None, key: str) -> str:
    metadata = (obj or {}).get("metadata")
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) else ""


def _user_wire(user: User, groups: Sequence[str] | None) -> dict[str, Any]:
    if isinstance(user, str):
        user = UserInfo(user, tuple(groups) if groups is not None else DEVELOPER.groups)
    wire: dict[str, Any] = {"username": user.username, "groups": list(user.groups)}
    if user.uid:
        wire["uid"] = user.uid
    return wire


def review(
    obj: dict[str, Any] | None,
    *,
    kind: Kind | None = None,
    operation: str = "CREATE",
    namespace: str | None = None,
    name: str | None = None,
    user: User = DEVELOPER,
    groups: Sequence[str] | None = None,
    old: dict[str, Any] | None = None,
    sub_resource: str = "",
    resource: str | None = None,
    dry_run: bool = False,
    request_uid: str | None = None,
) -> dict[str, Any]:
    """The AdmissionReview the API server sends for writing ``obj`` (or deleting ``old``)."""
    subject = obj if obj is not None else old
    gvk = kind_of(subject) if kind is None else (
        kind if isinstance(kind, GroupVersionKind) else GroupVersionKind(*kind))
    if name is None:
        name = _metadata_string(subject, "name")
    if namespace is None:
        namespace = (name if gvk.kind == "Namespace"
                     else _metadata_string(subject, "namespace"))
    request: dict[str, Any] = {
        "uid": request_uid or uid(),
        "kind": {"group": gvk.group, "version": gvk.version, "kind": gvk.kind},
        "resource": {"group": gvk.group, "version": gvk.version,
                     "resource": resource or gvk.kind.lower() + "s"},
        "operation": operation,
        "namespace": namespace,
        "name": name,
        "userInfo": _user_wire(user, groups),
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return {"apiVersion": ADMISSION_API_VERSION, "kind": ADMISSION_KIND, "request": request}


def request(obj: dict[str, Any] | None, **options: Any) -> AdmissionRequest:
    """The same review as :func:`review`, read as the server reads it."""
    return parse_review(review(obj, **options))
