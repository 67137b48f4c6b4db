"""kustomize's install, in the two steps deploy/README.md gives, on a control plane of its
own: step one registers no webhook configuration, its certificate Job writes the Secret
without one, the rollout finishes, and step two registers both configurations and has
its Job set their caBundle to the Secret's CA.

No kubelet runs here: a stand-in (kubelet_stand_in.py) reports the replicas ready and
runs each Job's command here as the Job's own service account (deploy/'s RBAC).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import expect
from .controlplane import ADMIN, ControlPlane
from .kubectl import Kubectl
from .kubelet_stand_in import finish_job, report_pods_ready, run_job
from .processes import wait_until
from .webhook_process import REPO

pytestmark = [pytest.mark.e2e]

NAMESPACE = "egressguard-system"
CONFIGURATIONS = ("mutatingwebhookconfiguration", "validatingwebhookconfiguration")
# deploy/README.md's commands, word for word.
STEP_ONE = "kubectl apply -k deploy/"
WAIT = "kubectl -n egressguard-system rollout status deployment/egressguard --timeout=5m"
STEP_TWO = "kubectl apply -k deploy/webhooks"


def run(admin: Kubectl, command: str) -> str:
    words = command.split()
    assert words[0] == "kubectl"
    result = admin.run(*words[1:], cwd=REPO, timeout=360)
    assert result.ok, result
    return result.stdout


def registered(admin: Kubectl) -> list[str]:
    return [kind for kind in CONFIGURATIONS if admin.get_json(kind, "egressguard") is not None]


def job(admin: Kubectl, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def created() -> bool:
        found[:] = [admin.get_json("job", name, "-n", NAMESPACE)]
        return found[0] is not None

    wait_until(created, timeout=60, what=f"Job {name}")
    return found[0]


@pytest.fixture(scope="module")
def installed(binaries: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, Any]]:
    """The three commands, with the stand-in running the Jobs; what was seen between."""
    workdir = tmp_path_factory.mktemp("kustomize-jobs")
    with ControlPlane.started(tmp_path_factory.mktemp("kustomize-plane"), binaries) as plane:
        admin = plane.kubectl(ADMIN)
        seen: dict[str, Any] = {"step one": run(admin, STEP_ONE)}
        certs = job(admin, "egressguard-certs")
        seen["certs"] = run_job(plane, admin, certs, workdir)
        finish_job(admin, certs, succeeded=seen["certs"].ok)
        wait_until(lambda: report_pods_ready(admin, NAMESPACE,
                                             "app.kubernetes.io/name=egressguard") == 3,
                   timeout=60, what="the replicas")
        seen["registered after step one"] = registered(admin)
        seen["wait"] = run(admin, WAIT)
        seen["step two"] = run(admin, STEP_TWO)
        cabundle = job(admin, "egressguard-cabundle")
        seen["cabundle"] = run_job(plane, admin, cabundle, workdir)
        finish_job(admin, cabundle, succeeded=seen["cabundle"].ok)
        seen["secret"] = expect.stored(admin, "secret", "egressguard-tls", NAMESPACE)
        seen["configurations"] = [expect.stored(admin, kind, "egressguard")
                                  for kind in CONFIGURATIONS]
        yield seen


def test_the_commands_are_deploy_readmes() -> None:
    readme = (REPO / "deploy" / "README.md").read_text()
    for command in (STEP_ONE, WAIT, STEP_TWO):
        assert command in readme, command


def test_step_one_registers_nothing_and_writes_the_secret(installed: dict[str, Any]) -> None:
    assert "deployment.apps/egressguard created" in installed["step one"]
    assert installed["registered after step one"] == []
    assert installed["certs"].ok, installed["certs"]
    assert "wrote Secret egressguard-system/egressguard-tls" in installed["certs"].stdout
    assert "patched caBundle" not in installed["certs"].stdout
    assert installed["secret"]["type"] == "kubernetes.io/tls"


def test_the_rollout_finishes_before_step_two(installed: dict[str, Any]) -> None:
    assert 'deployment "egressguard" successfully rolled out' in installed["wait"]


def test_step_two_registers_both_with_the_secrets_ca(installed: dict[str, Any]) -> None:
    assert "validatingwebhookconfiguration.admissionregistration.k8s.io/egressguard created" \
        in installed["step two"]
    assert installed["cabundle"].ok, installed["cabundle"]
    ca = installed["secret"]["data"]["ca.crt"]
    for configuration in installed["configurations"]:
        for hook in configuration["webhooks"]:
            assert hook["clientConfig"]["caBundle"] == ca, hook["name"]
            assert hook["clientConfig"]["service"]["namespace"] == NAMESPACE
