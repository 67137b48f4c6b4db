"""Synthetic rules repositories and admission reviews of a chosen size, for benchmarks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CONFIG = """\
apiVersion: egressguard.io/v1alpha1
kind: Config
spec:
  gateways:
    - name: istio-egressgateway
      namespace: istio-egress
      selector: {istio: egressgateway}
"""

DESTINATION = """\
apiVersion: egressguard.io/v1alpha1
kind: Destination
metadata:
  name: {name}
spec:
  hosts: ["{host}", "*.{host}"]
  ports:
    - {{number: 443, protocol: HTTPS}}
"""


def write_rules(root: Path, *, grants: int, destinations: int) -> Path:
    """A rules repo with ``grants`` grant files spread over ``destinations`` destinations.

    The benchmarked identity (``shop/checkout``) always holds the same three grants, so the
    work of one decision is identical at every size; only the size of the indexes changes.
    """
    if root.exists():
        shutil.rmtree(root)
    (root / "destinations").mkdir(parents=True)
    (root / "config.yaml").write_text(CONFIG)
    for index in range(destinations):
        name = f"dest-{index}"
        (root / "destinations" / f"{name}.yaml").write_text(
            DESTINATION.format(name=name, host=f"{name}.example.com")
        )
    mine = root / "services" / "shop" / "checkout"
    mine.mkdir(parents=True)
    for index in range(3):
        (mine / f"dest-{index}.example.com:443.rule").write_text("reason: benchmark\n")
    others = max(grants - 3, 0)
    per_identity = 10
    for index in range(others):
        identity, slot = divmod(index, per_identity)
        folder = root / "services" / f"team-{identity // 100}" / f"sa-{identity % 100}"
        if slot == 0:
            folder.mkdir(parents=True, exist_ok=True)
        host = f"dest-{(index * 7919) % destinations}.example.com"
        (folder / f"{host}:443.rule").touch()
    return root


def pod_review(*, requests: str = "dest-0.example.com:443, dest-1.example.com:443") -> dict[str, Any]:
    """A controller-created pod with a request annotation, as the API server sends it."""
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "6f1c3b1e-bench",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "groups": ["system:serviceaccounts", "system:authenticated"],
            },
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "generateName": "checkout-7d9c8b6f5-",
                    "labels": {"app": "checkout", "pod-template-hash": "7d9c8b6f5"},
                    "annotations": {"egressguard.io/egress": requests},
                },
                "spec": {
                    "serviceAccountName": "checkout",
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/shop/checkout:1.4.2",
                            "ports": [{"containerPort": 8080}],
                            "securityContext": {
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
            "dryRun": False,
        },
    }
