"""Which containers of a pod are the mesh's own, and what that makes of the pod.

A container is the mesh's own when its name, list, trusted image, command and first argument
all fit what Istio's injector writes. A container that takes a mesh container's name
without being the mesh's own is an impostor: istio-cni skips a pod that has an
``istio-init``, so an impostor keeps the pod out of the capture (``mesh-opt-out``) besides
being judged as the ordinary container it is.

The proxy's UID and GID are read from the mesh's ``istio-proxy`` (1337 when unset): Istio
gives OpenShift pods the UID of their namespace's range, and runs the proxy as root with
group 1337 in TPROXY mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from webhook.engine.context import as_dict
from webhook.engine.podspec import ContainerView, PodView, as_int
from webhook.model.rules import Config

DEFAULT_REGISTRY = "docker.io"
# The mesh's containers and the subcommand each must run.
MESH_CONTAINERS = {
    "istio-proxy": "proxy",
    "istio-init": "istio-iptables",
    "istio-validation": "istio-iptables",
}
MESH_COMMANDS = frozenset({"pilot-agent", "istio-iptables"})
# Istio's gateway and waypoint proxies: `pilot-agent proxy router|waypoint`.
PROXY_ONLY_ROLES = frozenset({"router", "waypoint"})
PROXY_ID = 1337
# In a pod template, Istio's injector fills in `image: auto` (the gateway charts, and the
# "customizing injection" merge of a container named like the injected one).
AUTO_IMAGE = "auto"


def image_repository(reference: str) -> str:
    """``istio/proxyv2:1.24.0@sha256:..`` -> ``docker.io/istio/proxyv2``, as a runtime reads it."""
    name = reference.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name = name[:colon]
    first, sep, rest = name.partition("/")
    if not sep:
        return f"{DEFAULT_REGISTRY}/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"{DEFAULT_REGISTRY}/{name}"
    registry = first.lower()
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DEFAULT_REGISTRY
    return f"{registry}/{rest}"


@lru_cache(maxsize=32)
def _trusted_repositories(images: frozenset[str]) -> frozenset[str]:
    return frozenset(image_repository(image) for image in images)


def _in_its_list(container: ContainerView) -> bool:
    """istio-init and istio-validation run before the app; istio-proxy beside it, or as a
    native sidecar (an init container with ``restartPolicy: Always``)."""
    if container.name != "istio-proxy":
        return container.list_name == "initContainers"
    if container.list_name == "containers":
        return True
    return container.list_name == "initContainers" and container.body.get("restartPolicy") == (
        "Always"
    )


def is_mesh_container(container: ContainerView, config: Config, *, template: bool) -> bool:
    """The mesh's own container: name, list, trusted image, command and first argument all fit.

    Ephemeral containers never are: Istio does not inject them, `kubectl debug` does. In a
    pod template a mesh container may have ``image: auto``: injection fills the image in
    and merges the rest, and the Pod it becomes is judged strictly.
    """
    expected_first_arg = MESH_CONTAINERS.get(container.name)
    if expected_first_arg is None or not _in_its_list(container):
        return False
    body = container.body
    image = body.get("image")
    command, args = body.get("command"), body.get("args")
    if command not in (None, []) and not (
        isinstance(command, list)
        and len(command) == 1
        and isinstance(command[0], str)
        and command[0] in MESH_COMMANDS
    ):
        return False
    if template and image == AUTO_IMAGE:
        return args in (None, []) or (
            isinstance(args, list) and bool(args) and args[0] == expected_first_arg
        )
    if not isinstance(image, str) or image != image.strip() or not image:
        return False
    if image_repository(image) not in _trusted_repositories(config.proxy_images):
        return False
    return (
        isinstance(args, list)
        and bool(args)
        and all(isinstance(arg, str) for arg in args)
        and args[0] == expected_first_arg
    )


def is_gateway_proxy(container: ContainerView, *, template: bool) -> bool:
    """A mesh istio-proxy running as a gateway or waypoint (``proxy router|waypoint``).

    In a template, ``image: auto`` with no arguments is the gateway charts' placeholder.
    """
    if container.name != "istio-proxy":
        return False
    args = container.body.get("args")
    if template and container.body.get("image") == AUTO_IMAGE and args in (None, []):
        return True
    return isinstance(args, list) and len(args) > 1 and args[1] in PROXY_ONLY_ROLES


@dataclass(frozen=True, slots=True)
class MeshPod:
    """The mesh as it is in one pod: its containers, the proxy, and the proxy's IDs."""

    containers: tuple[ContainerView, ...]
    proxy: ContainerView | None
    proxy_only: bool  # every container is a gateway or waypoint proxy of the mesh
    proxy_uid: int
    proxy_gid: int

    @property
    def excluded_uid(self) -> int:
        """The UID istio-iptables leaves uncaptured: the proxy's, or 1337 when it runs as root
        (TPROXY), as Istio's injector writes ``-u``."""
        return self.proxy_uid if self.proxy_uid != 0 else PROXY_ID

    @property
    def protected_uids(self) -> frozenset[int]:
        """UIDs no other container may run as: their traffic is never captured."""
        return frozenset({self.proxy_uid, self.excluded_uid} - {0})

    @property
    def protected_gids(self) -> frozenset[int]:
        """GIDs no other container may run as (``-g`` defaults to ``-u``)."""
        return frozenset({self.proxy_gid, self.excluded_uid} - {0})

    @property
    def slots(self) -> frozenset[tuple[str, int]]:
        return frozenset(c.slot for c in self.containers)

    def is_mesh(self, container: ContainerView) -> bool:
        return container.slot in self.slots


def _effective_id(container: ContainerView, pod: PodView, field_name: str) -> int:
    for context in (container.security_context, as_dict(pod.spec.get("securityContext"))):
        value = as_int(context.get(field_name))
        if value is not None:
            return value
    return PROXY_ID


def mesh_pod(pod: PodView, config: Config) -> MeshPod:
    every = list(pod.containers())
    mesh = tuple(c for c in every if is_mesh_container(c, config, template=pod.template))
    proxies: Sequence[ContainerView] = [c for c in mesh if c.name == "istio-proxy"]
    proxy = proxies[0] if proxies else None
    slots = {c.slot for c in mesh}
    proxy_only = bool(every) and all(
        c.slot in slots and is_gateway_proxy(c, template=pod.template) for c in every
    )
    return MeshPod(
        containers=mesh,
        proxy=proxy,
        proxy_only=proxy_only,
        proxy_uid=_effective_id(proxy, pod, "runAsUser") if proxy else PROXY_ID,
        proxy_gid=_effective_id(proxy, pod, "runAsGroup") if proxy else PROXY_ID,
    )
