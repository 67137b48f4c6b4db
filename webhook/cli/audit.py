"""``egressguard audit``: judge what is already in a cluster with the webhook's engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from webhook.audit.findings import Audit
from webhook.audit.judging import audit
from webhook.audit.reports import reports
from webhook.audit.snapshot import PAGE_SIZE
from webhook.audit.table import table
from webhook.cli.cluster_options import add_kubeconfig, default_rules, given_kubeconfig, in_cluster
from webhook.cli.moments import now_option, now_or_clock
from webhook.cli.options import add_output, positive_int, subcommand
from webhook.cli.revisions import load_policy_or_report
from webhook.controller.options import DEFAULT_BURST, DEFAULT_QPS
from webhook.render.yamltext import yaml_text

DESCRIPTION = """\
Judge every object already in a cluster with the webhook's own engine, as if it were
created now in its namespace's mode, and report:
  - every object the webhook would refuse, or warn about, now;
  - pods whose entitlement labels differ from what they are entitled to now (stale labels
    keep access after a grant was revoked or expired; missing ones need a restart);
  - judged namespaces without the egressguard-fence NetworkPolicy;
  - per namespace, whether it is ready to move from warn to enforce.
Objects egressguard applied itself are left out, and a Namespace's mode label is read,
not judged. The cluster is read with --kubeconfig, else $KUBECONFIG, else the in-cluster
service account, else ~/.kube/config; it needs only get and list.

-o reports prints wgpolicyk8s.io/v1alpha2 PolicyReports (one per namespace with findings)
and a ClusterPolicyReport, the reports Kyverno writes, for kubectl apply or review.

Exit 0 when nothing was found, 1 when anything was, 2 on usage, rules or cluster errors
and when a judged kind could not be listed (the audit is then incomplete: it says which)."""


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "audit", summary="judge what is already in a cluster",
        description=DESCRIPTION,
        example_lines=(
            "egressguard audit --rules rules/",
            "egressguard audit --kubeconfig ~/.kube/prod --rules rules/ -o json",
            "egressguard audit --rules rules/ -o reports | kubectl apply --server-side -f -",
        ),
    )
    parser.add_argument(
        "--rules", default=None, metavar="RULES",
        help="the rules repository: a folder, or a git revision REV[:PATH] (default: "
             "$EGRESSGUARD_RULES, else ./rules, else the example rules)")
    add_kubeconfig(parser, "the cluster to read (default: $KUBECONFIG, else in-cluster, "
                           "else ~/.kube/config)")
    add_output(parser, ("table", "json", "reports"), default="table",
               described="table for a person, json for scripts, reports for policy reports "
                         "as YAML")
    parser.add_argument(
        "--now", type=now_option, default=None, metavar="TIME",
        help="judge as at this time (ISO 8601), e.g. to see what an expiry will change")
    # Objects per list request; the default suits every cluster (tests page through less).
    parser.add_argument("--page-size", type=positive_int, default=PAGE_SIZE,
                        help=argparse.SUPPRESS)


def kubeconfig_of(given: str | None) -> str | None:
    """The kubeconfig to read, or None for the in-cluster service account; ValueError when
    there is neither."""
    if kubeconfig := given_kubeconfig(given):
        return kubeconfig
    if in_cluster():
        return None
    home = Path.home() / ".kube" / "config"
    if home.is_file():
        return str(home)
    raise ValueError("no cluster: give --kubeconfig FILE, set $KUBECONFIG, or run in a pod")


def _print(result: Audit, output: str) -> None:
    if output == "json":
        sys.stdout.write(orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2).decode()
                         + "\n")
    elif output == "reports":
        sys.stdout.write("".join(f"---\n{yaml_text(report)}" for report in reports(result)))
    else:
        sys.stdout.write(table(result))


def run(args: argparse.Namespace) -> int:
    now = now_or_clock(args.now)
    policy = load_policy_or_report(args.rules or str(default_rules()), command="audit")
    if policy is None:
        return 2
    # The Kubernetes client, imported by the commands that talk to the API server only.
    from webhook.audit.inventory import Inventory, ListExpired
    from webhook.controller.cluster import CountingApiClient, TokenBucket, load_configuration

    try:
        configuration = load_configuration(kubeconfig_of(args.kubeconfig))
    except Exception as error:  # the client raises ConfigException, OSError, ValueError...
        print(f"egressguard audit: cannot read the cluster's configuration: {error}",
              file=sys.stderr)
        return 2
    api = CountingApiClient(configuration, TokenBucket(DEFAULT_QPS, DEFAULT_BURST))
    try:
        snapshot = Inventory(api, page_size=args.page_size).read(policy)
    except ListExpired as error:
        print(f"egressguard audit: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the API server refused, or could not be reached
        print(f"egressguard audit: reading the cluster failed: {error}", file=sys.stderr)
        return 2
    result = audit(snapshot, policy, now=now)
    _print(result, args.output)
    if result.unreadable:
        print(f"egressguard audit: incomplete: not allowed to list "
              f"{', '.join(result.unreadable)}; grant list on them (deploy/overlays/audit's "
              "ClusterRole lists what the audit reads)", file=sys.stderr)
        return 2
    return 0 if result.clean else 1
