"""The webhook as a dependency of the API server: it fails closed when down without
locking out kube-system or its own namespace, comes back on restart, and rotates its
certificate and CA while pods are being created without failing one request."""

from __future__ import annotations

import threading
import time

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl, Result
from .objects import allow_label, namespace, pod, unique
from .processes import wait_until
from .webhook_process import SERVICE_NAMESPACE

pytestmark = [pytest.mark.e2e]

# How long the API server may take to see an updated webhook configuration (its
# informer usually takes well under a second).
CONFIG_PROPAGATION_SECONDS = 3.0


def test_webhook_down_fails_closed_and_recovers_on_restart(
    egressguard: EgressguardCluster, developer: Kubectl, admin: Kubectl
) -> None:
    webhook = egressguard.webhook
    webhook.stop()
    try:
        name = unique("while-down")
        result = developer.apply(
            pod(name, "shop", service_account="checkout", egress="api.stripe.com:443")
        )
        assert result.returncode != 0, result
        assert "failed calling webhook" in result.stderr, result
        expect.absent(developer, "pod", name, "shop")
        # Never matched, so the cluster can always recover: kube-system and the
        # webhook's own namespace.
        expect.admitted(admin.apply(namespace(SERVICE_NAMESPACE)))
        for exempt in ("kube-system", SERVICE_NAMESPACE):
            system_pod = unique("recovery")
            admin.run(
                "wait",
                "--for=create",
                "serviceaccount/default",
                "-n",
                exempt,
                "--timeout=30s",
                check=True,
                timeout=40,
            )
            expect.admitted(admin.apply(pod(system_pod, exempt)))
            admin.run("delete", "pod", system_pod, "-n", exempt, "--wait=false", check=True)
    finally:
        webhook.start()
    name = unique("after-restart")
    expect.admitted(
        developer.apply(pod(name, "shop", service_account="checkout", egress="api.stripe.com:443"))
    )
    assert (
        expect.labels(expect.stored(developer, "pod", name, "shop"))[allow_label("stripe")]
        == "true"
    )


def test_certificate_and_ca_rotation_fails_no_request(
    egressguard: EgressguardCluster, developer: Kubectl
) -> None:
    webhook = egressguard.webhook
    stop = threading.Event()
    admitted: list[str] = []
    failed: list[Result] = []

    def create_pods() -> None:
        while not stop.is_set():
            name = unique("rotation")
            result = developer.apply(pod(name, "shop", service_account="checkout"))
            (admitted.append(name) if result.ok else failed.append(result))

    workers = [threading.Thread(target=create_pods, daemon=True) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        wait_until(
            lambda: len(admitted) >= 4 or bool(failed), timeout=30, what="pods being created"
        )
        old_ca = webhook.ca_pem
        version = webhook.prepare_certificates()
        new_ca = (version / "ca.crt").read_bytes()
        assert new_ca != old_ca
        # 1. The API server trusts both CAs ...
        egressguard.register_webhook(ca_bundle=old_ca + new_ca)
        time.sleep(CONFIG_PROPAGATION_SECONDS)
        # 2. ... the Secret volume flips to the new certificate and key ...
        webhook.activate_certificates(version)
        wait_until(
            lambda: webhook.served_certificate() == webhook.current_leaf(),
            timeout=30,
            what="egressguard to serve the new certificate",
            processes=[webhook.process],
        )
        # 3. ... and the old CA is dropped.
        egressguard.register_webhook(ca_bundle=new_ca)
        time.sleep(CONFIG_PROPAGATION_SECONDS)
        count = len(admitted)
        wait_until(
            lambda: len(admitted) >= count + 4 or bool(failed),
            timeout=30,
            what="pods created after the rotation",
        )
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    assert not failed, "\n\n".join(str(r) for r in failed[:3])
    assert len(admitted) >= 8
    # Each pod went through the mutating webhook: none was let in without it.
    pods = {p["metadata"]["name"]: p for p in developer.get_json("pods", "-n", "shop")["items"]}
    unlabelled = [n for n in admitted if allow_label("stripe") not in expect.labels(pods[n])]
    assert not unlabelled
