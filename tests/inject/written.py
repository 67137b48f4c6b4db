"""What Istio's injector writes on its own containers, read from the corpus.

``python -m tests.inject.written`` prints, per mesh container, the flags and environment
variables every output of the corpus carries; README.md records that list and
test_written.py keeps the two equal, so a new Istio pin that writes something new fails
with the difference named, instead of passing unnoticed or refusing real pods.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.inject.corpus import (
    INFRASTRUCTURE,
    OPENSHIFT_FIXTURES,
    OPENSHIFT_WEBHOOK,
    WAYPOINTS,
    fixture_files,
    infrastructure,
    injected,
)
from tests.inject.profiles import PROFILES

MESH_CONTAINERS = ("istio-init", "istio-validation", "istio-proxy")


def flags(args: list[str]) -> set[str]:
    """Flag names of an argument list (``-x v``, ``--name=v`` alike) and its subcommands
    (the leading words: ``istio-iptables``, ``proxy sidecar``)."""
    names: set[str] = set()
    leading = True
    for arg in args:
        if arg.startswith("-"):
            leading = False
            names.add(arg.split("=", 1)[0])
        elif leading:
            names.add(arg)
    return names


def pods() -> list[dict[str, Any]]:
    found = [injected(p.name, f.stem).pod() for p in PROFILES for f in fixture_files()]
    found += [injected(OPENSHIFT_WEBHOOK, f).pod() for f in OPENSHIFT_FIXTURES]
    found += [infrastructure(name).pod() for name in (*INFRASTRUCTURE, *WAYPOINTS)]
    return found


def written() -> dict[str, dict[str, set[str]]]:
    """container name → {"flags": ..., "env": ...} over the whole corpus."""
    table: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"flags": set(), "env": set()})
    for pod in pods():
        spec = pod["spec"]
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            name = container.get("name")
            if name not in MESH_CONTAINERS:
                continue
            table[name]["flags"] |= flags(container.get("args") or [])
            table[name]["env"] |= {env["name"] for env in container.get("env") or []}
    return dict(table)


def markdown() -> str:
    rows = ["| container | flags and subcommands | environment |", "|---|---|---|"]
    for name, found in sorted(written().items()):
        rows.append(f"| {name} | {' '.join(f'`{f}`' for f in sorted(found['flags']))} | "
                    f"{' '.join(f'`{e}`' for e in sorted(found['env']))} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown())
