"""The rules format's deprecation path: a deprecated apiVersion still loads, and `check`
warns on each file that uses it, naming what to write instead. (No version is deprecated
while egressguard.io/v1alpha1 is the only one, so the tests deprecate it for a moment, as
the release that brings its successor will.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from webhook.cli.main import main
from webhook.loader import versions
from webhook.loader.versions import Deprecation, deprecation_warnings

EXAMPLE = Path(__file__).resolve().parents[2] / "rules"
SUCCESSOR = Deprecation("egressguard.io/v1beta1", "0.9.0", "nothing else changes")


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "rules")
    monkeypatch.chdir(tmp_path)
    return Path("rules")


def test_no_version_is_deprecated_today(rules: Path) -> None:
    assert versions.CURRENT == "egressguard.io/v1alpha1"
    assert versions.CURRENT not in versions.DEPRECATED
    assert deprecation_warnings(rules, show=str) == []


def test_check_names_each_file_and_what_to_change(
    rules: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(versions, "DEPRECATED", {versions.CURRENT: SUCCESSOR})
    assert main(["check", str(rules)]) == 0  # still loads: a warning, never a failure
    out = capsys.readouterr().out
    files = ["config.yaml", *(f"destinations/{p.name}" for p in (rules / "destinations").iterdir()),
             *(f"exceptions/{p.name}" for p in (rules / "exceptions").iterdir())]
    for name in files:
        line = next(n for n, text in enumerate((rules / name).read_text().splitlines(), 1)
                    if text.startswith("apiVersion:"))
        assert (f"rules/{name}:{line}: warning: apiVersion egressguard.io/v1alpha1 is deprecated "
                "and read for the last time by egressguard 0.9.0: write 'apiVersion: "
                "egressguard.io/v1beta1'; nothing else changes") in out, name
    assert ".rule" not in "".join(line for line in out.splitlines() if "apiVersion" in line)


def test_the_warning_points_at_the_apiversion_line(rules: Path) -> None:
    config = rules / "config.yaml"
    config.write_text("# the cluster's settings\n#\n" + config.read_text().replace(
        "apiVersion:", "apiVersion:  ", 1))
    (problem,) = [p for p in deprecation_warnings(
        rules, show=lambda rel: rel, deprecated={versions.CURRENT: SUCCESSOR})
        if p.path == "config.yaml"]
    assert problem.line == 4  # below the two added lines and the file's own comment
