"""The webhook is installed from deploy/ as shipped: the registered configurations differ
from the manifests only in ``clientConfig``, and the server runs as deploy/'s service
account with deploy/'s RBAC (namespace labels only)."""

from __future__ import annotations

import pytest

from .cluster import EgressguardCluster
from .kubectl import Kubectl
from .webhook_process import WEBHOOK_KINDS, service_account_objects

pytestmark = [pytest.mark.e2e]

@pytest.mark.parametrize("kind", WEBHOOK_KINDS)
def test_registered_configuration_is_deploys_own(
    egressguard: EgressguardCluster, admin: Kubectl, kind: str
) -> None:
    shipped = next(m for m in egressguard.manifests if m["kind"] == kind)
    stored = admin.get_json(kind.lower(), shipped["metadata"]["name"])
    assert stored is not None
    for hook, mine in zip(stored["webhooks"], shipped["webhooks"], strict=True):
        assert hook["clientConfig"]["url"].startswith(egressguard.webhook.base_url)
        for key, value in mine.items():
            if key == "clientConfig":
                continue
            if key == "rules":  # the server adds scope: "*" where it is left out
                value = [{"scope": "*", **rule} for rule in value]
            assert hook[key] == value, key
        assert hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "None"


def test_webhook_runs_with_deploys_least_rights(
    egressguard: EgressguardCluster, admin: Kubectl
) -> None:
    namespace, account, _ = service_account_objects(egressguard.manifests)
    who = f"--as=system:serviceaccount:{namespace}:{account}"

    def can(*args: str) -> str:
        return admin.run("auth", "can-i", who, *args).stdout.strip()

    assert can("watch", "namespaces") == "yes"
    assert can("list", "pods", "-A") == "no"
    assert can("get", "secrets", "-n", namespace) == "no"
    assert can("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io") == "no"
    ready = egressguard.webhook.readiness()
    assert ready["ready"] is True
    assert ready.get("missing") == [], "namespaces are synced and nothing else is missing"
