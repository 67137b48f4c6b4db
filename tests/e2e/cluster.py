"""egressguard running against the local control plane, as a platform team installs it:
the webhook from deploy/, the example rules, and the namespaces of the example teams.

Used by the pytest fixtures and by ``make demo`` alike.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .controlplane import ADMIN, DEVELOPER, SECURITY, ControlPlane
from .kubectl import Kubectl
from .objects import MODE_LABEL, namespace
from .webhook_process import (
    EXAMPLE_RULES,
    WebhookServer,
    deploy_manifests,
    register,
    service_account_objects,
)

# The teams of rules/services/<namespace>/<serviceaccount>/: the developer works here.
TEAM_NAMESPACES: Mapping[str, tuple[str, ...]] = {
    "shop": ("checkout", "notifier"),
    "ci": ("builder",),
    "data": ("exporter",),
}
# Namespaces whose mode the security team set (only a trusted principal may).
MODE_NAMESPACES: Mapping[str, str] = {"sandbox": "warn", "quiet": "off"}
DEVELOPER_ROLE = "egressguard-e2e-developer"
TOKEN_LIFETIME = "24h"


@dataclass
class EgressguardCluster:
    plane: ControlPlane
    webhook: WebhookServer
    manifests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def admin(self) -> Kubectl:
        return self.plane.kubectl(ADMIN)

    @property
    def developer(self) -> Kubectl:
        return self.plane.kubectl(DEVELOPER)

    @property
    def security(self) -> Kubectl:
        return self.plane.kubectl(SECURITY)

    def register_webhook(self, *, ca_bundle: bytes | None = None) -> None:
        """(Re-)apply deploy/'s webhook configurations pointing at the local server."""
        register(
            self.admin,
            self.manifests,
            base_url=self.webhook.base_url,
            ca_bundle=ca_bundle if ca_bundle is not None else self.webhook.ca_pem,
        )

    def add_team_namespace(
        self,
        name: str,
        *,
        service_accounts: tuple[str, ...] = (),
        labels: Mapping[str, str] | None = None,
        creator: Kubectl | None = None,
    ) -> None:
        """A namespace where the developer may work, with its service accounts."""
        (creator or self.admin).create(namespace(name, labels=labels), check=True)
        self.admin.run(
            "create", "rolebinding", "developer", f"--clusterrole={DEVELOPER_ROLE}",
            f"--user={DEVELOPER.user}", "-n", name, check=True,
        )
        for account in service_accounts:
            self.admin.run("create", "serviceaccount", account, "-n", name, check=True)
        # The ServiceAccount admission plugin needs the default account, which
        # kube-controller-manager creates.
        self.admin.run(
            "wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=30s",
            check=True, timeout=40,
        )


def webhook_kubeconfig(plane: ControlPlane, manifests: list[dict[str, Any]], path: Path) -> Path:
    """A kubeconfig for deploy/'s own service account, with deploy/'s RBAC applied, so the
    local server has exactly the rights it has in a cluster."""
    namespace, account, objects = service_account_objects(manifests)
    admin = plane.kubectl(ADMIN)
    admin.apply(objects, check=True)
    token = admin.run(
        "create", "token", account, "-n", namespace, f"--duration={TOKEN_LIFETIME}", check=True
    ).stdout.strip()
    return plane.write_kubeconfig(
        path, user=f"system:serviceaccount:{namespace}:{account}", token=token
    )


@contextlib.contextmanager
def running_egressguard(
    plane: ControlPlane,
    workdir: Path,
    *,
    rules: Path = EXAMPLE_RULES,
    manifests: list[dict[str, Any]] | None = None,
    serve_args: tuple[str, ...] = (),
) -> Iterator[EgressguardCluster]:
    """Start ``egressguard serve`` on a copy of ``rules`` (so a test can change it as a
    merged pull request would), register it, create the example teams' namespaces.
    ``manifests`` are the installed objects whose webhook configurations and service
    account it runs behind (default: the two kustomize steps, ``deploy/`` and
    ``deploy/webhooks``); ``serve_args`` are more options for ``egressguard serve``."""
    served_rules = workdir / "rules"
    shutil.copytree(rules, served_rules)
    if manifests is None:
        manifests = deploy_manifests(plane.kubectl(ADMIN))
    kubeconfig = webhook_kubeconfig(plane, manifests, workdir / "webhook.kubeconfig")
    webhook = WebhookServer(workdir, kubeconfig=kubeconfig, rules=served_rules,
                            extra_args=serve_args)
    webhook.issue_certificates()
    cluster = EgressguardCluster(plane, webhook, manifests)
    try:
        webhook.start()
        cluster.register_webhook()
        for name, accounts in TEAM_NAMESPACES.items():
            cluster.add_team_namespace(name, service_accounts=accounts)
        for name, mode in MODE_NAMESPACES.items():
            cluster.add_team_namespace(
                name, labels={MODE_LABEL: mode}, creator=cluster.security
            )
        yield cluster
    finally:
        webhook.stop()
