"""docs/migration.md runs as written: every ```sh block of the guide, in order, in one
folder, against a control plane of its own with the guide's starting point: workloads
that ran before egressguard (namespaces ``storefront`` and ``reports``), egressguard
installed in warn mode from a git repository of rules (``egress-rules``, the example
rules with ``defaultMode: warn``), and the security team's kubeconfig in ``KUBECONFIG``.
New pods are reported ready as kubelets would (kubelet_stand_in.py), so rollouts finish.

- A block must exit 0, or the status its ``# exits N`` comment names.
- The ```text block right after it is what it prints: each of its lines (``...`` skips)
  must appear in the output, in order, white space aside; ``…`` in a line stands for a
  generated name, a hash or a time.
- As git-sync would, each commit on the repository's ``main`` reaches the webhook: the
  test copies it into the folder the webhook serves and waits for the reload.
- The webhook's audit log is ``audit.log`` in the folder, as ``kubectl logs`` would save it
  on a cluster (the webhook runs beside the control plane here, not in a pod).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .cluster import EgressguardCluster, running_egressguard
from .controlplane import ADMIN, SECURITY, ControlPlane
from .crds import install_crds
from .kubectl import Kubectl
from .kubelet_stand_in import report_new_pods_ready
from .objects import deployment, namespace
from .processes import wait_until
from .webhook_process import EXAMPLE_RULES, REPO

pytestmark = [pytest.mark.e2e]

GUIDE = REPO / "docs" / "migration.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
EXITS = re.compile(r"#\s*exits\s+(\d+)")
GIT = {"GIT_AUTHOR_NAME": "Security Team", "GIT_AUTHOR_EMAIL": "security@example.com",
       "GIT_COMMITTER_NAME": "Security Team", "GIT_COMMITTER_EMAIL": "security@example.com",
       "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
# The workloads that ran before egressguard: a namespace, its service account, and what
# its Deployment asks for.
BEFORE = {"storefront": ("web", "api.stripe.com:443"),
          "reports": ("mailer", "hooks.slack.com:443, api.sendgrid.com:443")}
GATEWAY_NAMESPACES = ("istio-system", "istio-egress", "payments-egress")


@dataclass(frozen=True)
class Step:
    script: str
    prints: list[str]
    exits: int
    line: int


def steps(text: str) -> list[Step]:
    """The guide's sh blocks, each with the text block that follows it."""
    found: list[Step] = []
    blocks = list(FENCE.finditer(text))
    for index, block in enumerate(blocks):
        if block.group(1) != "sh":
            continue
        prints: list[str] = []
        if index + 1 < len(blocks):
            after = blocks[index + 1]
            if after.group(1) == "text" and not text[block.end():after.start()].strip():
                prints = [line for line in after.group(2).splitlines()
                          if line.strip() and line.strip() != "..."]
        exits = EXITS.search(block.group(2))
        found.append(Step(block.group(2), prints, int(exits.group(1)) if exits else 0,
                          text.count("\n", 0, block.start()) + 1))
    return found


def squeezed(line: str) -> str:
    return " ".join(line.split())


def matches(want: str, line: str) -> bool:
    """``want`` is in ``line``; a ``…`` in it stands for anything (a generated name, a
    hash, a time)."""
    position = 0
    for part in want.split("…"):
        found = line.find(part.strip(), position)
        if found < 0:
            return False
        position = found + len(part.strip())
    return True


def missing_lines(expected: list[str], output: str) -> list[str]:
    """The expected lines not found in ``output`` in order (white space aside)."""
    lines = [squeezed(line) for line in output.splitlines()]
    position, missing = 0, []
    for want in map(squeezed, expected):
        for index in range(position, len(lines)):
            if matches(want, lines[index]):
                position = index + 1
                break
        else:
            missing.append(want)
    return missing


@dataclass
class Guide:
    cluster: EgressguardCluster
    folder: Path
    repository: Path
    env: dict[str, str]
    synced: str = ""

    def sync(self) -> None:
        """git-sync: the repository's main, into the folder the webhook serves."""
        head = subprocess.run(["git", "-C", str(self.repository), "rev-parse", "main"],
                              capture_output=True, text=True, check=True,
                              env=self.env).stdout.strip()
        if head == self.synced:
            return
        webhook = self.cluster.webhook
        generation = webhook.rules_generation()
        archive = subprocess.run(["git", "-C", str(self.repository), "archive", "main"],
                                 capture_output=True, check=True, env=self.env).stdout
        subprocess.run(["tar", "-x", "-C", str(webhook.rules)], input=archive, check=True)
        wait_until(lambda: webhook.rules_generation() > generation, timeout=30,
                   what="the webhook to load the merged rules")
        assert not webhook.rules_failing()
        self.synced = head

    def run(self, step: Step) -> subprocess.CompletedProcess[str]:
        shutil.copyfile(self.cluster.webhook.audit_log, self.folder / "audit.log")
        # One stream, as a terminal shows it.
        return subprocess.run(["bash", "-o", "pipefail", "-c", step.script],
                              cwd=self.folder, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=240, check=False)


def git(repository: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repository), *args], check=True, capture_output=True,
                   env={**os.environ, **GIT})


@contextlib.contextmanager
def kubelets(admin: Kubectl) -> Iterator[None]:
    """Pods start as on a cluster with nodes: each new pod is reported ready within a
    second or two, so rollouts finish and replace the old pods."""
    stop = threading.Event()

    def work() -> None:
        while not stop.wait(1.0):
            with contextlib.suppress(Exception):
                report_new_pods_ready(admin)

    thread = threading.Thread(target=work, name="kubelets", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def guide(binaries: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guide]:
    folder = tmp_path_factory.mktemp("guide")
    repository = folder / "egress-rules"
    shutil.copytree(EXAMPLE_RULES, repository)
    config = repository / "config.yaml"
    config.write_text(config.read_text().replace("defaultMode: enforce", "defaultMode: warn"))
    assert "defaultMode: warn" in config.read_text()
    git(repository, "init", "-q", "-b", "main")
    git(repository, "add", "-A")
    git(repository, "commit", "-q", "-m", "The rules, in warn mode while we adopt egressguard")
    with ControlPlane.started(tmp_path_factory.mktemp("guide-plane"), binaries) as plane:
        install_crds(plane)
        admin: Kubectl = plane.kubectl(ADMIN)
        for name, (account, egress) in BEFORE.items():
            admin.create(namespace(name), check=True)
            admin.run("create", "serviceaccount", account, "-n", name, check=True)
            admin.apply(deployment(account, name, service_account=account, egress=egress),
                        check=True)
        for name in GATEWAY_NAMESPACES:
            admin.create(namespace(name), check=True)
        with running_egressguard(plane, tmp_path_factory.mktemp("guide-egressguard"),
                                 rules=repository) as cluster, kubelets(admin):
            path = os.pathsep.join([str(plane.binaries), str(Path(sys.executable).parent),
                                    "/usr/local/bin", "/usr/bin", "/bin"])
            env = {**plane.env, **GIT, "PATH": path, "HOME": str(folder),
                   "KUBECONFIG": str(plane.kubeconfig(SECURITY))}
            guide = Guide(cluster, folder, repository, env)
            guide.synced = subprocess.run(
                ["git", "-C", str(repository), "rev-parse", "main"], capture_output=True,
                text=True, check=True, env=env).stdout.strip()
            yield guide


def test_the_guide_has_steps_with_what_they_print() -> None:
    found = steps(GUIDE.read_text())
    assert len(found) >= 8
    assert sum(1 for step in found if step.prints) >= 6


def test_the_guide_runs_as_written(guide: Guide) -> None:
    text = GUIDE.read_text()
    for step in steps(text):
        result = guide.run(step)
        output = result.stdout
        where = f"docs/migration.md:{step.line}\n$ {step.script}\n{output}"
        assert result.returncode == step.exits, f"exit {result.returncode}, " + where
        missing = missing_lines(step.prints, output)
        assert not missing, f"not printed: {missing}\n" + where
        guide.sync()
    # Where the guide ends: every namespace enforced, the example's workloads admitted.
    config = yaml.safe_load((guide.repository / "config.yaml").read_text())
    assert config["spec"]["defaultMode"] == "enforce"
