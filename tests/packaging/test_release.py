"""The release check: build the sdist and the wheel as a release does, `twine check`
them, install the wheel into a clean virtualenv outside the checkout, and run it there:
`egressguard --version`, and `egressguard serve` with no arguments becoming ready with the
example rules the wheel carries. `make release-check` runs this file."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

import webhook

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.release]


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


def run(*argv: str | Path, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, check=False, env=env)
    assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`python -m build`: the sdist, then the wheel built from the sdist."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, REPO, cwd=out)
    (sdist,) = out.glob("egressguard-*.tar.gz")
    (wheel,) = out.glob("egressguard-*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtualenv outside the checkout with only the wheel (and its dependencies)."""
    home = tmp_path_factory.mktemp("clean-venv")
    assert REPO not in home.parents
    venv.EnvBuilder(with_pip=True, clear=True).create(home / "venv")
    python = home / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", built.wheel, cwd=home, timeout=900)
    return home / "venv" / "bin"


def test_twine_check_passes(built: Built) -> None:
    result = run(sys.executable, "-m", "twine", "check", "--strict", built.sdist, built.wheel,
                 cwd=built.wheel.parent)
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_wheel_carries_the_example_rules_schemas_and_type_marker(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
    rules = REPO / "rules"
    expected = {f"webhook/example_rules/{p.relative_to(rules).as_posix()}"
                for p in rules.rglob("*") if p.is_file()}
    assert expected and expected <= names
    assert "webhook/py.typed" in names
    schemas = {p.name for p in (REPO / "webhook" / "loader" / "schemas").glob("*.json")}
    assert schemas and {f"webhook/loader/schemas/{s}" for s in schemas} <= names
    assert not any(n.startswith(("tests/", "bench/", "deploy/")) for n in names)


def test_the_metadata_names_version_license_and_classifiers(built: Built) -> None:
    wheel = zipfile.ZipFile(built.wheel)
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(wheel.read(meta_name).decode())
    assert meta["Name"] == "egressguard" and meta["Version"] == webhook.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Requires-Python"] == ">=3.11"
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Topic :: Security" in classifiers
    assert meta["Description-Content-Type"] == "text/markdown"
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "egressguard = webhook.cli.main:main" in wheel.read(entry_points).decode()


def test_the_sdist_builds_from_what_it_carries(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = sdist.getnames()
    root = built.sdist.name.removesuffix(".tar.gz")
    for needed in ("setup.py", "pyproject.toml", "README.md", "CHANGELOG.md",
                   "rules/config.yaml", "webhook/py.typed"):
        assert f"{root}/{needed}" in names, needed


def test_version_prints_the_release(installed: Path, tmp_path: Path) -> None:
    result = run(installed / "egressguard", "--version", cwd=tmp_path)
    assert result.stdout.strip() == f"egressguard {webhook.__version__}"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@pytest.fixture
def serving(installed: Path, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`egressguard serve` with no arguments in an empty folder (with --port only when
    another program holds the default 8443 on this machine)."""
    port, argv = 8443, [str(installed / "egressguard"), "serve"]
    if not port_free(port):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        argv += ["--port", str(port)]
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "EGRESSGUARD_RULES", "PYTHONPATH")}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield port, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_serve_with_no_arguments_becomes_ready_with_the_bundled_rules(
    serving: tuple[int, Path],
) -> None:
    port, cwd = serving
    deadline = time.monotonic() + 60
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        ca = cwd / "certs" / "ca.crt"
        if ca.is_file():
            context = ssl.create_default_context(cafile=str(ca))
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz",
                                            context=context, timeout=2) as reply:
                    body = json.loads(reply.read())
                    break
            except OSError:
                pass
        time.sleep(0.2)
    log = (cwd / "serve.log").read_text()
    assert body.get("ready") is True, log
    assert "example_rules" in log, log
    # Not at a terminal: every operational log event is one JSON line.
    events = [json.loads(line) for line in log.splitlines()]
    assert events and all({"time", "level", "message"} <= set(e) for e in events), log
    assert not (cwd / "rules").exists()  # served from the installed package, not a copy
