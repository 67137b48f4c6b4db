"""The render of the example rules, byte for byte, in every mode; and that it is stable.

Regenerate the goldens after an intended change, then review the diff like any other:

    EGRESSGUARD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.example_policy import (
    DESTINATIONS,
    GOLDEN_NOW,
    GOLDEN_REVISION,
    GRANTS,
    example_policy,
)
from webhook.render import RenderMode, RenderOptions, render
from webhook.render.output import stream_text, write_directory

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "render"
UPDATE = os.environ.get("EGRESSGUARD_UPDATE_GOLDEN") == "1"
MODES = list(RenderMode)


def _files(directory: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*"))}


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_render_of_the_example_rules_matches_the_golden_files(
    mode: RenderMode, tmp_path: Path
) -> None:
    write_directory(render(example_policy(), mode, RenderOptions(now=GOLDEN_NOW)), tmp_path)
    golden = GOLDEN / mode
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(tmp_path, golden)
    actual, expected = _files(tmp_path), _files(golden)
    assert sorted(actual) == sorted(expected), "files differ; regenerate if intended (see top)"
    for name, text in expected.items():
        assert actual[name] == text, f"{mode}/{name} differs; regenerate if intended (see top)"


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_two_renders_are_byte_identical(mode: RenderMode) -> None:
    options = RenderOptions(now=GOLDEN_NOW)
    assert stream_text(render(example_policy(), mode, options)) == stream_text(
        render(example_policy(), mode, options)
    )


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_the_order_rules_are_read_in_does_not_change_the_output(mode: RenderMode) -> None:
    options = RenderOptions(now=GOLDEN_NOW)
    shuffled = example_policy(
        destinations=tuple(reversed(DESTINATIONS)), grants=tuple(reversed(GRANTS))
    )
    assert stream_text(render(shuffled, mode, options)) == stream_text(
        render(example_policy(), mode, options)
    )


_DIGEST = """
import hashlib, sys
from tests.example_policy import GOLDEN_NOW, example_policy
from webhook.render import RenderMode, RenderOptions, render
from webhook.render.output import stream_text
text = "".join(
    stream_text(render(example_policy(), mode, RenderOptions(now=GOLDEN_NOW)))
    for mode in RenderMode
)
sys.stdout.write(hashlib.sha256(text.encode()).hexdigest())
"""


def test_output_does_not_depend_on_hash_randomisation() -> None:
    """Set and dict orders built from strings vary with PYTHONHASHSEED across processes."""
    digests = set()
    for seed in ("1", "2", "3"):
        result = subprocess.run(
            [sys.executable, "-c", _DIGEST],
            capture_output=True, text=True, cwd=REPO, timeout=120, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        digests.add(result.stdout)
    assert len(digests) == 1


def test_the_stream_is_the_files_in_order() -> None:
    rendering = render(example_policy(), RenderMode.ISTIO_SIDECAR, RenderOptions(now=GOLDEN_NOW))
    golden = GOLDEN / RenderMode.ISTIO_SIDECAR
    expected = "".join((golden / file.name).read_text() for file in rendering.files)
    assert hashlib.sha256(stream_text(rendering).encode()).digest() == hashlib.sha256(
        expected.encode()
    ).digest()


def test_the_loader_reads_rules_as_this_mirror() -> None:
    """The goldens are rendered from a Policy built in code; it must say what rules/ says."""
    loader = pytest.importorskip("webhook.loader")
    loaded = dataclasses.replace(
        loader.load_repository(REPO / "rules").policy, revision=GOLDEN_REVISION
    )
    options = RenderOptions(now=GOLDEN_NOW)
    for mode in MODES:
        assert stream_text(render(loaded, mode, options)) == stream_text(
            render(example_policy(), mode, options)
        ), mode
