"""The pinned istioctl and helm (built once by ``build-meshtools.sh``) and Istio's source.

Istio's charts and templates are read from the Go module cache, at the same
``istio.io/istio`` version istioctl is built from; nothing of Istio is copied into the
repository.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.gomodules import cache_dir, module_dir

BUILD_SCRIPT = Path(__file__).with_name("build-meshtools.sh")
RENDER_SOURCE = Path(__file__).with_name("istiod")
ISTIO_MODULE = "istio.io/istio"
# Generous: a first build on two cores compiles istioctl and helm.
BUILD_TIMEOUT_SECONDS = 40 * 60
TOOL_TIMEOUT_SECONDS = 120


def pinned(variable: str) -> str:
    """A version pinned in the build script (its one source), e.g. ``ISTIO_VERSION``."""
    text = BUILD_SCRIPT.read_text()
    found = re.search(rf'^{variable}="\$\{{{variable}:-([^}}]+)\}}"$', text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"{BUILD_SCRIPT.name} pins no {variable}")
    return os.environ.get(variable, found.group(1))


@functools.cache
def meshtools() -> Path:
    """Build (or reuse) istioctl and helm and return their folder; progress goes to stderr."""
    stderr = sys.stderr.fileno() if _has_fileno(sys.stderr) else None
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=stderr, text=True,
        timeout=BUILD_TIMEOUT_SECONDS, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT.name} failed with exit code {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"{BUILD_SCRIPT.name} printed no binary folder")
    folder = Path(lines[-1])
    missing = [name for name in ("istioctl", "helm", istiod_render_name())
               if not os.access(folder / name, os.X_OK)]
    if missing:
        raise RuntimeError(f"{BUILD_SCRIPT.name} left no {', '.join(missing)} in {folder}")
    return folder


def istiod_render_name() -> str:
    """The istiod-render binary's name: its sources' hash, as the build script names it."""
    sources = [RENDER_SOURCE / "go.mod", RENDER_SOURCE / "go.sum",
               *sorted(RENDER_SOURCE.glob("*.go"))]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    return f"istiod-render-{digest[:12]}"


@functools.cache
def istio_source() -> Path:
    """The read-only ``istio.io/istio`` module folder istioctl was built from."""
    return module_dir(ISTIO_MODULE, pinned("ISTIO_VERSION"))


def run_tool(name: str, args: list[str], *, env: dict[str, str] | None = None,
             stdin: str | None = None) -> str:
    """Run istioctl or helm offline; its stdout, or an error with its stderr."""
    home = cache_dir() / "meshtools-home"
    home.mkdir(parents=True, exist_ok=True)
    # No cluster: a kubeconfig that names none, and helm's folders outside $HOME.
    offline = {
        "KUBECONFIG": str(home / "no-kubeconfig"),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_DATA_HOME": str(home / "helm-data"),
    }
    proc = subprocess.run(
        [str(meshtools() / name), *args], input=stdin, capture_output=True, text=True,
        timeout=TOOL_TIMEOUT_SECONDS, check=False, env={**os.environ, **offline, **(env or {})},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def _has_fileno(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True
