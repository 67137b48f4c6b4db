"""The webhook admits the controller's writes, and refuses the same writes from a developer.

egressguard serves as deploy/overlays/controller installs it: deploy/'s webhook
configurations registered (as the other end-to-end tests register them), its service account
with the overlay's RBAC, and ``--controller-service-account`` naming that account. A
developer with RBAC to write the same kinds in the same namespaces first applies render's
output for the gateway objects, server-side as field manager ``egressguard``: the webhook
refuses each. Then the controller is turned on (``serve --reconcile``) and server-side
applies the very same objects and the fences: the webhook judges each of its writes (its
audit log shows them as the controller's) and admits them. A developer who then changes or
deletes one is refused; one who applies it unchanged changes nothing and is let through.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cluster import DEVELOPER_ROLE, webhook_kubeconfig
from .controlplane import ADMIN, DEVELOPER, ControlPlane
from .crds import install_crds
from .kubectl import Kubectl, Result
from .processes import Process, local_env, wait_until
from .webhook_process import (
    DEPLOY_DIR,
    EXAMPLE_RULES,
    REPO,
    SERVICE_NAMESPACE,
    WebhookServer,
    deploy_manifests,
    egressguard_argv,
    register,
)

pytestmark = pytest.mark.e2e

CONTROLLER_ACCOUNT = f"{SERVICE_NAMESPACE}:egressguard"
CONTROLLER_USER = f"system:serviceaccount:{SERVICE_NAMESPACE}:egressguard"
GATEWAY_NAMESPACES = ("istio-egress", "payments-egress")
TEAM_NAMESPACES = ("shop", "ci", "data")
# (kind, namespace, name) the controller applies, one per kind of concern.
FENCE = ("NetworkPolicy", "shop", "egressguard-fence")
GATEWAY_OBJECTS = (
    ("ServiceEntry", "payments-egress", "stripe"),
    ("AuthorizationPolicy", "payments-egress", "stripe"),
    ("NetworkPolicy", "payments-egress", "stripe-egress"),
)
RESOURCES = {"NetworkPolicy": "networkpolicy", "ServiceEntry": "serviceentries.networking.istio.io",
             "AuthorizationPolicy": "authorizationpolicies.security.istio.io"}


@dataclass
class Installed:
    plane: ControlPlane
    server: WebhookServer
    rules: Path
    kubeconfig: Path
    controller_on: bool = False

    @property
    def admin(self) -> Kubectl:
        return self.plane.kubectl(ADMIN)

    @property
    def process(self) -> Process:
        return self.server.process

    def audit(self) -> list[dict[str, Any]]:
        return self.server.audit_records()

    def turn_on_the_controller(self) -> None:
        """Restart the server as the overlay runs it: with the controller."""
        if self.controller_on:
            return
        self.server.stop()
        self.server.process = Process(
            "egressguard",
            egressguard_argv(
                "serve", "--rules", str(self.rules),
                "--cert", str(self.server.cert_dir / "tls.crt"),
                "--key", str(self.server.cert_dir / "tls.key"),
                "--host", "127.0.0.1", "--port", str(self.server.port),
                "--kubeconfig", str(self.kubeconfig),
                "--reconcile", "--lease-namespace", SERVICE_NAMESPACE, "--lease-seconds", "3",
                "--controller-service-account", CONTROLLER_ACCOUNT,
                # As deploy/ runs it: the controller in the first worker, and the API server
                # sending its writes to either.
                "--workers", "2",
                "--log-format", "text",
            ),
            log_path=self.server.workdir / "logs" / "egressguard-controller.log",
            stdout_path=self.server.audit_log,
            env=local_env({"PYTHONUNBUFFERED": "1", "POD_NAME": "egressguard-0"}),
            cwd=REPO,
        )
        self.server.start()
        self.controller_on = True


@pytest.fixture(scope="module")
def installed(binaries: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A control plane of its own (the controller fences every namespace), egressguard
    serving its webhook behind deploy/overlays/controller's account, controller off."""
    workdir = tmp_path_factory.mktemp("controller-admission")
    with ControlPlane.started(workdir / "plane", binaries) as plane:
        install_crds(plane)
        admin = plane.kubectl(ADMIN)
        for namespace in (*GATEWAY_NAMESPACES, *TEAM_NAMESPACES):
            admin("create", "namespace", namespace, check=True)
            # The developer may write every kind the controller writes, where it writes.
            admin("create", "rolebinding", "developer", f"--clusterrole={DEVELOPER_ROLE}",
                  f"--user={DEVELOPER.user}", "-n", namespace, check=True)
        rules = workdir / "rules"
        shutil.copytree(EXAMPLE_RULES, rules)
        manifests = deploy_manifests(admin, DEPLOY_DIR / "overlays" / "controller")
        kubeconfig = webhook_kubeconfig(plane, manifests, workdir / "controller.kubeconfig")
        server = WebhookServer(workdir, kubeconfig=kubeconfig, rules=rules)
        server.issue_certificates()
        server.start()
        try:
            register(admin, manifests, base_url=server.base_url, ca_bundle=server.ca_pem)
            yield Installed(plane, server, rules, kubeconfig)
        finally:
            server.stop()


