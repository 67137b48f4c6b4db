"""The mesh configs: revisions' istio-<rev>, ALLOW_ANY_DYNAMIC_DNS, and defaultConfig."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.infra_policy import SECURITY_ADMIN, judge

CLOSED = "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n"


def mesh_config(text: str, name: str = "istio", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "istio-system"},
            "data": {"mesh": text, **data}}


@pytest.mark.parametrize(
    ("name", "judged"),
    [("istio", True), ("istio-canary", True), ("istio-1-31", True), ("istio-ca-root-cert", True),
     ("istio-sidecar-injector", False), ("istio-sidecar-injector-canary", False),
     ("istiod", False), ("my-istio", False)],
)
def test_which_configmaps_are_mesh_configs(name: str, judged: bool) -> None:
    decision = judge(mesh_config("outboundTrafficPolicy: {mode: ALLOW_ANY}", name=name))
    assert ("sidecar-allow-any" in decision.codes) is judged


def test_removing_a_revisions_mesh_key_leaves_istios_defaults() -> None:
    old = mesh_config(CLOSED, name="istio-canary")
    new = {**old, "data": {}}
    decision = judge(new, old=old, operation="UPDATE")
    assert decision.codes == ("sidecar-allow-any",)


@pytest.mark.parametrize("mode", ["ALLOW_ANY_DYNAMIC_DNS", "3"])
def test_dynamic_dns_is_allow_any(mode: str) -> None:
    decision = judge(mesh_config(f"outboundTrafficPolicy:\n  mode: {mode}\n"))
    assert decision.codes == ("sidecar-allow-any",)
    assert "ALLOW_ANY_DYNAMIC_DNS" in decision.messages[0]


@pytest.mark.parametrize(
    ("default", "refused"),
    [
        ("discoveryAddress: istiod.istio-system.svc:15012", False),
        ("discoveryAddress: istiod-canary.istio-system.svc:15012", False),
        ("discoveryAddress: xds.example.net:15012", True),
        ("concurrency: 2", False),
        ("proxyMetadata: {ISTIO_META_DNS_CAPTURE: 'true'}", False),
        ("proxyMetadata: {ISTIO_META_CLUSTER_ID: evil}", True),
        ("tracing: {zipkin: {address: zipkin.istio-system:9411}}", False),
        ("tracing: {zipkin: {address: 203.0.113.9:9411}}", True),
        ("customConfigFile: /etc/envoy.json", True),
    ],
)
def test_default_config_is_judged_as_a_pods_proxy_config(default: str, refused: bool) -> None:
    decision = judge(mesh_config(f"defaultConfig:\n  {default}\n{CLOSED}"))
    assert decision.codes == (("mesh-config",) if refused else ())


@pytest.mark.parametrize(
    "text",
    ["default_config: {concurrency: 2}\ndefaultConfig: {concurrency: 2}\n",
     "Default_Config: {concurrency: 2}\n", "defaultConfig: [a]\n"],
)
def test_default_config_read_only_when_certain(text: str) -> None:
    assert judge(mesh_config(text + CLOSED)).codes == ("mesh-config",)


def test_the_snake_case_spelling_is_read_too() -> None:
    decision = judge(mesh_config("default_config:\n  customConfigFile: /x\n" + CLOSED))
    assert decision.codes == ("mesh-config",)


def test_an_update_keeping_a_setting_is_warned_and_a_new_one_refused() -> None:
    old = mesh_config("defaultConfig:\n  customConfigFile: /x\n" + CLOSED)
    kept = judge(mesh_config("defaultConfig:\n  customConfigFile: /x\n  concurrency: 2\n"
                             + CLOSED), old=old, operation="UPDATE")
    assert kept.allowed and kept.warnings
    added = judge(mesh_config("defaultConfig:\n  customConfigFile: /x\n  binaryPath: /y\n"
                              + CLOSED), old=old, operation="UPDATE")
    assert added.codes == ("mesh-config",)


def test_the_security_team_sets_the_defaults() -> None:
    decision = judge(mesh_config("defaultConfig: {customConfigFile: /x}\n" + CLOSED),
                     user=SECURITY_ADMIN)
    assert decision.allowed and decision.codes == ()
