"""Which host names stay inside the cluster.

A host is cluster-local when cluster DNS answers it from the cluster's own Services: a short
name with no dot (``ratings``, resolved through the pod's search path), or a name ending in
``.svc`` or ``.svc.<clusterDomain>`` (Config ``clusterDomain``, default ``cluster.local``).
Any other name may resolve anywhere, so it is external. Matching ignores case and a
trailing dot; a wildcard is local only below a local suffix (``*.svc.cluster.local``).
"""

from __future__ import annotations

import re

from webhook.model.hosts import normalize_host

# One DNS label, as Kubernetes names Services (RFC 1123), or a leading wildcard.
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def is_cluster_local(host: str, cluster_domain: str) -> bool:
    """Whether ``host`` names something cluster DNS serves from the cluster itself."""
    name = normalize_host(host)
    if _LABEL.fullmatch(name):
        return True
    domain = normalize_host(cluster_domain)
    for suffix in (".svc", f".svc.{domain}" if domain else ".svc"):
        if name.endswith(suffix):
            head = name[: -len(suffix)]
            labels = head.split(".")
            return all(_LABEL.fullmatch(label) or (i == 0 and label == "*")
                       for i, label in enumerate(labels))
    return False
