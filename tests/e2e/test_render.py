"""The render step that points deploy/'s webhook configurations at the local server:
only ``clientConfig`` may change, so the e2e tests exercise the shipped manifests."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from .webhook_process import render_webhook_configurations


def configuration(kind: str, path: str | None) -> dict[str, Any]:
    service: dict[str, Any] = {"name": "egressguard", "namespace": "egressguard-system"}
    if path:
        service["path"] = path
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": "egressguard"},
        "webhooks": [{
            "name": f"{kind.lower()}.egressguard.io",
            "clientConfig": {"service": service, "caBundle": "cGxhY2Vob2xkZXI="},
            "failurePolicy": "Fail",
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"]}],
        }],
    }


MANIFESTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "egressguard-system"}},
    configuration("MutatingWebhookConfiguration", "/mutate"),
    configuration("ValidatingWebhookConfiguration", None),
]


def test_only_client_config_changes() -> None:
    original = copy.deepcopy(MANIFESTS)
    rendered = render_webhook_configurations(
        MANIFESTS, base_url="https://127.0.0.1:9443", ca_bundle=b"PEM"
    )
    assert original == MANIFESTS, "the input manifests are left alone"
    assert [c["kind"] for c in rendered] == [
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"
    ]
    for config, source in zip(rendered, original[1:], strict=True):
        hook, source_hook = config["webhooks"][0], source["webhooks"][0]
        assert {k: v for k, v in hook.items() if k != "clientConfig"} == {
            k: v for k, v in source_hook.items() if k != "clientConfig"
        }
        # service is null so that a kubectl apply over an installed chart drops it
        assert {k for k, v in hook["clientConfig"].items() if v is not None} == {"url", "caBundle"}
        assert hook["clientConfig"]["service"] is None
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == b"PEM"
    assert rendered[0]["webhooks"][0]["clientConfig"]["url"] == "https://127.0.0.1:9443/mutate"
    assert rendered[1]["webhooks"][0]["clientConfig"]["url"] == "https://127.0.0.1:9443/validate"


def test_missing_configuration_is_an_error() -> None:
    with pytest.raises(ValueError, match="both webhook configurations"):
        render_webhook_configurations(MANIFESTS[:2], base_url="https://x", ca_bundle=b"")
