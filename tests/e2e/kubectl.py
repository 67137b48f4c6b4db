"""The real kubectl, run as a subprocess with one identity's kubeconfig.

Tests assert on what a user sees: the exit code, stdout and stderr, exactly as kubectl
prints them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\n(exit {self.returncode})\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


class KubectlError(RuntimeError):
    def __init__(self, result: Result) -> None:
        super().__init__(str(result))
        self.result = result


Manifest = Mapping[str, Any] | Sequence[Mapping[str, Any]] | str


def to_yaml(manifest: Manifest) -> str:
    if isinstance(manifest, str):
        return manifest
    docs = [manifest] if isinstance(manifest, Mapping) else list(manifest)
    return yaml.safe_dump_all([dict(d) for d in docs], sort_keys=False)


@dataclass(frozen=True)
class Kubectl:
    """kubectl bound to a kubeconfig (one identity)."""

    binary: Path
    kubeconfig: Path
    env: Mapping[str, str]
    identity: str = ""
    default_timeout: float = 60.0

    def run(
        self,
        *args: str,
        stdin: Manifest | None = None,
        check: bool = False,
        timeout: float | None = None,
        cwd: Path | None = None,
    ) -> Result:
        argv = (str(self.binary), f"--kubeconfig={self.kubeconfig}", *args)
        proc = subprocess.run(
            argv,
            input=to_yaml(stdin) if stdin is not None else None,
            capture_output=True,
            text=True,
            env=dict(self.env),
            timeout=timeout or self.default_timeout,
            check=False,
            cwd=cwd,
        )
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        if check and not result.ok:
            raise KubectlError(result)
        return result

    def __call__(self, *args: str, stdin: Manifest | None = None, check: bool = False) -> Result:
        return self.run(*args, stdin=stdin, check=check)

    def apply(self, manifest: Manifest, *extra: str, check: bool = False) -> Result:
        return self.run("apply", "-f", "-", *extra, stdin=manifest, check=check)

    def create(self, manifest: Manifest, *extra: str, check: bool = False) -> Result:
        return self.run("create", "-f", "-", *extra, stdin=manifest, check=check)

    def get_json(self, *args: str) -> Any:
        """``kubectl get ... -o json``, or None when the object does not exist."""
        result = self.run("get", *args, "-o", "json", "--ignore-not-found")
        if not result.ok:
            raise KubectlError(result)
        return json.loads(result.stdout) if result.stdout.strip() else None
