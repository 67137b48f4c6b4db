"""What the periodic audit writes into the cluster: its reports, and Events on owners.

Reports are server-side applied as field manager ``egressguard`` (an unchanged report is
no change); reports of ours (our managed-by label) for namespaces that no longer have
findings are deleted. Without the report CRDs installed, reports are skipped with one
warning; the metric and the Events go on.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from webhook.audit.events import REASON, OwnerEvent
from webhook.audit.reports import CLUSTER_KIND, NAMESPACED_KIND, REPORT_API_VERSION
from webhook.controller.cluster import CountingApiClient
from webhook.controller.desired import FIELD_MANAGER, MANAGED_SELECTOR

log = logging.getLogger("egressguard.audit")
COMPONENT = "egressguard"

Document = dict[str, Any]


class ReportWriter:
    def __init__(self, api: CountingApiClient) -> None:
        self.api = api
        self._dynamic: DynamicClient | None = None
        self._warned = False

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.api)
        return self._dynamic

    def _resource(self, kind: str) -> Any | None:
        try:
            return self.dynamic.resources.get(api_version=REPORT_API_VERSION, kind=kind)
        except ResourceNotFoundError:
            return None

    def write(self, reports: Iterable[Document]) -> tuple[int, int]:
        """Applies ``reports`` and prunes ours that are not among them: (applied, pruned)."""
        namespaced, cluster = self._resource(NAMESPACED_KIND), self._resource(CLUSTER_KIND)
        if namespaced is None or cluster is None:
            if not self._warned:
                log.warning("the cluster does not serve %s PolicyReport and "
                            "ClusterPolicyReport: install their CRDs (Kyverno's) to get "
                            "the audit's reports", REPORT_API_VERSION)
                self._warned = True
            return 0, 0
        wanted: set[tuple[str, str, str]] = set()
        applied = 0
        for report in reports:
            meta = report["metadata"]
            resource = namespaced if report["kind"] == NAMESPACED_KIND else cluster
            self.dynamic.server_side_apply(
                resource, body=report, namespace=meta.get("namespace"),
                field_manager=FIELD_MANAGER, force_conflicts=True)
            wanted.add((report["kind"], meta.get("namespace", ""), meta["name"]))
            applied += 1
        pruned = 0
        for kind, resource in ((NAMESPACED_KIND, namespaced), (CLUSTER_KIND, cluster)):
            listed = self.dynamic.get(resource, label_selector=MANAGED_SELECTOR).to_dict()
            for item in listed.get("items") or ():
                meta = item.get("metadata") or {}
                key = (kind, meta.get("namespace", "") or "", meta.get("name", ""))
                if key in wanted:
                    continue
                with contextlib.suppress(NotFoundError):
                    self.dynamic.delete(resource, name=key[2], namespace=key[1] or None)
                pruned += 1
        return applied, pruned


class EventRecorder:
    """Events (``v1``, which ``kubectl describe`` shows) on the owners of pods."""

    def __init__(self, api: CountingApiClient, *, instance: str) -> None:
        self.core = client.CoreV1Api(api)
        self.instance = instance

    def record(self, event: OwnerEvent, now: datetime) -> None:
        owner = event.owner
        stamp = now.isoformat().replace("+00:00", "Z")
        body: Any = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{owner.name}.{uuid.uuid4().hex[:16]}",
                         "namespace": owner.namespace},
            "involvedObject": {"apiVersion": owner.api_version, "kind": owner.kind,
                               "name": owner.name, "namespace": owner.namespace,
                               "uid": owner.uid},
            "type": "Warning", "reason": REASON, "message": event.message,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT, "reportingInstance": self.instance,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        }
        self.core.create_namespaced_event(owner.namespace, body)
