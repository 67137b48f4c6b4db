"""The Rego policy judges the pod mix as egressguard does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.compare import verify
from bench.corpus import write_rules
from bench.rego import QUERY_PATH, opa_binary, write_bundle
from bench.reviews import pod_mix
from bench.servers import Server, make_certificates, start_egressguard, start_opa
from webhook.loader import load_repository

# OPA is built before the tests start (tests/conftest.py), the first time a few minutes.
pytestmark = pytest.mark.opa


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    workdir = tmp_path_factory.mktemp("opa")
    rules = write_rules(workdir / "rules", grants=40, destinations=12)
    certificates = make_certificates(workdir / "certs")
    bundle = write_bundle(load_repository(rules).policy, workdir / "bundle")
    ours = start_egressguard("egressguard", rules, certificates, workdir)
    opa = start_opa(opa_binary(), bundle, certificates, workdir, query_path=QUERY_PATH)
    try:
        ours.wait_ready(timeout=60)
        opa.wait_ready(timeout=60)
        yield ours, opa
    finally:
        ours.stop()
        opa.stop()


def test_opa_gives_the_same_verdicts_and_patches_as_egressguard(
    servers: tuple[Server, Server],
) -> None:
    ours, opa = servers
    samples = pod_mix(80)
    check = verify(ours, [opa], samples)
    assert check["mismatches"] == []
    assert 0 < check["allowed"] < len(samples)
