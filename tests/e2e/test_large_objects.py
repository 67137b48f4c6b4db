"""Large objects through the real API server (RELIABILITY 20): the body cap leaves room for
what the API server itself accepts and sends.

The API server writes "<" as the six bytes ``\\u003c`` in the review, and an UPDATE carries
the object twice (object and oldObject), so a pod of ~1.4 MB of "<" becomes a ~17 MB
UPDATE review. The pods are posted as raw JSON (``kubectl create --raw``), "<" unescaped,
as a client is free to send them (kubectl's own encoder would escape them six-fold against
the API server's 3 MiB request limit). ~1.4 MB is the most a default etcd stores
(``--max-request-bytes`` 1.5 MiB); a server-side dry-run is not stored, so it carries a
pod of up to the 3 MiB request limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl
from .objects import PAUSE_IMAGE, pod, unique

pytestmark = [pytest.mark.e2e]

STORED_BYTES = 1_400_000  # within etcd's default 1.5 MiB request limit
DRY_RUN_BYTES = 2_900_000  # within the API server's 3 MiB request limit


def big_pod(name: str, size: int) -> dict[str, Any]:
    container = {"name": "app", "image": PAUSE_IMAGE,
                 "env": [{"name": "BIG", "value": "<" * size}]}
    return pod(name, "shop", service_account="checkout", containers=[container])


def create_raw(kubectl: Kubectl, manifest: dict[str, Any], folder: Path,
               query: str = "") -> Any:
    path = folder / f"{manifest['metadata']['name']}.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False))
    return kubectl.run("create", "--raw", f"/api/v1/namespaces/shop/pods{query}",
                       "-f", str(path), timeout=60)


def test_a_large_pod_of_escaped_characters_is_created_labelled_and_updated(
    egressguard: EgressguardCluster, developer: Kubectl, tmp_path: Path
) -> None:
    name = unique("large")
    expect.admitted(create_raw(developer, big_pod(name, STORED_BYTES), tmp_path))
    try:
        expect.admitted(developer.run("label", "pod", name, "-n", "shop", "tier=big",
                                      timeout=60))
        expect.admitted(developer.run("annotate", "pod", name, "-n", "shop",
                                      "note=updated", timeout=60))
        labels = developer.get_json("pod", name, "-n", "shop")["metadata"]["labels"]
        assert labels["tier"] == "big"
    finally:
        developer.run("delete", "pod", name, "-n", "shop", "--wait=false")


def test_a_pod_as_large_as_the_api_server_accepts_is_judged_on_a_server_dry_run(
    egressguard: EgressguardCluster, developer: Kubectl, tmp_path: Path
) -> None:
    name = unique("largest")
    expect.admitted(create_raw(developer, big_pod(name, DRY_RUN_BYTES), tmp_path,
                               "?dryRun=All"))
    sneaky = big_pod(unique("largest-host"), DRY_RUN_BYTES)
    sneaky["spec"]["hostNetwork"] = True
    refused = create_raw(developer, sneaky, tmp_path, "?dryRun=All")
    assert refused.returncode != 0 and "host-network" in refused.stderr, refused
