"""``egressguard serve``: the admission webhook over HTTPS (see DESCRIPTION)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import ipaddress
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from webhook.cli import audit_options, reconcile_options
from webhook.cli.cluster_options import (
    add_kubeconfig,
    default_rules,
    given_kubeconfig,
    in_cluster,
)
from webhook.cli.options import (
    DIRECTORY,
    FILE,
    complete,
    existing_dir,
    existing_file,
    non_negative_int,
    port_number,
    positive_int,
    positive_seconds,
    seconds,
    subcommand,
)
from webhook.model.rules import Mode
from webhook.server.logs import FORMATS
from webhook.server.logs import configure as configure_logging
from webhook.server.loop import run as run_loop
from webhook.server.settings import (
    DEFAULT_DEBOUNCE_MS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_READ_TIMEOUT,
    Settings,
)
from webhook.server.worker_metrics import Workers
from webhook.server.workers import default_workers, supervise

if TYPE_CHECKING:
    from webhook.server.runner import RunningServer

# With --workers N the process started only supervises: the server (aiohttp, the engine)
# and the certificate code (cryptography) are imported where they run, so that it does
# not hold a worker's worth of modules it never uses.

LOCAL_NAMES = ("localhost",)
LOCAL_IPS = ("127.0.0.1", "::1")
RENEW_BEFORE = timedelta(days=7)
log = logging.getLogger("egressguard")


def _mode_option(value: str) -> tuple[str, str]:
    namespace, sep, mode = value.partition("=")
    if not sep or not namespace or mode not in {m.value for m in Mode}:
        raise argparse.ArgumentTypeError(
            f"{value!r}: write NAMESPACE=MODE with MODE enforce, warn or off, e.g. shop=warn"
        )
    return namespace, mode


DESCRIPTION = """\
Run the admission webhook over HTTPS: /mutate, /validate, /healthz, /readyz, /metrics.

