"""Loading a rules repository: the example loads as written, and each way of breaking one is
reported with the file and line to change."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import date
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.loader.repos import BASE, CONFIG, EXCEPTION, GITHUB, HEADER, replace_line, write_repo
from webhook.loader import LoadResult, Problem, RulesError, Severity, load_repository
from webhook.model.rules import Access, Mode

EXAMPLE = Path(__file__).parent.parent / "rules"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work from tmp_path, so repositories are named ``rules`` as a user would type it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load_errors(path: str | Path = "rules") -> tuple[Problem, ...]:
    with pytest.raises(RulesError) as raised:
        load_repository(path)
    assert raised.value.errors, "a RulesError carries at least one error"
    return raised.value.errors


# --- the example repository -------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> LoadResult:
    return load_repository(EXAMPLE, own_namespace="egressguard-system")


def test_example_rules_load_with_every_destination_grant_and_exception(
    example: LoadResult,
) -> None:
    policy = example.policy
    assert set(policy.destinations) == {
        "gcs",
        "github",
        "googleapis",
        "partner-api",
        "pypi",
        "slack",
        "stripe",
    }
    assert len(policy.grants) == 8
    assert [e.name for e in policy.exceptions] == ["legacy-vpn"]
    assert all(p.severity is Severity.WARNING for p in example.warnings)


@pytest.mark.parametrize(
    ("host", "destination"),
    [
        ("storage.googleapis.com", "gcs"),
        ("bigquery.googleapis.com", "googleapis"),
        ("github.com", "github"),
        ("api.stripe.com", "stripe"),
    ],
    ids=["exact-beats-wildcard", "wildcard", "exact", "other-gateway"],
)
def test_example_hosts_resolve_to_the_most_specific_destination(
    example: LoadResult, host: str, destination: str
) -> None:
    found = example.policy.destination_for(host)
    assert found is not None and found.name == destination


def test_example_destinations_carry_their_fields(example: LoadResult) -> None:
    destinations = example.policy.destinations
    assert destinations["stripe"].gateway == "payments-egressgateway"
    assert destinations["github"].gateway == "istio-egressgateway"  # the first, by default
    assert destinations["pypi"].access is Access.OPEN
    assert destinations["github"].access is Access.RESTRICTED
    assert destinations["partner-api"].tls_origination is True
    assert "AKIA" in destinations["partner-api"].block_body_patterns
    assert [(p.number, p.protocol) for p in destinations["github"].ports] == [
        (443, "HTTPS"),
        (22, "TCP"),
    ]
    assert destinations["github"].source.path.endswith("rules/destinations/github.yaml")


def test_example_grants_resolve_to_destinations_with_reason_and_expiry(
    example: LoadResult,
) -> None:
    grants = {(g.namespace, g.service_account, g.host, g.port): g for g in example.policy.grants}
    storage = grants[("ci", "builder", "storage.googleapis.com", 443)]
    assert storage.destination == "gcs"
    assert storage.reason == "Build caches in GCS."
    assert storage.expires == date(2027, 6, 30)
    assert grants[("data", "exporter", "bigquery.googleapis.com", 443)].destination == "googleapis"
    empty = grants[("shop", "default", "hooks.slack.com", 443)]
    assert (empty.reason, empty.expires) == ("", None)
    checkout = example.policy.grants_for("shop", "checkout")
    assert sorted(g.destination for g in checkout) == ["partner-api", "stripe"]


def test_example_config_and_exception(example: LoadResult) -> None:
    config = example.policy.config
    assert config.label_prefix == "egressguard.io"
    assert config.default_mode is Mode.ENFORCE
    assert [g.name for g in config.gateways] == ["istio-egressgateway", "payments-egressgateway"]
    assert config.gateway_namespaces == {"istio-egress", "payments-egress"}
    assert config.trusted.trusts("system:serviceaccount:istio-system:istiod", ())
    assert config.allowed_nameservers == {"10.96.0.10"}
    assert config.is_infrastructure("istio-system", "ztunnel")
    assert not config.is_infrastructure("shop", "ztunnel")
    assert config.internal_ranges.contains("2600:1f18:4c2b:8a00::1")
    assert config.cluster_domain == "cluster.local"
    (exception,) = example.policy.exceptions
    assert exception.codes == {"net-capability"}
    assert exception.service_account == "vpn-client"
    assert exception.expires == date(2027, 3, 31)


def test_a_reason_cut_short_by_a_yaml_comment_is_a_warning(in_tmp: Path) -> None:
    write_repo(
        in_tmp / "rules",
        {"services/ci/builder/github.com:443.rule": "reason: Alerts to the #ci channel.\n"},
    )
    (warning,) = [w for w in load_repository("rules").warnings if "builder" in w.path]
    assert warning.line == 1
    assert "'Alerts to the'" in warning.message


def test_the_example_rules_load_without_warnings(example: LoadResult) -> None:
    assert example.warnings == ()


def test_the_same_files_give_the_same_revision_and_a_change_a_new_one(in_tmp: Path) -> None:
    write_repo(in_tmp / "rules")
    first = load_repository("rules").policy.revision
    assert first == load_repository("rules").policy.revision
    assert first == load_repository(in_tmp / "rules").policy.revision  # independent of the path
    (in_tmp / "rules/services/ci/builder/github.com:22.rule").write_text("")
    assert load_repository("rules").policy.revision != first


def test_the_revision_hashes_every_file_in_the_order_of_its_whole_path(in_tmp: Path) -> None:
    # Grant files are read folder by folder as they load; "team-a-b/" still comes before
    # "team-a/" (as "-" sorts before "/"), so the revision is the hash of the sorted files.
    grants = {f"services/{namespace}/{account}/github.com:443.rule": f"reason: {account}\n"
              for namespace in ("team-a", "team-a-b", "team-a0")
              for account in ("ci", "ci.x", "ci-x")}
    write_repo(in_tmp / "rules", grants)
    root = in_tmp / "rules"
    digest = hashlib.sha256()
    for rel in sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()):
        data = (root / rel).read_bytes()
        digest.update(rel.encode() + b"\0%d\0" % len(data) + data)
    loaded = load_repository("rules").policy
    assert len([g for g in loaded.grants if g.namespace.startswith("team-")]) == 9
    assert loaded.revision == digest.hexdigest()[:12]


def test_problem_paths_are_relative_to_the_repository_as_typed(in_tmp: Path) -> None:
    write_repo(in_tmp / "rules", {"services/ci/builder/example.org:443.rule": ""})
    for typed in ("rules", "./rules/", str(in_tmp / "rules")):
        (problem,) = load_errors(typed)
        expected = os.path.join(os.path.normpath(typed), "services/ci/builder/example.org:443.rule")
        assert problem.path == expected


# --- config defaults ---------------------------------------------------------------------


def test_without_config_yaml_the_defaults_apply_and_the_own_namespace_is_exempt(
    in_tmp: Path,
) -> None:
    write_repo(in_tmp / "rules", drop=["config.yaml"])
    policy = load_repository("rules", own_namespace="egressguard").policy
    assert policy.config.exempt_namespaces == {
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "egressguard",
    }
    assert policy.config.gateways == ()
    assert policy.destinations["github"].gateway == ""


def test_explicit_exempt_namespaces_without_the_own_namespace_warn(in_tmp: Path) -> None:
    config = CONFIG + "  exemptNamespaces: [kube-system]\n"
    write_repo(in_tmp / "rules", {"config.yaml": config})
    result = load_repository("rules", own_namespace="egressguard")
    assert result.policy.config.exempt_namespaces == {"kube-system"}
    (warning,) = result.warnings
    assert (warning.path, warning.line) == ("rules/config.yaml", 8)
    assert "'egressguard'" in warning.message


def test_proxy_images_are_read_as_container_runtimes_resolve_them(in_tmp: Path) -> None:
    config = CONFIG + "  mesh:\n    proxyImages: [istio/proxyv2, gcr.io/istio-release/proxyv2]\n"
    write_repo(in_tmp / "rules", {"config.yaml": config})
    images = load_repository("rules").policy.config.proxy_images
    assert images == {"docker.io/istio/proxyv2", "gcr.io/istio-release/proxyv2"}


# --- broken repositories: every error names its file and line -----------------------------

DESTINATION_EXCEPTION = EXCEPTION.replace("kind: Exception", "kind: Destination")


def _destination(name: str, hosts: str) -> str:
    return replace_line(GITHUB, "name: github", f"name: {name}").replace(
        "hosts: [github.com, api.github.com]", f"hosts: {hosts}"
    )


class Broken(NamedTuple):
    files: dict[str, str | bytes]
    path: str  # relative to rules/
    line: int
    fragment: str
    drop: tuple[str, ...] = ()


BROKEN = {
    "yaml-syntax-error": Broken(
        {"destinations/github.yaml": replace_line(GITHUB, "  hosts: [", "  hosts: x: [")},
        "destinations/github.yaml",
        6,
        "invalid YAML: mapping values are not allowed",
    ),
    "unknown-field": Broken(
        {"destinations/github.yaml": GITHUB + "  acess: open\n"},
        "destinations/github.yaml",
        10,
        "spec.acess: unknown field 'acess' (did you mean 'access'?); spec allows hosts, ports",
    ),
    "wrong-type": Broken(
        {"destinations/github.yaml": replace_line(GITHUB, "number: 443", 'number: "443"')},
        "destinations/github.yaml",
        8,
        "spec.ports[0].number: expected a whole number, got the string '443'; write it "
        "without quotes",
    ),
    "unknown-protocol": Broken(
        {"destinations/github.yaml": replace_line(GITHUB, "protocol: TCP", "protocol: HTTP2")},
        "destinations/github.yaml",
        9,
        "spec.ports[1].protocol: 'HTTP2' is not one of HTTP, HTTPS, TLS, TCP",
    ),
    "port-out-of-range": Broken(
        {"destinations/github.yaml": replace_line(GITHUB, "number: 22,", "number: 70000,")},
        "destinations/github.yaml",
        9,
        "spec.ports[1].number: 70000 is out of range; use 1 to 65535",
    ),
    "missing-hosts": Broken(
        {
            "destinations/github.yaml": replace_line(
                GITHUB, "  hosts: [github.com, api.github.com]\n", ""
            )
        },
        "destinations/github.yaml",
        5,
        "spec is missing the required field 'hosts'",
    ),
    "duplicate-key": Broken(
        {"destinations/github.yaml": GITHUB + "  hosts: [example.org]\n"},
        "destinations/github.yaml",
        10,
        "duplicate key 'hosts' (first at line 6)",
    ),
    "merge-key": Broken(
        {"destinations/github.yaml": GITHUB + "  <<: {access: open}\n"},
        "destinations/github.yaml",
        10,
        "merge keys (<<) are not supported",
    ),
    "custom-tag": Broken(
        {"destinations/github.yaml": GITHUB + "  description: !vault secret\n"},
        "destinations/github.yaml",
        10,
        "unsupported YAML tag '!vault'",
    ),
    "wrong-api-version": Broken(
        {"destinations/github.yaml": replace_line(GITHUB, HEADER, "apiVersion: v1\n")},
        "destinations/github.yaml",
        1,
        "apiVersion must be 'egressguard.io/v1alpha1', found apiVersion 'v1'",
    ),
    "kind-in-the-wrong-folder": Broken(
        {"exceptions/legacy-vpn.yaml": DESTINATION_EXCEPTION},
        "exceptions/legacy-vpn.yaml",
        2,
        "kind 'Destination' does not belong in exceptions/; a Destination lives in "
        "destinations/<name>.yaml",
    ),
    "destination-name-not-dns": Broken(
        {"destinations/github.yaml": replace_line(GITHUB, "name: github", "name: GitHub")},
        "destinations/github.yaml",
        4,
        "metadata.name: 'GitHub' is not a DNS-1123 label",
    ),
    "destination-name-too-long": Broken(
        {f"destinations/{'a' * 58}.yaml": _destination("a" * 58, "[example.org]")},
        f"destinations/{'a' * 58}.yaml",
        4,
        "is not a DNS-1123 label of at most 57 characters",
    ),
    "destination-name-is-not-the-file-name": Broken(
        {"destinations/gh.yaml": _destination("code", "[example.org]")},
        "destinations/gh.yaml",
        4,
        "metadata.name 'code' does not match the file name",
    ),
    "host-not-dns": Broken(
        {"destinations/github.yaml": _destination("github", "[github.com, bad_host.com]")},
        "destinations/github.yaml",
        6,
        "spec.hosts[1]: 'bad_host.com' is not a DNS name",
    ),
    "bare-star-host": Broken(
        {"destinations/github.yaml": _destination("github", '["*", github.com]')},
        "destinations/github.yaml",
        6,
        "spec.hosts[0]: '*' would cover the whole internet",
    ),
    "ip-address-host": Broken(
        {"destinations/github.yaml": _destination("github", "[github.com, 140.82.121.4]")},
        "destinations/github.yaml",
        6,
        "'140.82.121.4' is an IP address",
    ),
    "one-host-in-two-destinations": Broken(
        {"destinations/mirror.yaml": _destination("mirror", "[GitHub.com.]")},
        "destinations/mirror.yaml",
        6,
        "host 'github.com' is also in destination 'github' (rules/destinations/github.yaml:6)",
    ),
    "one-wildcard-in-two-destinations": Broken(
        {"destinations/mirror.yaml": _destination("mirror", '["*.googleapis.com"]')},
        "destinations/mirror.yaml",
        6,
        "(rules/destinations/googleapis.yaml:6)",
    ),
    "unknown-gateway": Broken(
        {"destinations/github.yaml": GITHUB + "  gateway: nope\n"},
        "destinations/github.yaml",
        10,
        "spec.gateway: 'nope' is not a configured gateway; config.yaml defines egress",
    ),
    "gateway-without-configured-gateways": Broken(
        {"destinations/github.yaml": GITHUB + "  gateway: egress\n"},
        "destinations/github.yaml",
        10,
        "config.yaml defines no gateways",
        ("config.yaml",),
    ),
    "two-destinations-in-one-file": Broken(
        {"destinations/github.yaml": GITHUB + "---\n" + GITHUB},
        "destinations/github.yaml",
        11,
        "a file holds one Destination",
    ),
    "empty-destination-file": Broken(
        {"destinations/github.yaml": "# nothing yet\n"},
        "destinations/github.yaml",
        1,
        "the file is empty",
    ),
    "not-utf8": Broken(
        {"destinations/github.yaml": GITHUB.encode() + b"  description: caf\xe9\n"},
        "destinations/github.yaml",
        10,
        "not UTF-8",
    ),
    "host-not-covered": Broken(
        {"services/ci/builder/example.org:443.rule": ""},
        "services/ci/builder/example.org:443.rule",
        1,
        "no destination covers 'example.org': the security team must first add a Destination",
    ),
    "port-not-listed": Broken(
        {"services/ci/builder/github.com:8443.rule": ""},
        "services/ci/builder/github.com:8443.rule",
        1,
        "destination 'github' (rules/destinations/github.yaml) covers 'github.com' but does "
        "not list port 8443",
    ),
    "wildcard-in-grant-name": Broken(
        {"services/ci/builder/*.googleapis.com:443.rule": ""},
        "services/ci/builder/*.googleapis.com:443.rule",
        1,
        "'*.googleapis.com' is a wildcard; a grant names one concrete host",
    ),
    "grant-port-not-a-port": Broken(
        {"services/ci/builder/github.com:70000.rule": ""},
        "services/ci/builder/github.com:70000.rule",
        1,
        "'70000' is not a port",
    ),
    "grant-name-without-port": Broken(
        {"services/ci/builder/github.com.rule": ""},
        "services/ci/builder/github.com.rule",
        1,
        "a grant file is named <host>:<port>.rule",
    ),
    "namespace-folder-not-dns": Broken(
        {"services/Shop_NS/checkout/github.com:443.rule": ""},
        "services/Shop_NS",
        1,
        "the namespace 'Shop_NS' is not a DNS-1123 label",
    ),
    "service-account-folder-not-dns": Broken(
        {"services/shop/Check_Out/github.com:443.rule": ""},
        "services/shop/Check_Out",
        1,
        "the service account name 'Check_Out' is not a DNS-1123 subdomain",
    ),
    "grant-unknown-field": Broken(
        {"services/ci/builder/github.com:22.rule": "reason: ssh\nreasn: typo\n"},
        "services/ci/builder/github.com:22.rule",
        2,
        "unknown field 'reasn' (did you mean 'reason'?)",
    ),
    "grant-invalid-date": Broken(
        {"services/ci/builder/github.com:22.rule": "reason: ssh\nexpires: 2027-02-30\n"},
        "services/ci/builder/github.com:22.rule",
        2,
        "expires: 2027-02-30 is not a date written YYYY-MM-DD",
    ),
    "grant-expiry-with-a-time": Broken(
        {"services/ci/builder/github.com:22.rule": "expires: 2027-02-03T10:00:00Z\n"},
        "services/ci/builder/github.com:22.rule",
        1,
        "is not a date written YYYY-MM-DD",
    ),
    "grant-reason-read-as-boolean": Broken(
        {"services/ci/builder/github.com:22.rule": "expires: 2027-01-01\nreason: yes\n"},
        "services/ci/builder/github.com:22.rule",
        2,
        "reason: expected text, got the boolean true; quote it",
    ),
    "grant-reason-read-as-zero": Broken(
        {"services/ci/builder/github.com:22.rule": "reason: 0\n"},
        "services/ci/builder/github.com:22.rule",
        1,
        "reason: expected text, got the number 0; quote it",
    ),
    "grant-empty-expiry": Broken(
        {"services/ci/builder/github.com:22.rule": "reason: ssh\nexpires:\n"},
        "services/ci/builder/github.com:22.rule",
        2,
        "expires is empty; write a value or remove the line",
    ),
    "grant-duplicate-key": Broken(
        {"services/ci/builder/github.com:22.rule": "reason: a\nreason: b\n"},
        "services/ci/builder/github.com:22.rule",
        2,
        "duplicate key 'reason'",
    ),
    "grant-not-a-mapping": Broken(
        {"services/ci/builder/github.com:22.rule": "- reason: a\n"},
        "services/ci/builder/github.com:22.rule",
        1,
        "a grant file is empty or holds 'reason: <text>'",
    ),
    "same-grant-twice": Broken(
        {"services/ci/builder/GitHub.com:443.rule": ""},
        "services/ci/builder/github.com:443.rule",
        1,
        "the same grant as rules/services/ci/builder/GitHub.com:443.rule",
    ),
    "exception-without-expires": Broken(
        {"exceptions/legacy-vpn.yaml": replace_line(EXCEPTION, "  expires: 2027-03-31\n", "")},
        "exceptions/legacy-vpn.yaml",
        5,
        "spec is missing the required field 'expires'",
    ),
    "exception-with-an-impossible-date": Broken(
        {"exceptions/legacy-vpn.yaml": replace_line(EXCEPTION, "2027-03-31", "2027-02-30")},
        "exceptions/legacy-vpn.yaml",
        10,
        "spec.expires: 2027-02-30 is not a date",
    ),
    "exception-waiving-managed-label": Broken(
        {
            "exceptions/legacy-vpn.yaml": replace_line(
                EXCEPTION, "[net-capability]", "[net-capability, managed-label]"
            )
        },
        "exceptions/legacy-vpn.yaml",
        8,
        "spec.codes[1]: 'managed-label' cannot be waived",
    ),
    "exception-waiving-namespace-mode": Broken(
        {
            "exceptions/legacy-vpn.yaml": replace_line(
                EXCEPTION, "[net-capability]", "[namespace-mode]"
            )
        },
        "exceptions/legacy-vpn.yaml",
        8,
        "'namespace-mode' cannot be waived",
    ),
    "exception-unknown-code": Broken(
        {
            "exceptions/legacy-vpn.yaml": replace_line(
                EXCEPTION, "[net-capability]", "[net-capabilty]"
            )
        },
        "exceptions/legacy-vpn.yaml",
        8,
        "unknown code 'net-capabilty' (did you mean 'net-capability'?)",
    ),
    "exception-empty-codes": Broken(
        {"exceptions/legacy-vpn.yaml": replace_line(EXCEPTION, "[net-capability]", "[]")},
        "exceptions/legacy-vpn.yaml",
        8,
        "spec.codes: must not be empty",
    ),
    "exception-namespace-not-dns": Broken(
        {
            "exceptions/legacy-vpn.yaml": replace_line(
                EXCEPTION, "namespace: legacy", "namespace: Legacy"
            )
        },
        "exceptions/legacy-vpn.yaml",
        6,
        "spec.namespace: 'Legacy' is not a namespace name",
    ),
    "config-unknown-mode": Broken(
        {"config.yaml": CONFIG + "  defaultMode: off\n"},
        "config.yaml",
        8,
        "spec.defaultMode: the boolean false is not one of enforce, warn; quote it",
    ),
    "config-duplicate-gateway": Broken(
        {"config.yaml": CONFIG + "    - {name: egress, namespace: other, selector: {a: b}}\n"},
        "config.yaml",
        8,
        "gateway 'egress' is already defined at line 5",
    ),
    "config-bad-nameserver": Broken(
        {"config.yaml": CONFIG + "  dns: {allowedNameservers: [10.0.0.300]}\n"},
        "config.yaml",
        8,
        "spec.dns.allowedNameservers[0]: '10.0.0.300' is not an IP address",
    ),
    "config-internal-range-not-a-cidr": Broken(
        {"config.yaml": CONFIG + "  network: {internalRanges: [10.0.0.0/33]}\n"},
        "config.yaml",
        8,
        "spec.network.internalRanges[0]: '10.0.0.0/33' is not a CIDR",
    ),
    "config-internal-range-host-bits": Broken(
        {"config.yaml": CONFIG + "  network: {internalRanges: [10.1.2.3/16]}\n"},
        "config.yaml",
        8,
        "has host bits set; write the network address, e.g. 10.1.0.0/16",
    ),
    "config-internal-range-too-broad": Broken(
        {"config.yaml": CONFIG + "  network: {internalRanges: ['2600::/12']}\n"},
        "config.yaml",
        8,
        "'2600::/12' is broader than /32: it would make much of the internet internal",
    ),
    "config-infrastructure-not-namespace-colon-name": Broken(
        {"config.yaml": CONFIG + "  mesh: {infrastructure: [ztunnel]}\n"},
        "config.yaml",
        8,
        "spec.mesh.infrastructure[0]",
    ),
    "config-empty-selector": Broken(
        {"config.yaml": replace_line(CONFIG, "{istio: egressgateway}", "{}")},
        "config.yaml",
        7,
        "spec.gateways[0].selector: must not be empty",
    ),
    "stray-yml-destination": Broken(
        {"destinations/slack.yml": GITHUB},
        "destinations/slack.yml",
        1,
        "rename to slack.yaml",
    ),
    "grant-outside-a-service-account-folder": Broken(
        {"services/ci/github.com:443.rule": ""},
        "services/ci/github.com:443.rule",
        1,
        "move it to services/ci/<serviceaccount>/github.com:443.rule",
    ),
    "grant-with-another-extension": Broken(
        {"services/ci/builder/github.com:22.yaml": ""},
        "services/ci/builder/github.com:22.yaml",
        1,
        "rename to github.com:22.rule",
    ),
    "folder-inside-a-service-account-folder": Broken(
        {"services/ci/builder/old/github.com:22.rule": ""},
        "services/ci/builder/old",
        1,
        "unexpected folder",
    ),
    "oversized-file": Broken(
        {"services/ci/builder/github.com:22.rule": "#" * (1 << 20) + "\n"},
        "services/ci/builder/github.com:22.rule",
        1,
        "the file is larger than 1048576 bytes",
    ),
    "unexpected-file-at-the-root": Broken(
        {"notes.txt": "hello"},
        "notes.txt",
        1,
        "unexpected file; a rules repository holds config.yaml, destinations/<name>.yaml",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN.values()), ids=list(BROKEN))
def test_a_broken_repository_names_the_file_and_line(in_tmp: Path, case: Broken) -> None:
    write_repo(in_tmp / "rules", case.files, drop=case.drop)
    errors = load_errors()
    where = [(p.path, p.line) for p in errors]
    matching = [p for p in errors if case.fragment in p.message]
    assert matching, f"no error says {case.fragment!r}: {[str(p) for p in errors]}"
    assert (matching[0].path, matching[0].line) == (f"rules/{case.path}", case.line), where


def test_every_problem_is_reported_sorted_by_file_and_line(in_tmp: Path) -> None:
    write_repo(
        in_tmp / "rules",
        {
            "services/ci/builder/*.github.com:443.rule": "",
            "destinations/github.yaml": GITHUB + "  acess: open\n  color: blue\n",
            "exceptions/legacy-vpn.yaml": replace_line(EXCEPTION, "[net-capability]", "[]"),
        },
    )
    errors = load_errors()
    assert [(p.path, p.line) for p in errors] == [
        ("rules/destinations/github.yaml", 10),
        ("rules/destinations/github.yaml", 11),
        ("rules/exceptions/legacy-vpn.yaml", 8),
        ("rules/services/ci/builder/*.github.com:443.rule", 1),
    ]


def test_grants_are_not_checked_against_destinations_that_do_not_load(in_tmp: Path) -> None:
    """One broken destination file must not bury the change under an error per grant."""
    write_repo(in_tmp / "rules", {"destinations/github.yaml": GITHUB + "  acess: open\n"})
    with pytest.raises(RulesError) as raised:
        load_repository("rules")
    assert [p.path for p in raised.value.errors] == ["rules/destinations/github.yaml"]
    (warning,) = raised.value.warnings
    assert (warning.path, warning.line) == ("rules/destinations/github.yaml", 1)
    assert "grants were not checked" in warning.message


def test_readme_files_and_dotfiles_are_ignored(in_tmp: Path) -> None:
    write_repo(
        in_tmp / "rules",
        {
            "README.md": "# rules",
            ".github/CODEOWNERS": "* @security",
            "services/README.md": "how to ask for egress",
            "services/ci/builder/.gitkeep": "",
        },
    )
    assert len(load_repository("rules").policy.grants) == len(
        [name for name in BASE if name.startswith("services/")]
    )


def test_a_missing_repository_is_an_error(in_tmp: Path) -> None:
    (problem,) = load_errors("nowhere")
    assert problem.path == "nowhere"
    assert "no such directory" in problem.message


# --- grants ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason", "expires"),
    [
        ("", "", None),
        ("\n", "", None),
        ("# why: CI\n", "", None),
        ("reason: CI clones repositories.\n", "CI clones repositories.", None),
        ("reason: CI (PAY-112)\nexpires: 2027-06-30", "CI (PAY-112)", date(2027, 6, 30)),
        ('reason: "quoted: with a colon"\n', "quoted: with a colon", None),
        ("expires: '2027-06-30'\n", "", date(2027, 6, 30)),
        ("reason: >-\n  folded\n  text\n", "folded text", None),
        ("---\nreason: after a marker\n", "after a marker", None),
        ("reason: Zahlungen für Bestellungen\n", "Zahlungen für Bestellungen", None),
    ],
    ids=[
        "empty",
        "blank-line",
        "comment-only",
        "reason",
        "reason-and-expiry",
        "quoted-reason",
        "quoted-expiry",
        "folded-reason",
        "document-marker",
        "non-ascii-reason",
    ],
)
def test_grant_files_may_be_empty_or_hold_reason_and_expires(
    in_tmp: Path, content: str, reason: str, expires: date | None
) -> None:
    write_repo(in_tmp / "rules", {"services/ci/builder/github.com:443.rule": content})
    grants = load_repository("rules").policy.grants_for("ci", "builder")
    (grant,) = [g for g in grants if g.port == 443]
    assert (grant.reason, grant.expires) == (reason, expires)


def test_a_grant_file_name_in_another_case_is_read_lower_case_with_a_warning(
    in_tmp: Path,
) -> None:
    write_repo(
        in_tmp / "rules",
        {"services/ci/builder/GitHub.com.:22.rule": ""},
    )
    result = load_repository("rules")
    assert ("ci", "builder", "github.com", 22) in {
        (g.namespace, g.service_account, g.host, g.port) for g in result.policy.grants
    }
    assert any("rename to github.com:22.rule" in w.message for w in result.warnings)


def test_service_account_folders_may_contain_dots(in_tmp: Path) -> None:
    write_repo(in_tmp / "rules", {"services/ci/builder.v2/github.com:443.rule": ""})
    assert load_repository("rules").policy.grants_for("ci", "builder.v2")


def test_twenty_thousand_grants_load(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "rules")
    shutil.rmtree(root / "services")
    contents = ["", "reason: Build caches (DATA-7).\nexpires: 2027-06-30\n", 'reason: "a: b"\n']
    for index in range(20_000):
        folder = root / "services" / f"ns{index // 100}" / f"sa{index % 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"api{index % 7}.googleapis.com:443.rule").write_text(contents[index % 3])
    policy = load_repository(root).policy
    assert len(policy.grants) == 20_000
    assert {g.destination for g in policy.grants} == {"googleapis"}
    assert policy.grants_for("ns3", "sa42")[0].host == "api6.googleapis.com"  # 342 % 7 == 6


@pytest.mark.parametrize(("exempt", "named"), [
    ("[kube-system, istio-system]", "the mesh root namespace"),
    ("[kube-system, istio-egress]", "gateway 'istio-egressgateway'"),
])
def test_exempting_the_mesh_root_or_a_gateway_namespace_is_an_error(
        in_tmp: Path, exempt: str, named: str) -> None:
    config = (EXAMPLE / "config.yaml").read_text().replace(
        "exemptNamespaces: [kube-system, kube-public, kube-node-lease, egressguard-system]",
        f"exemptNamespaces: {exempt}")
    assert exempt in config
    shutil.copytree(EXAMPLE, in_tmp / "rules")
    (in_tmp / "rules" / "config.yaml").write_text(config)
    (error,) = load_errors()
    assert (error.path, error.line) == ("rules/config.yaml", 7)
    assert named in error.message and "spec.mesh.infrastructure" in error.message


def test_grants_share_one_root_and_keep_no_path_of_their_own(in_tmp: Path) -> None:
    """A repository holds up to 100,000 grants: their paths are made when shown."""
    shutil.copytree(EXAMPLE, in_tmp / "rules")
    upper = in_tmp / "rules" / "services" / "shop" / "checkout" / "API.stripe.com:443.rule"
    (upper.parent / "api.stripe.com:443.rule").rename(upper)
    grants = load_repository("rules").policy.grants
    assert len({id(g.root) for g in grants}) == 1 and grants[0].root == "rules/"
    for grant in grants:
        on_disk = in_tmp / grant.source.path
        assert on_disk.is_file(), grant.source
        assert grant.file_name == ("API.stripe.com:443.rule" if on_disk == upper else "")
