"""``egressguard audit`` on the command line, without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.cli import audit as audit_cli
from webhook.cli.main import main


def test_the_help_shows_examples_and_the_output_formats(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "-o reports" in out and "table, json, reports" in out


def test_without_any_cluster_it_says_how_to_name_one(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["audit", "--rules", "rules"]) == 2
    assert "give --kubeconfig FILE, set $KUBECONFIG, or run in a pod" in capsys.readouterr().err


def test_the_kubeconfig_comes_from_the_option_then_the_environment_then_home(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", "/env/first:/env/second")
    assert audit_cli.kubeconfig_of("/given") == "/given"
    assert audit_cli.kubeconfig_of(None) == "/env/first"
    monkeypatch.delenv("KUBECONFIG")
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("{}")
    assert audit_cli.kubeconfig_of(None) == str(tmp_path / ".kube" / "config")


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: x, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: x, user: x}}]\n")
    assert main(["audit", "--rules", "rules", "--kubeconfig", str(kubeconfig)]) == 2
    assert "egressguard audit: reading the cluster failed" in capsys.readouterr().err


def test_bad_rules_are_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("kind: Nonsense\n")
    assert main(["audit", "--rules", str(tmp_path), "--kubeconfig", __file__]) == 2
    assert "the rules in" in capsys.readouterr().err
