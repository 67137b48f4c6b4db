"""The Helm chart beside kustomize: `helm lint`, and `helm template` renders what
`kubectl kustomize deploy/` renders (the webhook configurations come from the same file,
the rest is compared here), and each value does what values.yaml says."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.loader import load_repository

from .tools import (
    CHART,
    DEPLOY,
    NAMESPACE,
    RELEASE,
    documents,
    helm,
    helm_template,
    kustomize,
)

pytestmark = [pytest.mark.tools]

# What helm adds to every object's labels and kustomize does not.
HELM_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
               "app.kubernetes.io/version"}
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
# What helm adds to an object it creates as a hook; kustomize users run the steps instead.
HELM_ANNOTATIONS = ("helm.sh/hook", "helm.sh/hook-weight", "helm.sh/hook-delete-policy",
                    "meta.helm.sh/release-name", "meta.helm.sh/release-namespace")
# Only the chart has these: the hooks that wait for the rollout before registering, and
# remove the configurations at uninstall (kustomize users run `kubectl rollout status`
# and `kubectl delete -k deploy/webhooks` themselves).
HELM_ONLY = {("ServiceAccount", NAMESPACE, "egressguard-hooks"),
             ("Role", NAMESPACE, "egressguard-hooks"),
             ("RoleBinding", NAMESPACE, "egressguard-hooks"),
             ("ClusterRole", "", "egressguard-hooks"),
             ("ClusterRoleBinding", "", "egressguard-hooks"),
             ("Job", NAMESPACE, "egressguard-wait-ready"),
             ("Job", NAMESPACE, "egressguard-unregister")}


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc["metadata"]
    return doc["kind"], meta.get("namespace", ""), meta["name"]


def normalised(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Objects by (kind, namespace, name), without helm's bookkeeping labels, with the
    certificate Job's per-revision name and kustomize's ConfigMap hash suffixes removed."""
    generated = {}
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "ConfigMap" and (match := re.fullmatch(r"(.+)-[a-z0-9]{10}", name)):
            generated[name] = match.group(1)
    found = {}
    for doc in docs:
        text = json.dumps(doc)
        for hashed, plain in generated.items():
            text = text.replace(f'"{hashed}"', f'"{plain}"')
        doc = json.loads(text)
        labels = doc["metadata"].get("labels") or {}
        for label in HELM_LABELS:
            labels.pop(label, None)
        annotations = doc["metadata"].get("annotations") or {}
        for annotation in HELM_ANNOTATIONS:
            annotations.pop(annotation, None)
        if "annotations" in doc["metadata"] and not annotations:
            del doc["metadata"]["annotations"]
        if doc["kind"] == "Job":
            doc["metadata"]["name"] = re.sub(r"-\d+$", "", doc["metadata"]["name"])
        found[key(doc)] = doc
    return found


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def hooks(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [h for d in docs if d["kind"] in WEBHOOK_KINDS for h in d["webhooks"]]


# -- helm lint --------------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    [],
    ["certificates.mode=certManager", "rules.source=gitSync", "controller.enabled=true",
     "audit.enabled=true", "audit.interval=1h30m",
     "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
     "metrics.dashboard.enabled=true", "webhooks.excludedNamespaces={legacy}"],
], ids=["defaults", "every-option"])
def test_helm_lint_finds_nothing(values: list[str]) -> None:
    sets = [arg for value in values for arg in ("--set", value)]
    result = helm("lint", "--strict", str(CHART), *sets)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_webhook_configurations_are_read_from_deploys_own_file() -> None:
    shared = CHART / "files" / "webhooks.yaml"
    assert shared.is_symlink()
    assert shared.resolve() == (DEPLOY / "webhooks" / "webhooks.yaml").resolve()


# -- the same objects as kustomize ------------------------------------------------------


def test_helm_template_renders_what_kubectl_kustomize_renders() -> None:
    """`helm install` renders what the two kustomize steps apply (deploy/, then
    deploy/webhooks), besides the hooks that run those steps in order."""
    chart = normalised(helm_template())
    kustomized = normalised(kustomize() + kustomize(DEPLOY / "webhooks"))
    # The chart installs into the release's namespace; it does not create it.
    kustomized.pop(("Namespace", "", NAMESPACE))
    assert set(chart) >= HELM_ONLY
    assert sorted(set(chart) - HELM_ONLY) == sorted(kustomized)
    for name, doc in kustomized.items():
        assert chart[name] == doc, name


def test_helm_upgrade_renders_what_both_kustomize_steps_render_again() -> None:
    """An upgrade updates the configurations in place as release objects (no hook), and
    its certificate Job sets caBundle itself, as the step-two Job does."""
    upgrade = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--is-upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    docs = documents(upgrade.stdout)
    for doc in docs:
        assert "helm.sh/hook" not in (doc["metadata"].get("annotations") or {}) or doc[
            "metadata"]["name"] == "egressguard-unregister", doc["metadata"]["name"]
    chart = normalised(docs)
    kustomized = normalised(kustomize() + kustomize(DEPLOY / "webhooks"))
    for kind in WEBHOOK_KINDS:
        assert chart[(kind, "", "egressguard")] == kustomized[(kind, "", "egressguard")]
    job = chart[("Job", NAMESPACE, "egressguard-certs")]
    step_two = kustomized[("Job", NAMESPACE, "egressguard-cabundle")]
    assert job["spec"]["template"] == step_two["spec"]["template"]
    assert ("Job", NAMESPACE, "egressguard-cabundle") not in chart
    assert ("Job", NAMESPACE, "egressguard-wait-ready") not in chart


