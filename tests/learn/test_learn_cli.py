"""``egressguard learn`` end to end, offline: a copy with the proposal, the diff, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from webhook.cli.main import main

LOGS = Path(__file__).parent / "logs"
REPO = Path(__file__).resolve().parents[2]
NOW = ["--now", "2026-12-04"]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(REPO / "rules", target)
    return target


def _learn(rules: Path, out: Path, *logs: str, access: tuple[str, ...] = ()) -> list[str]:
    args = ["learn", "--rules", str(rules), "--out", str(out), *NOW]
    if logs:
        args += ["--audit-log", *(str(LOGS / name) for name in logs)]
    for name in access:
        args += ["--access-log", str(LOGS / name)]
    return args


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_proposal_is_a_copy_that_checks_and_the_diff_names_who_gains_what(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    before = _files(rules)
    out = tmp_path / "proposed"
    assert main(_learn(rules, out, "audit.log")) == 0
    printed = capsys.readouterr()
    assert _files(rules) == before  # the live repository is only read
    assert main(["check", str(out)]) == 0
    capsys.readouterr()
    diff = printed.out
    assert "**Access widens**: 3 identities gain access; 2 risk flags." in diff
    assert ("| `shop/checkout` | gains | `api-paypal-com` | `api.paypal.com:443` | grant added: "
            "services/shop/checkout/api.paypal.com:443.rule |") in diff
    assert ("- **attacker-controlled-host**: pastebin.com:443 gives an attacker control "
            "(paste site:") in diff
    new = set(_files(out)) - set(before)
    assert new == {
        ".egressguard-learn",
        "destinations/api-paypal-com.yaml",
        "destinations/pastebin-com.yaml",
        "destinations/raw-githubusercontent-com.yaml",
        "services/shop/checkout/api.paypal.com:443.rule",
        "services/data/exporter/pastebin.com:443.rule",
        "services/ci/builder/raw.githubusercontent.com:443.rule",
    }
    assert "not proposed: shop/web -> db.shop.svc.cluster.local:5432" in printed.err
    assert "wrote 6 files into" in printed.err


def test_the_proposal_admits_what_was_requested(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "proposed"
    main(_learn(rules, out, "audit.log"))
    capsys.readouterr()
    pod = tmp_path / "pod.yaml"
    pod.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: data\n"
        "  annotations: {egressguard.io/egress: 'pastebin.com:443, bigquery.googleapis.com:443'}\n"
        "spec:\n  serviceAccountName: exporter\n  containers: [{name: a, image: x}]\n")
    assert main(["validate", "--rules", str(rules), "-f", str(pod)]) == 1
    capsys.readouterr()
    assert main(["validate", "--rules", str(out), "-f", str(pod), "-o", "json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["allowed"] is True and result["codes"] == []
    labels = {op["path"].rsplit("~1", 1)[1] for op in result["patch"] if "~1allow-" in op["path"]}
    assert labels == {"allow-pastebin-com", "allow-googleapis"}


def test_gateway_lines_with_an_identity_become_grants_and_skipped_lines_exit_1(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "proposed"
    code = main([*_learn(rules, out, "audit.log",
                         access=("istio-text.log", "istio-json.log", "envoy.log")),
                 "-o", "json"])
    assert code == 1
    body = json.loads(capsys.readouterr().out)
    learned = body["learn"]
    assert [s["where"].rsplit("/", 1)[1] for s in learned["skipped"]] == [
        "istio-text.log:6", "istio-json.log:4", "istio-json.log:5"]
    assert "services/payments/payouts/api.wise.com:443.rule" in learned["files"]
    assert {"host": "status.partner.example", "port": 80, "source": "10.8.2.17",
            "lines": 1} in learned["unattributed"]
    assert body["diff"]["widens"] is True
    assert {"file": "destinations/pastebin-com.yaml", "host": "pastebin.com",
            "reason": "paste site: anyone can post text there, and read it back without an "
                      "account"} in learned["attackerControlled"]
    assert (out / "destinations/files-example-cdn-com.yaml").read_text().count(
        "protocol: HTTP\n") == 1


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_the_live_repository_is_never_the_output(
    rules: Path, where: str, capsys: pytest.CaptureFixture[str],
) -> None:
    out = {"same": rules, "inside": rules / "proposed", "parent": rules.parent}[where]
    before = _files(rules)
    assert main(_learn(rules, out, "audit.log")) == 2
    assert "egressguard learn: --out" in capsys.readouterr().err
    assert _files(rules) == before and not (rules / "proposed").exists()


def test_a_folder_with_other_files_is_refused_and_an_earlier_output_is_replaced(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(_learn(rules, other, "audit.log")) == 2
    assert "is not empty and is not an earlier learn output" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "mine"

    out = tmp_path / "proposed"
    assert main(_learn(rules, out, "audit.log")) == 0
    (out / "destinations" / "stale.yaml").write_text("left from before")
    assert main(_learn(rules, out, "audit.log")) == 0
    assert not (out / "destinations" / "stale.yaml").exists()
    assert (out / "destinations" / "api-paypal-com.yaml").exists()


def test_bad_input_stops_before_anything_is_written(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "proposed"
    assert main(["learn", "--rules", str(rules), "--out", str(out),
                 "--audit-log", str(tmp_path / "missing.log")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (rules / "destinations" / "broken.yaml").write_text("kind: [\n")
    assert main(_learn(rules, out, "audit.log")) == 2
    assert "--rules" in capsys.readouterr().err and not out.exists()


def test_malformed_audit_lines_are_reported_with_file_and_line(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(_learn(rules, tmp_path / "proposed", "malformed-audit.log")) == 1
    err = capsys.readouterr().err
    assert "skipped 8 malformed lines" in err
    assert "malformed-audit.log:3: the namespace '../../etc' is not a DNS-1123 label" in err
    assert not (tmp_path / "etc").exists()


def test_a_port_the_destination_lacks_is_added_to_its_file_and_flagged_as_widening(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "audit.log"
    log.write_text('{"webhook":"validate","uid":"u-1","kind":"Pod","group":"","namespace":"ci",'
                   '"serviceAccount":"builder","requested":["github.com:8443"]}\n')
    out = tmp_path / "proposed"
    assert main(["learn", "--rules", str(rules), "--audit-log", str(log), "--out", str(out),
                 *NOW]) == 0
    diff = capsys.readouterr().out
    text = (out / "destinations" / "github.yaml").read_text()
    assert text.startswith("# Ports 8443/TCP proposed by egressguard learn.\n")
    assert "- number: 8443\n    protocol: TCP\n" in text
    assert "- **widened-restricted-destination**: restricted destination github adds port " \
           "8443/TCP" in diff
    assert not list((out / "services" / "ci" / "builder").glob("*8443*"))  # granted already
    assert main(["check", str(out)]) == 0
