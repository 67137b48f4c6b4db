"""egressguard itself, as the cluster meets it: ``egressguard serve`` in a subprocess on
127.0.0.1, with certificates from ``egressguard certs``, registered through the webhook
configurations of ``deploy/`` (rendered by ``kubectl kustomize``).

The certificate folder is laid out like a mounted Secret volume (files are symlinks into
``..data``, which is swapped atomically), so rotating it here is rotating it in a pod.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .kubectl import Kubectl
from .processes import Process, free_port, local_env, wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO / "deploy"
EXAMPLE_RULES = REPO / "rules"
SERVICE_NAME = "egressguard"
SERVICE_NAMESPACE = "egressguard-system"
CERT_FILES = ("ca.crt", "tls.crt", "tls.key")
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_DEFAULT_PATHS = {"MutatingWebhookConfiguration": "/mutate",
                  "ValidatingWebhookConfiguration": "/validate"}


def egressguard_argv(*args: str) -> list[str]:
    """The ``egressguard`` command of this checkout, whatever the PATH."""
    return [sys.executable, "-m", "webhook", *args]


class WebhookServer:
    def __init__(
        self,
        workdir: Path,
        *,
        kubeconfig: Path,
        rules: Path = EXAMPLE_RULES,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.rules = rules
        self.kubeconfig = kubeconfig
        self.port = port or free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.cert_dir = workdir / "certs"
        self.audit_log = workdir / "logs" / "egressguard-audit.jsonl"
        self.process = Process(
            "egressguard",
            egressguard_argv(
                "serve",
                "--rules", str(rules),
                "--cert", str(self.cert_dir / "tls.crt"),
                "--key", str(self.cert_dir / "tls.key"),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--kubeconfig", str(kubeconfig),
                *extra_args,
            ),
            log_path=workdir / "logs" / "egressguard.log",
            stdout_path=self.audit_log,
            env=local_env({"PYTHONUNBUFFERED": "1"}),
            cwd=REPO,
        )

    # -- certificates ------------------------------------------------------------------

    def issue_certificates(self) -> bytes:
        """New certificates in place at once (first start). Returns the CA (PEM)."""
        version = self.prepare_certificates()
        self.activate_certificates(version)
        return self.ca_pem

    def prepare_certificates(self) -> Path:
        """Run ``egressguard certs`` into a new, not yet active version folder."""
        stamp = datetime.datetime.now(datetime.UTC).strftime("..%Y_%m_%d_%H_%M_%S.%f")
        version = self.cert_dir / stamp
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            egressguard_argv(
                "certs",
                "--service", SERVICE_NAME,
                "--namespace", SERVICE_NAMESPACE,
                "--out", str(version),
                "--ip", "127.0.0.1",
                "--dns", "localhost",
            ),
            capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"egressguard certs failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        for name in CERT_FILES:
            if not (version / name).is_file():
                raise RuntimeError(f"egressguard certs wrote no {name} in {version}")
        # As egressguard certs says: the CA key stays out of the webhook's Secret.
        (version / "ca.key").unlink(missing_ok=True)
        return version

    def activate_certificates(self, version: Path) -> None:
        """Swap ``..data`` to ``version`` with one rename, as the kubelet updates a
        mounted Secret: the server sees the new certificate and key together."""
        data = self.cert_dir / "..data"
        tmp_link = self.cert_dir / "..data_tmp"
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(version.name)
        previous = os.readlink(data) if data.is_symlink() else None
        tmp_link.replace(data)
        for name in CERT_FILES:
            link = self.cert_dir / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")
        if previous and previous != version.name:
            _remove_tree(self.cert_dir / previous)

    @property
    def ca_pem(self) -> bytes:
        return (self.cert_dir / "ca.crt").read_bytes()

    def served_certificate(self) -> bytes:
        """The leaf certificate the server presents right now (DER)."""
        context = ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.port), timeout=3) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der

    def current_leaf(self) -> bytes:
        """The leaf certificate on disk (DER), to compare with ``served_certificate``."""
        return ssl.PEM_cert_to_DER_cert((self.cert_dir / "tls.crt").read_text())

    # -- process -----------------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> None:
        self.process.start()
        self.wait_ready(timeout=timeout)

    def stop(self) -> None:
        self.process.stop()

    def wait_ready(self, *, timeout: float = 30.0) -> None:
        wait_until(self.ready, timeout=timeout, what="egressguard /readyz",
                   processes=[self.process])

    def ready(self) -> bool:
        return bool(self.readiness().get("ready"))

    def _opener(self) -> urllib.request.OpenerDirector:
        context = ssl.create_default_context(cafile=str(self.cert_dir / "ca.crt"))
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def readiness(self) -> dict[str, Any]:
        """The body of ``/readyz`` (verified against the current CA)."""
        opener = self._opener()
        try:
            with opener.open(f"{self.base_url}/readyz", timeout=2) as response:
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as error:  # 503 while not ready, still with a body
            body = json.loads(error.read() or b"{}")
        return body

    def metric(self, name: str) -> float:
        """A label-less metric of the server (0 when absent): ``/readyz`` tells nobody about
        the rules, the metrics tell their operators."""
        with self._opener().open(f"{self.base_url}/metrics", timeout=2) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        return 0.0

    def rules_generation(self) -> int:
        """How many rules snapshots the server has served."""
        return int(self.metric("egressguard_rules_generation"))

    def rules_failing(self) -> bool:
        """Whether the last rules change failed to load (the last good rules are served)."""
        return self.metric("egressguard_rules_reload_failing") > 0

    def audit_records(self) -> list[dict[str, Any]]:
        """The decisions in the audit log (JSON lines with a uid and an operation)."""
        records = []
        try:
            lines = self.audit_log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "uid" in record and "operation" in record:
                records.append(record)
        return records


# -- registration: the manifests of deploy/, pointed at the local server -----------------


def deploy_manifests(kubectl: Kubectl, deploy_dir: Path = DEPLOY_DIR) -> list[dict[str, Any]]:
    """What the two install steps apply: ``kubectl kustomize deploy/`` (or an overlay),
    then ``kubectl kustomize deploy/webhooks``, the webhook configurations."""
    docs = []
    for step in (deploy_dir, DEPLOY_DIR / "webhooks"):
        result = kubectl.run("kustomize", str(step), check=True)
        docs += [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return docs


def render_webhook_configurations(
    manifests: Iterable[Mapping[str, Any]], *, base_url: str, ca_bundle: bytes
) -> list[dict[str, Any]]:
    """The webhook configurations of ``manifests``, unchanged but for ``clientConfig``:
    a URL on ``base_url`` (keeping each webhook's service path) and ``caBundle``."""
    rendered = []
    for manifest in manifests:
        kind = manifest.get("kind")
        if kind not in WEBHOOK_KINDS:
            continue
        config = copy.deepcopy(dict(manifest))
        for hook in config.get("webhooks") or []:
            client = hook.get("clientConfig") or {}
            path = (client.get("service") or {}).get("path") or _DEFAULT_PATHS[kind]
            hook["clientConfig"] = {
                "url": base_url + path,
                "caBundle": base64.b64encode(ca_bundle).decode(),
                # Explicitly none: `kubectl apply` over an installed configuration (the
                # Helm chart's) then removes its Service reference instead of merging.
                "service": None,
            }
        rendered.append(config)
    found = {c["kind"] for c in rendered}
    if found != set(WEBHOOK_KINDS):
        raise ValueError(f"deploy/ should hold both webhook configurations, found {sorted(found)}")
    return rendered


def register(
    kubectl: Kubectl, manifests: Sequence[Mapping[str, Any]], *, base_url: str, ca_bundle: bytes
) -> list[dict[str, Any]]:
    configs = render_webhook_configurations(manifests, base_url=base_url, ca_bundle=ca_bundle)
    kubectl.apply(configs, check=True)
    return configs


def service_account_objects(
    manifests: Sequence[Mapping[str, Any]],
) -> tuple[str, str, list[dict[str, Any]]]:
    """The webhook Deployment's namespace and service account, and the objects of
    ``manifests`` that give it its rights: the Namespace, the ServiceAccount, the bindings
    naming it and the roles they refer to. The local server runs with exactly these."""
    deployments = [m for m in manifests if m.get("kind") == "Deployment"]
    if len(deployments) != 1:
        raise ValueError(f"deploy/ should hold one Deployment, found {len(deployments)}")
    namespace = deployments[0]["metadata"]["namespace"]
    account = deployments[0]["spec"]["template"]["spec"].get("serviceAccountName", "default")

    def names_account(binding: Mapping[str, Any]) -> bool:
        return any(
            s.get("kind") == "ServiceAccount" and s.get("name") == account
            and s.get("namespace", binding["metadata"].get("namespace")) == namespace
            for s in binding.get("subjects") or []
        )

    bindings = [m for m in manifests
                if m.get("kind") in ("ClusterRoleBinding", "RoleBinding") and names_account(m)]
    roles = {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings}
    selected = [
        dict(m) for m in manifests
        if (m.get("kind") == "Namespace" and m["metadata"]["name"] == namespace)
        or (m.get("kind") == "ServiceAccount" and m["metadata"]["name"] == account)
        or (m.get("kind"), m["metadata"].get("name")) in roles
    ] + [dict(b) for b in bindings]
    return namespace, account, selected


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
