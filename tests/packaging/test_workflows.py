"""The release workflow (.github/workflows/release.yml) and the rules repository's CI
example (deploy/ci/): actionlint finds nothing, the release's own checks work as written,
and the release publishes what it promises (signed image with an SBOM, wheel to PyPI)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import webhook
from tests.deploy.tools import actionlint_binary

REPO = Path(__file__).resolve().parents[2]
RELEASE = REPO / ".github" / "workflows" / "release.yml"
WORKFLOWS = [RELEASE, REPO / "deploy" / "ci" / "egressguard.yml"]


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RELEASE.read_text())
    return loaded


def step(job: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in workflow()["jobs"][job]["steps"]
                                 if s.get("name") == name)
    return found


@pytest.mark.tools
@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_actionlint_finds_nothing(path: Path) -> None:
    result = subprocess.run([actionlint_binary(), "-no-color", str(path)], capture_output=True,
                            text=True, timeout=120, check=False, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def run_verify(tag: str, tmp_path: Path) -> tuple[int, str, dict[str, str]]:
    """The verify job's first check, as GitHub runs it, in this checkout."""
    output = tmp_path / "output"
    output.touch()
    script = step("verify", "The tag is pyproject.toml's version, named alike everywhere")["run"]
    done = subprocess.run(["bash", "-e", "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "TAG": tag, "GITHUB_OUTPUT": str(output)})
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return done.returncode, done.stdout + done.stderr, outputs


def test_the_release_accepts_the_tag_of_pyprojects_version(tmp_path: Path) -> None:
    code, out, outputs = run_verify(f"v{webhook.__version__}", tmp_path)
    assert code == 0, out
    assert outputs["version"] == webhook.__version__
    assert outputs["image"] == "ghcr.io/egressguard/egressguard"
    assert outputs["created"]


def test_the_release_refuses_a_tag_that_is_not_the_version(tmp_path: Path) -> None:
    code, out, outputs = run_verify("v9.9.9", tmp_path)
    assert code == 1 and outputs == {}
    assert f"::error::tag v9.9.9 is not v{webhook.__version__}" in out


def test_the_release_notes_are_the_changelog_section(tmp_path: Path) -> None:
    script = step("github-release", "Release notes from the CHANGELOG, and the artefacts")["run"]
    awk = script.splitlines()[0]  # the awk line; the next one talks to GitHub
    assert awk.startswith("awk ")
    subprocess.run(["bash", "-e", "-c", f"cd {REPO} && {awk.replace('> notes.md', '')} "
                    f"> {tmp_path / 'notes.md'}"], check=True, timeout=30,
                   env={**os.environ, "VERSION": "0.1.0"})
    notes = (tmp_path / "notes.md").read_text()
    assert notes.lstrip().startswith("The first release.")
    assert "## [" not in notes and "### Added" in notes


def test_the_image_is_signed_and_carries_an_sbom() -> None:
    build = step("image", "Build and push (with SBOM and provenance attestations)")["with"]
    assert build["sbom"] is True and build["provenance"] == "mode=max"
    assert "VERSION=${{ env.VERSION }}" in build["build-args"]
    sign = step("image", "Sign the image and attest its SBOM")["run"]
    assert 'cosign sign --yes "$IMAGE@$DIGEST"' in sign
    assert "cosign attest --yes --type spdxjson" in sign
    assert workflow()["jobs"]["image"]["permissions"]["id-token"] == "write"


def test_the_wheel_goes_to_pypi_by_trusted_publishing() -> None:
    job = workflow()["jobs"]["python"]
    assert job["permissions"]["id-token"] == "write"
    assert any(str(s.get("uses", "")).startswith("pypa/gh-action-pypi-publish@")
               for s in job["steps"])
    assert "twine check --strict" in step("python", "Build the sdist and the wheel")["run"]


def test_the_changelog_has_a_section_for_the_version() -> None:
    assert f"## [{webhook.__version__}]" in (REPO / "CHANGELOG.md").read_text()
