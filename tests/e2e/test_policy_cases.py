"""The policy cases of tests/cases through the real API server: each object a case holds is
created with ``kubectl create --dry-run=server`` by the identity the case names (the
developer, dev-alice, when it names none), so it passes the API server's own validation,
the webhook configurations of deploy/ and egressguard serving rules/. A denied case is
refused naming its codes; an allowed one is admitted.

Left out, each for a reason the case itself gives: whole AdmissionReviews (UPDATE, DELETE,
CONNECT: judged by tests/test_cases.py, and their paths by test_registration.py), cases of
another rules repository or clock (the server serves rules/ at today's date), cases that set
namespace modes, and kinds this cluster does not serve.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_cases import ALL_CASES, DEFAULT_NOW, DEVELOPER, REPO, Case

from . import expect
from .cluster import DEVELOPER_ROLE, MODE_NAMESPACES, EgressguardCluster
from .controlplane import DEVELOPER as DEVELOPER_IDENTITY
from .kubectl import Kubectl, Result

pytestmark = [pytest.mark.e2e]

EXAMPLE_RULES = REPO / "rules"
# Cases the API server itself refuses, before any webhook is asked, and what it says. For a
# denied case that is the path closed by Kubernetes or the CRD's schema (egressguard's
# refusal is defence in depth); an allowed case here does not hold a valid object.
API_SERVER_REFUSES = {
    "endpoints/denied/endpoints-not-ready-metadata.yaml": "may not be in the link-local range",
    # Unknown fields are refused (kubectl's default) or pruned, never stored for Istio.
    "envoyfilter/denied/snake-case-fields.yaml": 'unknown field "spec.config_patches"',
    "serviceentry/denied/wildcard-everything.yaml": "hostname cannot be wildcard",
    "sidecar/denied/sidecar-allow-any-lower-case.yaml": 'Unsupported value: "allow_any"',
}
# The API server stored the object's name already: admission had admitted it.
ALREADY_EXISTS = "(AlreadyExists)"


def document(case: Case) -> dict[str, Any]:
    return copy.deepcopy(_document(case.file))


@cache
def _document(file: Path) -> dict[str, Any]:
    # Read when the module is collected, by every pytest run: libyaml's reader, as the
    # loader's (webhook.syntax.yamlstrict), not PyYAML's pure-Python one.
    texts = yaml.load_all(file.read_text(), Loader=yaml.CSafeLoader)
    (doc,) = [d for d in texts if d is not None]
    assert isinstance(doc, dict)
    return doc


def why_left_out(case: Case) -> str | None:
    if document(case).get("kind") == "AdmissionReview":
        return "a whole AdmissionReview"
    if case.rules != EXAMPLE_RULES:
        return "judged against other rules"
    if case.now.isoformat() != DEFAULT_NOW.replace("Z", "+00:00") or _timed(case):
        return "judged at another time"
    if case.namespace_modes:
        return "sets namespace modes"
    if document(case).get("metadata", {}).get("namespace") in MODE_NAMESPACES:
        return "in a namespace whose mode the e2e cluster sets"
    return None


def _timed(case: Case) -> bool:
    # Grants and exceptions expire: their outcome depends on the day it is judged.
    return case.suite.parent.name in ("grants", "exceptions")


LIVE = [c for c in ALL_CASES if why_left_out(c) is None]


@pytest.fixture(scope="module")
def served_kinds(egressguard: EgressguardCluster) -> frozenset[tuple[str, str]]:
    """(group, kind) of every resource the API server serves."""
    result = egressguard.admin.run("api-resources", "-o", "wide", "--no-headers", check=True)
    found = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND VERBS ...
        namespaced = next(i for i, p in enumerate(parts) if p in ("true", "false"))
        api_version, kind = parts[namespaced - 1], parts[namespaced + 1]
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        found.add((group, kind))
    return frozenset(found)


class Setup:
    """Namespaces and service accounts the cases live in, created once, with the
    developer's role bound in each."""

    def __init__(self, cluster: EgressguardCluster) -> None:
        self.cluster = cluster
        self.namespaces: set[str] = set()
        self.accounts: set[tuple[str, str]] = set()

    def namespace(self, name: str) -> None:
        if name in self.namespaces:
            return
        admin = self.cluster.admin
        if not admin.run("get", "namespace", name).ok:
            admin.run("create", "namespace", name, check=True)
        if not admin.run("get", "rolebinding", "developer", "-n", name).ok:
            admin.run("create", "rolebinding", "developer", f"--clusterrole={DEVELOPER_ROLE}",
                      f"--user={DEVELOPER_IDENTITY.user}", "-n", name, check=True)
        self.namespaces.add(name)

    def service_account(self, namespace: str, name: str) -> None:
        if (namespace, name) in self.accounts:
            return
        admin = self.cluster.admin
        if not admin.run("get", "serviceaccount", name, "-n", namespace).ok:
            admin.run("create", "serviceaccount", name, "-n", namespace, check=True)
        self.accounts.add((namespace, name))


@pytest.fixture(scope="module")
def setup(egressguard: EgressguardCluster) -> Iterator[Setup]:
    yield Setup(egressguard)


def pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return []
    if doc.get("kind") == "Pod":
        return [spec]
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
    inner = template.get("spec") if isinstance(template, dict) else None
    return [inner] if isinstance(inner, dict) else []


def identity(cluster: EgressguardCluster, case: Case) -> tuple[Kubectl, list[str]]:
    """The kubectl of the case's user: the developer, the security admin, or anyone else
    through impersonation by the administrator (with rights to create anything)."""
    if case.user == DEVELOPER and not case.groups:
        return cluster.developer, []
    if case.user == "security-admin" and not case.groups:
        return cluster.security, []
    groups = [f"--as-group={g}" for g in (*case.groups, "system:masters")]
    return cluster.admin, [f"--as={case.user}", *groups]


@pytest.mark.parametrize("case", LIVE, ids=lambda c: c.id)
def test_case_through_the_api_server(
    case: Case, egressguard: EgressguardCluster, setup: Setup,
    served_kinds: frozenset[tuple[str, str]],
) -> None:
    doc = document(case)
    api_version = str(doc.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    if (group, doc.get("kind")) not in served_kinds:
        pytest.skip(f"{api_version} {doc.get('kind')} is not served here")
    namespace = doc.get("metadata", {}).get("namespace") or "default"
    setup.namespace(namespace)
    for spec in pod_specs(doc):
        setup.service_account(namespace, str(spec.get("serviceAccountName") or "default"))
    kubectl, extra = identity(egressguard, case)
    result = kubectl.run("create", "--dry-run=server", "-n", namespace, "-f", "-", *extra,
                         stdin=doc)
    check(case, result)


def check(case: Case, result: Result) -> None:
    if case.id in API_SERVER_REFUSES:
        assert not result.ok and expect.DENIED not in result.stderr, result
        assert API_SERVER_REFUSES[case.id] in result.stderr, result
        return
    if case.expect_allowed:
        if ALREADY_EXISTS in result.stderr:
            return
        expect.admitted(result)
        return
    expect.denied(result, *case.codes)
