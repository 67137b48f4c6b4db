"""Patching ``caBundle`` into egressguard's two webhook configurations.

The API server trusts the webhook's serving certificate only through the ``caBundle`` of
each webhook entry. The patch is a JSONPatch with a ``test`` of each entry's name before
replacing its bundle, so a configuration edited concurrently is refused rather than
patched at the wrong index.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from webhook.certs.cluster import kubernetes

MUTATING_CONFIGURATION = "egressguard"
VALIDATING_CONFIGURATION = "egressguard"


def ca_bundle_patch(configuration: Mapping[str, Any], ca_bundle_pem: bytes) -> list[dict[str, Any]]:
    """The JSONPatch that sets ``caBundle`` on every webhook of one configuration."""
    encoded = base64.b64encode(ca_bundle_pem).decode("ascii")
    operations: list[dict[str, Any]] = []
    webhooks = configuration.get("webhooks") or []
    for index, webhook in enumerate(webhooks):
        name = webhook.get("name") if isinstance(webhook, Mapping) else None
        if not isinstance(name, str):
            raise ValueError(f"webhook {index} of the configuration has no name")
        operations.append({"op": "test", "path": f"/webhooks/{index}/name", "value": name})
        operations.append(
            {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": encoded}
        )
    return operations


def patch_webhook_configurations(
    ca_bundle_pem: bytes,
    *,
    api_client: Any,
    mutating: str = MUTATING_CONFIGURATION,
    validating: str = VALIDATING_CONFIGURATION,
) -> list[str]:
    """Sets ``caBundle`` on both configurations through the API server; returns what changed.

    Needs ``get`` and ``patch`` on the two configurations, which deploy/'s RBAC grants by
    name only. Raises the kubernetes client's ``ApiException`` on refusal.
    """
    api = kubernetes().client.AdmissionregistrationV1Api(api_client)
    patched: list[str] = []
    for kind, name, read, patch in (
        ("MutatingWebhookConfiguration", mutating,
         api.read_mutating_webhook_configuration, api.patch_mutating_webhook_configuration),
        ("ValidatingWebhookConfiguration", validating,
         api.read_validating_webhook_configuration, api.patch_validating_webhook_configuration),
    ):
        current = api_client.sanitize_for_serialization(read(name))
        operations = ca_bundle_patch(current, ca_bundle_pem)
        if operations:
            patch(name, operations)
        patched.append(f"{kind}/{name}")
    return patched
