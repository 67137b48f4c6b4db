"""Keeping the serving certificate in a Kubernetes Secret, and deciding when to renew it.

The bootstrap Job and the renewal CronJob in deploy/ run ``egressguard certs --secret``:
a certificate that is still good is left alone (so re-running is harmless); one that is
missing, expiring, or for other names is replaced by a new CA and serving certificate. The
caller patches ``caBundle`` with the new CA *and the previous one* before it replaces the
Secret, so the API server trusts both the serving certificate being replaced and its
successor while the kubelet propagates the Secret to every replica.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from webhook.certs.cluster import kubernetes
from webhook.certs.pki import KeyPair, certificate_info

TLS_CERT, TLS_KEY, CA_CERT = "tls.crt", "tls.key", "ca.crt"


def still_good(data: Mapping[str, bytes] | None, *, now: datetime, renew_before: timedelta,
               names: Iterable[str], ips: Iterable[str]) -> bool:
    """Whether the Secret's certificate serves every name for longer than ``renew_before``."""
    if not data or not all(data.get(k) for k in (TLS_CERT, TLS_KEY, CA_CERT)):
        return False
    try:
        info = certificate_info(data[TLS_CERT])
    except ValueError:
        return False
    return (info.not_after - renew_before > now
            and set(names) <= set(info.dns_names) and set(ips) <= set(info.ip_addresses))


def read_secret(api_client: Any, *, name: str, namespace: str) -> dict[str, bytes] | None:
    core = kubernetes().client.CoreV1Api(api_client)
    try:
        secret = core.read_namespaced_secret(name, namespace)
    except kubernetes().client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}


def write_secret(api_client: Any, *, name: str, namespace: str, serving: KeyPair,
                 ca_bundle: bytes) -> None:
    """Creates or replaces the ``kubernetes.io/tls`` Secret the webhook mounts."""
    k8s = kubernetes()
    body = k8s.client.V1Secret(
        metadata=k8s.client.V1ObjectMeta(
            name=name, namespace=namespace,
            labels={"app.kubernetes.io/name": "egressguard",
                    "app.kubernetes.io/managed-by": "egressguard-certs"},
        ),
        type="kubernetes.io/tls",
        data={
            TLS_CERT: base64.b64encode(serving.cert_pem).decode(),
            TLS_KEY: base64.b64encode(serving.key_pem).decode(),
            CA_CERT: base64.b64encode(ca_bundle).decode(),
        },
    )
    core = k8s.client.CoreV1Api(api_client)
    try:
        core.replace_namespaced_secret(name, namespace, body)
    except k8s.client.ApiException as error:
        if error.status != 404:
            raise
        core.create_namespaced_secret(namespace, body)
