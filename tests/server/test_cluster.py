"""Against a real kube-apiserver (the e2e control plane): the namespace-label watch, and
``egressguard certs --secret --patch-webhooks`` with deploy/'s webhook configurations."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.binaries import controlplane_binaries
from tests.e2e.controlplane import ADMIN, ControlPlane
from webhook.certs.pki import split_pem_chain
from webhook.server.namespaces import from_cluster

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
MODE = "egressguard.io/mode"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane.started(tmp_path_factory.mktemp("plane"), controlplane_binaries()) as cp:
        yield cp


def test_the_namespace_cache_follows_the_api_server(plane: ControlPlane) -> None:
    kubectl = plane.kubectl(ADMIN)
    cache = from_cluster(str(plane.kubeconfig(ADMIN)))
    cache.start()
    try:
        assert cache.wait_synced(30)
        assert cache.labels("default") == {"kubernetes.io/metadata.name": "default"}
        assert cache.labels("not-there") is None
        kubectl("create", "namespace", "watched")
        kubectl("label", "namespace", "watched", f"{MODE}=warn")
        deadline = time.monotonic() + 20
        while (cache.labels("watched") or {}).get(MODE) != "warn":
            assert time.monotonic() < deadline, "the label never reached the cache"
            time.sleep(0.1)
    finally:
        cache.stop()


def certs(plane: ControlPlane, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "webhook", "certs", "--service", "egressguard",
            "--namespace", "egressguard-system", "--secret", "egressguard-tls",
            "--patch-webhooks", "--kubeconfig", str(plane.kubeconfig(ADMIN)), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                          cwd=REPO)


def get_json(plane: ControlPlane, *args: str) -> Any:
    return plane.kubectl(ADMIN).get_json(*args)


def bundles(plane: ControlPlane) -> list[bytes]:
    found = []
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        config = get_json(plane, kind, "egressguard")
        for hook in config["webhooks"]:
            found.append(base64.b64decode(hook["clientConfig"]["caBundle"]))
    return found


def test_certs_job_issues_keeps_and_rotates_the_serving_secret(plane: ControlPlane) -> None:
    kubectl = plane.kubectl(ADMIN)
    kubectl("create", "namespace", "egressguard-system", check=True)
    kubectl("apply", "-f", str(REPO / "deploy" / "webhooks" / "webhooks.yaml"), check=True)
    first = certs(plane)
    assert first.returncode == 0, first.stderr
    secret = get_json(plane, "-n", "egressguard-system", "secret", "egressguard-tls")
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert secret["type"] == "kubernetes.io/tls"
    assert set(bundles(plane)) == {data["ca.crt"]}

    again = certs(plane)
    assert again.returncode == 0 and "kept" in again.stdout
    kept = get_json(plane, "-n", "egressguard-system", "secret", "egressguard-tls")
    assert kept["data"] == secret["data"]

    rotated = certs(plane, "--new-ca")
    assert rotated.returncode == 0, rotated.stderr
    (bundle,) = set(bundles(plane))
    old_ca = data["ca.crt"]
    assert len(split_pem_chain(bundle)) == 2 and split_pem_chain(bundle)[1] == old_ca