def test_the_git_sync_source_renders_what_the_git_sync_overlay_renders() -> None:
    chart = normalised(helm_template("rules.source=gitSync"))
    kustomized = normalised(kustomize(DEPLOY / "overlays" / "git-sync"))
    deployment = ("Deployment", NAMESPACE, "egressguard")
    assert chart[deployment] == kustomized[deployment]
    settings = ("ConfigMap", NAMESPACE, "egressguard-git-sync")
    assert chart[settings]["data"] == kustomized[settings]["data"]


def test_the_monitoring_values_render_what_deploy_monitoring_renders() -> None:
    chart = normalised(helm_template("metrics.serviceMonitor.enabled=true",
                                     "metrics.prometheusRule.enabled=true",
                                     "metrics.dashboard.enabled=true"))
    kustomized = normalised(kustomize(DEPLOY / "monitoring"))
    assert len(kustomized) == 3
    for name, doc in kustomized.items():
        assert chart[name] == doc, name
    assert not {k for k in normalised(helm_template()) if k[0] in (
        "ServiceMonitor", "PrometheusRule")}


def test_scraping_needs_the_metrics_port() -> None:
    result = helm("template", "egressguard", str(CHART), "--set", "metrics.port=0",
                  "--set", "metrics.serviceMonitor.enabled=true")
    assert result.returncode != 0 and "need metrics.port" in result.stderr
    (deployment,) = by_kind(helm_template("metrics.port=0"), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert [p["name"] for p in container["ports"]] == ["https"]
    assert not [a for a in container["args"] if a.startswith("--metrics-port")]


# -- values -----------------------------------------------------------------------------


def test_the_release_namespace_replaces_egressguard_system_everywhere() -> None:
    docs = helm_template(namespace="guard")
    assert "egressguard-system" not in json.dumps(docs)
    for hook in hooks(docs):
        assert hook["clientConfig"]["service"]["namespace"] == "guard"
        (expression,) = hook["namespaceSelector"]["matchExpressions"]
        assert set(expression["values"]) == {
            "kube-system", "kube-public", "kube-node-lease", "guard"}


def test_excluded_namespaces_are_added_to_every_webhook_never_replacing_the_system_ones(
) -> None:
    docs = helm_template("webhooks.excludedNamespaces={legacy,kube-system}")
    for hook in hooks(docs):
        (expression,) = hook["namespaceSelector"]["matchExpressions"]
        assert expression["values"] == [
            "kube-system", "kube-public", "kube-node-lease", NAMESPACE, "legacy"], hook["name"]


def test_failure_policy_is_set_per_webhook() -> None:
    docs = helm_template("webhooks.failurePolicy.meshconfig\\.validate\\.egressguard\\.io=Ignore")
    policies = {h["name"]: h["failurePolicy"] for h in hooks(docs)}
    assert policies.pop("meshconfig.validate.egressguard.io") == "Ignore"
    assert policies and set(policies.values()) == {"Fail"}


@pytest.mark.parametrize(("value", "message"), [
    ("webhooks.failurePolicy.pods\\.example\\.io=Ignore",
     'webhooks.failurePolicy names "pods.example.io", which is no webhook of egressguard'),
    ("webhooks.failurePolicy.pods\\.mutate\\.egressguard\\.io=Maybe", "Fail"),
    ("rules.source=s3", "/rules/source"),
    ("certificates.mode=vault", "/certificates/mode"),
    ("audit.interval=ten minutes", "/audit/interval"),
    ("replicas=0", "replicas"),
    ("webhook.excludedNamespaces={x}", "webhook"),
    ("rules.source=configMap", "rules.configMap.files is empty"),
])
def test_a_wrong_value_is_refused_naming_it(value: str, message: str) -> None:
    result = helm("template", "egressguard", str(CHART), "--set", value)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_replicas_resources_and_image_are_values() -> None:
    docs = helm_template("replicas=5", "resources.limits.memory=1Gi",
                         "image.repository=registry.example/eg", "image.tag=9.9.9")
    (deployment,) = by_kind(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 5
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"memory": "1Gi"}
    assert container["image"] == "registry.example/eg:9.9.9"
    digest = "sha256:" + "a" * 64
    (deployment,) = by_kind(helm_template(f"image.digest={digest}"), "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        f"/egressguard@{digest}")


def test_cert_manager_issues_the_certificate_and_injects_the_ca() -> None:
    docs = helm_template("certificates.mode=certManager")
    assert {d["metadata"]["name"] for d in by_kind(docs, "Job")} == {
        "egressguard-wait-ready", "egressguard-unregister"}  # the hooks, no certificate Job
    assert not by_kind(docs, "CronJob")
    assert "egressguard-certs" not in {d["metadata"]["name"] for d in docs}
    for config in docs:
        if config["kind"] in WEBHOOK_KINDS:
            assert config["metadata"]["annotations"][
                "cert-manager.io/inject-ca-from"] == f"{NAMESPACE}/egressguard-tls"
    serving = next(d for d in by_kind(docs, "Certificate")
                   if d["metadata"]["name"] == "egressguard-tls")
    assert serving["spec"]["secretName"] == "egressguard-tls"
    assert f"egressguard.{NAMESPACE}.svc" in serving["spec"]["dnsNames"]
    assert serving["spec"]["issuerRef"] == {"name": "egressguard-ca", "kind": "Issuer"}
    own = helm_template("certificates.mode=certManager",
                        "certificates.certManager.issuerRef.name=corp",
                        "certificates.certManager.issuerRef.kind=ClusterIssuer")
    assert not by_kind(own, "Issuer")
    (serving,) = by_kind(own, "Certificate")
    assert serving["spec"]["issuerRef"] == {"name": "corp", "kind": "ClusterIssuer"}


def test_a_configmap_source_maps_each_key_back_to_its_path(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "rules:\n  source: configMap\n  configMap:\n    files:\n"
        "      config.yaml: 'apiVersion: egressguard.io/v1alpha1'\n"
        "      'services/shop/checkout/api.stripe.com:443.rule': ''\n")
    result = helm("template", "egressguard", str(CHART), "-f", str(values))
    assert result.returncode == 0, result.stderr
    docs = documents(result.stdout)
    (config_map,) = [d for d in by_kind(docs, "ConfigMap")
                     if d["metadata"]["name"] == "egressguard-rules"]
    (deployment,) = by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "rules"]
    paths = {item["path"]: config_map["data"][item["key"]]
             for item in volume["configMap"]["items"]}
    assert paths == {"config.yaml": "apiVersion: egressguard.io/v1alpha1",
                     "services/shop/checkout/api.stripe.com:443.rule": ""}
    assert "--rules=/etc/egressguard/rules" in pod["containers"][0]["args"]


def test_the_controller_is_off_unless_asked_for() -> None:
    (off,) = by_kind(helm_template(), "Deployment")
    assert "--reconcile" not in off["spec"]["template"]["spec"]["containers"][0]["args"]
    (on,) = by_kind(helm_template("controller.enabled=true"), "Deployment")
    assert "--reconcile" in on["spec"]["template"]["spec"]["containers"][0]["args"]


def test_the_audit_values_render_what_the_audit_overlay_renders() -> None:
    chart = normalised(helm_template("audit.enabled=true"))
    kustomized = normalised(kustomize(DEPLOY / "overlays" / "audit"))
    assert chart[("Deployment", NAMESPACE, "egressguard")] == \
        kustomized[("Deployment", NAMESPACE, "egressguard")]
    rbac = {k for k in kustomized if "audit" in k[2]}
    assert {k[0] for k in rbac} == {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    for name in rbac:
        assert chart[name] == kustomized[name], name
    assert not {k for k in normalised(helm_template()) if "audit" in k[2]}


def test_no_value_can_remove_what_makes_the_webhook_safe() -> None:
    docs = helm_template("webhooks.excludedNamespaces={a}", "replicas=1")
    for hook in hooks(docs):
        assert hook["sideEffects"] == "None" and hook["matchPolicy"] == "Equivalent"
    (deployment,) = by_kind(docs, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert copy.deepcopy(container["securityContext"]["capabilities"]) == {"drop": ["ALL"]}


def test_the_example_rules_load_from_a_configmap_volume_as_the_chart_mounts_it(
    tmp_path: Path,
) -> None:
    """Every file of rules/ through rules.configMap.files, then laid out as the kubelet
    mounts a ConfigMap volume with items (files under a timestamped folder, ..data linking
    to it, a link per top-level name): the loader reads the same rules as from rules/."""
    rules = CHART.parents[2] / "rules"
    files = {p.relative_to(rules).as_posix(): p.read_text()
             for p in sorted(rules.rglob("*")) if p.is_file()}
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"rules": {"source": "configMap",
                                                "configMap": {"files": files}}}))
    result = helm("template", "egressguard", str(CHART), "-f", str(values))
    assert result.returncode == 0, result.stderr
    docs = documents(result.stdout)
    (config_map,) = [d for d in by_kind(docs, "ConfigMap")
                     if d["metadata"]["name"] == "egressguard-rules"]
    (deployment,) = by_kind(docs, "Deployment")
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"]
                 if v["name"] == "rules"]
    mount = tmp_path / "mount"
    version = mount / "..2026_12_04_10_00_00.000000001"
    for item in volume["configMap"]["items"]:
        target = version / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(config_map["data"][item["key"]])
    (mount / "..data").symlink_to(version.name)
    for top in {path.split("/", 1)[0] for path in files}:
        (mount / top).symlink_to(f"..data/{top}")
    served = load_repository(mount).policy
    original = load_repository(rules).policy
    assert served.revision == original.revision
    assert set(served.destinations) == set(original.destinations)
    assert len(served.grants) == len(original.grants)