With no arguments it serves the example rules that come with egressguard, with a
self-signed certificate written to certs/ (reused while valid), on port 8443. Rules and
certificate are reloaded when their files change; a rules change that does not load is
logged with file and line, and the previous rules keep serving."""


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "serve", summary="run the admission webhook (HTTPS)",
        description=DESCRIPTION,
        example_lines=(
            "egressguard serve",
            "egressguard serve --rules rules/ --host 127.0.0.1 --namespace-mode shop=warn",
            "egressguard serve --rules /rules/current --cert /tls/tls.crt --key /tls/tls.key "
            "--metrics-port 9090",
        ),
    )
    complete(parser.add_argument(
        "--rules", type=existing_dir, default=None, metavar="DIR",
        help="rules repository (default: $EGRESSGUARD_RULES, else ./rules, else the example "
             "rules that come with egressguard)"), DIRECTORY)
    complete(parser.add_argument("--cert", type=existing_file, metavar="FILE",
                                 help="serving certificate (PEM); with --key"), FILE)
    complete(parser.add_argument("--key", type=existing_file, metavar="FILE",
                                 help="its private key (PEM); with --cert"), FILE)
    complete(parser.add_argument(
        "--cert-dir", type=Path, default=Path("certs"), metavar="DIR",
        help="where the self-signed certificate goes without --cert (default: certs)"),
        DIRECTORY)
    complete(parser.add_argument(
        "--client-ca", type=existing_file, default=None, metavar="FILE",
        help="serve only clients presenting a certificate this CA issued (the API server's, "
             "from its AdmissionConfiguration)"), FILE)
    parser.add_argument("--host", default="0.0.0.0", metavar="ADDRESS",
                        help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=port_number, default=8443,
                        help="HTTPS port for the webhook, probes and /metrics (default 8443)")
    parser.add_argument("--metrics-port", type=port_number, default=None, metavar="PORT",
                        help="also serve /metrics over plain HTTP on this port, for "
                             "Prometheus (default: only on the HTTPS port)")
    add_kubeconfig(parser, "cluster to read namespace labels from (default: $KUBECONFIG, "
                           "else the in-cluster service account)")
    parser.add_argument("--namespaces", choices=("auto", "cluster", "none"), default="auto",
                        help="where namespace labels come from: the cluster, or none (every "
                             "namespace unlabelled); auto: the cluster when one is configured")
    parser.add_argument("--namespace-mode", dest="modes", action="append", default=[],
                        type=_mode_option, metavar="NS=MODE",
                        help="treat a namespace as labelled with this mode (repeatable)")
    parser.add_argument("--own-namespace", default=os.environ.get("POD_NAMESPACE"),
                        metavar="NAME",
                        help="the webhook's namespace, exempt from judging "
                             "(default: $POD_NAMESPACE)")
    parser.add_argument("--max-body-bytes", type=positive_int, default=DEFAULT_MAX_BODY_BYTES,
                        metavar="BYTES",
                        help=f"largest request body read (default {DEFAULT_MAX_BODY_BYTES})")
    parser.add_argument("--read-timeout", type=positive_seconds, default=DEFAULT_READ_TIMEOUT,
                        metavar="SECONDS",
                        help="seconds for a request to arrive; keep it below the webhook "
                             "configurations' timeoutSeconds (default %(default)s)")
    parser.add_argument("--reload-debounce-ms", type=non_negative_int,
                        default=DEFAULT_DEBOUNCE_MS, metavar="MS",
                        help="wait this long after a file change before reloading "
                             "(default %(default)s)")
    parser.add_argument("--no-watch", dest="watch", action="store_false",
                        help="do not reload rules and certificate when they change")
    parser.add_argument("--workers", type=positive_int, default=None, metavar="N",
                        help="worker processes sharing the port, each with its own copy of "
                             "the rules (default: one per CPU the container may use: its "
                             "CPU limit, else the CPUs it may run on)")
    parser.add_argument("--drain-seconds", type=seconds, default=None, metavar="SECONDS",
                        help="on SIGTERM, keep answering this long while endpoints drain "
                             "(default: 5 in a cluster, 0 elsewhere)")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="default INFO")
    parser.add_argument("--log-format", default="auto", choices=FORMATS,
                        help="operational logs on stderr: one JSON object a line, or text; "
                             "auto: text on a terminal, else JSON (default)")
    reconcile_options.add_arguments(parser)
    audit_options.add_arguments(parser)


def _cluster(args: argparse.Namespace) -> tuple[str | None, bool]:
    """(kubeconfig, in-cluster) for namespace labels, or (None, False) for none."""
    if args.namespaces == "none":
        return None, False
    if kubeconfig := given_kubeconfig(args.kubeconfig):
        return kubeconfig, False
    if in_cluster():
        return None, True
    if args.namespaces == "cluster":
        raise ValueError("--namespaces cluster: no --kubeconfig, $KUBECONFIG or in-cluster "
                         "service account")
    return None, False


def self_signed(directory: Path, host: str, now: datetime) -> tuple[Path, Path, bool]:
    """A certificate for local use in ``directory``: reused while valid, else made anew."""
    from webhook.certs.files import CertificateFiles
    from webhook.certs.pki import build_ca, build_serving_certificate, certificate_info

    files = CertificateFiles(directory)
    names = [*LOCAL_NAMES]
    ips = [*LOCAL_IPS]
    try:
        address = ipaddress.ip_address(host)
        if not address.is_unspecified:
            ips.append(str(address))
    except ValueError:
        names.append(host)
    if files.cert.is_file() and files.key.is_file():
        info = certificate_info(files.cert.read_bytes())
        if info.not_after - RENEW_BEFORE > now and set(ips) <= set(info.ip_addresses) \
                and set(names) <= set(info.dns_names):
            return files.cert, files.key, False
    ca = files.read_ca() or build_ca(now=now, common_name="egressguard local CA")
    serving = build_serving_certificate(ca, service="egressguard",
                                        namespace="egressguard-system", now=now,
                                        dns_names=names, ips=ips)
    files.write(ca_bundle=ca.cert_pem, ca_key=ca.key_pem, serving=serving)
    return files.cert, files.key, True


def _prepare(args: argparse.Namespace) -> tuple[Settings, float, str] | int:
    """(settings, drain seconds, a hint for local use) from the options, or an exit status."""
    if (args.cert is None) != (args.key is None):
        print("egressguard serve: give --cert and --key together", file=sys.stderr)
        return 2
    try:
        kubeconfig, cluster = _cluster(args)
    except ValueError as error:
        print(f"egressguard serve: {error}", file=sys.stderr)
        return 2
    try:
        reconcile = reconcile_options.controller_options(args)
        account = reconcile_options.controller_account(args)
        cluster_audit = audit_options.audit_options(args)
    except ValueError as error:
        print(f"egressguard serve: {error}", file=sys.stderr)
        return 2
    if reconcile is not None and not (kubeconfig or cluster):
        print("egressguard serve: --reconcile needs a cluster: --kubeconfig, $KUBECONFIG or "
              "the in-cluster service account", file=sys.stderr)
        return 2
    if cluster_audit is not None and not (kubeconfig or cluster):
        print("egressguard serve: --audit-interval needs a cluster: --kubeconfig, $KUBECONFIG "
              "or the in-cluster service account", file=sys.stderr)
        return 2
    clock = reconcile_options.running_clock(args.clock_start)
    rules = args.rules or default_rules()
    if not rules.is_dir():
        log.error("no rules repository at %s: give --rules a folder holding config.yaml", rules)
        return 2
    hint = ""
    cert, key = args.cert, args.key
    if cert is None:
        cert, key, made = self_signed(args.cert_dir, args.host, datetime.now(UTC))
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        ca = args.cert_dir / "ca.crt"
        hint = (f"egressguard: serving the rules in {rules} with a self-signed certificate "
                f"({'written to' if made else 'reused from'} {args.cert_dir}/).\n"
                f"  Try:  curl --cacert {ca} https://{host}:{args.port}/readyz")
    settings = Settings(
        rules=rules, cert=cert, key=key, client_ca=args.client_ca, host=args.host,
        port=args.port,
        max_body_bytes=args.max_body_bytes, read_timeout=args.read_timeout,
        reload_debounce_ms=args.reload_debounce_ms, watch=args.watch,
        own_namespace=args.own_namespace, kubeconfig=kubeconfig, in_cluster=cluster,
        namespace_modes=MappingProxyType(dict(args.modes)), reconcile=reconcile,
        controller_account=account, cluster_audit=cluster_audit,
    )
    if clock is not None:
        settings = dataclasses.replace(settings, clock=clock)
    drain = args.drain_seconds if args.drain_seconds is not None else (5.0 if cluster else 0.0)
    return settings, drain, hint


def _configure_logging(args: argparse.Namespace) -> None:
    configure_logging(level=args.log_level, log_format=args.log_format)
    # One access line per request duplicates the audit log; show them only when debugging.
    logging.getLogger("egressguard.access").setLevel(
        logging.DEBUG if args.log_level == "DEBUG" else logging.WARNING
    )


def serve_worker(args: argparse.Namespace, workers: Workers, index: int) -> None:
    """One of ``serve --workers N``'s processes: the server, listening with the others; the
    controller (``--reconcile``) and the periodic audit (``--audit-interval``) run in the
    first worker only, and each worker admits its share of the reviews and bytes in
    flight."""
    from webhook.server.runner import serve

    _configure_logging(args)
    prepared = _prepare(args)
    if isinstance(prepared, int):
        sys.exit(prepared)
    settings, drain, _ = prepared
    first = index == 0
    settings = dataclasses.replace(
        settings, workers=workers, reconcile=settings.reconcile if first else None,
        cluster_audit=settings.cluster_audit if first else None,
        # The bounds on reviews in flight hold for the pod: each worker has its share.
        max_in_flight=max(1, settings.max_in_flight // workers.count),
        max_in_flight_bytes=max(settings.max_body_bytes,
                                settings.max_in_flight_bytes // workers.count))
    try:
        run_loop(serve(settings, drain_seconds=drain, worker=index))
    except (OSError, RuntimeError) as error:
        log.error("egressguard serve worker %d stopped: %s", index, error)
        sys.exit(1)


def run(args: argparse.Namespace) -> int:
    _configure_logging(args)
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    settings, drain, hint = prepared
    count = args.workers if args.workers is not None else default_workers()
    if count > 1:
        if hint:
            log.info("%s", hint)
        log.info("egressguard: %d worker processes on port %d", count, settings.port)
        # The workers read the certificate made here, and the same rules.
        given = argparse.Namespace(**{**vars(args), "cert": settings.cert,
                                      "key": settings.key, "rules": settings.rules})
        try:
            return run_loop(supervise(functools.partial(serve_worker, given), count,
                                      drain_seconds=drain, host=args.host,
                                      metrics_port=args.metrics_port))
        except (OSError, RuntimeError) as error:
            log.error("egressguard serve stopped: %s", error)
            return 1

    from webhook.server.runner import serve

    def listening(server: RunningServer) -> None:
        if hint:
            log.info("%s", hint)

    try:
        run_loop(serve(settings, drain_seconds=drain, on_listening=listening,
                       metrics_port=args.metrics_port))
    except (OSError, RuntimeError) as error:
        log.error("egressguard serve stopped: %s", error)
        return 1
    return 0
