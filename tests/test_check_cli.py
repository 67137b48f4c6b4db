"""``egressguard check``: exit codes, the three output formats, and the dated warnings."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.loader.repos import EXCEPTION, write_repo
from webhook.cli import check
from webhook.loader import Severity

EXAMPLE = Path(__file__).parent.parent / "rules"
ANNOTATION = re.compile(r"^::(error|warning) file=[^,]+,line=\d+::.+$")
BROKEN = {
    "exceptions/legacy-vpn.yaml": EXCEPTION + "  color: blue\n",
    "services/ci/builder/*.github.com:443.rule": "",
}


def run_check(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="egressguard")
    check.add_parser(parser.add_subparsers(dest="command"))
    code = check.run(parser.parse_args(["check", *argv]))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_example_rules_pass_with_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_check([str(EXAMPLE)], capsys)
    assert code == 0
    assert "0 errors" in out.splitlines()[-1]
    assert "7 destinations, 8 grants, 1 exception" in out.splitlines()[-1]


def test_dir_defaults_to_rules(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_repo(in_tmp / "rules")
    code, out, _ = run_check([], capsys)
    assert code == 0
    assert out.splitlines()[-1].startswith("rules: 0 errors")


def test_errors_exit_1_with_path_line_error_message(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(in_tmp / "rules", BROKEN)
    code, out, _ = run_check(["rules"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(
        "rules/exceptions/legacy-vpn.yaml:11: error: spec.color: unknown field"
    )
    assert lines[1].startswith("rules/services/ci/builder/*.github.com:443.rule:1: error: ")
    assert lines[-1].startswith("rules: 2 errors")
    assert "do not load" in lines[-1]


def test_github_format_prints_one_workflow_annotation_per_problem(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(
        in_tmp / "rules",
        {**BROKEN, "services/ci/builder/github.com:22.rule": "reason: a #comment\n"},
    )
    code, out, _ = run_check(["rules", "-o", "github"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3
    assert all(ANNOTATION.match(line) for line in lines), lines
    assert lines[0].startswith("::error file=rules/exceptions/legacy-vpn.yaml,line=11::")
    # ':' and ',' in a file name are escaped, as GitHub's toolkit does for properties.
    assert "::warning file=rules/services/ci/builder/github.com%3A22.rule,line=1::" in out


def test_json_format_prints_a_list_of_problems(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_repo(in_tmp / "rules", BROKEN)
    code, out, _ = run_check(["rules", "-o", "json"], capsys)
    assert code == 1
    rows = json.loads(out)
    assert [set(row) for row in rows] == [{"path", "line", "severity", "message"}] * 2
    assert rows[0]["path"] == "rules/exceptions/legacy-vpn.yaml"
    assert rows[0]["line"] == 11
    assert rows[0]["severity"] == "error"


def test_json_format_of_a_clean_repository_lists_its_warnings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_check([str(EXAMPLE), "-o", "json"], capsys)
    assert code == 0
    assert all(row["severity"] == "warning" for row in json.loads(out))


def test_a_missing_directory_is_a_usage_error(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_check(["nowhere"], capsys)
    assert (code, out) == (2, "")
    assert "nowhere: no such directory" in err


# --- warnings ---------------------------------------------------------------------------------


def _grant(expires: date | None, reason: str = "CI clones repositories.") -> str:
    return f"reason: {reason}\n" + (f"expires: {expires}\n" if expires else "")


def _warnings(path: str, *, days: int = 30) -> list[str]:
    problems, _ = check.check_repository(
        path, now=NOW, expiry_warning_days=days, own_namespace=None
    )
    assert not [p for p in problems if p.severity is Severity.ERROR]
    return [f"{p.path}:{p.line}: {p.message}" for p in problems]


NOW = datetime(2027, 1, 10, 9, 30, tzinfo=UTC)
GRANT = "services/ci/builder/github.com:443.rule"


@pytest.mark.parametrize(
    ("expires", "days", "fragment"),
    [
        (date(2027, 1, 20), 30, "this grant expires in 10 days (expires: 2027-01-20"),
        (date(2027, 1, 10), 30, "this grant expires today"),
        (date(2027, 1, 11), 30, "this grant expires tomorrow"),
        (date(2027, 1, 9), 30, "this grant expired on 2027-01-09, so it does nothing now"),
        (date(2027, 1, 20), 5, None),
        (date(2027, 6, 1), 30, None),
        (None, 30, None),
    ],
    ids=[
        "in-ten-days",
        "today",
        "tomorrow",
        "expired",
        "outside-a-short-window",
        "far-away",
        "never",
    ],
)
def test_grants_expiring_within_the_window_warn(
    in_tmp: Path, expires: date | None, days: int, fragment: str | None
) -> None:
    write_repo(in_tmp / "rules", {GRANT: _grant(expires)})
    about_grant = [w for w in _warnings("rules", days=days) if GRANT in w]
    if fragment is None:
        assert about_grant == []
    else:
        (warning,) = about_grant
        assert warning.startswith(f"rules/{GRANT}:1: ")
        assert fragment in warning


def test_expiring_exceptions_warn(in_tmp: Path) -> None:
    write_repo(in_tmp / "rules")  # the base exception expires 2027-03-31
    warnings = _warnings("rules", days=90)
    assert any(
        "rules/exceptions/legacy-vpn.yaml:1: this exception expires in 80 days" in w
        for w in warnings
    )


def test_grants_without_a_reason_and_wildcard_destinations_warn(in_tmp: Path) -> None:
    write_repo(in_tmp / "rules")
    warnings = _warnings("rules")
    assert any(
        w.startswith("rules/services/data/exporter/bigquery.googleapis.com:443.rule:1: ")
        and "gives no reason" in w
        for w in warnings
    )
    assert any(
        w.startswith("rules/destinations/googleapis.yaml:6: spec.hosts[0]: '*.googleapis.com'")
        and "wildcard" in w
        for w in warnings
    )


def test_the_expiry_window_is_an_option(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    soon = datetime.now(UTC).date() + timedelta(days=10)
    write_repo(in_tmp / "rules", {GRANT: _grant(soon)})
    _, default_out, _ = run_check(["rules"], capsys)
    _, short_out, _ = run_check(["rules", "--expiry-warning-days", "5"], capsys)
    assert "expires in 10 days" in default_out
    assert "expires in" not in short_out


def test_a_negative_expiry_window_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        run_check(["rules", "--expiry-warning-days", "-1"], capsys)
    assert raised.value.code == 2