def get(admin: Kubectl, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = admin.get_json(RESOURCES[kind], "-n", namespace, name)
    return found


def rendered(installed: Installed, kind: str, namespace: str, name: str) -> dict[str, Any]:
    """The object as ``egressguard render`` writes it for the served rules."""
    output = subprocess.run(
        egressguard_argv("render", "--rules", str(installed.rules), "--mode", "istio-sidecar"),
        capture_output=True, text=True, check=True, cwd=REPO, env=local_env(), timeout=120,
    ).stdout
    for document in yaml.safe_load_all(output):
        meta = (document or {}).get("metadata") or {}
        if (document["kind"], meta.get("namespace"), meta.get("name")) == (kind, namespace, name):
            return dict(document)
    raise AssertionError(f"render wrote no {kind} {namespace}/{name}")


def as_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as an apply sends it: what the server added taken out."""
    metadata = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"], "kind": obj["kind"],
        "metadata": {key: metadata[key] for key in ("name", "namespace", "labels",
                                                    "annotations") if key in metadata},
        "spec": obj["spec"],
    }


def apply_as_developer(installed: Installed, obj: dict[str, Any]) -> Result:
    developer = installed.plane.kubectl(DEVELOPER)
    return developer.run("apply", "--server-side", "--field-manager=egressguard",
                         "--force-conflicts", "-f", "-", stdin=[obj])


def refused_by_the_webhook(result: Result) -> bool:
    """Refused by egressguard's webhook, not by RBAC (which the developer passes)."""
    return (not result.ok and "admission webhook" in result.stderr
            and "denied the request" in result.stderr and "forbidden: User" not in result.stderr)


def records(installed: Installed, user: str, kind: str, namespace: str,
            name: str) -> list[dict[str, Any]]:
    return [r for r in installed.audit()
            if r.get("user") == user and (r.get("kind"), r.get("namespace"),
                                          r.get("name")) == (kind, namespace, name)]


def test_a_developer_applying_renders_gateway_objects_is_refused(installed: Installed) -> None:
    assert not installed.controller_on
    for kind, namespace, name in GATEWAY_OBJECTS:
        result = apply_as_developer(installed, rendered(installed, kind, namespace, name))
        assert refused_by_the_webhook(result), (kind, namespace, name, result)
        assert get(installed.admin, kind, namespace, name) is None
        decisions = records(installed, DEVELOPER.user, kind, namespace, name)
        assert decisions and not any(r["allowed"] for r in decisions)


def test_the_controller_applies_the_same_objects_and_the_webhook_admits_them(
        installed: Installed) -> None:
    installed.turn_on_the_controller()
    admin = installed.admin
    for kind, namespace, name in (FENCE, *GATEWAY_OBJECTS):
        wait_until(lambda k=kind, ns=namespace, n=name: get(admin, k, ns, n) is not None,
                   timeout=60, what=f"{kind} {namespace}/{name} applied by the controller",
                   processes=[installed.process])
        # The API server sent the controller's write to the webhook, which admitted it.
        wait_until(lambda k=kind, ns=namespace, n=name: bool(records(
                   installed, CONTROLLER_USER, k, ns, n)), timeout=10,
                   what=f"the webhook's decision on {kind} {namespace}/{name}")
        decisions = records(installed, CONTROLLER_USER, kind, namespace, name)
        assert all(r["allowed"] and not r["dryRun"] for r in decisions), decisions
        assert {r["operation"] for r in decisions} <= {"CREATE", "UPDATE"}
        applied = get(admin, kind, namespace, name)
        assert applied is not None
        expected = rendered(installed, kind, namespace, name)
        assert applied["spec"] == expected["spec"]
        # Labelled as egressguard's and annotated with the rules revision it came from.
        assert applied["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "egressguard"
        revision = applied["metadata"]["annotations"]["egressguard.io/rules-revision"]
        assert revision and revision == expected["metadata"]["annotations"][
            "egressguard.io/rules-revision"]
        shown = admin.get_json(RESOURCES[kind], "-n", namespace, name, "--show-managed-fields")
        managers = {(entry["manager"], entry["operation"])
                    for entry in shown["metadata"]["managedFields"]}
        assert managers == {("egressguard", "Apply")}
    log = installed.process.log_path.read_text()
    assert "reconciled rules revision" in log


def test_a_developer_changing_or_deleting_them_is_refused(installed: Installed) -> None:
    installed.turn_on_the_controller()
    admin = installed.admin
    for kind, namespace, name in (FENCE, *GATEWAY_OBJECTS):
        wait_until(lambda k=kind, ns=namespace, n=name: get(admin, k, ns, n) is not None,
                   timeout=60, what=f"{kind} {namespace}/{name}",
                   processes=[installed.process])
        current = get(admin, kind, namespace, name)
        assert current is not None
        version = current["metadata"]["resourceVersion"]
        changed = as_applied(current)
        changed["metadata"]["labels"] = {**changed["metadata"]["labels"], "team": "shop"}
        result = apply_as_developer(installed, changed)
        assert refused_by_the_webhook(result), (kind, namespace, name, result)
        result = installed.plane.kubectl(DEVELOPER).run(
            "delete", RESOURCES[kind], "-n", namespace, name)
        assert refused_by_the_webhook(result), (kind, namespace, name, result)
        # Applied unchanged, it changes nothing: let through, the object untouched.
        result = apply_as_developer(installed, as_applied(current))
        assert result.ok, result
        after = get(admin, kind, namespace, name)
        assert after is not None and after["metadata"]["resourceVersion"] == version
