"""Session fixtures: one control plane (etcd, kube-apiserver, kube-controller-manager)
with the Istio CRDs, and egressguard serving the example rules behind the webhook
configurations from deploy/.

The binaries are built (or found in the cache) before the first e2e test runs, outside
any per-test timeout, with the build's progress shown on the terminal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from .binaries import controlplane_binaries
from .cluster import EgressguardCluster, running_egressguard
from .controlplane import ADMIN, DEVELOPER, SECURITY, ControlPlane, server_version
from .istio import install_istio_crds
from .kubectl import Kubectl


@contextlib.contextmanager
def _to_terminal(config: pytest.Config) -> Iterator[None]:
    """Let output through pytest's capture, so progress is seen as it happens."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield


def _e2e_selected(session: pytest.Session) -> bool:
    return any(item.get_closest_marker("e2e") for item in session.items)


def pytest_collection_finish(session: pytest.Session) -> None:
    # A first build takes far longer than a test's timeout: do it before any test runs.
    if _e2e_selected(session) and not session.config.option.collectonly:
        with _to_terminal(session.config):
            controlplane_binaries()


@pytest.fixture(scope="session")
def binaries(pytestconfig: pytest.Config) -> Path:
    with _to_terminal(pytestconfig):
        return controlplane_binaries()


@pytest.fixture(scope="session")
def controlplane(
    binaries: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ControlPlane]:
    workdir = tmp_path_factory.mktemp("controlplane")
    with ControlPlane.started(workdir, binaries) as plane:
        install_istio_crds(plane)
        with _to_terminal(pytestconfig):
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
