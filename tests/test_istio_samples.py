"""Istio's own samples, applied by a developer in a judged namespace through `egressguard validate`.

The samples come from the istio.io/istio Go module at the version the mesh tools are built
from (tests/inject/build-meshtools.sh), read from the Go module cache and never copied here.
Bookinfo, httpbin, curl, helloworld and the local ext-authz sample are admitted. The few
documents refused are refused on purpose, each named below with its code and why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from webhook.cli.main import main

REPO = Path(__file__).parent.parent
BUILD_SCRIPT = REPO / "tests" / "inject" / "build-meshtools.sh"
DEVELOPER = "developer@example.com"
NAMESPACE = "samples"

SAMPLES = (
    "bookinfo/platform/kube/bookinfo.yaml",
    "bookinfo/networking",
    "bookinfo/gateway-api",
    "httpbin/httpbin.yaml",
    "httpbin/httpbin-gateway.yaml",
    "httpbin/gateway-api",
    "httpbin/sample-client",
    "curl/curl.yaml",
    "helloworld/helloworld.yaml",
    "helloworld/helloworld-gateway.yaml",
    "helloworld/gateway-api",
    "extauthz/ext-authz.yaml",
    "extauthz/local-ext-authz.yaml",
)

# (sample, kind, name) -> the codes it is refused with.
REFUSED = {
    # Istio's egress sample is exactly the direct route egressguard exists to close: the
    # rules repo routes www.googleapis.com through the gateway instead.
    ("bookinfo/networking", "ServiceEntry", "googleapis"): ["egress-route", "serviceentry-port"],
    ("bookinfo/networking", "VirtualService", "rewrite-port-for-googleapis"): ["egress-route"],
    ("bookinfo/networking", "DestinationRule", "originate-tls-for-googleapis"): ["egress-route"],
    # Gateway API Gateways of class istio deploy a proxy whose own traffic is not captured;
    # the Istio-API variants of the same samples (a Gateway on the shared ingress) pass.
    ("bookinfo/gateway-api", "Gateway", "bookinfo-gateway"): ["gateway-config"],
    ("httpbin/gateway-api", "Gateway", "httpbin-gateway"): ["gateway-config"],
    ("helloworld/gateway-api", "Gateway", "helloworld-gateway"): ["gateway-config"],
    # The standalone authorizer is deliberately kept out of the mesh (inject: "false").
    ("extauthz/ext-authz.yaml", "Deployment", "ext-authz"): ["mesh-opt-out"],
}


def _istio_version() -> str:
    found = re.search(r'ISTIO_VERSION="\$\{ISTIO_VERSION:-([^}"]+)\}"', BUILD_SCRIPT.read_text())
    assert found, f"{BUILD_SCRIPT} no longer pins ISTIO_VERSION"
    return found.group(1)


@cache
def samples_dir() -> Path:
    """The samples folder of the pinned module, downloaded into the module cache if needed."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("the go command is needed to find Istio's samples in the module cache")
    module = f"istio.io/istio@{_istio_version()}"
    result = subprocess.run(
        [go, "mod", "download", "-json", module],
        capture_output=True, text=True, timeout=600, check=False, cwd=REPO,
    )
    info = json.loads(result.stdout or "{}")
    assert result.returncode == 0 and "Dir" in info, f"go mod download {module}: {result}"
    return Path(info["Dir"]) / "samples"


def test_istio_samples_are_admitted_for_a_developer(capsys: pytest.CaptureFixture[str]) -> None:
    root = samples_dir()
    refused: dict[tuple[str, str, str], list[str]] = {}
    judged = 0
    for sample in SAMPLES:
        path = root / sample
        assert path.exists(), f"{path} is gone from the module; update SAMPLES"
        main(["validate", "--rules", str(REPO / "rules"), "--namespace", NAMESPACE,
              "--user", DEVELOPER, "-o", "json", "-f", str(path)])
        for verdict in json.loads(capsys.readouterr().out):
            judged += 1
            if not verdict["allowed"] or verdict["codes"]:
                key = (sample, verdict["kind"], verdict["name"])
                refused[key] = sorted(verdict["codes"])
    assert judged > 60, "the samples should hold many documents"
    assert refused == {key: sorted(codes) for key, codes in REFUSED.items()}
