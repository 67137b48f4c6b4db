"""deploy/ci/: the example workflow's commands work as written, and CODEOWNERS fits the layout.

The workflow's ``run:`` scripts are executed with bash in a clone laid out as GitHub's
checkout leaves it (``origin/main`` fetched, HEAD the pull request), with the variables
GitHub sets, so a typo in an option or a path fails here rather than in a user's CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.review.gitrepo import EXAMPLE, GIT, GitRules, init_rules_repo
from webhook.loader import load_repository
from webhook.model.rules import Access

CI = Path(__file__).parent.parent.parent / "deploy" / "ci"
ANNOTATION = re.compile(r"^::(error|warning) file=[^,]+,line=\d+::.+$")


def steps() -> dict[str, dict[str, Any]]:
    workflow = yaml.safe_load((CI / "egressguard.yml").read_text())
    (job,) = workflow["jobs"].values()
    return {step["name"]: step for step in job["steps"] if "name" in step}


@pytest.fixture
def pull_request(tmp_path: Path) -> GitRules:
    """A clone with origin/main and a pull request commit on top, as actions/checkout makes."""
    init_rules_repo(tmp_path / "origin")
    subprocess.run(
        [*GIT, "clone", "--quiet", str(tmp_path / "origin"), str(tmp_path / "work")],
        check=True,
        timeout=60,
    )
    return GitRules(tmp_path / "work")


def run_step(name: str, repo: GitRules, tmp_path: Path) -> tuple[int, str, dict[str, str]]:
    step = steps()[name]
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.touch()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(tmp_path),
        **{k: v.replace("${{ github.base_ref }}", "main") for k, v in step.get("env", {}).items()},
    }
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=repo.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return done.returncode, done.stdout, outputs


def test_the_check_step_prints_annotations(pull_request: GitRules, tmp_path: Path) -> None:
    pull_request.write("services/shop/checkout/github.com:443.rule", "").commit("no reason")
    code, out, _ = run_step("Check the rules", pull_request, tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines and all(ANNOTATION.match(line) for line in lines), lines
    assert any("services/shop/checkout/github.com%3A443.rule" in line for line in lines)


def test_the_diff_step_writes_the_comment_and_reports_widening(
    pull_request: GitRules, tmp_path: Path
) -> None:
    pull_request.write("services/shop/checkout/github.com:443.rule", "reason: r\n").commit("pr")
    code, _, outputs = run_step("Who gains or loses egress", pull_request, tmp_path)
    assert (code, outputs) == (0, {"code": "1"})
    comment = (tmp_path / "egressguard-diff.md").read_text()
    assert comment.startswith("<!-- egressguard-diff -->\n### egressguard: `origin/main` → `HEAD`")
    assert "| `shop/checkout` | gains | `github` |" in comment
    assert (tmp_path / "summary").read_text() == comment


def test_the_diff_step_fails_when_the_rules_do_not_load(
    pull_request: GitRules, tmp_path: Path
) -> None:
    pull_request.write("services/shop/checkout/nowhere.example:443.rule", "").commit("broken")
    code, _, outputs = run_step("Who gains or loses egress", pull_request, tmp_path)
    assert (code, outputs) == (1, {"code": "2"})


def test_the_comment_and_the_approval_gate_use_the_diff(pull_request: GitRules) -> None:
    found = steps()
    comment = found["Post the diff on the pull request"]["with"]["path"]
    assert comment == "${{ runner.temp }}/egressguard-diff.md"
    gate = found["Widening needs the security team's label"]
    assert "steps.diff.outputs.code == '1'" in gate["if"]


def codeowners_pattern(pattern: str) -> re.Pattern[str]:
    """A CODEOWNERS path pattern (gitignore rules: ``*`` within a folder, ``**/`` any
    folders, a leading ``/`` anchors at the root, a trailing ``/`` a whole folder)."""
    anchored = pattern.startswith("/")
    body = pattern.strip("/")
    regex = ""
    for part in re.split(r"(\*\*/|\*)", body):
        regex += {"**/": "(?:.*/)?", "*": "[^/]*"}.get(part, re.escape(part))
    if pattern.endswith("/"):
        regex += "/.*"
    return re.compile(("" if anchored else "(?:.*/)?") + regex + "$")


def owners_of(path: str) -> list[str]:
    """The owners GitHub asks for ``path``: those of the last matching line."""
    found: list[str] = []
    for line in (CI / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *owners = line.split()
            if codeowners_pattern(pattern).match(path):
                found = owners
    return found


def test_grants_to_restricted_destinations_need_security_and_no_other_grants_do() -> None:
    policy = load_repository(EXAMPLE).policy
    grants = [p.relative_to(EXAMPLE).as_posix() for p in (EXAMPLE / "services").rglob("*.rule")]
    assert grants
    for destination in policy.destinations.values():
        for host in destination.hosts:
            # A grant to this host, for a team's service account.
            path = f"services/shop/checkout/{host.replace('*', 'any')}:443.rule"
            owners = owners_of(path)
            if destination.access is Access.OPEN:
                assert owners == ["@your-org/shop"], (path, owners)
            else:
                assert owners == ["@your-org/security"], (path, owners)
    for grant in grants:  # every grant in the example is to a restricted destination
        assert owners_of(grant) == ["@your-org/security"], grant
    assert owners_of("services/shop/README.md") == ["@your-org/shop"]


def test_codeowners_names_the_rules_layout() -> None:
    owners = [
        line.split()
        for line in (CI / "CODEOWNERS").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    patterns = {pattern: rest for pattern, *rest in owners}
    security = "@your-org/security"
    for path in ("/config.yaml", "/destinations/", "/exceptions/", "/.github/", "*"):
        assert patterns[path] == [security], path
    teams = {p for p in patterns if p.startswith("/services/") and "**" not in p}
    assert teams == {f"/services/{ns.name}/" for ns in (EXAMPLE / "services").iterdir()}
    assert all(patterns[p] != [security] for p in teams)
