"""Assertions on what a kubectl user sees."""

from __future__ import annotations

from .kubectl import Kubectl, Result

DENIED = "denied the request"


def denied(result: Result, *fragments: str) -> None:
    """kubectl failed because egressguard refused, and said the given things."""
    assert result.returncode != 0, f"expected a refusal:\n{result}"
    assert DENIED in result.stderr, f"expected an admission refusal:\n{result}"
    for fragment in fragments:
        assert fragment in result.stderr, f"expected {fragment!r} in stderr:\n{result}"


def admitted(result: Result) -> None:
    assert result.returncode == 0, f"expected success:\n{result}"


def warnings(result: Result) -> list[str]:
    """The ``Warning: ...`` lines kubectl printed."""
    return [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]


def absent(kubectl: Kubectl, kind: str, name: str, namespace: str | None = None) -> None:
    args = [kind, name] + (["-n", namespace] if namespace else [])
    assert kubectl.get_json(*args) is None, f"{kind}/{name} should not be stored"


def stored(kubectl: Kubectl, kind: str, name: str, namespace: str | None = None) -> dict:
    args = [kind, name] + (["-n", namespace] if namespace else [])
    obj = kubectl.get_json(*args)
    assert obj is not None, f"{kind}/{name} should be stored"
    return obj


def labels(obj: dict) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("labels") or {})
