"""The per-destination Envoy's image, resources and resolvers, for ``render`` and
``serve --reconcile``."""

from __future__ import annotations

import argparse
import ipaddress
import re
from typing import Any

from webhook.render.plan import ENVOY_IMAGE, ENVOY_RESOURCES

# A Kubernetes resource quantity: a number with an optional suffix (100m, 64Mi, 1.5, 2G).
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
PARTS = ("requests", "limits")
NAMES = ("cpu", "memory")


def _resource(value: str) -> tuple[str, str, str]:
    """``requests.cpu=200m`` -> ("requests", "cpu", "200m"); ``limits.cpu=`` unsets it."""
    key, sep, quantity = value.partition("=")
    part, _, name = key.partition(".")
    if not sep or part not in PARTS or name not in NAMES:
        raise argparse.ArgumentTypeError(
            f"{value!r}: give requests.cpu=Q, requests.memory=Q, limits.cpu=Q or "
            "limits.memory=Q (an empty Q removes it)")
    if quantity and not QUANTITY.match(quantity):
        raise argparse.ArgumentTypeError(f"{value!r}: {quantity!r} is not a Kubernetes "
                                         "quantity (e.g. 250m, 128Mi, 1)")
    return part, name, quantity


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r}: not an IP address") from error


def add_arguments(parser: Any) -> None:
    parser.add_argument("--envoy-image", default=ENVOY_IMAGE, metavar="IMAGE",
                        help="envoy-per-destination: the Envoy image (default %(default)s)")
    defaults = ", ".join(f"{part}.{name}={quantity}" for part, values in ENVOY_RESOURCES.items()
                         for name, quantity in values.items())
    parser.add_argument("--envoy-resource", dest="envoy_resources", action="append",
                        default=[], type=_resource, metavar="PART.NAME=Q",
                        help="envoy-per-destination: a container resource (repeatable; "
                        f"default {defaults})")
    parser.add_argument("--upstream-dns", dest="resolvers", action="append", default=[],
                        type=_address, metavar="IP",
                        help="envoy-per-destination: resolvers the Envoys ask for the real "
                        "names instead of the cluster DNS (repeatable; default: the cluster "
                        "DNS, through the pod's resolv.conf and the rendered CoreDNS rules). "
                        "Never the cluster DNS's own address: it answers with the Envoy itself")


def render_options(args: argparse.Namespace) -> dict[str, Any]:
    """The RenderOptions fields these arguments set."""
    resources = {part: dict(values) for part, values in ENVOY_RESOURCES.items()}
    for part, name, quantity in args.envoy_resources:
        if quantity:
            resources.setdefault(part, {})[name] = quantity
        else:
            resources.get(part, {}).pop(name, None)
    return {
        "envoy_image": args.envoy_image,
        "envoy_resources": resources,
        "upstream_resolvers": tuple(args.resolvers),
    }
