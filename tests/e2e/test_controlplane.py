"""The test cluster itself: the real API server, the CRDs of the judged kinds, and the
identities the scenarios rely on (a developer who may not do everything, a trusted security
admin)."""

from __future__ import annotations

import pytest

from .crds import JUDGED_CRDS
from .kubectl import Kubectl

pytestmark = pytest.mark.e2e


def test_apiserver_serves_the_pinned_version(admin: Kubectl) -> None:
    version = admin.run("version", "-o", "json", check=True).json()
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"
    assert admin.run("get", "--raw", "/readyz", check=True).stdout.strip() == "ok"


@pytest.mark.parametrize("crd", JUDGED_CRDS)
def test_crds_are_established(admin: Kubectl, crd: str) -> None:
    stored = admin.get_json("crd", crd)
    conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
    assert conditions["Established"] == "True"


@pytest.mark.parametrize(
    ("verb", "resource", "namespace", "expected"),
    [
        ("create", "namespaces", "", "yes"),
        ("create", "clusterrolebindings", "", "no"),
        ("create", "validatingwebhookconfigurations.admissionregistration.k8s.io", "", "no"),
        ("delete", "mutatingwebhookconfigurations.admissionregistration.k8s.io", "", "no"),
        ("create", "pods", "kube-system", "no"),
    ],
    ids=lambda v: v or "cluster",
)
def test_developer_is_not_an_administrator(
    developer: Kubectl, verb: str, resource: str, namespace: str, expected: str
) -> None:
    args = ["auth", "can-i", verb, resource] + (["-n", namespace] if namespace else [])
    assert developer.run(*args).stdout.strip() == expected


def test_security_admin_manages_webhooks(security: Kubectl) -> None:
    result = security.run(
        "auth", "can-i", "update", "validatingwebhookconfigurations.admissionregistration.k8s.io"
    )
    assert result.stdout.strip() == "yes"
    assert security.run("auth", "whoami", "-o", "json").json()["status"]["userInfo"][
        "username"
    ] == "security-admin"


def test_controller_manager_creates_replicaset_pods(admin: Kubectl) -> None:
    admin.run("create", "namespace", "e2e-kcm", check=True)
    admin.run("create", "deployment", "web", "--image=registry.k8s.io/pause:3.10",
              "-n", "e2e-kcm", check=True)
    admin.run("wait", "--for=jsonpath={.status.replicas}=1", "deployment/web",
              "-n", "e2e-kcm", "--timeout=60s", check=True, timeout=70)
    pods = admin.get_json("pods", "-n", "e2e-kcm")["items"]
    assert len(pods) == 1
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
