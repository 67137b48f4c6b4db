"""Istio's real injector output through the real API server: what ``istioctl kube-inject``
makes of our workloads under every install profile, and the mesh's own egress gateways, are
created (server dry run) by a developer and admitted, workload and pod alike; the
injector's own opt-outs are refused. The corpus is tests/inject's, built by its pinned
istioctl (the ``meshtools`` marker builds it before the first test)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inject.corpus import (
    INFRASTRUCTURE,
    OPT_OUTS,
    fixture_files,
    infrastructure,
    injected,
    opt_out,
)
from tests.inject.profiles import PROFILES

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl, Result

pytestmark = [pytest.mark.e2e, pytest.mark.meshtools]

APPLICATIONS = [(profile.name, fixture.stem) for profile in PROFILES
                for fixture in fixture_files()]


def create(kubectl: Kubectl, obj: dict[str, Any]) -> Result:
    namespace = obj.get("metadata", {}).get("namespace") or "shop"
    return kubectl.run("create", "--dry-run=server", "-n", namespace, "-f", "-", stdin=obj)


def admitted_without_warnings(result: Result) -> None:
    expect.admitted(result)
    assert not [w for w in expect.warnings(result) if "egressguard" in w], result.stderr


@pytest.fixture(scope="module")
def mesh_namespaces(egressguard: EgressguardCluster) -> None:
    """The namespaces and service accounts of the mesh's own Deployments, as their
    installers create them (istiod and the ingress gateway in istio-system, the egress
    gateway in istio-egress)."""
    admin = egressguard.admin
    for item in sorted(INFRASTRUCTURE):
        workload = infrastructure(item).workload
        namespace = workload["metadata"]["namespace"]
        account = infrastructure(item).pod()["spec"].get("serviceAccountName", "default")
        if not admin.run("get", "namespace", namespace).ok:
            admin.run("create", "namespace", namespace, check=True)
        if not admin.run("get", "serviceaccount", account, "-n", namespace).ok:
            admin.run("create", "serviceaccount", account, "-n", namespace, check=True)


@pytest.mark.parametrize("case", APPLICATIONS, ids="/".join)
def test_injected_workload_and_its_pod_are_admitted(
    case: tuple[str, str], egressguard: EgressguardCluster, developer: Kubectl
) -> None:
    item = injected(*case)
    admitted_without_warnings(create(developer, item.workload))
    admitted_without_warnings(create(developer, item.pod()))


@pytest.mark.parametrize("name", sorted(INFRASTRUCTURE))
def test_mesh_infrastructure_is_admitted(
    name: str, mesh_namespaces: None, security: Kubectl
) -> None:
    item = infrastructure(name)
    admitted_without_warnings(create(security, item.workload))
    admitted_without_warnings(create(security, item.pod()))


@pytest.mark.parametrize("name", sorted(OPT_OUTS))
def test_injector_opt_out_is_refused(
    name: str, egressguard: EgressguardCluster, developer: Kubectl
) -> None:
    case = opt_out(name)
    expect.denied(create(developer, case.pod), case.code)
