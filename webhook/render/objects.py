"""The vocabulary every renderer shares: documents, their metadata, files of documents.

Rendered objects are plain dicts in Kubernetes field order; nothing here serialises them.
Every object carries the managed-by label and the rules revision it was rendered from, so
`kubectl get -l app.kubernetes.io/managed-by=egressguard` finds all of them and an auditor
can tell which reviewed rules produced what runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.model.rules import Policy
from webhook.render.plan import DestinationPlan, RenderOptions

Document = dict[str, Any]

MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY = "egressguard"
# The annotation (under the label prefix) naming the rules revision an object was rendered
# from; the controller leaves it as it was on objects a rules change does not change.
REVISION = "rules-revision"
NAME_LIMIT = 63


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One output file: comments a reviewer reads first, then the documents in order."""

    name: str
    notes: tuple[str, ...]
    documents: tuple[Document, ...]


@dataclass(frozen=True, slots=True)
class Context:
    """One render: the rules, the cluster facts the rules lack, and the plans."""

    policy: Policy
    options: RenderOptions
    plans: tuple[DestinationPlan, ...]

    @property
    def prefix(self) -> str:
        return self.policy.config.label_prefix

    def key(self, name: str) -> str:
        """A label or annotation key under the configured prefix."""
        return f"{self.prefix}/{name}"

    def entitlement_label(self, plan: DestinationPlan) -> str:
        return self.policy.entitlement_label(plan.destination)

    def metadata(
        self,
        name: str,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Document:
        meta: Document = {"name": name}
        if namespace is not None:
            meta["namespace"] = namespace
        meta["labels"] = {**(labels or {}), MANAGED_BY_KEY: MANAGED_BY}
        meta["annotations"] = {
            self.key(REVISION): self.policy.revision,
            **(annotations or {}),
        }
        return meta

    def service_host(self, name: str, namespace: str) -> str:
        return f"{name}.{namespace}.svc.{self.options.cluster_domain}"


def bounded_name(*parts: str) -> str:
    """Parts joined with ``-``, cut to a DNS label with a hash suffix when too long."""
    name = "-".join(part for part in parts if part)
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: NAME_LIMIT - 9].rstrip('-')}-{digest}"


def document(api_version: str, kind: str, metadata: Document, **body: Any) -> Document:
    """An object in the field order people expect: apiVersion, kind, metadata, then body."""
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
