"""``egressguard diff``: naming the two sides, exit codes, output formats, errors.

BASE and HEAD are folders or git revisions ``REV[:PATH]``. A revision is read with
``git archive`` into a temporary folder: the user's working tree, index and HEAD stay
exactly as they were.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.review.conftest import NOW, Cli
from tests.review.gitrepo import EXAMPLE, GitRules, init_rules_repo

GRANT = "services/shop/checkout/github.com:443.rule"


@pytest.fixture
def widened(repo: GitRules) -> GitRules:
    repo.write(GRANT, "reason: Release notes.\n").commit("widen")
    return repo


# --- naming the sides -------------------------------------------------------------------------


def test_a_revision_and_a_path_inside_it_in_a_monorepo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    repo = init_rules_repo(tmp_path / "platform", prefix="rules")
    repo.write("README.md", "not rules\n")  # beside rules/, outside what is compared
    repo.write(GRANT, "reason: Release notes.\n").commit("widen")
    monkeypatch.chdir(repo.root)
    run = cli("diff", "main~1:rules", "main:rules", "-o", "json", "--now", NOW)
    assert run.code == 0, run.err
    assert [r["principal"] for r in json.loads(run.out)["access"]] == ["shop/checkout"]


def test_a_revision_with_no_path_is_the_repository_root(widened: GitRules, cli: Cli) -> None:
    run = cli("diff", "main~1", "HEAD", "--now", NOW)
    assert run.code == 0, run.err
    assert "### egressguard: `main~1` → `HEAD`" in run.out
    assert "| `shop/checkout` | gains | `github` |" in run.out


def test_two_folders(tmp_path: Path, cli: Cli) -> None:
    base = shutil.copytree(EXAMPLE, tmp_path / "base")
    head = shutil.copytree(EXAMPLE, tmp_path / "head")
    (head / GRANT).write_text("reason: Release notes.\n")
    run = cli("diff", str(base), str(head), "-o", "json", "--now", NOW)
    assert run.code == 0, run.err
    assert json.loads(run.out)["gains"] == ["shop/checkout"]


def test_a_revision_against_the_uncommitted_working_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    repo = init_rules_repo(tmp_path / "platform", prefix="rules")
    repo.write(GRANT, "reason: Release notes.\n")  # not committed
    monkeypatch.chdir(repo.root)
    run = cli("diff", "HEAD:rules", "rules", "-o", "json", "--now", NOW)
    assert run.code == 0, run.err
    assert json.loads(run.out)["gains"] == ["shop/checkout"]


def test_the_working_tree_index_and_head_are_left_alone(repo: GitRules, cli: Cli) -> None:
    repo.write(GRANT, "reason: Release notes.\n").commit("widen")
    repo.edit("destinations/slack.yaml", "hooks.slack.com", "hooks.slack.com, x.slack.com")
    repo.write("services/data/exporter/api.stripe.com:443.rule", "")
    repo.git("add", "services/data/exporter/api.stripe.com:443.rule")
    before = (repo.git("status", "--porcelain"), repo.git("rev-parse", "HEAD"))
    assert cli("diff", "main~1", "main", "--now", NOW).code == 0
    assert (repo.git("status", "--porcelain"), repo.git("rev-parse", "HEAD")) == before
    assert "x.slack.com" in (repo.rules / "destinations/slack.yaml").read_text()


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("no-such-branch", "no such folder, and 'no-such-branch' is not a git revision here"),
        ("main:nowhere", "main has no folder 'nowhere'"),
        ("--output=/tmp/x", "a git revision cannot start with '-'"),
    ],
    ids=["unknown-revision", "unknown-path", "option-like"],
)
def test_a_side_that_names_nothing_exits_2(
    repo: GitRules, cli: Cli, base: str, message: str
) -> None:
    run = cli("diff", "--now", NOW, "--", base, "main")
    assert (run.code, run.out) == (2, "")
    assert message in run.err


def test_a_side_that_does_not_load_exits_2_with_file_and_line(repo: GitRules, cli: Cli) -> None:
    repo.edit("destinations/github.yaml", "  description:", "  colour: blue\n  description:")
    repo.commit("broken")
    run = cli("diff", "main~1", "main", "--now", NOW)
    assert (run.code, run.out) == (2, "")
    assert "HEAD main: the rules do not load" in run.err
    assert "main:destinations/github.yaml:6: error: spec.colour: unknown field" in run.err


def test_errors_name_the_revision_and_path_in_a_monorepo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    repo = init_rules_repo(tmp_path / "platform", prefix="rules")
    repo.write("services/shop/checkout/nowhere.example:443.rule", "").commit("broken")
    monkeypatch.chdir(repo.root)
    run = cli("diff", "main~1:rules", "main:rules", "--now", NOW)
    assert run.code == 2
    assert "main:rules/services/shop/checkout/nowhere.example:443.rule:1: error: " in run.err


# --- exit codes and formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fail_on", "code"),
    [
        ("widen", True, 1),
        ("widen", False, 0),
        ("narrow", True, 0),
        ("none", True, 0),
    ],
)
def test_fail_on_widen_exits_1_only_when_access_widens(
    repo: GitRules, cli: Cli, change: str, fail_on: bool, code: int
) -> None:
    if change == "widen":
        repo.write(GRANT, "reason: Release notes.\n")
    elif change == "narrow":
        repo.remove("services/shop/checkout/api.stripe.com:443.rule")
    repo.commit(change)
    extra = ["--fail-on", "widen"] if fail_on else []
    run = cli("diff", "main~1", "main", "--now", NOW, *extra)
    assert run.code == code, run.err
    assert run.out.startswith("<!-- egressguard-diff -->\n")


def test_an_unchanged_repository_says_so_in_one_line(repo: GitRules, cli: Cli) -> None:
    repo.commit("nothing")
    run = cli("diff", "main~1", "main", "--now", NOW)
    assert run.code == 0
    assert run.out.splitlines()[-1].startswith("**No change** to effective access")


def test_json_has_the_documented_keys(widened: GitRules, cli: Cli) -> None:
    run = cli("diff", "main~1", "main", "-o", "json", "--now", NOW)
    data = json.loads(run.out)
    assert set(data) == {
        "now",
        "widens",
        "gains",
        "loses",
        "risks",
        "access",
        "destinations",
        "gateways",
        "exceptions",
        "grants",
        "config",
    }
    assert data["now"] == "2027-01-10T00:00:00+00:00"
    assert set(data["access"][0]) == {"principal", "change", "destination", "reaches", "why"}


def test_markdown_table_cells_cannot_break_the_table(repo: GitRules, cli: Cli) -> None:
    repo.write(GRANT, 'reason: "a | b\\nc"\n').commit("pipes")
    out = cli("diff", "main~1", "main", "--now", NOW).out
    assert "a \\| b c" in out


def test_now_decides_which_grants_count(repo: GitRules, cli: Cli) -> None:
    repo.write(GRANT, "reason: Until spring.\nexpires: 2027-03-31\n").commit("temporary")

    def gains(now: str) -> list[str]:
        run = cli("diff", "main~1", "main", "-o", "json", "--now", now)
        found: list[str] = json.loads(run.out)["gains"]
        return found

    assert gains("2027-03-31T23:59:59Z") == ["shop/checkout"]
    assert gains("2027-04-01") == []
