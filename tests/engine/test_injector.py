"""mesh-config for the sidecar injector's ConfigMaps: which values exclude capture."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.engine.infra_policy import judge
from webhook.model.decision import Decision


def injector(values: Any, name: str = "istio-sidecar-injector", **data: str) -> dict[str, Any]:
    text = values if isinstance(values, str) else json.dumps(values)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "istio-system"},
            "data": {"values": text, **data}}


def proxy(**fields: Any) -> dict[str, Any]:
    return {"global": {"proxy": fields}}


def paths(decision: Decision) -> dict[str, str]:
    return {v.path: v.code.value for v in decision.violations}


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({"excludeIPRanges": ""}, False),
        ({"excludeIPRanges": "10.0.0.1/32"}, True),
        ({"excludeOutboundPorts": "443"}, True),
        ({"excludeOutboundPorts": 443}, True),
        ({"includeIPRanges": "*"}, False),
        ({"includeIPRanges": "*,10.0.0.0/8"}, True),
        ({"includeIPRanges": ""}, False),
        ({"autoInject": "enabled"}, False),
        ({"autoInject": "disabled"}, True),
        ({"autoInject": "Enabled"}, True),
        ({"includeOutboundPorts": "8443", "excludeInboundPorts": "15020"}, False),
    ],
)
def test_proxy_values(fields: dict[str, Any], refused: bool) -> None:
    decision = judge(injector(proxy(**fields)))
    assert decision.allowed is not refused
    assert decision.codes == (("mesh-config",) if refused else ())


@pytest.mark.parametrize("name", ["istio-sidecar-injector", "istio-sidecar-injector-1-31"])
def test_every_revision_is_judged(name: str) -> None:
    decision = judge(injector(proxy(excludeIPRanges="0.0.0.0/0"), name=name))
    assert paths(decision) == {"data.values.global.proxy.excludeIPRanges": "mesh-config"}


@pytest.mark.parametrize(
    "text",
    ['{"global": {"proxy": {}}, "global": {}}', "[]", "global: {}", "{", "x" * (1024 * 1024 + 1)],
)
def test_values_read_only_when_certain(text: str) -> None:
    assert paths(judge(injector(text))) == {"data.values": "mesh-config"}


def test_injected_annotations_that_touch_interception() -> None:
    values = {"sidecarInjectorWebhook": {"injectedAnnotations": {
        "sidecar.istio.io/inject": "false", "traffic.sidecar.istio.io/excludeInterfaces": "eth1",
        "prometheus.io/scrape": "true"}}}
    assert set(paths(judge(injector(values)))) == {
        'data.values.sidecarInjectorWebhook.injectedAnnotations["sidecar.istio.io/inject"]',
        'data.values.sidecarInjectorWebhook.injectedAnnotations'
        '["traffic.sidecar.istio.io/excludeInterfaces"]',
    }


def test_a_template_change_is_new_and_unchanged_templates_are_only_warned() -> None:
    old = injector({}, config="templates: {sidecar: a}")
    same = judge(injector({"x": 1}, config="templates: {sidecar: a}"), old=old,
                 operation="UPDATE")
    assert same.allowed and same.warnings
    changed = judge(injector({}, config="templates: {sidecar: b}"), old=old, operation="UPDATE")
    assert changed.codes == ("mesh-config",)


def test_other_namespaces_and_names_are_not_the_injector() -> None:
    elsewhere = injector(proxy(excludeIPRanges="0.0.0.0/0"))
    elsewhere["metadata"]["namespace"] = "shop"
    assert judge(elsewhere).allowed
    assert judge(injector(proxy(excludeIPRanges="0.0.0.0/0"), name="istio-sidecar")).allowed
