"""Warnings and refusals as kubectl prints them stay short (RELIABILITY 4, 29): each warning
within 120 characters, all of them and every refusal message within the API server's 4096
bytes, however many problems one object has."""

from __future__ import annotations

from typing import Any

import pytest

from . import expect
from .kubectl import Kubectl
from .objects import PAUSE_IMAGE, pod, unique

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("egressguard")]

PREFIX = "Warning: "


def many_problems(name: str, namespace: str) -> dict[str, Any]:
    hosts = ",".join(f"host-{i}-with-a-rather-long-name.unknown.example:443" for i in range(150))
    containers = [{"name": f"container-{i}-" + "x" * 40, "image": PAUSE_IMAGE,
                   "securityContext": {"privileged": True,
                                       "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}}
                  for i in range(30)]
    return pod(name, namespace, egress=hosts, hostNetwork=True, containers=containers)


def test_every_warning_kubectl_prints_is_short_and_all_fit_the_api_server(
    developer: Kubectl,
) -> None:
    result = developer.apply(many_problems(unique("noisy"), "sandbox"), "--dry-run=server")
    expect.admitted(result)
    printed = expect.warnings(result)
    assert len(printed) > 5, result
    for line in printed:
        assert len(line) - len(PREFIX) <= 120, line
    assert sum(len(line[len(PREFIX):].encode()) for line in printed) <= 4096
    assert printed[-1].endswith("more warnings not shown"), printed[-1]


def test_a_refusal_of_an_object_with_hundreds_of_problems_stays_small(
    developer: Kubectl,
) -> None:
    result = developer.apply(many_problems(unique("refused"), "shop"), "--dry-run=server")
    assert result.returncode != 0
    assert "egressguard refused this object" in result.stderr, result
    assert len(result.stderr.encode()) <= 4096 + 512, len(result.stderr)
    assert "more problems not shown" in result.stderr
