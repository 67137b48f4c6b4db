"""``egressguard render``: the rules repository as data-plane configuration, for one mode
(see DESCRIPTION for what the user reads)."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from webhook.cli import envoy_options
from webhook.cli.moments import now_option, now_or_clock
from webhook.cli.options import add_out_dir, subcommand
from webhook.cli.revisions import load_policy_or_report
from webhook.render import RenderError, RenderMode, RenderOptions, render
from webhook.render.output import stream_text, write_directory
from webhook.render.plan import ISTIOCTL_GATEWAY_PORTS, FenceKind

NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _port_mapping(value: str) -> tuple[int, int]:
    service, sep, pod = value.partition("=")
    try:
        mapping = (int(service), int(pod))
    except ValueError:
        mapping = (0, 0)
    if not sep or not all(0 < port < 65536 for port in mapping):
        raise argparse.ArgumentTypeError(f"{value!r}: write SERVICE=POD ports, e.g. 443=8443")
    return mapping


def _namespace(value: str) -> str:
    if not NAMESPACE_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r}: not a namespace name (lower case letters, digits and '-')"
        )
    return value


DESCRIPTION = """\
Render the rules repository as data-plane configuration for one mode:
  istio-sidecar          egress gateway routing for Istio with sidecars
  istio-ambient          an egress waypoint for Istio ambient
  envoy-per-destination  one Envoy per destination and a CoreDNS rewrite
NetworkPolicies and the fence come with every mode. Without --out, one multi-document
YAML stream goes to standard output; with --out, one file per destination plus shared
files, replacing what an earlier render wrote there."""


class _FolderIsOut(argparse.Action):
    """-o/--output names a format elsewhere; render's folder is --out."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        parser.error(f"render writes its files into a folder with --out {values}; "
                     "-o/--output names an output format in the other commands")


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "render", summary="render the rules into data-plane configuration",
        description=DESCRIPTION,
        example_lines=(
            "egressguard render --rules rules/ --mode istio-sidecar | kubectl apply -f -",
            "egressguard render --rules rules/ --mode istio-ambient --out out/",
            "egressguard render --rules main:rules --mode istio-sidecar "
            "--gateway-target-port 443=443 --out out/",
        ),
    )
    parser.add_argument("--rules", required=True, metavar="RULES",
                        help="the rules repository: a folder, or a git revision REV[:PATH]")
    parser.add_argument(
        "--mode", required=True, choices=[mode.value for mode in RenderMode],
        help="the data plane to render for",
    )
    add_out_dir(parser, described="write files into DIR instead of one YAML stream on "
                                   "standard output")
    parser.add_argument("-o", "--output", action=_FolderIsOut, help=argparse.SUPPRESS)
    parser.add_argument(
        "--now", type=now_option, default=None, metavar="TIME",
        help="which grants are active: as at this time (ISO 8601; default now)",
    )
    parser.add_argument(
        "--gateway-target-port", dest="gateway_ports", action="append", default=[],
        type=_port_mapping, metavar="SERVICE=POD",
        help="istio-sidecar: the port the gateway pods listen on for a Service port "
        "(repeatable; default what istioctl installs: 80=8080 and 443=8443)",
    )
    parser.add_argument(
        "--fence", choices=[kind.value for kind in FenceKind], default=FenceKind.NAMESPACES.value,
        help="how the fence is written: a NetworkPolicy per namespace (default), or one "
        "cluster-wide policy in the CNI's kind",
    )
    parser.add_argument(
        "--fence-namespace", dest="fence_namespaces", action="append", default=[],
        type=_namespace, metavar="NS",
        help="also fence this namespace (repeatable; namespaces with grants always are)",
    )
    envoy_options.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    policy = load_policy_or_report(args.rules, command="render")
    if policy is None:
        return 2
    options = RenderOptions(
        now=now_or_clock(args.now),
        gateway_pod_ports={**ISTIOCTL_GATEWAY_PORTS, **dict(args.gateway_ports)},
        fence=FenceKind(args.fence),
        fence_namespaces=tuple(args.fence_namespaces),
        **envoy_options.render_options(args),
    )
    try:
        rendering = render(policy, RenderMode(args.mode), options)
    except RenderError as error:
        print(f"egressguard render: {error}", file=sys.stderr)
        return 2
    if args.out is None:
        sys.stdout.write(stream_text(rendering))
        return 0
    try:
        written = write_directory(rendering, args.out)
    except OSError as error:
        print(f"egressguard render: cannot write {args.out}: {error}", file=sys.stderr)
        return 2
    print(f"egressguard render: wrote {len(written)} files to {args.out}", file=sys.stderr)
    return 0
