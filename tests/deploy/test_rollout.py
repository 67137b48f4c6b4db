"""A rollout that cannot break the cluster: the webhook configurations are registered only
once the webhook is ready (kustomize's second step, the chart's post-install hooks), and
the namespaces left out are one list that never holds the mesh root or a gateway
namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.loader import load_repository

from .tools import CHART, DEPLOY, NAMESPACE, documents, helm, helm_template, kustomize

pytestmark = [pytest.mark.tools]

WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
SYSTEM = ["kube-system", "kube-public", "kube-node-lease", NAMESPACE]
EXAMPLE_RULES = CHART.parents[2] / "rules"


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def annotations(doc: dict[str, Any]) -> dict[str, str]:
    return dict(doc["metadata"].get("annotations") or {})


def args(job: dict[str, Any]) -> list[str]:
    spec = job["spec"].get("jobTemplate", job)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return [*container.get("command", []), *container["args"]]


def excluded(docs: list[dict[str, Any]]) -> list[list[str]]:
    """The namespaces each webhook leaves out."""
    lists = []
    for doc in docs:
        if doc["kind"] in WEBHOOK_KINDS:
            for hook in doc["webhooks"]:
                (expression,) = hook["namespaceSelector"]["matchExpressions"]
                assert (expression["key"], expression["operator"]) == (
                    "kubernetes.io/metadata.name", "NotIn"), hook["name"]
                lists.append(expression["values"])
    assert len(lists) >= 10
    return lists


# -- helm install: registered only once every replica is ready -------------------------


def test_helm_install_registers_the_configurations_after_the_rollout_succeeded() -> None:
    docs = helm_template()
    wait = named(docs, "Job", "egressguard-wait-ready")
    cabundle = named(docs, "Job", "egressguard-cabundle")
    configurations = [named(docs, kind, "egressguard") for kind in WEBHOOK_KINDS]
    for doc in (wait, cabundle, *configurations):
        name = doc["metadata"]["name"]
        assert annotations(doc)["helm.sh/hook"] == "post-install,post-rollback", name

    def weight(doc: dict[str, Any]) -> int:
        return int(annotations(doc)["helm.sh/hook-weight"])

    # Helm creates hooks by weight and waits for each Job: no configuration exists until
    # the rollout is complete, and none at all when it fails.
    assert {weight(c) for c in configurations} == {0}
    assert weight(wait) < 0 < weight(cabundle)
    assert args(wait) == ["kubectl", "--namespace", NAMESPACE, "rollout", "status",
                          "deployment/egressguard", "--timeout=4m"]
    assert wait["spec"]["backoffLimit"] == 0
    assert args(cabundle)[-1] == "--patch-webhooks"
    # Owned by the release, so that `helm upgrade` adopts them and updates them in place.
    for config in configurations:
        assert annotations(config)["meta.helm.sh/release-name"] == "egressguard"
        assert annotations(config)["meta.helm.sh/release-namespace"] == NAMESPACE


def test_the_install_certificate_job_does_not_wait_for_configurations_that_do_not_exist(
) -> None:
    """At install the configurations come last: the certificate Job writes the Secret the
    replicas need without patching them (that would fail before the Secret is written);
    the CronJob and every upgrade's Job patch caBundle first, as renewals need."""
    install = helm_template()
    assert "--patch-webhooks" not in args(named(install, "Job", "egressguard-certs-1"))
    assert "--renew-before-days=1" in args(named(install, "Job", "egressguard-certs-1"))
    assert "--patch-webhooks" in args(named(install, "CronJob", "egressguard-certs"))
    upgrade = helm("template", "egressguard", str(CHART), "--namespace", NAMESPACE,
                   "--is-upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "--patch-webhooks" in args(named(documents(upgrade.stdout), "Job",
                                            "egressguard-certs-1"))


