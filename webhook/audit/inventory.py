"""Reading a cluster for the audit: every object of every kind the webhook judges.

Lists are paginated (``limit`` and ``continue``), so a large cluster is read in pages the
API server can serve, through the controller's client (rate-limited, counted). A judged
kind whose API the cluster does not serve (a CRD not installed) is reported, not an error.
ConfigMaps are read only in the mesh root namespace: the webhook is sent no others.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.resource import ResourceList

from webhook.audit.snapshot import PAGE_SIZE, Document, Snapshot, labels_of, metadata
from webhook.controller.cluster import CountingApiClient
from webhook.engine.kinds import judged_kinds
from webhook.model.rules import Policy
from webhook.render.fence import FENCE_NAME
from webhook.render.objects import MANAGED_BY, MANAGED_BY_KEY

# The cluster-wide fences render can write in place of one NetworkPolicy per namespace.
CLUSTER_FENCES = frozenset({
    ("policy.networking.k8s.io", "ClusterNetworkPolicy"),
    ("crd.projectcalico.org", "GlobalNetworkPolicy"),
    ("cilium.io", "CiliumClusterwideNetworkPolicy"),
})


class ListExpired(RuntimeError):
    """A paginated list outlived its continue token (410): the audit must start again."""


def shown_kind(group: str, kind: str) -> str:
    return f"{group}/{kind}" if group else kind


class Inventory:
    """One read of the cluster into a :class:`Snapshot`."""

    def __init__(self, api: CountingApiClient, *, page_size: int = PAGE_SIZE) -> None:
        self.api = api
        self.page_size = page_size
        self._dynamic: DynamicClient | None = None

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.api)
        return self._dynamic

    def resource(self, group: str, kind: str) -> Any | None:
        """The served resource of ``kind``, at the group's preferred version when it serves
        the kind there, else at any version that does; None when none does."""
        found = [
            r for r in self.dynamic.resources.search(
                prefix="apis" if group else "api", group=group or None, kind=kind)
            if not isinstance(r, ResourceList) and (r.group or "") == group and r.kind == kind
        ]
        if not found:
            return None
        return next((r for r in found if r.preferred), found[0])

    def pages(self, resource: Any, namespace: str | None = None) -> Iterator[Document]:
        """Every object of ``resource`` (in every namespace unless one is named), a page of
        at most ``page_size`` at a time."""
        token: str | None = None
        while True:
            try:
                page = self.dynamic.request(
                    "get", resource.path(namespace=namespace), limit=self.page_size,
                    _continue=token).to_dict()
            except ApiException as error:
                if error.status == 410:
                    raise ListExpired(f"listing {resource.kind} took longer than the API "
                                      "server keeps a list; run the audit again") from error
                raise
            for item in page.get("items") or ():
                yield {**item, "apiVersion": resource.group_version, "kind": resource.kind}
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return

    def read(self, policy: Policy) -> Snapshot:
        objects: list[Document] = []
        unserved: list[str] = []
        unreadable: list[str] = []
        for group, kind in judged_kinds():
            resource = self.resource(group, kind)
            if resource is None:
                unserved.append(shown_kind(group, kind))
                continue
            where = policy.config.mesh_root_namespace if (group, kind) == ("", "ConfigMap") \
                else None
            try:
                objects.extend(self.pages(resource, where))
            except ApiException as error:
                if error.status != 403:
                    raise
                unreadable.append(shown_kind(group, kind))
        return snapshot_of(objects, unserved, unreadable)


def _ours(document: Document) -> bool:
    return labels_of(document).get(MANAGED_BY_KEY) == MANAGED_BY and \
        metadata(document).get("name") == FENCE_NAME


def snapshot_of(objects: list[Document], unserved: list[str],
                unreadable: list[str] | None = None) -> Snapshot:
    """The namespaces (from the Namespace objects) and the fences, from what was listed."""
    namespaces = {str(metadata(d).get("name")): labels_of(d) for d in objects
                  if (d.get("apiVersion"), d.get("kind")) == ("v1", "Namespace")}
    fenced: set[str] = set()
    for document in objects:
        group_kind = (str(document.get("apiVersion")).rpartition("/")[0], document.get("kind"))
        if not _ours(document):
            continue
        if group_kind == ("networking.k8s.io", "NetworkPolicy"):
            fenced.add(str(metadata(document).get("namespace")))
        elif group_kind in CLUSTER_FENCES:
            fenced.update(namespaces)
    return Snapshot(namespaces=namespaces, objects=tuple(objects), fenced=frozenset(fenced),
                    unserved=tuple(unserved), unreadable=tuple(unreadable or ()))
