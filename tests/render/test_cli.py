"""`egressguard render` on the bundled rules: the stream, the folder, and the errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.cli.main import main
from webhook.loader import load_repository
from webhook.render import RenderMode, RenderOptions, render
from webhook.render.output import stream_text
from webhook.render.plan import FenceKind

REPO = Path(__file__).resolve().parents[2]
RULES = str(REPO / "rules")
NOW = "2026-06-01T12:00:00Z"


def expected(mode: RenderMode, **options: Any) -> str:
    policy = load_repository(RULES).policy
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    return stream_text(render(policy, mode, RenderOptions(now=now, **options)))


@pytest.mark.parametrize("mode", list(RenderMode), ids=str)
def test_without_output_it_prints_one_yaml_stream(
    mode: RenderMode, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["render", "--rules", RULES, "--mode", mode, "--now", NOW])
    out = capsys.readouterr().out
    assert code == 0
    assert out == expected(mode)
    documents = [doc for doc in yaml.safe_load_all(out) if doc]
    assert documents and all(doc["apiVersion"] and doc["kind"] for doc in documents)


def test_with_output_it_writes_one_file_per_destination_plus_shared_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["render", "--rules", RULES, "--mode", "istio-sidecar", "--now", NOW,
                 "--out", str(tmp_path / "out")])
    assert code == 0
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert [n for n in names if n.startswith("destination-")] == [
        f"destination-{name}.yaml"
        for name in ("gcs", "github", "googleapis", "partner-api", "pypi", "slack", "stripe")
    ]
    assert "gateway-istio-egressgateway.yaml" in names and "namespace-shop.yaml" in names
    text = "".join((tmp_path / "out" / name).read_text() for name in names)
    assert text.count("---\n") == expected(RenderMode.ISTIO_SIDECAR).count("---\n")
    assert f"wrote {len(names)} files" in capsys.readouterr().err


def test_cluster_facts_reach_the_output(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["render", "--rules", RULES, "--mode", "istio-sidecar", "--now", NOW,
                 "--gateway-target-port", "443=443", "--fence", "calico",
                 "--fence-namespace", "legacy"])
    assert code == 0
    assert capsys.readouterr().out == expected(
        RenderMode.ISTIO_SIDECAR, gateway_pod_ports={443: 443, 80: 8080},
        fence=FenceKind.CALICO, fence_namespaces=("legacy",),
    )
    code = main(["render", "--rules", RULES, "--mode", "envoy-per-destination", "--now", NOW,
                 "--upstream-dns", "10.0.0.2"])
    assert code == 0
    assert capsys.readouterr().out == expected(
        RenderMode.ENVOY_PER_DESTINATION, upstream_resolvers=("10.0.0.2",)
    )


def test_rules_that_do_not_load_exit_2_with_the_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["render", "--rules", str(tmp_path / "missing"), "--mode", "istio-ambient"])
    assert code == 2
    assert "do not load" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--mode", "istio"],
        ["--mode", "istio-sidecar", "--gateway-target-port", "443"],
        ["--mode", "istio-sidecar", "--gateway-target-port", "443=99999"],
        ["--mode", "envoy-per-destination", "--upstream-dns", "dns.example"],
        ["--mode", "istio-sidecar", "--now", "yesterday"],
    ],
    ids=["unknown-mode", "port-without-pod", "port-out-of-range", "resolver-not-ip", "bad-time"],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--rules", RULES, *args])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