def test_uninstall_removes_the_configurations_before_anything_else() -> None:
    for docs in (helm_template(), documents(helm(
            "template", "egressguard", str(CHART), "--namespace", NAMESPACE,
            "--is-upgrade").stdout)):
        job = named(docs, "Job", "egressguard-unregister")
        assert annotations(job)["helm.sh/hook"] == "pre-delete"
        assert args(job) == ["kubectl", "delete", "--ignore-not-found",
                             "mutatingwebhookconfiguration/egressguard",
                             "validatingwebhookconfiguration/egressguard"]


def test_the_hooks_may_read_the_rollout_and_delete_the_two_configurations_only() -> None:
    docs = helm_template()
    role = named(docs, "Role", "egressguard-hooks")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments"],
                              "verbs": ["get", "list", "watch"]}]
    cluster_role = named(docs, "ClusterRole", "egressguard-hooks")
    assert cluster_role["rules"] == [{
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
        "resourceNames": ["egressguard"], "verbs": ["delete"]}]
    for job in ("egressguard-wait-ready", "egressguard-unregister"):
        pod = named(docs, "Job", job)["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "egressguard-hooks"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_register_when_ready_off_installs_everything_at_once() -> None:
    docs = helm_template("webhooks.registerWhenReady=false")
    assert not [d for d in docs if "helm.sh/hook" in annotations(d)]
    assert not [d for d in docs if d["metadata"]["name"] == "egressguard-hooks"]
    assert "--patch-webhooks" in args(named(docs, "Job", "egressguard-certs-1"))


# -- kustomize: two steps ---------------------------------------------------------------


def test_kustomize_applies_the_configurations_in_a_second_step() -> None:
    first = kustomize()
    second = kustomize(DEPLOY / "webhooks")
    assert not [d for d in first if d["kind"] in WEBHOOK_KINDS]
    assert sorted(d["kind"] for d in second) == ["Job", *sorted(WEBHOOK_KINDS)]
    assert "--patch-webhooks" not in args(named(first, "Job", "egressguard-certs"))
    assert "--patch-webhooks" in args(named(first, "CronJob", "egressguard-certs"))
    job = named(second, "Job", "egressguard-cabundle")
    assert job["metadata"]["namespace"] == NAMESPACE
    assert args(job)[-1] == "--patch-webhooks"
    # The same image as the webhook's (make version stamps both kustomizations).
    (deployment,) = [d for d in first if d["kind"] == "Deployment"]
    images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] in images


# -- the namespaces left out ----------------------------------------------------------


def protected_by(rules: Path) -> set[str]:
    """The mesh root and gateway namespaces of a rules repository."""
    policy = load_repository(rules).policy
    return {policy.config.mesh_root_namespace, *(g.namespace for g in policy.config.gateways)}


def test_kustomize_leaves_out_exactly_the_list_in_namespaces_yaml(tmp_path: Path) -> None:
    listed = documents((DEPLOY / "webhooks" / "namespaces.yaml").read_text())[0]["namespaces"]
    assert listed[:4] == SYSTEM
    for values in excluded(kustomize(DEPLOY / "webhooks")):
        assert values == listed
    assert not set(listed) & protected_by(EXAMPLE_RULES)
    # One edit reaches every webhook: a copy of the step with a platform namespace added.
    copy = tmp_path / "webhooks"
    copy.mkdir()
    for path in (DEPLOY / "webhooks").iterdir():
        (copy / path.name).write_text(path.read_text())
    config = yaml.safe_load((copy / "namespaces.yaml").read_text())
    config["namespaces"].append("cert-manager")
    (copy / "namespaces.yaml").write_text(yaml.safe_dump(config))
    for values in excluded(kustomize(copy)):
        assert values == [*SYSTEM, "cert-manager"]


def test_the_chart_and_kustomize_leave_out_the_same_namespaces() -> None:
    assert excluded(helm_template()) == excluded(kustomize(DEPLOY / "webhooks"))
    for values in excluded(helm_template("webhooks.excludedNamespaces={cert-manager,monitoring}")):
        assert values == [*SYSTEM, "cert-manager", "monitoring"]


