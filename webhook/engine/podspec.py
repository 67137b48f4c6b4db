"""Where a pod's metadata and spec sit in a Pod or a workload, read defensively.

Pods and the pod templates of workloads are judged by the same checks. A :class:`PodView`
hides where the template lives (``spec.template``, ``spec.jobTemplate.spec.template``) and
carries the path prefixes, so every violation names the field in the object as sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from webhook.engine import fieldpath
from webhook.engine.context import as_dict, as_list, string_map
from webhook.model.review import JSONObject

DEFAULT_SERVICE_ACCOUNT = "default"
# Istio runs init containers before the app and may run its proxy as a native sidecar
# among them; ephemeral containers come from `kubectl debug`.
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


@dataclass(frozen=True, slots=True)
class ContainerView:
    """One container, found by name: ``spec.containers[name=app]``.

    A violation's path identifies it across the old and new object of an UPDATE, so a
    container is named by its name, not its place in the list: inserting a container before
    another leaves the other's violations where they were. A container without a readable
    name (the API server refuses one) falls back to its index.
    """

    body: dict[str, Any]
    path: str  # spec.containers[name=app], spec.template.spec.initContainers[name=istio-init]
    list_name: str  # one of CONTAINER_LISTS
    position: int = 0  # its index in that list

    @property
    def name(self) -> str:
        value = self.body.get("name")
        return value if isinstance(value, str) else ""

    @property
    def slot(self) -> tuple[str, int]:
        """Where the container sits, unique even if two containers share a name."""
        return (self.list_name, self.position)

    @property
    def security_context(self) -> dict[str, Any]:
        return as_dict(self.body.get("securityContext"))

    @property
    def security_context_path(self) -> str:
        return fieldpath.key(self.path, "securityContext")

    @property
    def described(self) -> str:
        """How a message names the container: ``container "app"``."""
        kind = {"initContainers": "init container", "ephemeralContainers": "ephemeral container"}
        return f'{kind.get(self.list_name, "container")} "{fieldpath.shown(self.name)}"'


@dataclass(frozen=True, slots=True)
class PodView:
    """The metadata and spec of a pod, or of the pod template of a workload.

    The labels, annotations and containers every check reads are read once per view and
    shared: callers never change them (a view judges one object, which nothing changes
    while it is judged)."""

    metadata: dict[str, Any]
    spec: dict[str, Any]
    metadata_path: str
    spec_path: str
    template: bool = False  # a workload's pod template, not a Pod
    _labels: dict[str, str] | None = field(default=None, init=False, repr=False,
                                           compare=False)
    _annotations: dict[str, str] | None = field(default=None, init=False, repr=False,
                                                compare=False)
    _containers: tuple[ContainerView, ...] | None = field(default=None, init=False,
                                                          repr=False, compare=False)

    @property
    def labels(self) -> dict[str, str]:
        if self._labels is None:
            object.__setattr__(self, "_labels", string_map(self.metadata.get("labels")))
        assert self._labels is not None
        return self._labels

    @property
    def annotations(self) -> dict[str, str]:
        if self._annotations is None:
            object.__setattr__(self, "_annotations",
                               string_map(self.metadata.get("annotations")))
        assert self._annotations is not None
        return self._annotations

    def label_path(self, key: str) -> str:
        return fieldpath.key(fieldpath.key(self.metadata_path, "labels"), key)

    def annotation_path(self, key: str) -> str:
        return fieldpath.key(fieldpath.key(self.metadata_path, "annotations"), key)

    def spec_field(self, *names: str) -> str:
        path = self.spec_path
        for name in names:
            path = fieldpath.key(path, name)
        return path

    @property
    def service_account(self) -> str:
        """``spec.serviceAccountName``, as the API server reads it.

        The deprecated ``serviceAccount`` is its alias when the name is empty, so an offline
        ``validate`` sees the identity the cluster would. A value that is not a string names
        no identity: it matches no grant and no exception.
        """
        for field_name in ("serviceAccountName", "serviceAccount"):
            value = self.spec.get(field_name)
            if value is None or value == "":
                continue
            return value if isinstance(value, str) else ""
        return DEFAULT_SERVICE_ACCOUNT

    def containers(self) -> Iterator[ContainerView]:
        if self._containers is None:
            object.__setattr__(self, "_containers", tuple(self._read_containers()))
        assert self._containers is not None
        return iter(self._containers)

    def _read_containers(self) -> Iterator[ContainerView]:
        for list_name in CONTAINER_LISTS:
            base = fieldpath.key(self.spec_path, list_name)
            for position, item in enumerate(as_list(self.spec.get(list_name))):
                body = as_dict(item)
                name = body.get("name")
                path = (
                    fieldpath.named(base, name)
                    if isinstance(name, str) and name
                    else fieldpath.index(base, position)
                )
                yield ContainerView(body=body, path=path, list_name=list_name, position=position)

    @property
    def volumes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(path, volume) for each volume, found by name like containers."""
        base = self.spec_field("volumes")
        for position, item in enumerate(as_list(self.spec.get("volumes"))):
            body = as_dict(item)
            name = body.get("name")
            if isinstance(name, str) and name:
                yield fieldpath.named(base, name), body
            else:
                yield fieldpath.index(base, position), body


def pod_view(obj: JSONObject) -> PodView:
    return PodView(
        metadata=as_dict(obj.get("metadata")),
        spec=as_dict(obj.get("spec")),
        metadata_path="metadata",
        spec_path="spec",
    )


def template_view(kind: str, obj: JSONObject) -> PodView:
    """The pod template of a workload: ``spec.template``, or a CronJob's job's template."""
    if kind == "CronJob":
        job_spec = as_dict(as_dict(as_dict(obj.get("spec")).get("jobTemplate")).get("spec"))
        template, base = as_dict(job_spec.get("template")), "spec.jobTemplate.spec.template"
    else:
        template, base = as_dict(as_dict(obj.get("spec")).get("template")), "spec.template"
    return PodView(
        metadata=as_dict(template.get("metadata")),
        spec=as_dict(template.get("spec")),
        metadata_path=f"{base}.metadata",
        spec_path=f"{base}.spec",
        template=True,
    )


def brief(text: str, limit: int = 40) -> str:
    """An attacker-chosen string cut short enough that a message stays under 200 characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_true(value: Any) -> bool:
    """A boolean field that is on; the string "true" counts too (judged the stricter way)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def as_int(value: Any) -> int | None:
    """An integer field, also when it arrives as a float or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def strings(value: Any) -> list[str]:
    """A list of strings as the field means it; a lone string is a list of one.

    An item that is not a string stands as ``<type>``: never a capability or host name
    that is allowed, and never an allowed nameserver.
    """
    if isinstance(value, str):
        return [value]
    return [
        item if isinstance(item, str) else f"<{type(item).__name__}>" for item in as_list(value)
    ]
