"""The mesh config check (RELIABILITY 24, 25).

PyYAML's plain ``safe_load`` is the oracle: whenever the check calls a mesh config closed
(REGISTRY_ONLY), a YAML parser followed by Istio's field lookup must agree.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.infra_policy import SECURITY_ADMIN, judge
from webhook.engine.meshconfig import read_outbound_mode


def mesh_configmap(
    mesh: str | None, *, name: str = "istio", namespace: str = "istio-system"
) -> dict[str, Any]:
    data = {} if mesh is None else {"mesh": mesh}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


# -- the outbound traffic policy ---------------------------------------------------------

KEYS = ["outboundTrafficPolicy", "outbound_traffic_policy", "OutboundTrafficPolicy",
        "outboundtrafficpolicy", "\"outboundTrafficPolicy\"", "outbound-traffic-policy"]
MODE_KEYS = ["mode", "Mode", "MODE", "\"mode\""]
MODES = ["REGISTRY_ONLY", "ALLOW_ANY", "'REGISTRY_ONLY'", "\"ALLOW_ANY\"", "0", "1",
         "registry_only", "allow_any", "~", "", "'0'", "&a REGISTRY_ONLY", "*a"]


def istio_reads_registry_only(text: str) -> bool:
    """The oracle: a YAML parser, then Istio's lookup (JSON name, else proto name)."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    if not isinstance(config, dict):
        return False
    policy = config.get("outboundTrafficPolicy", config.get("outbound_traffic_policy"))
    if not isinstance(policy, dict):
        return False
    return policy.get("mode") in ("REGISTRY_ONLY", 0)


entry = st.builds(
    lambda key, mode_key, mode, flow: (
        f"{key}: {{{mode_key}: {mode}}}" if flow else f"{key}:\n  {mode_key}: {mode}"
    ),
    st.sampled_from(KEYS), st.sampled_from(MODE_KEYS), st.sampled_from(MODES), st.booleans(),
)
noise = st.sampled_from(["trustDomain: cluster.local", "# outboundTrafficPolicy: {}",
                         "defaultConfig:\n  holdApplicationUntilProxyStarts: true",
                         "rootNamespace: istio-system"])


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(entry | noise, max_size=4))
def test_a_mesh_config_called_closed_is_closed_for_istio(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    if not read_outbound_mode(text).allow_any:
        assert istio_reads_registry_only(text), text


@pytest.mark.parametrize(
    "text",
    [
        "outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n",
        "outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n",
        "outbound_traffic_policy:\n  mode: 'REGISTRY_ONLY'\n",
        '{"outboundTrafficPolicy": {"mode": 0}}',
        "outboundTrafficPolicy:\n  egressProxy: {host: proxy.example, port: {number: 3128}}\n"
        "  mode: REGISTRY_ONLY\n",
    ],
)
def test_registry_only_is_closed(text: str) -> None:
    assert read_outbound_mode(text).allow_any is False


@pytest.mark.parametrize(
    ("text", "unreadable"),
    [
        ("outboundTrafficPolicy:\n  mode: ALLOW_ANY\n", False),
        ("outboundTrafficPolicy: {mode: 1}\n", False),
        ("trustDomain: cluster.local\n", False),
        ("outboundTrafficPolicy: {}\n", False),
        ("outboundTrafficPolicy:\n", False),
        ("", False),
        ("outboundTrafficPolicy: {mode: REGISTRY_ONLY}\noutbound_traffic_policy: {mode: 1}", True),
        ("outboundTrafficPolicy: {mode: REGISTRY_ONLY, Mode: ALLOW_ANY}\n", True),
        ("outboundTrafficPolicy: {mode: registry_only}\n", True),
        ("outboundTrafficPolicy: {mode: '1'}\n", True),
        ("outboundTrafficPolicy: [REGISTRY_ONLY]\n", True),
        ("- outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n", True),
        ("outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n" + "#" * 300_000, True),
    ],
)
def test_open_or_unclear_mesh_configs_allow_any(text: str, unreadable: bool) -> None:
    mode = read_outbound_mode(text)
    assert mode.allow_any is True
    assert mode.unreadable is unreadable


def test_unreadable_mesh_config_is_refused_with_a_message_saying_so() -> None:
    decision = judge(mesh_configmap("a: &x 1\noutboundTrafficPolicy: *x\n"))
    assert decision.codes == ("sidecar-allow-any",)
    assert "cannot be read confidently" in decision.messages[0]
    assert all(len(v.message) < 200 for v in decision.violations)


def test_configmap_without_mesh_key_keeps_the_default() -> None:
    decision = judge(mesh_configmap(None))
    assert not decision.allowed
    assert "default ALLOW_ANY" in decision.messages[0]


@pytest.mark.parametrize(
    ("name", "namespace"), [("istio-sidecar-injector", "istio-system"), ("istio", "shop")]
)
def test_other_configmaps_are_not_judged(name: str, namespace: str) -> None:
    decision = judge(mesh_configmap("outboundTrafficPolicy: {mode: ALLOW_ANY}", name=name,
                                    namespace=namespace))
    assert decision.allowed and decision.codes == ()


def test_non_text_mesh_key_is_unreadable() -> None:
    obj = mesh_configmap(None)
    obj["data"] = {"mesh": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}}
    assert judge(obj).codes == ("sidecar-allow-any",)


def test_update_that_only_keeps_allow_any_is_warned_not_refused() -> None:
    old = mesh_configmap("outboundTrafficPolicy: {mode: ALLOW_ANY}\n")
    new = mesh_configmap("outboundTrafficPolicy: {mode: ALLOW_ANY}\ntrustDomain: corp\n")
    decision = judge(new, old=old, operation="UPDATE")
    assert decision.allowed
    assert any("already present" in warning for warning in decision.warnings)


def test_update_from_closed_to_unreadable_is_refused() -> None:
    old = mesh_configmap("outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n")
    new = mesh_configmap("outboundTrafficPolicy: {mode: REGISTRY_ONLY}\nx: &a 1\n")
    assert not judge(new, old=old, operation="UPDATE").allowed


def test_security_team_may_open_the_mesh() -> None:
    decision = judge(mesh_configmap("outboundTrafficPolicy: {mode: ALLOW_ANY}"),
                     user=SECURITY_ADMIN)
    assert decision.allowed and decision.codes == ()
