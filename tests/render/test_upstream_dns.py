"""The per-destination Envoy resolves its destination through the cluster DNS, for real.

A rendered partner-api config (plain HTTP in, TLS originated to orders.partner.example) runs
in the real Envoy with only its listener and the upstream's port moved to 127.0.0.1. Its
addresses come from a small DNS server on a loopback address standing in for the cluster DNS:
by default Envoy names no resolver and reads a pod's resolv.conf (bind-mounted over
/etc/resolv.conf for Envoy alone, in a mount namespace of its own), asks for the marked name
that the rendered CoreDNS rules answer with the real name's addresses, and never for the
destination's own name, which the cluster DNS answers with the Envoy's own Service. With
``--upstream-dns`` it asks that resolver for the real name. Nothing reaches the internet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.example_policy import GOLDEN_NOW, example_policy
from tests.render.dns_server import serving_dns
from tests.render.envoy_process import running_envoy
from tests.render.test_dataplane import (
    HOST,
    Gateway,
    Upstream,
    make_pki,
    plan_of,
    send,
    serving_upstream,
)
from webhook.render import EnvoyOverrides, RenderMode, RenderOptions, bootstrap, render
from webhook.render.plan import UPSTREAM_DNS_SUFFIX
from webhook.render.yamltext import yaml_text

MARKED = f"{HOST}.{UPSTREAM_DNS_SUFFIX}"
# What the cluster DNS answers for the destination's own name: the Envoy's Service. Nothing
# listens there, so an Envoy that asked for it would fail the request.
OWN_SERVICE = "127.0.0.2"
# Bind-mount the resolv.conf given first over /etc/resolv.conf, then exec the rest.
WITH_RESOLV_CONF = ["sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"']


def _can_remount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True, timeout=10, check=False,
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_remount(),
    reason="needs root (a DNS server on port 53, a mount namespace for Envoy's resolv.conf)",
)


def pod_resolv_conf(path: Path, nameserver: str) -> Path:
    """What the kubelet writes for a ClusterFirst pod in namespace istio-egress."""
    path.write_text(
        f"nameserver {nameserver}\n"
        "search istio-egress.svc.cluster.local svc.cluster.local cluster.local\n"
        "options ndots:5\n"
    )
    return path


def in_pod(resolv_conf: Path) -> list[str]:
    """Run Envoy with ``resolv_conf`` as its /etc/resolv.conf, in a mount namespace."""
    return ["unshare", "--mount", "--propagation", "private", *WITH_RESOLV_CONF, str(resolv_conf)]


@contextmanager
def partner_gateway(
    tmp_path: Path, upstream: Upstream, options: RenderOptions, *, prefix: list[str]
) -> Iterator[Gateway]:
    plan = plan_of(example_policy(), "partner-api")
    overrides = EnvoyOverrides(
        listener_address="127.0.0.1",
        listener_ports={port.number: 0 for port in plan.ports},
        upstream_port=upstream.port,
        trusted_ca=str(tmp_path / "ca.crt"),
        admin_port=0,
    )
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml_text(bootstrap(plan, options, overrides=overrides)))
    with running_envoy(config, tmp_path, prefix=prefix) as envoy:
        yield Gateway(f"http://127.0.0.1:{envoy.listener_port('http_80')}", upstream)


async def test_by_default_the_envoy_asks_the_cluster_dns_of_its_resolv_conf_for_the_marked_name(
    tmp_path: Path,
) -> None:
    with serving_dns({MARKED: "127.0.0.1", HOST: OWN_SERVICE}) as dns:
        prefix = in_pod(pod_resolv_conf(tmp_path / "resolv.conf", dns.address))
        options = RenderOptions(now=GOLDEN_NOW)
        async with serving_upstream(make_pki(tmp_path, server_name=HOST)) as upstream:
            with partner_gateway(tmp_path, upstream, options, prefix=prefix) as gateway:
                status, text = await send(gateway, "GET", "/orders/42")
        asked = dns.names_asked
    assert (status, text) == (200, "upstream saw GET /orders/42")
    # The name asked as it is: no search domain of the pod's resolv.conf appended.
    assert asked == {MARKED}
    # TLS still names the destination, not the marked name it was resolved by.
    assert upstream.server_names == [HOST]
    assert [r[:3] for r in upstream.requests] == [("GET", "/orders/42", HOST)]


async def test_without_the_rewrite_rules_the_envoy_reaches_nothing(tmp_path: Path) -> None:
    """The marked name exists only through the rendered CoreDNS rules: a cluster DNS
    without them answers NXDOMAIN, and the Envoy fails closed rather than ask elsewhere."""
    with serving_dns({HOST: OWN_SERVICE}) as dns:
        prefix = in_pod(pod_resolv_conf(tmp_path / "resolv.conf", dns.address))
        options = RenderOptions(now=GOLDEN_NOW)
        async with serving_upstream(make_pki(tmp_path, server_name=HOST)) as upstream:
            with partner_gateway(tmp_path, upstream, options, prefix=prefix) as gateway:
                status, _ = await send(gateway, "GET", "/orders/42")
        asked = dns.names_asked
    assert status == 503
    assert asked == {MARKED}
    assert upstream.requests == []


async def test_with_upstream_dns_the_envoy_asks_that_resolver_for_the_real_name(
    tmp_path: Path,
) -> None:
    with serving_dns({HOST: "127.0.0.1", MARKED: OWN_SERVICE}) as dns:
        options = RenderOptions(now=GOLDEN_NOW, upstream_resolvers=(dns.address,))
        async with serving_upstream(make_pki(tmp_path, server_name=HOST)) as upstream:
            with partner_gateway(tmp_path, upstream, options, prefix=[]) as gateway:
                status, _ = await send(gateway, "GET", "/orders/42")
        asked = dns.names_asked
    assert status == 200
    assert asked == {HOST}
    assert upstream.server_names == [HOST]


def test_the_coredns_rules_answer_the_marked_name_with_the_real_one() -> None:
    """The rule the Envoy above depends on, as render writes it (CoreDNS's exact rewrite
    renames the answer back to the name asked)."""
    rendering = render(
        example_policy(), RenderMode.ENVOY_PER_DESTINATION, RenderOptions(now=GOLDEN_NOW)
    )
    coredns = next(f for f in rendering.files if f.name == "coredns.yaml")
    text = coredns.documents[0]["data"]["egressguard.override"]
    assert f"rewrite name exact {MARKED} {HOST}\n" in text
    assert f"rewrite name exact {HOST} partner-api.istio-egress.svc.cluster.local\n" in text
