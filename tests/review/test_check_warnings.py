"""``egressguard check``: the warnings that look across files, and that warnings never fail CI.

A restricted destination nobody is granted does nothing (or waits for a grant someone
forgot); one granted to very many identities is open access in all but name, where one more
host reaches everybody. Both are worth a comment on the pull request, never a red build.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.loader.repos import HEADER, write_repo
from webhook.cli import check
from webhook.loader import Severity

ANNOTATION = re.compile(r"^::(error|warning) file=[^,]+,line=\d+::.+$")
NOW = datetime(2027, 1, 10, 9, 30, tzinfo=UTC)

SLACK = HEADER + (
    "kind: Destination\n"
    "metadata:\n"
    "  name: slack\n"
    "spec:\n"
    "  hosts: [hooks.slack.com]\n"
    "  ports:\n"
    "    - {number: 443, protocol: HTTPS}\n"
)
PYPI = SLACK.replace("name: slack", "name: pypi").replace(
    "hosts: [hooks.slack.com]", "access: open\n  hosts: [pypi.org]"
)


def run_check(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="egressguard")
    check.add_parser(parser.add_subparsers(dest="command"))
    code = check.run(parser.parse_args(["check", *argv]))
    return code, capsys.readouterr().out


def warnings(path: Path, *, max_grantees: int = 50) -> list[str]:
    problems, result = check.check_repository(
        str(path), now=NOW, expiry_warning_days=30, own_namespace=None, max_grantees=max_grantees
    )
    assert result is not None
    assert all(p.severity is Severity.WARNING for p in problems)
    return [f"{p.path}:{p.line}: {p.message}" for p in problems]


def test_a_restricted_destination_no_grant_names_warns(tmp_path: Path) -> None:
    write_repo(tmp_path, {"destinations/slack.yaml": SLACK})
    (found,) = [w for w in warnings(tmp_path) if "slack" in w]
    assert found.startswith(f"{tmp_path}/destinations/slack.yaml:1: ")
    assert "no grant names it, so no pod may use it" in found


def test_a_destination_whose_grants_all_expired_warns(tmp_path: Path) -> None:
    write_repo(
        tmp_path,
        {
            "destinations/slack.yaml": SLACK,
            "services/shop/notifier/hooks.slack.com:443.rule": "reason: r\nexpires: 2026-01-31\n",
        },
    )
    assert any("every grant for destination 'slack' has expired" in w for w in warnings(tmp_path))


def test_an_open_destination_without_grants_is_in_use(tmp_path: Path) -> None:
    write_repo(tmp_path, {"destinations/pypi.yaml": PYPI})
    assert not [w for w in warnings(tmp_path) if "pypi" in w]


def test_a_destination_granted_to_more_than_n_identities_warns(tmp_path: Path) -> None:
    grants = {f"services/team{n}/app/github.com:443.rule": "reason: r\n" for n in range(3)}
    write_repo(tmp_path, grants)
    assert not [w for w in warnings(tmp_path, max_grantees=4) if "granted to" in w]
    (found,) = [w for w in warnings(tmp_path, max_grantees=3) if "granted to" in w]
    assert "restricted destination 'github' is granted to 4 identities (more than 3)" in found
    assert found.startswith(f"{tmp_path}/destinations/github.yaml:1: ")


def test_max_grantees_is_an_option_and_warnings_keep_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(tmp_path, {"destinations/slack.yaml": SLACK})
    code, out = run_check([str(tmp_path), "--max-grantees", "1"], capsys)
    assert code == 0
    assert "is granted to" not in out
    grants = {f"services/team{n}/app/github.com:443.rule": "reason: r\n" for n in range(2)}
    write_repo(tmp_path, grants)
    code, out = run_check([str(tmp_path), "--max-grantees", "1"], capsys)
    assert code == 0
    assert "is granted to 3 identities (more than 1)" in out
    assert "0 errors" in out.splitlines()[-1]


def test_max_grantees_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        run_check(["rules", "--max-grantees", "zero"], capsys)
    assert raised.value.code == 2


def test_every_warning_is_a_valid_github_annotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(
        tmp_path / "rules",
        {
            "destinations/slack.yaml": SLACK,
            "services/shop/notifier/github.com:443.rule": "expires: 2000-01-01\n",
        },
    )
    code, out = run_check([str(tmp_path / "rules"), "-o", "github"], capsys)
    lines = out.splitlines()
    assert code == 0
    assert len(lines) >= 4  # no reason (x2), wildcard, expired grant, unused destination
    assert all(ANNOTATION.match(line) for line in lines), lines
    assert any(line.startswith("::warning file=") and "no grant names it" in line for line in lines)
    assert any("github.com%3A443.rule,line=1::" in line for line in lines)


def test_errors_and_warnings_together_exit_1_with_both_as_annotations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(tmp_path, {"services/Bad_NS/app/github.com:443.rule": ""})
    code, out = run_check([str(tmp_path), "-o", "github"], capsys)
    lines = out.splitlines()
    assert code == 1
    assert all(ANNOTATION.match(line) for line in lines), lines
    assert any(line.startswith("::error ") and "Bad_NS" in line for line in lines)


def test_now_is_an_option_for_reproducible_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(
        tmp_path, {"services/ci/builder/github.com:443.rule": "reason: r\nexpires: 2027-01-20\n"}
    )
    _, out = run_check([str(tmp_path), "--now", "2027-01-10T12:00:00Z"], capsys)
    assert "this grant expires in 10 days" in out
    _, out = run_check([str(tmp_path), "--now", "2027-01-21"], capsys)
    assert "this grant expired on 2027-01-20" in out
