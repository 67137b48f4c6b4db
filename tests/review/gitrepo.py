"""Rules repositories under git, built inside a test: the example rules, then one change.

Each diff test commits the example ``rules/`` as the base, makes the one change it is
about, commits it, and compares the two revisions as CI would (``egressguard diff main~1
main``). Commits pass the identity with ``-c``, so no git configuration is needed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

EXAMPLE = Path(__file__).parent.parent.parent / "rules"
GIT = (
    "git",
    "-c",
    "user.name=egressguard tests",
    "-c",
    "user.email=tests@egressguard.invalid",
    "-c",
    "commit.gpgsign=false",
)


@dataclass(frozen=True)
class GitRules:
    """A git work tree at ``root`` whose rules live in ``root / prefix``."""

    root: Path
    prefix: str = ""

    @property
    def rules(self) -> Path:
        return self.root / self.prefix if self.prefix else self.root

    def git(self, *args: str) -> str:
        done = subprocess.run(
            [*GIT, *args], cwd=self.root, capture_output=True, text=True, check=True, timeout=60
        )
        return done.stdout

    def write(self, rel: str, text: str) -> GitRules:
        path = self.rules / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return self

    def edit(self, rel: str, old: str, new: str) -> GitRules:
        path = self.rules / rel
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} is not in {rel} exactly once"
        path.write_text(text.replace(old, new))
        return self

    def remove(self, rel: str) -> GitRules:
        (self.rules / rel).unlink()
        return self

    def commit(self, message: str) -> str:
        self.git("add", "--all", ".")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


def init_rules_repo(root: Path, *, prefix: str = "") -> GitRules:
    """A fresh repository on branch ``main`` with the example rules committed."""
    root.mkdir(parents=True, exist_ok=True)
    repo = GitRules(root, prefix)
    shutil.copytree(EXAMPLE, repo.rules, dirs_exist_ok=True)
    repo.git("init", "--quiet", "--initial-branch=main")
    repo.commit("the example rules")
    return repo
