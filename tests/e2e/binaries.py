"""The pinned control-plane binaries, built once by ``build-controlplane.sh`` and cached."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BUILD_SCRIPT = Path(__file__).with_name("build-controlplane.sh")
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
# Generous: a first build on two cores compiles three Kubernetes commands and etcd.
BUILD_TIMEOUT_SECONDS = 80 * 60


@functools.cache
def controlplane_binaries() -> Path:
    """Build (or reuse) the binaries and return their folder.

    The script's progress goes to this process's stderr as it happens, so a first
    run on a fresh machine shows what it is waiting for; only the last stdout line
    (the folder) is read.
    """
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT.name} failed with exit code {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"{BUILD_SCRIPT.name} printed no binary folder")
    folder = Path(lines[-1])
    missing = [name for name in BINARIES if not os.access(folder / name, os.X_OK)]
    if missing:
        raise RuntimeError(f"{BUILD_SCRIPT.name} left no {', '.join(missing)} in {folder}")
    return folder


def _has_fileno(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


@contextlib.contextmanager
def terminal_output(config: pytest.Config) -> Iterator[None]:
    """Let output through pytest's capture, so progress is seen as it happens."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield
