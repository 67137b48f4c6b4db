"""``serve --reconcile`` against the real control plane: two replicas, one leader.

The replicas run as deploy/'s service account with exactly the RBAC of
deploy/overlays/controller, so the RBAC is shown to be enough. No webhook is registered
here: what is tested is the controller (election, apply, prune, expiry, drift).
Leases are short (3 s) so that a takeover is quick.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.controller.kinds import managed_kind
from webhook.controller.stamp import digest, stamped, with_revision

from .cluster import webhook_kubeconfig
from .controlplane import ADMIN, ControlPlane
from .crds import install_crds
from .kubectl import Kubectl
from .processes import Process, free_port, local_env, wait_until
from .webhook_process import DEPLOY_DIR, EXAMPLE_RULES, REPO, deploy_manifests, egressguard_argv

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 3
LEASE_NAMESPACE = "egressguard-system"
# The stripe grant of shop/checkout lapses 30 s after the replicas start.
CLOCK_START = "2026-06-01T23:59:30Z"
LAPSED = "2026-06-02T00:00:00Z"
GATEWAY_NAMESPACES = ("istio-egress", "payments-egress")
CHECKOUT = "cluster.local/ns/shop/sa/checkout"


def replica(workdir: Path, name: str, kubeconfig: Path, rules: Path,
            clock_start: str = CLOCK_START) -> Process:
    return Process(
        name,
        egressguard_argv(
            "serve", "--rules", str(rules), "--cert-dir", str(workdir / name / "certs"),
            "--host", "127.0.0.1", "--port", str(free_port()),
            "--kubeconfig", str(kubeconfig), "--namespaces", "cluster",
            "--reconcile", "--lease-namespace", LEASE_NAMESPACE,
            "--lease-seconds", str(LEASE_SECONDS), "--clock-start", clock_start,
            "--reload-debounce-ms", "100", "--log-format", "text",
        ),
        log_path=workdir / name / "egressguard.log",
        stdout_path=workdir / name / "audit.jsonl",
        env=local_env({"PYTHONUNBUFFERED": "1", "POD_NAME": name}),
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def controlplane(
    binaries: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """A control plane of its own: the controller fences and prunes every namespace, which
    would change what the other end-to-end tests find in the shared one."""
    with ControlPlane.started(tmp_path_factory.mktemp("controller-plane"), binaries) as plane:
        install_crds(plane)
        yield plane


@pytest.fixture(scope="module")
def controller_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rules = tmp_path_factory.mktemp("controller") / "rules"
    shutil.copytree(EXAMPLE_RULES, rules)
    grant = rules / "services/shop/checkout/api.stripe.com:443.rule"
    grant.write_text("reason: Card payments.\nexpires: 2026-06-01\n", encoding="utf-8")
    return rules


class Replicas(list[Process]):
    """The replicas started so far; ``add`` starts another (a rolling update's new pod)."""

    def __init__(self, workdir: Path, kubeconfig: Path, rules: Path) -> None:
        super().__init__()
        self.workdir, self.kubeconfig, self.rules = workdir, kubeconfig, rules

    def add(self, name: str, clock_start: str = CLOCK_START) -> Process:
        process = replica(self.workdir, name, self.kubeconfig, self.rules, clock_start)
        self.append(process)
        process.start()
        return process


@pytest.fixture(scope="module")
def replicas(controlplane: ControlPlane, controller_rules: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    admin = controlplane.kubectl(ADMIN)
    for namespace in (*GATEWAY_NAMESPACES, "shop", "ci", "data"):
        admin("create", "namespace", namespace)
    workdir = tmp_path_factory.mktemp("replicas")
    manifests = deploy_manifests(admin, DEPLOY_DIR / "overlays" / "controller")
    kubeconfig = webhook_kubeconfig(controlplane, manifests, workdir / "controller.kubeconfig")
    started = Replicas(workdir, kubeconfig, controller_rules)
    for name in ("a", "b"):
        started.add(name)
    try:
        yield started
    finally:
        for process in started:
            process.stop()


def holder(admin: Kubectl) -> str:
    lease = admin.get_json("lease", "-n", LEASE_NAMESPACE, "egressguard-controller")
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def authorized(admin: Kubectl) -> list[str]:
    policy = admin.get_json("authorizationpolicy", "-n", "payments-egress", "stripe")
    if policy is None:
        return []
    return [principal for rule in policy["spec"].get("rules", ())
            for source in rule.get("from", ())
            for principal in source.get("source", {}).get("principals", ())]


def fence(admin: Kubectl, namespace: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = admin.get_json(
        "networkpolicy", "-n", namespace, "egressguard-fence")
    return found


def test_one_leader_acts_and_the_fence_reaches_every_judged_namespace(
        controlplane: ControlPlane, replicas: list[Process]) -> None:
    admin = controlplane.kubectl(ADMIN)
    wait_until(lambda: holder(admin) != "", timeout=30, what="a leader", processes=replicas)
    leader = holder(admin).split("_")[0]
    wait_until(lambda: fence(admin, "default") is not None, timeout=30,
               what="the fence in default", processes=replicas)
    assert CHECKOUT in authorized(admin)  # until its grant lapses, below
    assert fence(admin, "kube-system") is None  # exempt
    acting = next(p for p in replicas if p.name == leader)
    wait_until(lambda: "reconciled rules revision" in acting.log_path.read_text(), timeout=30,
               what="the leader's reconcile", processes=replicas)
    logs = {p.name: p.log_path.read_text() for p in replicas}
    assert all("reconciled rules revision" not in text
               for name, text in logs.items() if name != leader)
    admin("create", "namespace", "new-team", check=True)
    started = time.monotonic()
    wait_until(lambda: fence(admin, "new-team") is not None, timeout=10,
               what="the fence in a new namespace", processes=replicas)
    assert time.monotonic() - started < 10


def test_a_hand_edit_is_put_back(controlplane: ControlPlane, replicas: list[Process]) -> None:
    admin = controlplane.kubectl(ADMIN)
    wait_until(lambda: fence(admin, "shop") is not None, timeout=30, what="the shop fence")
    admin("patch", "networkpolicy", "-n", "shop", "egressguard-fence", "--type=json",
          "-p", '[{"op":"replace","path":"/spec/egress","value":[{}]}]', check=True)
    wait_until(lambda: (fence(admin, "shop") or {}).get("spec", {}).get("egress") != [{}],
               timeout=15, what="the edited fence put back", processes=replicas)
    admin("delete", "networkpolicy", "-n", "shop", "egressguard-fence", check=True)
    wait_until(lambda: fence(admin, "shop") is not None, timeout=15,
               what="the deleted fence put back", processes=replicas)
    assert any("put it back" in p.log_path.read_text() for p in replicas)


def test_a_grant_loses_its_access_when_it_lapses_without_a_restart(
        controlplane: ControlPlane, replicas: list[Process]) -> None:
    admin = controlplane.kubectl(ADMIN)
    wait_until(lambda: CHECKOUT not in authorized(admin), timeout=45,
               what="the lapsed grant removed from the gateway's AuthorizationPolicy",
               processes=replicas)
    assert all(p.running for p in replicas)


def test_a_removed_destination_disappears_from_the_cluster(
        controlplane: ControlPlane, replicas: list[Process], controller_rules: Path) -> None:
    admin = controlplane.kubectl(ADMIN)
    wait_until(lambda: admin.get_json("serviceentry", "-n", "istio-egress", "pypi")
               is not None, timeout=30, what="the pypi ServiceEntry", processes=replicas)
    (controller_rules / "destinations/pypi.yaml").unlink()
    wait_until(lambda: admin.get_json("serviceentry", "-n", "istio-egress", "pypi") is None,
               timeout=30, what="the pypi ServiceEntry pruned", processes=replicas)


def test_render_output_applies_server_side_and_is_what_the_controller_applied(
        controlplane: ControlPlane, replicas: list[Process], controller_rules: Path) -> None:
    import subprocess
    admin = controlplane.kubectl(ADMIN)
    namespaces = admin.get_json("namespaces")["items"]
    fenced = [f"--fence-namespace={item['metadata']['name']}" for item in namespaces
              if item["metadata"]["name"] not in
              ("kube-system", "kube-public", "kube-node-lease", "egressguard-system")]
    time.sleep(2)
    rendered = subprocess.run(
        egressguard_argv("render", "--rules", str(controller_rules), "--mode",
                         "istio-sidecar", "--now", LAPSED, *fenced),
        capture_output=True, text=True, check=True, cwd=REPO, env=local_env()).stdout
    rendered_documents = [document for document in yaml.safe_load_all(rendered) if document]
    live = managed_objects(admin, rendered_documents)
    # The controller's applies carry one annotation more than render writes: the digest of
    # render's document, which is how a new leader knows an object is in step. And an object
    # that a rules change (the removed destination) left as it was keeps the revision it was
    # applied at, where render names the current one.
    documents = []
    for document in rendered_documents:
        document = with_revision(document, REVISION, live[object_name(document)])
        documents.append(stamped(document, digest(document)))
    if admin.get_json("serviceentry", "-n", "istio-egress", "pypi") is None:  # removed above
        revisions = {item["metadata"]["annotations"][REVISION] for item in live.values()}
        assert len(revisions) == 2, "removing a destination changed some objects, not all"
    applied = admin.run("apply", "--server-side", "--field-manager=egressguard", "-f", "-",
                        stdin=documents, check=True)
    assert "serverside-applied" in applied.stdout
    # Identical content from the same manager changes nothing: no object got a new version.
    assert versions(managed_objects(admin, rendered_documents)) == versions(live)


def object_name(item: dict[str, Any]) -> str:
    return f"{item['kind']}/{item['metadata'].get('namespace')}/{item['metadata']['name']}"


REVISION = "egressguard.io/rules-revision"
LISTED_KINDS = ("networkpolicies,serviceentries.networking.istio.io,gateways.networking.istio.io,"
                "virtualservices,destinationrules,authorizationpolicies")


def managed_objects(admin: Kubectl, documents: list[dict[str, Any]] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """Our objects of the usual kinds, or of every kind among ``documents``."""
    kinds = LISTED_KINDS if documents is None else ",".join(sorted({
        ".".join(filter(None, (kind.plural, kind.group)))
        for kind in (managed_kind(d["apiVersion"], d["kind"]) for d in documents)}))
    listed = admin.get_json(kinds, "-A", "-l", "app.kubernetes.io/managed-by=egressguard")
    return {object_name(item): item for item in (listed or {}).get("items", ())}


def versions(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: item["metadata"]["resourceVersion"] for name, item in objects.items()}


def test_the_other_replica_takes_over_within_the_lease(
        controlplane: ControlPlane, replicas: list[Process]) -> None:
    admin = controlplane.kubectl(ADMIN)
    first = holder(admin)
    leader = next(p for p in replicas if first.startswith(p.name + "_"))
    other = next(p for p in replicas if p is not leader)
    leader.stop(timeout=0.1)
    killed = time.monotonic()
    wait_until(lambda: holder(admin).startswith(other.name + "_"),
               timeout=LEASE_SECONDS * 3, what="the other replica leading",
               processes=[other])
    assert time.monotonic() - killed <= LEASE_SECONDS * 2 + 1
    admin("create", "namespace", "after-takeover", check=True)
    wait_until(lambda: fence(admin, "after-takeover") is not None, timeout=10,
               what="the new leader fencing a new namespace", processes=[other])


# A rolling update: the old leader is gone before the new one starts. Its clock starts after
# the grant above lapsed, as the old leader's had run on past it.
AFTER_LAPSE = "2026-06-02T00:01:00Z"
RECONCILED = re.compile(r"reconciled rules revision \S+: (\d+) objects applied, (\d+) unchanged, "
                        r"(\d+) put back, (\d+) pruned, (\d+) API requests")


def first_reconcile(process: Process) -> tuple[int, int, int]:
    """Applied, unchanged and put back in the process's first reconcile."""
    found = RECONCILED.search(process.log_path.read_text())
    assert found is not None
    return int(found[1]), int(found[2]), int(found[3])


def lead_alone(admin: Kubectl, replicas: Replicas, name: str) -> Process:
    """Stops every replica, then starts ``name`` and waits for its first reconcile."""
    for process in replicas:
        process.stop()
    process = replicas.add(name, AFTER_LAPSE)
    wait_until(lambda: RECONCILED.search(process.log_path.read_text()) is not None,
               timeout=LEASE_SECONDS * 5 + 30, what=f"{name}'s first reconcile",
               processes=[process])
    assert holder(admin).startswith(name + "_")
    return process


def test_a_new_leader_puts_back_edits_made_while_none_ran_and_sends_nothing_else(
        controlplane: ControlPlane, replicas: Replicas) -> None:
    admin = controlplane.kubectl(ADMIN)
    time.sleep(2)  # the last leader's reconcile of the namespace created above
    for process in replicas:
        process.stop()
    # With no leader running, the admin edits managed objects: one change, and one removal,
    # which leaves no field manager of its own behind.
    admin("patch", "networkpolicy", "-n", "shop", "egressguard-fence", "--type=json",
          "-p", '[{"op":"replace","path":"/spec/egress","value":[{}]}]', check=True)
    admin("patch", "serviceentry", "-n", "payments-egress", "stripe", "--type=json",
          "-p", '[{"op":"remove","path":"/spec/resolution"}]', check=True)
    entry = admin.get_json("serviceentry", "-n", "payments-egress", "stripe",
                           "--show-managed-fields")
    assert "resolution" not in entry["spec"]
    assert [field["manager"] for field in entry["metadata"]["managedFields"]] == ["egressguard"]
    # And one applied as egressguard, digest kept, with ports added to the fence's rule: the
    # egress list is atomic, owned whole, so only its content shows the change.
    data = fence(admin, "data") or {}
    data = {"apiVersion": data["apiVersion"], "kind": data["kind"], "spec": data["spec"],
            "metadata": {key: data["metadata"][key]
                         for key in ("name", "namespace", "labels", "annotations")}}
    data["spec"]["egress"][0]["ports"] = [{"port": 53, "protocol": "UDP"}]
    admin.run("apply", "--server-side", "--field-manager=egressguard", "--force-conflicts",
              "-f", "-", stdin=[data], check=True)
    data = admin.get_json("networkpolicy", "-n", "data", "egressguard-fence",
                          "--show-managed-fields")
    assert "ports" in data["spec"]["egress"][0]
    assert [field["manager"] for field in data["metadata"]["managedFields"]] == ["egressguard"]

    healer = lead_alone(admin, replicas, "c")
    assert first_reconcile(healer)[0::2] == (3, 3)  # applied, put back: the three edits only
    log = healer.log_path.read_text()
    assert "NetworkPolicy shop/egressguard-fence was changed or deleted by someone else" in log
    assert "ServiceEntry payments-egress/stripe was changed or deleted by someone else" in log
    assert "NetworkPolicy data/egressguard-fence was changed or deleted by someone else" in log
    assert "ports" not in (fence(admin, "data") or {})["spec"]["egress"][0]
    assert (fence(admin, "shop") or {}).get("spec", {}).get("egress") != [{}]
    entry = admin.get_json("serviceentry", "-n", "payments-egress", "stripe")
    assert entry["spec"].get("resolution") == "DNS"

    # The next leader of the unchanged cluster applies nothing.
    before = versions(managed_objects(admin))
    successor = lead_alone(admin, replicas, "d")
    applied, unchanged, put_back = first_reconcile(successor)
    assert (applied, put_back) == (0, 0) and unchanged > 0
    assert versions(managed_objects(admin)) == before
