"""The versions of the rules format, and what to change when one is deprecated.

The policy (README, "Versions and compatibility"): a new apiVersion of the rules format
(``egressguard.io/v1alpha1`` -> ``v1beta1`` -> ``v1``) is read beside the one it replaces
for at least two minor releases. Meanwhile the older one still loads, and ``egressguard
check`` warns on every file that uses it, naming the replacement and exactly what to
change, so a rules repository can move over in one reviewed pull request before the
release that stops reading it.

``DEPRECATED`` lists the versions still read but on their way out; it is empty while
``egressguard.io/v1alpha1`` is the only version.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from webhook.loader.problems import Problem, Severity
from webhook.model.rules import API_VERSION

CURRENT = API_VERSION


@dataclass(frozen=True, slots=True)
class Deprecation:
    replacement: str  # the apiVersion to write instead
    last_release: str  # the last egressguard release that reads the old one
    change: str  # what else changes in the file, for a person ("nothing else changes")


DEPRECATED: Mapping[str, Deprecation] = MappingProxyType({})
# The rules files that carry an apiVersion (grant files carry none).
_VERSIONED = ("config.yaml", "destinations", "exceptions")
_API_VERSION_LINE = re.compile(r"""^apiVersion:\s*["']?([^"'\s#]+)""")


def _versioned_files(root: Path) -> Iterator[Path]:
    for entry in _VERSIONED:
        target = root / entry
        if target.is_file():
            yield target
        elif target.is_dir():
            yield from sorted(p for p in target.iterdir() if p.suffix in (".yaml", ".yml"))


def deprecation_warnings(
    root: str | os.PathLike[str],
    *,
    show: Callable[[str], str],
    deprecated: Mapping[str, Deprecation] | None = None,
) -> list[Problem]:
    """A warning for each file whose ``apiVersion`` is deprecated, naming what to change.
    ``show`` turns a path relative to ``root`` into the path to print."""
    table = DEPRECATED if deprecated is None else deprecated
    if not table:
        return []
    base = Path(root)
    found = []
    for path in _versioned_files(base):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue  # the loader reports unreadable files
        for number, line in enumerate(lines, start=1):
            match = _API_VERSION_LINE.match(line)
            if match and match.group(1) in table:
                old, new = match.group(1), table[match.group(1)]
                found.append(Problem(
                    show(path.relative_to(base).as_posix()), number,
                    f"apiVersion {old} is deprecated and read for the last time by "
                    f"egressguard {new.last_release}: write 'apiVersion: {new.replacement}'; "
                    f"{new.change}",
                    Severity.WARNING,
                ))
    return found
