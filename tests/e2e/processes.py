"""Child processes of the test control plane: started with a log file, stopped with a
bounded terminate-then-kill, and never left behind when the parent dies."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def local_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for everything that talks to the local cluster: no HTTP proxy,
    so the API server reaches the webhook on 127.0.0.1 directly."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.pop("KUBECONFIG", None)
    if extra:
        env.update(extra)
    return env


def _die_with_parent() -> None:
    # If pytest (or the demo) is killed outright, the kernel stops its children too.
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass


class Process:
    """One long-running child (etcd, kube-apiserver, the webhook...) logging to a file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        stdout_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        # When set, stdout (e.g. an audit log) is kept apart from the log on stderr.
        self.stdout_path = stdout_path
        self.env = dict(env) if env is not None else local_env()
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as files:
            log = files.enter_context(self.log_path.open("ab"))
            out = files.enter_context(self.stdout_path.open("ab")) if self.stdout_path else log
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log,
                env=self.env,
                cwd=self.cwd,
                preexec_fn=_die_with_parent,
            )

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL and wait again (bounded)."""
        popen, self._popen = self._popen, None
        if popen is None:
            return
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def ensure_alive(self) -> None:
        if self._popen is not None and self._popen.poll() is not None:
            code = self._popen.returncode
            raise RuntimeError(
                f"{self.name} exited with code {code}; last log lines ({self.log_path}):\n"
                + self.log_tail()
            )


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    processes: Sequence[Process] = (),
) -> None:
    """Poll ``condition`` until it holds; fail early if a watched process died."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in processes:
            proc.ensure_alive()
        try:
            if condition():
                return
        except Exception:  # a probe failing just means "not yet"
            pass
        if time.monotonic() > deadline:
            hints = "".join(f"\n--- {p.name} ({p.log_path}):\n{p.log_tail()}" for p in processes)
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{hints}")
        time.sleep(interval)
