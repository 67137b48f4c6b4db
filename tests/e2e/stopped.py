"""egressguard stopped for a module's tests, and a Service whose Endpoints the control
plane keeps current meanwhile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl
from .objects import pod

NODE = "e2e-node"


@contextmanager
def webhook_stopped(egressguard: EgressguardCluster) -> Iterator[None]:
    """egressguard stopped inside the block, started again after it."""
    egressguard.webhook.stop()
    try:
        yield
    finally:
        egressguard.webhook.start()


def service_with_a_pod(kubectl: Kubectl, name: str) -> None:
    """A Service ``name`` in shop and its pod, on a Node (which no kubelet runs here) as
    the EndpointSlice controller wants; created while egressguard runs."""
    expect.admitted(kubectl.apply({"apiVersion": "v1", "kind": "Node",
                                   "metadata": {"name": NODE}}))
    expect.admitted(kubectl.apply({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": name}}}))
    expect.admitted(kubectl.apply(pod(name, "shop", labels={"app": name}, nodeName=NODE)))


def endpoints_follow_the_pod(admin: Kubectl, name: str, ip: str) -> None:
    """The pod of :func:`service_with_a_pod` made ready at ``ip`` as a kubelet would (a
    status write changing no label or annotation); the endpoint controllers then put
    ``ip`` in the Service's Endpoints and EndpointSlices."""
    ready = {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                        "conditions": [{"type": "Ready", "status": "True"}]}}
    expect.admitted(admin.run("patch", "pod", name, "-n", "shop", "--subresource=status",
                              "--type=merge", "-p", json.dumps(ready)))
    expect.admitted(admin.run(
        "wait", f"--for=jsonpath={{.subsets[0].addresses[0].ip}}={ip}",
        f"endpoints/{name}", "-n", "shop", "--timeout=60s", timeout=70))
    expect.admitted(admin.run(
        "wait", f"--for=jsonpath={{.endpoints[0].addresses[0]}}={ip}",
        "endpointslices", "-l", f"kubernetes.io/service-name={name}", "-n", "shop",
        "--timeout=60s", timeout=70))
