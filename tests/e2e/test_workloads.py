"""Pod templates: a Deployment is refused at ``kubectl apply`` when its pods would be,
and the pods the real ReplicaSet controller creates get their entitlement labels."""

from __future__ import annotations

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl
from .objects import allow_label, deployment, unique

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("egressguard")]


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        (
            {"service_account": "checkout", "egress": "github.com:443"},
            ("grant-missing", "services/shop/checkout/github.com:443.rule"),
        ),
        ({"service_account": "checkout", "hostNetwork": True}, ("host-network",)),
        ({"labels": {allow_label("stripe"): "true"}}, ("managed-label",)),
    ],
    ids=["ungranted-host", "host-network", "self-labelled-template"],
)
def test_violating_deployment_is_refused_at_apply(
    developer: Kubectl, kwargs: dict, fragments: tuple[str, ...]
) -> None:
    name = unique("bad-deploy")
    result = developer.apply(deployment(name, "shop", **kwargs))
    expect.denied(result, *fragments)
    expect.absent(developer, "deployment", name, "shop")


def test_compliant_deployment_pods_are_created_by_the_controller_with_labels(
    developer: Kubectl, admin: Kubectl, egressguard: EgressguardCluster
) -> None:
    name = unique("checkout")
    result = developer.apply(
        deployment(
            name, "shop", service_account="checkout", egress="api.stripe.com:443", replicas=2
        )
    )
    expect.admitted(result)
    # The pods come from the ReplicaSet controller (generateName), not from kubectl.
    expect.admitted(
        admin.run(
            "wait",
            "--for=jsonpath={.status.replicas}=2",
            f"deployment/{name}",
            "-n",
            "shop",
            "--timeout=60s",
            timeout=70,
        )
    )
    pods = developer.get_json("pods", "-n", "shop", "-l", f"app={name}")["items"]
    assert len(pods) == 2
    for created in pods:
        meta = created["metadata"]
        assert meta["generateName"].startswith(f"{name}-")
        assert meta["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert meta["labels"][allow_label("stripe")] == "true"
        assert meta["labels"][allow_label("partner-api")] == "true"
    # egressguard judged each pod as the controller created it (generateName, no name).
    creators = {
        r["user"] for r in egressguard.webhook.audit_records()
        if r["kind"] == "Pod" and r["operation"] == "CREATE" and r.get("webhook") == "mutate"
        and r["namespace"] == "shop" and str(r.get("name", "")).startswith(f"{name}-")
    }
    assert creators == {"system:serviceaccount:kube-system:replicaset-controller"}
    template = expect.stored(developer, "deployment", name, "shop")["spec"]["template"]
    # Templates are judged, not patched: only pods carry entitlements.
    assert allow_label("stripe") not in template["metadata"]["labels"]
