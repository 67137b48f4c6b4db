"""The mesh config check and the strict YAML reader it rests on (RELIABILITY 24, 25).

PyYAML, which the engine may not import, is the oracle here: whenever the strict reader reads
a document it must read it as a YAML parser does, and whenever the check calls a mesh config
closed (REGISTRY_ONLY), a YAML parser followed by Istio's field lookup must agree.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.infra_policy import SECURITY_ADMIN, judge
from webhook.engine import strict_yaml
from webhook.engine.meshconfig import read_outbound_mode
from webhook.engine.strict_yaml import MapNode, Node, SeqNode, Unreadable


def plain(node: Node) -> Any:
    """A strict_yaml node as PyYAML would build it (plain scalars typed as YAML 1.1 does)."""
    if isinstance(node, MapNode):
        return {key: plain(value) for key, value in node.pairs}
    if isinstance(node, SeqNode):
        return [plain(item) for item in node.items]
    if node.is_null:
        return None
    return node.text if node.quoted else yaml.safe_load(node.text)


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


# -- the reader --------------------------------------------------------------------------

READABLE = {
    "block": "a: 1\nb:\n  c: two\n  d: [x, 'y', \"z\"]\n",
    "compact sequence under a key": "metrics:\n- prometheus\n- stackdriver\nnext: true\n",
    "sequence of mappings": "p:\n  - name: otel\n    port: 4317\n  - name: zipkin\n",
    "comments": "# head\na: 1  # trailing\n# between\nb: 'x # y'\n",
    "flow over lines": "a: {b: 1,\n  c: [2, 3]}\nd: e\n",
    "json": '{"a": {"b": [1, 2]}, "c": "d"}',
    "nulls": "a:\nb: ~\nc: null\n",
    "urls and colons": "a: http://x:80/y\nb: x:y\n",
    "document marker": "---\na: 1\n",
    "escapes": 'a: "\\u0041\\t"\nb: \'it\'\'s\'\n',
    "indented document": "  a: 1\n  b: 2\n",
}


@pytest.mark.parametrize("text", READABLE.values(), ids=READABLE.keys())
def test_reader_reads_plain_yaml_as_a_yaml_parser_does(text: str) -> None:
    assert plain(strict_yaml.read(text)) == yaml.safe_load(text)


def test_block_scalars_are_kept_opaque_and_end_with_their_indentation() -> None:
    node = strict_yaml.read("a: |\n  x: 1\n  'unclosed\nb: 2\n")
    assert isinstance(node, MapNode)
    assert [key for key, _ in node.pairs] == ["a", "b"]


def test_duplicate_keys_are_kept_for_the_caller_to_judge() -> None:
    node = strict_yaml.read("a: 1\na: 2\n")
    assert isinstance(node, MapNode)
    assert node.pairs == (("a", strict_yaml.Scalar("1")), ("a", strict_yaml.Scalar("2")))


UNREADABLE = {
    "anchor and alias": "a: &x {m: 1}\nb: *x\n",
    "merge key": "<<: {a: 1}\n",
    "tag": "a: !!str 1\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "multi-line plain scalar": "a: b\n  c\n",
    "multi-line quoted scalar": "a: 'x\n  y'\n",
    "tab": "a:\tb\n",
    "unicode line separator": "a: 1\u2028b: 2\n",
    "next line": "a: 1\x85b: 2\n",
    "bare carriage return": "a: 1\rb: 2\n",
    "complex key": "? a\n: b\n",
    "nested mapping on one line": "a: b: c\n",
    "unclosed flow": "a: [1, 2\nb: 3\n",
    "unknown escape": 'a: "\\q"\n',
    "inconsistent indentation": "a:\n  - 1\n - 2\n",
    "directive": "%YAML 1.1\n---\na: 1\n",
    "deep nesting": "a: " + "[" * 100 + "]" * 100 + "\n",
}


@pytest.mark.parametrize("text", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_reader_refuses_yaml_it_cannot_read_confidently(text: str) -> None:
    with pytest.raises(Unreadable):
        strict_yaml.read(text)


keys = st.text(alphabet="abcxyzMODE_", min_size=1, max_size=6)
scalars = (
    st.none() | st.booleans() | st.integers(-1000, 1000)
    | st.text(alphabet="abc XYZ:_-/.'\"#01", max_size=10)
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    document=st.dictionaries(keys, documents, max_size=4),
    flow=st.sampled_from([None, True, False]),
)
def test_whatever_the_reader_reads_it_reads_as_pyyaml_does(
    document: dict[str, Any], flow: bool | None
) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow)
    try:
        node = strict_yaml.read(text)
    except Unreadable:
        return
    assert plain(node) == yaml.safe_load(text)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=80))
def test_reader_never_raises_anything_but_unreadable(text: str) -> None:
    with contextlib.suppress(Unreadable):
        strict_yaml.read(text)


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
