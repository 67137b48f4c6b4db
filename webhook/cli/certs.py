"""``egressguard certs``: a CA and a serving certificate for the webhook's Service.

Writes ``ca.crt``, ``tls.crt`` and ``tls.key`` (and ``ca.key``, kept so a later run can
re-issue the serving certificate from the same CA without touching ``caBundle``; never put
``ca.key`` in the webhook's Secret). ``--new-ca`` starts a new CA and keeps the previous
one in ``ca.crt`` next to it, so a ``caBundle`` patched from it trusts old and new serving
certificates during the rotation.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from webhook.certs.cabundle import patch_webhook_configurations
from webhook.certs.cluster import api_client
from webhook.certs.files import CertificateFiles
from webhook.certs.pki import (
    KeyPair,
    build_ca,
    build_serving_certificate,
    certificate_info,
    service_dns_names,
    split_pem_chain,
)
from webhook.certs.secret import CA_CERT, TLS_CERT, read_secret, still_good, write_secret
from webhook.cli.cluster_options import add_kubeconfig
from webhook.cli.options import (
    add_out_dir,
    positive_int,
    subcommand,
)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r} is not an IP address") from error


DESCRIPTION = """\
Write a certificate authority and a serving certificate for the webhook's Service.

With --out, writes ca.crt, tls.crt and tls.key into a folder (and ca.key, kept so a later
run can issue a new serving certificate from the same CA without changing caBundle; never
put ca.key in the webhook's Secret). --new-ca starts a new CA and keeps the previous one
in ca.crt beside it, so a caBundle patched from it trusts old and new serving certificates
during the rotation. With --secret, keeps the certificate in a Secret instead, renewed
only when due (what deploy/'s Job and CronJob run)."""


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "certs", summary="write a CA and a serving certificate for the webhook",
        description=DESCRIPTION,
        example_lines=(
            "egressguard certs --service egressguard --namespace egressguard-system "
            "--out certs/",
            "egressguard certs --service egressguard --namespace egressguard-system "
            "--secret egressguard-tls --patch-webhooks",
        ),
    )
    parser.add_argument("--service", required=True, metavar="NAME",
                        help="the webhook's Service name")
    parser.add_argument("--namespace", required=True, metavar="NAME",
                        help="the Service's namespace")
    add_out_dir(parser, described="folder to write the certificates into")
    parser.add_argument("--secret", metavar="NAME",
                        help="keep the certificate in this kubernetes.io/tls Secret of "
                             "--namespace instead (renewed only when due; for deploy/'s Job)")
    parser.add_argument("--renew-before-days", type=positive_int, default=30, metavar="DAYS",
                        help="with --secret: renew a certificate expiring within this many "
                             "days (default 30)")
    parser.add_argument("--ip", dest="ips", action="append", default=[], type=_ip,
                        metavar="ADDRESS",
                        help="an IP address to add to the certificate (repeatable)")
    parser.add_argument("--dns", dest="dns_names", action="append", default=[],
                        metavar="NAME",
                        help="a DNS name to add to the certificate (repeatable)")
    parser.add_argument("--days", type=positive_int, default=365, metavar="DAYS",
                        help="validity of the serving certificate (default 365)")
    parser.add_argument("--new-ca", action="store_true",
                        help="start a new CA even if --out holds one (CA rotation)")
    parser.add_argument("--patch-webhooks", action="store_true",
                        help="set caBundle on egressguard's webhook configurations")
    add_kubeconfig(parser, "for --secret and --patch-webhooks (default: in-cluster, then "
                           "~/.kube/config)")


def issue(files: CertificateFiles, *, service: str, namespace: str, ips: list[str],
          dns_names: list[str], days: int, new_ca: bool, now: datetime) -> tuple[KeyPair, bytes]:
    """Writes the files; returns the serving pair and the CA bundle written."""
    existing = None if new_ca else files.read_ca()
    if existing is not None and certificate_info(existing.cert_pem).not_after > now:
        ca, bundle = existing, existing.cert_pem
    else:
        ca = build_ca(now=now)
        bundle = ca.cert_pem
        if files.ca_cert.is_file():  # keep the previous CA trusted while leaves roll over
            previous = [pem for pem in split_pem_chain(files.ca_cert.read_bytes())
                        if certificate_info(pem).not_after > now]
            bundle += b"".join(previous[:1])
    serving = build_serving_certificate(
        ca, service=service, namespace=namespace, now=now, dns_names=dns_names, ips=ips,
        valid_for=timedelta(days=days),
    )
    files.write(ca_bundle=bundle, ca_key=ca.key_pem, serving=serving)
    return serving, bundle


def run(args: argparse.Namespace) -> int:
    if args.days < 1:
        print("egressguard certs: --days must be at least 1", file=sys.stderr)
        return 2
    if args.secret:
        return run_with_secret(args)
    if args.out is None:
        print("egressguard certs: give --out DIR or --secret NAME", file=sys.stderr)
        return 2
    files = CertificateFiles(args.out)
    try:
        serving, bundle = issue(
            files, service=args.service, namespace=args.namespace, ips=args.ips,
            dns_names=args.dns_names, days=args.days, new_ca=args.new_ca, now=datetime.now(UTC),
        )
    except (OSError, ValueError) as error:
        print(f"egressguard certs: {error}", file=sys.stderr)
        return 2
    info = certificate_info(serving.cert_pem)
    print(f"wrote {files.ca_cert}, {files.cert}, {files.key} (and {files.ca_key}: keep it "
          "out of the Secret)")
    print(f"serving certificate {info.serial:x}, valid until {info.not_after:%Y-%m-%d}, for "
          + ", ".join((*info.dns_names, *info.ip_addresses)))
    if args.patch_webhooks:
        try:
            for name in patch_webhook_configurations(bundle,
                                                     api_client=api_client(args.kubeconfig)):
                print(f"patched caBundle of {name}")
        except Exception as error:  # the kubernetes client raises many kinds
            print(f"egressguard certs: patching caBundle failed: {error}", file=sys.stderr)
            return 1
    return 0


def run_with_secret(args: argparse.Namespace) -> int:
    """Renews the Secret's certificate when due; caBundle first, then the Secret."""
    now = datetime.now(UTC)
    names = [*service_dns_names(args.service, args.namespace), *args.dns_names]
    try:
        client = api_client(args.kubeconfig)
        existing = read_secret(client, name=args.secret, namespace=args.namespace)
        if not args.new_ca and still_good(existing, now=now, names=names, ips=args.ips,
                                          renew_before=timedelta(days=args.renew_before_days)):
            assert existing is not None
            bundle = existing[CA_CERT]
            print(f"Secret {args.namespace}/{args.secret} holds a certificate valid until "
                  f"{certificate_info(existing[TLS_CERT]).not_after:%Y-%m-%d}; kept")
            if args.patch_webhooks:  # e.g. the configurations were re-created without it
                for name in patch_webhook_configurations(bundle, api_client=client):
                    print(f"caBundle of {name} matches the Secret")
        else:
            ca = build_ca(now=now)
            serving = build_serving_certificate(
                ca, service=args.service, namespace=args.namespace, now=now,
                dns_names=args.dns_names, ips=args.ips, valid_for=timedelta(days=args.days),
            )
            previous = split_pem_chain(existing[CA_CERT])[:1] if existing and existing.get(
                CA_CERT) else []
            bundle = ca.cert_pem + b"".join(previous)
            if args.patch_webhooks:  # trust the new CA before anything serves with it
                for name in patch_webhook_configurations(bundle, api_client=client):
                    print(f"patched caBundle of {name}")
            write_secret(client, name=args.secret, namespace=args.namespace,
                         serving=serving, ca_bundle=bundle)
            print(f"wrote Secret {args.namespace}/{args.secret}: serving certificate "
                  f"{certificate_info(serving.cert_pem).serial:x}")
            if args.out is not None:
                CertificateFiles(args.out).write(ca_bundle=bundle, ca_key=ca.key_pem,
                                                 serving=serving)
    except Exception as error:  # the kubernetes client raises many kinds
        print(f"egressguard certs: {error}", file=sys.stderr)
        return 1
    return 0
