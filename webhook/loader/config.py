"""``config.yaml``: the one Config of a repository, with the defaults SPEC §2 gives.

The webhook's own namespace joins the default exempt namespaces: judging its own pods
would make a down webhook unable to start again. It is passed in (from
``EGRESSGUARD_NAMESPACE`` at the edge), never read from the environment here.
"""

from __future__ import annotations

import ipaddress
from types import MappingProxyType
from typing import Any

from webhook.loader.problems import Problems
from webhook.loader.schema import field_name, header_problems, schema_problems
from webhook.loader.tree import CONFIG_FILE
from webhook.model.addresses import BROADEST_INTERNAL_PREFIX, InternalRanges, IPNetwork
from webhook.model.rules import (
    DEFAULT_CLUSTER_DOMAIN,
    DEFAULT_EXEMPT_NAMESPACES,
    DEFAULT_LABEL_PREFIX,
    DEFAULT_PROXY_IMAGES,
    DEFAULT_ROOT_NAMESPACE,
    Config,
    Gateway,
    Mode,
    Source,
    TrustedPrincipals,
)
from webhook.syntax.yamlstrict import LocatedDocument


def default_exempt_namespaces(own_namespace: str | None) -> frozenset[str]:
    extra = (own_namespace,) if own_namespace else ()
    return frozenset((*DEFAULT_EXEMPT_NAMESPACES, *extra))


def default_config(*, own_namespace: str | None) -> Config:
    """The Config of a repository without ``config.yaml``."""
    return Config(exempt_namespaces=default_exempt_namespaces(own_namespace))


def image_repository(image: str) -> str:
    """A repository as container runtimes resolve it: ``istio/proxyv2`` is Docker Hub's."""
    first, _, rest = image.partition("/")
    if not rest:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


def _strings(section: dict[str, Any], key: str) -> tuple[str, ...]:
    value = section.get(key, ())
    return tuple(str(item) for item in value)


def _service_account(written: str) -> tuple[str, str]:
    namespace, _, name = written.partition(":")
    return (namespace, name)


def _internal_range_problem(cidr: str) -> str | None:
    """Why ``cidr`` cannot be an internal range, or None."""
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError as error:
        if "has host bits set" in str(error):
            return (
                f"{cidr!r} has host bits set; write the network address, e.g. "
                f"{ipaddress.ip_network(cidr, strict=False)}"
            )
        return f"{cidr!r} is not a CIDR such as 10.0.0.0/16 or 2600:1f18:1234::/56"
    broadest = BROADEST_INTERNAL_PREFIX[network.version]
    if network.prefixlen < broadest:
        return (
            f"{cidr!r} is broader than /{broadest}: it would make much of the internet "
            "internal; list the VPC, pod and service ranges themselves"
        )
    return None


def build_config(
    doc: LocatedDocument, *, path: str, own_namespace: str | None, problems: Problems
) -> Config | None:
    """The Config in ``doc``, or ``None`` after reporting why it is not one."""
    found = header_problems(doc, "Config", folder=CONFIG_FILE)
    found = found or schema_problems(doc, "Config")
    for line, message in found:
        problems.error(path, line, message)
    if found:
        return None
    spec: dict[str, Any] = doc.value.get("spec") or {}
    ok = True

    gateways: list[Gateway] = []
    first_line: dict[str, int] = {}
    for index, item in enumerate(spec.get("gateways", ())):
        line = doc.line_of(("spec", "gateways", index, "name"))
        if item["name"] in first_line:
            problems.error(
                path,
                line,
                f"spec.gateways[{index}].name: gateway {item['name']!r} is already defined at "
                f"line {first_line[item['name']]}; gateway names are unique",
            )
            ok = False
        first_line.setdefault(item["name"], line)
        gateways.append(
            Gateway(item["name"], item["namespace"], MappingProxyType(dict(item["selector"])))
        )

    dns = spec.get("dns") or {}
    nameservers: list[str] = []
    for index, server in enumerate(dns.get("allowedNameservers", ())):
        at = ("spec", "dns", "allowedNameservers", index)
        try:
            ipaddress.ip_address(server)
        except ValueError:
            problems.error(
                path, doc.line_of(at), f"{field_name(at)}: {server!r} is not an IP address"
            )
            ok = False
        else:
            nameservers.append(server)

    exempt = spec.get("exemptNamespaces")
    if exempt is None:
        exempt_namespaces = default_exempt_namespaces(own_namespace)
    else:
        exempt_namespaces = frozenset(exempt)
        mesh_root = (spec.get("mesh") or {}).get("rootNamespace", DEFAULT_ROOT_NAMESPACE)
        protected = {mesh_root: "the mesh root namespace, whose objects reach every proxy"}
        for item in spec.get("gateways", ()):
            protected.setdefault(item["namespace"], f"gateway {item['name']!r}'s namespace")
        for index, namespace in enumerate(exempt):
            if namespace in protected:
                problems.error(
                    path,
                    doc.line_of(("spec", "exemptNamespaces", index)),
                    f"spec.exemptNamespaces[{index}]: {namespace!r} is {protected[namespace]}; "
                    "it is always judged (a team that could write there would go around the "
                    "gateways): remove it, and list the mesh's own workloads there under "
                    "spec.mesh.infrastructure instead",
                )
                ok = False
        if own_namespace and own_namespace not in exempt_namespaces:
            problems.warning(
                path,
                doc.line_of(("spec", "exemptNamespaces")),
                f"spec.exemptNamespaces leaves out {own_namespace!r}, the webhook's own "
                f"namespace: if the webhook is down its pods cannot be recreated; add it",
            )
    network = spec.get("network") or {}
    internal: list[IPNetwork] = []
    for index, cidr in enumerate(network.get("internalRanges", ())):
        at = ("spec", "network", "internalRanges", index)
        problem = _internal_range_problem(cidr)
        if problem is not None:
            problems.error(path, doc.line_of(at), f"{field_name(at)}: {problem}")
            ok = False
        else:
            internal.append(ipaddress.ip_network(cidr))
    if not ok:
        return None

    mesh = spec.get("mesh") or {}
    principals = spec.get("trustedPrincipals") or {}
    return Config(
        label_prefix=spec.get("labelPrefix", DEFAULT_LABEL_PREFIX),
        default_mode=Mode(spec.get("defaultMode", Mode.ENFORCE.value)),
        exempt_namespaces=exempt_namespaces,
        gateways=tuple(gateways),
        mesh_root_namespace=mesh.get("rootNamespace", DEFAULT_ROOT_NAMESPACE),
        proxy_images=frozenset(
            image_repository(image) for image in mesh.get("proxyImages", DEFAULT_PROXY_IMAGES)
        ),
        trusted=TrustedPrincipals(
            users=frozenset(_strings(principals, "users")),
            groups=frozenset(_strings(principals, "groups")),
            service_accounts=frozenset(_strings(principals, "serviceAccounts")),
        ),
        allowed_nameservers=frozenset(nameservers),
        cluster_domain=spec.get("clusterDomain", DEFAULT_CLUSTER_DOMAIN),
        internal_ranges=InternalRanges(tuple(internal)),
        infrastructure=frozenset(
            _service_account(item) for item in _strings(mesh, "infrastructure")
        ),
        source=Source(path, doc.line),
    )
