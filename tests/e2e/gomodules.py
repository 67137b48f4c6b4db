"""Files of published Go modules (CRDs, Istio's samples), fetched with ``go mod download``.

``go mod download`` fetches a module through the Go module proxy, checked against
sum.golang.org; the files the tests need are copied into the binaries' cache
(``~/.cache/egressguard``, ``EGRESSGUARD_CACHE``) so later runs need no network. Nothing
of them is copied into the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath

DOWNLOAD_TIMEOUT_SECONDS = 600


def cache_dir() -> Path:
    return Path(os.environ.get("EGRESSGUARD_CACHE", Path.home() / ".cache" / "egressguard"))


def module_file(module: str, version: str, path_in_module: str) -> Path:
    """One file of a published Go module, downloaded once and cached under its own path
    (two files of one module may share a name, as Gateway API's channels do)."""
    relative = PurePosixPath(path_in_module)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{path_in_module!r} is not a path inside a module")
    cached = cache_dir() / f"{module.replace('/', '_')}-{version}" / relative
    if cached.is_file():
        return cached
    source = module_dir(module, version, cache=cached.parent) / relative
    if not source.is_file():
        raise RuntimeError(f"{module}@{version} has no {path_in_module}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(cached.name + ".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(cached)
    return cached


def module_dir(module: str, version: str, *, cache: Path | None = None) -> Path:
    """The read-only folder of ``module@version`` in the Go module cache."""
    if shutil.which("go") is None:
        raise RuntimeError(f"Go is required to download {module} (a Go module)")
    workdir = cache or cache_dir()
    workdir.mkdir(parents=True, exist_ok=True)
    # Run outside any Go module, so only the module cache is involved.
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_SECONDS, check=False,
        cwd=workdir,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go mod download {module}@{version} failed:\n{proc.stderr}")
    return Path(json.loads(proc.stdout)["Dir"])
