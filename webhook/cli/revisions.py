"""Rules repositories named on the command line: a folder, or a git revision ``REV[:PATH]``.

``diff`` compares a pull request's base with its head, which in CI are revisions of one
clone. A revision is read with ``git archive`` into a temporary folder and loaded from
there, so the user's working tree and index are never touched (no checkout, no stash),
and file names in messages read as git names them: ``origin/main:rules/config.yaml:4``.
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from webhook.loader import LoadResult, Problem, RulesError, load_repository
from webhook.loader.repository import display_root
from webhook.model.rules import Policy, Source

GIT_TIMEOUT_SECONDS = 60


class RevisionError(ValueError):
    """Neither a folder nor a git revision holding a folder: a usage error."""


@dataclass(frozen=True, slots=True)
class RulesFolder:
    """Where a rules repository's files are, and how messages should name them."""

    folder: str
    label: str

    def relabel(self, path: str) -> str:
        """``/tmp/x/destinations/a.yaml`` -> ``main:destinations/a.yaml``."""
        shown = display_root(self.folder)
        if shown == self.label:
            return path
        if path == shown:
            return self.label
        if path.startswith(shown + "/"):
            rest = path[len(shown) + 1 :]
            return f"{self.label}{rest}" if self.label.endswith(":") else f"{self.label}/{rest}"
        return path


def _git(args: list[str], *, cwd: str | None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RevisionError(f"cannot run git: {error}") from None


def _tree(spec: str, *, cwd: str | None) -> tuple[str, str]:
    """The tree object ``spec`` names, and its label; raises :class:`RevisionError`."""
    if spec.startswith("-"):
        raise RevisionError(f"{spec}: not a folder, and a git revision cannot start with '-'")
    revision, _, path = spec.partition(":")
    found = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=cwd)
    if found.returncode != 0 or not revision:
        raise RevisionError(
            f"{spec}: no such folder, and {revision or spec!r} is not a git revision here"
        )
    commit = found.stdout.decode().strip()
    path = path.strip("/")
    tree = f"{commit}:{path}" if path else commit
    kind = _git(["cat-file", "-t", tree], cwd=cwd)
    if path and kind.stdout.decode().strip() != "tree":
        raise RevisionError(f"{spec}: {revision} has no folder {path!r}")
    return tree, (f"{revision}:{path}" if path else f"{revision}:")


@contextmanager
def rules_folder(spec: str, *, cwd: str | None = None) -> Iterator[RulesFolder]:
    """The folder ``spec`` names, or a temporary copy of the revision it names.

    A folder wins over a revision of the same name, as it does for ``git diff``'s paths.
    """
    if os.path.isdir(os.path.join(cwd or ".", spec)):
        yield RulesFolder(os.path.join(cwd, spec) if cwd else spec, display_root(spec))
        return
    tree, label = _tree(spec, cwd=cwd)
    archive = _git(["archive", "--format=tar", tree], cwd=cwd)
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace").strip()
        raise RevisionError(f"{spec}: git archive failed: {message}")
    with tempfile.TemporaryDirectory(prefix="egressguard-rules-") as folder:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(folder, filter="data")
        except tarfile.TarError as error:  # e.g. a link pointing out of the repository
            raise RevisionError(f"{spec}: cannot unpack the revision: {error}") from None
        yield RulesFolder(folder, label)


def _relabeled(policy: Policy, where: RulesFolder) -> Policy:
    def moved(source: Source) -> Source:
        return Source(where.relabel(source.path), source.line)

    # Every grant of a load shares its root: relabel it once.
    root = ""
    if policy.grants:
        first = policy.grants[0]
        root = where.relabel(first.source.path).removesuffix(first.rel)

    return Policy.build(
        config=dataclasses.replace(policy.config, source=moved(policy.config.source)),
        destinations=tuple(
            dataclasses.replace(d, source=moved(d.source)) for d in policy.destinations.values()
        ),
        grants=tuple(dataclasses.replace(g, root=root) for g in policy.grants),
        exceptions=tuple(dataclasses.replace(e, source=moved(e.source)) for e in policy.exceptions),
        revision=policy.revision,
    )


def load_rules(spec: str, *, own_namespace: str | None, cwd: str | None = None) -> LoadResult:
    """Loads the rules ``spec`` names, every file named as the user would name it.

    Raises :class:`RevisionError` for a spec that names nothing, :class:`RulesError` for
    rules that do not load (their problems relabeled too).
    """
    with rules_folder(spec, cwd=cwd) as where:
        try:
            result = load_repository(where.folder, own_namespace=own_namespace)
        except RulesError as error:
            raise RulesError(
                dataclasses.replace(p, path=where.relabel(p.path)) for p in error.problems
            ) from None

        def relabel(problems: tuple[Problem, ...]) -> tuple[Problem, ...]:
            return tuple(dataclasses.replace(p, path=where.relabel(p.path)) for p in problems)

        return LoadResult(
            _relabeled(result.policy, where), relabel(result.warnings), relabel(result.notes)
        )


def load_policy_or_report(spec: str, *, command: str) -> Policy | None:
    """``--rules`` for the commands that judge with one Policy: a folder or a revision.

    On failure it prints why to stderr, every problem with file and line, and returns
    ``None``: the command exits 2. The webhook's own namespace, exempt by default, comes
    from ``EGRESSGUARD_NAMESPACE`` as in the cluster.
    """
    try:
        own_namespace = os.environ.get("EGRESSGUARD_NAMESPACE") or None
        return load_rules(spec, own_namespace=own_namespace).policy
    except RevisionError as error:
        print(f"egressguard {command}: the rules do not load: {error}", file=sys.stderr)
    except RulesError as error:
        print(f"egressguard {command}: the rules in {spec} do not load:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
    except OSError as error:
        print(f"egressguard {command}: cannot read rules {spec}: {error}", file=sys.stderr)
    return None
