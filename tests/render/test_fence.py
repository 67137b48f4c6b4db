"""The fence: egress to the cluster and the internal ranges only, in every shape render writes."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.engine.infra_policy import DEVELOPER, SECURITY_ADMIN, judge
from tests.example_policy import CONFIG, GOLDEN_NOW, GRANTS, example_policy
from webhook.model.addresses import METADATA_RANGES
from webhook.model.ipsets import first_outside
from webhook.model.rules import Grant
from webhook.render import RenderMode, RenderOptions, render
from webhook.render.fence import FENCE_NAME
from webhook.render.plan import FenceKind

Doc = dict[str, Any]


def fence_docs(mode: RenderMode = RenderMode.ISTIO_SIDECAR, **options: Any) -> list[Doc]:
    grants = options.pop("grants", GRANTS)
    rendering = render(
        example_policy(grants=grants), mode, RenderOptions(now=GOLDEN_NOW, **options)
    )
    return [
        doc
        for file in rendering.files
        for doc in file.documents
        if doc["metadata"]["name"] == FENCE_NAME
    ]


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_namespaces_with_grants_and_those_asked_for_are_fenced_never_exempt_ones(
    mode: RenderMode,
) -> None:
    grants = (*GRANTS, Grant("kube-system", "x", "github.com", 443, "github"))
    fences = fence_docs(mode, grants=grants, fence_namespaces=("legacy", "kube-public"))
    assert [d["metadata"]["namespace"] for d in fences] == ["ci", "data", "legacy", "shop"]
    assert all(d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {} for d in fences)


def test_the_namespace_fence_reaches_every_pod_and_the_internal_ranges_and_nothing_else() -> None:
    fence = fence_docs()[0]
    assert fence["spec"]["policyTypes"] == ["Egress"]
    (rule,) = fence["spec"]["egress"]
    assert "ports" not in rule, "every port inside"
    peers = rule["to"]
    assert {"namespaceSelector": {}} in peers
    blocks = [peer["ipBlock"] for peer in peers if "ipBlock" in peer]
    internal = CONFIG.internal_ranges
    for block in blocks:
        assert first_outside(internal, [block["cidr"]], block.get("except", ())) is None, block
    for metadata in METADATA_RANGES:
        address = metadata.network_address
        reachable = [
            b for b in blocks
            if address in ipaddress.ip_network(b["cidr"])
            and not any(address in ipaddress.ip_network(e) for e in b.get("except", ()))
        ]
        assert not reachable, f"{address} must stay out of reach"
    cidrs = {block["cidr"] for block in blocks}
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",
            "2600:1f18:4c2b:8a00::/56"} == cidrs


def test_a_developer_may_apply_the_fence_and_may_not_change_it() -> None:
    fence = fence_docs()[0]
    assert judge(fence, user=DEVELOPER).allowed
    widened = {**fence, "spec": {**fence["spec"], "egress": [{}]}}
    refused = judge(widened, old=fence, operation="UPDATE", user=DEVELOPER)
    assert not refused.allowed
    assert judge(widened, old=fence, operation="UPDATE", user=SECURITY_ADMIN).allowed


@pytest.mark.parametrize(
    ("kind", "api_kind"),
    [
        (FenceKind.CLUSTER_NETWORK_POLICY, "ClusterNetworkPolicy"),
        (FenceKind.CALICO, "GlobalNetworkPolicy"),
        (FenceKind.CILIUM, "CiliumClusterwideNetworkPolicy"),
    ],
)
def test_one_cluster_wide_fence_stands_in_for_the_namespace_ones(
    kind: FenceKind, api_kind: str
) -> None:
    rendering = render(
        example_policy(), RenderMode.ISTIO_SIDECAR,
        RenderOptions(now=GOLDEN_NOW, fence=kind, fence_namespaces=("legacy",)),
    )
    fences = [f for f in rendering.files if f.name == "fence.yaml"]
    assert len(fences) == 1
    (fence,) = fences[0].documents
    assert fence["kind"] == api_kind and "namespace" not in fence["metadata"]
    assert not [f for f in rendering.files if f.name.startswith("namespace-")]
    text = repr(fence["spec"])
    for exempt in CONFIG.exempt_namespaces:
        assert exempt in text, "exempt namespaces are left out of the fence"
    # Judged by the engine as the trusted controller applies it.
    assert judge(fence, user=SECURITY_ADMIN).allowed


def test_the_cluster_network_policy_refuses_metadata_first_and_the_internet_last() -> None:
    rendering = render(example_policy(), RenderMode.ISTIO_SIDECAR,
                       RenderOptions(now=GOLDEN_NOW, fence=FenceKind.CLUSTER_NETWORK_POLICY))
    (fence,) = next(f for f in rendering.files if f.name == "fence.yaml").documents
    actions = [(rule["name"], rule["action"]) for rule in fence["spec"]["egress"]]
    assert actions[0] == ("metadata", "Deny")
    assert actions[-1] == ("internet", "Deny")
    assert fence["spec"]["egress"][-1]["to"] == [{"networks": ["0.0.0.0/0", "::/0"]}]


def test_calico_fence_comes_after_namespaced_policies() -> None:
    rendering = render(example_policy(), RenderMode.ISTIO_SIDECAR,
                       RenderOptions(now=GOLDEN_NOW, fence=FenceKind.CALICO))
    (fence,) = next(f for f in rendering.files if f.name == "fence.yaml").documents
    assert fence["spec"]["order"] > 1000  # Kubernetes NetworkPolicies are order 1000
    rules = fence["spec"]["egress"]
    assert rules[0] == {"action": "Deny",
                        "destination": {"nets": [str(m) for m in METADATA_RANGES]}}
    assert rules[-1] == {"action": "Deny"}


def test_cilium_fence_denies_metadata_whatever_else_allows() -> None:
    rendering = render(example_policy(), RenderMode.ISTIO_SIDECAR,
                       RenderOptions(now=GOLDEN_NOW, fence=FenceKind.CILIUM))
    (fence,) = next(f for f in rendering.files if f.name == "fence.yaml").documents
    assert fence["spec"]["egressDeny"] == [{"toCIDR": [str(m) for m in METADATA_RANGES]}]
    assert {"toEntities": ["cluster"]} in fence["spec"]["egress"]
