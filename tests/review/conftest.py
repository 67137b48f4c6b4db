"""Fixtures for the review commands: a git rules repository, and the CLI run in it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.review.gitrepo import GitRules, init_rules_repo
from webhook.cli.main import main

# The day the example rules are judged at: shop/notifier's grant expired 2026-01-31.
NOW = "2027-01-10"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


Cli = Callable[..., Run]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRules:
    """The example rules committed at the root of a git repository, which is the cwd."""
    repo = init_rules_repo(tmp_path / "rules-repo")
    monkeypatch.chdir(repo.root)
    return repo


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Runs ``egressguard ARGS...`` in-process and captures what it prints."""

    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
