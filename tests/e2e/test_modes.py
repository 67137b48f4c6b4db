"""Namespace modes as a developer meets them: ``warn`` admits and kubectl prints the
warnings, ``off`` admits silently, and entitlement labels stay enforced in every mode."""

from __future__ import annotations

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl
from .objects import MODE_LABEL, allow_label, pod, unique

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("egressguard")]


def test_warn_mode_admits_and_kubectl_prints_the_warnings(developer: Kubectl) -> None:
    name = unique("warned")
    result = developer.apply(pod(name, "sandbox", egress="github.com:443", hostNetwork=True))
    expect.admitted(result)
    printed = "\n".join(expect.warnings(result))
    assert "grant-missing" in printed, result
    assert "host-network" in printed, result
    stored = expect.stored(developer, "pod", name, "sandbox")
    assert allow_label("github") not in expect.labels(stored)


def test_warn_mode_still_grants_open_destinations(developer: Kubectl) -> None:
    name = unique("warned-open")
    result = developer.apply(pod(name, "sandbox", egress="pypi.org:443"))
    expect.admitted(result)
    assert expect.warnings(result) == []
    assert (
        expect.labels(expect.stored(developer, "pod", name, "sandbox"))[allow_label("pypi")]
        == "true"
    )


def test_off_mode_admits_silently(developer: Kubectl) -> None:
    name = unique("silent")
    result = developer.apply(pod(name, "quiet", egress="github.com:443", hostNetwork=True))
    expect.admitted(result)
    assert expect.warnings(result) == []
    expect.stored(developer, "pod", name, "quiet")


@pytest.mark.parametrize("namespace", ["sandbox", "quiet"])
def test_entitlement_labels_are_enforced_in_every_mode(developer: Kubectl, namespace: str) -> None:
    name = unique("selflabel")
    result = developer.apply(pod(name, namespace, labels={allow_label("stripe"): "true"}))
    expect.denied(result, "managed-label")
    expect.absent(developer, "pod", name, namespace)


def test_unknown_mode_counts_as_enforce(
    egressguard: EgressguardCluster, developer: Kubectl
) -> None:
    name = unique("typo")
    egressguard.add_team_namespace(name, labels={MODE_LABEL: "wran"}, creator=egressguard.security)
    pod_name = unique("pod")
    result = developer.apply(pod(pod_name, name, hostNetwork=True))
    expect.denied(result, "host-network")
    expect.absent(developer, "pod", pod_name, name)
