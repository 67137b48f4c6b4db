"""``make demo``: a five-minute tour of egressguard on a real, local control plane.

Starts etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, runs
``egressguard serve`` with the example rules behind the webhook configurations of
deploy/, then shows with kubectl what a developer and the security team see. Everything
is torn down at the end (``--keep`` leaves it running until Enter or Ctrl-C).

    python -m tests.e2e.demo [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .binaries import controlplane_binaries
from .cluster import EgressguardCluster, running_egressguard
from .controlplane import DEVELOPER, SECURITY, ControlPlane, Identity, server_version
from .crds import install_crds
from .kubectl import Kubectl, to_yaml
from .objects import pod

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


class Tour:
    def __init__(self, cluster: EgressguardCluster, workdir: Path) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.step = 0

    def say(self, title: str, text: str = "") -> None:
        self.step += 1
        print(f"\n{BOLD}{self.step}. {title}{RESET}")
        if text:
            print(textwrap.fill(" ".join(text.split()), width=92))

    def file(self, name: str, manifest: dict[str, Any]) -> str:
        """Write a manifest next to the tour's kubectl commands, and show it."""
        path = self.workdir / name
        path.write_text(to_yaml(manifest))
        print(f"{DIM}# {name}{RESET}")
        print(textwrap.indent(path.read_text().rstrip(), "  "))
        return name

    def kubectl(self, who: Identity, *args: str) -> None:
        kubectl: Kubectl = self.cluster.plane.kubectl(who)
        shown = " ".join(shlex.quote(a) for a in args)
        print(f"{BOLD}$ kubectl {shown}{RESET}   {DIM}# as {who.user}{RESET}")
        result = kubectl.run(*args, cwd=self.workdir)
        for stream in (result.stdout, result.stderr):
            if stream.strip():
                print(textwrap.indent(stream.rstrip(), "  "))
        if not result.ok:
            print(f"  {DIM}(exit code {result.returncode}){RESET}")

    def run(self) -> None:
        self.say(
            "A checkout pod asks for Stripe",
            """rules/services/shop/checkout/ holds grants for api.stripe.com:443 and
            orders.partner.example:80. egressguard labels the pod with both entitlements;
            the egress NetworkPolicies only let labelled pods reach the gateways.""",
        )
        granted = self.file(
            "checkout.yaml",
            pod("checkout", "shop", service_account="checkout", egress="api.stripe.com:443"),
        )
        self.kubectl(DEVELOPER, "apply", "-f", granted)
        self.kubectl(DEVELOPER, "get", "pod", "checkout", "-n", "shop", "--show-labels")

        self.say(
            "The same service account asks for GitHub",
            """No grant covers it, so the pod is refused, and the message says which rules
            file a pull request should add.""",
        )
        refused = self.file(
            "checkout-github.yaml",
            pod("checkout-github", "shop", service_account="checkout", egress="github.com:443"),
        )
        self.kubectl(DEVELOPER, "apply", "-f", refused)

        self.say(
            "Labelling yourself in does not work either",
            "Entitlement labels are set only by egressguard, on create and on update.",
        )
        self.kubectl(
            DEVELOPER, "label", "pod", "checkout", "-n", "shop", "egressguard.io/allow-github=true"
        )

        self.say(
            "A server-side dry run gets the same answer and stores nothing",
            "Handy in CI: kubectl apply --dry-run=server asks the real webhook.",
        )
        self.kubectl(DEVELOPER, "apply", "--dry-run=server", "-f", refused)
        self.kubectl(DEVELOPER, "get", "pod", "checkout-github", "-n", "shop", "--ignore-not-found")
        print(f"  {DIM}(nothing stored){RESET}")

        self.say(
            "Warn mode: admitted, with warnings",
            """The security team put the sandbox namespace in warn mode (label
            egressguard.io/mode=warn). Violations are admitted and printed by kubectl,
            but no entitlement is granted.""",
        )
        warned = self.file(
            "sandbox.yaml", pod("explorer", "sandbox", egress="github.com:443", hostNetwork=True)
        )
        self.kubectl(DEVELOPER, "apply", "-f", warned)

        self.say(
            "A ServiceEntry that would open *.com",
            """Mesh configuration that bypasses the gateways is refused for developers, and
            admitted for the trusted security team (rules/config.yaml trustedPrincipals).""",
        )
        entry = self.file(
            "serviceentry.yaml",
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "ServiceEntry",
                "metadata": {"name": "everything", "namespace": "shop"},
                "spec": {
                    "hosts": ["*.com"],
                    "location": "MESH_EXTERNAL",
                    "resolution": "NONE",
                    "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                },
            },
        )
        self.kubectl(DEVELOPER, "apply", "-f", entry)
        self.kubectl(SECURITY, "apply", "-f", entry)

        self.say(
            "Every decision is one JSON line in the audit log (egressguard's stdout)",
            "The last three:",
        )
        for record in self.cluster.webhook.audit_records()[-3:]:
            print(textwrap.indent(json.dumps(record), "  "))


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the cluster running after the tour until Enter or Ctrl-C",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = time.monotonic()
    print(
        f"{BOLD}egressguard demo{RESET}: starting a local control plane (binaries are "
        "built once and cached in ~/.cache/egressguard)"
    )
    binaries = controlplane_binaries()
    try:
        with tempfile.TemporaryDirectory(prefix="egressguard-demo-") as tmp:
            workdir = Path(tmp)
            with ControlPlane.started(workdir / "cluster", binaries) as plane:
                install_crds(plane)
                print(f"{server_version(plane)} on {plane.server}")
                with running_egressguard(plane, workdir / "egressguard") as cluster:
                    print(
                        f"egressguard serving a copy of rules/ on {cluster.webhook.base_url}, "
                        f"registered from deploy/ (ready in {time.monotonic() - started:.0f}s)"
                    )
                    manifests = workdir / "manifests"
                    manifests.mkdir()
                    Tour(cluster, manifests).run()
                    if args.keep:
                        _keep(plane)
            print(
                f"\n{BOLD}Done{RESET}: everything stopped and removed "
                f"({time.monotonic() - started:.0f}s in total)."
            )
    except KeyboardInterrupt:
        print("\ninterrupted: everything stopped and removed.", file=sys.stderr)
        return 130
    return 0


def _keep(plane: ControlPlane) -> None:
    print(f"\n{BOLD}The cluster keeps running.{RESET} In another terminal:")
    print(f"  export PATH={plane.binaries}:$PATH")
    for who in (DEVELOPER, SECURITY):
        print(f"  export KUBECONFIG={plane.kubeconfig(who)}   # as {who.user}")
    print("  kubectl -n shop get pods --show-labels")
    with contextlib.suppress(EOFError):
        input("Press Enter to tear everything down. ")


if __name__ == "__main__":
    sys.exit(main())
