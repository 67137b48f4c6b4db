"""Istio's real injector output is admitted; the same pods told to stand down are refused.

The corpus (corpus.py) is what ``istioctl kube-inject`` makes of our workloads under each
install profile, and the gateways Istio's installers create. Each object is judged by the
engine as `validate` and the policy cases judge it, in a judged namespace, as the
namespace's default service account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.inject.corpus import (
    INFRASTRUCTURE,
    OPENSHIFT_FIXTURES,
    OPENSHIFT_WEBHOOK,
    OPT_OUTS,
    WAYPOINTS,
    Injected,
    fixture_files,
    infrastructure,
    injected,
    opt_out,
)
from tests.inject.judging import describe, verdict
from tests.inject.profiles import PROFILES
from tests.inject.tampering import (
    HARMLESS,
    INIT_ONLY,
    TAMPERINGS,
    VALIDATION_ONLY,
    Tampering,
)

APPLICATIONS = [(profile.name, fixture.stem) for profile in PROFILES
                for fixture in fixture_files()]
# istiod's own webhook on OpenShift: the proxy's UID from the namespace's range.
APPLICATIONS += [(OPENSHIFT_WEBHOOK, fixture) for fixture in OPENSHIFT_FIXTURES]
# Tamperings are applied to these workloads, whose own annotations no check refuses.
TAMPERING_BASES = ("web-deployment", "init-containers", "multi-container", "job")


def _tampering_cases() -> list[tuple[str, str, Tampering]]:
    profiles = [(p.name, "cni" in p.tags) for p in PROFILES] + [(OPENSHIFT_WEBHOOK, True)]
    cases = []
    for profile, cni in profiles:
        specific = VALIDATION_ONLY if cni else INIT_ONLY
        for tampering in (*TAMPERINGS, *specific):
            cases += [(profile, fixture, tampering) for fixture in TAMPERING_BASES]
    return cases


def _assert_admitted(obj: dict[str, Any]) -> None:
    result = verdict(obj)
    assert result.decision.allowed, describe(result)
    assert not result.decision.codes, describe(result)


def _app(case: tuple[str, str]) -> Injected:
    return injected(*case)


@pytest.mark.parametrize("case", APPLICATIONS, ids="/".join)
def test_injected_workload_is_admitted(case: tuple[str, str]) -> None:
    _assert_admitted(_app(case).workload)


@pytest.mark.parametrize("case", APPLICATIONS, ids="/".join)
def test_pod_of_injected_workload_is_admitted(case: tuple[str, str]) -> None:
    _assert_admitted(_app(case).pod())


@pytest.mark.parametrize("name", sorted([*INFRASTRUCTURE, *WAYPOINTS]))
def test_mesh_infrastructure_is_admitted(name: str) -> None:
    item = infrastructure(name)
    _assert_admitted(item.workload)
    _assert_admitted(item.pod())


@pytest.mark.parametrize(("profile", "fixture", "tampering"), _tampering_cases(),
                         ids=lambda v: v.name if isinstance(v, Tampering) else v)
def test_tampered_injected_pod_is_refused(profile: str, fixture: str,
                                          tampering: Tampering) -> None:
    pod = injected(profile, fixture).pod()
    base = verdict(pod)
    result = verdict(tampering.apply(pod))
    assert not result.decision.allowed, describe(result)
    assert tampering.code in result.decision.codes, describe(result)
    # The code comes from the tampering, not from the pod it was applied to.
    assert tampering.code not in base.decision.codes, describe(base)


@pytest.mark.parametrize(("profile", "name", "change"), HARMLESS,
                         ids=[name for _, name, _ in HARMLESS])
@pytest.mark.parametrize("fixture", TAMPERING_BASES)
def test_harmless_change_is_admitted(profile: str, name: str,
                                     change: Callable[[dict[str, Any]], None],
                                     fixture: str) -> None:
    pod = injected(profile, fixture).pod()
    change(pod)
    _assert_admitted(pod)


@pytest.mark.parametrize("name", sorted(OPT_OUTS))
def test_injector_opt_out_is_refused(name: str) -> None:
    case = opt_out(name)
    result = verdict(case.pod)
    assert not result.decision.allowed, describe(result)
    assert case.code in result.decision.codes, describe(result)
