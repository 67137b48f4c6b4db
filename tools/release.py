"""The release's version and image in one place, written everywhere they are needed.

pyproject.toml holds the version (``[project] version``) and the image repository
(``[tool.egressguard.release] image``). Everything else that names them is derived:

    python -m tools.release stamp [VERSION]   # set the version (optional) and write it out
    python -m tools.release check             # exit 1, naming each file that disagrees

(``make version VERSION=x.y.z`` runs ``stamp``; a test runs ``check``.)
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
VERSION = re.compile(r"^\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?$")


@dataclass(frozen=True)
class Release:
    version: str
    image: str


def current() -> Release:
    data = tomllib.loads(PYPROJECT.read_text())
    return Release(data["project"]["version"], data["tool"]["egressguard"]["release"]["image"])


@dataclass(frozen=True)
class Spot:
    """One line in one file that carries the version or the image."""

    path: str
    pattern: str  # a regex whose group 1 is the value
    value: Callable[[Release], str]

    def read(self) -> str | None:
        found = re.search(self.pattern, (REPO / self.path).read_text(), re.MULTILINE)
        return found.group(1) if found else None

    def write(self, release: Release) -> None:
        file = REPO / self.path
        text = file.read_text()
        found = re.search(self.pattern, text, re.MULTILINE)
        if found is None:
            raise SystemExit(f"{self.path}: no line matches {self.pattern!r}")
        start, end = found.span(1)
        file.write_text(text[:start] + self.value(release) + text[end:])


def _version(release: Release) -> str:
    return release.version


def _image(release: Release) -> str:
    return release.image


SPOTS = (
    Spot("deploy/helm/egressguard/Chart.yaml", r"^version: (\S+)", _version),
    Spot("deploy/helm/egressguard/Chart.yaml", r'^appVersion: "([^"]+)"', _version),
    Spot("deploy/helm/egressguard/values.yaml", r"^  repository: (\S+)", _image),
    Spot("deploy/base/kustomization.yaml", r"^    newName: (\S+)", _image),
    Spot("deploy/base/kustomization.yaml", r"^    newTag: (\S+)", _version),
    Spot("deploy/webhooks/kustomization.yaml", r"^    newName: (\S+)", _image),
    Spot("deploy/webhooks/kustomization.yaml", r"^    newTag: (\S+)", _version),
    Spot("Dockerfile", r"^ARG VERSION=(\S+)", _version),
    Spot("deploy/ci/egressguard.yml", r'^  EGRESSGUARD: "egressguard==([^"]+)"', _version),
)


def disagreements(release: Release | None = None) -> list[str]:
    release = release or current()
    problems = []
    for spot in SPOTS:
        found, wanted = spot.read(), spot.value(release)
        if found != wanted:
            problems.append(f"{spot.path}: has {found!r} where pyproject.toml says {wanted!r}")
    return problems


def stamp(version: str | None = None) -> Release:
    if version is not None:
        if not VERSION.match(version):
            raise SystemExit(f"{version!r} is not a version like 1.2.3 or 1.2.3rc1")
        text = PYPROJECT.read_text()
        PYPROJECT.write_text(re.sub(r'(?m)^version = "[^"]+"', f'version = "{version}"',
                                    text, count=1))
    release = current()
    for spot in SPOTS:
        spot.write(release)
    return release


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"] and len(argv) == 1:
        problems = disagreements()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `make version` to write pyproject.toml's release everywhere",
                  file=sys.stderr)
        return 1 if problems else 0
    if argv[:1] == ["stamp"] and len(argv) <= 2:
        release = stamp(argv[1] if len(argv) == 2 else None)
        print(f"egressguard {release.version}, image {release.image}:{release.version}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
