"""The command line as a whole: one spelling for output formats and one for output
folders, help with examples and no internal markup, values checked while parsing with
clear errors, shell completion, --version."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import webhook
from webhook.cli.main import SUBCOMMANDS, main

EXAMPLE = Path(__file__).resolve().parent.parent / "rules"
# Formats each command offers through -o/--output.
OUTPUTS = {"check": {"text", "github", "json"}, "validate": {"text", "json"},
           "diff": {"markdown", "json"}, "explain": {"text", "json"},
           "audit": {"table", "json", "reports"}, "learn": {"markdown", "json"}}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as done:  # argparse: --help, --version, usage errors
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def help_text(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0
    return out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_shows_examples_and_no_internal_markup(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_text(command, capsys)
    examples = text.split("\nexamples:\n", 1)
    assert len(examples) == 2, "no examples"
    assert all(line.strip().startswith(("egressguard ", "eval ", "kubectl "))
               for line in examples[1].splitlines() if line.strip())
    for internal in ("``", ":func:", "§", "SPEC", "RELIABILITY", "webhook.engine"):
        assert internal not in text, internal
    assert not re.search(r"\b(issue|section) ?#?\d|#\d", text, re.IGNORECASE)


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "examples:" in out
    for command in SUBCOMMANDS:
        assert re.search(rf"^\s+{command}\b", out, re.MULTILINE), command


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_formats_are_chosen_with_dash_o_and_folders_with_out(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_text(command, capsys)
    assert "--format" not in text
    if command in OUTPUTS:
        assert "-o FORMAT, --output FORMAT" in text
        for name in OUTPUTS[command]:
            assert name in text
    else:
        assert "-o FORMAT" not in text
    if command in ("render", "certs", "learn"):
        assert "--out DIR" in text


def test_the_former_format_option_still_works_and_says_what_replaces_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["check", str(EXAMPLE), "--format", "json", "--now",
                          "2026-12-01T00:00:00Z"], capsys)
    assert code == 0 and out.lstrip().startswith("[")
    assert "--format is now -o/--output" in err


def test_render_explains_that_its_folder_is_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["render", "--rules", str(EXAMPLE), "--mode", "istio-sidecar",
                        "-o", "out/"], capsys)
    assert code == 2
    assert "render writes its files into a folder with --out out/" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "--port", "0"], "'0' is not a port: give a number 1-65535"),
    (["serve", "--port", "https"], "'https' is not a port"),
    (["serve", "--metrics-port", "70000"], "'70000' is not a port"),
    (["serve", "--read-timeout", "-1"], "'-1' is not a number of seconds"),
    (["serve", "--read-timeout", "0"], "give more than 0 seconds"),
    (["serve", "--max-body-bytes", "lots"], "'lots' is not a whole number of 1 or more"),
    (["serve", "--rules", "no/such/rules"], "no/such/rules: expected a folder, but it is missing"),
    (["serve", "--rules", str(EXAMPLE / "config.yaml")], "expected a folder, but it is a file"),
    (["serve", "--cert", "no-such.crt", "--key", "no-such.key"],
     "no-such.crt: expected a file, but it is missing"),
    (["serve", "--kubeconfig", str(EXAMPLE)], "expected a file, but it is a folder"),
    (["validate", "--rules", str(EXAMPLE), "-f", "no/such.yaml"],
     "no/such.yaml: no such file or folder"),
    (["certs", "--service", "s", "--namespace", "n", "--days", "0"],
     "'0' is not a whole number of 1 or more"),
    (["check", "-o", "yaml"], "invalid choice: 'yaml'"),
    (["learn", "--rules", "no/such/rules", "--audit-log", "a.log", "--out", "o"],
     "no/such/rules: expected a folder, but it is missing"),
    (["learn", "--rules", str(EXAMPLE), "--out", "o"], "the following arguments are required: "
     "--audit-log"),
])
def test_wrong_values_are_refused_naming_what_was_expected(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert (code, out.strip()) == (0, f"egressguard {webhook.__version__}")


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_completion_scripts_name_every_command(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["completion", shell], capsys)
    assert code == 0
    for command in SUBCOMMANDS:
        assert command in out


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_formats_and_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, script, _ = run(["completion", "bash"], capsys)
    (tmp_path / "egressguard.bash").write_text(script)

    def completions(*words: str) -> set[str]:
        line = " ".join(words)
        program = (f'source {tmp_path / "egressguard.bash"}; COMP_WORDS=({line} ""); '
                   f'COMP_CWORD={len(words)}; COMP_LINE="{line} "; COMP_POINT=${{#COMP_LINE}}; '
                   '_shtab_egressguard; printf "%s\\n" "${COMPREPLY[@]}"')
        done = subprocess.run(["bash", "-c", program], capture_output=True, text=True,
                              timeout=30, check=True)
        return set(done.stdout.split())

    assert set(SUBCOMMANDS) <= completions("egressguard")
    assert completions("egressguard", "check", "-o") == OUTPUTS["check"]
    assert completions("egressguard", "render", "--mode") == {
        "istio-sidecar", "istio-ambient", "envoy-per-destination"}
