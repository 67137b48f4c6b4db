"""Session fixtures: one control plane (etcd, kube-apiserver, kube-controller-manager)
with the CRDs of every judged kind, and egressguard serving the example rules behind the
webhook configurations from deploy/.

The binaries are built (or found in the cache) before the first e2e test runs, outside
any per-test timeout (tests/conftest.py), with the build's progress shown on the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .binaries import controlplane_binaries, terminal_output
from .cluster import EgressguardCluster, running_egressguard
from .controlplane import ADMIN, DEVELOPER, SECURITY, ControlPlane, server_version
from .crds import install_crds
from .kubectl import Kubectl


@pytest.fixture(scope="session")
def binaries(pytestconfig: pytest.Config) -> Path:
    with terminal_output(pytestconfig):
        return controlplane_binaries()


@pytest.fixture(scope="session")
def controlplane(
    binaries: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ControlPlane]:
    workdir = tmp_path_factory.mktemp("controlplane")
    with ControlPlane.started(workdir, binaries) as plane:
        install_crds(plane)
        with terminal_output(pytestconfig):
            print(f"\n[e2e] {server_version(plane)} on {plane.server} (logs in {plane.log_dir})")
        yield plane


@pytest.fixture(scope="session")
def admin(controlplane: ControlPlane) -> Kubectl:
    return controlplane.kubectl(ADMIN)


@pytest.fixture(scope="session")
def developer(controlplane: ControlPlane) -> Kubectl:
    return controlplane.kubectl(DEVELOPER)


@pytest.fixture(scope="session")
def security(controlplane: ControlPlane) -> Kubectl:
    return controlplane.kubectl(SECURITY)


@pytest.fixture(scope="session")
def egressguard(
    controlplane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EgressguardCluster]:
    """egressguard serving rules/ behind deploy/'s webhook configurations."""
    with running_egressguard(controlplane, tmp_path_factory.mktemp("egressguard")) as cluster:
        yield cluster
