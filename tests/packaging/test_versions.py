"""The release's version and image come from pyproject.toml alone: every file that names
them agrees (tools/release.py writes them; `make version VERSION=x.y.z`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import webhook
from tools import release


def test_every_file_names_pyprojects_version_and_image() -> None:
    assert release.disagreements() == []


def test_the_package_reports_pyprojects_version() -> None:
    assert webhook.__version__ == release.current().version


def test_a_file_that_disagrees_is_named() -> None:
    wanted = release.Release("9.8.7", release.current().image)
    problems = release.disagreements(wanted)
    assert {p.split(":")[0] for p in problems} == {s.path for s in release.SPOTS
                                                    if s.value(wanted) == "9.8.7"}


def test_stamp_writes_the_version_everywhere(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    for spot in {s.path for s in release.SPOTS} | {"pyproject.toml"}:
        (copy / spot).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(release.REPO / spot, copy / spot)
    monkeypatch.setattr(release, "REPO", copy)
    monkeypatch.setattr(release, "PYPROJECT", copy / "pyproject.toml")
    assert release.stamp("1.2.3rc1").version == "1.2.3rc1"
    assert release.disagreements() == []
    assert 'appVersion: "1.2.3rc1"' in (copy / "deploy/helm/egressguard/Chart.yaml").read_text()
    with pytest.raises(SystemExit, match="not a version"):
        release.stamp("v1")
