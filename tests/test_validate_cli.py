"""`egressguard validate` prints SPEC §5's JSON and agrees with the fixture suites."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.loader.repos import GITHUB, write_repo
from tests.test_cases import ALL_CASES, DEFAULT_NOW, Case
from webhook.cli.main import main

REPO = Path(__file__).parent.parent
JSON_KEYS = {
    "kind",
    "namespace",
    "name",
    "operation",
    "allowed",
    "codes",
    "messages",
    "warnings",
    "patch",
}


def _cli_args(case: Case) -> list[str]:
    args = [
        "validate",
        "--rules",
        str(case.rules),
        "-f",
        str(case.file),
        "-o",
        "json",
        "--now",
        case.now.isoformat(),
        "--user",
        case.user,
    ]
    for group in case.groups:
        args += ["--group", group]
    for namespace, mode in case.namespace_modes.items():
        args += ["--namespace-mode", f"{namespace}={mode}"]
    return args


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_validate_cli_agrees_with_the_case(case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_cli_args(case))
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 1 and set(out[0]) == JSON_KEYS
    assert out[0]["allowed"] is case.expect_allowed
    assert sorted(out[0]["codes"]) == sorted(case.codes)
    assert code == (0 if case.expect_allowed else 1)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The same command in this process (the tests above and below run ``python -m webhook``
    itself): what it prints and the code it exits with."""
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


def test_validate_over_folders_prints_one_element_per_document_and_exits_1_on_refusal() -> None:
    folders = sorted({str(c.file.parent) for c in ALL_CASES if c.user.startswith("developer")})
    args = ["validate", "--rules", "rules", "-o", "json", "--now", DEFAULT_NOW]
    for folder in folders:
        args += ["-f", folder]
    result = _run(*args)
    out = json.loads(result.stdout)
    assert out and all(set(element) == JSON_KEYS for element in out)
    assert any(not element["allowed"] for element in out)
    assert result.returncode == 1, result.stderr


def test_validate_exits_0_when_everything_is_allowed() -> None:
    allowed = [
        c
        for c in ALL_CASES
        if c.expect_allowed
        and not c.namespace_modes
        and c.user.startswith("developer")
        and c.rules == REPO / "rules"
    ]
    assert allowed
    args = ["validate", "--rules", "rules", "-o", "text", "--now", DEFAULT_NOW]
    for case in allowed[:20]:
        args += ["-f", str(case.file)]
    result = _run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ALLOWED")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["validate", "--rules", "rules"], "-f"),
        (["validate", "--rules", "rules", "-f", "nonexistent.yaml"], "nonexistent.yaml"),
        (
            ["validate", "--rules", "rules", "-f", "rules", "--namespace-mode", "shop"],
            "NAMESPACE=MODE",
        ),
    ],
    ids=["no-files", "missing-file", "bad-mode-option"],
)
def test_validate_usage_errors_exit_2(args: list[str], needle: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    result = _main(capsys, *args)
    assert result.returncode == 2
    assert needle in result.stderr


BROKEN_REPOS = {
    "yaml-error": (
        {"destinations/github.yaml": GITHUB.replace("ports:\n", "ports: [\n")},
        "destinations/github.yaml:",
    ),
    "unknown-field": (
        {"destinations/github.yaml": GITHUB.replace("  hosts:", "  hostz: []\n  hosts:")},
        "destinations/github.yaml:6:",
    ),
    "host-not-covered": (
        {"services/shop/checkout/api.stripe.com:443.rule": ""},
        "services/shop/checkout/api.stripe.com:443.rule:1:",
    ),
    "host-in-two-destinations": (
        {"destinations/gh.yaml": GITHUB.replace("name: github", "name: gh")},
        "destinations/gh.yaml:",
    ),
}


@pytest.mark.parametrize(("files", "where"), BROKEN_REPOS.values(), ids=BROKEN_REPOS.keys())
def test_a_broken_rules_repo_makes_validate_exit_2_and_check_exit_1_naming_file_and_line(
    files: dict[str, str], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rules = write_repo(tmp_path / "rules", files)
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\n"
                   "spec: {containers: [{name: app, image: app:1}]}\n")
    validate = _main(capsys, "validate", "--rules", str(rules), "-f", str(pod))
    check = _main(capsys, "check", str(rules))
    assert validate.returncode == 2, validate.stdout + validate.stderr
    assert check.returncode == 1, check.stdout + check.stderr
    assert where in validate.stderr, validate.stderr
    assert where in check.stdout + check.stderr