@pytest.mark.parametrize(("sets", "namespace", "message"), [
    (["webhooks.excludedNamespaces={istio-system}"], NAMESPACE, "excludedNamespaces"),
    (["webhooks.excludedNamespaces={cert-manager,istio-egress}"], NAMESPACE,
     'holds "istio-egress", the mesh root or a gateway namespace'),
    (["webhooks.protectedNamespaces={mesh,edge}", "webhooks.excludedNamespaces={edge}"],
     NAMESPACE, 'holds "edge"'),
    ([], "istio-egress", 'the release namespace "istio-egress" is the mesh root or a gateway'),
], ids=["mesh-root-by-schema", "gateway-namespace", "own-protected-list", "installed-into-one"])
def test_the_chart_refuses_to_leave_out_a_protected_namespace(
    sets: list[str], namespace: str, message: str
) -> None:
    argv = [arg for value in sets for arg in ("--set", value)]
    result = helm("template", "egressguard", str(CHART), "--namespace", namespace, *argv)
    assert result.returncode != 0, result.stdout[:500]
    assert message in result.stderr, result.stderr


def test_the_chart_reads_the_protected_namespaces_of_rules_it_is_given(tmp_path: Path) -> None:
    """With rules.source=configMap the chart knows the rules' own gateway namespaces."""
    files = {p.relative_to(EXAMPLE_RULES).as_posix(): p.read_text()
             for p in sorted(EXAMPLE_RULES.rglob("*")) if p.is_file()}
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({
        "rules": {"source": "configMap", "configMap": {"files": files}},
        "webhooks": {"protectedNamespaces": ["istio-system"],
                     "excludedNamespaces": ["payments-egress"]}}))
    result = helm("template", "egressguard", str(CHART), "-f", str(values))
    assert result.returncode != 0
    assert 'holds "payments-egress"' in result.stderr, result.stderr
    assert "payments-egress" in protected_by(EXAMPLE_RULES)


# -- the mesh root namespace ---------------------------------------------------------------


def mesh_conditions(docs: list[dict[str, Any]]) -> list[str]:
    return [condition["expression"] for doc in docs
            if doc["kind"] == "ValidatingWebhookConfiguration"
            for hook in doc["webhooks"] if hook["name"] == "meshconfig.validate.egressguard.io"
            for condition in hook.get("matchConditions", ())]


def test_the_mesh_configuration_is_sent_from_the_values_mesh_root_namespace() -> None:
    (default,) = mesh_conditions(helm_template())
    assert default == mesh_conditions(kustomize(DEPLOY / "webhooks"))[0]
    assert "request.namespace == 'istio-system'" in default
    (moved,) = mesh_conditions(helm_template("webhooks.meshRootNamespace=mesh-root"))
    assert moved == default.replace("'istio-system'", "'mesh-root'")
    result = helm("template", "egressguard", str(CHART), "--set",
                  "webhooks.meshRootNamespace=mesh-root", "--set",
                  "webhooks.excludedNamespaces={mesh-root}")
    assert result.returncode != 0 and 'holds "mesh-root"' in result.stderr, result.stderr


def test_the_chart_refuses_a_mesh_root_namespace_other_than_the_rules_one(
        tmp_path: Path) -> None:
    files = {p.relative_to(EXAMPLE_RULES).as_posix(): p.read_text()
             for p in sorted(EXAMPLE_RULES.rglob("*")) if p.is_file()}
    assert "rootNamespace: istio-system" in files["config.yaml"]
    files["config.yaml"] = files["config.yaml"].replace("rootNamespace: istio-system",
                                                        "rootNamespace: mesh-root")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"rules": {"source": "configMap",
                                                "configMap": {"files": files}}}))
    result = helm("template", "egressguard", str(CHART), "-f", str(values))
    assert result.returncode != 0
    assert "set webhooks.meshRootNamespace=mesh-root" in result.stderr, result.stderr
    ok = helm("template", "egressguard", str(CHART), "-f", str(values), "--set",
              "webhooks.meshRootNamespace=mesh-root")
    assert ok.returncode == 0, ok.stderr
