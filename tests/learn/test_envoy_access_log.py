"""The per-destination Envoy that ``render`` writes, run for real: its access log, in
Envoy's default format, reads as the destination the pod asked for."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.example_policy import GOLDEN_NOW, example_policy
from tests.render.envoy_process import running_envoy
from tests.render.test_dataplane import HOST, make_pki, plan_of, serving_upstream
from webhook.learn import read_access_log
from webhook.learn.observations import Unattributed
from webhook.render import EnvoyOverrides, RenderOptions, bootstrap
from webhook.render.yamltext import yaml_text


async def test_the_rendered_envoys_own_lines_name_the_host_and_the_port_the_pod_dialled(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path, server_name=HOST)
    plan = plan_of(example_policy(), "partner-api")  # HTTP on 80, TLS originated to 443
    access_log = tmp_path / "access.log"
    async with serving_upstream(pki) as upstream:
        overrides = EnvoyOverrides(
            listener_address="127.0.0.1", listener_ports={p.number: 0 for p in plan.ports},
            upstream=("127.0.0.1", upstream.port), trusted_ca=str(pki.ca_file), admin_port=0,
        )
        config = tmp_path / "envoy.yaml"
        config.write_text(yaml_text(bootstrap(plan, RenderOptions(now=GOLDEN_NOW),
                                              overrides=overrides)))
        with running_envoy(config, tmp_path, stdout=access_log) as envoy:
            url = f"http://127.0.0.1:{envoy.listener_port('http_80')}/orders/42"
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
                session.get(url, headers={"Host": HOST}) as reply,
            ):
                assert reply.status == 200
        assert len(upstream.requests) == 1
    lines = access_log.read_text().splitlines()
    assert len(lines) == 1, lines
    reading = read_access_log("access.log", lines)
    assert reading.skipped == [] and reading.needs == {}
    assert reading.unattributed == {Unattributed(HOST, 80, "an unlogged address"): 1}
    assert reading.protocols == {(HOST, 80): {"HTTP"}}
