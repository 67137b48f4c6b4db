"""A local Kubernetes control plane for tests and the demo: etcd, kube-apiserver and
kube-controller-manager on 127.0.0.1 with free ports, RBAC on, and one kubeconfig per
identity (static bearer tokens).

Plain code, usable outside pytest::

    with ControlPlane.started(workdir, binaries) as cp:
        cp.kubectl("admin")("get", "namespaces")
"""

from __future__ import annotations

import contextlib
import datetime
import json
import secrets
import ssl
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from webhook.certs.pki import build_ca, build_serving_certificate

from . import pki
from .kubectl import Kubectl
from .processes import Process, free_port, local_env, wait_until

START_TIMEOUT = 90.0
RBAC_MANIFEST = Path(__file__).with_name("rbac.yaml")


@dataclass(frozen=True)
class Identity:
    """Someone who talks to the cluster: a static token user with groups."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


# The developer gets edit-like rights in the test namespaces (tests/e2e/rbac.yaml);
# security-admin is trusted in rules/config.yaml. (The webhook runs as deploy/'s own
# service account, with a token from the TokenRequest API: see cluster.py.)
ADMIN = Identity("admin", "e2e-admin", ("system:masters",))
DEVELOPER = Identity("developer", "dev-alice", ("developers",))
SECURITY = Identity("security", "security-admin")
CONTROLLER_MANAGER = Identity("controller-manager", "system:kube-controller-manager")
IDENTITIES = (ADMIN, DEVELOPER, SECURITY, CONTROLLER_MANAGER)

KCM_CONTROLLERS = (
    "deployment", "replicaset", "serviceaccount", "namespace", "garbagecollector",
    "endpoints-controller", "endpointslice-controller", "endpointslice-mirroring-controller",
)


class ControlPlane:
    def __init__(self, workdir: Path, binaries: Path) -> None:
        self.workdir = workdir
        self.binaries = binaries
        self.pki_dir = workdir / "pki"
        self.kubeconfig_dir = workdir / "kubeconfig"
        self.log_dir = workdir / "logs"
        self.env = local_env()
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.apiserver_port = free_port()
        self.server = f"https://127.0.0.1:{self.apiserver_port}"
        self.ca_file = self.pki_dir / "ca.crt"
        self._tokens = {i.name: secrets.token_urlsafe(24) for i in IDENTITIES}
        self.etcd = Process(
            "etcd", self._etcd_argv(), log_path=self.log_dir / "etcd.log", env=self.env
        )
        self.apiserver = Process(
            "kube-apiserver",
            self._apiserver_argv(),
            log_path=self.log_dir / "kube-apiserver.log",
            env=self.env,
        )
        self.controller_manager = Process(
            "kube-controller-manager",
            self._controller_manager_argv(),
            log_path=self.log_dir / "kube-controller-manager.log",
            env=self.env,
        )

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def started(cls, workdir: Path, binaries: Path) -> Iterator[ControlPlane]:
        plane = cls(workdir, binaries)
        try:
            plane.start()
            yield plane
        finally:
            plane.stop()

    def start(self) -> None:
        self._write_pki()
        self._write_tokens_and_kubeconfigs()
        self.etcd.start()
        wait_until(
            lambda: _http_ok(f"http://127.0.0.1:{self.etcd_port}/health"),
            timeout=START_TIMEOUT, what="etcd /health", processes=[self.etcd],
        )
        self.apiserver.start()
        context = ssl.create_default_context(cafile=str(self.ca_file))
        wait_until(
            lambda: _http_ok(f"{self.server}/readyz", context=context),
            timeout=START_TIMEOUT, what="kube-apiserver /readyz",
            processes=[self.etcd, self.apiserver],
        )
        self.kubectl(ADMIN).apply(RBAC_MANIFEST.read_text(), check=True)
        self.controller_manager.start()

    def stop(self) -> None:
        # Reverse order; each stop is bounded (terminate, wait, kill).
        for proc in (self.controller_manager, self.apiserver, self.etcd):
            proc.stop()

    @property
    def processes(self) -> Sequence[Process]:
        return (self.etcd, self.apiserver, self.controller_manager)

    def check_alive(self) -> None:
        for proc in self.processes:
            proc.ensure_alive()

    # -- identities --------------------------------------------------------------------

    def kubeconfig(self, identity: Identity) -> Path:
        return self.kubeconfig_dir / f"{identity.name}.kubeconfig"

    def kubectl(self, identity: Identity) -> Kubectl:
        return Kubectl(
            binary=self.binaries / "kubectl",
            kubeconfig=self.kubeconfig(identity),
            env=self.env,
            identity=identity.user,
        )

    # -- arguments ---------------------------------------------------------------------

    def _etcd_argv(self) -> list[str]:
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        return [
            str(self.binaries / "etcd"),
            "--name=e2e",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=e2e={peer}",
            f"--listen-metrics-urls=http://127.0.0.1:{free_port()}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_argv(self) -> list[str]:
        # The flags controller-runtime's envtest gives a standalone kube-apiserver, plus
        # static tokens, and the ServiceAccount admission plugin left on as in a real
        # cluster (kube-controller-manager creates the default service accounts).
        pki_dir = self.pki_dir
        return [
            str(self.binaries / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # No kubernetes Service endpoints: they may not point at a loopback address.
            "--endpoint-reconciler-type=none",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={pki_dir}",
            f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
            f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={pki_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--profiling=false",
        ]

    def _controller_manager_argv(self) -> list[str]:
        return [
            str(self.binaries / "kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig(CONTROLLER_MANAGER)}",
            f"--controllers={','.join(KCM_CONTROLLERS)}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            # No health/metrics endpoint: nothing here scrapes it, and nothing but the
            # API server should listen.
            "--secure-port=0",
            f"--root-ca-file={self.ca_file}",
            "--concurrent-deployment-syncs=2",
            "--concurrent-replicaset-syncs=2",
        ]

    # -- files -------------------------------------------------------------------------

    def _write_pki(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca = build_ca(common_name="egressguard-e2e-ca", now=now)
        serving = build_serving_certificate(
            ca, service="kubernetes", namespace="default", now=now,
            dns_names=["localhost"], ips=["127.0.0.1", "10.0.0.1"],
        )
        signing = pki.make_signing_key()
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        _write_private(self.ca_file, ca.cert_pem)
        _write_private(self.pki_dir / "apiserver.crt", serving.cert_pem)
        _write_private(self.pki_dir / "apiserver.key", serving.key_pem)
        _write_private(self.pki_dir / "sa.pub", signing.cert_pem)
        _write_private(self.pki_dir / "sa.key", signing.key_pem)

    def _write_tokens_and_kubeconfigs(self) -> None:
        lines = []
        for ident in IDENTITIES:
            groups = ",".join(ident.groups)
            lines.append(f'{self._tokens[ident.name]},{ident.user},{ident.user},"{groups}"')
        _write_private(self.workdir / "tokens.csv", ("\n".join(lines) + "\n").encode())
        for ident in IDENTITIES:
            self.write_kubeconfig(
                self.kubeconfig(ident), user=ident.user, token=self._tokens[ident.name]
            )

    def write_kubeconfig(self, path: Path, *, user: str, token: str) -> Path:
        """A kubeconfig for this cluster with a bearer token."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{
                "name": "e2e",
                "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
            }],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{
                "name": "e2e",
                "context": {"cluster": "e2e", "user": user, "namespace": "default"},
            }],
            "current-context": "e2e",
        }
        _write_private(path, yaml.safe_dump(config).encode())
        return path


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(data)


def _http_ok(url: str, *, context: ssl.SSLContext | None = None) -> bool:
    # No proxy: these are loopback addresses.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    with opener.open(url, timeout=2) as response:
        return bool(response.status == 200)


def server_version(plane: ControlPlane) -> str:
    """``kubectl version`` as a user would read it."""
    result = plane.kubectl(ADMIN).run("version", "-o", "json", check=True)
    info = json.loads(result.stdout)
    client = info.get("clientVersion", {}).get("gitVersion", "?")
    server = info.get("serverVersion", {}).get("gitVersion", "?")
    return f"kubectl {client}, kube-apiserver {server}"
